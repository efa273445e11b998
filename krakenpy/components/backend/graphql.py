"""``backend/graphql`` (backend): the backend call becomes a GraphQL query or mutation (lura
``proxy/graphql.go`` over ``transport/http/client/graphql``), outermost in the backend layer, where
KrakenD places it: after the request builder and header filter, before telemetry and the breaker.

- ``type: query``: the configured ``variables``; each top-level string ``"{name}"`` is replaced by
  the request parameter ``Name`` (lura's key: first letter upper-cased), ``""`` when there is none.
  The client body is ignored.
- ``type: mutation``: the client body must be a JSON object; its keys win over the configured
  ``variables``, which are sent as written (lura replaces no placeholder in a mutation).
- ``method`` ``POST`` (default): the JSON body ``{"query","operationName","variables"}`` as Go's
  encoder writes it (``operationName`` and ``variables`` left out when empty), with
  ``Content-Type: application/json``. ``GET``: the same fields in the query string, after the
  backend's own query, and no body.

Everything but the substitution and one JSON dump is computed at start-up; ``query_path`` is read
once by the builder (a bounded read, resolved against the working directory as KrakenD does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote_plus

import orjson

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue, ValidationError
from krakenpy.files import read_config_file
from krakenpy.gojson import go_json
from krakenpy.names import capitalize
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "GraphQLOptions", "compile_rewrite"]

NAMESPACE: Final = "backend/graphql"
_JSON: Final = ["application/json"]

Rewrite = Callable[[Request], None]


@dataclass(frozen=True, slots=True)
class GraphQLOptions:
    """One backend's GraphQL operation, as lura reads it."""

    mutation: bool
    #: ``POST`` or ``GET`` (lura: any case; every other value is ``POST``, refused here)
    method: str
    #: the inline document ("" when it comes from ``query_path``)
    query: str
    query_path: str
    operation_name: str
    #: the configured variables as Go holds them (integral floats are integers)
    variables: Mapping[str, Any]
    #: (variable, parameter key) of each top-level ``"{name}"`` value
    placeholders: tuple[tuple[str, str], ...]


def _go_number(value: Any) -> Any:
    """Config numbers as Go's decoder keeps them (float64): ``1.0`` is written back as ``1``."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_number(v) for v in value]
    return value


def _placeholder(value: Any) -> str | None:
    """The parameter key of a ``"{name}"`` value (lura's test: first ``{`` and last ``}``)."""
    # "{}" names nothing (KrakenD panics on it at start-up): a literal here, like any other text
    if isinstance(value, str) and len(value) > 2 and value[0] == "{" and value[-1] == "}":
        return capitalize(value[1:-1])
    return None


def _parse(raw: Any, site: Site) -> GraphQLOptions:
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(site.path, "must be an object")])
    issues: list[ConfigIssue] = []
    kind = raw.get("type")
    if kind not in ("query", "mutation"):
        issues.append(ConfigIssue(site.at("type"), 'must be "query" or "mutation"'))
    query, path = raw.get("query"), raw.get("query_path")
    if query is not None and not isinstance(query, str):
        issues.append(ConfigIssue(site.at("query"), "must be a string"))
    if path is not None and (not isinstance(path, str) or not path):
        issues.append(ConfigIssue(site.at("query_path"), "must be a non-empty string"))
    if query is None and path is None:
        issues.append(ConfigIssue(site.path, "needs the GraphQL document: query or query_path"))
    elif query is not None and path is not None:
        issues.append(ConfigIssue(site.at("query_path"), "query and query_path are both set: keep one"))
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, Mapping):
        issues.append(ConfigIssue(site.at("variables"), "must be an object"))
    operation = raw.get("operationName")
    if operation is not None and not isinstance(operation, str):
        issues.append(ConfigIssue(site.at("operationName"), "must be a string"))
    method = raw.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in ("GET", "POST"):
        issues.append(ConfigIssue(site.at("method"), 'must be "GET" or "POST"'))
    if issues:
        raise ConfigError(issues)
    values = _go_number(dict(variables or {}))
    return GraphQLOptions(
        mutation=kind == "mutation",
        method=str(method).upper(),
        query=query or "",
        query_path=path or "",
        operation_name=operation or "",
        variables=values,
        placeholders=tuple((name, key) for name, value in values.items() if (key := _placeholder(value))),
    )


