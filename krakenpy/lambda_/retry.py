"""botocore's ``standard`` retry mode (botocore/retries/standard.py, its default "legacy" variant).

- Retried: throttling codes, the transient codes, HTTP 500/502/503/504, and every transport failure
  (aiobotocore turns all of them into botocore ``ConnectionError``/``HTTPClientError``, which are
  retried, even after the request was sent: botocore re-runs the function then too).
- Backoff before attempt n+1: ``random() * min(2 ** (n - 1), 20)`` seconds.
- Retry quota per client (here: per target): 500 units; a retry takes 5 (10 after a timeout) and is
  not made when they are missing; a 2xx answer gives back 1, or what its last retry took.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_ATTEMPTS", "RetryQuota", "backoff", "retryable_answer"]

DEFAULT_MAX_ATTEMPTS: Final = 3
_MAX_BACKOFF: Final = 20.0
_THROTTLING: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
#: transient codes (botocore adds IDPCommunicationError for STS only)
_TRANSIENT: Final = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
_TRANSIENT_STATUS: Final = frozenset({500, 502, 503, 504})


def retryable_answer(status: int, code: str) -> bool:
    """Whether botocore retries an error answer (Lambda models no error as retryable)."""
    return status in _TRANSIENT_STATUS or code in _THROTTLING or code in _TRANSIENT


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): truncated exponential, full jitter."""
    return rand() * min(2.0 ** (attempt - 1), _MAX_BACKOFF)


class RetryQuota:
    """The token bucket that stops retry storms when a region is failing (botocore's ``RetryQuota``)."""

    __slots__ = ("available", "capacity")

    RETRY_COST: Final = 5
    TIMEOUT_COST: Final = 10
    NO_RETRY_INCREMENT: Final = 1

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self.available = capacity

    def acquire(self, amount: int) -> bool:
        """Take ``amount`` for one retry; False (and nothing taken) when it is not there."""
        if amount > self.available:
            return False
        self.available -= amount
        return True

    def release(self, amount: int) -> None:
        """Give back ``amount`` after a 2xx answer, never above the capacity."""
        self.available = min(self.capacity, self.available + amount)
