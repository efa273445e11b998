"""The quota rejecter cache: generations (the shortest window) and the hash family of ``hash_name``."""

from __future__ import annotations

from krakenpy.jose.bloomhash import positions_function
from krakenpy.quota.rejecter import Rejecter


def _set_bits(rejecter: Rejecter) -> set[int]:
    mapped = rejecter._map
    assert mapped is not None
    data = bytes(mapped)
    return {i * 8 + b for i, byte in enumerate(data) if byte for b in range(8) if byte & (1 << b)}


def test_rejecter_late_add_of_a_past_generation_keeps_the_current_filter() -> None:
    rejecter = Rejecter(1000, 1e-6)
    rejecter.add("krakenpy:quota:q:day:200:ann", 2)  # the current window: ann used up
    rejecter.add("krakenpy:quota:q:day:100:bob", 1)  # a slow request of window 1 ends now
    assert rejecter.check("krakenpy:quota:q:day:200:ann", 2)
    assert not rejecter.check("krakenpy:quota:q:day:100:bob", 1)  # a past window: ask Redis
    assert not rejecter.check("krakenpy:quota:q:day:100:bob", 2)  # never added
    assert rejecter.check("krakenpy:quota:q:day:200:ann", 2)  # the check of the past did not wipe it
    rejecter.close()


def test_rejecter_follows_hash_name() -> None:
    element = "krakenpy:quota:q:day:86400:ann"
    default, optimal = Rejecter(1000, 1e-3, "default"), Rejecter(1000, 1e-3, "optimal")
    default.add(element, 1)
    optimal.add(element, 1)
    want_default = set(positions_function("default", default.bits, default.hashes)(element))
    want_optimal = set(positions_function("optimal", optimal.bits, optimal.hashes)(element))
    assert want_default != want_optimal  # else the test could not tell the families apart
    assert _set_bits(default) == want_default
    assert _set_bits(optimal) == want_optimal
    default.close()
    optimal.close()
