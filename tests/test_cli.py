"""The real CLI in a subprocess: check, version, run with graceful shutdown and workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli_gateway import wait_http
from tests.conftest import ROOT, free_port

PY = sys.executable


def _cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    return subprocess.run(
        [PY, "-m", "krakenpy", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def _write(tmp_path: Path, doc: Any, name: str = "krakend.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


def test_cli_version_prints_version() -> None:
    out = _cli("version")
    assert out.returncode == 0
    assert out.stdout.startswith("krakenpy 0.")


def test_cli_check_accepts_valid_config(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a/{id}", "backend": [{"host": ["h:8080"], "url_pattern": "/b/{id}"}]}],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 0, out.stderr
    assert "Syntax OK!" in out.stdout


def test_cli_check_reports_every_error_with_json_path(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/a", "backend": [{"host": ["localhost:1"], "url_pattern": "/b/{id}"}]},
            {"endpoint": "/c", "backend": []},
            {"endpoint": "/__health", "backend": [{"host": ["localhost:1"], "url_pattern": "/"}]},
            {"endpoint": "/d", "backend": [{"host": ["http://bad host/x"], "url_pattern": "/"}]},
        ],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1
    assert "endpoints[0].backend[0].url_pattern: undefined output param 'id'" in out.stderr
    # one error for one undefined parameter (lura's "input and output params do not match" said it again)
    assert out.stderr.count("endpoints[0].backend[0].url_pattern: ") == 1, out.stderr
    assert "endpoints[1].backend" in out.stderr
    assert "endpoints[2].endpoint" in out.stderr
    assert "endpoints[3].backend[0].host[0]" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_check_reports_the_errors_of_every_stage_in_one_run(tmp_path: Path) -> None:
    """``check`` stopped at the first stage with an error: the schema's, then the components'
    options, then the listener's files, then the build (Lua): a file with one error of each took four
    runs to fix. Every stage now goes on past the ones before, leaving out the blocks they blame."""
    doc = {
        "version": 3,
        "tls": {"keys": [{"public_key": str(tmp_path / "gone.crt"), "private_key": str(tmp_path / "gone.key")}]},
        "extra_config": {"security/cors": {"allow_origins": ["*"], "max_age": "12x"}},
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {
                    # the schema refuses this block: its parse (which expects a list) never runs
                    "validation/cel": "req_method == 'GET'",
                    "auth/validator": {"alg": "RS999", "jwk_url": "https://127.0.0.1:1/jwk"},
                },
                "backend": [{"host": ["http://127.0.0.1:99"], "url_pattern": "/"}],
            },
            {
                "endpoint": "/b",
                "extra_config": {
                    "validation/cel": [{"check_expr": "req_method =="}],
                    "modifier/lua-endpoint": {"pre": "local x = "},
                },
                "backend": [{"host": ["http://127.0.0.1:99"], "url_pattern": "/"}],
            },
        ],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    expected = [  # each stage's, in the order the stages run
        "ERROR: extra_config.security/cors.max_age: ",  # schema
        "ERROR: endpoints[0].extra_config.auth/validator.alg: ",  # schema
        "ERROR: endpoints[0].extra_config.validation/cel: ",  # schema
        "ERROR: endpoints[1].extra_config.validation/cel[0].check_expr: CEL syntax error",  # options
        "ERROR: tls.keys[0].public_key: cannot read",  # the listener's files
        "ERROR: endpoints[1].extra_config.modifier/lua-endpoint.pre: lua syntax error",  # the build
    ]
    for prefix in expected:
        assert sum(line.startswith(prefix) for line in errors) == 1, (prefix, errors)
    assert [next(i for i, line in enumerate(errors) if line.startswith(p)) for p in expected[2:]] == sorted(
        next(i for i, line in enumerate(errors) if line.startswith(p)) for p in expected[2:]
    )
    assert f"{len(errors)} error(s) in " in out.stderr
    # ``run`` still stops at the first stage: nothing is built from a file the schema refused
    run = _cli("run", "-c", _write(tmp_path, doc), "-p", str(free_port()), timeout=30)
    assert run.returncode == 1
    assert "lua syntax error" not in run.stderr and "max_age" in run.stderr


def test_cli_check_goes_on_past_the_models_errors(tmp_path: Path) -> None:
    """A duplicate endpoint, a bad duration or a bad port (the model's own checks, which the schema
    cannot see) stopped ``check`` before the components' options and the build: a Lua syntax error
    and a CEL error beside them needed another run. The endpoint that repeats is left out (its own
    blocks are checked once it no longer repeats)."""
    backend = {"host": ["http://127.0.0.1:99"], "url_pattern": "/"}
    doc = {
        "version": 3,
        "timeout": "3x",
        "listen_ip": "nope",
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"validation/cel": [{"check_expr": "req_method =="}]},
                "backend": [backend],
            },
            {"endpoint": "/a", "backend": [backend]},
            {"endpoint": "/b", "extra_config": {"modifier/lua-endpoint": {"pre": "local x = "}}, "backend": [backend]},
        ],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    for prefix in (
        "ERROR: timeout: ",
        "ERROR: listen_ip: invalid ip address",
        "ERROR: endpoints[1].endpoint: duplicate endpoint 'GET /a'",
        "ERROR: endpoints[0].extra_config.validation/cel[0].check_expr: CEL syntax error",
        "ERROR: endpoints[2].extra_config.modifier/lua-endpoint.pre: lua syntax error",
    ):
        assert sum(line.startswith(prefix) for line in errors) == 1, (prefix, errors)
    assert f"{len(errors)} error(s) in " in out.stderr
    run = _cli("run", "-c", _write(tmp_path, doc), "-p", str(free_port()), timeout=30)
    assert run.returncode == 1 and "duplicate endpoint" in run.stderr and "lua syntax error" not in run.stderr


def test_cli_check_says_a_components_logged_warning_once_with_its_label(tmp_path: Path) -> None:
    """A component that logs its warning as it builds (a CEL check that is never evaluated) had it
    printed twice by ``check``: bare, by Python's last-resort handler, and as ``WARNING:``; and when
    the build failed, only bare."""
    backend = {"host": ["http://127.0.0.1:99"], "url_pattern": "/"}
    cel = {"validation/cel": [{"check_expr": "1 + 1 == 2"}]}
    doc: dict[str, Any] = {"version": 3, "endpoints": [{"endpoint": "/a", "extra_config": cel, "backend": [backend]}]}
    warning = "WARNING: endpoints[0].extra_config.validation/cel[0].check_expr: never evaluated"
    for broken in (False, True):
        if broken:  # a Lua syntax error in another endpoint: the build fails
            lua = {"modifier/lua-endpoint": {"pre": "local x = "}}
            doc["endpoints"].append({"endpoint": "/b", "extra_config": lua, "backend": [backend]})
        out = _cli("check", "-c", _write(tmp_path, doc))
        lines = out.stderr.splitlines()
        assert out.returncode == int(broken), out.stderr
        assert sum(warning in line for line in lines) == 1, out.stderr
        assert sum("never evaluated" in line for line in lines) == 1, out.stderr


def test_cli_check_and_run_say_an_inherited_mistake_once(tmp_path: Path) -> None:
    """An invalid service-level ``host`` was reported once per backend that inherits it: identical
    lines and "2 error(s)" for one mistake."""
    backend = {"url_pattern": "/"}
    doc = {
        "version": 3,
        "host": ["http://bad host/x"],
        "endpoints": [{"endpoint": "/a", "backend": [backend]}, {"endpoint": "/b", "backend": [backend]}],
    }
    for command in ("check", "run"):
        out = _cli(command, "-c", _write(tmp_path, doc), *(("-p", str(free_port())) if command == "run" else ()))
        errors = [line for line in out.stderr.splitlines() if "ERROR: host[0]: " in line]
        assert out.returncode == 1 and len(errors) == 1, out.stderr
        assert "1 error(s) in " in out.stderr, out.stderr


def test_cli_check_says_a_listener_value_the_schema_refused_once(tmp_path: Path) -> None:
    """The listener step went on past the schema's errors without leaving out what they blame: a
    ``tls`` value of the wrong shape was said twice, by the schema and by the listener's own reading
    (``tls: expected an object``), and counted twice. An error of its own beside them is kept."""
    doc = {"version": 3, "tls": "yes", "endpoints": []}
    out = _cli("check", "-c", _write(tmp_path, doc))
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    assert out.returncode == 1 and errors == ["ERROR: tls: 'yes' is not of type 'object'"], out.stderr
    assert "1 error(s) in " in out.stderr
    doc = {"version": 3, "tls": {"ca_certs": "x", "keys": [5], "curve_preferences": [["a"]]}, "endpoints": []}
    out = _cli("check", "-c", _write(tmp_path, doc))
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    paths = [line.split(": ")[1] for line in errors]
    assert sorted(paths) == sorted({*paths}) and {"tls.ca_certs", "tls.keys[0]", "tls.curve_preferences[0]"} <= {
        *paths
    }, out.stderr
    assert f"{len(errors)} error(s) in " in out.stderr


def test_cli_check_lint_does_not_add_no_host_to_an_executor_the_schema_refused(tmp_path: Path) -> None:
    """With ``--lint`` a backend whose ``backend/lambda`` block the schema refused (so it was not
    parsed) was also said to have no host: a second, misleading error about the same mistake."""
    lam = {"function_name": 5, "region": "eu-west-1"}
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/", "extra_config": {"backend/lambda": lam}}]}],
    }
    out = _cli("check", "--lint", "-c", _write(tmp_path, doc))
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert errors[0].startswith("ERROR: endpoints[0].backend[0].extra_config.backend/lambda.function_name: ")
    lam["function_name"] = "f"
    del doc["endpoints"][0]["backend"][0]["extra_config"]  # type: ignore[index]
    out = _cli("check", "--lint", "-c", _write(tmp_path, doc))  # without the executor: no host is an error
    assert out.returncode == 1 and "endpoints[0].backend[0].host: no host" in out.stderr, out.stderr


@pytest.mark.parametrize("step", ["schema", "options"])
def test_cli_check_and_run_print_the_warnings_found_before_an_error(tmp_path: Path, step: str) -> None:
    """A misspelt key's hint is often what an error is about (here ``timeuot``): it was dropped
    whenever the file had an error, in the schema step or the components' options step."""
    backend = {"host": ["http://127.0.0.1:8080"], "url_pattern": "/b"}
    endpoint: dict[str, Any] = {"endpoint": "/a", "backend": [backend]}
    if step == "schema":
        endpoint["extra_config"] = {"qos/ratelimit/router": {"max_rate": 10, "capcity": 5}}
        error = "ERROR: endpoints[0].extra_config.qos/ratelimit/router.capcity: unknown key"
    else:
        endpoint["extra_config"] = {"telemetry/audit": {"sensitive": True}}
        error = "ERROR: extra_config.telemetry/audit.path: sink 'file' needs a path"
    doc: dict[str, Any] = {"version": 3, "port": free_port(), "timeuot": "3s", "endpoints": [endpoint]}
    if step == "options":
        doc["extra_config"] = {"telemetry/audit": {"sink": "file"}}
    config = _write(tmp_path, doc)
    for command in (["check", "-c", config], ["run", "-c", config]):
        out = _cli(*command)
        assert out.returncode == 1, out.stderr
        lines = out.stderr.splitlines()
        warning = "WARNING: timeuot: unknown key (did you mean 'timeout'?): ignored"
        assert warning in lines and any(line.startswith(error) for line in lines), out.stderr
        assert lines.index(warning) < next(i for i, line in enumerate(lines) if line.startswith("ERROR: "))


