"""documentation/postman (KrakenD Enterprise): ``krakenpy generate postman`` through the real CLI
writes a Postman collection v2.1 (checked item by item against the format's rules: the Postman
schema ships in no PyPI or npm package), with folders, names and descriptions from the config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, make_config
from tests.corpus import CORPUS, needs_corpus

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def _generate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "generate", "postman", "-c", str(config), *args],
        cwd=config.parent,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _check_item(item: Any, where: str) -> int:
    """Collection v2.1's rules for an item or a folder (item-group); the number of requests."""
    assert isinstance(item, dict) and isinstance(item.get("name"), str), where
    if "item" in item:  # a folder
        assert set(item) <= {"name", "description", "item"} and isinstance(item["item"], list), where
        return sum(_check_item(child, f"{where}/{item['name']}") for child in item["item"])
    assert set(item) <= {"name", "request", "response"} and item["response"] == [], where
    request = item["request"]
    assert set(request) <= {"method", "header", "url", "body", "description"}, where
    assert request["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}, where
    assert all(set(h) == {"key", "value", "disabled"} for h in request["header"]), where
    url = request["url"]
    assert url["raw"] == "{{HOST}}/" + "/".join(url["path"]) and url["host"] == ["{{HOST}}"], where
    for variable in url.get("variable", []):
        assert ":" + variable["key"] in url["path"], where
    if "body" in request:
        assert request["body"]["mode"] == "raw", where
    return 1


def _check_collection(doc: dict[str, Any]) -> int:
    assert set(doc) == {"info", "item", "variable"}
    assert doc["info"]["schema"] == SCHEMA and isinstance(doc["info"]["name"], str)
    assert doc["variable"][0]["key"] == "HOST"
    return sum(_check_item(item, "") for item in doc["item"])


def _config() -> dict[str, Any]:
    backend = [{"host": ["http://127.0.0.1:9000"], "url_pattern": "/"}]
    endpoints = [
        {
            "endpoint": "/books/{id}",
            "input_query_strings": ["lang", "*"],
            "input_headers": ["X-User"],
            "backend": backend,
            "extra_config": {"documentation/postman": {"name": "One book", "description": "By id", "folder": "/Books"}},
        },
        {
            "endpoint": "/books",
            "method": "POST",
            "backend": backend,
            "extra_config": {"documentation/postman": {"folder": "/Books/Admin"}},
        },
        {"endpoint": "/health/deep", "backend": backend},
        {"endpoint": "/x", "backend": backend, "extra_config": {"documentation/postman": {"folder": "Extra"}}},
    ]
    service = {
        "name": "Library",
        "description": "All the **books**",
        "version": "2.0",
        "folder": [
            {"name": "/Authors", "description": "Nobody yet"},
            {"name": "/Books", "description": "Read them"},
            {"name": "/Books/Admin", "description": "Staff only"},
        ],
    }
    return make_config(endpoints, port=8081, extra_config={"documentation/postman": service})


def test_postman_generate_collection_through_the_cli(tmp_path: Path) -> None:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_config()))
    done = _generate(config, "-o", str(tmp_path / "postman.json"))
    assert done.returncode == 0, done.stderr
    assert "Postman collection written to" in done.stderr
    doc = json.loads((tmp_path / "postman.json").read_text())
    assert _check_collection(doc) == 4
    assert doc["info"] == {"name": "Library", "schema": SCHEMA, "description": "All the **books**", "version": "2.0"}
    assert doc["variable"][0]["value"] == "http://localhost:8081"
    authors, books, extra, health = doc["item"]  # declared folders first, then named ones, then loose requests
    assert authors == {"name": "Authors", "item": [], "description": "Nobody yet"}
    assert books["description"] == "Read them" and extra["name"] == "Extra"
    admin, one = books["item"]  # a sub-folder before the folder's own requests
    assert admin["description"] == "Staff only"
    post = admin["item"][0]
    assert post["name"] == "books" and post["request"]["method"] == "POST" and post["request"]["body"]["mode"] == "raw"
    assert one["name"] == "One book" and one["request"]["description"] == "By id"
    url = one["request"]["url"]
    assert url["raw"] == "{{HOST}}/books/:id" and url["variable"] == [{"key": "id", "value": ""}]
    assert url["query"] == [{"key": "lang", "value": "", "disabled": True}]  # "*" is not a parameter
    assert one["request"]["header"] == [{"key": "X-User", "value": "", "disabled": True}]
    assert health["name"] == "deep" and "description" not in health["request"]


def test_postman_generate_to_stdout(tmp_path: Path) -> None:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(make_config([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9000"]}]}])))
    done = _generate(config)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert _check_collection(doc) == 1 and doc["info"]["name"]


@needs_corpus
def test_postman_generate_corpus_002_playground() -> None:
    """38 endpoints in the playground's folders (the files its other namespaces name need not exist)."""
    done = _generate(next(CORPUS.glob("002-*.json")))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert _check_collection(doc) == 38
    names = [item["name"] for item in doc["item"]]
    assert names[:2] == ["API Composition & Transformation", "Authentication & Authorization"]
    ai = next(item for item in doc["item"] if item["name"] == "AI Integration")
    assert "Token Quota Management" in [request["name"] for request in ai["item"]]


def test_postman_generate_bad_folder_list_fails_with_json_path(tmp_path: Path) -> None:
    doc = _config()
    doc["extra_config"]["documentation/postman"]["folder"].append({"name": "Books/", "description": "again"})
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    done = _generate(config)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert "extra_config.documentation/postman.folder[3].name: folder 'Books' is declared twice" in done.stderr
