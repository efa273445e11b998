"""Lua failures as pipeline errors, with messages mapped to ``file:line`` the way krakend-lua prints them."""

from __future__ import annotations

import re

from krakenpy.errors import PipelineError

__all__ = ["LuaError", "LuaExit", "map_message"]

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


class LuaExit(PipelineError):
    """krakenpy: a script ended the request with its own status, body and headers (``exit``)."""

    public_body = True

    def __init__(self, status: int, body: str, *, content_type: str, headers: tuple[tuple[str, str], ...]) -> None:
        super().__init__(body, status=status, content_type=content_type)
        self.headers = headers
