"""One endpoint as an OpenAPI operation: parameters, request body, responses, security."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from krakenpy.config.model import EndpointConfig
from krakenpy.openapi.options import DocOptions

__all__ = ["JWT_KEY", "COOKIE_NAME", "operation", "response_type"]

JWT_KEY: Final = "KrakenD-JWT"
COOKIE_NAME: Final = "SESSIONID"
API_KEY_SCHEME: Final = "KrakenD-APIKey"
BASIC_SCHEME: Final = "KrakenD-Basic"
#: header parameters OpenAPI says are described elsewhere (content types, security schemes)
_RESERVED_HEADERS: Final = frozenset({"accept", "content-type", "authorization"})
_TYPES: Final[Mapping[str, dict[str, str]]] = {
    "float": {"type": "number", "format": "float"},
    "date-time": {"type": "string", "format": "date-time"},
}
#: what each output encoding answers with
_CONTENT_TYPES: Final = {
    "json": "application/json",
    "negotiate": "application/json",
    "json-collection": "application/json",
    "fast-json": "application/json",
    "string": "text/plain",
    "xml": "application/xml",
    "yaml": "application/yaml",
}


def response_type(endpoint: EndpointConfig) -> str | None:
    """The media type of the endpoint's answers (``None`` for ``no-op``: whatever the backend says)."""
    return _CONTENT_TYPES.get(endpoint.output_encoding)


def _schema_of(definition: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(definition.get("type") or "string")
    schema: dict[str, Any] = dict(_TYPES.get(kind, {"type": kind}))
    if definition.get("format"):
        schema["format"] = definition["format"]
    if "enum" in definition:
        schema["enum"] = list(definition["enum"])
    return schema


def _parameter(name: str, where: str, definition: Mapping[str, Any], required: bool) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where}
    if definition.get("description"):
        param["description"] = definition["description"]
    param["required"] = True if where == "path" else bool(definition.get("required", required))
    param["schema"] = _schema_of(definition)
    if "example" in definition:
        param["example"] = definition["example"]
    if definition.get("examples"):
        param["examples"] = {k: {"value": v} for k, v in definition["examples"].items()}
    return param


