from __future__ import annotations

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway


async def test_influx_is_accepted_with_a_warning() -> None:
    service = build_service(
        {
            "version": 3,
            "extra_config": {"telemetry/influx": {"address": "http://influxdb:8086", "ttl": "25s", "password": "pw"}},
            "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        }
    )
    gateway = await build_gateway(service)
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    assert any("InfluxDB" in w and "telemetry/opentelemetry" in w for w in warnings)
    assert not any("pw" in w.split("telemetry/influx", 1)[1] for w in warnings)
