"""Schema validation, driven by the example files in tests/schema/ (one case per file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from krakenpy.components.registry import catalog
from krakenpy.config import schema as schema_mod
from krakenpy.config.schema import json_path, schema_namespaces, validate_document

CASES_DIR = Path(__file__).parents[1] / "schema"
SCHEMAS_DIR = Path(__file__).parents[2] / "schemas"
CASES = sorted(CASES_DIR.glob("*.json"))


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def test_schema_cases_folder_is_not_empty() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case_file", CASES, ids=[p.stem for p in CASES])
def test_schema_case(case_file: Path) -> None:
    case = _load(case_file)
    assert set(case) <= {"description", "lint", "data", "valid", "error_contains", "warning_contains"}
    issues = validate_document(case["data"], lint=case["lint"], catalog=catalog())
    errors = [str(i) for i in issues if i.severity == "error"]
    warnings = [str(i) for i in issues if i.severity == "warning"]
    if case["valid"]:
        assert errors == [], case["description"]
    else:
        assert errors, case["description"]
        assert "error_contains" in case, "invalid cases must say which error they expect"
        assert any(case["error_contains"] in e for e in errors), errors
    if "warning_contains" in case:
        assert any(case["warning_contains"] in w for w in warnings), warnings


def test_schema_every_error_is_reported() -> None:
    doc = {
        "version": 3,
        "port": "x",
        "endpoints": [{"endpoint": "/a", "timeout": "1", "backend": [{"url_pattern": "/", "is_collection": 1}]}],
    }
    paths = {i.path for i in validate_document(doc, lint=False, catalog=catalog())}
    assert paths == {"port", "endpoints[0].timeout", "endpoints[0].backend[0].is_collection"}


def test_schema_validator_is_built_once() -> None:
    assert schema_mod._validator() is schema_mod._validator()


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], ""),
        (["port"], "port"),
        (
            ["endpoints", 3, "backend", 0, "extra_config", "backend/lambda", "function_name"],
            "endpoints[3].backend[0].extra_config.backend/lambda.function_name",
        ),
        (["validation/cel", 0], "validation/cel[0]"),
    ],
)
def test_schema_json_path(parts: list[str | int], expected: str) -> None:
    assert json_path(parts) == expected


SCHEMA_FILES = sorted(SCHEMAS_DIR.rglob("*.json"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.relative_to(SCHEMAS_DIR).as_posix() for p in SCHEMA_FILES])
def test_schema_file_is_well_formed(path: Path) -> None:
    doc = _load(path)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("/schemas/" + path.relative_to(SCHEMAS_DIR).as_posix())
    assert doc.get("description")
    missing = list(_fields_without_description(doc, ""))
    assert missing == []


def _fields_without_description(node: Any, where: str) -> Any:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if not (isinstance(sub, dict) and sub.get("description")):
                yield f"{where}.{name}"
        for key, sub in node.items():
            if key in ("properties", "patternProperties", "$defs"):
                for name, inner in sub.items():
                    yield from _fields_without_description(inner, f"{where}.{name}")
            elif isinstance(sub, (dict, list)):
                yield from _fields_without_description(sub, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _fields_without_description(item, f"{where}[{i}]")


def test_schema_namespaces_cover_the_lua_trio_and_skip_core_files() -> None:
    names = schema_namespaces()
    assert {"modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend", "backend/lambda"} <= names
    assert not names & {"krakend", "endpoint", "backend", "timeunits", "modifier/lua"}


@pytest.mark.parametrize("lint", [True, False])
def test_schema_lambda_typo_is_an_error_in_both_modes(lint: bool) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/a",
                "backend": [
                    {"url_pattern": "/", "extra_config": {"backend/lambda": {"function_name": "f", "fuction": 1}}}
                ],
            }
        ],
    }
    issues = validate_document(doc, lint=lint, catalog=catalog())
    assert [(i.path, i.severity) for i in issues] == [
        ("endpoints[0].backend[0].extra_config.backend/lambda.fuction", "error")
    ]
