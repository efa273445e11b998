"""Cache-Control directives, dates and freshness, as krakend/httpcache computes them.

Freshness of a stored response against a request (``getFreshness``):

- request ``no-cache`` ⇒ *transparent* (go to the backend, no validators);
- response ``no-cache`` ⇒ *stale*; request ``only-if-cached`` ⇒ *fresh*;
- no parseable ``Date`` ⇒ *stale*;
- lifetime = response ``max-age``, else ``Expires − Date`` (RFC 1123 only), else 0; a request
  ``max-age`` replaces it; ``min-fresh`` adds to the age, ``max-stale`` subtracts from it (bare:
  *fresh*); fresh when lifetime > age.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Final, Literal, TypeAlias

__all__ = [
    "FRESH",
    "STALE",
    "TRANSPARENT",
    "Freshness",
    "can_stale_on_error",
    "can_store",
    "freshness",
    "header",
    "header_values",
    "http_date",
    "parse_cache_control",
    "response_lifetime",
    "seconds",
]

Freshness: TypeAlias = Literal["fresh", "stale", "transparent"]
FRESH: Final = "fresh"
STALE: Final = "stale"
TRANSPARENT: Final = "transparent"
Pairs: TypeAlias = Iterable[tuple[str, str]]
#: what Go's ``time.ParseDuration(v + "s")`` accepts
_DELTA = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\Z")


def header(pairs: Pairs, name: str) -> str:
    """The first value of ``name`` (case-insensitive), "" when absent (Go ``Header.Get``)."""
    lower = name.lower()
    for key, value in pairs:
        if key.lower() == lower:
            return value
    return ""


def header_values(pairs: Pairs, name: str) -> list[str]:
    """Every comma-separated item of every ``name`` header, trimmed (httpcache ``headerAllCommaSepValues``)."""
    lower = name.lower()
    out: list[str] = []
    for key, value in pairs:
        if key.lower() == lower:
            out.extend(item.strip() for item in value.split(","))
    return out


def parse_cache_control(value: str) -> dict[str, str]:
    """``max-age=60, no-cache`` → ``{"max-age": "60", "no-cache": ""}`` (values trimmed of spaces and quotes)."""
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, arg = part.partition("=")
        out[name.strip()] = arg.strip(' "') if sep else ""
    return out


def seconds(text: str) -> float | None:
    """A directive's delta-seconds (Go ``ParseDuration(v + "s")``), ``None`` when invalid."""
    return float(text) if _DELTA.match(text) else None


def http_date(text: str) -> float | None:
    """An HTTP date (RFC 1123, RFC 850 or asctime) as a POSIX timestamp, ``None`` when invalid."""
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def response_lifetime(control: Mapping[str, str], expires: str, date: float) -> float:
    """The lifetime a response gives itself: ``max-age``, else ``Expires − Date``, else 0."""
    if "max-age" in control:
        return seconds(control["max-age"]) or 0.0
    if expires:
        when = http_date(expires) if expires[3:4] == "," else None  # Go parses RFC 1123 only
        return when - date if when is not None else 0.0
    return 0.0


def freshness(
    response_control: Mapping[str, str],
    request_control: Mapping[str, str],
    date: float | None,
    lifetime: float,
    now: float,
) -> Freshness:
    """httpcache ``getFreshness`` with the response side already parsed (``lifetime`` from the response)."""
    if "no-cache" in request_control:
        return TRANSPARENT
    if "no-cache" in response_control:
        return STALE
    if "only-if-cached" in request_control:
        return FRESH
    if date is None:
        return STALE
    age = now - date
    if "max-age" in request_control:
        lifetime = seconds(request_control["max-age"]) or 0.0
    if "min-fresh" in request_control:
        extra = seconds(request_control["min-fresh"])
        if extra is not None:
            age += extra
    if "max-stale" in request_control:
        allowance = request_control["max-stale"]
        if allowance == "":
            return FRESH
        extra = seconds(allowance)
        if extra is not None:
            age -= extra
    return FRESH if lifetime > age else STALE


def can_store(request_control: Mapping[str, str], response_control: Mapping[str, str]) -> bool:
    """Anything is stored unless either side says ``no-store`` (status and ``private`` do not matter)."""
    return "no-store" not in response_control and "no-store" not in request_control


def can_stale_on_error(
    response_control: Mapping[str, str], request_control: Mapping[str, str], date: float | None, now: float
) -> bool:
    """``stale-if-error`` (response, then request; bare means forever) still covers the stored response."""
    lifetime = -1.0
    for control in (response_control, request_control):
        if "stale-if-error" in control:
            value = control["stale-if-error"]
            if value == "":
                return True
            parsed = seconds(value)
            if parsed is None:
                return False
            lifetime = parsed
    if lifetime >= 0:
        return date is not None and lifetime > now - date
    return False
