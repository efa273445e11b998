"""``security/bot-detector`` options: exact allow and deny lists, Go regexps, the LRU size.

A pattern Go would refuse is a config error at its JSON path; KrakenD logs a warning and serves
without any bot detection (fail-open).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.goregex import GoRegex, GoRegexError, compile_go

__all__ = ["BotOptions", "parse_bot"]

_LISTS: Final = ("allow", "deny", "patterns")


@dataclass(frozen=True, slots=True)
class BotOptions:
    """One ``security/bot-detector`` value."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    patterns: tuple[GoRegex, ...] = ()
    empty_user_agent_is_bot: bool = False
    #: decisions remembered per User-Agent (least recently used evicted); 0 = no cache
    cache_size: int = 0


def parse_bot(raw: Any, path: str) -> BotOptions:
    """Options from the namespace value at JSON path ``path``; raises :class:`ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(path, "must be an object")])
    issues: list[ConfigIssue] = []
    lists: dict[str, list[str]] = {}
    for key in _LISTS:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.append(ConfigIssue(f"{path}.{key}", "must be a list of strings"))
            value = []
        lists[key] = value
    patterns: list[GoRegex] = []
    for i, pattern in enumerate(lists["patterns"]):
        try:
            patterns.append(compile_go(pattern))
        except GoRegexError as exc:
            issues.append(ConfigIssue(f"{path}.patterns[{i}]", f"not a Go regular expression: {exc}"))
    empty = raw.get("empty_user_agent_is_bot", False)
    if not isinstance(empty, bool):
        issues.append(ConfigIssue(f"{path}.empty_user_agent_is_bot", "must be true or false"))
    size = raw.get("cache_size", 0)
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        issues.append(ConfigIssue(f"{path}.cache_size", "must be a whole number of entries (0 = no cache)"))
    if issues:
        raise ConfigError(issues)
    return BotOptions(
        allow=frozenset(lists["allow"]),
        deny=frozenset(lists["deny"]),
        patterns=tuple(patterns),
        empty_user_agent_is_bot=bool(empty),
        cache_size=size,
    )
