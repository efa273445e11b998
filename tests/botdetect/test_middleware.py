"""The detector at the edge (service value) and in the endpoint layer (endpoint value)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.botdetect import Detector, bot_edge_middleware, bot_endpoint_middleware, parse_bot
from krakenpy.edge import HttpRequest
from krakenpy.errors import Rejection
from krakenpy.proxy.types import Request
from tests.cors.helpers import Recorder
from tests.doubles import static_proxy

CFG = {"deny": ["BadBot/1.0"], "patterns": ["(?i)scrapy"], "empty_user_agent_is_bot": True}


def edge(health: str | None = "/__health"):
    nxt = Recorder()
    return bot_edge_middleware(Detector(parse_bot(CFG, "p")), health)(nxt), nxt


def req(method: str = "GET", path: str = "/x", ua: str | None = None) -> HttpRequest:
    headers = CIMultiDict([("User-Agent", ua)] if ua is not None else [])
    return HttpRequest(method, path, headers=CIMultiDictProxy(headers))


@pytest.mark.parametrize(
    ("ua", "status"), [("Mozilla/5.0", 200), ("BadBot/1.0", 403), ("Scrapy/2.11", 403), (None, 403)]
)
async def test_bot_edge_middleware(ua: str | None, status: int) -> None:
    handle, nxt = edge()
    response = await handle(req(ua=ua))
    assert response.status == status
    if status == 403:
        assert (response.body, dict(response.headers), nxt.calls) == (b"", {}, [])


async def test_bot_edge_middleware_leaves_get_health_alone() -> None:
    handle, nxt = edge()
    assert (await handle(req("GET", "/__health", ua="BadBot/1.0"))).status == 200
    assert (await handle(req("POST", "/__health", ua="BadBot/1.0"))).status == 403
    disabled, _ = edge(None)
    assert (await disabled(req("GET", "/__health", ua="BadBot/1.0"))).status == 403


async def test_bot_edge_middleware_uses_the_first_user_agent() -> None:
    handle, _ = edge()
    two = CIMultiDict([("User-Agent", "Mozilla/5.0"), ("User-Agent", "BadBot/1.0")])
    assert (await handle(HttpRequest("GET", "/x", headers=CIMultiDictProxy(two)))).status == 200


def proxy_request(ua: list[str] | None) -> Request:
    return Request(method="GET", path="/x", params={}, headers={"User-Agent": ua} if ua is not None else {}, query={})


async def test_bot_endpoint_middleware_raises_a_rejection() -> None:
    backend = static_proxy({"ok": True})
    proxy = bot_endpoint_middleware(Detector(parse_bot(CFG, "p")))(backend)
    assert (await proxy(proxy_request(["Mozilla/5.0"]))).data == {"ok": True}
    for ua in (["BadBot/1.0"], None, [""]):
        with pytest.raises(Rejection) as caught:
            await proxy(proxy_request(ua))
        rejection = caught.value
        assert (rejection.status, rejection.reason, rejection.policy, rejection.payload) == (
            403,
            "bot_detected",
            "security/bot-detector",
            b"",
        )
    assert len(backend.calls) == 1