def _by_name(items: Sequence[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    return {str(item["name"]): item for item in items or ()}


def _parameters(endpoint: EndpointConfig, doc: DocOptions | None) -> list[dict[str, Any]]:
    raw = doc.raw if doc is not None else {}
    out: list[dict[str, Any]] = []
    paths = _by_name(raw.get("param_definition"))
    for name in endpoint.params:
        definition = paths.get(name, {})
        if not definition.get("hide"):
            out.append(_parameter(name, "path", definition, True))
    queries = _by_name(raw.get("query_definition"))
    names = [q for q in endpoint.input_query_strings if q != "*"]
    names += [q for q in queries if q not in names]
    for name in names:
        if name not in queries:
            out.append(_parameter(name, "query", {}, False))
        elif not queries[name].get("hide"):
            # EE's schema: a documented query string is required unless it says otherwise
            out.append(_parameter(name, "query", queries[name], True))
    headers = _by_name(raw.get("header_definition"))
    names = [h for h in endpoint.input_headers if h != "*"]
    names += [h for h in headers if h not in names]
    for name in names:
        definition = headers.get(name, {})
        if name.lower() in _RESERVED_HEADERS or definition.get("hide"):
            continue
        out.append(_parameter(name, "header", definition, False))
    return out


def _media(item: Mapping[str, Any], schema: Any, default_type: str | None) -> tuple[str | None, dict[str, Any]]:
    media: dict[str, Any] = {}
    if schema is not None:
        media["schema"] = schema
    elif item.get("ref"):
        media["schema"] = {"$ref": f"#/components/schemas/{item['ref']}"}
    if "example" in item:
        media["example"] = item["example"]
    return item.get("content_type") or default_type, media


def _request_body(endpoint: EndpointConfig, doc: DocOptions | None) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    descriptions: list[str] = []
    if doc is not None:
        for i, item in enumerate(doc.get("request_definition") or ()):
            content_type, media = _media(item, doc.request_schemas.get(i), None)
            content[str(content_type)] = media
            if item.get("description"):
                descriptions.append(str(item["description"]))
    json_schema = endpoint.extra_config.get("validation/json-schema")
    if isinstance(json_schema, Mapping | bool):
        # the schema the gateway enforces is the truth about the body (EE gives it precedence)
        content.setdefault("application/json", {})["schema"] = json_schema
    if not content:
        return None
    body: dict[str, Any] = {"content": content}
    if descriptions:
        body["description"] = "\n\n".join(descriptions)
    if json_schema is not None:
        body["required"] = True  # validation/json-schema refuses an empty body
    return body


def _responses(endpoint: EndpointConfig, doc: DocOptions | None, defaults: bool) -> dict[str, Any]:
    raw = doc.raw if doc is not None else {}
    kind = response_type(endpoint)
    responses: dict[str, Any] = {}
    if defaults and not raw.get("disable_default_response_definitions"):
        ok: dict[str, Any] = {"description": "OK"}
        if kind is not None:
            media: dict[str, Any] = {}
            if endpoint.output_encoding == "json-collection":
                media["schema"] = {"type": "array"}
            elif kind == "application/json":
                media["schema"] = {"type": "object"}
            if "example" in raw:
                media["example"] = raw["example"]
            ok["content"] = {kind: media}
        responses["200"] = ok
        responses["500"] = {"description": "Internal Server Error"}
    for status, item in (raw.get("response_definition") or {}).items():
        if not isinstance(item, Mapping):
            continue  # a comment key
        assert doc is not None
        content_type, media = _media(item, doc.response_schemas.get(status), kind)
        response: dict[str, Any] = {"description": item.get("description") or _phrase(status)}
        if content_type and (media or item.get("content_type")):
            response["content"] = {content_type: media}
        responses[str(status)] = response
    if not responses:
        responses["default"] = {"description": "The endpoint's answer"}
    return responses


def _phrase(status: str) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return "Response"


def _security(endpoint: EndpointConfig, doc: DocOptions | None, names: Mapping[str, str]) -> list[dict[str, Any]]:
    extra = endpoint.extra_config
    requirements: list[dict[str, Any]] = []
    validator = extra.get("auth/validator")
    if isinstance(validator, Mapping):
        requirements.append({names["jwt"]: []})
        if validator.get("cookie_key"):
            requirements.append({names["cookie"]: []})
    if isinstance(extra.get("auth/api-keys"), Mapping):
        requirements.append({API_KEY_SCHEME: []})
    if isinstance(extra.get("auth/basic"), Mapping):
        requirements.append({BASIC_SCHEME: []})
    if doc is not None:
        for name, value in (doc.get("custom_security_schemes") or {}).items():
            scopes = value.get("scopes") if isinstance(value, Mapping) else None
            requirements.append({name: list(scopes) if isinstance(scopes, list) else []})
    return requirements


def operation(
    endpoint: EndpointConfig, doc: DocOptions | None, *, defaults: bool, scheme_names: Mapping[str, str]
) -> dict[str, Any]:
    """The operation object of ``endpoint`` (``doc`` is its ``documentation/openapi`` value, if any)."""
    raw = doc.raw if doc is not None else {}
    op: dict[str, Any] = {}
    for key, field in (("summary", "summary"), ("description", "description"), ("operation_id", "operationId")):
        if raw.get(key):
            op[field] = raw[key]
    if raw.get("tags"):
        op["tags"] = list(raw["tags"])
    parameters = _parameters(endpoint, doc)
    if parameters:
        op["parameters"] = parameters
    body = _request_body(endpoint, doc)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = _responses(endpoint, doc, defaults)
    security = _security(endpoint, doc, scheme_names)
    if security:
        op["security"] = security
    return op
