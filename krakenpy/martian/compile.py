"""Compile a ``modifier/martian`` value: filters and groups around the leaf modifiers of
:mod:`.headers` and :mod:`.urls`.

Every entry is ``{"<kind>": {"scope": [...], ...}}``; the scope says whether its step runs on the
upstream request, its response, or both (default: both). A filter runs its ``modifier`` when its
condition holds and its ``else`` otherwise; ``fifo.Group`` runs its members in order,
``priority.Group`` by descending ``priority``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from krakenpy.martian import headers, urls
from krakenpy.martian.base import Compiled, Cond, Step, fail, scoped

__all__ = ["KINDS", "compile_modifier"]

#: martian's verifiers record expectations for a verification API KrakenD does not serve: no effect
VERIFIERS = frozenset({"status.Verifier", "header.Verifier", "querystring.Verifier", "url.Verifier", "body.Verifier"})


def _filter(condition: Callable[[Mapping[str, Any], str], Cond]) -> Callable[[Mapping[str, Any], str], Compiled]:
    def build(spec: Mapping[str, Any], path: str) -> Compiled:
        cond = condition(spec, path)
        then = compile_modifier(spec["modifier"], f"{path}.modifier") if spec.get("modifier") else (None, None)
        other = compile_modifier(spec["else"], f"{path}.else") if spec.get("else") else (None, None)

        def phase(i: int) -> Step | None:
            yes, no = then[i], other[i]
            if yes is None and no is None:
                return None

            def run(m: Any) -> None:
                step = yes if cond(m) else no
                if step is not None:
                    step(m)

            return run

        return scoped(spec, path, phase(0), phase(1))

    return build


def _group(steps: list[Compiled], spec: Mapping[str, Any], path: str) -> Compiled:
    def phase(i: int) -> Step | None:
        chosen: tuple[Step, ...] = tuple(step for s in steps if (step := s[i]) is not None)
        if not chosen:
            return None
        if len(chosen) == 1:
            return chosen[0]

        def run(m: Any) -> None:
            for step in chosen:
                step(m)

        return run

    return scoped(spec, path, phase(0), phase(1))


def _fifo_group(spec: Mapping[str, Any], path: str) -> Compiled:
    members = spec.get("modifiers") or []
    if not isinstance(members, list):
        raise fail(f"{path}.modifiers", "expected a list of modifiers")
    return _group([compile_modifier(m, f"{path}.modifiers[{i}]") for i, m in enumerate(members)], spec, path)


def _priority_group(spec: Mapping[str, Any], path: str) -> Compiled:
    members = spec.get("modifiers") or []
    if not isinstance(members, list):
        raise fail(f"{path}.modifiers", "expected a list of {priority, modifier}")
    ranked: list[tuple[int, Compiled]] = []
    for i, member in enumerate(members):
        where = f"{path}.modifiers[{i}]"
        if not isinstance(member, Mapping) or not isinstance(member.get("priority"), int):
            raise fail(where, "expected {priority: N, modifier: {...}}")
        ranked.append((member["priority"], compile_modifier(member.get("modifier"), f"{where}.modifier")))
    ranked.sort(key=lambda item: -item[0])  # stable: equal priorities keep their order
    return _group([c for _, c in ranked], spec, path)


_KINDS: dict[str, Callable[[Mapping[str, Any], str], Compiled]] = {
    "header.Modifier": headers.header_modifier,
    "header.Append": headers.header_append,
    "header.Copy": headers.header_copy,
    "header.Blacklist": headers.header_blacklist,
    "header.Id": headers.header_id,
    "header.Filter": _filter(headers.header_condition),
    "header.RegexFilter": _filter(headers.header_regex_condition),
    "cookie.Modifier": headers.cookie_modifier,
    "cookie.Filter": _filter(headers.cookie_condition),
    "body.Modifier": headers.body_modifier,
    "querystring.Modifier": urls.querystring_modifier,
    "querystring.Filter": _filter(urls.querystring_condition),
    "url.Modifier": urls.url_modifier,
    "url.Filter": _filter(urls.url_condition),
    "url.RegexFilter": _filter(urls.url_regex_condition),
    "port.Modifier": urls.port_modifier,
    "port.Filter": _filter(urls.port_condition),
    "stash.Modifier": urls.stash_modifier,
    "fifo.Group": _fifo_group,
    "priority.Group": _priority_group,
}
#: every kind krakenpy accepts
KINDS = frozenset(_KINDS) | VERIFIERS


def compile_modifier(spec: Any, path: str) -> Compiled:
    """Compile one ``{"<kind>": {...}}`` object; unknown kinds and bad fields are config errors."""
    if not isinstance(spec, Mapping):
        raise fail(path, "expected an object with one modifier")
    kinds = [k for k in spec if not (isinstance(k, str) and k[:1] in "@$_#")]
    if len(kinds) != 1:
        raise fail(path, f"expected exactly one modifier, found {len(kinds)}")
    kind = kinds[0]
    where = f"{path}.{kind}"
    if kind in VERIFIERS:
        return (None, None)
    build = _KINDS.get(kind)
    if build is None:
        raise fail(where, f"unknown Martian modifier (krakenpy knows {', '.join(sorted(KINDS))})")
    config = spec[kind]
    if not isinstance(config, Mapping):
        raise fail(where, "expected an object")
    return build(config, where)
