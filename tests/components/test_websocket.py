"""The ``websocket`` component's pure parts: parse, the handshake's checks and answer, the backend's
URL and headers, and the reconnection waits. The sessions run in tests/websocket."""

from __future__ import annotations

import base64
import hashlib
import itertools

import pytest
from multidict import CIMultiDict

from krakenpy.components.websocket import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError, Rejection
from krakenpy.websocket import backoff, handshake
from krakenpy.websocket.options import WebSocketOptions
from tests.components.helpers import site


def _doc(method: str = "GET", hosts: list[str] | None = None, backends: int = 1) -> dict[str, object]:
    backend = {"host": hosts or ["ws://h:1"], "url_pattern": "/rooms/{room}", "disable_host_sanitize": True}
    return {
        "version": 3,
        "endpoints": [{"endpoint": "/ws/{room}", "method": method, "backend": [dict(backend)] * backends}],
    }


def test_websocket_parse_defaults_are_krakend_ee_s() -> None:
    options = COMPONENT.parse({}, site("websocket", doc=_doc()))
    assert options == WebSocketOptions()
    assert (options.max_message_size, options.message_buffer_size, options.ping_period) == (512, 256, 54.0)
    assert (options.pong_wait, options.write_wait, options.timeout) == (60.0, 10.0, 300.0)
    assert (options.max_retries, options.backoff_strategy, options.direct) == (0, "fallback", False)


def test_websocket_parse_fields() -> None:
    raw = {
        "enable_direct_communication": True,
        "input_headers": ["authorization", "x-tenant"],
        "ping_period": "5s",
        "pong_wait": "10s",
        "timeout": "1s",
        "max_retries": 3,
        "backoff_strategy": "exponential",
    }
    options = COMPONENT.parse(raw, site("websocket", doc=_doc()))
    assert options.direct and options.input_headers == ("Authorization", "X-Tenant")
    assert (options.ping_period, options.pong_wait) == (5.0, 10.0)
    assert options.timeout == 60.0  # KrakenD's floor: one minute
    assert (options.max_retries, options.backoff_strategy) == (3, "exponential")
    assert COMPONENT.parse({"input_headers": ["X", "*"]}, site("websocket", doc=_doc())).input_headers == ("*",)


@pytest.mark.parametrize(
    ("raw", "method", "path", "message"),
    [
        ({}, "POST", "endpoints[0].extra_config.websocket", "GET upgrade"),
        ({"ping_period": "60s"}, "GET", "endpoints[0].extra_config.websocket.ping_period", "shorter than pong_wait"),
        ({"write_wait": "0s"}, "GET", "endpoints[0].extra_config.websocket.write_wait", "longer than 0"),
        ({"pong_wait": "soon"}, "GET", "endpoints[0].extra_config.websocket.pong_wait", "invalid duration"),
    ],
)
def test_websocket_parse_errors_have_json_paths(raw: dict[str, object], method: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        COMPONENT.parse(raw, site("websocket", doc=_doc(method)))
    (issue,) = caught.value.issues
    assert issue.path == path and message in issue.message


def test_websocket_parse_notes_the_backends_never_called() -> None:
    where = site("websocket", doc=_doc(backends=2))
    COMPONENT.parse({}, where)
    assert [(n.path, n.severity) for n in where.notes] == [("endpoints[0].backend", "warning")]


def _headers(**values: str) -> CIMultiDict[str]:
    base = {
        "Connection": "keep-alive, Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return CIMultiDict(base)


def test_websocket_handshake_answer_is_rfc_6455_s() -> None:
    key = handshake.check_request(_headers())
    headers = handshake.accept_headers(key, "chat")
    assert headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example
    expected = base64.b64encode(hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert headers["Sec-WebSocket-Accept"] == expected.decode()
    assert (headers["Upgrade"], headers["Connection"], headers["Sec-WebSocket-Protocol"]) == (
        "websocket",
        "Upgrade",
        "chat",
    )


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"Connection": "keep-alive"}, "'upgrade' token not found in 'Connection'"),
        ({"Upgrade": "h2c"}, "'websocket' token not found in 'Upgrade'"),
        ({"Sec_WebSocket_Version": "8"}, "unsupported version"),
        ({"Sec_WebSocket_Key": "c2hvcnQ="}, "16 bytes in Base64"),
        ({"Sec_WebSocket_Key": "not base64!!"}, "16 bytes in Base64"),
    ],
)
def test_websocket_handshake_refuses_with_400(change: dict[str, str], detail: str) -> None:
    with pytest.raises(Rejection) as caught:
        handshake.check_request(_headers(**change))
    assert caught.value.status == 400 and detail in caught.value.payload.decode()


