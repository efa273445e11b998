"""Security recommendations for a configuration: KrakenD's ``audit`` rules
(:mod:`~krakenpy.commands.audit_krakend`) and krakenpy's own (``KP.*``), which read values, not only
which components are present, and name where a finding sits."""

from __future__ import annotations

from collections.abc import Mapping

from krakenpy.commands.audit_facts import SEVERITIES, Facts, Finding, Rule
from krakenpy.commands.audit_krakend import KRAKEND_RULES
from krakenpy.gateway import Loaded

__all__ = ["RULES", "SEVERITIES", "Finding", "Rule", "audit"]

_AUTH = ("auth/validator", "auth/signer", "auth/basic", "auth/api-keys")


def _open_libs(f: Facts) -> list[str]:
    found = []
    for ns in ("modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend"):
        found += [p for p, lua in f.values(ns) if lua.get("allow_open_libs")]
    return found


def _lambda_without_allow_list(f: Facts) -> list[str]:
    return [
        p
        for p, lam in f.values("backend/lambda")
        if lam.get("function_param_name") and not lam.get("allowed_functions")
    ]


def _jwk_over_http(f: Facts) -> list[str]:
    found = []
    for ns in ("auth/validator", "auth/signer"):
        found += [p for p, jose in f.values(ns) if str(jose.get("jwk_url", "")).lower().startswith("http://")]
    return found


def _jwk_security_disabled(f: Facts) -> list[str]:
    found = []
    for ns in ("auth/validator", "auth/signer"):
        found += [p for p, jose in f.values(ns) if jose.get("disable_jwk_security")]
    return found


def _auth_without_rate_limit(f: Facts) -> list[str]:
    return [
        f"{e.path}.extra_config"
        for e in f.service.endpoints
        if any(ns in e.extra_config for ns in _AUTH)
        and not any(ns.startswith("qos/ratelimit/router") for ns in e.extra_config)
    ]


def _cors_credentials_any_origin(f: Facts) -> list[str]:
    cors = f.svc.get("security/cors")
    if not isinstance(cors, Mapping) or not cors.get("allow_credentials"):
        return []
    origins = cors.get("allow_origins") or ["*"]
    return ["extra_config.security/cors"] if any("*" == o for o in origins) else []


def _echo_on_all_interfaces(f: Facts) -> list[str]:
    return ["echo_endpoint"] if f.service.echo_endpoint and not f.service.listen_ip else []


def _live_lua(f: Facts) -> list[str]:
    found = []
    for ns in ("modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend"):
        found += [p for p, lua in f.values(ns) if lua.get("live")]
    return found


KRAKENPY_RULES: tuple[Rule, ...] = (
    Rule(
        "KP.1.1",
        "HIGH",
        "Access-control namespaces krakenpy does not implement: run refuses to serve them.",
        lambda f: list(f.loaded.enforcing),
    ),
    Rule("KP.1.2", "HIGH", "Keep the Lua sandbox: allow_open_libs gives scripts io, os and package.", _open_libs),
    Rule(
        "KP.1.3",
        "HIGH",
        "Restrict Lambda names taken from a parameter with allowed_functions.",
        _lambda_without_allow_list,
    ),
    Rule(
        "KP.1.4",
        "HIGH",
        "Fetch JWK sets over https (jwk_url uses http, allowed by disable_jwk_security).",
        _jwk_over_http,
    ),
    Rule("KP.1.5", "HIGH", "Do not disable JWK security (disable_jwk_security) in production.", _jwk_security_disabled),
    Rule(
        "KP.2.1",
        "MEDIUM",
        "Rate-limit endpoints that check or issue credentials (qos/ratelimit/router).",
        _auth_without_rate_limit,
    ),
    Rule(
        "KP.2.2",
        "HIGH",
        "Do not allow credentials from any origin in CORS (allow_credentials with '*').",
        _cors_credentials_any_origin,
    ),
    Rule(
        "KP.3.1",
        "LOW",
        "Bind to an explicit listen_ip: the gateway listens on every interface.",
        lambda f: not f.service.listen_ip,
    ),
    Rule(
        "KP.3.2",
        "HIGH",
        "Do not expose /__echo/ on every interface: it reflects request headers (Authorization, cookies).",
        _echo_on_all_interfaces,
    ),
    Rule("KP.3.3", "LOW", "Ship fixed Lua sources: live reloads them from disk while serving.", _live_lua),
)

RULES: tuple[Rule, ...] = KRAKEND_RULES + KRAKENPY_RULES


def audit(loaded: Loaded, *, ignore: set[str], severities: set[str]) -> list[Finding]:
    """Every rule that applies, in rule order, except ignored rules and other severities."""
    facts = Facts(loaded)
    findings = []
    for rule in RULES:
        if rule.id in ignore or rule.severity not in severities:
            continue
        result = rule.check(facts)
        if result:
            where = tuple(result) if isinstance(result, list) else ()
            findings.append(Finding(rule.id, rule.severity, rule.message, where))
    return findings
