"""Access-log line formats: gin's (KrakenD's default, byte for byte: :mod:`krakenpy.telemetry.ginline`),
JSON, Common and Combined. Query values are redacted in every format. Time texts are cached per
second. A client's bytes that are not UTF-8 (surrogate escapes in header text) are written as
received, and as U+FFFD in JSON.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from krakenpy.gojson import text_json
from krakenpy.telemetry.ginline import gin_renderer, one_line
from krakenpy.telemetry.gotime import utc_offset

__all__ = ["FORMATS", "AccessEntry", "AccessFormat", "formatter"]

AccessFormat = Literal["gin", "json", "common", "combined"]
FORMATS: Final[tuple[str, ...]] = ("gin", "json", "common", "combined")


@dataclass(slots=True)
class AccessEntry:
    """What one finished request contributes to the access log."""

    end: float
    status: int
    latency: float
    client_ip: str
    method: str
    #: path and redacted query, as logged (``/x?sig=[REDACTED]``)
    target: str
    route: str | None = None
    request_id: str = ""
    trace_id: str = ""
    upstream: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    user_agent: str = ""
    referer: str = ""
    subject: str | None = None
    error: str | None = None
    errors: Sequence[str] = ()
    #: the request line's protocol (Common and Combined write it)
    protocol: str = "HTTP/1.1"


class _SecondCache:
    """``strftime`` once per second."""

    __slots__ = ("_fmt", "_second", "_text", "_utc")

    def __init__(self, fmt: Callable[[time.struct_time], str], utc: bool = False) -> None:
        self._fmt = fmt
        self._second = -1
        self._text = ""
        self._utc = utc

    def __call__(self, t: float) -> str:
        second = int(t)
        if second != self._second:
            self._second = second
            self._text = self._fmt(time.gmtime(second) if self._utc else time.localtime(second))
        return self._text


def _gin() -> Callable[[AccessEntry], bytes]:
    render = gin_renderer()

    def line(e: AccessEntry) -> bytes:
        # the end in Unix nanoseconds (the float's second kept: at today's times a double's steps,
        # 256 ns there, never round a time below a second up to it)
        out = render(((int(e.end * 1e9), e.status, int(e.latency * 1e9), e.client_ip, e.method, e.target, None),))
        if e.errors:
            out += "".join(f"Error #{i:02d}: {one_line(err)}\n" for i, err in enumerate(e.errors, 1)).encode(
                "utf-8", "surrogateescape"
            )
        return out

    return line


def _rfc3339_ms(t: float, cache: _SecondCache) -> str:
    return f"{cache(t)}.{int(t * 1000) % 1000:03d}Z"


def _json() -> Callable[[AccessEntry], bytes]:
    stamp = _SecondCache(lambda tm: time.strftime("%Y-%m-%dT%H:%M:%S", tm), utc=True)
    dumps = text_json

    def line(e: AccessEntry) -> bytes:
        latency_ms = round(e.latency * 1000, 3)
        upstream_ms = round(e.upstream * 1000, 3)
        record: dict[str, Any] = {
            "time": _rfc3339_ms(e.end, stamp),
            "request_id": e.request_id,
            "trace_id": e.trace_id or None,
            "method": e.method,
            "route": e.route,
            "path": e.target,
            "status": e.status,
            "latency_ms": latency_ms,
            "upstream_ms": upstream_ms,
            "gateway_ms": round(max(latency_ms - upstream_ms, 0.0), 3),
            "bytes_in": e.bytes_in,
            "bytes_out": e.bytes_out,
            "client_ip": e.client_ip,
            "user_agent": e.user_agent,
            "subject": e.subject,
            "error": e.error,
        }
        return dumps(record) + b"\n"

    return line


#: what Apache's log escaping (``ap_escape_logitem``) rewrites: the quote, the backslash and control bytes
#: (Apache writes bytes above 0x7f as ``\xhh`` too: text is kept as UTF-8 here, a decision)
_CLF_SPECIAL: Final = re.compile(r'["\\\x00-\x1f\x7f]')
_CLF_NAMED: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _clf_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _CLF_NAMED.get(char) or f"\\x{ord(char):02x}"


def _clf_item(text: str) -> str:
    """A Common/Combined field as Apache writes it: ``\\"``, ``\\\\``, ``\\r``, ``\\n``, ``\\xhh``... so
    that a decoded path (``%0D%0A``) or a JWT subject cannot end the line or forge a field."""
    return _CLF_SPECIAL.sub(_clf_escape, text)


def _clf(combined: bool) -> Callable[[AccessEntry], bytes]:
    def fmt(tm: time.struct_time) -> str:
        return time.strftime("%d/%b/%Y:%H:%M:%S ", tm) + utc_offset(tm.tm_gmtoff or 0, False)

    stamp = _SecondCache(fmt)
    special = _CLF_SPECIAL.search

    def line(e: AccessEntry) -> bytes:
        size = str(e.bytes_out) if e.bytes_out else "-"
        user = e.subject or "-"
        request = f"{e.method} {e.target} {e.protocol}"
        # one search over the fields joined (nothing to escape, the usual case, costs one scan); the
        # fields are escaped one by one only on a hit
        if combined:
            referer = e.referer or "-"
            agent = e.user_agent or "-"
            if special(f"{user}{request}{referer}{agent}") is not None:
                user, request, referer, agent = (
                    _clf_item(user),
                    _clf_item(request),
                    _clf_item(referer),
                    _clf_item(agent),
                )
            text = (
                f'{e.client_ip or "-"} - {user} [{stamp(e.end)}] "{request}" {e.status} {size} "{referer}" "{agent}"\n'
            )
        else:
            if special(user + request) is not None:
                user, request = _clf_item(user), _clf_item(request)
            text = f'{e.client_ip or "-"} - {user} [{stamp(e.end)}] "{request}" {e.status} {size}\n'
        return text.encode("utf-8", "surrogateescape")

    return line


def formatter(kind: AccessFormat) -> Callable[[AccessEntry], bytes]:
    """The line builder for one format (compiled once)."""
    if kind == "gin":
        return _gin()
    if kind == "json":
        return _json()
    return _clf(kind == "combined")
