"""The HTTP backend executor (lura ``proxy/http.go`` + ``transport/http/client``).

Success is 200 or 201 only (anything with ``no-op``). ``backend/http`` options:
``return_error_code`` (the error carries the backend status and body) and
``return_error_details: "name"`` (not an error: ``{"error_name": {...}}``, incomplete).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Final

from krakenpy.backends.client import UpstreamCall, UpstreamResponse
from krakenpy.backends.conntiming import EXCHANGE_KEY
from krakenpy.backends.encoding import decoder_for
from krakenpy.backends.fastwire import KNOWN
from krakenpy.backends.redirects import Resendable
from krakenpy.config.model import BackendConfig
from krakenpy.edge import EdgeVisit
from krakenpy.errors import BackendError
from krakenpy.names import canonical_header
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Headers, Proxy, Request, Response, keeps_maps, task_free

__all__ = ["NAMESPACE", "SplitCall", "http_backend"]

NAMESPACE = "backend/http"

#: the head writer's known values (:class:`~krakenpy.backends.fastwire.Known`; ``Final``: a C static)
_KNOWN: Final = KNOWN


class SplitCall(ABC):
    """A client layer the executor runs as steps of its own coroutine (as the server runs the edge
    layer's, :class:`~krakenpy.edge.SplitEdge`): where the layer is the outermost of a backend's client
    layers, the executor calls :meth:`prepare` with the call's arguments, awaits :attr:`call` (the
    layers inside it) itself and hands the answer's status and size, or the failure, to :meth:`finish`; the layer's own
    coroutine around the call is gone (its creation, the sends through it, its return: ~1.5 k machine
    instructions a traced call, of which the visit :meth:`prepare` makes takes back ~0.9 k; round 19,
    ``trace14``). Called as a function (inside another client layer), it is the plain
    :data:`UpstreamCall` its ``__call__`` is, which does the same."""

    def __init__(self, call: UpstreamCall) -> None:
        #: the client layers inside this one (the upstream client's ``request`` at the end)
        self.call = call
        #: :attr:`call` as a call that takes the call's timing as its fifth argument (what
        #: :meth:`prepare` returned: a :class:`~krakenpy.backends.conntiming.CallTiming`), when
        #: :attr:`call` is a fast client's own ``request`` and the layer times the call
        #: (:func:`~krakenpy.backends.fastclient.timed_form`); ``None``: :attr:`call` as it is
        self.timed: Callable[..., Awaitable[UpstreamResponse]] | None = None

    @abstractmethod
    def __call__(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Awaitable[UpstreamResponse]:
        """The layer as a plain :data:`UpstreamCall`."""
        ...

    @abstractmethod
    def prepare(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
        """The layer's work before the call (``headers`` may grow); ``None``: nothing to do after it."""
        ...

    @abstractmethod
    def finish(self, visit: Any, status: int, size: int, failure: BaseException | None) -> None:
        """The layer's work after the call (``visit``: what :meth:`prepare` returned): answered with
        ``status`` and a body of ``size`` bytes, or failed (``failure``; status and size 0). The
        executor reads the answer's two fields once for itself and the layer (``UpstreamResponse`` is
        an interpreted class: compiled, each field read is a lookup by name, ~0.18 k machine
        instructions; round 23, ``trace23``)."""
        ...


def _headers_out(headers: Headers, compression: bool) -> list[tuple[str, str]]:
    out = [(k, v) for k, values in headers.items() for v in values]
    if compression and "Accept-Encoding" not in headers:
        out.append(("Accept-Encoding", "gzip"))
    return out


def _headers_with_id(headers: Headers, compression: bool, name: str, request_id: str) -> list[tuple[str, str]]:
    """:func:`_headers_out` of the map with the forwarded request id stored under ``name``, without
    copying the map: the pairs are those of the copy the telemetry backend layer made before (the id
    last of the map's, or in place of a header of that name; ``Accept-Encoding`` added only when
    neither the map nor the id is one)."""
    if name in headers or name == "Accept-Encoding":  # rare: the copy, as the layer made it
        own = headers.copy()
        own[name] = [request_id]
        return _headers_out(own, compression)
    out = [(k, v) for k, values in headers.items() for v in values]
    out.append((name, request_id))
    if compression and "Accept-Encoding" not in headers:
        out.append(("Accept-Encoding", "gzip"))
    return out


