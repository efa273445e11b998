"""Template errors, located by source file and line."""

from __future__ import annotations

__all__ = ["TemplateError", "TemplateSyntaxError"]


class TemplateError(Exception):
    """A template failed to execute: ``file:line: message``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


class TemplateSyntaxError(TemplateError):
    """A template failed to parse."""
