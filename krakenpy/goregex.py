"""Go ``regexp`` patterns (RE2 syntax), compiled once with google-re2.

KrakenD compiles bot-detector patterns and ``security/http`` host regexes with Go's ``regexp``. RE2
reads the same syntax (no look-around, no back-references) and matches in linear time, so a pattern
means in krakenpy what it meant in KrakenD, and a client-chosen User-Agent or Host cannot make a
match take long (Python's ``re`` backtracks). The one RE2 construct Go refuses, ``\\C`` (any byte),
is refused here too.
"""

from __future__ import annotations

import re
from typing import Any

import re2

__all__ = ["GoRegex", "GoRegexError", "compile_go"]

_OPTIONS: Any = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print parse errors on stderr; they are raised instead
#: ``\C`` preceded by an even number of backslashes (so ``\\C`` is a backslash and a C)
_ANY_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")


class GoRegexError(ValueError):
    """A pattern Go's ``regexp.Compile`` would refuse."""


class GoRegex:
    """A compiled pattern; :meth:`search` is Go's ``MatchString`` (unanchored, any match)."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in ``text``."""
        try:
            return self._compiled.search(text) is not None
        except UnicodeEncodeError:
            # aiohttp keeps header bytes that are not UTF-8 as lone surrogates; Go reads each such
            # byte as U+FFFD, so match against that spelling
            fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return self._compiled.search(fixed) is not None

    def __repr__(self) -> str:
        return f"GoRegex({self.pattern!r})"


def compile_go(pattern: str) -> GoRegex:
    """Compile ``pattern`` with Go's syntax; raises :class:`GoRegexError` with RE2's message."""
    if _ANY_BYTE.search(pattern):
        raise GoRegexError("invalid escape sequence: \\C (Go's regexp has no any-byte class)")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise GoRegexError(_message(exc)) from None
    except UnicodeEncodeError:
        raise GoRegexError("the pattern is not valid UTF-8") from None
    return GoRegex(pattern, compiled)


def _message(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text or "invalid regular expression"
