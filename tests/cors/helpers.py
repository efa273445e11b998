"""Drive an edge middleware directly: requests with repeatable headers and a recording handler."""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.cors import CorsOptions, CorsPolicy, RouteMap, cors_middleware
from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse


def request(method: str = "GET", path: str = "/foo", headers: Iterable[tuple[str, str]] = ()) -> HttpRequest:
    return HttpRequest(method, path, headers=CIMultiDictProxy(CIMultiDict(list(headers))))


class Recorder:
    """The next handler: answers 200 ``bar`` (or ``status``) with ``headers``, counting calls."""

    def __init__(self, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.calls: list[HttpRequest] = []
        self.status = status
        self.headers = list(headers)

    async def __call__(self, req: HttpRequest) -> HttpResponse:
        self.calls.append(req)
        return HttpResponse(self.status, CIMultiDict(self.headers), b"bar")


def handler(options: CorsOptions | None, routes: RouteMap[CorsPolicy] | None = None) -> tuple[EdgeHandler, Recorder]:
    nxt = Recorder()
    policy = CorsPolicy(options) if options is not None else None
    return cors_middleware(policy, routes)(nxt), nxt


CORS_NAMES = (
    "Vary",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Private-Network",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
)


def cors_headers(response: HttpResponse) -> dict[str, list[str]]:
    """Every CORS response header with all its values (absent names left out)."""
    return {name: response.headers.getall(name) for name in CORS_NAMES if name in response.headers}
