"""The ``url-rewrite`` plugin (KrakenD Enterprise, ``plugin/http-server``): extra paths for existing
endpoints, rewritten before the router. A ``literal`` path (the whole decoded path, exactly) wins;
else the first ``regexp`` pair whose Go pattern matches somewhere in the path rewrites it with Go's
``ReplaceAllString`` (``${1}``, ``$name``). The query string is kept; a path nothing matches goes on
unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from krakenpy.components.base import Site
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.telemetry.exchange import note_routed

if TYPE_CHECKING:
    from krakenpy.goregex import GoRegex

__all__ = ["UrlRewriteOptions", "parse", "url_rewrite"]

#: what stays unescaped when the rewritten path becomes the request target again (Go's EscapedPath)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True)
class UrlRewriteOptions:
    literal: Mapping[str, str]
    regexp: tuple[tuple[GoRegex, str], ...] = ()


def parse(raw: Mapping[str, Any], site: Site) -> UrlRewriteOptions:
    """Each ``regexp`` pair is a Go pattern and its replacement; a pattern Go refuses is an error."""
    from krakenpy.goregex import GoRegexError, compile_go

    issues: list[ConfigIssue] = []
    rules: list[tuple[GoRegex, str]] = []
    for i, pair in enumerate(raw.get("regexp") or ()):
        try:
            rules.append((compile_go(str(pair[0])), str(pair[1])))
        except GoRegexError as exc:
            issues.append(ConfigIssue(site.at("regexp", i, 0), f"invalid regular expression: {exc}"))
    if issues:
        raise ConfigError(issues)
    literal = {str(k): str(v) for k, v in (raw.get("literal") or {}).items()}
    if not literal and not rules:
        site.notes.append(ConfigIssue(site.path, "neither literal nor regexp: no path is rewritten", "warning"))
    return UrlRewriteOptions(literal, tuple(rules))


def url_rewrite(options: UrlRewriteOptions, *, note: bool = False) -> EdgeMiddleware:
    """The rewrite, tables compiled once; a request no rule matches costs one dict lookup per rule set.
    ``note``: an endpoint has a secret in its path (``/reset/{token}``): the path a request is routed
    by is kept for the telemetry's texts (:func:`~krakenpy.telemetry.exchange.note_routed`)."""
    literal, rules = dict(options.literal), options.regexp

    def plain(request: HttpRequest, target: str) -> None:
        request.path = target
        escaped = quote(target, safe=_PATH_SAFE, errors="surrogateescape")
        request.raw_path = escaped + ("?" + request.query_string if request.query_string else "")

    def noted(request: HttpRequest, target: str) -> None:
        plain(request, target)
        note_routed(request.context, target)

    rewrite = noted if note else plain

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            target = literal.get(request.path)
            if target is not None:
                rewrite(request, target)
                return next_handler(request)
            for regex, template in rules:
                if regex.search(request.path):
                    rewrite(request, regex.replace_all(request.path, template))
                    break
            return next_handler(request)

        return handle

    return middleware
