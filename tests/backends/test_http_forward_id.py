"""The HTTP executor's own forwarding of the request id (``forward_id``, decided at start-up by
:func:`krakenpy.telemetry.layers.backend.executor_forward`): the header pairs the client layer and
the upstream client get are those the telemetry backend layer's copy of the header map gave (the id
after the map's headers and before the executor's ``Accept-Encoding``, in place of a header of its
name, never two of one name), and the request's own map is never changed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest

from krakenpy.backends.client import UpstreamResponse
from krakenpy.backends.conntiming import EXCHANGE_KEY
from krakenpy.backends.fastwire import KNOWN
from krakenpy.backends.http import http_backend
from krakenpy.config.build import build_service
from krakenpy.edge import EdgeVisit
from krakenpy.proxy.types import Request
from krakenpy.telemetry.exchange import EXCHANGE, Exchange, new_request_id, valid_request_id


def _backend() -> Any:
    service = build_service(
        {"version": 3, "endpoints": [{"endpoint": "/p", "backend": [{"host": ["http://h"], "url_pattern": "/o"}]}]}
    )
    return service.endpoints[0].backends[0]


async def _sent(
    headers: dict[str, list[str]], rid: str | None, *, forward_id: str | None = "X-Request-Id", compression: bool = True
) -> tuple[list[tuple[str, str]], Request]:
    """The pairs the upstream call got for a request with ``headers`` and an exchange holding ``rid``
    (no exchange for ``None``)."""
    got: list[list[tuple[str, str]]] = []

    async def call(method: str, url: str, pairs: Iterable[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        got.append(list(pairs))
        return UpstreamResponse(200, (), b"{}", "application/json")

    executor = http_backend(_backend(), call, None, disable_compression=not compression, forward_id=forward_id)
    request = Request(method="GET", path="/p", params={}, headers=headers, query={}, url="http://h/o")
    if rid is not None:
        exchange = request.context[EXCHANGE] = Exchange()
        exchange.request_id = rid
    await executor(request)
    return got[0], request


def test_the_executor_reads_the_exchange_under_the_telemetry_key() -> None:
    assert EXCHANGE_KEY == EXCHANGE


async def test_the_id_goes_after_the_maps_headers_and_before_accept_encoding() -> None:
    headers = {"Accept": ["*/*"], "X-Two": ["a", "b"]}
    sent, request = await _sent(headers, "rid-1")
    assert sent == [("Accept", "*/*"), ("X-Two", "a"), ("X-Two", "b"), ("X-Request-Id", "rid-1"),
                    ("Accept-Encoding", "gzip")]  # fmt: skip
    assert request.headers is headers and headers == {"Accept": ["*/*"], "X-Two": ["a", "b"]}
    sent, _ = await _sent({"Accept": ["*/*"]}, "rid-2", compression=False)
    assert sent == [("Accept", "*/*"), ("X-Request-Id", "rid-2")]


async def test_a_header_named_like_the_id_is_replaced_in_place() -> None:
    headers = {"X-Request-Id": ["client-1", "client-2"], "Accept": ["*/*"]}
    sent, request = await _sent(headers, "rid-1")
    assert sent == [("X-Request-Id", "rid-1"), ("Accept", "*/*"), ("Accept-Encoding", "gzip")]
    assert headers == {"X-Request-Id": ["client-1", "client-2"], "Accept": ["*/*"]}


@pytest.mark.parametrize("given", [{}, {"Accept-Encoding": ["br"]}])
async def test_an_id_named_accept_encoding_is_the_one_accept_encoding(given: dict[str, list[str]]) -> None:
    sent, _ = await _sent(dict(given), "rid-1", forward_id="Accept-Encoding")
    assert sent == [("Accept-Encoding", "rid-1")]


@pytest.mark.parametrize(("rid", "forward_id"), [(None, "X-Request-Id"), ("", "X-Request-Id"), ("rid-1", None)])
async def test_no_id_without_an_exchange_id_or_when_the_layer_forwards_it(
    rid: str | None, forward_id: str | None
) -> None:
    sent, _ = await _sent({"Accept": ["*/*"]}, rid, forward_id=forward_id)
    assert sent == [("Accept", "*/*"), ("Accept-Encoding", "gzip")]


async def test_the_forwarded_id_is_marked_known_to_the_head_writer() -> None:
    """The very string sent is fastwire's ``KNOWN.rid`` (its head skips the control-byte scan: an
    exchange's id is generated or ``valid_request_id``-checked); none marked without an exchange id."""
    KNOWN.rid = ""
    rid = "".join(["rid-", "42"])
    sent, request = await _sent({"Accept": ["*/*"]}, rid)
    assert dict(sent)["X-Request-Id"] is rid and KNOWN.rid is rid
    KNOWN.rid = ""
    await _sent({"Accept": ["*/*"]}, "")
    await _sent({"Accept": ["*/*"]}, None)
    assert KNOWN.rid == ""


def test_an_exchange_id_the_edge_layers_make_holds_no_control_byte() -> None:
    """What makes the mark safe: generated ids are hex digits and dashes, and a client's id is taken
    only when ``valid_request_id`` lets it through (no control byte, DEL, space nor non-ASCII)."""
    for _ in range(100):
        assert re.fullmatch(r"[0-9a-f-]{36}", new_request_id())
    for bad in ("a\x01", "a\x7f", "a b", "a\tb", "é", "a\r\nb", "a" * 129, ""):
        assert not valid_request_id(bad)


async def test_the_id_is_a_typed_field_of_the_core_edge_visit() -> None:
    """``request_id`` is declared on the core's ``EdgeVisit`` (the executor reads it as a typed field
    there, not by name on a telemetry type): a bare visit has it, empty, and one holding an id gets
    that id forwarded; an ``Exchange`` inherits it."""
    assert EdgeVisit().request_id == ""
    assert "request_id" not in Exchange.__dict__ or Exchange().request_id == ""
    got: list[list[tuple[str, str]]] = []

    async def call(method: str, url: str, pairs: Iterable[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        got.append(list(pairs))
        return UpstreamResponse(200, (), b"{}", "application/json")

    executor = http_backend(_backend(), call, None, forward_id="X-Request-Id")
    request = Request(method="GET", path="/p", params={}, headers={}, query={}, url="http://h/o")
    visit = request.context[EXCHANGE] = EdgeVisit()
    visit.request_id = "rid-7"
    await executor(request)
    assert got == [[("X-Request-Id", "rid-7"), ("Accept-Encoding", "gzip")]]
