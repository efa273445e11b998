"""The edge telemetry layer of the default configuration (request id and a batched gin access log;
no metrics, traces or audit): the general handler's work with its decisions taken at build time, so
a request runs no branch for a feature that is off (~2k machine instructions fewer per request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final, NamedTuple, cast

from multidict import CIMultiDict, istr

from krakenpy.edge import EdgeHandler, EdgeVisit, HttpRequest, HttpResponse, SplitEdge
from krakenpy.errors import Rejection
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.clientip import DirectIp
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, REQUEST_COUNTER, Exchange, valid_request_id
from krakenpy.telemetry.ginline import GinRender
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.pathmask import PathMasks
from krakenpy.telemetry.writer import LineWriter

__all__ = ["EdgeParts", "LeanEdge", "abandoned", "edge_parts", "gone_line", "lean_handler"]

#: ``Final``: compiled, a C static (a module global is a dict lookup per read, two per request)
_perf_ns: Final = time.perf_counter_ns
#: the same clock typed ``object``: compiled, its reading stays the int object ``perf_counter_ns``
#: made, where an ``int`` reading is unboxed (that object freed) and boxed again (an int object made)
#: when the gin tuple takes it (~0.1 k instructions a request)
_perf_obj: Final[Callable[[], object]] = time.perf_counter_ns
#: ``CURRENT``'s set and reset bound once: compiled, ``CURRENT.set(x)`` on a ``Final`` is a method
#: call by name (a ``_PyObject_GetMethod`` lookup per call; see ``_set_timing`` in
#: :mod:`krakenpy.telemetry.layers.client`)
_set_current: Final = CURRENT.set
_reset_current: Final = CURRENT.reset
#: response headers encode_response writes or keeps one of (framing, hop-by-hop, Date, Server,
#: Content-Type): an id header of one of these names goes through the header map
_SERVER_HEADERS: Final = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "date",
     "server", "content-type"}
)  # fmt: skip


class EdgeParts(NamedTuple):
    """What the lean edge handlers read, decided once at build time."""

    rid_key: istr | None
    trust_id: bool
    return_id: bool
    render: GinRender | None
    writer: LineWriter | None
    skip: frozenset[str]
    query: Callable[[str], str]
    client_ip: Callable[[HttpRequest], str]
    #: a ``User-Agent`` as a span shows it (:meth:`Redactor.agent`)
    agent: Callable[[str], str]
    #: the endpoints' sensitive path segments (``Redactor.paths``), or None (no such endpoint)
    masks: PathMasks | None = None


def edge_parts(hub: Telemetry) -> EdgeParts | None:
    """The request-id and gin access-log settings of ``hub``; ``None`` when its access log is more than
    one gin writer (GELF, a JSON format, several destinations: the general handler)."""
    access = hub.access
    if access is not None and (access.gin is None or access.gelf is not None or len(access.writers) != 1):
        return None
    rid_header = hub.request_id_header
    # an istr key: multidict skips folding the name's case on every lookup and store
    rid_key = istr(rid_header) if rid_header is not None else None
    return EdgeParts(
        rid_key,
        hub.trust_request_id,
        hub.return_request_id and rid_key is not None,
        access.gin if access is not None else None,
        access.writers[0] if access is not None else None,
        access.skip_paths if access is not None else frozenset(),
        hub.redactor.query,
        hub.client_ip,
        hub.redactor.agent,
        hub.redactor.paths,
    )


def abandoned(exchange: Exchange, exc: BaseException) -> HttpResponse:
    """What a request that raised is recorded as: lura's 500 for a canceled context (its error
    ``context canceled``, as gin logs it), or the 500 the server answers an unexpected error with."""
    if isinstance(exc, asyncio.CancelledError):
        exchange.fail("context canceled")
    return HttpResponse(500, CIMultiDict())


def gone_line(parts: EdgeParts, request: HttpRequest, exchange: Exchange, start: int, path: str) -> None:
    """The gin line of a request that raised (see :func:`abandoned`): gin's logger writes one for
    every request, a client that went away included."""
    _, _, _, render, writer, skip, query, client_ip, _, masks = parts
    if writer is None or path in skip:
        return
    end = _perf_ns()
    qs = request.query_string
    if masks is not None:
        path = masks.mask(request.route, request.path, path)
    writer.entry(render, (end, 500, end - start, client_ip(request), request.method,  # type: ignore[arg-type]
                          f"{path}?{query(qs)}" if qs else path, exchange.error))  # fmt: skip


class LeanEdge(SplitEdge):
    """The default configuration's edge layer, as steps of the server's request coroutine (see
    :class:`~krakenpy.edge.SplitEdge`): request id, ``CURRENT`` and the gin line. The metered and
    traced layers extend it (:mod:`~krakenpy.telemetry.layers.edge_metered`, ``edge_traced``)."""

    def __init__(self, parts: EdgeParts, next_handler: EdgeHandler) -> None:
        super().__init__(next_handler)
        self.parts = parts
        self.rid_key = parts.rid_key
        self.trust_id = parts.trust_id
        self.return_id = parts.return_id
        self.render = parts.render
        self.writer = parts.writer
        self.skip = parts.skip
        self.query = parts.query
        self.client_ip = parts.client_ip
        self.masks = parts.masks
        # the usual resolver's two header names (every peer trusted): the log step's check inline
        direct = parts.client_ip if isinstance(parts.client_ip, DirectIp) else None
        self.ip_first: istr | None = direct.first if direct is not None else None
        self.ip_second: istr | None = direct.second if direct is not None else None
        # the id's response header as the server writes it (``Name: ``; the id ends the line); none
        # for a name the wire would refuse (the map's store then, and encode_response's checks)
        # nor for a header the server writes itself (framing, Date, Content-Type: the map's store lets
        # encode_response keep one line of it, where a written line would make a second)
        name = str(parts.rid_key) if parts.rid_key is not None else ""
        plain = name and "\r" not in name and "\n" not in name and ":" not in name
        self.rid_line = f"{name}: " if plain and name.lower() not in _SERVER_HEADERS else ""

    def visit(self, request: HttpRequest) -> Exchange:
        """The request's telemetry view (its id: the client's when trusted and valid, else a new
        one), in its context and ``CURRENT``: the first step of every layer built on this one, and
        what the layer keeps until its last (the start, the client's path, ``CURRENT``'s token)."""
        start = _perf_ns()
        exchange = Exchange()
        exchange.start = start
        rid_key = self.rid_key
        if rid_key is not None:
            # compiled: ``in`` is a C slot call, ``.get`` a method looked up by name (~0.2 k instructions
            # a request without the header, the usual one)
            headers = request.headers
            incoming = headers.get(rid_key) if self.trust_id and rid_key in headers else None
            if incoming and valid_request_id(incoming):
                exchange.request_id = incoming
            else:
                # the counter's native method: compiled, a direct call (~0.2 k instructions, where a
                # C iterator's next item cost ~0.5 k: see ``CounterIds``)
                exchange.request_id = REQUEST_COUNTER.next()
        request.context[EXCHANGE] = exchange
        exchange.path = request.path
        exchange.client_headers = request.headers
        exchange.client_query = request.query_string
        exchange.token = _set_current(exchange)
        return exchange

    def enter(self, request: HttpRequest) -> EdgeVisit:
        return self.visit(request)

    def refuse(self, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        """A :class:`~krakenpy.errors.Rejection`'s answer (an edge guard that raises rather than
        answering), kept for the audit; ``None`` for any other error."""
        if isinstance(exc, Rejection):
            request.context[EDGE_DENY] = exc
            return HttpResponse(exc.status, CIMultiDict(exc.headers), exc.payload)
        return None

    def fail(self, visit: EdgeVisit, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        answer = self.refuse(request, exc)
        if answer is not None:
            return answer
        # a client that went away (or a bug): logged, then raised on (no cost on the answered path)
        v = cast(Exchange, visit)
        _reset_current(v.token)
        abandoned(v, exc)
        gone_line(self.parts, request, v, v.start, v.path)
        return None

    def give_id(self, visit: Exchange, response: HttpResponse, lined: bool) -> None:
        """The request id on the answer: as a line the server writes after the response's headers when
        it asked (``lined``) and the handler set no id of its own (the store replaces that one, as
        before): no multidict store, and one line fewer in encode_response's scans (acclog2: ~1.8 k);
        the line's name part and the id as they are (the server's head build joins them, acclog7)."""
        rid_key = self.rid_key
        headers = response.headers
        if lined and self.rid_line and rid_key not in headers:
            visit.line = self.rid_line
            visit.value = visit.request_id
        else:
            headers[rid_key] = visit.request_id  # type: ignore[index]

    def log(self, request: HttpRequest, visit: Exchange, status: int, end: object) -> None:
        """The request's gin tuple (rendered in the writer's batch) unless its path is skipped; the
        target as ``Redactor.target`` writes it. ``end``: a ``perf_counter_ns`` reading (an ``int``;
        typed ``object`` so the tuple takes the very object, see :data:`_perf_obj`)."""
        writer = self.writer
        path = visit.path
        if writer is not None and path not in self.skip:
            qs = request.query_string
            # DirectIp's answer for a request with neither header made here: no call (~0.1 k)
            first = self.ip_first
            headers = request.headers
            if first is not None and first not in headers and self.ip_second not in headers:
                ip = request.remote
            else:
                ip = self.client_ip(request)
            masks = self.masks
            if masks is not None:  # an endpoint with a sensitive path parameter (none: no call)
                path = masks.mask(request.route, request.path, path)
            entry = (end, status, cast(int, end) - visit.start, ip, request.method,
                     f"{path}?{self.query(qs)}" if qs else path, visit.error)  # fmt: skip
            writer.entry(self.render, entry)  # type: ignore[arg-type]

    def leave(self, visit: EdgeVisit, request: HttpRequest, response: HttpResponse, lined: bool) -> HttpResponse:
        v = cast(Exchange, visit)
        # ``CURRENT`` set back for a caller that goes on in this context; the server's own call
        # (``lined``) runs each request in a task of its own, whose context (a copy of the
        # connection's first) ends with it; what the task does for the connection after the answer
        # (parsing pipelined or held bytes) runs in a copy of the connection's context
        # (Connection._parse_on, _release), so only its log lines about this request's answer read
        # ``CURRENT``: no reset (a HAMT store, ~0.5 k instructions),
        # but for a WebSocket upgrade, whose session goes on in the task. The token let go either
        # way: it holds the context, which holds the exchange (a cycle only the GC would free)
        if not lined or response.status == 101:
            _reset_current(v.token)
        v.token = None
        end = _perf_obj()
        if self.return_id:
            self.give_id(v, response, lined)
        self.log(request, v, response.status, end)
        return response


def lean_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The default configuration's edge layer (a :class:`LeanEdge`); ``None`` when more than it is on."""
    if hub.server_metrics is not None or hub.stats is not None or hub.tracer is not None or hub.audit is not None:
        return None
    parts = edge_parts(hub)
    if parts is None:
        return None
    return LeanEdge(parts, next_handler)
