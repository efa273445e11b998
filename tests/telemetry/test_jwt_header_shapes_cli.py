"""A JWT in a header no redaction list names was masked, where an output reports headers, only when its
protected header encoded as ``eyJ`` (``{"``): one written with a space or indented (``{ "alg"``,
``{\\n  "alg"``: ``eyAi…``, ``ewog…``, as some libraries and hand-made tokens have it) was logged as sent.
Through ``krakenpy run -d``: the ``/__debug/`` line reports the request's headers."""

from __future__ import annotations

import base64
import urllib.request
from pathlib import Path

from tests.conftest import free_port
from tests.server.process import Gateway, write_json


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


PAYLOAD = '{"sub":"c4n4ry"}'


def _token(header: str) -> str:
    return f"{_b64(header)}.{_b64(PAYLOAD)}.c4n4ry-S1gnature"


#: protected headers as encoders write them: compact, spaced, indented, CRLF, two spaces
HEADERS = (
    '{"alg":"HS256"}',
    '{ "alg": "HS256" }',
    '{\n  "alg": "HS256"\n}',
    '{\r\n"alg":"HS256"}',
    '{  "alg":"HS256"}',
)
#: ordinary dotted values starting ``ey``/``ew``: not a JSON object's opening, kept
KEPT = ("eyes.left.right", "ewok.ok.ok", "eyAg.not.json")


def test_a_jwt_whose_header_json_has_whitespace_is_masked_in_a_reported_header(tmp_path: Path) -> None:
    port = free_port()
    logging = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    backend = {"host": [f"127.0.0.1:{port}"], "url_pattern": "/__health"}
    doc = {"version": 3, "port": port, "extra_config": logging, "endpoints": [{"endpoint": "/x", "backend": [backend]}]}
    config = write_json(tmp_path / "krakend.json", doc)
    tokens = [_token(h) for h in HEADERS]
    assert [t[:4] for t in tokens] == ["eyJh", "eyAi", "ewog", "ew0K", "eyAg"]
    gateway = Gateway(config, "-w", "1", "-d", cwd=tmp_path)
    try:
        gateway.worker_pids(1)
        headers = {f"X-Token-{i}": t for i, t in enumerate(tokens)}
        headers |= {f"X-Note-{i}": v for i, v in enumerate(KEPT)}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/__debug/x", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        gateway.wait_log(r"X-Token-0")
    finally:
        gateway.stop()
    log = gateway.log
    assert "c4n4ry" not in log and not any(t[:20] in log for t in tokens), log
    for i in range(len(tokens)):
        assert f"'X-Token-{i}': '[REDACTED]'" in log, log
    for i, value in enumerate(KEPT):
        assert f"'X-Note-{i}': '{value}'" in log, log
