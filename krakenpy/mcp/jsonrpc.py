"""JSON-RPC 2.0 framing for MCP: classify one message, build results and errors.

MCP narrows JSON-RPC: a request id is a string or an integer (never null), a notification has no id,
and a message with ``result`` or ``error`` and no ``method`` is a response (from the client, to a
server request krakenpy never sends: accepted and ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "Message",
    "classify",
    "error",
    "result",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

RequestId = str | int


@dataclass(frozen=True, slots=True)
class Message:
    """One incoming message: a request (``id`` set), a notification, a response, or invalid."""

    kind: Literal["request", "notification", "response", "invalid"]
    method: str = ""
    id: RequestId | None = None
    params: Any = None
    #: why an invalid message is invalid
    problem: str = ""


def _valid_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def classify(raw: object) -> Message:
    """What ``raw`` (one decoded JSON value) is."""
    if not isinstance(raw, dict) or raw.get("jsonrpc") != "2.0":
        return Message("invalid", problem='not a JSON-RPC 2.0 message (an object with "jsonrpc": "2.0")')
    method = raw.get("method")
    if method is None:
        if ("result" in raw or "error" in raw) and "id" in raw:
            return Message("response", id=raw["id"] if _valid_id(raw["id"]) else None)
        return Message("invalid", problem="neither a request, a notification nor a response")
    ident = raw.get("id")
    if not isinstance(method, str):
        return Message("invalid", id=ident if _valid_id(ident) else None, problem='"method" must be a string')
    params = raw.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        return Message("invalid", id=ident if _valid_id(ident) else None, problem='"params" must be an object')
    if "id" not in raw:
        return Message("notification", method=method, params=params)
    if not _valid_id(ident):
        return Message("invalid", problem='"id" must be a string or an integer')
    return Message("request", method=method, id=ident, params=params)


def result(ident: RequestId | None, value: Any) -> dict[str, Any]:
    """A success response."""
    return {"jsonrpc": "2.0", "id": ident, "result": value}


def error(ident: RequestId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """An error response (``id`` null when the request's could not be read)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": ident, "error": body}
