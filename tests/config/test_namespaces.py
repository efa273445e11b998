"""Namespace tables, alias renaming and ignored-namespace warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krakenpy.components.registry import catalog
from krakenpy.config.namespaces import (
    ALIASES,
    CE_NAMESPACES,
    EE_NAMESPACES,
    enforcing_namespaces,
    namespace_issues,
    normalize_aliases,
)
from krakenpy.config.schema import schema_namespaces

SCHEMAS_DIR = Path(__file__).parents[2] / "schemas"
CORE_FILES = {"krakend", "endpoint", "backend", "timeunits"}
IMPLEMENTED_NS = frozenset(catalog().levels)


@pytest.mark.parametrize("namespace", sorted(IMPLEMENTED_NS | CE_NAMESPACES))
def test_namespaces_have_a_schema(namespace: str) -> None:
    assert namespace in schema_namespaces()


def test_namespaces_every_schema_file_is_core_or_known() -> None:
    stems = {p.relative_to(SCHEMAS_DIR).as_posix().removesuffix(".json") for p in SCHEMAS_DIR.rglob("*.json")}
    extra = stems - CORE_FILES - {"modifier/lua"}
    assert extra, "schemas/ holds namespace files"
    assert extra - CE_NAMESPACES - IMPLEMENTED_NS == set()  # EE namespaces get a file once implemented
    assert schema_namespaces() <= CE_NAMESPACES | IMPLEMENTED_NS


def test_namespaces_tables_are_consistent() -> None:
    editions = catalog().editions
    assert {ns for ns in IMPLEMENTED_NS if editions[ns] == "ce"} <= CE_NAMESPACES
    own = {ns for ns in IMPLEMENTED_NS if editions[ns] == "krakenpy"}
    assert not own & (CE_NAMESPACES | EE_NAMESPACES), "a krakenpy extension must not take a KrakenD name"
    # Enterprise namespaces krakenpy implements with EE's field names (auth/api-keys, auth/basic)
    assert {ns for ns in IMPLEMENTED_NS if editions[ns] == "ee"} <= EE_NAMESPACES
    assert not CE_NAMESPACES & EE_NAMESPACES
    assert set(ALIASES.values()) - CE_NAMESPACES == set()


@pytest.mark.parametrize(
    ("legacy", "short"),
    [
        ("github.com/devopsfaith/krakend/proxy", "proxy"),
        ("github_com/devopsfaith/krakend/proxy", "proxy"),
        ("github_com/devopsfaith/krakend-cors", "security/cors"),
        ("github.com/devopsfaith/krakend-cors", "security/cors"),
        ("github.com/devopsfaith/krakend-jose/validator", "auth/validator"),
        ("github.com/devopsfaith/krakend-lambda", "backend/lambda"),
        ("github.com/devopsfaith/krakend-lua/proxy", "modifier/lua-proxy"),
        ("github.com/devopsfaith/krakend-lua/proxy/backend", "modifier/lua-backend"),
        ("github.com/devopsfaith/krakend-lua/router", "modifier/lua-endpoint"),
        ("github_com/devopsfaith/krakend-metrics", "telemetry/metrics"),
        ("github.com/devopsfaith/krakend-ratelimit/juju/router", "qos/ratelimit/router"),
        ("github_com/luraproject/lura/router/gin", "router"),
        ("github_com/devopsfaith/krakend/transport/http/server/handler", "plugin/http-server"),
        ("github.com/devopsfaith/krakend/http", "backend/http"),
    ],
)
def test_namespaces_alias(legacy: str, short: str) -> None:
    assert ALIASES[legacy] == short


def _doc() -> dict[str, Any]:
    return {
        "version": 3,
        "extra_config": {"github_com/devopsfaith/krakend-cors": {"allow_origins": ["*"]}},
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"github.com/devopsfaith/krakend/proxy": {"sequential": True}},
                "backend": [
                    {
                        "url_pattern": "/",
                        "extra_config": {"github.com/devopsfaith/krakend-lambda": {"function_name": "f"}},
                    }
                ],
            }
        ],
        "async_agent": [
            {
                "name": "a",
                "extra_config": {"github.com/devopsfaith/krakend-amqp/agent": {"name": "q"}},
                "backend": [
                    {"url_pattern": "/", "extra_config": {"github_com/devopsfaith/krakend-lua/proxy/backend": {}}}
                ],
            }
        ],
    }


def test_namespaces_normalize_aliases_at_every_level() -> None:
    doc = _doc()
    normalize_aliases(doc)
    assert doc["extra_config"] == {"security/cors": {"allow_origins": ["*"]}}
    assert doc["endpoints"][0]["extra_config"] == {"proxy": {"sequential": True}}
    assert doc["endpoints"][0]["backend"][0]["extra_config"] == {"backend/lambda": {"function_name": "f"}}
    assert doc["async_agent"][0]["extra_config"] == {"async/amqp": {"name": "q"}}
    assert doc["async_agent"][0]["backend"][0]["extra_config"] == {"modifier/lua-backend": {}}


def test_namespaces_short_name_wins_over_alias() -> None:
    doc: dict[str, Any] = {"extra_config": {"github_com/luraproject/lura/router/gin": {"a": 1}, "router": {"b": 2}}}
    normalize_aliases(doc)
    assert doc["extra_config"] == {"router": {"b": 2}}


def test_namespaces_normalize_tolerates_odd_shapes() -> None:
    doc: dict[str, Any] = {"extra_config": None, "endpoints": [1, {"backend": "x"}], "async_agent": {}}
    normalize_aliases(doc)
    assert namespace_issues(doc, catalog()) == []


def test_namespaces_warnings_kinds_and_paths() -> None:
    doc: dict[str, Any] = {
        "extra_config": {"plugin/middleware": {}, "router": {}, "@comment": "x", "proxy": {}},
        "endpoints": [
            {
                "extra_config": {"auth/gcp": {}, "modifier/lua-proxy": {}, "acme/x": {}},
                "backend": [{"extra_config": {"backend/lambda": {}, "messaging/kafka/reader": {}}}],
            }
        ],
    }
    got = {(i.path, i.message, i.severity) for i in namespace_issues(doc, catalog())}
    assert got == {
        ("extra_config.plugin/middleware", "KrakenD Enterprise namespace: not supported, ignored", "warning"),
        ("extra_config.proxy", "namespace not read at service level: ignored", "warning"),
        (
            "endpoints[0].extra_config.auth/gcp",
            "KrakenD Enterprise namespace: not supported, ignored",
            "warning",
        ),
        ("endpoints[0].extra_config.acme/x", "unknown namespace: ignored", "warning"),
        (
            "endpoints[0].backend[0].extra_config.messaging/kafka/reader",
            "KrakenD Enterprise namespace: not supported, ignored",
            "warning",
        ),
    }


def test_namespaces_lint_flags_krakenpy_extensions() -> None:
    doc: dict[str, Any] = {"extra_config": {"telemetry/access_log": {}, "telemetry/logging": {"level": "INFO"}}}
    assert namespace_issues(doc, catalog()) == []
    flagged = namespace_issues(doc, catalog(), lint=True)
    assert [(i.path, i.severity) for i in flagged] == [("extra_config.telemetry/access_log", "warning")]
    assert "krakenpy extension" in flagged[0].message


def test_namespaces_enforcing_unknown_auth_names_by_level() -> None:
    backend = {"url_pattern": "/", "extra_config": {"auth/oidc": {}}}
    doc: dict[str, Any] = {
        "version": 3,
        "extra_config": {
            "auth/jwk-client": {"shared_cache_duration": 900},  # cache settings: ignored, as KrakenD does
            "auth/validater": {},  # a misspelt guard: refused
            "auth/ntlm": {},  # an Enterprise guard krakenpy lacks: refused
            "auth/validator": {"shared_cache_duration": 900},  # implemented
        },
        "endpoints": [{"endpoint": "/a", "extra_config": {"auth/jwt": {}}, "backend": [backend]}],
    }
    assert enforcing_namespaces(doc, catalog()) == [
        "extra_config.auth/validater",
        "extra_config.auth/ntlm",
        "endpoints[0].extra_config.auth/jwt",  # where a guard acts, any unknown auth/ name is refused
        "endpoints[0].backend[0].extra_config.auth/oidc",
    ]


def test_namespaces_mcp_workflows_are_walked_as_endpoints() -> None:
    """A tool's workflow and its backends are endpoint-shaped: an unimplemented guard there is refused
    and an unimplemented namespace warned at its JSON path, a legacy alias renamed."""
    workflow = {
        "endpoint": "/__mcp/a",
        "extra_config": {"auth/ntlm": {}, "github_com/devopsfaith/krakend-lua/proxy": {}},
        "backend": [{"url_pattern": "/", "extra_config": {"auth/gcp": {}, "modifier/response-headers": {}}}],
    }
    doc: dict[str, Any] = {
        "version": 3,
        "extra_config": {"ai/mcp": {"servers": [{"name": "s", "tools": [{"name": "t", "workflow": workflow}]}]}},
    }
    where = "extra_config.ai/mcp.servers[0].tools[0].workflow"
    assert enforcing_namespaces(doc, catalog()) == [
        f"{where}.extra_config.auth/ntlm",
        f"{where}.backend[0].extra_config.auth/gcp",
    ]
    warned = {i.path for i in namespace_issues(doc, catalog())}
    assert f"{where}.backend[0].extra_config.modifier/response-headers" in warned
    normalize_aliases(doc)
    assert "modifier/lua-proxy" in workflow["extra_config"]  # type: ignore[operator]
