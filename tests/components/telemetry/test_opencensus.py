from __future__ import annotations

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway


async def test_opencensus_is_accepted_with_a_deprecation_warning() -> None:
    service = build_service(
        {
            "version": 3,
            "extra_config": {
                "telemetry/opencensus": {"sample_rate": 100, "exporters": {"jaeger": {}, "prometheus": {"port": 9091}}}
            },
            "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        }
    )
    gateway = await build_gateway(service)
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    assert any("deprecated" in w and "jaeger, prometheus" in w for w in warnings)
