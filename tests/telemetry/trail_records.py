"""The audit record the trail tests write by hand: a rate limiter's deny of ``GET /x`` (429)."""

from __future__ import annotations

from krakenpy.telemetry.audit import AuditTrail

__all__ = ["record_deny"]


def record_deny(trail: AuditTrail, n: int = 1, *, enforced: bool = True) -> None:
    """Queue ``n`` deny records on ``trail`` (``enforced=False``: a shadow rule's deny)."""
    for _ in range(n):
        trail.record(
            decision="deny", reason="rate_limited", policy="qos/ratelimit/router", route_id="GET /x", status=429,
            request={"id": None, "method": "GET", "route": "/x", "path": "/x"},
            client={"address": "203.0.113.7", "user_agent": "curl/8"}, subject=None, enforced=enforced,
        )  # fmt: skip
