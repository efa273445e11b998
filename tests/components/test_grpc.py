"""``grpc``: the catalog at start-up (files, folders, imports); errors at their JSON paths, from the
gateway build and from the real CLI. The calls themselves: tests/grpc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.conftest import ROOT
from tests.grpc.conftest import compile_descriptor_set, flights_pb, grpc_backend, grpc_config

__all__ = ["flights_pb"]  # the fixture, shared with tests/grpc

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
    message = f"cannot read {tmp_path / 'nope.pb'}: No such file or directory"
    assert issues == [("extra_config.grpc.catalog[1]", message)]


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


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    command = [sys.executable, "-m", "krakenpy", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_grpc_check_missing_catalog_file_exits_1(tmp_path) -> None:
    config = _write(tmp_path, _doc(["grpc/missing.pb"]))
    result = _cli("check", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "extra_config.grpc.catalog[0]" in result.stderr
    assert "grpc/missing.pb: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
    # like every file-reading namespace: --skip-components parses, and opens no file
    skipped = _cli("check", "--skip-components", "-c", str(config), cwd=ROOT)
    assert skipped.returncode == 0, skipped.stderr


def test_grpc_check_server_method_published_twice_is_an_error(tmp_path, flights_pb) -> None:
    method = {"name": "FindFlight", "backend": [{"host": ["http://127.0.0.1:8000"], "url_pattern": "/f"}]}
    doc = _doc([str(flights_pb)])
    doc["extra_config"]["grpc"]["server"] = {"services": [{"name": "flights.Flights", "methods": [method, method]}]}
    result = _cli("check", "-c", str(_write(tmp_path, doc)), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "extra_config.grpc.server.services[0].methods[1].name" in result.stderr + result.stdout
    assert "published twice" in result.stderr + result.stdout


async def test_grpc_catalog_first_definition_wins_a_conflict(tmp_path) -> None:
    from grpc_tools import protoc

    (tmp_path / "a.proto").write_text(
        'syntax = "proto3"; package dup; message M { string a = 1; } service S { rpc Get(M) returns (M); }'
    )
    (tmp_path / "b.proto").write_text('syntax = "proto3"; package dup; message M { int32 b = 1; }')
    for name in ("a", "b"):
        out = f"--descriptor_set_out={tmp_path / name}.pb"
        assert protoc.main(["protoc", f"-I{tmp_path}", out, f"{name}.proto"]) == 0
    doc = grpc_config(
        [str(tmp_path / "a.pb"), str(tmp_path / "b.pb")],
        [{"endpoint": "/f", "backend": [grpc_backend("127.0.0.1:19", "Get") | {"url_pattern": "/dup.S/Get"}]}],
    )
    gateway = await build_gateway(build_service(doc), serving=False)
    assert any("extra_config.grpc.catalog[1]: b.proto left out" in w and "dup.M" in w for w in gateway.warnings)
    await gateway.close()
