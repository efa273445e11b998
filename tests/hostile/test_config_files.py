"""Hostile configuration files: ``check`` answers in bounded time and memory, never with a traceback,
and refuses configs that would fail every request (issue: hardening)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.errors import ConfigError
from krakenpy.files import MAX_CONFIG_FILE
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


def test_hostile_backend_without_any_host_warns_and_lint_rejects(tmp_path: Path) -> None:
    # KrakenD starts and answers 500 ('no hosts available') on that endpoint: check warns, --lint refuses
    no_host = {"endpoint": "/b", "backend": [{"host": [], "url_pattern": "/"}]}
    lam = {
        "endpoint": "/l",
        "backend": [{"url_pattern": "/", "extra_config": {"backend/lambda": {"function_name": "f"}}}],
    }
    doc = {"version": 3, "endpoints": [ENDPOINT, no_host, lam]}
    path = _write(tmp_path, "k.json", orjson.dumps(doc))
    warnings = [(w.path, w.severity) for w in load(path, use_env=False).warnings if "no host" in w.message]
    assert warnings == [("endpoints[1].backend[0].host", "warning")]
    with pytest.raises(ConfigError) as info:
        load(path, use_env=False, lint=True)
    assert [(i.path, i.severity) for i in info.value.issues if "no host" in i.message] == [
        ("endpoints[1].backend[0].host", "error")
    ]


async def test_hostile_backend_without_any_host_answers_500_and_the_rest_serves(backend: Any, gateway: Any) -> None:
    async def small(request: web.Request) -> web.Response:
        return web.json_response({"a": 1})

    app = web.Application()
    app.router.add_get("/s", small)
    host = await backend(app)
    good = {"host": [host], "url_pattern": "/s"}
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/none", "backend": [{"host": [], "url_pattern": "/s"}]},
            {"endpoint": "/half", "backend": [good, {"host": [], "url_pattern": "/s", "group": "g"}]},
            {"endpoint": "/ok", "backend": [good]},
        ],
    }
    client = await gateway(doc)
    none = await client.get("/none")
    assert none.status == 500 and await none.read() == b""
    half = await client.get("/half")  # the other backend's data, marked incomplete, as a failed backend does
    assert await half.json() == {"a": 1} and half.headers["X-Krakend-Completed"] == "false"
    ok = await client.get("/ok")
    assert ok.status == 200 and await ok.json() == {"a": 1}


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


def test_hostile_yaml_keys_that_are_not_strings_are_errors_at_their_path(tmp_path: Path) -> None:
    # the schema's validator raised ValueError on a key that is not a string: a traceback from check
    text = (
        "version: 3\n"
        "1: x\n"
        "endpoints:\n"
        "  - endpoint: /a\n"
        "    backend: [{url_pattern: /, host: ['http://h'], extra_config: {null: 1, 1.5: 2, TRUE: 3,"
        " o: !!omap [{1: a}]}}]\n"
    )
    out = _check(_write(tmp_path, "keys.yaml", text))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("ERROR")] == [
        "ERROR: (root): the key 1 (a number) is not a string: quote it in YAML",
        "ERROR: endpoints[0].backend[0].extra_config: the key null is not a string: quote it in YAML",
        "ERROR: endpoints[0].backend[0].extra_config: the key 1.5 (a number) is not a string: quote it in YAML",
        "ERROR: endpoints[0].backend[0].extra_config: the key true (a boolean) is not a string: quote it in YAML",
        "ERROR: endpoints[0].backend[0].extra_config.o[0]: the key 1 (a number) is not a string: quote it in YAML",
    ]


def test_hostile_yaml_scalars_resolve_as_yaml_v3_core_schema(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 words were read: `no`/`on` were booleans (an `on:` key failed check, KrakenD
    # reads a string), 12:30 a base-60 number 750, 0o17 and 1e3 strings; !!omap was a list of tuples
    text = (
        "version: 3\n"
        "endpoints:\n"
        "  - endpoint: /a\n"
        "    backend: [{url_pattern: /, host: ['http://h']}]\n"
        "    extra_config: {proxy: {static: {data: {a: no, b: on, c: yes, d: 12:30, e: 0o17, f: 1e3, h: off,"
        " i: 017, j: 0x1F, k: -0b11, l: 1_000, m: .5, n: 09, o: 1e999, p: True, q: ~, r: Yes, on: k, No: k2,"
        " s: !!omap [x: 1, y: 2], t: !!pairs [x: 1, x: 2], u: !!float 2}}}}\n"
    )
    data = load(_write(tmp_path, "core.yaml", text), use_env=False).service.endpoints[0].proxy.static
    assert data is not None
    assert data.data == {
        "a": "no",
        "b": "on",
        "c": "yes",
        "d": "12:30",
        "e": 15,
        "f": 1000.0,
        "h": "off",
        "i": 15,
        "j": 31,
        "k": -3,
        "l": 1000,
        "m": 0.5,
        "n": 9.0,
        "o": "1e999",
        "p": True,
        "q": None,
        "r": "Yes",
        "on": "k",
        "No": "k2",
        "s": [{"x": 1}, {"y": 2}],
        "t": [{"x": 1}, {"x": 2}],
        "u": 2.0,
    }
    assert orjson.loads(orjson.dumps(data.data)) == data.data


@pytest.mark.parametrize("value", ["!!bool yes", "!!int 1.5", "!!null x", "!!float on"])
def test_hostile_yaml_tag_that_does_not_fit_its_text_is_an_error(tmp_path: Path, value: str) -> None:
    text = "version: 3\nendpoints: []\nx: " + value + "\n"
    with pytest.raises(ConfigError, match=r"invalid YAML: cannot read '[^']+' as !!"):
        load(_write(tmp_path, "tag.yaml", text), use_env=False)


def test_hostile_yaml_values_are_read_as_json_types(tmp_path: Path) -> None:
    # a date, !!binary or !!set passed check as a date, bytes or set: every request rendering them
    # failed (500, "Type is not JSON serializable"); Go's yaml.v3 reads them as strings and a mapping
    text = (
        "version: 3\n"
        "endpoints:\n"
        "  - endpoint: /a\n"
        "    backend: [{url_pattern: /, host: ['http://h']}]\n"
        "    extra_config: {proxy: {static: {data: {d: 2001-01-01, t: 2001-01-01T01:02:03Z,"
        " e: !!timestamp 2001-01-02, b: !!binary aGVsbG8=, s: !!set {x, y}, 2001-01-03: k}}}}\n"
    )
    loaded = load(_write(tmp_path, "values.yaml", text), use_env=False)
    static = loaded.service.endpoints[0].proxy.static
    assert static is not None
    data = static.data
    assert data == {
        "d": "2001-01-01",
        "t": "2001-01-01T01:02:03Z",
        "e": "2001-01-02",
        "b": "hello",
        "s": {"x": None, "y": None},
        "2001-01-03": "k",
    }
    assert orjson.loads(orjson.dumps(data)) == data


def test_hostile_toml_dates_are_read_as_text(tmp_path: Path) -> None:
    # TOML's dates were Python objects: a Lua script saw Python's text (1979-05-27 07:32:00+00:00)
    text = (
        'version = 3\n[[endpoints]]\nendpoint = "/a"\n[endpoints.extra_config.proxy.static.data]\n'
        "z = 1979-05-27T07:32:00Z\no = 1979-05-27T00:32:00-07:00\nd = 1979-05-27\nt = [[07:32:00]]\n"
        "f = 1979-05-27T00:32:00.5Z\ng = 1979-05-27T00:32:00.120-07:00\nlt = 07:32:00.250\n"
        '[[endpoints.backend]]\nhost = ["http://h"]\nurl_pattern = "/"\n'
    )
    static = load(_write(tmp_path, "dates.toml", text), use_env=False).service.endpoints[0].proxy.static
    assert static is not None
    assert static.data == {
        "z": "1979-05-27T07:32:00Z",
        "o": "1979-05-27T00:32:00-07:00",
        "d": "1979-05-27",
        "t": [["07:32:00"]],
        "f": "1979-05-27T00:32:00.5Z",  # Go's JSON of a time.Time: no trailing zeros (Python wrote .500000)
        "g": "1979-05-27T00:32:00.12-07:00",
        "lt": "07:32:00.25",
    }
    assert orjson.loads(orjson.dumps(static.data)) == static.data


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


def _named_file_configs(target: str) -> dict[str, tuple[dict[str, object], str]]:
    """Configs naming ``target`` as a file krakenpy reads at start-up, with the JSON path of the field."""
    backend = [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]

    def endpoint(extra: dict[str, object]) -> dict[str, object]:
        return {"version": 3, "endpoints": [{"endpoint": "/a", "backend": backend, "extra_config": extra}]}

    validator = {"alg": "RS256", "jwk_local_path": target, "disable_jwk_security": True}
    signer = {"alg": "RS256", "kid": "k1", "keys_to_sign": ["a"], "jwk_local_path": target}
    at = "endpoints[0].extra_config"
    return {
        "validator": (endpoint({"auth/validator": validator}), f"{at}.auth/validator.jwk_local_path"),
        "validator-ca": (
            endpoint({"auth/validator": {"alg": "RS256", "jwk_url": "https://127.0.0.1:19/k", "jwk_local_ca": target}}),
            f"{at}.auth/validator.jwk_local_ca",
        ),
        "signer": (endpoint({"auth/signer": signer}), f"{at}.auth/signer.jwk_local_path"),
        "htpasswd": (
            {**endpoint({"auth/basic": {}}), "extra_config": {"auth/basic": {"htpasswd_path": target}}},
            "extra_config.auth/basic.htpasswd_path",
        ),
        "lua": (endpoint({"modifier/lua-endpoint": {"sources": [target]}}), f"{at}.modifier/lua-endpoint.sources[0]"),
        "tls": (
            {**endpoint({}), "tls": {"keys": [{"public_key": target, "private_key": target}]}},
            "tls.keys[0].public_key",
        ),
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["validator", "validator-ca", "signer", "htpasswd", "lua", "tls"])
@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "fifo", "big"])
def test_hostile_named_files_are_read_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, target: str
) -> None:
    from krakenpy.cli import main

    reason = "not a regular file"
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)  # nobody writes: opening it must not wait for a writer
    elif target == "big":
        target = str(tmp_path / "big")
        with open(target, "wb") as f:
            f.truncate(MAX_CONFIG_FILE + 1)  # sparse
        reason = "larger than the 16 MiB limit"
    doc, where = _named_file_configs(target)[kind]
    assert main(["check", "-c", str(_write(tmp_path, "k.json", orjson.dumps(doc)))]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"ERROR: {where}: ")]
    assert len(lines) == 1 and f"{target}: {reason}" in lines[0], lines


def test_hostile_named_device_through_the_cli_is_an_error_without_traceback(tmp_path: Path) -> None:
    doc, where = _named_file_configs("/dev/zero")["lua"]
    out = _check(_write(tmp_path, "k.json", orjson.dumps(doc)))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"ERROR: {where}: lua: unable to load required source /dev/zero: not a regular file" in out.stderr


def test_hostile_audit_file_check_creates_nothing_and_a_device_is_no_chain(tmp_path: Path) -> None:
    backend = [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]
    for path, ok in (("/dev/zero", True), (str(tmp_path / "new.log"), True), (str(tmp_path / "no/a.log"), False)):
        doc = {
            "version": 3,
            "extra_config": {"telemetry/audit": {"sink": "file", "path": path}},
            "endpoints": [{"endpoint": "/a", "backend": backend}],
        }
        out = _check(_write(tmp_path, "k.json", orjson.dumps(doc)))
        assert "Traceback" not in out.stderr
        if ok:
            assert out.returncode == 0, out.stderr
        else:
            assert out.returncode == 1
            assert out.stderr.count("extra_config.telemetry/audit.path: cannot create") == 1, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]  # check created no log file


def _hostile_numbers() -> list[tuple[str, dict[str, object], str | None]]:
    """(case, config, JSON path of the expected error or None when the config is valid)."""
    backend: dict[str, object] = {"host": ["http://127.0.0.1:19"], "url_pattern": "/"}
    revoker = {"N": 10, "P": 0.01, "TTL": 1e308, "port": 19999, "token_keys": ["jti"]}
    otel = {"trace_sample_rate": 1e308, "exporters": {"prometheus": [{"name": "p", "port": 19998}]}}
    flatmap = {"proxy": {"flatmap_filter": [{"type": "del", "args": 5}]}}
    return [
        ("revoker-ttl", {"extra_config": {"auth/revoker": revoker}}, "extra_config.auth/revoker.TTL"),
        (
            "revoker-n",
            {"extra_config": {"auth/revoker": {**revoker, "TTL": 60, "N": 10**30}}},
            "extra_config.auth/revoker.N",
        ),
        # any rate outside (0, 1) samples everything in KrakenD: valid, and must not overflow
        ("otel-rate", {"extra_config": {"telemetry/opentelemetry": otel}}, None),
        (
            "flatmap-endpoint",
            {"endpoints": [{"endpoint": "/a", "backend": [backend], "extra_config": flatmap}]},
            "endpoints[0].extra_config.proxy.flatmap_filter[0].args",
        ),
        (
            "flatmap-backend",
            {"endpoints": [{"endpoint": "/a", "backend": [{**backend, "extra_config": flatmap}]}]},
            "endpoints[0].backend[0].extra_config.proxy.flatmap_filter[0].args",
        ),
        # 2**64 calls per request: the worker created tasks until it ran out of memory, answering nothing
        (
            "concurrent-calls",
            {"endpoints": [{"endpoint": "/a", "concurrent_calls": 2**64, "backend": [backend]}]},
            "endpoints[0].concurrent_calls",
        ),
        (
            "concurrent-calls-bound",
            {"endpoints": [{"endpoint": "/a", "concurrent_calls": 100, "backend": [backend]}]},
            None,
        ),
    ]


@pytest.mark.parametrize(("case", "doc", "where"), _hostile_numbers(), ids=[c[0] for c in _hostile_numbers()])
def test_hostile_numbers_are_config_errors_at_their_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, doc: dict[str, object], where: str | None
) -> None:
    from krakenpy.cli import main

    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"]}]}], **doc}
    code = main(["check", "-c", str(_write(tmp_path, "k.json", json.dumps(doc)))])  # json: N is over 64 bits
    err = capsys.readouterr().err
    if where is None:
        assert code == 0, err
    else:
        assert code == 1 and [line.split(": ", 2)[1] for line in err.splitlines() if line.startswith("ERROR")] == [
            where
        ], err


def test_hostile_control_characters_in_paths_and_quoted_values_print_escaped(tmp_path: Path) -> None:
    """A key or a value quoted by an error or a warning (an endpoint's path, a plugin's name, an unknown
    key or namespace) with control characters was printed raw: a newline forged an ``ERROR:`` line
    without a path, an escape sequence recoloured or cleared the terminal. Every line ``check`` prints
    is one issue at its path, the characters written as escapes."""
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/"}
    odd = {"x\n\x1b[31mns": {}, "qos/circuit-breaker": {"k\u2028y": 1}}
    plugin = {
        "version": 3,
        "plugin": {"pattern": ".so", "folder": "./"},
        "extra_config": {"plugin/http-server": {"name": ["p\nERROR: forged\x1b[2J"]}},
        "endpoints": [{"endpoint": "/b", "backend": [{**backend, "extra_config": odd}]}],
    }
    twice = {"version": 3, "endpoints": [{"endpoint": "/a\n\x1b[31m", "backend": [backend]}] * 2}
    expected = {
        "plugin": [
            "(p\\nERROR: forged\\x1b[2J)",
            "endpoints[0].backend[0].extra_config.x\\n\\x1b[31mns: unknown namespace",
            "qos/circuit-breaker.k\\u2028y: unknown key",
        ],
        "twice": ["endpoints[1].endpoint: duplicate endpoint 'GET /a\\n\\x1b[31m'"],
    }
    for name, doc in (("plugin", plugin), ("twice", twice)):
        out = _check(_write(tmp_path, f"{name}.json", json.dumps(doc)))
        assert out.returncode == 1, out.stderr
        lines = out.stderr.splitlines()
        assert "\x1b" not in out.stderr and "\u2028" not in out.stderr, out.stderr
        assert all(line.startswith(("ERROR: ", "WARNING: ")) for line in lines[:-1]), out.stderr
        assert all(text in out.stderr for text in expected[name]), out.stderr


def test_hostile_control_characters_in_a_build_warning_print_escaped(tmp_path: Path) -> None:
    """The build step's warnings (a static folder that does not exist yet, its path quoted) were
    printed as they came: a newline in the path started a line with no label."""
    static = {"server/static-filesystem": {"prefix": "/media/", "path": "./a\nERROR: forged\x1b[2J"}}
    doc = {"version": 3, "extra_config": static, "endpoints": [ENDPOINT]}
    out = _check(_write(tmp_path, "s.json", json.dumps(doc)))
    assert "does not exist (yet)" in out.stderr, out.stderr
    assert "\x1b" not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    assert all(line.startswith(("ERROR: ", "WARNING: ")) or " warning(s) in " in line for line in lines), out.stderr


def test_hostile_service_host_of_another_type_is_reported_at_host(tmp_path: Path) -> None:
    """The service's ``host`` holding a list (or an object) was reported a second time at ``.host``,
    a path no file has."""
    for host in ([["http://127.0.0.1:8000"]], {"a": 1}):
        out = _check(_write(tmp_path, "k.json", json.dumps({"version": 3, "host": host, "endpoints": [ENDPOINT]})))
        assert out.returncode == 1, out.stderr
        paths = [line.split(": ", 2)[1] for line in out.stderr.splitlines() if line.startswith("ERROR")]
        assert paths and all(p == "host" or p.startswith("host[") for p in paths), out.stderr


def test_hostile_template_nested_past_the_parser_is_a_config_error(tmp_path: Path) -> None:
    """A Go template nesting 2000 parentheses (or ``if`` blocks) ran the template parser out of stack:
    ``check`` ended on a ``RecursionError`` traceback, for an inline body-generator template and for a
    Flexible Configuration file alike."""
    import base64

    for i, text in enumerate(("{{" + "(" * 2000 + "1" + ")" * 2000 + "}}", "{{if 1}}" * 2000 + "{{end}}" * 2000)):
        inline = base64.b64encode(text.encode()).decode()
        endpoint = {**ENDPOINT, "extra_config": {"modifier/response-body-generator": {"template": inline}}}
        out = _check(_write(tmp_path, f"k{i}.json", json.dumps({"version": 3, "endpoints": [endpoint]})))
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        where = "ERROR: endpoints[0].extra_config.modifier/response-body-generator.template: template syntax error"
        assert where in out.stderr and "nested too deeply" in out.stderr, out.stderr
        fc = subprocess.run(
            [sys.executable, "-m", "krakenpy", "check", "-c", str(_write(tmp_path, f"k{i}.tmpl", text))],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "FC_ENABLE": "1"},
        )
        assert fc.returncode == 1 and "Traceback" not in fc.stderr and "nested too deeply" in fc.stderr, fc.stderr