def test_cli_check_lint_prints_the_warnings_it_leaves_as_warnings_beside_its_errors(tmp_path: Path) -> None:
    """``--lint`` leaves some findings warnings: a field accepted without effect, auth/api-keys' "no
    fingerprint_key_env" (a warning even with --lint, README). They were printed by ``check --lint``
    on a file with no error and dropped from one with any error: the README says the warnings are
    printed above the errors. A degraded value (no backend host) is an error there, never both."""
    doc: dict[str, Any] = {
        "version": 3,
        "extra_config": {
            "router": {"app_engine": True},
            "auth/api-keys": {"keys": [{"key": "abcd1234efgh5678", "roles": ["a"]}]},
            "security/cors": {"allow_origins": ["*"], "max_age": "12x"},
        },
        "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/b"}]}],
    }
    out = _cli("check", "--lint", "-c", _write(tmp_path, doc))
    assert out.returncode == 1, out.stderr
    lines = out.stderr.splitlines()
    warnings = [line for line in lines if line.startswith("WARNING: ")]
    errors = [line for line in lines if line.startswith("ERROR: ")]
    assert any(w.startswith("WARNING: extra_config.router.app_engine: accepted; no effect") for w in warnings), lines
    assert any(w.startswith("WARNING: extra_config.auth/api-keys: no fingerprint_key_env") for w in warnings), lines
    assert any(e.startswith("ERROR: extra_config.security/cors.max_age: ") for e in errors), lines
    assert any(e.startswith("ERROR: endpoints[0].backend[0].host: no host") for e in errors), lines
    assert not any("backend[0].host" in w for w in warnings), lines  # an error under --lint, not also a warning
    assert lines.index(warnings[-1]) < lines.index(errors[0])


