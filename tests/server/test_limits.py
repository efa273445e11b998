"""The listener's limits: KrakenD's settings, Go's fallbacks between them and krakenpy's defaults."""

from __future__ import annotations

from typing import Any

from krakenpy.config.build import build_service
from krakenpy.server.limits import DEFAULT_MAX_HEADER_BYTES, ServerLimits, server_limits


def _limits(**service: Any) -> ServerLimits:
    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}]}
    return server_limits(build_service({**doc, **service}))


def test_limits_defaults_bound_every_clock() -> None:
    limits = _limits()
    assert (limits.header_timeout, limits.read_timeout, limits.idle_timeout) == (10.0, 30.0, 90.0)
    assert limits.write_timeout == 30.0 + 2.0 + 10.0  # the request, the endpoint timeout, a grace
    assert limits.max_header_bytes == DEFAULT_MAX_HEADER_BYTES
    assert limits.header_budget == DEFAULT_MAX_HEADER_BYTES + 4096
    assert limits.handshake_timeout == 10.0
    assert limits.shutdown_wait == 0.0


def test_limits_follow_go_fallbacks_from_read_timeout() -> None:
    limits = _limits(read_timeout="5s")
    # Go: ReadHeaderTimeout and IdleTimeout fall back to ReadTimeout when zero
    assert (limits.header_timeout, limits.read_timeout, limits.idle_timeout) == (5.0, 5.0, 5.0)
    assert limits.handshake_timeout == 5.0


def test_limits_take_every_configured_value() -> None:
    limits = _limits(
        read_header_timeout="2s",
        read_timeout="20s",
        write_timeout="4s",
        idle_timeout="1m",
        max_header_bytes=8192,
        max_shutdown_wait_time="1s",
    )
    assert (limits.header_timeout, limits.read_timeout, limits.write_timeout, limits.idle_timeout) == (2, 20, 4, 60)
    assert (limits.max_header_bytes, limits.shutdown_wait) == (8192, 1.0)
    assert limits.handshake_timeout == 2.0  # Go: the smallest of the request clocks
    assert limits.tick == 0.2


def test_limits_default_read_timeout_never_cuts_a_longer_header_timeout() -> None:
    assert _limits(read_header_timeout="45s").read_timeout == 45.0


def test_limits_default_write_timeout_covers_the_longest_endpoint() -> None:
    doc: dict[str, Any] = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]},
            {"endpoint": "/slow", "timeout": "5m", "backend": [{"host": ["h:80"], "url_pattern": "/"}]},
        ],
    }
    assert server_limits(build_service(doc)).write_timeout == 30.0 + 300.0 + 10.0
