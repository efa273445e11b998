"""The ``content-replacer`` plugin (KrakenD Enterprise, ``plugin/req-resp-modifier``): string fields of
the response data, named by a dotted path through objects (``data.credit_card``; arrays are not
entered), get a literal replacement (Go's ``strings.ReplaceAll``) or, with ``regexp: true``, Go's
``ReplaceAllString`` (``${1}``). A field that is absent or not a string is left alone. At an
endpoint it edits the merged answer; at a backend, that backend's answer before the merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from krakenpy.components.base import Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

if TYPE_CHECKING:
    from krakenpy.goregex import GoRegex

__all__ = ["ContentReplacerOptions", "Rule", "content_replacer", "parse"]


@dataclass(frozen=True, slots=True)
class Rule:
    path: tuple[str, ...]
    find: str
    replace: str
    regex: GoRegex | None = None

    def apply(self, text: str) -> str:
        return (
            self.regex.replace_all(text, self.replace)
            if self.regex is not None
            else text.replace(self.find, self.replace)
        )


@dataclass(frozen=True, slots=True)
class ContentReplacerOptions:
    rules: tuple[Rule, ...]


def parse(raw: Mapping[str, Any], site: Site) -> ContentReplacerOptions:
    """One rule per field (``@`` comment keys skipped); a pattern Go refuses is an error at its ``find``."""
    from krakenpy.goregex import GoRegexError, compile_go

    rules: list[Rule] = []
    issues: list[ConfigIssue] = []
    for field, spec in raw.items():
        # only @ keys are comments: _id, $ref and #tag are field names an answer can have
        if field.startswith("@") or not isinstance(spec, Mapping):
            continue
        find, replacement = str(spec.get("find", "")), str(spec.get("replace", ""))
        regex = None
        if spec.get("regexp"):
            try:
                regex = compile_go(find)
            except GoRegexError as exc:
                issues.append(ConfigIssue(site.at(field, "find"), f"invalid regular expression: {exc}"))
                continue
        rules.append(Rule(tuple(field.split(".")), find, replacement, regex))
    if issues:
        raise ConfigError(issues)
    return ContentReplacerOptions(tuple(rules))


def _replaced(data: dict[str, Any], rule: Rule) -> dict[str, Any] | None:
    """``data`` with the rule applied, copied along the path (the answer may be shared: a cache, a
    static backend); ``None`` when the path does not end at a string."""
    *parents, last = rule.path
    chain = [data]
    for key in parents:
        child = chain[-1].get(key)
        if not isinstance(child, dict):
            return None
        chain.append(child)
    value = chain[-1].get(last)
    if not isinstance(value, str):
        return None
    new: Any = rule.apply(value)
    for node, key in zip(reversed(chain), reversed(rule.path), strict=True):
        new = {**node, key: new}
    result: dict[str, Any] = new
    return result


def content_replacer(options: ContentReplacerOptions) -> Middleware:
    """The rules, compiled once, applied to each answer in order."""
    rules = options.rules

    def middleware(next_proxy: Proxy) -> Proxy:
        async def proxy(request: Request) -> Response:
            response = await next_proxy(request)
            data = response.data
            for rule in rules:
                changed = _replaced(data, rule) if data else None
                if changed is not None:
                    data = changed
            response.data = data
            return response

        return proxy

    return middleware
