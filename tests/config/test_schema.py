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
    assert schema_mod.quick_validator() is schema_mod.quick_validator()


ROOT = Path(__file__).parents[2]
#: every configuration of the repository (sample, bench and the schema cases' documents)
DOCUMENTS = [
    *sorted((ROOT / "sample-configs").glob("*.json")),
    *sorted((ROOT / "bench" / "configs").glob("*.json")),
    *CASES,
]


def _agrees(doc: Any) -> tuple[bool, bool]:
    """(the quick check's verdict, the full validator's: no error of any kind)."""
    return schema_mod.quick_validator().is_valid(doc), not list(schema_mod._validator().iter_errors(doc))


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_schema_quick_check_agrees_with_the_validator(path: Path) -> None:
    """A document the quick check (jsonschema-rs) passes is one the full validator passes: only then
    is the full validator (and its import) skipped; and what the validator passes the quick check
    passes too, or every start would pay both."""
    doc = _load(path)
    doc = doc["data"] if path.parent == CASES_DIR else doc
    quick, full = _agrees(doc)
    assert quick == full


@pytest.mark.parametrize("value", ["3s\n", "３s", "1s", "", "1m\n2s", "µs"])
def test_schema_quick_check_passes_nothing_the_validator_refuses(value: str) -> None:
    """Regular expressions differ between Python's re and the Rust engine at the edges (``$`` before
    a final newline, Unicode digits): where they differ, the quick check must be the stricter one
    (its "invalid" only sends the document to the full validator)."""
    doc = {
        "version": 3,
        "timeout": value,
        "endpoints": [{"endpoint": "/a", "timeout": value, "backend": [{"url_pattern": "/", "host": ["h"]}]}],
        "extra_config": {"telemetry/metrics": {"listen_address": f"{value}:9"}},
    }
    quick, full = _agrees(doc)
    assert full or not quick
    assert quick == (value == "1s")


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
