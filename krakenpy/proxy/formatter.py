"""Backend entity formatting (lura ``proxy/formatter.go``): target → allow|deny → mapping → group.

Each step is compiled once per backend; a backend that uses none gets no formatter at all.
Data maps are fresh per request (decoded from the backend body), so steps may change them in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from krakenpy.proxy.flatmap import compile_flatmap

__all__ = ["Formatter", "compile_formatter"]

Data: TypeAlias = dict[str, Any]
Formatter: TypeAlias = Callable[[Data], Data]
_Tree: TypeAlias = dict[str, Any]  # key → subtree; an empty subtree means "the whole value"


def _tree(paths: Sequence[str]) -> _Tree:
    root: _Tree = {}
    for path in paths:
        node = root
        parts = path.split(".")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = {}
            else:
                existing = node.get(part)
                if existing == {} and part in node:
                    break  # a shorter path already keeps the whole value
                node = node.setdefault(part, {})
    return root


def _allow(tree: _Tree, data: Data) -> bool:
    """Prune ``data`` in place to what ``tree`` allows; True when nothing is left."""
    empty = True
    for key in list(data):
        sub = tree.get(key)
        keep = False
        if sub is not None:
            if not sub:
                keep = True
            else:
                value = data[key]
                keep = isinstance(value, dict) and not _allow(sub, value)
        if keep:
            empty = False
        else:
            del data[key]
    return empty


def _deny(tree: _Tree, data: Data) -> None:
    for key, sub in tree.items():
        if key not in data:
            continue
        if not sub:
            del data[key]
        else:
            value = data[key]
            if isinstance(value, dict):
                _deny(sub, value)


def _target(path: str) -> Formatter:
    parts = path.split(".")

    def target(data: Data) -> Data:
        value: Any = data
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return {}
            value = value[part]
        return value if isinstance(value, dict) else {}

    return target


def compile_formatter(
    *,
    target: str = "",
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    mapping: Mapping[str, str] | None = None,
    group: str = "",
    flatmap: Sequence[Mapping[str, Any]] | None = None,
) -> Formatter | None:
    """Compile the backend manipulations once; ``None`` when the backend asks for none.

    A backend ``flatmap_filter`` replaces allow/deny/mapping (target and group still apply).
    """
    steps: list[Formatter] = []
    if target:
        steps.append(_target(target))
    if flatmap:
        steps.append(compile_flatmap(flatmap))
    elif allow:
        allow_tree = _tree(allow)

        def allow_step(data: Data) -> Data:
            _allow(allow_tree, data)
            return data

        steps.append(allow_step)
    elif deny:
        deny_tree = _tree(deny)

        def deny_step(data: Data) -> Data:
            _deny(deny_tree, data)
            return data

        steps.append(deny_step)
    if mapping and not flatmap:
        # KrakenD uses only the first segment of a dotted new name
        renames = tuple((old, new.split(".")[0]) for old, new in mapping.items())

        def mapping_step(data: Data) -> Data:
            moved = [(new, data.pop(old)) for old, new in renames if old in data]
            for new, value in moved:
                data[new] = value
            return data

        steps.append(mapping_step)
    if group:

        def group_step(data: Data) -> Data:
            return {group: data}

        steps.append(group_step)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    chain = tuple(steps)

    def formatter(data: Data) -> Data:
        for step in chain:
            data = step(data)
        return data

    return formatter
