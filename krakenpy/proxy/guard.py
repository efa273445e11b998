"""Endpoint-layer guards: checks that read a few named client headers and annotate the request.

An endpoint-layer middleware sees the client's request before the ``input_headers`` /
``input_query_strings`` filters, so an endpoint that has one builds its pipeline request unfiltered
and filters it afterwards. A :class:`Guard` says exactly which client headers it reads; when every
endpoint-layer middleware of an endpoint is a guard able to run on the filtered request
(``check_filtered``), the handler keeps the normal filtered path and calls the guards itself with
just those headers, read from the edge request: no unfiltered copy, no second filter, no extra frames.
Used as a plain middleware (beside other endpoint-layer middlewares) it runs ``check`` on the
unfiltered request, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from krakenpy.names import canonical_header
from krakenpy.proxy.types import Headers, Proxy, Request, Response

__all__ = ["HANDLER_HEADERS", "Guard", "GuardCheck", "forwarded_headers"]

#: headers the handler and the input filter write around the endpoint layer: a guard that sets one
#: of them would leave a different value on the filtered path, so it has no ``check_filtered``
HANDLER_HEADERS: Final = frozenset({"User-Agent", "X-Forwarded-Via", "X-Forwarded-For", "X-Forwarded-Host"})

#: ``check(request, headers)``: raises a :class:`~krakenpy.errors.Rejection` or annotates ``request``;
#: ``headers`` holds (at least) the client headers the guard reads, canonical names
GuardCheck = Callable[[Request, Headers], Awaitable[None]]


def forwarded_headers(input_headers: Iterable[str]) -> frozenset[str] | None:
    """The canonical names of the client headers an endpoint passes on (``None``: all of them), i.e.
    the headers a guard may set on the filtered request."""
    names = tuple(input_headers)
    return None if "*" in names else frozenset(canonical_header(name) for name in names)


class Guard:
    """An endpoint-layer middleware made of a check over a few client headers (see the module doc)."""

    __slots__ = ("check", "check_filtered", "reads")

    def __init__(self, reads: tuple[str, ...], check: GuardCheck, check_filtered: GuardCheck | None) -> None:
        #: the canonical names of the client headers the check reads
        self.reads = reads
        #: the check on the unfiltered request: what it sets in ``request.headers`` is filtered after
        self.check = check
        #: the same check on the filtered request (it filters what it sets itself); ``None`` when it
        #: cannot run there (a header it sets is one the handler itself writes)
        self.check_filtered = check_filtered

    def __call__(self, next_proxy: Proxy) -> Proxy:
        check = self.check

        async def guarded(request: Request) -> Response:
            await check(request, request.headers)
            return await next_proxy(request)

        return guarded
