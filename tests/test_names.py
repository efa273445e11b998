"""krakenpy.names: Go's canonical header names, cached without letting clients grow the cache."""

from __future__ import annotations

from krakenpy import names
from krakenpy.names import canonical_header


def test_canonical_header_go_rules() -> None:
    assert canonical_header("x-foo-bar") == "X-Foo-Bar"
    assert canonical_header("CONTENT-type") == "Content-Type"
    assert canonical_header("x--y") == "X--Y"
    assert canonical_header("") == ""


def test_canonical_header_cache_is_bounded() -> None:
    for i in range(10_000):  # a client inventing names: the cache stops at its cap
        assert canonical_header(f"x-hostile-{i}") == f"X-Hostile-{i}"
    assert len(names._CANONICAL) <= 4096
    long_name = "x-" + "a" * 1000
    assert canonical_header(long_name) == "X-A" + "a" * 999
    assert long_name not in names._CANONICAL  # long names are never kept
