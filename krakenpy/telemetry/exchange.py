"""Per-request telemetry state: one :class:`Exchange` per client request, created by the edge
telemetry middleware, reachable three ways:

- ``HttpRequest.context[EXCHANGE]`` / ``Request.context[EXCHANGE]`` (the same dict);
- :data:`CURRENT` (a context variable) for code that has no request at hand: the upstream-client
  layer, the Lambda invoker, log formatters. asyncio copies it into the tasks a request spawns
  (merged backends), so each sees its own request.

It holds the request id, the trace context of the innermost open span, the upstream busy time
(union of the intervals in which at least one upstream call was in flight), the failure text for
the access log, and the verified subject.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from krakenpy.backends.conntiming import EXCHANGE_VAR
from krakenpy.edge import EdgeVisit
from krakenpy.goquote import control_escape
from krakenpy.telemetry.ids import CounterIds

if TYPE_CHECKING:
    from krakenpy.telemetry.redact import Redactor

__all__ = [
    "CURRENT",
    "EXCHANGE",
    "REQUEST_COUNTER",
    "Exchange",
    "current",
    "current_secrets",
    "new_request_id",
    "valid_request_id",
]

#: key of the exchange in ``HttpRequest.context`` / ``Request.context``
EXCHANGE: Final = "krakenpy.exchange"  # conntiming.EXCHANGE_KEY: the same text (a literal, inlined)
#: fullmatch, not ``match`` with ``$``: ``$`` also matches before a final newline
_ID_OK = re.compile(r"[A-Za-z0-9._:/+=@\-]{1,128}")

_perf = time.perf_counter
_bits = random.getrandbits
#: RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b
_VARIANT: Final = "89ab" * 4


_HIGH_MASK: Final = (1 << 36) - 1


def _draw_request_ids() -> tuple[str, int]:
    h = f"{_bits(80):020x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-", _bits(47)


#: a random UUID-v4-shaped prefix per process and a 48-bit counter in the last group
_IDS = CounterIds(_draw_request_ids, lambda prefix, high: f"{prefix}{high & _HIGH_MASK:09x}")


#: An id in UUID v4 text form (what proxies and tracing tools expect). Correlation ids need
#: uniqueness, not secrecy: 74 random bits drawn per process (again after a fork) and a 48-bit
#: counter from a random start make ids unique within a process for 2**47 requests and across
#: processes unless two draws of 74 bits meet; ~3x cheaper than 128 fresh random bits per request.
new_request_id: Callable[[], str] = _IDS.take
#: the counter itself: compiled, ``REQUEST_COUNTER.next()`` is a direct call of the native method (the
#: edge layers' draw), ``new_request_id`` the same method bound
REQUEST_COUNTER: Final[CounterIds] = _IDS


def valid_request_id(value: str) -> bool:
    """An incoming id is honoured only when short and plain: it ends up in logs and headers."""
    return _ID_OK.fullmatch(value) is not None


class Exchange(EdgeVisit):
    """The telemetry view of one request. Created per request, so the defaults live on the class
    and there is no ``__init__``: ``Exchange()`` then the fields a layer sets (~2x cheaper than ten
    slots set in an ``__init__``). It is also what the edge layers keep between their steps (an
    :class:`~krakenpy.edge.EdgeVisit`: their clock, ``CURRENT``'s token, the client's path): one
    object per request, not two."""

    # ``request_id``: the request id ("" when request ids are off), a field of ``EdgeVisit``
    #: seconds during which at least one upstream call was in flight
    upstream: float = 0.0
    _active: int = 0
    _busy_since: float = 0.0
    #: the first failure text (redacted) for the access log's ``error`` field
    error: str | None = None
    #: ``sub`` of the verified identity, once an endpoint guard set ``request.claims``
    subject: str | None = None
    #: the request's trace (:class:`krakenpy.telemetry.trace.context.TraceState`) or None
    trace: Any = None
    #: the span id of the request's SERVER span (the proxy span's parent; eight raw bytes, as all
    #: the span ids here: the writer copies them, the text is made where one is sent), or None
    span: bytes | None = None
    #: a sampled request's span-id head (six bytes; its spans' ids end in ``TAIL2[n]``) and the
    #: number of the next span (0 is the SERVER span's)
    spans: bytes = b""
    made: int = 1
    #: the proxy span's id (the backend spans' parent) and, on an endpoint whose one backend is
    #: called once, the backend span's (the CLIENT span's parent, without a context variable)
    proxy_span: bytes | None = None
    backend_span: bytes | None = None
    #: a sampled request's Unix nanoseconds less ``perf_counter_ns`` at its edge (0: not read): the
    #: layers' span times as this plus their own ``perf_counter`` readings, one wall-clock read per
    #: request instead of one per span (~200 machine instructions each, compiled)
    wall: int = 0
    #: on an endpoint whose one backend is called once, that call's
    #: :class:`~krakenpy.backends.conntiming.CallTiming` while it runs (the client layer hands it to
    #: the upstream client here, not by context variable: see
    #: :func:`~krakenpy.backends.conntiming.current_timing`); ``Any``: that module reads this one
    call_timing: Any = None
    #: the edge's ``perf_counter_ns`` at the request's start
    start: int = 0
    #: the client's path, read before the handler runs: url-rewrite, virtualhost and wildcard change
    #: ``request.path`` in place, and the gin line and the skip lists take the client's
    path: str = ""
    #: the path an edge plugin rewrote it to before routing (url-rewrite, virtualhost; "" when none):
    #: the one an endpoint's sensitive path parameters are found in (:meth:`secrets`)
    routed: str = ""
    #: ``CURRENT``'s token from the edge's set (a ``contextvars.Token``), for its reset
    token: Any = None
    #: traced: the SERVER span's Unix start (ns; its id is ``span``)
    start_ns: int = 0
    #: the client's headers and raw query (the objects the request holds, no copy): read only when a
    #: text about this request is written (a failure, a log line), to mask the credentials they carry
    #: wherever that text quotes them (:meth:`secrets`)
    client_headers: Any = None
    client_query: str = ""
    #: the request's body, once a failure handed it over (:meth:`note_body`): its masked JSON fields'
    #: values are masked in the texts about the request too
    body: bytes = b""
    #: the answers a Lua script printing something could quote (:meth:`note_shown`): their masked
    #: fields' values are masked in the texts about the request too
    shown: tuple[Any, ...] = ()
    #: :meth:`secrets`' answer, once asked
    _secrets: tuple[str, ...] | None = None

    def upstream_started(self) -> float:
        """Mark an upstream call as started; returns its start time (``perf_counter``)."""
        now = _perf()
        if self._active == 0:
            self._busy_since = now
        self._active += 1
        return now

    def upstream_ended(self) -> float:
        """Mark an upstream call as ended; returns the end time."""
        now = _perf()
        self._active -= 1
        if self._active == 0:
            self.upstream += now - self._busy_since
        return now

    def secrets(self, redactor: Redactor) -> tuple[str, ...]:
        """The credential values this request carries (:meth:`Redactor.request_secrets`), worked out
        on the first text written about it."""
        found = self._secrets
        if found is None:
            headers = self.client_headers
            found = (
                redactor.request_secrets(headers.items(), self.client_query, self.path, self.routed, self.body)
                if headers is not None
                else ()
            )
            if self.shown:
                found = tuple(sorted({*found, *redactor.shown_secrets(self.shown)}, key=len, reverse=True))
            self._secrets = found
        return found

    def note_shown(self, shown: tuple[Any, ...]) -> None:
        """The answers (response data, a ``no-op`` body) a Lua script that prints could quote, handed
        over by ``print`` (never on a request whose script does not print): the texts written about
        the request from now on mask their masked fields' values wherever they appear. Worked out
        again at each print that hands over data (a dict or list the script may have changed since
        the last one: printed, then set a field and printed it); the same bodies (bytes, which do not
        change) are not parsed again."""
        before = self.shown
        if len(shown) == len(before) and all(a is b and type(a) is bytes for a, b in zip(shown, before, strict=True)):
            return
        self.shown = shown
        self._secrets = None

    def note_body(self, body: bytes) -> None:
        """The request's body, handed over by a failure (never on the success path): the texts
        written about the request from now on mask its secret fields' values
        (:meth:`Redactor.body_secrets`) wherever they appear, whatever surrounds them."""
        if body and not self.body:
            self.body = body
            self._secrets = None

    def fail(self, text: str) -> None:
        """Keep the first failure text (already redacted) for the access log, its control characters
        but the tab, CR and LF (which every access-log format writes escaped) written as Go quotes
        them (``\\x1b``): a client's value a failure quotes (a Lua error with a decoded ``%1B``) sends
        no escape sequence through gin's ``Error #01:`` line to the terminal showing the log."""
        if self.error is None:
            self.error = text if text.isprintable() else _CONTROL.sub(control_escape, text)


