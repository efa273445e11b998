"""Hostile configuration files: ``check`` answers in bounded time and memory, never with a traceback,
and refuses configs that would fail every request (issue: hardening)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from krakenpy.errors import ConfigError
from krakenpy.gateway import load

ENDPOINT = {"endpoint": "/a", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _check(path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``krakenpy check`` in a subprocess, killed (and the test failed) after ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)], capture_output=True, text=True, timeout=timeout
    )


def _issues(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load(path, use_env=False)
    return [(i.path, i.message) for i in info.value.issues]


def test_hostile_negative_and_overflowing_durations_are_rejected(tmp_path: Path) -> None:
    doc = {"version": 3, "timeout": "-5s", "endpoints": [{**ENDPOINT, "timeout": "9999999999999999h"}]}
    issues = _issues(_write(tmp_path, "k.json", orjson.dumps(doc)))
    assert [p for p, _ in issues] == ["timeout", "endpoints[0].timeout"]
    assert "negative" in issues[0][1] and "maximum" in issues[1][1]


def test_hostile_bad_duration_is_reported_once(tmp_path: Path) -> None:
    doc = {"version": 3, "timeout": "abc", "endpoints": [ENDPOINT]}
    assert [p for p, _ in _issues(_write(tmp_path, "k.json", orjson.dumps(doc)))] == ["timeout"]


def test_hostile_backend_without_any_host_is_rejected(tmp_path: Path) -> None:
    no_host = {"endpoint": "/b", "backend": [{"host": [], "url_pattern": "/"}]}
    lam = {
        "endpoint": "/l",
        "backend": [{"url_pattern": "/", "extra_config": {"backend/lambda": {"function_name": "f"}}}],
    }
    doc = {"version": 3, "endpoints": [ENDPOINT, no_host, lam]}
    issues = _issues(_write(tmp_path, "k.json", orjson.dumps(doc)))
    assert issues == [("endpoints[1].backend[0].host", "no host: set one here or in the service's host")]


# the bound is the subprocess timeout: about 2 s on an idle machine, an expanded bomb never ends
def test_hostile_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["version: 3", "endpoints: [{endpoint: /a, backend: [{url_pattern: /, host: ['http://h']}]}]"]
    lines.append("a0: &a0 [" + ",".join(["lol"] * 10) + "]")
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    out = _check(_write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"), timeout=100)
    assert out.returncode == 1 and "alias bomb" in out.stderr and "Traceback" not in out.stderr


def test_hostile_cyclic_yaml_alias_in_static_data_is_refused(tmp_path: Path) -> None:
    text = (
        "version: 3\n"
        "endpoints:\n"
        "  - endpoint: /a\n"
        "    backend: [{url_pattern: /, host: ['http://h']}]\n"
        "    extra_config: {proxy: {static: {data: &d {self: *d}}}}\n"
    )
    out = _check(_write(tmp_path, "cycle.yaml", text))
    assert out.returncode == 1 and "cyclic" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [("deep.yaml", "x: " + "[" * 100_000 + "]" * 100_000), ("deep.toml", "x = " + "[" * 100_000 + "]" * 100_000)],
)
def test_hostile_deeply_nested_files_are_a_config_error(tmp_path: Path, name: str, text: str) -> None:
    out = _check(_write(tmp_path, name, "version = 3\n" + text if name.endswith(".toml") else "version: 3\n" + text))
    assert out.returncode == 1 and "nested too deeply" in out.stderr and "Traceback" not in out.stderr


# about 25 s here; the wide bound fails a blow-up (worse than linear in the endpoints), not a busy machine
@pytest.mark.timeout(400)
def test_hostile_twenty_thousand_bad_endpoints_are_checked_in_bounded_time(tmp_path: Path) -> None:
    endpoints = [{**ENDPOINT, "endpoint": f"/e{i}", "timeout": "1x"} for i in range(20_000)]
    path = _write(tmp_path, "big.json", orjson.dumps({"version": 3, "endpoints": endpoints}))
    out = _check(path, timeout=360)
    assert out.returncode == 1
    assert out.stderr.count("is not a Go duration") == 20_000  # every error, once
