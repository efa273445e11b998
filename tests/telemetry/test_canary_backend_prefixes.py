"""The log prefixes of backend-level components quote the backend's ``url_pattern``
(``[BACKEND: /u?sig=…][CEL]``, ``[POLICIES]``, ``[AMQP]``). A key the pattern holds under a masked
query key is the gateway's own upstream credential: the command line's basic logger (no
``telemetry/logging``) masked it by the key-based rule alone, which stops at a ``]``, a quote or a
space, and wrote the rest (real CLI)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.cli_gateway import ROOT
from tests.conftest import free_port
from tests.server.process import Gateway, wait_http

KEY = "pr3fix-k3y-c4n4ry"
PATTERN = f"/u?sig=ab]{KEY}'x&api_key=k3y {KEY}"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_url_pattern_key_is_masked_in_the_cel_policies_and_amqp_prefixes(tmp_path: Path) -> None:
    port = free_port()

    def endpoint(path: str, host: str, extra: dict[str, Any]) -> dict[str, Any]:
        backend = {"host": [host], "url_pattern": PATTERN, "disable_host_sanitize": True, "extra_config": extra}
        return {"endpoint": path, "timeout": "2s", "backend": [backend]}

    closed = f"http://127.0.0.1:{free_port()}"
    amqp = {"name": "q", "exchange": "x", "routing_key": ["a.*"]}
    doc = {
        "version": 3,
        "port": port,
        "endpoints": [
            endpoint("/cel", closed, {"validation/cel": [{"check_expr": "req_method == 'POST'"}]}),
            endpoint("/policies", closed, {"security/policies": {"debug": True, "req": {"policies": ["false"]}}}),
            endpoint("/amqp", f"amqp://127.0.0.1:{free_port()}", {"backend/amqp/consumer": amqp}),
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        for path in ("/cel", "/policies", "/amqp"):
            assert _get(f"http://127.0.0.1:{port}{path}") >= 500
        gateway.wait_log(r"\]\[CEL\]\[pre\] evaluator #0 failed")
        gateway.wait_log(r"\]\[POLICIES\] req policy #0")
        gateway.wait_log(r"\]\[AMQP\] ")
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    said = [line for line in gateway.log.splitlines() if "][CEL]" in line or "][POLICIES]" in line or "][AMQP]" in line]
    assert len(said) >= 3, gateway.log
    assert KEY not in gateway.log, said
    assert all("[BACKEND: /u?sig=[REDACTED]&api_key=[REDACTED]]" in line for line in said), said
