"""``backend/lambda`` option parsing, and ``krakenpy check`` on bad Lambda configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.errors import ConfigError
from krakenpy.lambda_.options import base_function, parse_options, valid_function_name
from tests.conftest import ROOT, make_config


def parse(raw: Any, method: str = "GET"):  # type: ignore[no-untyped-def]
    return parse_options(raw, method=method, path="endpoints[0].backend[0].extra_config.backend/lambda")


def test_parse_options_defaults_follow_backend_method() -> None:
    assert parse({"function_name": "f"}).payload == "params"
    options = parse({"function_param_name": "Fn"}, method="POST")
    assert options.payload == "body"
    assert options.function_error_status == 502
    assert options.invocation_type == "RequestResponse"
    assert options.allowed_functions is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "function_name"),
        ({"function_name": "a", "function_param_name": "B"}, "function_name"),
        ({"function_name": "bad name"}, "function_name"),
        ({"function_name": "f", "max_retries": "3"}, "max_retries"),
        ({"function_name": "f", "payload": "xml"}, "payload"),
        ({"function_name": "f", "invocation_type": "Async"}, "invocation_type"),
        ({"function_name": "f", "function_error_status": 200}, "function_error_status"),
        ({"function_name": "f", "error_type_status": {"E": "x"}}, "error_type_status.E"),
        ({"function_name": "f", "timeout": "soon"}, "timeout"),
        ({"function_name": "f", "endpoint": "localhost:4566"}, "endpoint"),
        ({"function_name": "f", "proxy_integration": "yes"}, "proxy_integration"),
        ({"function_param_name": "F", "allowed_functions": ["ok", "no way"]}, "allowed_functions"),
        ({"function_name": "f", "regoin": "x"}, "regoin"),
    ],
)
def test_parse_options_rejects_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert any(i.path == f"endpoints[0].backend[0].extra_config.backend/lambda.{field}" for i in info.value.issues)


def test_parse_options_rejects_non_object() -> None:
    with pytest.raises(ConfigError):
        parse(["f"])


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("fn", "fn"),
        ("fn:live", "fn"),
        ("fn:$LATEST", "fn"),
        ("123456789012:function:fn:2", "123456789012:function:fn"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:live", "arn:aws:lambda:us-east-1:123456789012:function:fn"),
    ],
)
def test_base_function_strips_qualifier(name: str, base: str) -> None:
    assert valid_function_name(name)
    assert base_function(name) == base


@pytest.mark.parametrize("name", ["", "a b", "../x", "fn:a:b:c", "x" * 300, "fn\n"])
def test_valid_function_name_rejects(name: str) -> None:
    assert not valid_function_name(name)


def _check(tmp_path: Path, lambda_ns: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    backend = {"host": ["http://127.0.0.1:10"], "url_pattern": "/", "extra_config": {"backend/lambda": lambda_ns}}
    path = tmp_path / "krakend.json"
    path.write_bytes(orjson.dumps(make_config([{"endpoint": "/f", "backend": [backend]}])))
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path)},
    )


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        ({"function_name": "a", "function_param_name": "B"}, "endpoints[0].backend[0].extra_config.backend/lambda"),
        ({"region": "us-east-1"}, "endpoints[0].backend[0].extra_config.backend/lambda"),
        ({"function_name": "f", "max_retries": "x"}, "backend/lambda.max_retries"),
        ({"function_name": "f", "region": "us-east-1", "timeout": "later"}, "backend/lambda.timeout"),
    ],
)
def test_parse_options_check_cli_rejects_bad_config(tmp_path: Path, ns: dict[str, Any], expected: str) -> None:
    out = _check(tmp_path, ns)
    assert out.returncode == 1, out.stdout
    assert expected in out.stderr


def test_parse_options_check_cli_accepts_valid_config(tmp_path: Path) -> None:
    out = _check(tmp_path, {"function_param_name": "Fn", "region": "eu-west-1", "allowed_functions": ["a"]})
    assert out.returncode == 0, out.stderr
    assert "Syntax OK!" in out.stdout
    assert "WARNING" not in out.stderr


def test_parse_options_check_cli_warns_without_region(tmp_path: Path) -> None:
    # KrakenD starts without a region and fails the calls; CI checks run without AWS_REGION
    out = _check(tmp_path, {"function_name": "f"})
    assert out.returncode == 0, out.stderr
    assert "WARNING: endpoints[0].backend[0].extra_config.backend/lambda.region" in out.stderr
