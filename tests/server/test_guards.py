"""The handler's guard path: which endpoint layers it takes, and the client headers a guard reads."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.proxy.guard import Guard
from krakenpy.proxy.types import Headers, Proxy, Request
from krakenpy.server.handler import _filtered_guards
from krakenpy.server.request import guard_headers, guard_names


async def _check(request: Request, headers: Headers) -> None:
    request.context["seen"] = headers


def _plain(next_proxy: Proxy) -> Proxy:
    return next_proxy


def _raw(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_guard_names_deduplicated_without_this_hops_headers() -> None:
    assert guard_names(["Authorization", "Cookie", "Authorization", "Connection", "Te"]) == ("Authorization", "Cookie")


def test_guard_headers_every_value_of_the_named_headers_only() -> None:
    raw = _raw(("authorization", "Bearer t"), ("Cookie", "a=1"), ("cookie", "b=2"), ("X-Other", "o"))
    assert guard_headers(raw, ("Authorization", "Cookie", "X-Api-Key")) == {
        "Authorization": ["Bearer t"],
        "Cookie": ["a=1", "b=2"],
    }


def test_guard_headers_drops_the_headers_connection_lists() -> None:
    # as on the unfiltered path: a header named in Connection belongs to this hop, not to the request
    raw = _raw(("Connection", "keep-alive, authorization"), ("Authorization", "Bearer t"), ("Cookie", "a=1"))
    assert guard_headers(raw, ("Authorization", "Cookie")) == {"Cookie": ["a=1"]}
    assert guard_headers(_raw(("Connection", "keep-alive")), ("Authorization",)) == {}


def test_filtered_guards_only_when_every_layer_is_a_filtered_guard() -> None:
    first = Guard(("Authorization", "Cookie"), _check, _check)
    second = Guard(("X-Api-Key", "Cookie"), _check, _check)
    assert _filtered_guards([]) == ((), ())
    assert _filtered_guards([first, second]) == ((_check, _check), ("Authorization", "Cookie", "X-Api-Key"))
    assert _filtered_guards([first, _plain]) is None  # another middleware needs the unfiltered request
    assert _filtered_guards([first, Guard(("Authorization",), _check, None)]) is None
    # the handler writes X-Forwarded-For before the endpoint layer: a guard reading it keeps that view
    assert _filtered_guards([Guard(("X-Forwarded-For",), _check, _check)]) is None


async def test_guard_as_a_middleware_checks_the_pipeline_request() -> None:
    async def terminal(request: Request) -> object:
        return request.context["seen"]

    guarded = Guard(("Authorization",), _check, None)(terminal)  # type: ignore[arg-type]
    request = Request("GET", "/x", {}, {"Authorization": ["Bearer t"], "X-Other": ["o"]}, {})
    assert await guarded(request) is request.headers
