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


def _pieces(options: GraphQLOptions) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """The configured variables as Go writes them (keys sorted), cut around the placeholder values:
    ``pieces[0] + value(keys[0]) + pieces[1] + …``; a request then dumps only its parameter values."""
    slot_of = dict(options.placeholders)
    pieces: list[bytes] = []
    keys: list[str] = []
    current = b"{"
    for i, name in enumerate(sorted(options.variables)):  # Go sorts map keys by their UTF-8 bytes
        current += (b"," if i else b"") + go_json(name) + b":"
        if name in slot_of:
            pieces.append(current)
            keys.append(slot_of[name])
            current = b""
        else:
            current += go_json(options.variables[name])
    pieces.append(current + b"}")
    return tuple(pieces), tuple(keys)


def _json_value(value: str) -> bytes:
    """A parameter value as Go writes it; letters and digits (ids) skip go_json's escape checks."""
    return orjson.dumps(value) if value.isalnum() else go_json(value)


def _query_value(value: str) -> str:
    """:func:`_json_value`, query-escaped; ASCII letters and digits need no escaping."""
    return "%22" + value + "%22" if value.isascii() and value.isalnum() else quote_plus(go_json(value), safe="")


def _body(options: GraphQLOptions, document: str) -> Callable[[Request], bytes]:
    """One request's JSON body (``POST``)."""
    operation = options.operation_name
    head = b'{"query":' + go_json(document) + (b',"operationName":' + go_json(operation) if operation else b"")
    configured = options.variables
    if options.mutation:

        def mutation(request: Request) -> bytes:
            values = _client_variables(request.body, configured)
            return head + b',"variables":' + go_json(values) + b"}" if values else head + b"}"

        return mutation
    if not configured:
        fixed = head + b"}"
        return lambda request: fixed
    pieces, keys = _pieces(options)
    if not keys:
        fixed = head + b',"variables":' + pieces[0] + b"}"
        return lambda request: fixed
    start = head + b',"variables":' + pieces[0]
    tails = (*pieces[1:-1], pieces[-1] + b"}")

    def query(request: Request) -> bytes:
        params = request.params
        out = start
        for key, tail in zip(keys, tails, strict=True):
            out += _json_value(params.get(key, "")) + tail  # Go's map lookup: "" when the parameter is absent
        return out

    return query


def _query_string(options: GraphQLOptions, document: str) -> Callable[[Request], str]:
    """One request's ``operationName``, ``query`` and ``variables`` query parameters (``GET``)."""
    operation = options.operation_name
    fields = {"operationName": [operation]} if operation else {}
    fields["query"] = [document]
    head = encode_query(fields)  # Go's url.Values order: operationName < query < variables
    configured = options.variables
    if options.mutation:

        def mutation(request: Request) -> str:
            values = _client_variables(request.body, configured)
            return head + "&variables=" + quote_plus(go_json(values), safe="") if values else head

        return mutation
    if not configured:
        return lambda request: head
    pieces, keys = _pieces(options)
    quoted = [quote_plus(piece, safe="") for piece in pieces]  # quoting is per character: piecewise
    if not keys:
        fixed = head + "&variables=" + quoted[0]
        return lambda request: fixed
    start = head + "&variables=" + quoted[0]
    tails = tuple(quoted[1:])

    def query(request: Request) -> str:
        params = request.params
        out = start
        for key, tail in zip(keys, tails, strict=True):
            out += _query_value(params.get(key, "")) + tail
        return out

    return query


def compile_rewrite(options: GraphQLOptions, document: str) -> Rewrite:
    """The per-request change of one backend's request, everything fixed precomputed."""
    if options.method == "GET":
        query_string = _query_string(options, document)

        def rewrite_get(request: Request) -> None:
            extra = query_string(request)
            request.method = "GET"
            request.body = b""
            request.headers.pop("Content-Length", None)
            base = request.url.partition("?")[0]  # path values are escaped: the first "?" starts the query
            raw = request.raw_query + "&" + extra if request.raw_query else extra
            request.raw_query = raw
            request.url = base + "?" + raw

        return rewrite_get

    body = _body(options, document)

    def rewrite_post(request: Request) -> None:
        request.body = body(request)  # first: a mutation's client body is read here
        request.method = "POST"
        headers = request.headers
        headers.pop("Content-Length", None)
        headers["Content-Type"] = _JSON

    return rewrite_post


def _warnings(options: GraphQLOptions, site: Site) -> list[str]:
    """What can never work as written: worth a line in ``check``."""
    endpoint = site.endpoint
    if options.mutation:
        found = [
            f"{site.at('variables', n)}: not replaced in a mutation: sent as written" for n, _ in options.placeholders
        ]
        if endpoint is not None and endpoint.method in ("GET", "HEAD", "DELETE"):
            found.append(
                f"{site.path}: a mutation reads its variables from the client body: {endpoint.method} has none"
            )
        return found
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
