"""``auth/client-credentials``: an OAuth2 client-credentials token on every call of one backend."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware
from krakenpy.backends.conntiming import untimed
from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.oauth2.clientcredentials import ClientCredentials, TokenSource, client_credentials_middleware
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "auth/client-credentials"
#: token URL → client authentication style that worked, shared by the gateway's token sources
_STYLES: Final = Key("oauth2 auth styles", dict)


def parse(raw: Any, site: Site) -> ClientCredentials | None:
    """``None`` when ``is_disabled``; ``scopes`` is one comma-separated string, as in KrakenD."""
    if raw.get("is_disabled", False):
        return None
    issues: list[ConfigIssue] = []
    for name in ("client_id", "client_secret", "token_url"):
        if not isinstance(raw.get(name), str) or not raw.get(name):
            issues.append(ConfigIssue(site.at(name), "required"))
    url = str(raw.get("token_url") or "")
    if url and not url.startswith(("http://", "https://")):
        issues.append(ConfigIssue(site.at("token_url"), f"not an http(s) URL: {url!r}"))
    params: dict[str, tuple[str, ...]] = {}
    for name, values in (raw.get("endpoint_params") or {}).items():
        # KrakenD panics at start-up on a value that is not a list of strings
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            issues.append(ConfigIssue(site.at("endpoint_params", name), "expected a list of strings"))
            continue
        params[name] = tuple(values)
    if issues:
        raise ConfigError(issues)
    scopes = tuple(s for s in str(raw.get("scopes") or "").split(",") if s)
    return ClientCredentials(str(raw["client_id"]), str(raw["client_secret"]), url, scopes, params)


async def build(options: ClientCredentials | None, site: Site, resources: Resources) -> ClientMiddleware | None:
    """One token source per backend, fetching through the gateway's upstream client."""
    if options is None:
        return None
    styles = resources.state.setdefault(_STYLES, dict)
    # the token request runs inside the backend call's client layers: kept out of its timings
    fetch = untimed(resources.http.request) if resources.client_timing else resources.http.request
    from krakenpy.telemetry.setup import hub_for, register_credentials

    # the configured secret, masked wherever a text or logged body quotes it (a token endpoint's error)
    register_credentials(resources, secrets=(options.client_secret,))
    mask = hub_for(resources).redactor.mask
    return client_credentials_middleware(TokenSource(options, fetch, styles=styles), mask)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=parse,
    summary="OAuth2 client-credentials token (cached until 10 s before expiry) on every call of the backend",
    client=build,
)
