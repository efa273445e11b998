"""A JWT in a header no redaction list names (``X-Forwarded-Token``, ``X-Id-Token``: what an
upstream proxy or an identity-aware front adds) was reported as sent by the outputs that report
headers: span attributes (``report_headers``), the ``/__debug/`` log line and the backend log. A
value shaped as a compact JWS or JWE is masked there, whatever the header's name."""

from __future__ import annotations

from typing import Any

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.redact import Redactor
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.telemetry.conftest import served, upstream
from tests.telemetry.test_canary_secrets import _leaks

__all__ = ["served", "upstream"]

#: a compact JWS (header.payload.signature) and a JWE (five segments, the key one empty: ``dir``)
JWS = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJjNG40cnkiOjF9.c4n4ry-S1gnature_x"
JWE = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXYtYzRuNHJ5.Y2lwaGVyLWM0bjRyeQ.dGFnLWM0bjRyeQ"


def test_only_a_jwt_shaped_value_is_masked() -> None:
    r = Redactor()
    assert r.header_text("X-Forwarded-Token", JWS) == "[REDACTED]"
    assert r.header_text("X-Id-Token", f"{JWE}, {JWS}") == "[REDACTED], [REDACTED]"
    assert r.headers([("X-Upstream-Jwt", JWS), ("X-Note", "eyJust-kidding")]) == [
        ("X-Upstream-Jwt", "[REDACTED]"),
        ("X-Note", "eyJust-kidding"),
    ]
    for kept in ("eyJhbGc.a.b.c", "v1.eyJhbGciOi.x.y", "eyJhbGciOiJIUzI1NiJ9.payload"):  # 4 or 2 segments, or inside
        assert r.header_text("X-Thing", kept) == kept


async def test_a_jwt_in_an_unknown_header_reaches_no_reported_header(  # type: ignore[no-untyped-def]
    served, upstream, capfd
) -> None:
    receiver = Receiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([]))
    backend_log: dict[str, Any] = {"custom_format": "backend-log %{path} %{reqHeader.X-Forwarded-Token}"}
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/logging": {"level": "DEBUG", "stdout": True},
                "telemetry/opentelemetry": {
                    "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": port, "use_http": True}]},
                    "layers": {"global": {"report_headers": True}},
                },
            },
            "endpoints": [
                {
                    "endpoint": "/x",
                    "input_headers": ["*"],
                    "backend": [
                        {"host": [ok], "url_pattern": "/o", "extra_config": {"telemetry/logging": backend_log}}
                    ],
                }
            ],
        },
        debug=True,
    )
    headers = {"X-Forwarded-Token": JWS, "X-Id-Token": JWE}
    for path in ("/__debug/x", "/x"):
        resp = await s.client.get(path, headers=headers)
        assert resp.status == 200
        await resp.read()
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    out = capfd.readouterr().out.encode()
    outputs = {"stdout": out, "otlp": b"\n".join(receiver.bodies)}
    for token in (JWS, JWE):
        assert _leaks(token, outputs) == {}
    assert b"'X-Forwarded-Token': '[REDACTED]'" in out and b"'X-Id-Token': '[REDACTED]'" in out
    assert b"x-forwarded-token" in outputs["otlp"] and b"backend-log /o [REDACTED]" in out
