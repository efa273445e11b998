"""``plugin/req-resp-modifier``: the built-in content-replacer at an endpoint and a backend, through a
real gateway; Go plugin names build nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from krakenpy.components.plugin.req_resp_modifier import COMPONENT, ModifierPlugins
from krakenpy.errors import ConfigError
from tests.components.helpers import json_app, site
from tests.conftest import make_config

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]

ANSWER = {"data": {"credit_card": "1234567812345678", "n": 5}, "message": "6 items left", "list": [{"a": "x"}]}


def _modifier(rules: dict[str, Any]) -> dict[str, Any]:
    return {"plugin/req-resp-modifier": {"name": ["content-replacer"], "content-replacer": rules}}


async def test_req_resp_modifier_content_replacer_edits_string_fields(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app(ANSWER))
    rules = {
        "@comment": "a comment key is not a field",
        "data.credit_card": {"find": "(^\\d{4})(.*)", "replace": "${1}-XXXX", "regexp": True},
        "message": {"find": " items left", "replace": ""},
        "data.n": {"find": "5", "replace": "6"},  # not a string: left alone
        "list.0.a": {"find": "x", "replace": "y"},  # arrays are not entered
        "missing.field": {"find": "a", "replace": "b"},
    }
    endpoint = {"endpoint": "/e", "extra_config": _modifier(rules), "backend": [{"host": [url], "url_pattern": "/"}]}
    client = await gateway(make_config([endpoint]))
    assert await (await client.get("/e")).json() == {
        "data": {"credit_card": "1234-XXXX", "n": 5},
        "message": "6",
        "list": [{"a": "x"}],
    }


async def test_req_resp_modifier_content_replacer_at_a_backend_runs_before_the_merge(
    backend: Start, gateway: Gateway
) -> None:
    first = await backend(json_app({"name": "Ana Smith"}))
    second = await backend(json_app({"nick": "Ana"}))
    backends = [
        {
            "host": [first],
            "url_pattern": "/",
            "extra_config": _modifier({"name": {"find": "Ana", "replace": "A."}}),
        },
        {"host": [second], "url_pattern": "/"},
    ]
    client = await gateway(make_config([{"endpoint": "/e", "backend": backends}]))
    assert await (await client.get("/e")).json() == {"name": "A. Smith", "nick": "Ana"}


def test_req_resp_modifier_bad_regexp_is_an_error_at_its_json_path() -> None:
    raw = {"name": ["content-replacer"], "content-replacer": {"a.b": {"find": "(", "replace": "", "regexp": True}}}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(raw, site("plugin/req-resp-modifier", "endpoint"))
    assert info.value.issues[0].path == "endpoints[0].extra_config.plugin/req-resp-modifier.content-replacer.a.b.find"


def test_req_resp_modifier_go_plugin_names_build_nothing() -> None:
    where = site("plugin/req-resp-modifier", "endpoint")
    assert COMPONENT.parse({"name": ["amplitude-forwarder-request"]}, where) == ModifierPlugins()
    assert where.notes == []  # the settings check refuses (or warns about) the Go plugin


def test_req_resp_modifier_without_names_has_no_effect_and_says_so() -> None:
    where = site("plugin/req-resp-modifier", "backend")
    COMPONENT.parse({"name": []}, where)
    assert [n.path for n in where.notes] == ["endpoints[0].backend[0].extra_config.plugin/req-resp-modifier"]


async def test_req_resp_modifier_builds_nothing_without_rules() -> None:
    where = site("plugin/req-resp-modifier", "endpoint")
    assert await COMPONENT.proxy(ModifierPlugins(), where, None) is None  # type: ignore[misc, arg-type]


async def test_req_resp_modifier_content_replacer_fields_starting_with_underscore_dollar_hash(
    backend: Start, gateway: Gateway
) -> None:
    url = await backend(json_app({"_id": "abc", "$ref": "#/x", "#tag": "t1", "@c": "kept"}))
    rules = {
        "@comment": "only @ keys are comments",
        "_id": {"find": "abc", "replace": "***"},
        "$ref": {"find": "x", "replace": "y"},
        "#tag": {"find": "t", "replace": "T"},
    }
    endpoint = {"endpoint": "/e", "extra_config": _modifier(rules), "backend": [{"host": [url], "url_pattern": "/"}]}
    client = await gateway(make_config([endpoint]))
    assert await (await client.get("/e")).json() == {"_id": "***", "$ref": "#/y", "#tag": "T1", "@c": "kept"}


def test_req_resp_modifier_schema_checks_rules_for_underscore_fields() -> None:
    from krakenpy.components.registry import catalog
    from krakenpy.config.schema import validate_document

    def errors(rules: dict[str, Any]) -> list[str]:
        endpoint = {"endpoint": "/e", "extra_config": _modifier(rules), "backend": [{"host": ["http://h"]}]}
        doc = {"version": 3, "endpoints": [endpoint]}
        return [i.path for i in validate_document(doc, lint=False, catalog=catalog()) if i.severity == "error"]

    assert errors({"@comment": "text", "_id": {"find": "a", "replace": "b"}}) == []
    assert errors({"_id": {"find": "a"}}) != []  # a rule without replace: refused, not skipped
