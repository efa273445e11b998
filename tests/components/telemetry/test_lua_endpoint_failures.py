"""A ``modifier/lua-endpoint`` script's runtime error is logged once, as every other Lua failure is
(README, Application log and failures): ``[ENDPOINT: /x] [Lua] …`` at ERROR with the request id, gin's
``Error #01`` line after the access line, the text a client gets with ``return_error_msg`` redacted.
It runs above the proxy layer, whose telemetry logs the other scripts' errors: before the fix it was
a bare 500 with nothing in any log unless the audit trail was on. The real CLI, real Lua."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli_gateway import gateway_process, stop
from tests.conftest import free_port

SECRET = "canary-Secret-4242"
SERVICE_SCRIPT = "local c = ctx.load()\nif c:headers('X-Fail') ~= '' then error('svc ' .. c:headers('X-Fail')) end"
ENDPOINT_SCRIPT = "local c = ctx.load()\nerror('boom ' .. c:headers('Authorization'))"


def _config(folder: Path, port: int, **service: Any) -> Path:
    dead = f"http://127.0.0.1:{free_port()}"  # the scripts fail before any backend is called
    doc = {
        "version": 3,
        "port": port,
        "host": [dead],
        "extra_config": {
            "router": {"return_error_msg": True},
            # the service-level script runs for every endpoint
            "modifier/lua-endpoint": {"pre": SERVICE_SCRIPT},
            **service,
        },
        "endpoints": [
            {"endpoint": "/e", "extra_config": {"modifier/lua-endpoint": {"pre": ENDPOINT_SCRIPT}},
             "backend": [{"url_pattern": "/x"}]},
            {"endpoint": "/nil", "extra_config": {"modifier/lua-endpoint": {"pre": "local x = nil\nx.y = 1"}},
             "backend": [{"url_pattern": "/x"}]},
            {"endpoint": "/s", "backend": [{"url_pattern": "/x"}]},
        ],
    }  # fmt: skip
    config = folder / "krakend.json"
    config.write_text(json.dumps(doc))
    return config


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.parametrize("audit", [False, True], ids=["no-audit", "audit"])
def test_lua_endpoint_errors_are_logged_once_with_the_request_id(tmp_path: Path, audit: bool) -> None:
    port = free_port()
    service = {"telemetry/audit": {"sink": "file", "path": str(tmp_path / "audit.log")}} if audit else {}
    with gateway_process(_config(tmp_path, port, **service), port=port) as proc:
        base = f"http://127.0.0.1:{port}"
        answers = [
            _get(f"{base}/e", {"X-Request-Id": "rid-e", "Authorization": f"Bearer {SECRET}"}),
            _get(f"{base}/nil", {"X-Request-Id": "rid-nil"}),
            _get(f"{base}/s", {"X-Request-Id": "rid-s", "X-Fail": "now"}),
        ]
        out, err = stop(proc)
    # the client's text (return_error_msg) is redacted as the proxy layer's is
    assert answers == [
        (500, b"boom [REDACTED] (pre-script:L2)"),
        (500, b"attempt to index a nil value (local 'x') (pre-script:L2)"),
        (500, b"svc now (pre-script:L2)"),
    ]
    assert SECRET not in out + err
    errors = [line for line in out.splitlines() if " ERROR: " in line]
    assert [line.split(" ERROR: ", 1)[1] for line in errors] == [
        "[ENDPOINT: /e] [Lua] boom [REDACTED] (pre-script:L2) request_id=rid-e",
        "[ENDPOINT: /nil] [Lua] attempt to index a nil value (local 'x') (pre-script:L2) request_id=rid-nil",
        "[ENDPOINT: /s] [Lua] svc now (pre-script:L2) request_id=rid-s",
    ]
    # gin's error line follows each access line, as for a proxy-level script's error
    assert out.count("Error #01: [Lua] ") == 3
    assert "Error #01: [Lua] svc now (pre-script:L2)" in out


def test_a_secret_header_with_bytes_that_are_no_utf8_is_masked_where_an_error_quotes_it(tmp_path: Path) -> None:
    """Lua holds the client's bytes and its error text shows the ones that are no UTF-8 as U+FFFD,
    where the server decoded the header with surrogate escapes: the secret was not found in the text
    (the whole API key in the body, the log line and the access log's error)."""
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "host": [f"http://127.0.0.1:{free_port()}"],
        "extra_config": {"router": {"return_error_msg": True}, "telemetry/access_log": {"format": "json"}},
        "endpoints": [{
            "endpoint": "/k",
            "extra_config": {"modifier/lua-endpoint": {"pre": "error('k=' .. ctx.load():headers('X-Api-Key'))"}},
            "backend": [{"url_pattern": "/x"}],
        }],
    }  # fmt: skip
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    key = "apiKeyLatin\xe9\xffTail"  # sent as the bytes e9 ff (http.client writes Latin-1)
    with gateway_process(config, port=port) as proc:
        status, body = _get(f"http://127.0.0.1:{port}/k", {"X-Api-Key": key, "X-Request-Id": "rid-k"})
        out, err = stop(proc)
    assert (status, body) == (500, b"k=[REDACTED] (pre-script:L1)")
    assert "apiKeyLatin" not in out + err
    assert "[ENDPOINT: /k] [Lua] k=[REDACTED] (pre-script:L1) request_id=rid-k" in out