def _with_id(request: Request, compression: bool, name: str) -> list[tuple[str, str]]:
    """The upstream call's header pairs when this executor forwards the request id: the request's,
    with its exchange's id when it has one (a plain function: the coroutine keeps no locals for it).
    The id is marked known to the head writer (``Known.rid``): the edge layers, its only writers, made
    it from hex digits and dashes or took a client's that ``valid_request_id`` let through, so it holds
    no byte Go's client refuses and needs no scan there."""
    exchange = request.context.get(EXCHANGE_KEY)
    if isinstance(exchange, EdgeVisit):  # compiled: a typed field read (by name: ~0.15 k instructions)
        rid = exchange.request_id
        if rid:
            _KNOWN.rid = rid
            return _headers_with_id(request.headers, compression, name, rid)
    return _headers_out(request.headers, compression)


def _response_headers(pairs: tuple[tuple[str, str], ...]) -> Headers:
    # Go canonicalises the names it parses: `Set-Cookie` and `set-cookie` from one backend are one
    # header with both values (kept apart, the later one replaced the earlier on the way out)
    headers: Headers = {}
    for name, value in pairs:
        headers.setdefault(canonical_header(name), []).append(value)
    return headers


def http_backend(
    backend: BackendConfig,
    call_upstream: UpstreamCall,
    formatter: Formatter | None,
    *,
    disable_compression: bool = False,
    client_task_free: bool = False,
    forward_id: str | None = None,
) -> Proxy:
    """Build the executor for one HTTP backend; everything but the call itself is decided here.
    ``call_upstream`` is the client seam: the upstream client's ``request``, or the client-layer
    components (HTTP cache, OAuth2 client credentials) around it; ``client_task_free``: it needs no
    task of its own (:func:`~krakenpy.proxy.types.task_free`); ``forward_id``: the header the request
    id (of the request's telemetry exchange) is sent in, added here when no layer between the
    telemetry backend layer and this executor reads the request's headers
    (:func:`krakenpy.telemetry.layers.backend.executor_forward`), else ``None`` (that layer adds it)."""
    details_name = backend.http.return_error_details
    return_code = backend.http.return_error_code
    noop = backend.encoding == "no-op"
    decode = decoder_for(backend.encoding, backend.is_collection)
    compression = not disable_compression
    pattern = backend.url_pattern
    # lura gives the body a GetBody (so Go re-sends it on a 307/308) only with this option
    resend = backend.http_client.send_body_on_redirect

    # the outermost client layer run as steps of this coroutine (see SplitCall)
    split = call_upstream if isinstance(call_upstream, SplitCall) else None
    inner = split.call if split is not None else call_upstream
    # the fast client's request handed the visit (the call's timing) itself: its body read timed
    # without the context-variable reads of ``current_timing`` (round 20, ``trace15``)
    timed = split.timed if split is not None else None

    async def call(request: Request) -> Response:
        body = request.body or None
        if resend and body:
            body = Resendable(body)
        if split is None:
            # (no local for the pairs: compiled, each local of a coroutine is a field of its environment)
            upstream = await call_upstream(
                request.method,
                request.url,
                _headers_out(request.headers, compression)
                if forward_id is None
                else _with_id(request, compression, forward_id),
                body,
            )
            status = upstream.status
            raw = upstream.body
        else:
            pairs = (
                _headers_out(request.headers, compression)
                if forward_id is None
                else _with_id(request, compression, forward_id)
            )
            visit = split.prepare(request.method, request.url, pairs, body)
            if visit is None:
                upstream = await inner(request.method, request.url, pairs, body)
            else:
                try:
                    if timed is None:
                        upstream = await inner(request.method, request.url, pairs, body)
                    else:
                        upstream = await timed(request.method, request.url, pairs, body, visit)
                except BaseException as exc:
                    split.finish(visit, 0, 0, exc)
                    raise
            # the answer's two fields read once, here, for the layer's ``finish`` and for the answer
            status = upstream.status
            raw = upstream.body
            if visit is not None:
                split.finish(visit, status, len(raw), None)
        if noop:
            return Response(
                data={},
                is_complete=True,
                status=status,
                headers=_response_headers(upstream.headers),
                body=raw,
            )
        if status != 200 and status != 201:
            if details_name:
                detail = {
                    "http_status_code": status,
                    "http_body": raw.decode("utf-8", "replace"),
                    "http_body_encoding": upstream.content_type,
                }
                return Response(data={f"error_{details_name}": detail}, is_complete=False, status=status)
            message = f"invalid status code {status} [{request.method} {pattern}]: {request.url}"
            if return_code:
                raise BackendError(
                    raw.decode("utf-8", "replace"),
                    status=status,
                    backend_status=status,
                    backend_body=raw,
                    content_type=upstream.content_type or None,
                )
            raise BackendError(message, backend_status=status, backend_body=raw)
        data = decode(raw)
        if formatter is not None:
            data = formatter(data)
        # like lura, decoded responses carry no backend headers (only no-op passes them on)
        return Response(data=data, is_complete=True, status=status)

    if client_task_free:
        task_free(call)
    return keeps_maps(call)  # it reads the request
