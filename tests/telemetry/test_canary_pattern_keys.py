"""A key a backend's ``url_pattern`` holds in its query under a masked name (``/x?api_key=…``, how
some APIs are called): the gateway's own upstream credential. The key-based masking hid it where the
URL is written; an upstream refusing it and quoting it bare (``unknown key …``) was handed to the
client (``return_error_code``, ``return_error_details``, a ``no-op`` backend) and logged."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from krakenpy.gateway import load
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.setup import pattern_secrets
from tests.components.telemetry.otlp_receiver import Receiver
from tests.telemetry.conftest import served, upstream
from tests.telemetry.test_canary_secrets import _every_output, _leaks

__all__ = ["served", "upstream"]

#: the upstream's key, written into the url_pattern
PATTERN_KEY = "p4ttern-k3y-c4n4ry"


def _refusing() -> web.Application:
    """An upstream that refuses every key, quoting what it got bare and in its ``Location``-like
    header (a 2xx on ``/ok`` echoing it: passed as it came, like any answer)."""

    async def refuse(request: web.Request) -> web.Response:
        got = request.query.get("api_key", "") + " " + request.query.get("sig", "")
        if request.path == "/ok":
            return web.json_response({"fine": True})
        return web.json_response({"error": f"unknown key {got}", "raw": request.query_string}, status=403)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    return app


async def test_a_key_in_a_url_pattern_is_masked_in_a_refusal_and_every_output(  # type: ignore[no-untyped-def]
    served, upstream, capfd
) -> None:
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    host = await upstream(_refusing())
    pattern = f"/u?api_key={PATTERN_KEY}&sig={PATTERN_KEY}-s1g&page=2"

    def endpoint(path: str, encoding: str, http: dict[str, Any] | None) -> dict[str, Any]:
        backend: dict[str, Any] = {"host": [host], "url_pattern": pattern, "encoding": encoding}
        if http is not None:
            backend["extra_config"] = {"backend/http": http}
        return {"endpoint": path, "output_encoding": encoding, "backend": [backend]}

    s = await served(
        {
            "version": 3,
            "extra_config": _every_output(port),
            "endpoints": [
                endpoint("/coded", "json", {"return_error_code": True}),
                endpoint("/details", "json", {"return_error_details": "up"}),
                endpoint("/raw", "no-op", None),
                endpoint("/plain", "json", None),
            ],
        },
        debug=True,
    )
    answers = []
    for path in ("/coded", "/details", "/raw", "/plain"):
        resp = await s.client.get(path)
        answers.append((resp.status, await resp.text()))
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "answers": repr(answers).encode(), "otlp": b"\n".join(receiver.bodies)}
    assert _leaks(PATTERN_KEY, outputs) == {}
    assert [status for status, _ in answers] == [403, 200, 403, 500], answers
    assert all("unknown key [REDACTED] [REDACTED]" in text for _, text in answers[:3]), answers
    assert "/u?api_key=[REDACTED]&sig=[REDACTED]&page=2" in answers[3][1]


async def test_a_key_holding_a_text_end_is_masked_whole(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """A key holding a character that ends a value in free text (``]``, a quote, a space): the
    key-based rule masked up to it, and the failure line, the access log and the client's error
    text showed the rest (the request line sends a ``"`` as ``%22``: that form is masked too)."""
    host = await upstream(_refusing())
    backend = {"host": [host], "url_pattern": f"/u?sig=ab]{PATTERN_KEY}'x\"z&api_key=k3y {PATTERN_KEY}"}
    extra = {
        "router": {"return_error_msg": True},
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/access_log": {"format": "json"},
    }
    s = await served({"version": 3, "extra_config": extra, "endpoints": [{"endpoint": "/odd", "backend": [backend]}]})
    resp = await s.client.get("/odd")
    answer = await resp.text()
    await s.gateway.close()
    out = capfd.readouterr().out
    assert resp.status == 500 and "/u?sig=[REDACTED]&api_key=[REDACTED]" in answer, answer
    assert PATTERN_KEY not in answer and PATTERN_KEY not in out, (answer, out)


def test_a_value_the_request_fills_is_no_key(tmp_path: Path) -> None:
    """``?api_key={key}`` forwards the client's own value: lura's ``{{.Key}}``, which the request line
    writes as ``%7B%7B.Key%7D%7D``. That written form was taken for a key the configuration holds: a
    literal registered for masking, and every call of the backend wrapped by the refusal masking
    (the fast client's task-free call lost) for a key that is not there."""
    backend = {"host": ["http://127.0.0.1:8999"], "url_pattern": "/u?api_key={key}&token=t-{key}&sig={key}x"}
    mixed = {**backend, "url_pattern": f"/u?api_key={{key}}&sig={PATTERN_KEY}"}
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps(
            {
                "version": 3,
                "endpoints": [
                    {"endpoint": "/a/{key}", "backend": [backend]},
                    {"endpoint": "/b/{key}", "backend": [mixed]},
                ],
            }
        )
    )
    service = load(config).service
    patterns = [endpoint.backends[0].url_pattern for endpoint in service.endpoints]
    assert "{{.Key}}" in patterns[0]  # lura's form, as the request builder fills it
    assert pattern_secrets(Redactor(), patterns[0]) == ()
    assert pattern_secrets(Redactor(), patterns[1]) == (PATTERN_KEY,)