def test_cli_check_reports_control_bytes_in_an_endpoint_path(tmp_path: Path) -> None:
    # httprouter would register them; reached percent-encoded, they would go on to the backend URL and logs
    backend = [{"host": ["http://127.0.0.1:8000"], "url_pattern": "/x"}]
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/ok", "backend": backend}, {"endpoint": "/a\x00b", "backend": backend}],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1
    assert "endpoints[1].endpoint: '/a\\x00b': control character '\\x00' not allowed" in out.stderr
    assert "\x00" not in out.stderr and "endpoints[0]" not in out.stderr


def test_cli_check_reports_invalid_json_with_line(tmp_path: Path) -> None:
    out = _cli("check", "-c", _write(tmp_path, '{"version": 3,\n "endpoints": [,]}'))
    assert out.returncode == 1
    assert "line 2" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_check_rejects_wrong_version_and_bad_duration(tmp_path: Path) -> None:
    doc = {"version": 2, "timeout": "3 seconds", "endpoints": []}
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1
    assert "version" in out.stderr
    assert "timeout" in out.stderr


@pytest.mark.parametrize("flag", ["--lint", "-l", "-n", "--lint-no-network"])
def test_cli_check_lint_rejects_unknown_keys(tmp_path: Path, flag: str) -> None:
    """krakend's offline lint flag (``-n``, as CI scripts without network write it) lints too."""
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a", "bogus": 1, "backend": [{"host": ["h:80"], "url_pattern": "/"}]}],
    }
    path = _write(tmp_path, doc)
    assert _cli("check", "-c", path).returncode == 0
    out = _cli("check", flag, "-c", path)
    assert out.returncode == 1
    assert "endpoints[0]" in out.stderr


