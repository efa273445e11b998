"""The optional headers of a rate-limit rejection (krakenpy extension ``rate_limit_headers``):
``Retry-After`` (RFC 9110) and the IETF ``RateLimit-Policy`` / ``RateLimit`` structured fields
(draft-ietf-httpapi-ratelimit-headers). KrakenD sends none (krakend-ce#805), so they stay off by
default and a rejection is byte-identical to KrakenD's: an empty body and no headers.

The policy describes the limit as configured: ``q`` requests per ``w`` seconds (``every``).
"""

from __future__ import annotations

import math

__all__ = ["policy_header", "rejection_headers"]


def policy_header(name: str, rate_per_second: float, every: float) -> str:
    """``"name";q=<requests per every>;w=<every in seconds>``, computed once at start-up."""
    quota = max(round(rate_per_second * every), 1)
    return f'"{name}";q={quota};w={max(math.ceil(every), 1)}'


def rejection_headers(policy: str, name: str, wait: float) -> tuple[tuple[str, str], ...]:
    """Headers of one rejection; ``wait`` is the seconds until the next token."""
    retry = max(math.ceil(wait), 1)
    return (
        ("Retry-After", str(retry)),
        ("RateLimit-Policy", policy),
        ("RateLimit", f'"{name}";r=0;t={retry}'),
    )
