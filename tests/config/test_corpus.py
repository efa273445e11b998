"""The real-world KrakenD configurations of the shared corpus pass plain (non-lint) validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.components.registry import catalog
from krakenpy.config.coerce import coerce_weak
from krakenpy.config.namespaces import namespace_issues, normalize_aliases
from krakenpy.config.schema import validate_document
from tests.corpus import CORPUS, FILES, needs_corpus

pytestmark = needs_corpus


def _prepared(number: str) -> dict[str, Any]:
    (path,) = CORPUS.glob(f"{number}-*.json")
    doc: dict[str, Any] = orjson.loads(path.read_bytes())
    normalize_aliases(doc)
    coerce_weak(doc)
    return doc


def test_corpus_is_complete() -> None:
    assert len(FILES) == 60


@pytest.mark.parametrize("path", FILES, ids=[p.name[:3] for p in FILES])
def test_corpus_file_passes_plain_check(path: Path) -> None:
    doc = _prepared(path.name[:3])
    errors = [str(i) for i in validate_document(doc, lint=False, catalog=catalog()) if i.severity == "error"]
    # 002 (the Enterprise playground) too: the schemas accept it, its security/policies included
    # (asserted further in tests/test_corpus_check.py)
    assert errors == []


def test_corpus_027_boolean_concurrent_calls_is_coerced() -> None:
    raw = orjson.loads(next(CORPUS.glob("027-*.json")).read_bytes())
    assert True in [e.get("concurrent_calls") for e in raw["endpoints"]]
    doc = _prepared("027")
    assert {e["concurrent_calls"] for e in doc["endpoints"] if "concurrent_calls" in e} <= {0, 1}
    assert not [i for i in validate_document(doc, lint=False, catalog=catalog()) if "concurrent_calls" in i.path]


def _warned(number: str, message: str) -> set[str]:
    return {i.path for i in namespace_issues(_prepared(number), catalog()) if i.message == message}


EE = "KrakenD Enterprise namespace: not supported, ignored"
CE = "CE namespace not implemented by krakenpy yet: ignored"
UNKNOWN = "unknown namespace: ignored"


def test_corpus_013_enterprise_namespaces_are_implemented() -> None:
    # auth/api-keys and qos/ratelimit/tiered are implemented (with EE's field names): nothing is named
    assert _warned("013", EE) == set()


def test_corpus_014_grpc_is_implemented() -> None:
    assert not any("grpc" in p for p in _warned("014", EE))  # grpc and backend/grpc are served now


def test_corpus_017_mcp_is_implemented_at_both_levels() -> None:
    assert not any(
        issue.path.endswith("extra_config.ai/mcp") for issue in namespace_issues(_prepared("017"), catalog())
    )
    assert "extra_config.telemetry/logging" not in _warned("017", CE)  # implemented now


def test_corpus_020_unknown_namespace() -> None:
    assert any(p.endswith(".extra_config.proxy/forward_headers") for p in _warned("020", UNKNOWN))


def test_corpus_implemented_namespaces_do_not_warn() -> None:
    doc = _prepared("011")  # backend/http only
    assert namespace_issues(doc, catalog()) == []


def test_corpus_042_legacy_aliases_are_renamed() -> None:
    doc = _prepared("042")
    ec = doc["endpoints"][2]["extra_config"]
    assert "auth/validator" in ec
    assert not any(k.startswith("github") for k in ec)
    # krakend-gologging is only aliased under the github_com spelling by KrakenD; krakenpy takes both
    assert "telemetry/logging" in doc["extra_config"]


def test_corpus_lint_rejects_legacy_keys() -> None:
    doc = _prepared("043")
    assert [i for i in validate_document(doc, lint=True, catalog=catalog()) if i.message == "unknown key"]


@pytest.mark.parametrize("path", FILES, ids=[p.name[:3] for p in FILES])
def test_corpus_file_quick_check_passes_only_what_the_validator_passes(path: Path) -> None:
    """The quick check (jsonschema-rs) skips the full validator only for documents it finds valid."""
    from krakenpy.config import schema

    doc = _prepared(path.name[:3])
    if schema.quick_validator().is_valid(doc):
        assert list(schema._validator().iter_errors(doc)) == []
