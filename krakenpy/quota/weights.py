"""The weight of a request under a ``governance/quota`` attachment with ``weight_key``: a number in
the backends' answer, in the body (``body``) or a header (``header``).

A decoded (non ``no-op``) response carries no backend headers (as in KrakenD), so for ``header`` the
quota step asks for the named header before it is dropped: a client-layer middleware
(:func:`header_recorder`) puts the header of each upstream answer into a list the quota step hands
down the request's context (:data:`HEADER_WEIGHTS`; the backends' tasks copy the context, so they
share the list). A ``no-op`` answer keeps its body raw: ``body`` parses it as JSON (bounded).

A weight is a non-negative integer (a fraction is rounded up), capped at the largest amount of the
attachment's limits (more cannot exhaust anything more) and at 2^53: a backend answering 1e20
cannot overflow Redis's 64-bit counters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import orjson

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.proxy.types import Response

__all__ = ["HEADER_WEIGHTS", "MAX_RAW_BODY", "MAX_WEIGHT", "header_recorder", "weight_reader"]

#: the header values the backends of the current quota step answered with (``None``: no step asks)
HEADER_WEIGHTS: ContextVar[list[str] | None] = ContextVar("krakenpy.quota.header_weights", default=None)
#: a weight never exceeds 2^53: exact as a double (the Lua script's numbers), far below INCRBY's 2^63
MAX_WEIGHT: Final = 2**53
#: the largest raw (``no-op``) body parsed for a weight; a larger one weighs nothing
MAX_RAW_BODY: Final = 1024 * 1024


def _number(value: Any, cap: int) -> int | None:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value >= cap:  # before ceil: a huge float makes a huge int for nothing
        return cap
    return max(math.ceil(value), 0)


def _raw_json(body: bytes | None) -> Any:
    if not body or len(body) > MAX_RAW_BODY:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def weight_reader(key: str, strategy: str, cap: int) -> Callable[[Response, list[str]], int | None]:
    """``read(response, recorded)``: the weight at ``key`` (``None``: absent or not a number);
    ``recorded``: the header values :func:`header_recorder` saw (``header`` only)."""
    cap = min(max(cap, 0), MAX_WEIGHT)
    if strategy == "header":
        lower = key.lower()

        def header(response: Response, recorded: list[str]) -> int | None:
            if recorded:  # one per backend that sent it: each counts
                weights = [w for w in (_number(v, cap) for v in recorded) if w is not None]
                return min(sum(weights), cap) if weights else None
            for name, values in response.headers.items():  # a no-op answer of another executor
                if name.lower() == lower and values:
                    return _number(values[0], cap)
            return None

        return header

    parts = tuple(key.split("."))

    def body(response: Response, recorded: list[str]) -> int | None:
        value: Any = response.data
        if not value and response.body is not None:  # a no-op answer: its body is not decoded
            value = _raw_json(response.body)
        if not isinstance(value, Mapping):
            return None
        if key in value:  # a literal dotted name wins over the nested path
            return _number(value[key], cap)
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return _number(value, cap)

    return body


def header_recorder(name: str) -> ClientMiddleware:
    """The client-layer middleware that records header ``name`` of each upstream answer for the quota step."""
    lower = name.lower()

    def wrap(call: UpstreamCall) -> UpstreamCall:
        async def recorded(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> UpstreamResponse:
            upstream = await call(method, url, headers, body)
            seen = HEADER_WEIGHTS.get()
            if seen is not None:
                for header, value in upstream.headers:
                    if header.lower() == lower:
                        seen.append(value)
                        break
            return upstream

        return recorded

    return wrap