def _refusing_in_headers() -> web.Application:
    """An upstream refusing the key it got and quoting it in its answer's headers only (an OAuth-style
    ``WWW-Authenticate``, a ``Location`` to a login page, a debugging header)."""

    async def refuse(request: web.Request) -> web.Response:
        got = request.query.get("api_key", "")
        headers = {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="unknown key {got}"',
            "Location": f"/login?api_key={got}",
            "X-Echo": got,
        }
        return web.json_response({"error": "refused"}, status=401, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    return app


async def test_a_key_in_a_url_pattern_is_masked_in_a_refusals_headers(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """A ``no-op`` backend hands the refusal's headers to the client as they came: the key the upstream
    quoted there (not in the body) reached the client."""
    host = await upstream(_refusing_in_headers())
    backend = {"host": [host], "url_pattern": f"/u?api_key={PATTERN_KEY}", "encoding": "no-op"}
    endpoint = {"endpoint": "/raw", "output_encoding": "no-op", "backend": [backend]}
    s = await served({"version": 3, "endpoints": [endpoint]})
    resp = await s.client.get("/raw", allow_redirects=False)
    await resp.read()
    await s.gateway.close()
    headers = repr(list(resp.headers.items()))
    assert resp.status == 401 and PATTERN_KEY not in headers, headers
    assert resp.headers["X-Echo"] == "[REDACTED]" and resp.headers["Location"] == "/login?api_key=[REDACTED]", headers


async def test_a_key_a_json_encoder_escaped_is_masked_in_a_refusal(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """A key with a ``/`` (base64 keys have them) quoted by an upstream whose JSON encoder writes it
    ``\\/`` (PHP's default), or with ``&`` written ``\\u0026`` (Go's): only the key as it is and with
    ``"``/``\\`` escaped were looked for, and a client decoding the refusal read the key."""
    key = "k3y/W1th+SL4sh&amp"

    async def refuse(request: web.Request) -> web.Response:
        got = request.query.get("api_key", "")
        php = got.replace("/", "\\/")
        go = got.replace("&", "\\u0026")
        body = '{"php": "unknown key ' + php + '", "go": "unknown key ' + go + '"}'
        return web.Response(body=body.encode(), status=403, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    host = await upstream(app)
    backend = {"host": [host], "url_pattern": f"/u?api_key={key.replace('&', '%26')}", "encoding": "no-op"}
    details = {**backend, "encoding": "json", "extra_config": {"backend/http": {"return_error_details": "up"}}}
    endpoints = [
        {"endpoint": "/raw", "output_encoding": "no-op", "backend": [backend]},
        {"endpoint": "/details", "backend": [details]},
    ]
    s = await served({"version": 3, "endpoints": endpoints})
    decoded = []
    for path in ("/raw", "/details"):
        resp = await s.client.get(path)
        decoded.append(orjson.loads(await resp.read()))
    await s.gateway.close()
    for sent in (key, key.replace("+", " ")):  # the pattern's value as written and decoded
        assert sent not in repr(decoded), decoded
    assert decoded[0]["php"] == decoded[0]["go"] == "unknown key [REDACTED]", decoded


async def test_a_key_in_a_refusal_the_gateway_does_not_decode_never_reaches_the_client(  # type: ignore[no-untyped-def]
    served, upstream
) -> None:
    """A client's ``Accept-Encoding: gzip, deflate, br`` forwarded (``input_headers``) lets the upstream
    answer a refusal deflate- or br-encoded: the gateway decodes gzip only, so the key the refusal
    quoted went on encoded, unmasked, to a client that decodes it."""

    async def refuse(request: web.Request) -> web.Response:
        text = b'{"error": "unknown key ' + request.query.get("api_key", "").encode() + b'"}'
        encoding = request.path.rsplit("/", 1)[1]
        body = zlib.compress(text) if encoding == "deflate" else text  # "br": not really brotli, unreadable alike
        return web.Response(
            body=body, status=403, headers={"Content-Encoding": encoding, "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    host = await upstream(app)

    def endpoint(encoding: str) -> dict[str, Any]:
        backend = {"host": [host], "url_pattern": f"/u/{encoding}?api_key={PATTERN_KEY}", "encoding": "no-op"}
        return {"endpoint": f"/{encoding}", "output_encoding": "no-op", "input_headers": ["*"], "backend": [backend]}

    s = await served({"version": 3, "endpoints": [endpoint("deflate"), endpoint("br")]})
    answers = {}
    for encoding in ("deflate", "br"):
        resp = await s.client.get(
            f"/{encoding}", headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
        )
        raw = await resp.read()
        coding = resp.headers.get("Content-Encoding")
        answers[encoding] = (resp.status, coding, zlib.decompress(raw) if coding == "deflate" else raw)
    await s.gateway.close()
    assert PATTERN_KEY.encode() not in repr(answers).encode(), answers
    assert answers["deflate"] == (403, None, b'{"error": "unknown key [REDACTED]"}'), answers
    assert answers["br"][:2] == (403, None), answers
