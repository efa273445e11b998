"""KrakenD's ``audit`` rules (krakend-audit sections 1-7): the same ids and severities, our own wording.
Like KrakenD's, they only ask which components and flags are present."""

from __future__ import annotations

from collections.abc import Mapping

from krakenpy.commands.audit_facts import Check, Facts, Rule

__all__ = ["KRAKEND_RULES"]

_METRICS = ("telemetry/metrics", "telemetry/newrelic", "telemetry/ganalytics", "telemetry/instana")
_RATE_LIMITS = ("qos/ratelimit/router", "qos/ratelimit/proxy", "qos/ratelimit/service", "qos/ratelimit/tiered")


def _no_rate_limit(f: Facts) -> bool:
    if any(f.find(ns) for ns in _RATE_LIMITS):
        return False
    return "redis-ratelimit" not in f.plugin_names("plugin/http-server", ("service",))


def _insecure_backend_client(f: Facts) -> bool:
    for _path, client in f.values("backend/http/client"):
        tls = client.get("client_tls")
        if isinstance(tls, Mapping) and tls.get("allow_insecure_connections"):
            return True
    return False


def _unlimited_cache(f: Facts) -> bool:
    return any(not (c.get("max_items") and c.get("max_size")) for _p, c in f.values("qos/http-cache"))


def _timeout_over(seconds: float) -> Check:
    return lambda f: any(e.timeout > seconds for e in f.service.endpoints)


def _write_backends(f: Facts) -> bool:
    return any(
        sum(b.method not in ("GET", "HEAD") or "backend/grpc" in b.extra_config for b in e.backends) > 1
        for e in f.service.endpoints
    )


def _sequential(f: Facts) -> bool:
    return any(
        isinstance(e.extra_config.get("proxy"), Mapping) and bool(e.extra_config["proxy"].get("sequential"))
        for e in f.service.endpoints
    )


def _several_telemetry(f: Facts) -> bool:
    return sum(ns in f.svc for ns in _METRICS) + f.otel()[0] > 1


def _empty_grpc_server(f: Facts) -> bool:
    grpc = f.svc.get("grpc")
    server = grpc.get("server") if isinstance(grpc, Mapping) else None
    return isinstance(server, Mapping) and not server.get("services")


def _h2c(f: Facts) -> bool:
    router = f.svc.get("router")
    return bool(f.raw.get("use_h2c")) or (isinstance(router, Mapping) and bool(router.get("use_h2c")))


def _insecure_connections(f: Facts) -> bool:
    client_tls = f.raw.get("client_tls")
    nested = isinstance(client_tls, Mapping) and bool(client_tls.get("allow_insecure_connections"))
    return bool(f.raw.get("allow_insecure_connections")) or nested


def _hides_version(f: Facts) -> bool:
    router = f.svc.get("router")
    return isinstance(router, Mapping) and bool(router.get("hide_version_header"))


