"""One MCP server on one endpoint: the streamable HTTP transport, answered with ``application/json``.

- ``POST`` carries one JSON-RPC message, or a batch (an array) for protocol versions before
  2025-06-18, which dropped batches; requests get a JSON answer (an array for a batch), a body of
  only notifications and responses gets ``202`` without a body.
- ``GET`` (the server-to-client SSE stream) and ``DELETE`` (ending a session) get ``405``: krakenpy
  never sends the client requests or notifications of its own, and its sessions hold nothing.
- Stateful servers (``stateless`` false) hand an ``Mcp-Session-Id`` to ``initialize`` and require
  one on every other message (400 without). The id is not looked up anywhere: a session carries no
  state (tools are stateless, nothing is subscribed), so any worker of any replica serves it.
- A protocol error is a JSON-RPC error; a transport error (bad JSON, media types, an unsupported
  ``MCP-Protocol-Version``) is a 4xx with a JSON-RPC error body; nothing here answers 500.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from functools import partial
from typing import Any, Final

import orjson

from krakenpy.mcp import jsonrpc
from krakenpy.mcp.jsonrpc import Message
from krakenpy.mcp.options import ServerOptions
from krakenpy.mcp.tools import Tool, describe
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response

__all__ = ["LATEST_VERSION", "MAX_BATCH", "SUPPORTED_VERSIONS", "McpServer", "mcp_middleware"]

log = logging.getLogger("krakenpy.mcp")

#: the MCP revisions krakenpy speaks, newest first; ``initialize`` gets the client's when listed here
SUPPORTED_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_VERSION: Final = SUPPORTED_VERSIONS[0]
#: the first revision without JSON-RPC batches
_NO_BATCHES: Final = "2025-06-18"
#: what a request without ``MCP-Protocol-Version`` speaks (the transport's rule)
_DEFAULT_VERSION: Final = "2025-03-26"
_JSON: Final = "application/json"
_ACCEPTABLE: Final = frozenset({"application/json", "application/*", "*/*"})
#: what a decoded JSON value that is not a string is, as the client wrote it
_JSON_TYPES: Final[Mapping[type, str]] = {
    dict: "an object",
    list: "an array",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
#: messages in one batch: each may run a workflow, all within the entry point's one deadline
MAX_BATCH: Final = 100


def _first(headers: Headers, name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _media_types(value: str) -> list[str]:
    return [part.split(";", 1)[0].strip().lower() for part in value.split(",") if part.strip()]


def _valid_session(value: str) -> bool:
    # the transport allows visible ASCII only; the length bound keeps a hostile header out of logs
    return 0 < len(value) <= 256 and all("!" <= ch <= "~" for ch in value)


class McpServer:
    """The protocol of one declared server, with its compiled tools; everything fixed is built once."""

    def __init__(self, server: ServerOptions, tools: Mapping[str, Tool]) -> None:
        self.server = server
        self.tools = dict(tools)
        self.listing = {"tools": [describe(tool.options) for tool in self.tools.values()]}
        info: dict[str, Any] = {"name": server.name, "version": server.version}
        if server.title:
            info["title"] = server.title
        self.info = info

    def _reply(self, status: int, payload: Any = None, headers: Headers | None = None) -> Response:
        body = b"" if payload is None else orjson.dumps(payload)
        return Response(
            data={},
            body=body,
            override_status=status,
            override_headers=headers,
            content_type=_JSON if payload is not None else None,
            verbatim=True,
        )

    def _transport_error(self, status: int, code: int, message: str) -> Response:
        return self._reply(status, jsonrpc.error(None, code, message))

    async def handle(self, request: Request, *, rate_limited: bool = False) -> Response:
        """One HTTP exchange with the MCP client; ``rate_limited``: the entry point counts requests, so a
        batch may carry one ``tools/call`` at most (else one request would buy up to 100 workflow runs)."""
        if request.method != "POST":
            return self._reply(405, None, {"Allow": ["POST"]})
        headers = request.headers
        content_type = _media_types(_first(headers, "Content-Type"))
        if content_type and content_type[0] != _JSON:
            return self._transport_error(415, jsonrpc.INVALID_REQUEST, "Content-Type must be application/json")
        accept = _media_types(", ".join(headers.get("Accept", ())))
        if accept and not _ACCEPTABLE.intersection(accept):
            return self._transport_error(406, jsonrpc.INVALID_REQUEST, "the client must accept application/json")
        version = _first(headers, "Mcp-Protocol-Version")
        if version and version not in SUPPORTED_VERSIONS:
            message = f"unsupported MCP-Protocol-Version {version[:40]!r} (supported: {', '.join(SUPPORTED_VERSIONS)})"
            return self._transport_error(400, jsonrpc.INVALID_REQUEST, message)
        try:
            document = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return self._transport_error(400, jsonrpc.PARSE_ERROR, "parse error: the body is not JSON")
        batch = isinstance(document, list)
        if batch and not document:
            return self._transport_error(400, jsonrpc.INVALID_REQUEST, "empty batch")
        if batch and len(document) > MAX_BATCH:
            return self._transport_error(400, jsonrpc.INVALID_REQUEST, f"a batch holds at most {MAX_BATCH} messages")
        if batch and (version or _DEFAULT_VERSION) >= _NO_BATCHES:
            return self._transport_error(400, jsonrpc.INVALID_REQUEST, f"protocol version {version} has no batches")
        messages = [jsonrpc.classify(raw) for raw in (document if batch else [document])]
        if rate_limited and sum(m.kind == "request" and m.method == "tools/call" for m in messages) > 1:
            message = "this endpoint is rate-limited: a batch holds at most one tools/call"
            return self._transport_error(400, jsonrpc.INVALID_REQUEST, message)
        reply_headers: Headers = {}
        if not self.server.stateless:
            opening = any(m.kind == "request" and m.method == "initialize" for m in messages)
            if opening:
                reply_headers["Mcp-Session-Id"] = [secrets.token_hex(16)]
            elif not _valid_session(_first(headers, "Mcp-Session-Id")):
                message = "missing or malformed Mcp-Session-Id header: initialize a session first"
                return self._transport_error(400, jsonrpc.INVALID_REQUEST, message)
        answers = [answer for m in messages if (answer := await self._answer(m, request)) is not None]
        if not answers:
            return self._reply(202, None, reply_headers or None)
        if not batch and messages[0].kind == "invalid":
            return self._reply(400, answers[0], reply_headers or None)
        return self._reply(200, answers if batch else answers[0], reply_headers or None)

    async def _answer(self, message: Message, request: Request) -> dict[str, Any] | None:
        """The response to one message; ``None`` for notifications and responses."""
        if message.kind == "invalid":
            return jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST, message.problem)
        if message.kind != "request":
            return None
        try:
            return await self._dispatch(message, request)
        except Exception:  # a bug must not become a 500 or end the exchange: one JSON-RPC error
            log.exception("ai/mcp server %r: unexpected error in %s", self.server.name, message.method)
            return jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, "internal error")

    async def _dispatch(self, message: Message, request: Request) -> dict[str, Any]:
        ident, method = message.id, message.method
        params = message.params if message.params is not None else {}
        if method == "ping":
            return jsonrpc.result(ident, {})
        if method == "tools/list":
            return jsonrpc.result(ident, self.listing)
        if method not in ("initialize", "tools/call"):
            return jsonrpc.error(ident, jsonrpc.METHOD_NOT_FOUND, f"method not found: {method[:100]}")
        if not isinstance(params, dict):
            return jsonrpc.error(ident, jsonrpc.INVALID_PARAMS, '"params" must be an object')
        if method == "initialize":
            return jsonrpc.result(ident, self._initialize(params))
        name = params.get("name")
        if not isinstance(name, str):  # only the type: the value may be anything, as deep as JSON allows
            shown = _JSON_TYPES.get(type(name), "a non-string")
            return jsonrpc.error(ident, jsonrpc.INVALID_PARAMS, f'"name" must be a string, not {shown}')
        tool = self.tools.get(name)
        if tool is None:
            return jsonrpc.error(ident, jsonrpc.INVALID_PARAMS, f"unknown tool: {name[:100]!r}")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return jsonrpc.error(ident, jsonrpc.INVALID_PARAMS, '"arguments" must be an object')
        return jsonrpc.result(ident, await tool.call(arguments, request))

    def _initialize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        out: dict[str, Any] = {
            "protocolVersion": asked if asked in SUPPORTED_VERSIONS else LATEST_VERSION,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": self.info,
        }
        if self.server.instructions:
            out["instructions"] = self.server.instructions
        return out


def mcp_middleware(server: McpServer, *, rate_limited: bool = False) -> Middleware:
    """The endpoint-layer middleware: the MCP server answers; the endpoint's backends are never called."""
    answer: Proxy = partial(server.handle, rate_limited=True) if rate_limited else server.handle

    def middleware(next_proxy: Proxy) -> Proxy:
        return answer

    return middleware