#: the control characters :meth:`Exchange.fail` escapes (not the tab, CR nor LF), and U+2028, U+2029
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


#: the exchange of the request this task works for (the variable is the core's
#: :data:`~krakenpy.backends.conntiming.EXCHANGE_VAR`: the upstream clients read a solo call's
#: timing from the exchange without importing this engine module)
CURRENT: Final[ContextVar[Exchange | None]] = EXCHANGE_VAR


def current() -> Exchange | None:
    """The exchange of the running request, if any."""
    return CURRENT.get()


def note_routed(context: dict[str, Any], path: str) -> None:
    """``path``, what an edge plugin rewrote the request's path to before routing, kept on the
    request's exchange (when telemetry made one): the texts about the request mask the sensitive
    path parameters that path holds (``/old-{value}`` routed as ``/reset/{token}``)."""
    exchange = context.get(EXCHANGE)
    if exchange is not None:
        exchange.routed = path
        exchange._secrets = None  # worked out again (a span's headers may have asked before routing)


def current_secrets(redactor: Redactor) -> tuple[str, ...]:
    """The credentials of the request being served (none outside one): what a log line written for
    it masks as literals (:meth:`Exchange.secrets`)."""
    exchange = CURRENT.get()
    return exchange.secrets(redactor) if exchange is not None else ()