KRAKEND_RULES: tuple[Rule, ...] = (
    # Section 1: security (KrakenD)
    Rule(
        "1.1.1",
        "HIGH",
        "Basic Auth is in use: prefer a stronger authentication method.",
        lambda f: (
            "basic-auth" in f.plugin_names("plugin/http-server", ("service",))
            or bool(f.find("auth/basic", ("service", "endpoint")))
        ),
    ),
    Rule(
        "1.1.2",
        "MEDIUM",
        "API keys are in use: prefer stateless tokens (JWT) to authorize endpoints.",
        lambda f: "auth/api-keys" in f.svc,
    ),
    Rule(
        "1.2.1",
        "HIGH",
        "No endpoint validates a JWT: protect endpoints with token authorization.",
        lambda f: not f.find("auth/validator", ("endpoint",)),
    ),
    # Section 2: service level
    Rule(
        "2.1.1",
        "HIGH",
        "Insecure TLS connections to backends are allowed (allow_insecure_connections).",
        _insecure_connections,
    ),
    Rule("2.1.2", "HIGH", "No TLS: enable it or terminate TLS in front of the gateway.", lambda f: f.tls() is None),
    Rule("2.1.3", "CRITICAL", "TLS is configured but disabled.", lambda f: (f.tls() or {}).get("disabled") is True),
    Rule("2.1.7", "HIGH", "No HTTP security headers (security/http).", lambda f: "security/http" not in f.svc),
    Rule("2.1.8", "HIGH", "Clear-text HTTP/2 (h2c) is on.", _h2c),
    Rule(
        "2.1.9",
        "LOW",
        "A backend client accepts insecure TLS connections (backend/http/client).",
        _insecure_backend_client,
    ),
    Rule(
        "2.2.1", "MEDIUM", "The version header is sent (router.hide_version_header).", lambda f: not _hides_version(f)
    ),
    Rule("2.2.2", "HIGH", "No CORS policy (security/cors).", lambda f: "security/cors" not in f.svc),
    Rule(
        "2.2.3",
        "HIGH",
        'An endpoint forwards every client header (input_headers: ["*"]).',
        lambda f: any("*" in e.input_headers for e in f.service.endpoints),
    ),
    Rule(
        "2.2.4",
        "HIGH",
        'An endpoint forwards every query string (input_query_strings: ["*"]).',
        lambda f: any("*" in e.input_query_strings for e in f.service.endpoints),
    ),
    Rule("2.2.5", "LOW", "A gRPC server is declared without services.", _empty_grpc_server),
    Rule("2.3.1", "MEDIUM", "An HTTP cache has no size or item limit (max_size, max_items).", _unlimited_cache),
    # Section 3: traffic management
    Rule("3.1.1", "LOW", "No bot detector (security/bot-detector).", lambda f: "security/bot-detector" not in f.svc),
    Rule("3.1.2", "HIGH", "No rate limit anywhere: add one (qos/ratelimit/*).", _no_rate_limit),
    Rule(
        "3.1.3",
        "HIGH",
        "No circuit breaker protects the backends (qos/circuit-breaker).",
        lambda f: not (f.find("qos/circuit-breaker", ("endpoint", "backend")) or f.find("qos/circuit-breaker/http")),
    ),
    Rule("3.3.1", "LOW", "An endpoint timeout is above 3 seconds.", _timeout_over(3)),
    Rule("3.3.2", "MEDIUM", "An endpoint timeout is above 5 seconds.", _timeout_over(5)),
    Rule("3.3.3", "HIGH", "An endpoint timeout is above 30 seconds.", _timeout_over(30)),
    Rule("3.3.4", "CRITICAL", "An endpoint timeout is above 1 minute.", _timeout_over(60)),
    # Section 4: telemetry
    Rule(
        "4.1.1",
        "MEDIUM",
        "No metrics are collected.",
        lambda f: not any(ns in f.svc for ns in _METRICS) and not f.otel()[0],
    ),
    Rule("4.1.2", "MEDIUM", "The service has no name to tell it apart in metrics.", lambda f: not f.service.name),
    Rule("4.1.3", "HIGH", "Several metrics systems are configured at once.", _several_telemetry),
    Rule(
        "4.2.1",
        "MEDIUM",
        "No traces are exported.",
        lambda f: not ("telemetry/newrelic" in f.svc or "telemetry/instana" in f.svc or f.otel()[1]),
    ),
    Rule(
        "4.3.1",
        "MEDIUM",
        "No logging component (telemetry/logging, gelf, logstash).",
        lambda f: not any(ns in f.svc for ns in ("telemetry/logging", "telemetry/gelf", "telemetry/logstash")),
    ),
    # Section 5: endpoints
    Rule("5.1.1", "LOW", "Non-RESTful endpoint paths are allowed (disable_rest).", lambda f: f.service.disable_rest),
    Rule("5.1.2", "LOW", "The /__debug/ endpoint is on.", lambda f: f.service.debug_endpoint),
    Rule("5.1.3", "LOW", "The /__echo/ endpoint is on.", lambda f: f.service.echo_endpoint),
    Rule(
        "5.1.4",
        "LOW",
        "A wildcard endpoint is declared.",
        lambda f: any(e.endpoint.endswith("*") for e in f.service.endpoints),
    ),
    Rule(
        "5.1.5",
        "MEDIUM",
        "A /__catchall endpoint is declared.",
        lambda f: any(e.endpoint == "/__catchall" for e in f.service.endpoints),
    ),
    Rule("5.1.6", "MEDIUM", "An endpoint writes to several backends (no transaction spans them).", _write_backends),
    Rule("5.1.7", "MEDIUM", "An endpoint uses the sequential proxy (latency adds up).", _sequential),
    Rule(
        "5.2.1", "CRITICAL", "An endpoint has no backend.", lambda f: any(not e.backends for e in f.service.endpoints)
    ),
    Rule(
        "5.2.2",
        "LOW",
        "Every endpoint has a single backend: aggregation is unused.",
        lambda f: all(len(e.backends) <= 1 for e in f.service.endpoints),
    ),
    Rule(
        "5.2.3",
        "LOW",
        "Every endpoint uses no-op encoding (clients see backends as they are).",
        lambda f: all(e.output_encoding == "no-op" for e in f.service.endpoints),
    ),
    # Section 6: async agents
    Rule(
        "6.1.1",
        "LOW",
        "Ten or more async agents start sequentially (sequential_start).",
        lambda f: bool(f.raw.get("sequential_start")) and len(f.raw.get("async_agent") or []) >= 10,
    ),
    # Section 7: deprecations
    Rule(
        "7.1.1",
        "HIGH",
        "Deprecated plugin: virtualhost.",
        lambda f: "virtualhost" in f.plugin_names("plugin/http-server", ("service",)),
    ),
    Rule(
        "7.1.2",
        "HIGH",
        "Deprecated plugin: static-filesystem.",
        lambda f: "static-filesystem" in f.plugin_names("plugin/http-server", ("service",)),
    ),
    Rule(
        "7.1.3",
        "HIGH",
        "Deprecated plugin: basic-auth (use auth/basic).",
        lambda f: "basic-auth" in f.plugin_names("plugin/http-server", ("service",)),
    ),
    Rule(
        "7.1.4",
        "HIGH",
        "Deprecated plugin: wildcard.",
        lambda f: "wildcard" in f.plugin_names("plugin/http-server", ("service",)),
    ),
    Rule(
        "7.1.5",
        "HIGH",
        "Deprecated plugin: http-proxy.",
        lambda f: "http-proxy" in f.plugin_names("plugin/http-client", ("endpoint", "backend")),
    ),
    Rule(
        "7.1.6",
        "HIGH",
        "Deprecated plugin: static-filesystem.",
        lambda f: "static-filesystem" in f.plugin_names("plugin/http-client", ("endpoint", "backend")),
    ),
    Rule(
        "7.1.7",
        "HIGH",
        "Deprecated plugin: no-redirect.",
        lambda f: "no-redirect" in f.plugin_names("plugin/http-client", ("endpoint", "backend")),
    ),
    Rule(
        "7.1.8",
        "HIGH",
        "Deprecated plugin: content-replacer.",
        lambda f: "content-replacer" in f.plugin_names("plugin/req-resp-modifier", ("endpoint", "backend")),
    ),
    Rule(
        "7.1.9",
        "HIGH",
        "Deprecated plugin: response-schema-validator.",
        lambda f: "response-schema-validator" in f.plugin_names("plugin/req-resp-modifier", ("endpoint", "backend")),
    ),
    Rule("7.2.1", "HIGH", "Deprecated component: telemetry/ganalytics.", lambda f: "telemetry/ganalytics" in f.svc),
    Rule("7.2.2", "HIGH", "Deprecated component: telemetry/instana.", lambda f: "telemetry/instana" in f.svc),
    Rule(
        "7.2.3",
        "HIGH",
        "Deprecated component: telemetry/opencensus (use telemetry/opentelemetry).",
        lambda f: "telemetry/opencensus" in f.svc,
    ),
    Rule(
        "7.2.4",
        "HIGH",
        "Deprecated component: telemetry/influx (use telemetry/opentelemetry).",
        lambda f: "telemetry/influx" in f.svc,
    ),
    Rule(
        "7.3.1",
        "MEDIUM",
        "tls uses the deprecated private_key/public_key fields (use keys).",
        lambda f: bool((f.tls() or {}).get("private_key") or (f.tls() or {}).get("public_key")),
    ),
)
