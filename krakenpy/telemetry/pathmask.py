"""Path parameters that carry secrets (``/password-reset/{token}``): which segments of a request's
path the telemetry masks, worked out once per endpoint template at start-up.

Two readings, one per kind of output:

- :meth:`PathMasks.mask` (access log lines, the SERVER span's URL, audit records): the matched
  route's template (``HttpRequest.route``) names the segments; one dict read for a request of any
  route, the path split only on a route with a sensitive parameter. A request without a route (an
  edge guard's answer, a 404 or 405) is masked by its path's shape, as :meth:`PathMasks.values`.
- :meth:`PathMasks.values` (texts written while the request runs: failure lines, ``return_error_msg``,
  a Lua error, the backend's URL on spans and in the backend log): the sensitive segments' values,
  found by the path's shape (its segment count and static segments), masked as literals as the
  request's other credentials are (:meth:`~krakenpy.telemetry.redact.Redactor.request_secrets`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

__all__ = ["DEFAULT_PATH_PARAMS", "PathMasks", "path_masks"]

#: name endings of path parameters whose values are secrets: a name is compared lower-case without
#: ``_`` and ``-`` (``{token}``, ``{access_token}``, ``{publicToken}``, ``{user-password}``,
#: ``{clientSecret}``, ``{apiKey}``; not ``{tokenId}``, ``{code}``, ``{key}``: ids and ordinary values)
DEFAULT_PATH_PARAMS: Final = ("token", "password", "passwd", "secret", "apikey")
_PARAM: Final = re.compile(r"^\{([^}]+)\}$")
_SLASHES: Final = re.compile(r"/+")
#: what the request builder leaves unescaped in a value it puts in a backend URL's path and query
#: (``krakenpy.proxy.request_builder``'s ``_PATH_SAFE``, ``_QUERY_SAFE``): a value is masked as the
#: backend's URL carries it (``ab'cd"`` as ``ab'cd%22``, which ``quote`` spells ``ab%27cd%22``)
_BACKEND_PATH_SAFE: Final = "-._~!$&'()*+,;=:@"
_BACKEND_QUERY_SAFE: Final = "-._~!$'()*,;:@/?"


class PathMasks:
    """The segments to mask per endpoint template (only templates with a sensitive parameter)."""

    def __init__(
        self, templates: Iterable[str], names: Iterable[str], endings: Iterable[str], mask: str, min_secret: int
    ) -> None:
        wanted = frozenset(n.lower() for n in names)
        ends = tuple(_plain(e) for e in endings)
        #: template → indexes (in ``path.split("/")``) of its sensitive segments
        self.by_route: dict[str, tuple[int, ...]] = {}
        #: segment count → (static segments or None per position, sensitive indexes)
        self._shapes: dict[int, list[tuple[tuple[str | None, ...], tuple[int, ...]]]] = {}
        #: the same shapes, their static segments lower-case (a path with no route: a redirect's)
        self._folded: dict[int, list[tuple[tuple[str | None, ...], tuple[int, ...]]]] = {}
        #: the endpoints without a parameter: a path that is one is that route (static segments win
        #: in the router), no value of a sensitive template of its shape (``/reset/status``)
        self._static: frozenset[str] = frozenset()
        self._mask = mask
        self._min = min_secret
        # templates of one shape (``/items/{id}`` GET, ``/items/{token}`` DELETE) share one router
        # node, whose route is the first one's template: each of them masks what any of them names
        groups: dict[tuple[str | None, ...], tuple[list[str], set[int]]] = {}
        for template in templates:
            segments = template.split("/")
            params = [_PARAM.match(s) for s in segments]
            shape = tuple(None if m is not None else s for s, m in zip(segments, params, strict=True))
            members, named = groups.setdefault(shape, ([], set()))
            members.append(template)
            named.update(
                i
                for i, m in enumerate(params)
                if m is not None and (m[1].lower() in wanted or (ends and _plain(m[1]).endswith(ends)))
            )
        self._static = frozenset(t for shape in groups if None not in shape for t in groups[shape][0])
        for shape, (members, found) in groups.items():
            if not found:
                continue
            where = tuple(sorted(found))
            for template in members:
                self.by_route[template] = where
            self._shapes.setdefault(len(shape), []).append((shape, where))
            folded = tuple(s.lower() if s is not None else None for s in shape)
            self._folded.setdefault(len(shape), []).append((folded, where))

    def mask(self, route: str | None, routed: str, shown: str) -> str:
        """``shown`` (the path as logged: the client's) with the sensitive segments of ``route``
        masked; ``routed`` is the path the route matched (``request.path`` after a rewrite, usually
        ``shown`` itself). Any other route's path comes back as it is."""
        if route is not None:
            where = self.by_route.get(route)
            if where is None:
                return shown
        else:  # no route (an edge guard's answer before routing, a 404 or 405): the path's shape decides
            if routed in self._static:
                return shown
            where = self._where(routed)
            if not where:
                return self._near(routed, shown)
        mask = self._mask
        segments = routed.split("/")
        if routed == shown:
            for i in where:
                if i < len(segments) and segments[i]:
                    segments[i] = mask
            return "/".join(segments)
        # rewritten (url-rewrite, a virtual host): the routed path's values masked where the client's
        # path holds them
        return self._hide({segments[i] for i in where if i < len(segments) and segments[i]}, shown)

    def _hide(self, values: set[str], shown: str) -> str:
        """``shown`` with ``values`` masked as whole segments, and, when at least ``min_secret``
        characters long, anywhere in it (a regexp rewrite from ``/old-{value}``)."""
        mask = self._mask
        out = "/".join(mask if s in values else s for s in shown.split("/"))
        for value in sorted(values, key=len, reverse=True):
            if len(value) >= self._min and value in out:
                out = out.replace(value, mask)
        return out

    def _near(self, path: str, shown: str) -> str:
        """A path with no route and no sensitive template's exact shape, which the router may still
        send to one (a redirect: a trailing slash, another case, ``//`` or ``.`` segments) or which
        holds a value with an encoded slash (``/reset/ab%2Fcd``, decoded one segment longer: a 404):
        masked by the shape of its cleaned form, static segments in any case; a path longer than a
        sensitive template whose static segments it starts and ends with, from the template's first
        sensitive segment to its last (the most specific such templates)."""
        cleaned = posixpath.normpath(_SLASHES.sub("/", path)) if path.startswith("/") else path
        if cleaned in self._static:  # /reset/status/ redirected to the static /reset/status
            return shown
        segments = cleaned.split("/")
        folded = [seg.lower() for seg in segments]
        size = len(segments)
        hidden: set[int] = set()
        for shape, where in self._folded.get(size, ()):
            if all(s is None or s == seg for s, seg in zip(shape, folded, strict=True)):
                hidden.update(where)
        if not hidden:
            for count in sorted((c for c in self._folded if c < size), reverse=True):
                for shape, where in self._folded[count]:
                    first, after = where[0], where[-1] + 1
                    back = size - (count - after)  # where the template's trailing static segments start
                    if all(s is None or s == seg for s, seg in zip(shape[:first], folded[:first], strict=True)) and all(
                        s is None or s == seg for s, seg in zip(shape[after:], folded[back:], strict=True)
                    ):
                        hidden.update(range(first, back))
                if hidden:
                    break
        if not hidden:
            return shown
        if cleaned == shown:
            return "/".join(self._mask if i in hidden and seg else seg for i, seg in enumerate(segments))
        return self._hide({segments[i] for i in hidden if segments[i]}, shown)

    def _where(self, path: str) -> tuple[int, ...]:
        """The sensitive indexes of every template of ``path``'s shape (none matched: empty)."""
        segments = path.split("/")
        found: set[int] = set()
        for shape, where in self._shapes.get(len(segments), ()):
            if all(s is None or s == seg for s, seg in zip(shape, segments, strict=True)):
                found.update(where)
        return tuple(sorted(found))

    def values(self, path: str) -> tuple[str, ...]:
        """The sensitive segment values of ``path`` (as the router decoded them, and percent-encoded
        as a backend URL carries them), at least ``min_secret`` characters: every template of the
        path's shape counts (a path that is a parameterless endpoint has none)."""
        segments = path.split("/")
        shapes = self._shapes.get(len(segments))
        if not shapes or path in self._static:
            return ()
        found: set[str] = set()
        for shape, where in shapes:
            if all(s is None or s == seg for s, seg in zip(shape, segments, strict=True)):
                for i in where:
                    value = segments[i]
                    if len(value) >= self._min:
                        found.add(value)
                        found.add(quote(value, safe="", errors="surrogateescape"))
                        found.add(quote(value, errors="surrogateescape"))
                        # as the request builder escapes it in a url_pattern's path and query
                        found.add(quote(value, safe=_BACKEND_PATH_SAFE, errors="surrogateescape"))
                        found.add(quote(value, safe=_BACKEND_QUERY_SAFE, errors="surrogateescape"))
        return tuple(found)


def _plain(name: str) -> str:
    """A parameter name as the endings compare it: lower-case, without ``_`` and ``-``."""
    return name.lower().replace("_", "").replace("-", "")


def path_masks(
    templates: Iterable[str], names: Iterable[str], endings: Iterable[str], mask: str, min_secret: int
) -> PathMasks | None:
    """The masks of ``templates``: a parameter is sensitive when ``names`` has it (any case) or its
    name ends with one of ``endings`` (:data:`DEFAULT_PATH_PARAMS`); ``None`` when no template has a
    sensitive parameter (every output then writes paths as before, at no cost)."""
    masks = PathMasks(templates, names, endings, mask, min_secret)
    return masks if masks.by_route else None
