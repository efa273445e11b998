"""Compiling ``validation/json-schema`` values: drafts, formats, regexes, refs, errors at JSON paths."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.bodyschema import compile_schema, json_pointer
from krakenpy.errors import ConfigError

BASE = "endpoints[0].extra_config.validation/json-schema"


def at(*keys: str | int) -> str:
    out = BASE
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out


def test_compiler_default_draft_is_2020_12_without_format_assertion() -> None:
    validator = compile_schema({"format": "email", "prefixItems": [{"type": "string"}]}, at)
    assert type(validator).__name__ == "Draft202012Validator"
    assert validator.is_valid("not an email")  # 2019-09+: format is an annotation
    assert not validator.is_valid([1])  # prefixItems is a 2020-12 keyword


@pytest.mark.parametrize(
    ("uri", "draft"),
    [
        ("http://json-schema.org/draft-04/schema#", "Draft4Validator"),
        ("http://json-schema.org/draft-06/schema#", "Draft6Validator"),
        ("http://json-schema.org/draft-07/schema#", "Draft7Validator"),
        ("https://json-schema.org/draft/2019-09/schema", "Draft201909Validator"),
        ("https://json-schema.org/draft/2020-12/schema", "Draft202012Validator"),
    ],
)
def test_compiler_draft_from_dollar_schema(uri: str, draft: str) -> None:
    validator = compile_schema({"$schema": uri, "format": "email"}, at)
    assert type(validator).__name__ == draft
    old = draft in ("Draft4Validator", "Draft6Validator", "Draft7Validator")
    assert validator.is_valid("nope") is not old  # format asserted up to draft-07 (santhosh v6)


def test_compiler_boolean_schemas() -> None:
    assert compile_schema(True, at).is_valid({"any": 1})
    assert not compile_schema(False, at).is_valid({})


@pytest.mark.parametrize(
    ("schema", "path", "fragment"),
    [
        ({"type": "objectx"}, f"{BASE}.type", "objectx"),
        ({"properties": {"age": {"minimum": "zero"}}}, f"{BASE}.properties.age.minimum", "number"),
        ({"required": "name"}, f"{BASE}.required", "array"),
        ({"$schema": "http://example.com/custom"}, f"{BASE}.$schema", "Unknown meta-schema"),
        ({"$ref": "https://example.com/other.json"}, BASE, "Retrieval is disabled"),
        ({"$ref": "#/$defs/missing"}, BASE, "does not exist"),
        ({"properties": {"a": {"pattern": "(?<=a)b"}}}, f"{BASE}.properties.a.pattern", "regex"),
        ({"properties": {"a": {"pattern": "(unclosed"}}}, f"{BASE}.properties.a.pattern", "regex"),
    ],
)
def test_compiler_errors_are_located_in_the_schema(schema: Any, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_schema(schema, at)
    (issue,) = info.value.issues
    assert issue.path == path
    assert fragment in issue.message
    assert issue.message.startswith("invalid JSON Schema:")


def test_compiler_local_refs_work() -> None:
    schema = {"$defs": {"id": {"type": "integer"}}, "properties": {"id": {"$ref": "#/$defs/id"}}}
    validator = compile_schema(schema, at)
    assert validator.is_valid({"id": 1})
    assert not validator.is_valid({"id": "1"})


def test_compiler_patterns_run_in_linear_time() -> None:
    # (a+)+$ backtracks exponentially in a backtracking engine; the RE2-like engine answers at once
    validator = compile_schema({"type": "string", "pattern": "^(a+)+$"}, at)
    assert not validator.is_valid("a" * 5000 + "!")


def test_compiler_json_pointer_escapes() -> None:
    assert json_pointer([]) == ""
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
