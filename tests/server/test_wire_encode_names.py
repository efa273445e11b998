"""``encode_response`` asks the handler's headers about five names (framing, ``Content-Type``, ``Date``,
``Connection``) whatever their spelling: a header the handler set is never written twice, and the
handler's ``Connection: close`` ends the connection."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from krakenpy.server.wire import encode_response

SPELLINGS = ("lower", "upper", "title", "mixed")


def _spell(name: str, how: str) -> str:
    if how == "lower":
        return name.lower()
    if how == "upper":
        return name.upper()
    if how == "title":
        return name.title()
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))


def _names(head: bytes) -> list[str]:
    lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    return [line.split(":", 1)[0].lower() for line in lines]


@pytest.mark.parametrize("how", SPELLINGS)
def test_a_handler_content_type_and_date_are_not_written_twice(how: str) -> None:
    headers = CIMultiDict(
        {_spell("Content-Type", how): "text/csv", _spell("Date", how): "Thu, 01 Jan 1970 00:00:00 GMT"}
    )
    head, _, close = encode_response(200, headers, b"a,b\n", "GET", True, False)
    names = _names(head)
    assert names.count("content-type") == 1 and names.count("date") == 1
    assert b"text/csv" in head and b"1970" in head and not close


@pytest.mark.parametrize("how", SPELLINGS)
def test_a_handler_framing_header_is_the_servers(how: str) -> None:
    headers = CIMultiDict({_spell("Content-Length", how): "99", _spell("Transfer-Encoding", how): "chunked"})
    head, _, _ = encode_response(200, headers, b"abc", "GET", True, False)
    assert _names(head).count("content-length") == 1 and "transfer-encoding" not in _names(head)
    assert b"Content-Length: 3\r\n" in head
    # a HEAD answer keeps the handler's length (what a GET would get), without a body
    head, body, _ = encode_response(
        200, CIMultiDict({_spell("Content-Length", how): "99"}), b"abc", "HEAD", True, False
    )
    assert (
        body == b"" and head.lower().count(b"content-length: 99\r\n") == 1 and _names(head).count("content-length") == 1
    )


@pytest.mark.parametrize("how", SPELLINGS)
def test_a_handler_connection_close_ends_the_connection(how: str) -> None:
    head, _, close = encode_response(200, CIMultiDict({_spell("Connection", how): "Close"}), b"{}", "GET", True, False)
    assert close and _names(head).count("connection") == 1
    _, _, close = encode_response(
        200, CIMultiDict({_spell("Connection", how): "keep-alive"}), b"{}", "GET", True, False
    )
    assert not close