def test_cli_check_warns_about_unsupported_namespace(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "extra_config": {"auth/gcp": {"audience": "x"}},
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}],
    }
    path = _write(tmp_path, doc)
    out = _cli("check", "-c", path)
    assert out.returncode == 1  # run would refuse it: so does check
    assert "extra_config.auth/gcp" in out.stderr
    out = _cli("check", "--allow-unsupported", "-c", path)
    assert out.returncode == 0
    assert "auth/gcp" in out.stderr


def test_cli_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    out = _cli("check", "-c", str(tmp_path / "nope.json"))
    assert out.returncode == 1
    assert "cannot read" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_cli_help_says_allow_unsupported_covers_go_plugins(command: str) -> None:
    """``--allow-unsupported`` also lets a config whose plugin/* namespaces name Go plugins start: the
    help says so, as README does."""
    out = _cli(command, "--help")
    assert out.returncode == 0
    assert "access-control namespaces and Go plugins" in " ".join(out.stdout.split())


def test_cli_usage_error_exits_1() -> None:
    assert _cli("run").returncode == 1


def test_cli_run_refuses_an_unknown_log_level(tmp_path: Path) -> None:
    """A typo in ``--log-level`` is a usage error, not a gateway logging at INFO without a word."""
    doc = {"version": 3, "port": free_port(), "endpoints": []}
    out = _cli("run", "-c", _write(tmp_path, doc), "--log-level", "debg", timeout=30)
    assert out.returncode == 1
    assert "unknown level 'debg'" in out.stderr and "DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL" in out.stderr
    assert "Traceback" not in out.stderr and "listening" not in out.stdout


