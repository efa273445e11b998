"""KrakenD's reading of the rate-limit values, quirks included."""

from __future__ import annotations

from krakenpy.ratelimit.options import DATA_TTL, parse_proxy_limit, parse_router_limit

S = 1_000_000_000


def test_options_every_scales_rates_and_capacity_defaults_follow() -> None:
    o = parse_router_limit({"max_rate": 120, "client_max_rate": 600, "every": "1m"})
    assert o.max_rate == 2.0 and o.client_max_rate == 10.0
    assert o.capacity == 2 and o.client_capacity == 10


def test_options_client_capacity_bug_uses_global_rate() -> None:
    # max_rate unset (< 1): client_capacity falls to 1 whatever client_max_rate says
    assert parse_router_limit({"client_max_rate": 100}).client_capacity == 1
    assert parse_router_limit({"max_rate": 1, "client_max_rate": 100}).client_capacity == 100
    assert parse_router_limit({"client_max_rate": 100, "client_capacity": 7}).client_capacity == 7


def test_options_every_below_a_second_or_invalid_is_one_second() -> None:
    assert parse_router_limit({"max_rate": 10, "every": "100ms"}).max_rate == 10
    assert parse_router_limit({"max_rate": 10, "every": "soon"}).max_rate == 10


def test_options_ttl_grows_with_long_every() -> None:
    assert parse_router_limit({"max_rate": 1, "every": "1m"}).ttl == DATA_TTL
    ttl = parse_router_limit({"max_rate": 1, "every": "1h"}).ttl
    assert 3600 * S <= ttl <= 4500 * S


def test_options_other_shapes_are_ignored() -> None:
    o = parse_router_limit({"max_rate": "10", "capacity": True, "strategy": "IP", "cleanup_period": "10ms"})
    assert o.max_rate == 0 and o.capacity == 1 and o.strategy == "ip"
    assert o.cleanup_period == S  # one second minimum


def test_options_proxy_every_has_no_minimum() -> None:
    assert parse_proxy_limit({"max_rate": 1, "every": "500ms"}).max_rate == 2.0
    assert parse_proxy_limit({"max_rate": 60, "every": "1m"}).capacity == 1
    assert parse_proxy_limit({"max_rate": 5, "every": "0s"}).max_rate == 5.0
    assert parse_proxy_limit({"max_rate": 5, "capacity": 50}).capacity == 50
