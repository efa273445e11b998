"""``backend/conditional`` (backend, KrakenD Enterprise field names): a rule decides per request whether
the backend is called; a backend whose rule is false is skipped: it adds nothing to the answer and
leaves it complete (no error, no log line), as if the endpoint did not list it.

Strategies: ``header`` (the header ``name`` carries ``value``, one of its values equal), ``policy`` (a
``security/policies`` ``req`` expression with the advanced macros: ``req_headers``, ``req_params``,
``req_querystring``...), ``fallback`` (called only when every other conditional backend of the
endpoint is skipped). The rules run on the backend's request, after the request builder: in a
sequential proxy a rule sees the earlier answers' ``Resp0_*`` params. The policies compile at
start-up (a policy that does not compile is a ``check`` error at its path).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.names import canonical_header
from krakenpy.proxy.types import Middleware, Proxy, Request, Response, keeps_maps, task_free
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.policies.engine import Section

__all__ = ["COMPONENT", "NAMESPACE", "Rule"]

NAMESPACE: Final = "backend/conditional"
log = logging.getLogger("krakenpy.conditional")


@dataclass(frozen=True, slots=True)
class Rule:
    """One backend's rule: ``strategy`` with its header ``name`` and ``value``, or its compiled policy."""

    strategy: str
    name: str = ""
    value: str = ""
    policy: Section | None = None

    def holds(self, request: Request) -> bool:
        """Whether the backend is called for ``request`` (a fallback's own rule is never asked)."""
        if self.strategy == "header":
            return self.value in request.headers.get(self.name, ())
        if self.policy is None:
            return False
        failure = self.policy.first_failure(request, request, _now(self.policy))
        if failure is not None and failure[1].startswith(("evaluation error", "cannot bind")):
            # false, as EE skips without an error; a debug line helps find a policy that never holds
            log.debug("%s: %s", NAMESPACE, failure[1])
        return failure is None


def _now(section: Section) -> str:
    from krakenpy.cel import now_string

    return now_string() if section.wants_now else ""


def _fallbacks_before(site: Site) -> list[int]:
    """Indexes of the endpoint's backends before this one that are fallbacks too."""
    if site.endpoint is None or site.backend is None:
        return []
    found: list[int] = []
    for other in site.endpoint.backends[: site.backend.index]:
        value = other.extra_config.get(NAMESPACE)
        if isinstance(value, Mapping) and value.get("strategy") == "fallback":
            found.append(other.index)
    return found


def _parse(raw: Mapping[str, Any], site: Site) -> Rule:
    strategy = raw["strategy"]
    value = raw.get("value", "")
    if strategy == "fallback":
        earlier = _fallbacks_before(site)
        if earlier:
            message = f"only one fallback backend per endpoint: backend[{earlier[0]}] is one already"
            raise ConfigError([ConfigIssue(site.at("strategy"), message)])
        return Rule("fallback")
    if not isinstance(value, str) or not value:
        raise ConfigError([ConfigIssue(site.at("value"), f"the {strategy} strategy needs a value")])
    if strategy == "header":
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError([ConfigIssue(site.at("name"), "the header strategy needs the header name")])
        return Rule("header", canonical_header(name), value)
    from krakenpy.policies.engine import compile_section

    section = compile_section([(site.at("value"), value)], "req", macros=True, auto_join=False)
    return Rule("policy", policy=section)


def _skipped() -> Response:
    return Response(data={})


def _middleware(call: Any) -> Middleware:
    """Call the backend when ``call(request)`` is true, else answer as a skipped backend."""

    @keeps_maps
    @task_free
    def middleware(next_proxy: Proxy) -> Proxy:
        async def conditional(request: Request) -> Response:
            if call(request):
                return await next_proxy(request)
            return _skipped()

        return conditional

    return middleware


def _others(site: Site, resources: Resources) -> Sequence[Rule]:
    """The rules of the endpoint's other conditional backends (what a fallback waits on)."""
    assert site.endpoint is not None and site.backend is not None
    rules: list[Rule] = []
    for other in site.endpoint.backends:
        rule = resources.parsed.get(other.path, {}).get(NAMESPACE)
        if isinstance(rule, Rule) and rule.strategy != "fallback":
            rules.append(rule)
    return tuple(rules)


async def _build_backend(rule: Rule, site: Site, resources: Resources) -> Middleware | None:
    if site.level != "backend" or site.backend is None or site.endpoint is None:
        return None
    if rule.strategy != "fallback":
        return _middleware(rule.holds)
    others = _others(site, resources)

    def nothing_else(request: Request) -> bool:
        # the other rules see the same request (a merge's copies; in a sequential proxy, the
        # params known when the fallback runs): re-evaluating them needs no shared state
        return not any(other.holds(request) for other in others)

    return _middleware(nothing_else)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="calls the backend only when a header matches or a policy holds (or, as fallback, when no other does)",
    backend=_build_backend,
    edition="ee",
)
