"""JSONPath-lite selectors for body redaction, compiled once: ``$.password``, ``$.card.number``,
``$.items[*].ssn``, ``$['odd key']``, ``$.list[0]``, ``$..token`` (any depth), ``$.*``. Keys match
whatever their case (``$..password`` selects ``Password`` and ``PASSWORD``): a mask errs wide.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

__all__ = ["Selector", "compile_selector"]

_STEP = re.compile(
    r"""
    \.\.(?P<deep>[A-Za-z_][\w\-]*|\*)      # ..name  ..*
  | \.(?P<name>[A-Za-z_][\w\-]*|\*)        # .name   .*
  | \[\s*'(?P<quoted>[^']*)'\s*\]          # ['name']
  | \[\s*"(?P<dquoted>[^"]*)"\s*\]         # ["name"]
  | \[\s*(?P<index>-?\d+|\*)\s*\]          # [0]  [*]
    """,
    re.VERBOSE,
)

#: one step: (kind, key) with kind "key", "index", "any" (every child) or "deep" (key at any depth)
_Step = tuple[str, Any]


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


class Selector:
    """A compiled path; :meth:`apply` replaces every selected value in place."""

    DROP: Final = _Drop()

    __slots__ = ("path", "steps")

    def __init__(self, path: str, steps: tuple[_Step, ...]) -> None:
        self.path = path
        self.steps = steps

    def apply(self, doc: Any, replace: Callable[[Any], Any]) -> None:
        """Replace the selected values of ``doc`` (a decoded JSON value) by ``replace(value)``;
        ``Selector.DROP`` removes the key (or list item)."""
        self._walk(doc, 0, replace)

    def _walk(self, node: Any, i: int, replace: Callable[[Any], Any]) -> None:
        if i >= len(self.steps):
            return
        kind, key = self.steps[i]
        last = i == len(self.steps) - 1
        if kind == "deep":
            self._deep(node, key, i, replace)
            return
        for container, slot in _children(node, kind, key):
            if last:
                _set(container, slot, replace(container[slot]))
            else:
                self._walk(container[slot], i + 1, replace)

    def _deep(self, node: Any, key: str, i: int, replace: Callable[[Any], Any]) -> None:
        last = i == len(self.steps) - 1
        if isinstance(node, dict):
            for k in list(node):
                if k not in node:
                    continue
                if key == "*" or (isinstance(k, str) and k.lower() == key):
                    if last:
                        _set(node, k, replace(node[k]))
                        continue
                    self._walk(node[k], i + 1, replace)
                self._deep(node[k], key, i, replace)
        elif isinstance(node, list):
            for item in node:
                self._deep(item, key, i, replace)


def _children(node: Any, kind: str, key: Any) -> list[tuple[Any, Any]]:
    if kind == "key":  # case-insensitive: ``$..password`` masks ``Password`` too (a mask errs wide)
        if not isinstance(node, dict):
            return []
        return [(node, k) for k in list(node) if isinstance(k, str) and k.lower() == key]
    if kind == "index":
        if isinstance(node, list) and -len(node) <= key < len(node):
            return [(node, key % len(node))]
        return []
    if isinstance(node, dict):  # "any"
        return [(node, k) for k in list(node)]
    if isinstance(node, list):
        return [(node, j) for j in range(len(node) - 1, -1, -1)]  # backwards: drops keep indexes valid
    return []


def _set(container: Any, slot: Any, value: Any) -> None:
    if value is Selector.DROP:
        del container[slot]
    else:
        container[slot] = value


def compile_selector(path: str) -> Selector:
    """Parse ``path`` once; raises ``ValueError`` naming the position of a syntax error."""
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$'")
    steps: list[_Step] = []
    pos = 1
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise ValueError(f"JSON path {path!r}: cannot read {text[pos:]!r}")
        if match.group("deep") is not None:
            steps.append(("deep", match.group("deep").lower()))  # keys compared lower-case
        elif match.group("name") is not None:
            name = match.group("name")
            steps.append(("any", None) if name == "*" else ("key", name.lower()))
        elif match.group("quoted") is not None or match.group("dquoted") is not None:
            quoted = match.group("quoted")
            steps.append(("key", (quoted if quoted is not None else match.group("dquoted")).lower()))
        else:
            index = match.group("index")
            steps.append(("any", None) if index == "*" else ("index", int(index)))
        pos = match.end()
    if not steps:
        raise ValueError(f"JSON path {path!r} selects the whole document")
    return Selector(path, tuple(steps))
