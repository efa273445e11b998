"""KrakenD Enterprise's backend log (``telemetry/logging`` on a backend) through a real gateway: the
line written to standard output, parsed, with its variables filled; secrets masked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.backendlog import BackendCall, BackendLogOptions, compile_format
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.writer import flush_stdout
from tests.ai.vendors import CANARY, Vendor, gemini_answer, openai_answer
from tests.cli_gateway import check_config
from tests.conftest import make_config

#: the 002 playground's line (KrakenD Enterprise), one JSON object per call
PLAYGROUND = (
    '{"ts":"%{time:rfc3339}", "endpoint":"/llm-conditional", "vendor":"openai", "latency":"%{latencyMs}", '
    '"tokenUsage":"%{resp.usage.total_tokens}", "userId":"%{reqHeader.X-User-Id}", "role":"%{reqHeader.X-Role}"}\n'
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
SERVICE_LOG = {"telemetry/logging": {"level": "DEBUG", "prefix": "[KRAKEND]", "stdout": True}}


def _backend(host: str, url: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"host": [host], "url_pattern": url, "method": "POST", "extra_config": extra}


def _lines(out: str, marker: str) -> list[str]:
    return [line for line in out.splitlines() if marker in line]


async def test_backend_log_playground_line_with_llm(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(openai_answer("hi", tokens=77))
    host = await backend(vendor.app())
    extra = {
        "ai/llm": {"openai": {"v1": {"credentials": CANARY, "variables": {"model": "gpt-4o-mini"}}}},
        "telemetry/logging": {"custom_format": PLAYGROUND},
    }
    endpoint = {
        "endpoint": "/llm-conditional",
        "method": "POST",
        "input_headers": ["X-Role", "X-User-Id"],
        "backend": [_backend(host, "/v1/responses", extra)],
    }
    client = await gateway(make_config([endpoint], extra_config=SERVICE_LOG))
    r = await client.post(
        "/llm-conditional",
        json={"contents": "joke"},
        headers={"X-User-Id": 'ann@example.com"\\\tfake', "X-Role": "moderator"},
    )
    assert r.status == 200
    assert (await r.json())["usage"] == "77"
    flush_stdout()
    out, err = capfd.readouterr()
    (line,) = _lines(out, '"vendor":"openai"')
    record = orjson.loads(line)  # a client's quote, backslash and tab cannot break the JSON line
    assert RFC3339.match(record["ts"])
    assert record["latency"].isdigit()
    assert record["tokenUsage"] == "77"  # the vendor's own answer, before the unified rewrite
    assert record["userId"] == 'ann@example.com"\\\tfake'
    assert record["role"] == "moderator"
    assert CANARY not in out and CANARY not in err


async def test_backend_log_default_format_and_no_value(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(gemini_answer("x"))
    host = await backend(vendor.app())
    extra = {
        "telemetry/logging": {
            "prefix": ">>> ",
            "no_value": "null",
            "custom_format": "%{prefix}%{time} |%{statusCode}| %{latencyMs} | %{method} %{host} %{path} "
            "t=%{resp.usageMetadata.totalTokenCount} c=%{resp.candidates.0.content.parts.0.text} "
            "m=%{resp.missing.key} ct=%{respHeader.Content-Type} k=%{reqHeader.X-Api-Key}\n",
        }
    }
    endpoint = {
        "endpoint": "/g",
        "method": "POST",
        "input_headers": ["X-Api-Key"],
        "backend": [_backend(host, "/v1beta/models/m:generateContent", extra)],
    }
    client = await gateway(make_config([endpoint], extra_config=SERVICE_LOG))
    r = await client.post("/g", json={}, headers={"X-Api-Key": CANARY})
    assert r.status == 200
    flush_stdout()
    out, _ = capfd.readouterr()
    (line,) = _lines(out, ">>> ")
    port = host.rsplit(":", 1)[1]
    pattern = (
        r"^>>> \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d\.\d{3} \|200\| \d+ \| POST 127\.0\.0\.1:" + port
        + r" /v1beta/models/m:generateContent t=12 c=x m=null ct=application/json; charset=utf-8 k=\[REDACTED\]$"
    )  # fmt: skip
    assert re.match(pattern, line), line
    assert CANARY not in out


async def test_backend_log_failed_call_has_no_status(gateway, dead_port: int, capfd) -> None:  # type: ignore[no-untyped-def]
    extra = {"telemetry/logging": {"custom_format": "BL %{statusCode} %{resp.a} %{method} %{path}"}}
    endpoint = {
        "endpoint": "/d",
        "backend": [{"host": [f"http://127.0.0.1:{dead_port}"], "url_pattern": "/x", "extra_config": extra}],
    }
    client = await gateway(make_config([endpoint], extra_config=SERVICE_LOG))
    r = await client.get("/d")
    assert r.status == 500
    flush_stdout()
    out, _ = capfd.readouterr()
    assert _lines(out, "BL ") == ["BL - - GET /x"]


@pytest.mark.parametrize(
    ("service", "backend_level", "written"),
    [
        ({"level": "WARNING", "stdout": True}, "INFO", False),
        ({"level": "WARNING", "stdout": True}, "ERROR", True),
        ({"level": "DEBUG", "stdout": False, "syslog": False}, "INFO", False),
        (None, "DEBUG", True),
    ],
)
async def test_backend_log_level_and_output(gateway, backend, capfd, service, backend_level, written) -> None:  # type: ignore[no-untyped-def]
    host = await backend(Vendor({"a": 1}).app())
    extra = {"telemetry/logging": {"custom_format": "LVL %{resp.a}\n", "log_with_level": backend_level}}
    doc = make_config([{"endpoint": "/l", "backend": [{"host": [host], "url_pattern": "/x", "extra_config": extra}]}])
    if service is not None:
        doc["extra_config"] = {"telemetry/logging": service}
    client = await gateway(doc)
    assert (await client.get("/l")).status == 200
    flush_stdout()
    out, _ = capfd.readouterr()
    assert _lines(out, "LVL ") == (["LVL 1"] if written else [])


def test_backend_log_compile_values() -> None:
    options = BackendLogOptions(custom_format="%{time:2006-01-02T15:04:05Z07:00}|%{latency}|%{url}|%{query}|%{resp.y}")
    render = compile_format(options)
    call = BackendCall(0.0, 0.0015, "GET", "http://h:1/p?a=1&token=s3cr3t", [], 200, (), b'{"x": [1, {"y": true}]}')
    text = render(call, Redactor()).decode()
    stamp, latency, url, query, resp = text.rstrip("\n").split("|")
    assert RFC3339.match(stamp)
    assert latency == "1.5ms"
    assert url == "http://h:1/p?a=1&token=[REDACTED]"
    assert query == "a=1&token=[REDACTED]"
    assert resp == "-"  # no such key
    nested = compile_format(BackendLogOptions(custom_format="%{resp.x}"))(call, Redactor()).decode()
    assert orjson.loads('"' + nested.rstrip("\n") + '"') == '[1,{"y":true}]'


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"custom_format": "%{nope}"}, "custom_format", "unknown variable %{nope}"),
        ({"custom_format": "%{method:x}"}, "custom_format", "only time takes a layout"),
        ({"log_with_level": "LOUD"}, "log_with_level", "LOUD"),
        ({"custom_format": "%{resp}"}, "custom_format", "unknown variable %{resp}"),
    ],
)
def test_backend_log_bad_config_fails_check(tmp_path: Path, value: dict[str, Any], field: str, message: str) -> None:
    doc = make_config(
        [
            {
                "endpoint": "/x",
                "backend": [
                    {
                        "host": ["http://127.0.0.1:8080"],
                        "url_pattern": "/",
                        "extra_config": {"telemetry/logging": value},
                    }
                ],
            }
        ]
    )
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(doc))
    done = check_config(config)
    assert done.returncode == 1
    assert f"endpoints[0].backend[0].extra_config.telemetry/logging.{field}" in done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


async def test_backend_log_non_utf8_client_header_never_fails_the_call(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    host = await backend(Vendor({"a": 1}).app())
    extra = {"telemetry/logging": {"custom_format": "BL %{reqHeader.X-User}"}}
    endpoint = {
        "endpoint": "/l",
        "input_headers": ["X-User"],
        "backend": [{"host": [host], "url_pattern": "/x", "extra_config": extra}],
    }
    client = await gateway(make_config([endpoint], extra_config=SERVICE_LOG))
    url = client.make_url("/l")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(b"GET /l HTTP/1.1\r\nHost: x\r\nX-User: ann\xff\r\nConnection: close\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    flush_stdout()
    out, err = capfd.readouterr()
    assert raw.split(b"\r\n", 1)[0].split(b" ")[1] == b"200"
    assert _lines(out, "BL ") == ["BL ann\ufffd"]  # the byte that is not UTF-8 written as U+FFFD
    assert "Traceback" not in out + err


async def test_backend_log_render_failure_is_said_once_and_the_value_never(caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A line that cannot be rendered (whatever the cause) never raises into the call."""
    from krakenpy.backends.client import UpstreamResponse
    from krakenpy.components.telemetry import logging as component

    class Boom(Redactor):
        def header_text(self, name: str, value: str) -> str:
            raise RuntimeError(value)

    calls: list[str] = []

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        calls.append(url)
        return UpstreamResponse(200, (), b"{}", "application/json")

    class Hub:
        redactor = Boom()

        def stdout(self) -> Any:
            return self

        def write(self, line: bytes) -> None:
            raise AssertionError("nothing is written")

    class Resources:
        def options(self, endpoint: str, namespace: str) -> None:
            return None

    # a redactor that raises stands for any render failure (the real ones are fixed where found)
    monkeypatch.setattr(component, "hub_for", lambda resources: Hub())
    wrap = await component._client(BackendLogOptions(custom_format="%{reqHeader.X-Secret}"), None, Resources())  # type: ignore[arg-type]
    assert wrap is not None
    logged = wrap(upstream)
    for _ in range(2):
        answer = await logged("GET", "http://h/x", [("X-Secret", "s3cr3t-v4lue")], None)
        assert answer.status == 200
    assert len(calls) == 2
    errors = [r for r in caplog.records if "backend log line" in r.getMessage()]
    assert len(errors) == 1 and "RuntimeError" in errors[0].getMessage()
    assert "s3cr3t-v4lue" not in caplog.text


async def test_backend_log_response_header_and_answer_are_redacted(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        resp = web.json_response({"access_token": "TOK-SECRET-1", "data": {"token": "TOK-SECRET-3"}, "n": 2})
        resp.headers["Set-Cookie"] = "sid=COOKIE-SECRET-2; Path=/"
        return resp

    app = web.Application()
    app.router.add_route("*", "/{t:.*}", handle)
    host = await backend(app)
    fmt = "BL %{resp.access_token} %{resp.data} %{resp.n} %{respHeader.Set-Cookie}"
    extra = {"telemetry/logging": {"custom_format": fmt}}
    client = await gateway(make_config([{"endpoint": "/t", "backend": [_backend(host, "/t", extra)]}]))
    assert (await client.get("/t")).status == 200
    flush_stdout()
    out, _ = capfd.readouterr()
    assert _lines(out, "BL ") == ['BL [REDACTED] {\\"token\\":\\"[REDACTED]\\"} 2 sid=[REDACTED]; Path=/']
