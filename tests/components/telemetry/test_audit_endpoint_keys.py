"""``telemetry/audit`` at endpoint level: only ``sensitive`` and ``sample`` apply there (README, Audit
trail; the schema's description). The service-only keys an endpoint carries are warnings, never
checked as if the endpoint had a sink of its own: ``"sink": "file"`` without a ``path`` (or ``"sink":
"http"`` without a ``url``) reads as the same warning as with one, and the endpoint's records go to
the service's sink."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from krakenpy.telemetry.audit import verify_chain
from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port


def _config(port: int, audit_file: Path, endpoint_audit: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "host": [f"http://127.0.0.1:{free_port()}"],
        "extra_config": {
            "auth/api-keys": {"keys": [{"key": "right-key-123", "roles": ["reader"]}]},
            "telemetry/audit": {"sink": "file", "path": str(audit_file)},
        },
        "endpoints": [
            {
                "endpoint": "/guarded",
                "extra_config": {"auth/api-keys": {"roles": ["reader"]}, "telemetry/audit": endpoint_audit},
                "backend": [{"url_pattern": "/x"}],
            }
        ],
    }


def test_endpoint_sink_without_its_target_is_a_warning(tmp_path: Path) -> None:
    for endpoint_audit, key in (({"sensitive": True, "sink": "file"}, "sink"), ({"sink": "http"}, "sink")):
        config = tmp_path / "krakend.json"
        config.write_text(json.dumps(_config(free_port(), tmp_path / "audit.log", endpoint_audit)))
        out = check_config(config)
        assert out.returncode == 0, out.stderr
        assert "Syntax OK!" in out.stdout
        where = f"endpoints[0].extra_config.telemetry/audit.{key}"
        assert f"WARNING: {where}: {key} applies at service level only" in out.stderr
        assert "needs a path" not in out.stderr and "needs an http(s) url" not in out.stderr


def test_endpoint_records_go_to_the_service_sink(tmp_path: Path) -> None:
    port = free_port()
    audit_file = tmp_path / "audit.log"
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_config(port, audit_file, {"sensitive": True, "sink": "file"})))
    with gateway_process(config, port=port):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/guarded", headers={"Authorization": "wrong"})
        try:
            urllib.request.urlopen(request, timeout=5).read()
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 401
    lines = audit_file.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [(r["decision"], r["reason"], r["request"]["route"]) for r in records] == [
        ("deny", "credentials_invalid", "/guarded")
    ]
    assert verify_chain(lines)


def test_an_endpoint_audit_without_the_services_is_warned_about_at_the_endpoints_path(tmp_path: Path) -> None:
    """The warning named the service's path (``extra_config.telemetry/audit``, which the file does not
    have) and not the endpoint that asks for records nobody writes."""
    backend = [{"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/b"}]
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/plain", "backend": backend},
            {"endpoint": "/audited", "extra_config": {"telemetry/audit": {"sensitive": True}}, "backend": backend},
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "needs it at service level" in line]
    assert warnings == [
        "WARNING: endpoints[1].extra_config.telemetry/audit: telemetry/audit at endpoint level needs it at "
        "service level too: nothing is recorded"
    ], out.stderr
