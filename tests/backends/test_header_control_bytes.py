"""Header values with control bytes are never sent to a backend: Go's client refuses any value
httpguts.ValidHeaderFieldValue refuses (a control byte but HTAB, or DEL) with ``net/http: invalid
header field value for "Name"``, and KrakenD answers as for a failed backend call. Both upstream
clients (the fast one and aiohttp's) refuse the same values with the same failure."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, refused_header, valid_value
from krakenpy.backends.fastclient import FastClient
from krakenpy.backends.fastwire import _HEADS, request_head
from krakenpy.errors import BackendError
from tests.conftest import make_config
from tests.jose.helpers import JwksServer, claims, mint, rsa_key

Start = Callable[[web.Application], Awaitable[str]]

#: every value Go's client refuses: the C0 controls but HTAB, and DEL
REFUSED = [chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"]


def test_valid_value_is_go_s_rule() -> None:
    for c in REFUSED:
        assert not valid_value(f"a{c}b"), repr(c)
    # HTAB, printable ASCII, and what Python does not print but Go sends (bytes >= 0x80)
    for value in ["a\tb", "", " x ", "é", "\x85", "\xa0", "caf\udcc3\udca9", "\u2028"]:
        assert valid_value(value), repr(value)
    assert refused_header([("A", "1"), ("B", "x\x00"), ("C", "\r")]) == "B"
    assert refused_header([("A", "1\t2")]) is None


def test_request_head_refuses_every_control_byte_fresh_and_reused() -> None:
    """A refused value is not written, whether the head is built from nothing or around a varying
    value of the last head (a request id that changes on every request)."""
    for c in REFUSED:
        _HEADS.reset()
        assert request_head("GET", "/", "h:1", [("X-A", f"1{c}")], None, False) is None, repr(c)
        _HEADS.reset()
        assert request_head("GET", "/", "h:1", [("X-Id", "r1"), ("X-A", "1")], None, False)
        assert request_head("GET", "/", "h:1", [("X-Id", "r2"), ("X-A", "1")], None, False)  # X-Id varies now
        assert request_head("GET", "/", "h:1", [("X-Id", f"r{c}3"), ("X-A", "1")], None, False) is None, repr(c)
        # a Host header given with one
        assert request_head("GET", "/", "h:1", [("Host", f"a{c}b")], None, False) is None, repr(c)
    _HEADS.reset()
    tab = request_head("GET", "/", "h:1", [("X-A", "1\t2")], None, False)
    assert tab == b"GET / HTTP/1.1\r\nHost: h:1\r\nX-A: 1\t2\r\n\r\n"


async def _counting_backend(backend: Start) -> tuple[str, list[str]]:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-User", ""))
        return web.json_response({"user": request.headers.get("X-User", "")})

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    return await backend(app), seen


@pytest.mark.parametrize("make", [FastClient, AiohttpClient])
@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b[31m", "\x7f", "a\rb", "a\r\nX-Injected: 1", "\n"])
async def test_clients_refuse_a_control_byte_before_sending(backend: Start, make: Any, bad: str) -> None:
    url, seen = await _counting_backend(backend)
    client = make()
    try:
        with pytest.raises(BackendError) as info:
            await client.request("GET", url + "/x?a=1", [("X-Ok", "1"), ("X-User", f"ada{bad}")], None)
        assert str(info.value) == f'Get "{url}/x?a=1": net/http: invalid header field value for "X-User"'
        with pytest.raises(BackendError, match=r'^Post ".*": net/http: invalid header field value for "X-User"$'):
            await client.request("POST", url + "/x", [("X-User", bad)], b"{}")
        assert seen == []
        ok = await client.request("GET", url + "/x", [("X-User", "ada\tlovelace")], None)  # HTAB is sent
        assert ok.status == 200 and seen == ["ada\tlovelace"]
    finally:
        await client.close()


@pytest.mark.parametrize("impl", ["fast", "aiohttp"])
async def test_propagated_claim_with_a_control_byte_is_a_failed_backend(
    backend: Start,
    gateway: Callable[..., Awaitable[Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    impl: str,
) -> None:
    """A JWT subject holding NUL (or CR/LF, ESC) propagated as a header: the backend is not called,
    the client gets the failed backend's 500, and the log has Go's failure text, no Python's."""
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", impl)
    jwks = JwksServer(keys=[rsa_key("k1")])
    jwks.url = await backend(jwks.app()) + "/jwks"
    host, seen = await _counting_backend(backend)
    validator = {
        "alg": "RS256",
        "jwk_url": jwks.url,
        "disable_jwk_security": True,
        "propagate_claims": [["sub", "x-user"]],
    }
    doc = make_config(
        [
            {
                "endpoint": "/me",
                "input_headers": ["X-User"],
                "backend": [{"host": [host], "url_pattern": "/users"}],
                "extra_config": {"auth/validator": validator},
            }
        ]
    )
    client = await gateway(doc)
    for sub in ["ada\x00", "ada\r\nX-Injected: 1", "\x1b[2J"]:
        token = mint(rsa_key("k1"), claims(sub=sub), alg="RS256")
        caplog.clear()
        with caplog.at_level(logging.INFO):
            resp = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert resp.status == 500, sub
            await resp.read()
        failures = [r.getMessage() for r in caplog.records if r.name == "krakenpy.failures"]
        assert len(failures) == 1, (sub, failures)
        assert failures[0].startswith("[ENDPOINT: /me]"), failures
        assert failures[0].endswith(f'Get "{host}/users": net/http: invalid header field value for "X-User"'), failures
        text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
        assert "ValueError" not in text and "Forbidden" not in text and "Traceback" not in text, text
    assert seen == []
    token = mint(rsa_key("k1"), claims(sub="ada\tlovelace"), alg="RS256")
    ok = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200 and orjson.loads(await ok.read()) == {"user": "ada\tlovelace"}
