"""Go ``regexp`` patterns (RE2 syntax), compiled once with google-re2.

KrakenD compiles bot-detector patterns and ``security/http`` host regexes with Go's ``regexp``. RE2
reads the same syntax (no look-around, no back-references) and matches in linear time, so a pattern
means in krakenpy what it meant in KrakenD, and a client-chosen User-Agent or Host cannot make a
match take long (Python's ``re`` backtracks). The one RE2 construct Go refuses, ``\\C`` (any byte),
is refused here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import re2

__all__ = ["GoRegex", "GoRegexError", "GoRegexSet", "compile_go"]

_OPTIONS: Any = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print parse errors on stderr; they are raised instead
#: ``\C`` preceded by an even number of backslashes (so ``\\C`` is a backslash and a C)
_ANY_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")
#: a repetition as Go's parser reads it (no leading zeros; anything else leaves ``{`` literal)
_REPEAT = re.compile(r"\{(0|[1-9][0-9]*)(,((?:0|[1-9][0-9]*))?)?\}")
#: Go's regexp/syntax limits (maxHeight, and the repeat count of parseRepeat)
_MAX_NESTING = 1000
_MAX_REPEAT = 1000


class GoRegexError(ValueError):
    """A pattern Go's ``regexp.Compile`` would refuse."""


def _go_text(text: str) -> str:
    # aiohttp keeps header bytes that are not UTF-8 as lone surrogates; Go reads each such byte as
    # U+FFFD, so match against that spelling
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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
            return self._compiled.search(_go_text(text)) is not None

    def replace_all(self, text: str, template: str) -> str:
        """Go's ``ReplaceAllString``: every match replaced by ``template`` expanded (``$1``, ``${name}``,
        ``$$``); an empty match right after the previous match is skipped, as Go does."""
        out: list[str] = []
        last, previous_end = 0, -1
        try:
            matches = list(self._compiled.finditer(text))
        except UnicodeEncodeError:
            # lone surrogates (bytes that were not UTF-8) are matched as U+FFFD, one for one, so the
            # offsets still index ``text`` and what no match covers keeps its bytes, as in Go
            matches = list(self._compiled.finditer(_SURROGATE.sub("\ufffd", text)))
        for found in matches:
            start, end = found.span()
            if start == end == previous_end:
                continue
            out.append(text[last:start])
            out.append(_expand(template, text, found, self._compiled.groupindex))
            last = previous_end = end
        out.append(text[last:])
        return "".join(out)

    def __repr__(self) -> str:
        return f"GoRegex({self.pattern!r})"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _name_end(text: str, start: int) -> int:
    """The end of Go's capture name at ``start``: Unicode letters (L*), decimal digits (Nd) and ``_``."""
    i = start
    while i < len(text) and (text[i].isalpha() or text[i].isdecimal() or text[i] == "_"):
        i += 1
    return i


def _group_number(name: str) -> int:
    """Go's ``extract``: a name of ASCII digits is a group number unless it has a leading zero (``$01``)
    or more than 9 digits; -1 otherwise (then it is a group name)."""
    if not name.isascii() or not name.isdigit() or len(name) > 9 or (name[0] == "0" and len(name) > 1):
        return -1
    return int(name)


def _expand(template: str, text: str, found: Any, names: Mapping[str, int]) -> str:
    """Go's ``Regexp.Expand``: ``$name`` takes the longest run of letters, digits and ``_`` (so ``$1x``
    and ``$1ñ`` name a group, empty here; ``$01`` too); a reference to no group is empty; a malformed
    ``$`` is kept. Group text is sliced from ``text`` by offset (see the surrogate fallback)."""
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        braced = rest.startswith("{")
        begin = 1 if braced else 0
        end = _name_end(rest, begin)
        if end == begin or (braced and not rest.startswith("}", end)):
            out.append("$")
            continue
        key = rest[begin:end]
        rest = rest[end + (1 if braced else 0) :]
        number = _group_number(key)
        index = number if number >= 0 else names.get(key, -1)
        if 0 <= index <= len(found.groups()):
            start, stop = found.span(index)
            if start >= 0:
                out.append(text[start:stop])


class GoRegexSet:
    """Several compiled patterns scanned at once (an RE2 set): :meth:`search` is true when any of
    them matches; each keeps its own flags. About 3× cheaper than one search per pattern."""

    __slots__ = ("_set", "patterns")

    def __init__(self, patterns: Sequence[GoRegex]) -> None:
        self.patterns = tuple(patterns)
        compiled: Any = re2.Set.SearchSet(_OPTIONS)
        try:
            for pattern in self.patterns:
                compiled.Add(pattern.pattern)
            compiled.Compile()
        except re2.error:  # too big for one program (RE2's memory budget): one search per pattern
            compiled = None
        self._set = compiled

    def search(self, text: str) -> bool:
        """True when any pattern matches somewhere in ``text``."""
        if self._set is None:
            return any(p.search(text) for p in self.patterns)
        try:
            return self._set.Match(text) is not None
        except UnicodeEncodeError:
            return self._set.Match(_go_text(text)) is not None


def compile_go(pattern: str) -> GoRegex:
    """Compile ``pattern`` with Go's syntax; raises :class:`GoRegexError` with RE2's message."""
    if _ANY_BYTE.search(pattern):
        raise GoRegexError("invalid escape sequence: \\C (Go's regexp has no any-byte class)")
    _go_limits(pattern)
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise GoRegexError(_message(exc)) from None
    except UnicodeEncodeError:
        raise GoRegexError("the pattern is not valid UTF-8") from None
    return GoRegex(pattern, compiled)


def _go_limits(pattern: str) -> None:
    """Go's parser limits RE2 does not apply: a repeat count over 1000 (RE2 reads ``x{4294967296}``
    as literal text) and groups nested more than 1000 deep (RE2 compiles them, slowly)."""
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern.startswith("Q", i + 1):  # \Q...\E: literal text
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
        elif c == "[":
            i = _class_end(pattern, i + 1)
        elif c == "(":
            depth += 1
            if depth > _MAX_NESTING:
                raise GoRegexError("expression nests too deeply")
            i += 1
        elif c == ")":
            depth = max(depth - 1, 0)
            i += 1
        elif c == "{" and (repeat := _REPEAT.match(pattern, i)) is not None:
            low, comma, high = repeat.groups()
            if len(low) > 8 or int(low) > _MAX_REPEAT or (high and (len(high) > 8 or int(high) > _MAX_REPEAT)):
                raise GoRegexError(f"invalid repetition size: {repeat.group(0)}")
            i = repeat.end()
        else:
            i += 1


def _class_end(pattern: str, i: int) -> int:
    """The index after the ``]`` closing the class whose body starts at ``i``."""
    n = len(pattern)
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a leading ] is literal
        i += 1
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
        elif c == "[" and pattern.startswith(":", i + 1) and (end := pattern.find(":]", i + 2)) >= 0:
            i = end + 2  # [:alpha:]
        elif c == "]":
            return i + 1
        else:
            i += 1
    return n


def _message(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text or "invalid regular expression"
