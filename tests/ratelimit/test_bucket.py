"""KrakenD's token bucket, step by step (krakend-ratelimit tokenbucket.go)."""

from __future__ import annotations

from krakenpy.ratelimit.bucket import TokenBucket, default_capacity, fill_interval

S = 1_000_000_000


def test_fill_interval_matches_go() -> None:
    assert fill_interval(10) == S // 10
    assert fill_interval(1 / 60) == 60 * S
    assert fill_interval(0) == int(1e9 / 1e-9)  # Go clamps the rate to 1e-9


def test_default_capacity_is_rate_at_least_one() -> None:
    assert default_capacity(0.5) == 1
    assert default_capacity(10.9) == 10


def test_bucket_starts_full_then_denies() -> None:
    bucket = TokenBucket(fill_interval(1), 3, now=0)
    assert [bucket.allow(0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_whole_intervals_only() -> None:
    bucket = TokenBucket(fill_interval(1), 2, now=0)
    assert bucket.allow(0) and bucket.allow(0)
    assert not bucket.allow(S - 1)
    assert bucket.allow(S)  # one interval: one token, used by this request
    assert not bucket.allow(S)


def test_bucket_time_not_counted_while_tokens_remain() -> None:
    bucket = TokenBucket(fill_interval(1), 2, now=0)
    assert bucket.allow(5 * S)  # a token left: last_refill stays at 0
    assert bucket.allow(5 * S)
    # empty now; 5 intervals elapsed since creation > capacity: full again, this one free
    assert bucket.allow(5 * S)
    assert bucket.tokens == 2
    assert bucket.allow(5 * S) and bucket.allow(5 * S)
    assert not bucket.allow(5 * S)


def test_bucket_overflow_allows_capacity_plus_one_after_idle() -> None:
    bucket = TokenBucket(fill_interval(10), 5, now=0)
    for _ in range(5):
        assert bucket.allow(0)
    now = 100 * S
    allowed = 0
    while bucket.allow(now):
        allowed += 1
    assert allowed == 6


def test_bucket_partial_refill_keeps_remainder() -> None:
    bucket = TokenBucket(fill_interval(1), 10, now=0)
    for _ in range(10):
        bucket.allow(0)
    assert bucket.allow(int(3.5 * S))  # 3 tokens: this request takes one, 2 stay
    assert bucket.tokens == 2
    assert bucket.last_refill == 3 * S  # the half interval is not lost


def test_bucket_wait_is_time_to_next_token() -> None:
    bucket = TokenBucket(fill_interval(2), 1, now=0)
    assert bucket.wait(0) == 0.0
    bucket.allow(0)
    assert bucket.wait(S // 4) == 0.25
