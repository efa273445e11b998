"""The bytes krakenpy's HTTP/1.1 server writes: a response head built in one pass from the edge's
:class:`~krakenpy.edge.HttpResponse`, and Go's fixed answers (``net/http`` refusals, ``100 Continue``).

What the server adds besides the handler's headers follows Go's ``net/http`` (and what aiohttp wrote
before): ``Content-Length`` (never ``Transfer-Encoding``), ``Date``, ``Connection: close`` when the
connection ends after the answer (``keep-alive`` for an HTTP/1.0 client that asked for it), a sniffed
``Content-Type`` for a body without one, and no ``Server`` header. A header carrying CR or LF cannot
split the response: Go's rule applies (an invalid name is dropped, CR/LF in a value become spaces).
"""

from __future__ import annotations

import logging
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from multidict import CIMultiDict, istr

from krakenpy.server.sniff import sniff

__all__ = [
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "CONTINUE",
    "INTERNAL_ERROR",
    "TRANSFER_ENCODING",
    "encode_response",
    "go_refusal",
]

log = logging.getLogger("krakenpy.server")

#: written before the first body read of a request that says ``Expect: 100-continue`` (Go's rule)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: the answer to a handler that raised (a bug): gin's recovery answers an empty 500
INTERNAL_ERROR = 500
#: bodies from this size on are written apart from the head instead of copied behind it
_BIG_BODY = 1 << 18
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPACE = str.maketrans({"\r": " ", "\n": " "})


def go_refusal(status: int) -> bytes:
    """What Go's server writes, then closes, for a request it cannot parse (net/http ``errorHeaders``)."""
    text = f"{status} {HTTPStatus(status).phrase}"
    return f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}".encode()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status code {status}"  # Go's StatusText fallback


# status lines per protocol version, filled on first use (a status set is small and fixed by the config)
_LINES_11: dict[int, str] = {}
_LINES_10: dict[int, str] = {}


def _status_line(status: int, http11: bool) -> str:
    lines = _LINES_11 if http11 else _LINES_10
    line = f"HTTP/1.{1 if http11 else 0} {status} {_reason(status)}\r\n"
    if len(lines) < 1000:  # statuses are 100..999: bounded anyway
        lines[status] = line
    return line


class _Date:
    """The ``Date`` header line, formatted once per second rather than per response."""

    def __init__(self) -> None:
        self.expires = 0.0
        self.line = ""

    def refresh(self, now: float) -> str:
        second = int(now)
        self.expires = second + 1.0
        self.line = f"Date: {formatdate(second, usegmt=True)}\r\n"
        return self.line


_date = _Date()
_time = time.time


def _clean_lines(headers: CIMultiDict[str], skip: frozenset[str]) -> str:
    """The header lines the slow way: Go's rules for names and values, ``skip`` (lower-case) left out."""
    lines = []
    for name, value in headers.items():
        if name.lower() in skip:
            continue
        if not _TOKEN.fullmatch(name):
            log.warning("response header with an invalid name dropped")  # the name may be anything: not logged
            continue
        clean = value.translate(_SPACE).strip(" \t")
        lines.append(f"{name}: {clean}\r\n")
    return "".join(lines)


#: the header names encode_response asks the handler's headers about, as ``istr``: a ``CIMultiDict``
#: lookup takes an ``istr``'s folded form as made once, where a ``str`` key is folded at every ``in``
#: (five per answer; ~half the lookup's cost, round 21). The first three are the server's too
#: (``connection``'s request side, ``handler``'s answers): compiled, a ``Final`` of another module of
#: the group is read as that module's C static
CONTENT_LENGTH: Final = istr("Content-Length")
TRANSFER_ENCODING: Final = istr("Transfer-Encoding")
CONTENT_TYPE: Final = istr("Content-Type")
_DATE: Final = istr("Date")
_CONNECTION: Final = istr("Connection")
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_TRANSFER = frozenset({"transfer-encoding"})


def encode_response(
    status: int,
    headers: CIMultiDict[str],
    body: bytes,
    method: str,
    http11: bool,
    close: bool,
    extra: str = "",
    value: str = "",
) -> tuple[bytes, bytes, bool]:
    """``(head, body to write, close)`` for one answer: the head as bytes, the body (empty when the
    status or ``HEAD`` has none), and whether the connection ends after it (``close`` asked by the
    server, or ``Connection: close`` from the handler). ``extra`` and ``value``: one header line written after
    ``headers`` as ``extra + value + "\\r\\n"`` when ``extra`` is given (``Name: `` and the edge's request
    id, :attr:`~krakenpy.edge.EdgeVisit.line`: no line's text built per request); the server's own headers
    (framing, ``Date``, ``Connection``) are never among them."""
    # written out without helper calls on the common path: this runs for every response
    line = (_LINES_11 if http11 else _LINES_10).get(status)
    if line is None:
        if not 100 <= status <= 999:
            log.error("response status %r out of range: answered 500", status)
            return encode_response(INTERNAL_ERROR, CIMultiDict(), b"", method, http11, True)
        line = _status_line(status, http11)
    count = len(headers)
    text = "".join([f"{name}: {value}\r\n" for name, value in headers.items()]) if count else ""
    # one C scan each instead of a check per header: only the line ends may hold CR or LF
    if text.count("\n") != count or text.count("\r") != count:
        text = _clean_lines(headers, frozenset())
    empty = status < 200 or status == 204 or status == 304 or (method == "CONNECT" and status < 300)
    if CONTENT_LENGTH in headers or TRANSFER_ENCODING in headers:
        # the framing is the server's: a handler's Content-Length stays only on a HEAD answer (the
        # size of what a GET would get), never beside a body whose length it may not match
        keep_length = method == "HEAD" and not empty and CONTENT_LENGTH in headers
        text = _clean_lines(headers, _TRANSFER if keep_length else _FRAMING)
        if keep_length:
            body = b""
    if empty:
        tail = ""
        body = b""
    elif method == "HEAD":
        tail = f"Content-Length: {len(body)}\r\n" if body else ""
        if body and CONTENT_TYPE not in headers:
            tail = f"Content-Type: {sniff(body)}\r\n{tail}"
        body = b""
    else:
        tail = f"Content-Length: {len(body)}\r\n"
        if body and CONTENT_TYPE not in headers:
            tail = f"Content-Type: {sniff(body)}\r\n{tail}"  # Go's server sniffs; aiohttp said octet-stream
    if _DATE not in headers:
        now = _time()
        tail += _date.line if now < _date.expires else _date.refresh(now)
    if _CONNECTION in headers:
        close = close or headers[_CONNECTION].lower() == "close"
    elif close:
        if http11:
            tail += "Connection: close\r\n"  # HTTP/1.0 closes by default: Go writes nothing there
    elif not http11:
        tail += "Connection: keep-alive\r\n"  # an HTTP/1.0 client that asked to keep it
    # the extra line's pieces go into the head's build as they are (its text made per request, and
    # added to ``text``, cost two strings more: ~0.6 k instructions a request with a request id)
    head = f"{line}{text}{extra}{value}\r\n{tail}\r\n" if extra else f"{line}{text}{tail}\r\n"
    try:
        data = head.encode("utf-8", "surrogateescape")  # header bytes the parser escaped go out as received
    except UnicodeEncodeError:
        data = head.encode("utf-8", "replace")
    if body and len(body) < _BIG_BODY:
        return data + body, b"", close  # one write, one syscall: most answers are small
    return data, body, close
