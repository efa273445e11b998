"""The text of an upstream transport failure as KrakenD's (Go's ``net/http``) client words it:
``Get "http://h:8080/x": dial tcp h:8080: connect: connection refused``, ``… dial tcp: lookup h: no
such host``. Log alerts and ``return_error_msg`` consumers written against KrakenD's texts keep matching.

Go's ``url.Error`` reads ``<Op> "<URL>": <cause>`` (the method as ``Get``/``Post``). Only causes Go
words the same way are translated (refused, unreachable, a name that does not resolve); any other
error keeps krakenpy's own ``<Type>: <text> [METHOD]: <url>``. A failure path only: nothing here runs
per request. The address is the URL's (Go names the resolved IP it dialled: a host name stays a name).
"""

from __future__ import annotations

import errno
import socket
from typing import Final
from urllib.parse import urlsplit

__all__ = ["go_cause", "transport_text"]

#: connect(2) errors by Go's wording of them (``syscall.Errno``'s text, lower-case)
_CONNECT: Final = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network is unreachable",
}
#: getaddrinfo answers Go's resolver words as ``no such host``
_NO_SUCH_HOST: Final = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})


def _cause(exc: BaseException) -> BaseException:
    """The OS error beneath a client library's wrapper (aiohttp's ``ClientConnectorError.os_error``)."""
    inner = getattr(exc, "os_error", None)
    return inner if isinstance(inner, OSError) else exc


def _hostport(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return host, f"{shown}:{port}"


def go_cause(url: str, exc: BaseException) -> str | None:
    """Go's text of ``exc``'s cause (``dial tcp …``), or None when Go words it otherwise."""
    if type(exc).__name__ == "ClientProxyConnectionError":
        return None  # the proxy refused, not the URL's host (Go: "proxyconnect tcp: …"): krakenpy's text
    cause = _cause(exc)
    where = _hostport(url)
    if where is None:
        return None
    host, hostport = where
    if isinstance(cause, socket.gaierror):
        if cause.errno in _NO_SUCH_HOST:
            return f"dial tcp: lookup {host}: no such host"
        return None
    if isinstance(cause, OSError) and cause.errno in _CONNECT:
        return f"dial tcp {hostport}: connect: {_CONNECT[cause.errno]}"
    return None


def transport_text(method: str, url: str, exc: BaseException) -> str:
    """The failure's text: Go's ``<Op> "<URL>": <cause>`` when Go words its cause alike, else
    ``<Type>: <text> [METHOD]: <url>``."""
    cause = go_cause(url, exc)
    if cause is not None:
        op = method[:1].upper() + method[1:].lower()
        return f'{op} "{url}": {cause}'
    return f"{type(exc).__name__}: {exc} [{method}]: {url}"
