"""The edge telemetry layer of the default configuration (request id and a batched gin access log;
no metrics, traces or audit): the general handler's work with its decisions taken at build time, so
a request runs no branch for a feature that is off (~2k machine instructions fewer per request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final, NamedTuple

from multidict import CIMultiDict, istr

from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, REQUEST_IDS, Exchange, valid_request_id
from krakenpy.telemetry.ginline import GinRender
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.writer import LineWriter

__all__ = ["EdgeParts", "abandoned", "edge_parts", "gone_line", "lean_handler"]

#: ``Final``: compiled, a C static (a module global is a dict lookup per read, two per request)
_perf_ns: Final = time.perf_counter_ns
#: ``CURRENT``'s set and reset bound once: compiled, ``CURRENT.set(x)`` on a ``Final`` is a method
#: call by name (a ``_PyObject_GetMethod`` lookup per call; see ``_set_timing`` in
#: :mod:`krakenpy.telemetry.layers.client`)
_set_current: Final = CURRENT.set
_reset_current: Final = CURRENT.reset


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
    )


def abandoned(exchange: Exchange, exc: BaseException) -> HttpResponse:
    """What a request that raised is recorded as: lura's 500 for a canceled context (its error
    ``context canceled``, as gin logs it), or the 500 the server answers an unexpected error with."""
    if isinstance(exc, asyncio.CancelledError):
        exchange.fail("context canceled")
    return HttpResponse(500, CIMultiDict())


def gone_line(parts: EdgeParts, request: HttpRequest, exchange: Exchange, start: int) -> None:
    """The gin line of a request that raised (see :func:`abandoned`): gin's logger writes one for
    every request, a client that went away included."""
    _, _, _, render, writer, skip, query, client_ip = parts
    path = request.path
    if writer is None or path in skip:
        return
    end = _perf_ns()
    qs = request.query_string
    writer.entry(render, (end, 500, end - start, client_ip(request), request.method,  # type: ignore[arg-type]
                          f"{path}?{query(qs)}" if qs else path, exchange.error))  # fmt: skip


def lean_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The default configuration's edge handler; ``None`` when more than it is on."""
    if hub.server_metrics is not None or hub.stats is not None or hub.tracer is not None or hub.audit is not None:
        return None
    parts = edge_parts(hub)
    if parts is None:
        return None
    rid_key, trust_id, return_id, render, writer, skip, query, client_ip = parts

    async def handle(request: HttpRequest) -> HttpResponse:
        start = _perf_ns()
        exchange = Exchange()
        rid = ""
        if rid_key is not None:
            incoming = request.headers.get(rid_key) if trust_id else None
            rid = exchange.request_id = incoming if incoming and valid_request_id(incoming) else next(REQUEST_IDS)
        request.context[EXCHANGE] = exchange
        token = _set_current(exchange)
        path = request.path
        try:
            response = await next_handler(request)
        except Rejection as rejection:  # an edge guard that raises rather than answering: its answer
            request.context[EDGE_DENY] = rejection
            response = HttpResponse(rejection.status, CIMultiDict(rejection.headers), rejection.payload)
        except BaseException as exc:  # a client that went away: logged (no cost on the answered path)
            abandoned(exchange, exc)
            gone_line(parts, request, exchange, start)
            raise
        finally:
            _reset_current(token)
        end = _perf_ns()
        if return_id:
            response.headers[rid_key] = rid  # type: ignore[index]
        if writer is not None and path not in skip:
            qs = request.query_string
            # the gin tuple (rendered in the writer's batch); the target as Redactor.target writes it
            entry = (end, response.status, end - start, client_ip(request), request.method,
                     f"{path}?{query(qs)}" if qs else path, exchange.error)  # fmt: skip
            writer.entry(render, entry)  # type: ignore[arg-type]
        return response

    return handle
