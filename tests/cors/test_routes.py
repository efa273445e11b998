"""Endpoint templates → values, with gin's precedence."""

from __future__ import annotations

from krakenpy.cors import RouteMap


def routes(*entries: tuple[str, str, str]) -> RouteMap[str]:
    out: RouteMap[str] = RouteMap()
    for method, template, value in entries:
        out.add(template, method, value)
    return out


def test_route_map_static_and_param() -> None:
    m = routes(("GET", "/users/{id}", "param"), ("GET", "/users/me", "static"), ("POST", "/users/{id}", "post"))
    assert m.get("GET", "/users/me") == "static"
    assert m.get("GET", "/users/42") == "param"
    assert m.get("POST", "/users/me") == "post"
    assert m.get("PUT", "/users/42") is None
    assert m.get("GET", "/users/") is None  # a parameter never matches an empty segment
    assert m.get("GET", "/users/42/x") is None


def test_route_map_static_segment_wins_at_the_first_difference() -> None:
    m = routes(("GET", "/{a}/b", "param-first"), ("GET", "/a/{b}", "static-first"))
    assert m.get("GET", "/a/b") == "static-first"
    assert m.get("GET", "/x/b") == "param-first"


def test_route_map_later_add_replaces() -> None:
    m = routes(("GET", "/a/{x}", "one"), ("GET", "/a/{y}", "two"), ("GET", "/s", "s1"), ("GET", "/s", "s2"))
    assert (m.get("GET", "/a/1"), m.get("GET", "/s")) == ("two", "s2")


def test_route_map_empty_is_false() -> None:
    assert not RouteMap()
    assert routes(("GET", "/a", "x"))
