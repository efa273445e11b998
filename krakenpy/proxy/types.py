"""The pipeline vocabulary: one request type, one response type, one function type.

A :data:`Proxy` takes a :class:`Request` and returns a :class:`Response` (lura ``proxy.Proxy``).
Error rule: *raise* (a :class:`~krakenpy.errors.PipelineError`) when there is nothing to return;
*return* ``Response(is_complete=False, errors=...)`` for partial results.
Cancellation and deadlines come from asyncio task cancellation (``krakenpy.proxy.deadline``, or
``asyncio.timeout`` off the hot path), not from a context argument.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar
from weakref import WeakSet

if TYPE_CHECKING:
    from krakenpy.proxy.deadline import Timer

__all__ = [
    "CLIENT_TARGET",
    "Headers",
    "Merger",
    "Middleware",
    "Proxy",
    "Query",
    "Request",
    "Response",
    "TargetReader",
    "forget_strong_marks",
    "is_task_free",
    "keeps_maps",
    "keeps_request_maps",
    "task_free",
]

#: canonical header name (Go's CanonicalMIMEHeaderKey) → values
Headers: TypeAlias = dict[str, list[str]]
#: query key → values, in arrival order
Query: TypeAlias = dict[str, list[str]]


# no slots: compiled by mypyc, a native class has a fixed layout already. init=False and an __init__
# written out: mypyc compiles the class but not the __init__ the dataclass decorator generates at run
# time, which ran interpreted on every request (P2: 3 requests and 3 responses per request; see
# bench/README.md, round 8); written here it is native. The decorator still gives eq, repr, replace().
@dataclass(init=False)
class Request:
    """A request travelling down the pipeline (lura ``proxy.Request``).

    ``params`` keys follow KrakenD's rule (first letter upper-cased: ``Id``, ``Resp0_x``).
    ``path`` and ``url`` are filled by the backend request builder; ``query`` holds the query
    the client sent (filtered by the endpoint allow-list), ``raw_query`` the final backend query.
    """

    method: str
    path: str
    params: dict[str, str]
    headers: Headers
    query: Query
    body: bytes = b""
    url: str = ""
    raw_query: str = ""
    #: the client's address as the router saw it (for Lua ``host``, echo, APIGW events)
    client_ip: str = ""
    #: the incoming Host header
    host: str = ""
    #: the endpoint path template as declared (``/users/{id}``)
    endpoint: str = ""
    #: the client request path (for APIGW events)
    client_path: str = ""
    #: per-request scratch space shared by the layers of one request (never across requests)
    context: dict[str, Any] = field(default_factory=dict)
    #: the endpoint deadline in event-loop time (``loop.time()``); 0 means none
    deadline: float = 0.0
    #: the endpoint handler's two-stage timer for ``deadline`` (``arm_request``), shared by the backend
    #: calls that run in the handler's own task; ``None`` without a handler
    timer: Timer | None = None
    #: the verified identity (JWT claims, API-key role...) set by an endpoint-layer guard, else None
    claims: dict[str, Any] | None = None

    def __init__(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        headers: Headers,
        query: Query,
        body: bytes = b"",
        url: str = "",
        raw_query: str = "",
        client_ip: str = "",
        host: str = "",
        endpoint: str = "",
        client_path: str = "",
        context: dict[str, Any] | None = None,
        deadline: float = 0.0,
        timer: Timer | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.headers = headers
        self.query = query
        self.body = body
        self.url = url
        self.raw_query = raw_query
        self.client_ip = client_ip
        self.host = host
        self.endpoint = endpoint
        self.client_path = client_path
        self.context = {} if context is None else context
        self.deadline = deadline
        self.timer = timer
        self.claims = claims

    def __reduce__(self) -> tuple[type[Request], tuple[Any, ...]]:
        """Copied (``copy``, ``deepcopy``) and pickled through ``__init__`` with every field: a compiled
        class's bare ``__new__`` runs its native ``__init__``, which needs the arguments."""
        return type(self), tuple(getattr(self, f.name) for f in fields(self))

    def clone(self) -> Request:
        """A copy whose maps can be changed without touching this request (lura ``CloneRequest``)."""
        return Request(
            method=self.method,
            path=self.path,
            params=dict(self.params),
            headers={k: list(v) for k, v in self.headers.items()},
            query={k: list(v) for k, v in self.query.items()},
            body=self.body,
            url=self.url,
            raw_query=self.raw_query,
            client_ip=self.client_ip,
            host=self.host,
            endpoint=self.endpoint,
            client_path=self.client_path,
            context=self.context,
            deadline=self.deadline,
            timer=self.timer,
            claims=self.claims,
        )

    def share(self) -> Request:
        """A new request over the same maps, for a stack that never changes them in place
        (:func:`keeps_maps`): a backend of a merge then costs no deep copy of headers and query."""
        return Request(
            self.method, self.path, self.params, self.headers, self.query, self.body, self.url,
            self.raw_query, self.client_ip, self.host, self.endpoint, self.client_path, self.context,
            self.deadline, self.timer, self.claims,
        )  # fmt: skip


