"""``tools/list`` and ``tools/call``: a tool's description, and one call through its workflow.

A call's arguments are checked against the tool's ``input_schema``; each argument named like a
placeholder of the workflow's ``endpoint`` (``/__mcp/country/{code}``) becomes that parameter, so the
backends' ``url_pattern``, GraphQL variables and every other ``{code}`` see it as an endpoint
parameter; the whole arguments object is the request body. The workflow runs through the normal
proxy pipeline; its merged data comes back as JSON text and ``structuredContent``.

Failures of the tool (bad arguments, a backend error, a result that does not match the
``output_schema``) are results with ``isError: true``, so the model can read them and correct itself
(MCP 2025-11-25); the message is the error's only with the tool's ``return_error_msg``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from krakenpy.errors import PipelineError
from krakenpy.mcp.options import ToolOptions
from krakenpy.names import capitalize
from krakenpy.proxy.types import Headers, Proxy, Request, Response
from krakenpy.server.request import user_agent

if TYPE_CHECKING:
    from krakenpy.telemetry.redact import Redactor

__all__ = ["Tool", "describe"]

log = logging.getLogger("krakenpy.mcp")

#: what the model reads when the tool hides its errors (``return_error_msg`` false)
GENERIC_ERROR: Final = "the tool call failed"
#: the invalid-arguments detail is capped: a schema may report one violation per array item
_MAX_VIOLATIONS: Final = 5


def describe(tool: ToolOptions) -> dict[str, Any]:
    """The tool as ``tools/list`` lists it."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.title:
        out["title"] = tool.title
    if tool.description:
        out["description"] = tool.description
    out["inputSchema"] = dict(tool.input_schema)
    if tool.output_schema is not None:
        out["outputSchema"] = dict(tool.output_schema)
    return out