@pytest.mark.parametrize("level", ["warn", "notice"])
def test_cli_run_log_level_any_case_sets_the_level(tmp_path: Path, level: str) -> None:
    """``--log-level warn`` (any case; ``WARN`` is ``WARNING``) and ``notice`` (KrakenD's level, which
    ``telemetry/logging.level`` takes too: it was a usage error) leave the INFO start-up line out."""
    port = free_port()
    doc = {"version": 3, "port": port, "listen_ip": "127.0.0.1", "endpoints": []}
    proc = subprocess.Popen(
        [PY, "-m", "krakenpy", "run", "-c", _write(tmp_path, doc), "-w", "1", "--log-level", level],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "KRAKEND INFO" not in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_run_serves_and_stops_gracefully_on_sigterm(tmp_path: Path, workers: str) -> None:
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        "endpoints": [
            {
                "endpoint": "/echo",
                "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/x", "allow": ["req_uri"]}],
            }
        ],
    }
    path = _write(tmp_path, doc)
    proc = subprocess.Popen(
        [PY, "-m", "krakenpy", "run", "-c", path, "--workers", workers],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/echo", timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read()) == {"req_uri": "/__echo/x"}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "KRAKEND INFO: krakenpy" in out and "1 endpoints" in out  # lura's basic logger, on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_cli_run_rejects_bad_config_without_serving(tmp_path: Path) -> None:
    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/{x}"}]}]}
    out = _cli("run", "-c", _write(tmp_path, doc), timeout=30)
    assert out.returncode == 1
    assert "undefined output param 'x'" in out.stderr


def test_cli_run_refuses_unimplemented_access_control(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"auth/gcp": {"audience": "x"}},
                "backend": [{"host": ["h:80"], "url_pattern": "/"}],
            }
        ],
    }
    path = _write(tmp_path, doc)
    out = _cli("run", "-c", path, timeout=30)
    assert out.returncode == 1
    assert "endpoints[0].extra_config.auth/gcp" in out.stderr
    assert "--allow-unsupported" in out.stderr
    assert _cli("check", "-c", path).returncode == 1  # check and run agree


