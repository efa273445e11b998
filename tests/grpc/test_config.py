"""The grpc catalog and backend/grpc at start-up: files, folders, imports, methods; errors with
their JSON paths, from the gateway build and from the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, load
from tests.conftest import ROOT
from tests.grpc.conftest import compile_descriptor_set, grpc_backend, grpc_config

BACKEND_PATH = "endpoints[0].backend[0]"


def _doc(catalog: list[str], url_pattern: str = "/flights.Flights/FindFlight", **grpc: Any) -> dict[str, Any]:
    backend = grpc_backend("127.0.0.1:19", grpc=grpc)
    backend["url_pattern"] = url_pattern
    return grpc_config(catalog, [{"endpoint": "/f", "backend": [backend]}])


async def _build_issues(doc: dict[str, Any], base_dir: Path | None = None) -> list[tuple[str, str]]:
    try:
        gateway = await build_gateway(build_service(doc), base_dir=base_dir, serving=False)
    except ConfigError as exc:
        return [(i.path, i.message) for i in exc.issues]
    await gateway.close()
    return []


async def test_grpc_catalog_missing_file_is_an_error_at_its_path(tmp_path, flights_pb) -> None:
    issues = await _build_issues(_doc([str(flights_pb), str(tmp_path / "nope.pb")]))
    assert issues == [("extra_config.grpc.catalog[1]", f"no such file or folder: {tmp_path / 'nope.pb'}")]


async def test_grpc_catalog_unparsable_file_is_an_error(tmp_path) -> None:
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xff\xff not a descriptor set")
    issues = await _build_issues(_doc([str(bad)]))
    assert len(issues) == 1 and issues[0][0] == "extra_config.grpc.catalog[0]"
    assert "not a protobuf FileDescriptorSet" in issues[0][1]


async def test_grpc_catalog_folder_resolves_imports_in_any_order(tmp_path) -> None:
    folder = tmp_path / "catalog"
    (folder / "sub").mkdir(parents=True)
    # trains.pb holds only trains.proto (its import flights.proto is in another file, read later)
    compile_descriptor_set(folder / "a_trains.pb", "trains.proto", include_imports=False)
    compile_descriptor_set(folder / "sub" / "flights.pb")
    assert await _build_issues(_doc(["catalog"], "/trains.Trains/FindTrains"), base_dir=tmp_path) == []


async def test_grpc_catalog_missing_import_is_an_error(tmp_path) -> None:
    pb = compile_descriptor_set(tmp_path / "trains.pb", "trains.proto", include_imports=False)
    issues = await _build_issues(_doc([str(pb)], "/trains.Trains/FindTrains"))
    message = "trains.proto imports flights.proto, which no catalog file defines"
    assert issues == [("extra_config.grpc.catalog[0]", message)]


async def test_grpc_catalog_well_known_imports_come_bundled(tmp_path) -> None:
    pb = compile_descriptor_set(tmp_path / "flights.pb", include_imports=False)
    assert await _build_issues(_doc([str(pb)])) == []


async def test_grpc_catalog_empty_folder_is_a_warning(tmp_path, flights_pb) -> None:
    (tmp_path / "empty").mkdir()
    gateway = await build_gateway(build_service(_doc([str(flights_pb), str(tmp_path / "empty")])), serving=False)
    assert any("extra_config.grpc.catalog[1]: no .pb file" in w for w in gateway.warnings)
    await gateway.close()


@pytest.mark.parametrize(
    ("url_pattern", "message"),
    [
        (
            "/flights.Flights/Nope",
            "service 'flights.Flights' has no method 'Nope' (it has: BookFlight, FindFlight, Watch)",
        ),
        ("/flights.Boats/FindFlight", "service 'flights.Boats' is not in the gRPC catalog"),
        ("/flights.Flights/Watch", "flights.Flights.Watch streams: only unary methods are supported"),
    ],
)
async def test_grpc_backend_method_must_be_in_catalog(flights_pb, url_pattern, message) -> None:
    assert await _build_issues(_doc([str(flights_pb)], url_pattern)) == [(f"{BACKEND_PATH}.url_pattern", message)]


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return path


def test_grpc_backend_url_pattern_must_name_a_method(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, _doc(["x.pb"], "/api/v1/flights")))
    assert [(i.path, i.message) for i in caught.value.issues] == [
        (
            f"{BACKEND_PATH}.url_pattern",
            "a gRPC backend's url_pattern names the method as /package.Service/Method, not '/api/v1/flights'",
        )
    ]


def test_grpc_backend_needs_the_catalog(tmp_path) -> None:
    doc = _doc(["x.pb"])
    del doc["extra_config"]["grpc"]
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, doc))
    assert [i.path for i in caught.value.issues] == [f"{BACKEND_PATH}.extra_config.backend/grpc"]


def test_grpc_backend_unknown_option_is_a_schema_error(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, _doc(["x.pb"], output_enums_as_strings=True)))
    assert any("output_enums_as_strings" in i.message or "output_enums" in i.path for i in caught.value.issues)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    command = [sys.executable, "-m", "krakenpy", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_grpc_check_missing_catalog_file_exits_1(tmp_path) -> None:
    config = _write(tmp_path, _doc(["grpc/missing.pb"]))
    result = _cli("check", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "extra_config.grpc.catalog[0]" in result.stderr and "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
    # like every file-reading namespace: --skip-components parses, and opens no file
    skipped = _cli("check", "--skip-components", "-c", str(config), cwd=ROOT)
    assert skipped.returncode == 0, skipped.stderr


def test_grpc_check_server_is_a_warning(tmp_path, flights_pb) -> None:
    doc = _doc([str(flights_pb)])
    doc["extra_config"]["grpc"]["server"] = {"services": []}
    result = _cli("check", "-c", str(_write(tmp_path, doc)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "extra_config.grpc.server" in result.stderr and "WARNING" in result.stderr
