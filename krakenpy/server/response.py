"""Writing the endpoint's answer (lura ``router/gin/endpoint.go`` and ``render.go``): KrakenD's
headers, error statuses and bodies, ``no-op`` pass-through, and guards' own answers."""

from __future__ import annotations

import re
from collections.abc import Mapping

from multidict import CIMultiDict

from krakenpy.edge import HttpResponse
from krakenpy.errors import PipelineError, Rejection
from krakenpy.proxy.types import Response
from krakenpy.server.render import TEXT_CT

__all__ = [
    "apply_headers",
    "error_response",
    "noop_response",
    "plain_response",
    "rejection_response",
    "text_bytes",
    "verbatim_response",
]

#: never copied to a client: this hop's framing (the server writes its own). ``Content-Encoding`` is
#: passed on: a backend body still carries it only when it is still encoded (gzip is decoded and the
#: header removed by the client, as Go's transport does)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer"})


def apply_headers(target: CIMultiDict[str], headers: Mapping[str, list[str]]) -> None:
    """Set ``headers`` over ``target`` (hop-by-hop names skipped; an empty list deletes)."""
    for name, values in headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        target.popall(name, None)
        for value in values:
            target.add(name, value)


#: surrogates that are not surrogate escapes of bytes 0x80-0xff
_LONE_SURROGATE = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")


def text_bytes(text: str) -> bytes:
    """UTF-8 of an error text that may carry a client's undecodable bytes (surrogate escapes: sent back
    as they came) or a lone surrogate from JSON (replaced): never an exception while answering."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8", "surrogateescape")


def plain_response(status: int, text: str, version: str) -> HttpResponse:
    """A short text answer with KrakenD's headers (413, body read errors...)."""
    return HttpResponse(
        status,
        CIMultiDict(
            (("Content-Type", TEXT_CT), ("X-Krakend", version), ("X-Krakend-Completed", "false")),
        ),
        text_bytes(text),
    )


def error_response(exc: PipelineError, version: str, return_msg: bool) -> HttpResponse:
    """No data to render: the error's status; its text only with ``return_error_msg`` (or a public body)."""
    headers: CIMultiDict[str] = CIMultiDict((("X-Krakend", version), ("X-Krakend-Completed", "false")))
    if exc.headers:
        # a name given more than once is several header lines, in order (a Lua ``exit`` header list,
        # as Kong sends it); the first replaces the gateway's own value of that name. This hop's framing
        # is the server's, never an error's: a Lua ``exit`` table's ``Connection: keep-alive`` replaced
        # the ``Connection: close`` of a connection that closes, its Content-Length went out on a HEAD
        given: set[str] = set()
        for name, value in exc.headers:
            key = name.lower()
            if key in _HOP_BY_HOP:
                continue
            if key not in given:
                given.add(key)
                headers.popall(name, None)
            headers.add(name, value)
    status = exc.status if 100 <= exc.status <= 999 else 500
    if return_msg or exc.public_body:
        headers["Content-Type"] = exc.content_type or TEXT_CT
        return HttpResponse(status, headers, text_bytes(exc.body))
    if exc.content_type:
        headers["Content-Type"] = exc.content_type
    return HttpResponse(status, headers)


def rejection_response(exc: Rejection) -> HttpResponse:
    """A guard's own answer, exactly as given (gin's ``AbortWithStatus``: no KrakenD headers)."""
    return HttpResponse(exc.status, CIMultiDict(exc.headers), exc.payload)


def noop_response(response: Response, version: str) -> HttpResponse:
    """``no-op``: the backend's status, headers and body (overrides from Lua / proxy integration win)."""
    headers: CIMultiDict[str] = CIMultiDict()
    apply_headers(headers, response.headers)
    if response.override_headers:
        apply_headers(headers, response.override_headers)
    if response.content_type and "Content-Type" not in headers:
        headers["Content-Type"] = response.content_type
    headers["X-Krakend"] = version
    headers["X-Krakend-Completed"] = "false"
    return HttpResponse(response.override_status or response.status or 200, headers, response.body or b"")


def verbatim_response(response: Response) -> HttpResponse:
    """An answer a layer rendered itself (the JWT signer's, as gin's ``c.JSON``): no KrakenD headers."""
    headers: CIMultiDict[str] = CIMultiDict()
    if response.override_headers:
        apply_headers(headers, response.override_headers)
    if response.content_type and "Content-Type" not in headers:
        headers["Content-Type"] = response.content_type
    return HttpResponse(response.override_status or response.status or 200, headers, response.body or b"")