@dataclass(init=False)  # no slots, and an __init__ written out: as Request's
class Response:
    """A (possibly partial) answer (lura ``proxy.Response``).

    ``status``/``headers`` are metadata (what the backend said). They reach the client only for
    ``no-op`` endpoints, or when a layer explicitly overrides them (``override_status`` /
    ``override_headers``: Lua ``post`` scripts, Lambda proxy-integration responses — krakenpy
    extensions; KrakenD never shows them on JSON endpoints).
    ``body`` is the raw body for ``no-op`` endpoints.
    """

    data: dict[str, Any]
    is_complete: bool = True
    status: int = 200
    headers: Headers = field(default_factory=dict)
    body: bytes | None = None
    errors: tuple[BaseException, ...] = ()
    override_status: int | None = None
    override_headers: Headers | None = None
    #: for ``no-op`` bodies with ``override``: the Content-Type to render (proxy-integration, Lua)
    content_type: str | None = None
    #: a layer rendered the answer itself (``auth/signer``): write ``override_status``,
    #: ``override_headers``, ``content_type`` and ``body`` as they are, without KrakenD's headers
    verbatim: bool = False

    def __init__(
        self,
        data: dict[str, Any],
        is_complete: bool = True,
        status: int = 200,
        headers: Headers | None = None,
        body: bytes | None = None,
        errors: tuple[BaseException, ...] = (),
        override_status: int | None = None,
        override_headers: Headers | None = None,
        content_type: str | None = None,
        verbatim: bool = False,
    ) -> None:
        self.data = data
        self.is_complete = is_complete
        self.status = status
        self.headers = {} if headers is None else headers
        self.body = body
        self.errors = errors
        self.override_status = override_status
        self.override_headers = override_headers
        self.content_type = content_type
        self.verbatim = verbatim

    def __reduce__(self) -> tuple[type[Response], tuple[Any, ...]]:
        """As :meth:`Request.__reduce__`."""
        return type(self), tuple(getattr(self, f.name) for f in fields(self))


#: ``Request.context`` key: the client's raw request target (``/a%C3%A9?b=2&a=(1)``, as sent), kept
#: only on endpoints whose endpoint layer has a :class:`TargetReader` (router Lua's ``ctx:url()``); a
#: step that changes the query re-encodes it (:func:`krakenpy.proxy.request_builder.query_changed`)
CLIENT_TARGET: Final = "client_target"

Proxy: TypeAlias = Callable[[Request], Coroutine[Any, Any, Response]]
Middleware: TypeAlias = Callable[[Proxy], Proxy]
Merger: TypeAlias = Callable[[Sequence[Proxy]], Proxy]


class TargetReader:
    """An endpoint-layer middleware that reads the client's raw target (:data:`CLIENT_TARGET`, router
    Lua's ``ctx``): the handler keeps the target only for an endpoint with one, so an endpoint whose
    layer only limits or validates stores nothing more per request."""

    __slots__ = ("middleware",)

    def __init__(self, middleware: Middleware) -> None:
        self.middleware = middleware

    def __call__(self, next_proxy: Proxy) -> Proxy:
        return self.middleware(next_proxy)


#: proxies and middlewares known (where they are built) never to change a request's ``params``,
#: ``headers`` or ``query`` in place: they may assign new maps to the fields, never mutate the
#: maps. A merge hands the backend stacks made only of those a :meth:`Request.share` instead of a
#: :meth:`Request.clone` (two clones were ~44 k instructions of a P2 request's ~270 k extra).
_KEEPS_MAPS: WeakSet[Callable[..., Any]] = WeakSet()

_F = TypeVar("_F", bound=Callable[..., Any])


#: the marks of anything but a Python function or method (closures compiled by mypyc are native
#: objects, and a weak reference to one crashed the interpreter), held strongly until
#: :func:`forget_strong_marks`. Both marks are build-time hints
#: whose absence is always safe (a clone instead of a share, a task instead of none).
_STRONG: dict[str, set[Callable[..., Any]]] = {"keeps_maps": set(), "task_free": set()}
_WEAK = (FunctionType, MethodType, partial)


def _mark(marks: WeakSet[Callable[..., Any]], kind: str, function: Callable[..., Any]) -> None:
    if isinstance(function, _WEAK):
        marks.add(function)
    else:
        _STRONG[kind].add(function)


def forget_strong_marks() -> None:
    """Drop the marks held strongly, once the gateway that asked for them is built (a hot reload
    would otherwise keep every earlier configuration's compiled proxies alive)."""
    for marks in _STRONG.values():
        marks.clear()


def keeps_maps(function: _F) -> _F:
    """Declare that ``function`` (a proxy, or a middleware whose proxies all are) never changes a
    request's maps in place; returns it."""
    _mark(_KEEPS_MAPS, "keeps_maps", function)
    return function


def keeps_request_maps(function: Callable[..., Any]) -> bool:
    """Whether ``function`` was declared with :func:`keeps_maps`."""
    if isinstance(function, _WEAK):
        return function in _KEEPS_MAPS
    return function in _STRONG["keeps_maps"]


#: proxies and middlewares known (where they are built) never to need a task of their own: no
#: ``asyncio.timeout``, no deadline armed on ``current_task()``, nothing bound to the running task. A
#: merge steps a stack made only of those without a task (:mod:`krakenpy.proxy.driven`).
_TASK_FREE: WeakSet[Callable[..., Any]] = WeakSet()


def task_free(function: _F) -> _F:
    """Declare that ``function`` (a proxy, or a middleware whose proxies all are) runs without a task; returns it."""
    _mark(_TASK_FREE, "task_free", function)
    return function


def is_task_free(function: Callable[..., Any]) -> bool:
    """Whether ``function`` was declared with :func:`task_free`."""
    if isinstance(function, _WEAK):
        return function in _TASK_FREE
    return function in _STRONG["task_free"]