def _client_variables(body: bytes, configured: Mapping[str, Any]) -> dict[str, Any]:
    """A mutation's variables: the client's JSON object over the configured ones (lura ``fromBody``)."""
    try:
        sent = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # Go's decoder reads bytes that are not UTF-8 as U+FFFD
            sent = orjson.loads(body.decode("utf-8", "replace")) if body else None
        except orjson.JSONDecodeError:
            sent = None
    if not isinstance(sent, dict):
        raise ValidationError("graphql mutation: the request body must be a JSON object")
    for name, value in configured.items():
        if name not in sent:
            sent[name] = value
    return sent


def _variables_of(options: GraphQLOptions) -> Callable[[Request], Mapping[str, Any]] | None:
    """How one request's variables are made; ``None`` when they are the configured ones, fixed."""
    configured = options.variables
    if options.mutation:
        return lambda request: _client_variables(request.body, configured)
    slots = options.placeholders
    if not slots:
        return None

    def substituted(request: Request) -> Mapping[str, Any]:
        values = dict(configured)
        params = request.params
        for name, key in slots:
            values[name] = params.get(key, "")  # Go's map lookup: "" when the parameter is absent
        return values

    return substituted


def compile_rewrite(options: GraphQLOptions, document: str) -> Rewrite:
    """The per-request change of one backend's request, everything fixed precomputed."""
    variables = _variables_of(options)
    operation = options.operation_name
    if options.method == "GET":
        fields = {"operationName": [operation]} if operation else {}
        fields["query"] = [document]
        head = encode_query(fields)  # Go's url.Values order: operationName < query < variables

        def query_string(values: Mapping[str, Any]) -> str:
            return head + "&variables=" + quote_plus(go_json(values), safe="") if values else head

        fixed_query = query_string(options.variables)

        def rewrite_get(request: Request) -> None:
            extra = fixed_query if variables is None else query_string(variables(request))
            request.method = "GET"
            request.body = b""
            request.headers.pop("Content-Length", None)
            base = request.url.partition("?")[0]  # path values are escaped: the first "?" starts the query
            raw = request.raw_query + "&" + extra if request.raw_query else extra
            request.raw_query = raw
            request.url = base + "?" + raw

        return rewrite_get

    prefix = b'{"query":' + go_json(document) + (b',"operationName":' + go_json(operation) if operation else b"")

    def body(values: Mapping[str, Any]) -> bytes:
        return prefix + b',"variables":' + go_json(values) + b"}" if values else prefix + b"}"

    fixed_body = body(options.variables)

    def rewrite_post(request: Request) -> None:
        request.method = "POST"
        request.body = fixed_body if variables is None else body(variables(request))
        headers = request.headers
        headers.pop("Content-Length", None)
        headers["Content-Type"] = _JSON

    return rewrite_post


def _warnings(options: GraphQLOptions, site: Site) -> list[str]:
    """Placeholders that can never be filled: worth a line in ``check``."""
    if options.mutation:
        return [
            f"{site.at('variables', name)}: placeholders are not replaced in a mutation: sent as written"
            for name, _ in options.placeholders
        ]
    endpoint = site.endpoint
    if endpoint is None:
        return []
    # the parameters a request can carry: the path's, and the sequential, JWT and dynamic-routing
    # values the other layers fill only for the keys some backend's url_pattern or host names
    known = {capitalize(p) for p in endpoint.params}
    known.update(capitalize(p) for p in endpoint.proxy.sequential_propagated_params)
    for backend in endpoint.backends:
        known.update(backend.url_keys, backend.host_keys)
    return [
        f'{site.at("variables", name)}: {options.variables[name]} is no parameter of {endpoint.endpoint}: sent as "" '
        "unless a Lua script sets it"
        for name, key in options.placeholders
        if key not in known
    ]


async def _build(options: GraphQLOptions, site: Site, resources: Resources) -> Middleware:
    if options.query_path:
        document = read_config_file(resources.base_dir / options.query_path, site.at("query_path"))
        text = document.decode("utf-8", "replace")  # Go's encoder writes invalid UTF-8 as U+FFFD
    else:
        text = options.query
    resources.warnings.extend(_warnings(options, site))
    rewrite = compile_rewrite(options, text)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def graphql(request: Request) -> Response:
            rewrite(request)
            return await next_proxy(request)

        return graphql

    return middleware


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="REST to GraphQL: the backend call becomes a query (variables from URL parameters) or a mutation (body)",
    backend=_build,
)
