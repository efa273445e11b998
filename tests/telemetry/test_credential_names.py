"""The names guards read credentials from (the ``auth/api-keys`` identifier, a JWT header) are masked in
every telemetry output, though no ``redact`` list names them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.export import EXPORTER
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.jose.helpers import public_jwk, rsa_key

CANARY = "CANARYPLAINKEY-77"


@pytest.mark.parametrize("fmt", ["gin", "json"])
async def test_credential_names_masked_in_logs_spans_and_audit(
    served: Any, upstream: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    seen: list[Any] = []
    base = await upstream(recording_app(seen))
    access_file, audit_file, jwks = tmp_path / "access.log", tmp_path / "audit.log", tmp_path / "jwks.json"
    jwks.write_bytes(orjson.dumps({"keys": [public_jwk(rsa_key("k1"))]}))
    validator = {"alg": "RS256", "jwk_local_path": str(jwks), "auth_header_name": "X-Jwt"}
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/logging": {"level": "DEBUG", "stdout": True},
                "telemetry/access_log": {"format": fmt, "file": str(access_file)},
                "telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True},
                "auth/api-keys": {"keys": [{"key": CANARY, "roles": ["user"]}], "strategy": "query_string"},
                "telemetry/opentelemetry": {
                    "exporters": {
                        "otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]
                    },
                    "layers": {"global": {"report_headers": True}, "proxy": {"report_headers": True}},
                },
            },
            "endpoints": [
                {
                    "endpoint": "/q",
                    "input_query_strings": ["*"],
                    "extra_config": {"auth/api-keys": {"roles": ["user"]}},
                    "backend": [{"host": [base], "url_pattern": "/o"}],
                },
                {
                    "endpoint": "/h",
                    "extra_config": {
                        "auth/api-keys": {"roles": ["user"], "strategy": "header", "identifier": "X-My-Key"}
                    },
                    "backend": [{"host": [base], "url_pattern": "/o"}],
                },
                {
                    "endpoint": "/jwt",
                    "extra_config": {"auth/validator": validator},
                    "backend": [{"host": [base], "url_pattern": "/o"}],
                },
            ],
        },  # fmt: skip
        debug=True,
    )
    assert (await s.client.get(f"/q?key={CANARY}&page=2")).status == 200
    assert (await s.client.get("/q?key=wrong-CANARYPLAINKEY-77")).status == 401
    assert (await s.client.get("/h", headers={"X-My-Key": CANARY})).status == 200
    assert (await s.client.get("/jwt", headers={"X-Jwt": f"Bearer {CANARY}"})).status == 401
    assert (await s.client.get(f"/__debug/x?key={CANARY}", headers={"X-My-Key": CANARY})).status == 200
    assert len(seen) == 2 and "key" not in seen[0].query  # the key is never forwarded either
    await s.gateway.resources.state[EXPORTER].flush()
    logging.getLogger("krakenpy").handlers[0].flush()
    await s.gateway.close()
    captured = capfd.readouterr()
    outputs = {
        "stdout": captured.out.encode(),
        "access file": access_file.read_bytes(),
        "audit file": audit_file.read_bytes(),
        "otlp": b"\n".join(receiver.bodies),
    }
    assert b"key=[REDACTED]&page=2" in outputs["access file"] and b"key=[REDACTED]" in outputs["otlp"]
    assert b"x-my-key" in outputs["otlp"].lower() and b"/__debug/x" in outputs["stdout"]
    assert outputs["audit file"].count(b"\n") == 4
    assert {name for name, data in outputs.items() if CANARY.encode() in data} == set()
