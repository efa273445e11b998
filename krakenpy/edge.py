"""The edge vocabulary: krakenpy's own HTTP request and response, as the server hands them over.

Components of the edge layer (CORS, secure headers, access log, server spans) and the router work on
these types, never on the server library's, so the server beneath can change without touching a
component. :class:`HttpRequest` is built once per request by the server
(:mod:`krakenpy.server.connection`, or :mod:`krakenpy.server.adapter` in an aiohttp app), which
writes the :class:`HttpResponse` back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

__all__ = [
    "BodyReader",
    "EdgeHandler",
    "EdgeMiddleware",
    "EdgeVisit",
    "HttpRequest",
    "HttpResponse",
    "SplitEdge",
    "Upgrade",
]

#: ``read(n)``: up to ``n`` more bytes of the request body, ``b""`` at its end
BodyReader: TypeAlias = Callable[[int], Awaitable[bytes]]


async def _no_body(n: int) -> bytes:
    return b""


class HttpRequest:
    """One client request at the edge. ``route`` is set by the router once it matched an endpoint
    (the endpoint's path template, ``/users/{id}``), so edge components see it after ``next``."""

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str = "",
        headers: CIMultiDictProxy[str] | CIMultiDict[str] | None = None,
        *,
        remote: str = "",
        host: str = "",
        scheme: str = "http",
        has_body: bool = False,
        content_length: int | None = None,
        read: BodyReader = _no_body,
        raw_path: str = "",
    ) -> None:
        self.method = method
        #: the decoded path (``%2F`` already a slash), as routers match it
        self.path = path
        #: the raw query, without ``?``
        self.query_string = query_string
        #: the request target as received (``/a%20b?x=1``)
        self.raw_path = raw_path or (path + ("?" + query_string if query_string else ""))
        self.headers: CIMultiDictProxy[str] | CIMultiDict[str] = (
            headers if headers is not None else CIMultiDictProxy(CIMultiDict())
        )
        #: the peer address (no port)
        self.remote = remote
        #: the ``Host`` header (or the server's name when absent)
        self.host = host
        #: ``https`` when the connection is TLS
        self.scheme = scheme
        self.has_body = has_body
        self.content_length = content_length
        self._read = read
        self._query: MultiDictProxy[str] | None = None
        self.route: str | None = None
        #: the request line's protocol (Common/Combined access logs' ``%r``): the server sets another
        #: one (``HTTP/1.0``, ``HTTP/2.0``) only when the request was not HTTP/1.1
        self.protocol = "HTTP/1.1"
        #: per-request values components hand to each other (request id, trace, claims...)
        self.context: dict[str, Any] = {}

    @property
    def query(self) -> MultiDictProxy[str]:
        """The query parsed once, on first use (``a=1&a=2`` keeps both values, in order). Bytes that
        are not UTF-8 (``%ff``) are kept as surrogate escapes, so they reach backends unchanged."""
        if self._query is None:
            query = self.query_string
            pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape") if query else []
            self._query = MultiDictProxy(MultiDict(pairs))
        return self._query

    async def read(self, n: int) -> bytes:
        """Up to ``n`` more body bytes; ``b""`` once the body is over."""
        return await self._read(n)

    async def body(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` when it is longer than ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # every pass consumes at least one byte or ends
            chunk = await self._read(1 << 18)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            chunks.append(chunk)
        return None


class HttpResponse:
    """What the edge writes back: status, headers (case-insensitive, repeatable) and the whole body."""

    def __init__(
        self,
        status: int = 200,
        headers: CIMultiDict[str] | Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers: CIMultiDict[str] = headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers or ())
        self.body = body

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {len(self.body)} bytes>"


class Upgrade(HttpResponse):
    """A ``101 Switching Protocols`` to a WebSocket: the server writes it, then runs ``run`` with the
    client's socket (an object with aiohttp ``WebSocketResponse``'s ``receive``, ``send_str``,
    ``send_bytes``, ``ping`` and ``close``) and closes the connection when it returns."""

    def __init__(
        self,
        headers: CIMultiDict[str],
        run: Callable[[Any], Awaitable[None]],
        *,
        max_size: int,
        protocol: str | None = None,
    ) -> None:
        super().__init__(101, headers)
        self.run = run
        #: the largest message accepted from the client (bytes; 0: no limit)
        self.max_size = max_size
        #: the subprotocol chosen (``Sec-WebSocket-Protocol``), if any
        self.protocol = protocol


#: the whole dispatch, as seen from outside: request in, response out
EdgeHandler: TypeAlias = Callable[[HttpRequest], Awaitable[HttpResponse]]
EdgeMiddleware: TypeAlias = Callable[[EdgeHandler], EdgeHandler]


class EdgeVisit:
    """What a :class:`SplitEdge` keeps of one request between its steps (subclasses add their own).
    ``line`` and ``value``: a response header line the server writes after the response's headers
    (``line + value + "\\r\\n"``: ``line`` the name and ``": "``, a text the layer keeps, so no line is
    built per request), set by :meth:`SplitEdge.leave` instead of a store in the header map; none
    while ``line`` is empty. ``request_id``: the request's id ("" when request ids are off), declared
    here so that the core's readers (the HTTP executor that forwards it) read a typed field, not an
    attribute looked up by name on an object of a type they may not import."""

    line: str = ""
    value: str = ""
    request_id: str = ""


class SplitEdge:
    """An edge layer whose work runs as a step before and a step after the handler it wraps.

    The server calls the steps from its own request coroutine around ``await edge.inner(request)``
    (:mod:`krakenpy.server.connection`): no coroutine of the layer's own made, resumed and cleared per
    request (the ``acclog2`` split: ~5-7 k machine instructions a request, compiled). Called as a
    handler (an aiohttp app, an HTTP/2 stream, another layer around it) it runs the same steps in
    :meth:`__call__`. This base class is the identity layer; subclasses override the steps. The class
    is compiled (mypyc) where the hot path is: a subclass must be compiled with it (an interpreted
    class cannot inherit from a compiled one), so it stays internal to krakenpy.

    - :meth:`enter` before the handler (the context variables it sets stay set until a last step);
    - :meth:`fail` when the handler raised: an answer (a :class:`~krakenpy.errors.Rejection`'s), then
      :meth:`leave` runs on it; or ``None``: the error goes on up (logged first, a client gone
      included);
    - :meth:`leave` on the answer; with ``lined`` the layer may put a header of its own in
      :attr:`EdgeVisit.line` and ``value`` (the server writes it) rather than in the response's header map.
    """

    def __init__(self, inner: EdgeHandler) -> None:
        self.inner = inner

    def enter(self, request: HttpRequest) -> EdgeVisit:
        return EdgeVisit()

    def fail(self, visit: EdgeVisit, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        return None

    def leave(self, visit: EdgeVisit, request: HttpRequest, response: HttpResponse, lined: bool) -> HttpResponse:
        return response

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        visit = self.enter(request)
        try:
            response = await self.inner(request)
        except BaseException as exc:
            answer = self.fail(visit, request, exc)
            if answer is None:
                raise
            response = answer
        return self.leave(visit, request, response, False)