def _env_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    return subprocess.run(
        [PY, "-m", "krakenpy", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env={**base, **env}
    )


def test_cli_check_groups_repeated_warnings_with_a_count(tmp_path: Path) -> None:
    endpoints = [
        {"endpoint": f"/e{i}", "extra_config": {"telemetry/x": {}}, "backend": [{"host": ["h:80"], "url_pattern": "/"}]}
        for i in range(40)
    ]
    out = _cli("check", "-c", _write(tmp_path, {"version": 3, "endpoints": endpoints}))
    assert out.returncode == 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert len(lines) == 1
    assert "endpoints[*].extra_config.telemetry/x" in lines[0] and "40 places" in lines[0] and "and 37 more" in lines[0]
    assert "40 warning(s)" in out.stderr


def test_cli_check_hints_at_misspelled_keys_and_lint_rejects_unknown_namespaces(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"modifier/lua-proxi": {"pre": "x = 1"}},
                "backend": [{"host": ["h:80"], "url_patern": "/x", "url_pattern": "/"}],
            }
        ],
    }
    path = _write(tmp_path, doc)
    out = _cli("check", "-c", path)
    assert out.returncode == 0
    assert "endpoints[0].backend[0].url_patern: unknown key (did you mean 'url_pattern'?): ignored" in out.stderr
    assert "did you mean 'modifier/lua-proxy'?" in out.stderr
    out = _cli("check", "--lint", "-c", path)
    assert out.returncode == 1
    assert "ERROR: endpoints[0].extra_config.modifier/lua-proxi: unknown namespace" in out.stderr


def test_cli_check_names_the_environment_variable_behind_an_error(tmp_path: Path) -> None:
    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}]}
    out = _env_cli("check", "-c", _write(tmp_path, doc), env={"KRAKEND_TIMEOUT": "soon"})
    assert out.returncode == 1
    assert "KRAKEND_TIMEOUT" in out.stderr and "timeout" in out.stderr


def test_cli_check_reports_tls_problems_at_json_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from krakenpy.cli import main
    from tests.server.certs import Authority

    ca = Authority(tmp_path)
    good, other = ca.issue("a.test"), ca.issue("b.test")
    doc = {
        "version": 3,
        "tls": {
            "keys": [
                {"public_key": str(good.cert), "private_key": str(other.key)},
                {"public_key": str(tmp_path / "gone.crt"), "private_key": str(good.key)},
            ],
            "min_version": "TLS10",
            "cipher_suites": [5, 49199],
        },
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}],
    }
    path = _write(tmp_path, doc)
    assert main(["check", "-c", path]) == 1
    err = capsys.readouterr().err
    assert f"ERROR: tls.keys[0].private_key: {other.key} does not match the certificate {good.cert}" in err
    assert f"ERROR: tls.keys[1].public_key: cannot read {tmp_path / 'gone.crt'}: No such file or directory" in err
    assert "WARNING: tls.min_version: TLS10 is served as TLS12" in err
    assert "WARNING: tls.cipher_suites: not offered: 5 (TLS_RSA_WITH_RC4_128_SHA" in err
    assert main(["check", "--skip-components", "-c", path]) == 0  # the files live elsewhere
    assert "Syntax OK!" in capsys.readouterr().out
    doc["tls"] = {"disabled": True}
    assert main(["check", "-c", _write(tmp_path, doc)]) == 0


def test_cli_check_refuses_go_plugins_that_namespaces_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from krakenpy.cli import main

    endpoint = {"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}
    doc = {"version": 3, "plugin": {"folder": "/opt/krakend/plugins/", "pattern": ".so"}, "endpoints": [endpoint]}
    assert main(["check", "-c", _write(tmp_path, doc)]) == 0
    assert "WARNING: plugin: the folder is not read: nothing in this config needs it" in capsys.readouterr().err
    doc["extra_config"] = {"plugin/http-server": {"name": ["auth-request"]}}
    path = _write(tmp_path, doc)
    assert main(["check", "-c", path]) == 1
    assert "ERROR: plugin: Go plugins cannot be loaded by krakenpy" in capsys.readouterr().err
    assert main(["check", "--allow-unsupported", "-c", path]) == 0


def test_cli_check_counts_the_components_warnings_too(tmp_path: Path) -> None:
    # one warning from the file (an unknown key), two from building the component (a deprecated
    # namespace, an exporter that sends nothing): the summary counts every WARNING line
    doc = {
        "version": 3,
        "extra_config": {"telemetry/opencensus": {"exporters": {"datadog": {"namespace": "x"}}}},
        "endpoints": [{"endpoint": "/a", "timout": "1s", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert len(lines) == 3, out.stderr
    assert f"{len(lines)} warning(s)" in out.stderr