def _failure(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _param(value: Any) -> str:
    """An argument as a parameter: a string as it is, anything else as its JSON text."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool, compiled: its options and its workflow's proxy."""

    options: ToolOptions
    proxy: Proxy
    #: words an invalid argument's violation without quoting a value its body paths mask
    redactor: Redactor | None = None

    def _message(self, exc: BaseException) -> str:
        return str(exc) or type(exc).__name__ if self.options.return_error_msg else GENERIC_ERROR

    def _unquoted(self, arguments: Mapping[str, Any]) -> list[str]:
        """The violations of ``arguments``, a field the redactor masks (``password``, ``token``) named
        by its place and keyword, never its value (the failure path only)."""
        from krakenpy.bodyschema.check import redacted_message
        from krakenpy.bodyschema.compiler import json_pointer

        assert self.redactor is not None
        document = dict(arguments)
        masked = self.redactor.json_value(document)
        out: list[str] = []
        for error in self.options.input_validator.iter_errors(document):
            node: Any = masked
            for step in error.instance_path:
                try:
                    node = node[step]
                except (KeyError, IndexError, TypeError):
                    node = None
                    break
            keyword = next((p for p in reversed(error.schema_path) if isinstance(p, str)), "false")
            message = redacted_message(error.message, keyword, error.instance, node)
            out.append(message if message == error.message else f"at '{json_pointer(error.instance_path)}': {message}")
        return out

    def _request(self, arguments: Mapping[str, Any], incoming: Request) -> Request:
        workflow = self.options.workflow
        # a placeholder without its argument is empty, as in the workflow's path: never a literal {x}
        params = {capitalize(p): _param(arguments[p]) if p in arguments else "" for p in workflow.params}
        path = workflow.endpoint
        for name in workflow.params:
            path = path.replace("{" + name + "}", params[capitalize(name)])
        headers: Headers = {"Content-Type": ["application/json"]}
        for name in ("X-Forwarded-For", "X-Forwarded-Host"):
            if name in incoming.headers:
                headers[name] = list(incoming.headers[name])
        user_agent(headers)
        # the workflow's timeout within the entry point's deadline: the sooner one ends the call. The
        # entry point's timer serves when its deadline is the sooner (the workflow runs in its task);
        # else the backend arms its own timer at the workflow's deadline
        deadline, timer = incoming.deadline, incoming.timer
        own = asyncio.get_running_loop().time() + workflow.timeout
        if not deadline or own < deadline:
            deadline, timer = own, None
        return Request(
            method="POST",
            path=path,
            params=params,
            headers=headers,
            query={},
            body=orjson.dumps(arguments),
            client_ip=incoming.client_ip,
            host=incoming.host,
            endpoint=workflow.endpoint,
            client_path=incoming.client_path,
            context=incoming.context,
            deadline=deadline,
            timer=timer,
            claims=incoming.claims,
        )

    async def call(self, arguments: Mapping[str, Any], incoming: Request) -> dict[str, Any]:
        """The ``tools/call`` result (a failure of the tool is a result with ``isError``)."""
        violations = [e.message for e in self.options.input_validator.iter_errors(dict(arguments))]
        if violations and self.redactor is not None:
            violations = self._unquoted(arguments)
        if violations:
            shown = "; ".join(violations[:_MAX_VIOLATIONS])
            more = f" (and {len(violations) - _MAX_VIOLATIONS} more)" if len(violations) > _MAX_VIOLATIONS else ""
            return _failure(f"invalid arguments: {shown}{more}")
        try:
            request = self._request(arguments, incoming)
        except (orjson.JSONEncodeError, RecursionError):  # orjson writes 254 levels at most
            return _failure("invalid arguments: nested too deeply")
        try:
            return self._result(await self.proxy(request))
        except PipelineError as exc:
            return _failure(self._message(exc))
        except (orjson.JSONEncodeError, RecursionError):  # the backend's data: too deep to answer
            return _failure(self._message(ValueError("the result is nested too deeply")))
        except Exception:  # a bug must not end the MCP exchange: the call fails, logged once
            log.exception("ai/mcp tool %r: unexpected error", self.options.name)
            return _failure(GENERIC_ERROR)

    def _result(self, response: Response) -> dict[str, Any]:
        data = response.data
        if response.errors and not data and response.body is None:
            return _failure(self._message(response.errors[0]))
        if response.body is not None and not data and response.status >= 400:
            # a no-op workflow passes the backend's status on: a failure, its body only when errors are told
            shown = response.body.decode("utf-8", "replace")
            return _failure(
                f"the backend answered {response.status}: {shown}" if self.options.return_error_msg else GENERIC_ERROR
            )
        if self.options.media != "text":
            return self._media(response)
        if response.body is not None and not data:  # a no-op workflow: the backend's body as text
            return {"content": [{"type": "text", "text": response.body.decode("utf-8", "replace")}], "isError": False}
        validator = self.options.output_validator
        if validator is not None and not validator.is_valid(data):
            first = next(iter(validator.iter_errors(data))).message
            return _failure(self._message(ValueError(f"the result does not match the output_schema: {first}")))
        raw = orjson.dumps(data)
        # written once, and as it is: nested in the JSON-RPC answer, data orjson could write alone would
        # pass its 254 levels (a 500 with a traceback)
        structured = orjson.Fragment(raw)
        return {"content": [{"type": "text", "text": raw.decode()}], "structuredContent": structured, "isError": False}

    def _media(self, response: Response) -> dict[str, Any]:
        body = response.body
        if body is None:
            # a JSON workflow has no bytes to send: an image or audio tool needs a no-op workflow
            return _failure(self._message(ValueError("the workflow returned no media (output_encoding no-op)")))
        kind = response.headers.get("Content-Type", [""])[0].split(";")[0].strip()
        mime = kind or ("image/png" if self.options.media == "image" else "audio/wav")
        item = {"type": self.options.media, "data": base64.b64encode(body).decode(), "mimeType": mime}
        return {"content": [item], "isError": False}
