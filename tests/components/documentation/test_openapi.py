"""``documentation/openapi``: the OpenAPI 3.1 document generated from a configuration, checked against
the official meta-schema, and served at ``serve_at`` through a real gateway."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from krakenpy.components.documentation.openapi import COMPONENT, documents
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import parse_components
from krakenpy.openapi import generate
from tests.components.helpers import json_app, site
from tests.conftest import make_config

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]
B = {"host": ["http://h"], "url_pattern": "/x"}
PET = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}


def _document(doc: dict[str, Any], audience: str | None = None) -> dict[str, Any]:
    service = build_service(doc)
    parsed, issues = parse_components(service)
    if issues:
        raise ConfigError(issues)
    return generate(service, documents(parsed), audience=audience)


def _full_config() -> dict[str, Any]:
    return make_config(
        [
            {
                "endpoint": "/users/{id_user}",
                "input_query_strings": ["page", "sort"],
                "input_headers": ["X-Tenant", "Authorization"],
                "backend": [B],
                "extra_config": {
                    "auth/validator": {"alg": "RS256", "jwk_url": "https://idp/jwks", "cookie_key": "session"},
                    "documentation/openapi": {
                        "summary": "One user",
                        "description": "Reads **one** user.",
                        "tags": ["users"],
                        "operation_id": "getUser",
                        "audience": ["gold"],
                        "param_definition": [
                            {"name": "id_user", "description": "The id", "type": "integer", "format": "int64"}
                        ],
                        "query_definition": [{"name": "page", "type": "integer", "required": False}],
                        "header_definition": [{"name": "X-Tenant", "description": "Tenant", "required": True}],
                        "response_definition": {
                            "404": {"description": "No such user", "example": {"status": "KO"}},
                            "200": {"content_type": "application/json", "ref": "Pet"},
                        },
                    },
                },
            },
            {
                "endpoint": "/pets",
                "method": "POST",
                "backend": [B],
                "extra_config": {
                    "validation/json-schema": PET,
                    "auth/api-keys": {"roles": ["admin"]},
                    "documentation/openapi": {
                        "tags": ["pets"],
                        "audience": ["*"],
                        "request_definition": [
                            {"content_type": "multipart/form-data", "description": "A photo", "example": "…"},
                            {"content_type": "application/json", "example": {"name": "Rex"}},
                        ],
                        "custom_security_schemes": {"OAuth2Security": {}},
                    },
                },
            },
            {
                "endpoint": "/report",
                "output_encoding": "string",
                "backend": [B],
                "extra_config": {
                    "auth/basic": {},
                    "documentation/openapi": {"disable_default_response_definitions": True, "example": "plain"},
                },
            },
            {"endpoint": "/list", "output_encoding": "json-collection", "backend": [B]},
        ],
        name="Pets API",
        extra_config={
            "auth/api-keys": {"keys": [{"key": "k", "roles": ["admin"]}], "identifier": "X-Key"},
            "auth/basic": {"users": {"ada": "plain"}},
            "documentation/openapi": {
                "description": "The pets API",
                "version": "2.1.0",
                "host": "api.example.com",
                "base_path": "/v1",
                "schemes": ["https", "http"],
                "terms_of_service": "https://example.com/tos",
                "contact_name": "Ada",
                "contact_email": "ada@example.com",
                "contact_url": "https://example.com",
                "license_name": "MIT",
                "license_url": "https://opensource.org/licenses/MIT",
                "tags": ["platform"],
                "tag_definition": [{"name": "users", "description": "People"}],
                "components_schemas": {"Pet": base64.b64encode(orjson.dumps(PET)).decode()},
                "jwt_key": "MyJWT",
                "custom_security_schemes": {
                    "OAuth2Security": {
                        "type": "oauth2",
                        "flows": {"clientCredentials": {"tokenUrl": "https://example.com/token", "scopes": {}}},
                    }
                },
            },
        },
    )


def test_openapi_document_is_valid_openapi_31() -> None:
    document = _document(_full_config())
    validate(document)  # the official OpenAPI 3.1 meta-schema (raises on any violation)
    assert document["openapi"] == "3.1.0"


def test_openapi_info_servers_and_tags() -> None:
    document = _document(_full_config())
    assert document["info"] == {
        "title": "Pets API",
        "version": "2.1.0",
        "description": "The pets API",
        "termsOfService": "https://example.com/tos",
        "contact": {"name": "Ada", "email": "ada@example.com", "url": "https://example.com"},
        "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
    }
    assert document["servers"] == [{"url": "https://api.example.com/v1"}, {"url": "http://api.example.com/v1"}]
    assert document["tags"] == [{"name": "users", "description": "People"}, {"name": "platform"}, {"name": "pets"}]
    assert list(document["paths"]) == ["/users/{id_user}", "/pets", "/report", "/list"]


def test_openapi_operation_parameters() -> None:
    op = _document(_full_config())["paths"]["/users/{id_user}"]["get"]
    assert (op["summary"], op["description"], op["tags"], op["operationId"]) == (
        "One user",
        "Reads **one** user.",
        ["users"],
        "getUser",
    )
    assert op["parameters"] == [
        {
            "name": "id_user",
            "in": "path",
            "description": "The id",
            "required": True,
            "schema": {"type": "integer", "format": "int64"},
        },
        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}},
        {"name": "sort", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "X-Tenant", "in": "header", "description": "Tenant", "required": True, "schema": {"type": "string"}},
    ]  # Authorization is described by the security scheme, not as a parameter


def test_openapi_responses_and_bodies() -> None:
    paths = _document(_full_config())["paths"]
    user = paths["/users/{id_user}"]["get"]["responses"]
    assert user["200"] == {
        "description": "OK",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
    }
    assert user["404"] == {
        "description": "No such user",
        "content": {"application/json": {"example": {"status": "KO"}}},
    }
    assert user["500"] == {"description": "Internal Server Error"}
    body = paths["/pets"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"] == {"schema": PET, "example": {"name": "Rex"}}
    assert body["content"]["multipart/form-data"] == {"example": "…"}
    assert paths["/report"]["get"]["responses"] == {"default": {"description": "The endpoint's answer"}}
    listed = paths["/list"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed == {"schema": {"type": "array"}}


def test_openapi_security_schemes() -> None:
    document = _document(_full_config())
    paths = document["paths"]
    assert paths["/users/{id_user}"]["get"]["security"] == [{"MyJWT": []}, {"SESSIONID": []}]
    assert paths["/pets"]["post"]["security"] == [{"KrakenD-APIKey": []}, {"OAuth2Security": []}]
    assert paths["/report"]["get"]["security"] == [{"KrakenD-Basic": []}]
    assert "security" not in paths["/list"]["get"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["MyJWT"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["SESSIONID"] == {"type": "apiKey", "in": "cookie", "name": "session"}
    assert schemes["KrakenD-APIKey"] == {"type": "apiKey", "in": "header", "name": "X-Key"}
    assert schemes["KrakenD-Basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["OAuth2Security"]["type"] == "oauth2"
    assert document["components"]["schemas"] == {"Pet": PET}  # decoded from base64


def test_openapi_audience_filter() -> None:
    assert list(_document(_full_config(), audience="gold")["paths"]) == ["/users/{id_user}", "/pets"]
    assert list(_document(_full_config(), audience="silver")["paths"]) == ["/pets"]


def test_openapi_minimal_config_without_namespace() -> None:
    document = _document(make_config([{"endpoint": "/a/{b}", "method": "DELETE", "backend": [B]}]))
    validate(document)
    assert document["info"] == {"title": "KrakenD", "version": "1.0.0"}
    assert "servers" not in document and "components" not in document
    assert document["paths"]["/a/{b}"]["delete"]["parameters"][0]["required"] is True


def test_openapi_duplicate_operation_ids_are_config_errors() -> None:
    doc = make_config(
        [
            {"endpoint": f"/{n}", "backend": [B], "extra_config": {"documentation/openapi": {"operation_id": "same"}}}
            for n in ("a", "b")
        ]
    )
    with pytest.raises(ConfigError) as info:
        _document(doc)
    assert info.value.issues[0].path == "endpoints[1].extra_config.documentation/openapi.operation_id"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"param_definition": [{"name": "nope"}]}, "not a parameter of the endpoint"),
        ({"request_definition": [{"content_type": "a/b", "example_schema": "%%%"}]}, "not base64"),
        ({"request_definition": [{"content_type": "a/b"}, {"content_type": "a/b"}]}, "documented twice"),
        ({"response_definition": {"200": {"example": 1, "example_schema": {}}}}, "not both"),
        ({"serve_at": "/doc"}, "service-level field"),
    ],
)
def test_openapi_parse_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        COMPONENT.parse(raw, site("documentation/openapi", "endpoint"))


def test_openapi_host_with_scheme_and_explicit_servers() -> None:
    def servers(**options: Any) -> Any:
        doc = make_config([{"endpoint": "/a", "backend": [B]}], extra_config={"documentation/openapi": options})
        return _document(doc).get("servers")

    assert servers(host="http://solomon-ai.io", base_path="/v1", schemes=["http", "https"]) == [
        {"url": "http://solomon-ai.io/v1"}
    ]
    assert servers(base_path="v2") == [{"url": "/v2"}]
    assert servers(servers=[{"url": "https://x:{port}", "variables": {"port": "8443"}}]) == [
        {"url": "https://x:{port}", "variables": {"port": {"default": "8443"}}}
    ]


async def test_openapi_served_at_its_path(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({"ok": True}))
    doc = make_config(
        [{"endpoint": "/things", "backend": [{"host": [url], "url_pattern": "/"}]}],
        extra_config={"documentation/openapi": {"serve_at": "/__openapi.json", "version": "3"}},
    )
    client = await gateway(doc)
    answer = await client.get("/__openapi.json")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    document = await answer.json()
    validate(document)
    assert document["info"]["version"] == "3" and "/things" in document["paths"]
    cached = await client.get("/__openapi.json", headers={"If-None-Match": answer.headers["ETag"]})
    assert cached.status == 304
    head = await client.head("/__openapi.json")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(await answer.read()))
    assert (await client.post("/__openapi.json")).status == 404  # other methods reach the router
    assert await (await client.get("/things")).json() == {"ok": True}


async def test_openapi_not_served_without_serve_at(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({}))
    doc = make_config(
        [{"endpoint": "/things", "backend": [{"host": [url], "url_pattern": "/"}]}],
        extra_config={"documentation/openapi": {"version": "3"}},
    )
    client = await gateway(doc)
    assert (await client.get("/__openapi.json")).status == 404


def test_openapi_meta_schema_check_is_not_a_rubber_stamp() -> None:
    """The validator these tests rely on refuses what OpenAPI 3.1 refuses (a response needs a description)."""
    document = _document(make_config([{"endpoint": "/a", "backend": [B]}]))
    del document["paths"]["/a"]["get"]["responses"]["200"]["description"]
    with pytest.raises(Exception, match="description"):
        validate(document)