def test_websocket_subprotocol_is_the_clients_first_one_offered() -> None:
    headers = {"Sec-WebSocket-Protocol": "a, chat, b"}
    assert handshake.choose_protocol(headers, ("b", "chat")) == "chat"
    assert handshake.choose_protocol(headers, ()) is None
    assert handshake.choose_protocol({}, ("chat",)) is None


def test_websocket_backend_url_and_hosts() -> None:
    service = build_service(_doc(hosts=["ws://a:1", "https://b", "c:3"]))
    backend = service.endpoints[0].backends[0]
    assert handshake.ws_hosts(backend) == ("ws://a:1", "wss://b", "ws://c:3")
    url = handshake.backend_url("ws://a:1", backend, {"Room": "a b/c"}, "x=1")
    assert url == "ws://a:1/rooms/a%20b%2Fc?x=1"


def test_websocket_backend_headers_never_the_handshake_s() -> None:
    raw = {"Authorization": ["t"], "Cookie": ["a", "b"], "Upgrade": ["websocket"], "Sec-Websocket-Key": ["k"]}
    assert handshake.backend_headers(raw, ()) == CIMultiDict()
    assert list(handshake.backend_headers(raw, ("Cookie",)).items()) == [("Cookie", "a"), ("Cookie", "b")]
    every = handshake.backend_headers(raw, ("*",))
    assert sorted(set(every.keys())) == ["Authorization", "Cookie"] and every.getall("Cookie") == ["a", "b"]


def test_websocket_backoff_strategies() -> None:
    assert list(backoff.delays("fallback", 3)) == [1.0, 1.0, 1.0]
    assert list(backoff.delays("linear", 3)) == [1.0, 2.0, 3.0]
    assert list(backoff.delays("exponential", 4)) == [2.0, 4.0, 8.0, 16.0]
    assert list(backoff.delays("exponential", 8))[-1] == backoff.MAX_DELAY  # 256 s capped
    for wait, base in zip(backoff.delays("linear-jitter", 30), itertools.count(1), strict=False):
        assert base * 2 / 3 <= wait <= base * 4 / 3 or wait == backoff.MAX_DELAY
    endless = backoff.delays("fallback", 0)
    assert len(list(itertools.islice(endless, 1000))) == 1000  # max_retries <= 0: for ever


def test_websocket_parse_refuses_namespaces_the_upgrade_never_runs() -> None:
    doc = _doc()
    endpoint: dict[str, object] = doc["endpoints"][0]  # type: ignore[index]
    endpoint["extra_config"] = {
        "validation/cel": [{"check_expr": "JWT.sub == 'a'"}, {"check_expr": "'x' in req_headers"}],
        "modifier/lua-proxy": {"pre": "print(1)"},
        "telemetry/access_log": {},
    }
    backend = dict(endpoint["backend"][0])  # type: ignore[index]
    backend["extra_config"] = {"qos/ratelimit/proxy": {"max_rate": 1}, "qos/circuit-breaker": {"max_errors": 1}}
    endpoint["backend"] = [backend]
    with pytest.raises(ConfigError) as caught:
        COMPONENT.parse({}, site("websocket", doc=doc))
    paths = sorted(issue.path for issue in caught.value.issues)
    assert paths == [
        "endpoints[0].backend[0].extra_config.qos/circuit-breaker",
        "endpoints[0].backend[0].extra_config.qos/ratelimit/proxy",
        "endpoints[0].extra_config.modifier/lua-proxy",
        "endpoints[0].extra_config.validation/cel[1].check_expr",
    ]


def test_websocket_parse_keeps_the_endpoint_layer_s_jwt_checks() -> None:
    doc = _doc()
    endpoint: dict[str, object] = doc["endpoints"][0]  # type: ignore[index]
    endpoint["extra_config"] = {"validation/cel": [{"check_expr": "JWT.sub == 'a'"}]}
    assert COMPONENT.parse({}, site("websocket", doc=doc)) == WebSocketOptions()


def test_websocket_backoff_carries_over_redials_until_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = backoff.Backoff("linear", 3)
    assert waits.next_wait() == 1.0
    waits.connected()  # up, then lost at once: the waits go on
    assert (waits.next_wait(), waits.next_wait(), waits.next_wait()) == (2.0, 3.0, None)
    monkeypatch.setattr(backoff, "HEALTHY", 0.0)
    waits.connected()  # up long enough: they start over
    assert waits.next_wait() == 1.0


def test_websocket_throttled_warning_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    from krakenpy.websocket.socket import Throttled

    warn = Throttled()
    for i in range(5):
        warn.warning("dropped %d", i)
    assert [r.getMessage() for r in caplog.records] == ["dropped 0"]
