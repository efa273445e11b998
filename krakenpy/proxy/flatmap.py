"""``flatmap_filter`` operations (KrakenD's krakend/flatmap): ``move``, ``del``, ``append``.

Paths are dot separated; ``*`` matches every key of an object or every item of a list at that
level; numeric segments index lists. In ``move``, each ``*`` of the destination takes the key or
index the matching ``*`` of the source matched, so ``["a.*.b", "a.*.c"]`` renames inside every item.
``append`` adds the items of the source list (or the source value) to the destination list and
removes the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["FlatmapError", "compile_flatmap"]

_MISSING = object()


class FlatmapError(ValueError):
    """A malformed operation; ``field`` names the key at fault ("" for the whole operation)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _matches(node: Any, parts: Sequence[str], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every concrete path (tuple of keys/indexes as strings) matching ``parts`` under ``node``."""
    if not parts:
        yield prefix
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else ([head] if head in node else [])
        for key in keys:
            yield from _matches(node[key], rest, (*prefix, key))
    elif isinstance(node, list):
        if head == "*":
            indexes = range(len(node))
        elif head.isdigit() and int(head) < len(node):
            indexes = range(int(head), int(head) + 1)
        else:
            indexes = range(0)
        for i in indexes:
            yield from _matches(node[i], rest, (*prefix, str(i)))


def _get(root: Any, path: Sequence[str]) -> Any:
    node = root
    for part in path:
        if isinstance(node, dict):
            if part not in node:
                return _MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _delete(root: Any, path: Sequence[str]) -> None:
    parent = _get(root, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent[int(last)] = _MISSING  # compacted after the operation, so indexes stay valid


def _compact(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _compact(value)
        return node
    if isinstance(node, list):
        return [_compact(v) for v in node if v is not _MISSING]
    return node


def _set(root: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node: Any = root
    for part in path[:-1]:
        if isinstance(node, dict):
            nxt = node.get(part)
            if not isinstance(nxt, dict | list):
                nxt = {}
                node[part] = nxt
            node = nxt
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and last.isdigit():
        i = int(last)
        if i < len(node):
            node[i] = value
        elif i == len(node):
            node.append(value)


def _fill(pattern: Sequence[str], matched: Sequence[str], source: Sequence[str]) -> list[str]:
    wild = [matched[i] for i, part in enumerate(source) if part == "*"]
    out: list[str] = []
    for part in pattern:
        if part == "*" and wild:
            out.append(wild.pop(0))
        else:
            out.append(part)
    return out


def _op(spec: Mapping[str, Any]) -> Callable[[dict[str, Any]], None]:
    kind = spec.get("type")
    raw = spec.get("args") or []
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise FlatmapError("args", "expected a list of dot-separated paths")
    args: list[str] = raw
    if kind == "del":
        paths = [a.split(".") for a in args]

        def delete(data: dict[str, Any]) -> None:
            for parts in paths:
                for found in list(_matches(data, parts)):
                    _delete(data, found)

        return delete
    if kind in ("move", "append") and len(args) == 2:
        src, dst = args[0].split("."), args[1].split(".")

        def move(data: dict[str, Any]) -> None:
            for found in list(_matches(data, src)):
                value = _get(data, found)
                if value is _MISSING:
                    continue
                target = _fill(dst, found, src)
                _delete(data, found)
                if kind == "append":
                    current = _get(data, target)
                    items = list(value) if isinstance(value, list) else [value]
                    if isinstance(current, list):
                        current.extend(items)
                        continue
                    value = ([] if current is _MISSING else [current]) + items
                _set(data, target, value)

        return move
    raise FlatmapError("", f"unknown flatmap operation {spec!r}")


def _refuse(spec: object) -> Callable[[dict[str, Any]], None]:
    raise FlatmapError("", "expected a flatmap operation object")


def compile_flatmap(specs: Sequence[Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Compile a ``flatmap_filter`` list once. Unknown operations and malformed ones raise
    ``ValueError`` (config error)."""
    ops = [_op(s) if isinstance(s, Mapping) else _refuse(s) for s in specs]

    def flatmap(data: dict[str, Any]) -> dict[str, Any]:
        for op in ops:
            op(data)
        result = _compact(data)
        return result if isinstance(result, dict) else {}

    return flatmap
