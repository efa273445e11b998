"""The opening handshake's checks and answer (RFC 6455 §4.2), and what the backend's handshake
carries: its URL, and the client headers ``input_headers`` lets through."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import quote

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.config.model import BackendConfig
from krakenpy.errors import Rejection

__all__ = [
    "NOT_FORWARDED",
    "accept_headers",
    "backend_headers",
    "backend_url",
    "check_request",
    "forbidden_origin",
    "ws_hosts",
]

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: never forwarded, whatever input_headers says: the backend handshake has its own (KrakenD's list),
#: and the hop-by-hop ones
NOT_FORWARDED: Final = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-extensions",
        "sec-websocket-version",
        "sec-websocket-key",
        "sec-websocket-protocol",
        "sec-websocket-accept",
        "host",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "te",
        "trailer",
        "proxy-connection",
        "proxy-authorization",
    }
)
_POLICY: Final = "websocket"


def _bad(detail: str) -> Rejection:
    # gorilla's upgrader answers 400 with its reason as plain text
    body = f"websocket: {detail}\n".encode()
    headers = (("Content-Type", "text/plain; charset=utf-8"), ("Sec-Websocket-Version", "13"))
    return Rejection(400, reason="bad_handshake", policy=_POLICY, detail=detail, body=body, headers=headers)


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def check_request(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> str:
    """The client's ``Sec-WebSocket-Key`` when the request is a valid upgrade, else a 400 to answer."""
    if "upgrade" not in _tokens(headers.get("Connection", "")):
        raise _bad("the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header")
    if "websocket" not in _tokens(headers.get("Upgrade", "")):
        raise _bad("the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header")
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        raise _bad("unsupported version: 13 not found in 'Sec-Websocket-Version' header")
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise _bad("not a websocket handshake: 'Sec-WebSocket-Key' must be 16 bytes in Base64")
    return key


def forbidden_origin(origin: str) -> Rejection:
    """gorilla's answer to an origin its check refuses: 403 with its reason as plain text."""
    detail = "request origin not allowed by security/cors"
    body = f"websocket: {detail}\n".encode()
    headers = (("Content-Type", "text/plain; charset=utf-8"),)
    return Rejection(
        403, reason="origin_not_allowed", policy=_POLICY, detail=f"{detail}: {origin[:200]}", body=body, headers=headers
    )


def choose_protocol(headers: Mapping[str, str], offered: Sequence[str]) -> str | None:
    """The first subprotocol the client asks for that the endpoint offers (none when it offers none)."""
    if not offered:
        return None
    for value in headers.get("Sec-WebSocket-Protocol", "").split(","):
        if value.strip() in offered:
            return value.strip()
    return None


def accept_headers(key: str, protocol: str | None) -> CIMultiDict[str]:
    """The 101's handshake headers."""
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()  # RFC 6455 names SHA-1
    headers: CIMultiDict[str] = CIMultiDict(
        (("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept))
    )
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    return headers


def ws_hosts(backend: BackendConfig) -> tuple[str, ...]:
    """The backend's hosts as WebSocket origins: ``ws(s)://`` kept, ``http(s)://`` turned into
    ``ws(s)://``, no scheme taken as ``ws://``."""
    out: list[str] = []
    for host in backend.hosts:
        host = host.rstrip("/")
        if host.startswith(("ws://", "wss://")):
            out.append(host)
        elif host.startswith("http://") or host.startswith("https://"):
            out.append("ws" + host[4:])
        else:
            out.append("ws://" + host)
    return tuple(out)


def backend_url(host: str, backend: BackendConfig, params: Mapping[str, str], query: str) -> str:
    """``host`` + the backend's ``url_pattern`` with the endpoint's parameters + the client's query."""
    path = backend.url_pattern
    for key in backend.url_keys:
        path = path.replace("{{." + key + "}}", quote(params.get(key, ""), safe=""))
    if not path.startswith("/"):
        path = "/" + path
    if query:
        path += ("&" if "?" in path else "?") + query
    return host + path


def backend_headers(headers: Mapping[str, Sequence[str]], allowed: tuple[str, ...]) -> CIMultiDict[str]:
    """The headers ``input_headers`` forwards to the backend's handshake (``*``: all of them), never
    the handshake's own. ``headers`` is the endpoint request's after its guards (canonical names): a
    header a guard sets (``propagate_claims``, ``propagate_role``) replaces whatever the client sent."""
    out: CIMultiDict[str] = CIMultiDict()
    if not allowed:
        return out
    names = list(headers) if allowed == ("*",) else list(allowed)
    for name in names:
        if name.lower() in NOT_FORWARDED:
            continue
        for value in headers.get(name, ()):
            out.add(name, value)
    return out
