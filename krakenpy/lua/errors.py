"""Lua failures as pipeline errors, with messages mapped to ``file:line`` the way krakend-lua prints them."""

from __future__ import annotations

import re

from krakenpy.errors import PipelineError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["LuaError", "LuaExit", "map_message", "tag_custom_errors"]

# "bad-code.lua:5: attempt to ..." (Lua's own position prefix)
_POSITION = re.compile(r"^([^\n:]+):(\d+): (.*)$", re.DOTALL)


def map_message(message: str) -> str:
    """``name:5: text`` → ``text (name:L5)`` (krakend-lua ``sourcemap`` style)."""
    match = _POSITION.match(message)
    if match is None:
        return message
    name, line, text = match.groups()
    return f"{text} ({name}:L{line})"


class LuaError(PipelineError):
    """A script failed (500) or called ``custom_error`` (its status and content type)."""

    def __init__(
        self, message: str, *, status: int | None = None, content_type: str | None = None, custom: bool = False
    ) -> None:
        super().__init__(message, status=status, content_type=content_type)
        #: raised on purpose by ``custom_error`` (not a crash)
        self.custom = custom
        #: the namespace whose script raised it (``modifier/lua-proxy``…), when the audit needs it
        self.namespace: str | None = None


class LuaExit(PipelineError):
    """krakenpy: a script ended the request with its own status, body and headers (``exit``)."""

    public_body = True

    def __init__(self, status: int, body: str, *, content_type: str, headers: tuple[tuple[str, str], ...]) -> None:
        super().__init__(body, status=status, content_type=content_type)
        self.headers = headers


def tag_custom_errors(middleware: Middleware, namespace: str) -> Middleware:
    """``middleware`` whose ``custom_error`` failures name ``namespace`` (the innermost script's kept:
    a ``modifier/lua-backend`` error crossing a ``modifier/lua-proxy``). Built only when the audit
    trail records them (its ``policy.type``): one frame more per request for those configurations."""

    def tagging(next_proxy: Proxy) -> Proxy:
        inner = middleware(next_proxy)

        async def tagged(request: Request) -> Response:
            try:
                return await inner(request)
            except LuaError as exc:
                if exc.custom and exc.namespace is None:
                    exc.namespace = namespace
                raise

        return tagged

    return tagging
