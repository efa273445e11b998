"""Connection and body-read timings of one upstream call, for the telemetry that asks for them
(``telemetry/opentelemetry`` ``detailed_connection`` and ``read_payload``).

The client telemetry layer hands a fresh :class:`CallTiming` to the call; an upstream client whose
timing mode was switched on at build time (``enable_timing``) finds it with :func:`current_timing`
and fills it. On an endpoint whose one backend is called once (the common case) the timing rides on
the request's :class:`~krakenpy.telemetry.exchange.Exchange` (``call_timing``), which the client
finds through the exchange's context variable, set once per request by the edge; otherwise (several
calls of one request may overlap, or there is no exchange) it is put in :data:`TIMING` around the
call. A gateway without these options never switches timing on: its clients read neither.
Times are ``time.perf_counter()`` readings; 0 means "did not happen" (a kept-alive connection has no
dial, DNS nor TLS time).

Compiled with the hot path (``krakenpy/compiled.py``): a call of the metrics row makes one
:class:`CallTiming` (KrakenD's default turns ``detailed_connection`` and ``read_payload`` on), ~1.9 k
instructions as a Python class (2026-12-02, round 9); compiled it is a native class with unboxed
fields (mypyc ignores ``__slots__``, which the pure build keeps), and the compiled client layer and
fast client reach :data:`TIMING` as a C static (``Final``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Final, ParamSpec, TypeVar

__all__ = ["EXCHANGE_KEY", "EXCHANGE_VAR", "TIMING", "CallTiming", "current_timing", "now", "untimed"]

P = ParamSpec("P")
T = TypeVar("T")

now: Final = time.perf_counter


class CallTiming:
    """What the upstream client saw of one call (the last exchange of a redirect chain)."""

    __slots__ = ("dns", "first_byte", "get_conn", "head", "read_end", "read_size", "tls", "tls_from")

    def __init__(self) -> None:
        #: seconds: waiting for a pool slot and dialling (0 for a kept-alive connection), DNS, TLS
        self.get_conn = 0.0
        self.dns = 0.0
        self.tls = 0.0
        #: when the TCP connection was up and the TLS handshake began (aiohttp client)
        self.tls_from = 0.0
        #: when the answer's first byte, its complete head and its complete body arrived
        self.first_byte = 0.0
        self.head = 0.0
        self.read_end = 0.0
        #: body bytes received (set by a client when it knows them, e.g. on a body cut short)
        self.read_size = -1


#: the timing of the running upstream call when it is not on the exchange (set by the client
#: telemetry layer; by :func:`untimed` to one nobody reads)
TIMING: Final[ContextVar[CallTiming | None]] = ContextVar("krakenpy_call_timing", default=None)
#: the running request's telemetry exchange (:data:`krakenpy.telemetry.exchange.CURRENT` is this
#: variable): defined in this core module so the upstream clients read a solo call's timing from it
#: without importing the telemetry engine; typed ``Any`` here (its ``call_timing`` attribute is read)
EXCHANGE_VAR: Final[ContextVar[Any]] = ContextVar("krakenpy_exchange", default=None)
#: the exchange's key in a request's ``context`` (:data:`krakenpy.telemetry.exchange.EXCHANGE` is
#: this text): the HTTP executor reads the request id it forwards from there (``backends/http.py``)
EXCHANGE_KEY: Final = "krakenpy.exchange"
#: bound once: compiled, ``TIMING.get()`` is a call by name (a method lookup at every call)
_get_timing: Final = TIMING.get
_get_exchange: Final = EXCHANGE_VAR.get


def current_timing() -> CallTiming | None:
    """The running upstream call's timing, or ``None`` when nothing times it.

    :data:`TIMING` first: the client layer sets it only when the timing cannot ride on the exchange,
    and a call nested in a timed one sets it too (:func:`untimed`, a layer of several calls); else
    the exchange's ``call_timing``, which the layer sets only while :data:`TIMING` is unset. Two
    context-variable reads a call instead of a set and a reset (~3.4 k instructions a call together,
    with their HAMT copies and token; these reads ~0.3 k each, 2026-12-02, branch ``timing2``)."""
    timing = _get_timing()
    if timing is not None:
        return timing
    exchange = _get_exchange()
    if exchange is None:
        return None
    found: CallTiming | None = exchange.call_timing
    return found


def untimed(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """``call`` run outside the current call's timing: a request a client layer makes of its own
    (an OAuth2 token fetch) must not fill the timing of the backend call it serves: it fills a
    throwaway one, which :func:`current_timing` finds before the exchange's."""

    async def outside(*args: P.args, **kwargs: P.kwargs) -> T:
        token = TIMING.set(CallTiming())
        try:
            return await call(*args, **kwargs)
        finally:
            TIMING.reset(token)

    return outside
