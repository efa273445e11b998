"""The client bucket table: one bucket per key, idle ones evicted, memory bounded."""

from __future__ import annotations

import tracemalloc

from krakenpy.ratelimit.bucket import fill_interval
from krakenpy.ratelimit.store import ClientStore
from tests.ratelimit.clock import SECOND, FakeClock


def _store(clock: FakeClock, ttl: float = 600, period: float = 60) -> ClientStore:
    return ClientStore(fill_interval(1), 1, ttl=int(ttl * SECOND), cleanup_period=int(period * SECOND), clock=clock)


def test_store_one_bucket_per_key() -> None:
    clock = FakeClock()
    store = _store(clock)
    assert store.allow("a") and store.allow("b")
    assert not store.allow("a") and not store.allow("b")
    assert len(store) == 2


def test_store_evicts_idle_buckets_and_restarts_them_full() -> None:
    clock = FakeClock()
    store = _store(clock, ttl=600, period=60)
    assert store.allow("idle")
    assert not store.allow("idle")
    clock.advance(300)
    store.allow("busy")
    clock.advance(301)  # "idle" unused for 601 s, "busy" for 301 s
    store.allow("busy")
    assert len(store) == 1  # cleanup ran on this request
    assert store.allow("idle")  # a fresh, full bucket


def test_store_cleanup_runs_once_per_period() -> None:
    clock = FakeClock()
    store = _store(clock, ttl=1, period=60)
    store.allow("a")
    clock.advance(30)
    store.allow("b")  # not yet time to clean: "a" stays although idle > ttl
    assert len(store) == 2
    clock.advance(31)
    store.allow("c")
    assert len(store) == 1


def test_store_ten_thousand_keys_memory_is_bounded() -> None:
    clock = FakeClock()
    store = _store(clock, ttl=600, period=60)
    tracemalloc.start()
    try:
        for round_ in range(3):
            for i in range(10_000):
                store.allow(f"client-{round_}-{i}")
            assert len(store) <= 10_001  # this round's keys (+ the previous round's trigger)
            current, _ = tracemalloc.get_traced_memory()
            assert current < 8 * 1024 * 1024  # ~10k small buckets, not a leak across rounds
            clock.advance(601)  # every bucket of this round is idle past the TTL
            store.allow("trigger")
            store.cleanup(clock())
    finally:
        tracemalloc.stop()
    assert len(store) <= 1


def test_store_cleanup_cost_stops_at_first_recent_bucket() -> None:
    clock = FakeClock()
    store = _store(clock, ttl=10, period=1)
    for i in range(1000):
        store.allow(f"old-{i}")
    clock.advance(11)
    store.allow("new")  # cleanup: all 1000 old ones are before "new"
    assert len(store) == 1
