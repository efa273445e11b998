"""KrakenD decodes the lists of strings (``host``, ``allow``, ``deny``, ``input_headers``,
``input_query_strings``) with koanf's weak decoding: a lone string is split at its commas (``""`` is no
item), a number or a boolean is read as its text, which its schema (``check --lint``) refuses. ``check``
and ``run`` read them the same way; a number or boolean is said at its JSON path (a warning, an error with
``--lint``), and an integer written with spaces around it is refused, as Go's ``ParseInt`` refuses it."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.cli_gateway import check_config, gateway_process, stop
from tests.conftest import free_port
from tests.threaded_app import Served


def _config(tmp_path: Path, doc: dict[str, Any]) -> Path:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, **doc}))
    return config


def _backend(**fields: Any) -> dict[str, Any]:
    return {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/", **fields}]}]}


@pytest.mark.parametrize(
    ("host", "where", "kind", "text"),
    [
        (5, "", "a number", "'5'"),
        (True, "", "a boolean", "'1'"),
        (1e20, "", "a number", "'100000000000000000000'"),
        (["127.0.0.1:8000", 5], "[1]", "a number", "'5'"),
    ],
)
def test_a_number_in_a_host_list_is_said_at_its_path(
    tmp_path: Path, host: Any, where: str, kind: str, text: str
) -> None:
    config = _config(tmp_path, _backend(host=host))
    said = f"endpoints[0].backend[0].host{where}: {kind}, not a string: read as {text}"
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    assert f"WARNING: {said}" in out.stderr, out.stderr
    linted = check_config(config, "--lint")
    assert linted.returncode == 1, linted.stderr
    assert f"ERROR: {said}" in linted.stderr, linted.stderr


@pytest.mark.parametrize("field", ["allow", "deny", "input_headers", "input_query_strings"])
def test_a_number_in_another_list_of_strings_is_said(tmp_path: Path, field: str) -> None:
    config = _config(tmp_path, _backend(host=["127.0.0.1:8000"], **{field: [7]}))
    out = check_config(config, "--lint")
    assert out.returncode == 1, out.stderr
    assert f"ERROR: endpoints[0].backend[0].{field}[0]: a number, not a string: read as '7'" in out.stderr


def test_an_async_agents_backend_host_is_said_at_its_path(tmp_path: Path) -> None:
    agent = {
        "name": "a",
        "connection": {"max_retries": 1},
        "consumer": {"topic": "t"},
        "backend": [{"url_pattern": "/", "host": 5}],
        "extra_config": {"async/amqp": {"name": "q", "host": "amqp://127.0.0.1:5672", "exchange": "e"}},
    }
    out = check_config(_config(tmp_path, {"async_agent": [agent]}), "--skip-components")
    assert "async_agent[0].backend[0].host: a number, not a string: read as '5'" in out.stderr, out.stderr


def test_a_lone_string_is_split_at_its_commas(tmp_path: Path) -> None:
    """``"a,b"`` is two hosts, as KrakenD reads it; old krakenpy refused it as one invalid host."""
    out = check_config(_config(tmp_path, _backend(host="127.0.0.1:8000,127.0.0.2:8000")))
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr and "ERROR" not in out.stderr, out.stderr


def test_an_empty_string_is_no_host_and_the_service_one_is_taken(tmp_path: Path) -> None:
    doc = _backend(host="")
    out = check_config(_config(tmp_path, {**doc, "host": ["127.0.0.1:8000"]}))
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr, out.stderr


def test_an_integer_with_spaces_is_refused(tmp_path: Path) -> None:
    out = check_config(_config(tmp_path, {**_backend(host=["127.0.0.1:8000"]), "port": " 8080 "}))
    assert out.returncode == 1, out.stderr
    assert "ERROR: port: " in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("field", "value"), [("port", "\u0663"), ("port", "\uff18\uff10\uff18\uff10"), ("max_idle_connections", str(2**63))]
)
def test_an_integer_go_cannot_parse_is_refused(tmp_path: Path, field: str, value: str) -> None:
    """A non-ASCII digit (Python's ``int()`` reads "\u0663" as 3) or a value above int64: Go's ``ParseInt``
    refuses it, so KrakenD does not start; check says it at its path."""
    out = check_config(_config(tmp_path, {**_backend(host=["127.0.0.1:8000"]), field: value}))
    assert out.returncode == 1, out.stderr
    assert f"ERROR: {field}: " in out.stderr, out.stderr


def test_run_calls_every_host_of_a_comma_separated_string(tmp_path: Path) -> None:
    """The gateway serves a backend whose ``host`` is one string naming two hosts (each is called)."""
    seen: list[int] = []

    def app(tag: int) -> web.Application:
        async def handle(_: web.Request) -> web.Response:
            seen.append(tag)
            return web.json_response({"from": tag})

        application = web.Application()
        application.router.add_get("/", handle)
        return application

    port = free_port()
    with Served(lambda: app(1)) as one, Served(lambda: app(2)) as two:
        hosts = f"http://127.0.0.1:{one.port},http://127.0.0.1:{two.port}"
        config = _config(tmp_path, {**_backend(host=hosts), "port": port})
        with gateway_process(config, port=port):
            for _ in range(40):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/a", timeout=5) as answer:
                    assert answer.status == 200
                if set(seen) == {1, 2}:
                    break
    assert set(seen) == {1, 2}


def test_run_starts_and_says_a_number_host_as_check_does(tmp_path: Path) -> None:
    """``run`` starts with ``"host": 5`` (KrakenD does) and prints the same warning at start."""
    port = free_port()
    config = _config(tmp_path, {**_backend(host=5), "port": port})
    with gateway_process(config, port=port) as proc:
        _, err = stop(proc)
    assert "WARNING: endpoints[0].backend[0].host: a number, not a string: read as '5'" in err, err


def test_a_comma_in_a_hosts_password_does_not_split_it_nor_show_it(tmp_path: Path) -> None:
    """KrakenD splits ``http://ada:s3cr,et@h`` into ``http://ada:s3cr`` and ``et@h``: refused, each
    piece was quoted whole in its error, the password's pieces in clear. krakenpy keeps that URL whole
    (refused, its password masked) and says why at the host's path."""
    out = check_config(_config(tmp_path, _backend(host="http://ada:s3cr,et@127.0.0.1:8000,http://127.0.0.1:9000")))
    assert out.returncode == 1, out.stderr
    assert "s3cr" not in out.stderr and "et@" not in out.stderr, out.stderr
    assert "host[0]: host 'http://ada:[REDACTED]@127.0.0.1:8000' not valid" in out.stderr, out.stderr
    assert "host[1]" not in out.stderr, out.stderr  # http://127.0.0.1:9000, a host of its own
    assert "WARNING: endpoints[0].backend[0].host: a comma inside a URL's user information" in out.stderr


def test_run_keeps_a_password_with_a_comma_of_an_unsanitized_host(tmp_path: Path) -> None:
    """With ``disable_host_sanitize`` the URL is used as written: its password, comma and all, is the
    basic credentials the backend receives (split, half the calls went to ``http://ada:s3cr``)."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"ok": True})

    def app() -> web.Application:
        application = web.Application()
        application.router.add_get("/", handle)
        return application

    port = free_port()
    with Served(app) as backend:
        host = f"http://ada:s3cr,et@127.0.0.1:{backend.port}"
        config = _config(tmp_path, {**_backend(host=host, disable_host_sanitize=True), "port": port})
        with gateway_process(config, port=port):
            for _ in range(4):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/a", timeout=5) as answer:
                    assert answer.status == 200
    assert seen == ["Basic " + base64.b64encode(b"ada:s3cr,et").decode()] * 4, seen


@pytest.mark.parametrize("field", ["allow", "deny", "input_headers", "input_query_strings"])
def test_a_space_a_split_leaves_around_a_name_is_said(tmp_path: Path, field: str) -> None:
    """``"X-A, X-B"`` is ``["X-A", " X-B"]`` for KrakenD too: the second matches no header a client
    sends (Go's server refuses a name with a space), silently; ``check`` says it at the name's path."""
    config = _config(tmp_path, _backend(host="http://127.0.0.1:8000, http://127.0.0.2:8000", **{field: "a, b,c"}))
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if line.startswith("WARNING: ")]
    assert said == [
        f"WARNING: endpoints[0].backend[0].{field}[1]: ' b': the space around it is kept, as KrakenD keeps it "
        "when it splits a lone string at its commas: it matches only a name with that space; write 'b'"
    ], out.stderr


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"port": "8080"}, "port: a string, not an integer: KrakenD reads it as 8080"),
        ({"name": 3}, 'name: a number, not a string: KrakenD reads it as "3"'),
        ({"debug_endpoint": "true"}, "debug_endpoint: a string, not a boolean: KrakenD reads it as true"),
        (
            {"host": "http://ada:pw@127.0.0.1:8000"},
            "host: a string, not a list of strings: KrakenD reads it as 1 item(s)",
        ),
    ],
)
def test_lint_refuses_every_value_krakend_reads_weakly(tmp_path: Path, fields: dict[str, Any], said: str) -> None:
    """KrakenD starts with ``"port": "8080"``, a lone host string, ``"true"`` for a boolean; its schema, which
    ``krakend check --lint`` applies, refuses them: ``check`` says nothing of them, ``--lint`` an error each
    (a host's items unquoted: one may hold a password)."""
    config = _config(tmp_path, {**_backend(host=["127.0.0.1:8000"]), **fields})
    out = check_config(config)
    assert out.returncode == 0 and said not in out.stderr, out.stderr
    linted = check_config(config, "--lint")
    assert linted.returncode == 1, linted.stderr
    assert f"ERROR: {said} and starts, but its schema refuses it" in linted.stderr, linted.stderr
    assert "pw" not in linted.stderr, linted.stderr


def test_lint_says_a_lone_number_host_once(tmp_path: Path) -> None:
    linted = check_config(_config(tmp_path, _backend(host=5)), "--lint")
    assert linted.returncode == 1, linted.stderr
    assert linted.stderr.count("endpoints[0].backend[0].host") == 1, linted.stderr


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("service", "output_encoding", ["json"]),
        ("endpoint", "output_encoding", {"a": 1}),
        ("endpoint", "method", []),
        ("backend", "encoding", ["json"]),
        ("backend", "sd", ["dns"]),
    ],
)
def test_a_list_or_an_object_in_a_string_field_with_known_values_is_refused(
    tmp_path: Path, where: str, field: str, value: Any
) -> None:
    """An unknown value of these fields is let through (KrakenD falls back to its default), a list or an
    object is not: KrakenD cannot decode it into a string and does not start; check says it at its path."""
    doc = _backend(host=["127.0.0.1:8000"])
    owner = {"service": doc, "endpoint": doc["endpoints"][0], "backend": doc["endpoints"][0]["backend"][0]}[where]
    owner[field] = value
    path = {"service": "", "endpoint": "endpoints[0].", "backend": "endpoints[0].backend[0]."}[where] + field
    out = check_config(_config(tmp_path, doc))
    assert out.returncode == 1, out.stderr
    assert f"ERROR: {path}: " in out.stderr, out.stderr
    owner[field] = "GET" if field == "method" else "unknown"
    assert check_config(_config(tmp_path, doc)).returncode == 0


def test_lint_takes_an_integer_written_with_a_zero_fraction(tmp_path: Path) -> None:
    """``"port": 8080.0`` is an integer to KrakenD's schema (JSON Schema: a number whose fraction is
    zero) and to Go, which decodes it as the float64 it decodes ``8080`` as: no lint error."""
    doc = {**_backend(host=["127.0.0.1:8000"]), "port": 8080.0, "max_idle_connections": 10.0}
    doc["endpoints"][0]["concurrent_calls"] = 1.0
    linted = check_config(_config(tmp_path, doc), "--lint")
    assert linted.returncode == 0, linted.stderr
    assert "not an integer" not in linted.stderr, linted.stderr


def test_lint_takes_a_krakend_variables_text_for_any_key(tmp_path: Path) -> None:
    """A ``KRAKEND_*`` variable is text whatever the key it sets; KrakenD's schema (``krakend check
    --lint``) checks the file, not the environment: a boolean, an integer or a host list set by one
    is no lint error, as ``KRAKEND_PORT`` was not. The file's own weak value still is."""
    config = _config(tmp_path, _backend(host=["127.0.0.1:8000"]))
    env = {
        "KRAKEND_DEBUG_ENDPOINT": "true",
        "KRAKEND_MAX_IDLE_CONNECTIONS": "10",
        "KRAKEND_HOST": "http://127.0.0.1:8000",
        "KRAKEND_PORT": "9000",
    }
    linted = check_config(config, "--lint", env=env)
    assert linted.returncode == 0, linted.stderr
    assert "schema refuses it" not in linted.stderr, linted.stderr
    config = _config(tmp_path, {**_backend(host=["127.0.0.1:8000"]), "debug_endpoint": "true"})
    linted = check_config(config, "--lint", env={"KRAKEND_MAX_IDLE_CONNECTIONS": "10"})
    assert linted.returncode == 1, linted.stderr
    assert "ERROR: debug_endpoint: a string, not a boolean" in linted.stderr, linted.stderr
