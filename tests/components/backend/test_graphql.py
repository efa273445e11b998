"""backend/graphql: a real loopback GraphQL-ish backend echoes what it got (method, query string,
body, headers) through the gateway on both upstream clients; bad configs through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from aiohttp import web

from krakenpy.components.backend.graphql import COMPONENT, GraphQLOptions, compile_rewrite
from krakenpy.errors import ConfigError, ValidationError
from krakenpy.gojson import go_json
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Request
from tests.components.helpers import site
from tests.conftest import ROOT
from tests.server.wirekit import get, raw_request

NS = "backend/graphql"
FILM = "query Film($movie_id: ID!) { film(filmID: $movie_id) { title } }"


def echo_app(seen: list[dict[str, Any]]) -> web.Application:
    """A GraphQL-ish server: records the request and answers ``{"data": {"echo": ...}}``."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        record = {
            "method": request.method,
            "path": request.path,
            "query_string": request.raw_path.partition("?")[2],
            "body": body,
            "headers": dict(request.headers),
        }
        seen.append(record)
        return web.json_response({"data": {"echo": {"method": request.method, "size": len(body)}}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _doc(host: str, graphql: dict[str, Any], *, endpoint: str = "/films/{movie_id}", **more: Any) -> dict[str, Any]:
    backend = {"host": [host], "url_pattern": "/graphql", "extra_config": {NS: graphql}, **more.pop("backend", {})}
    return {"version": 3, "endpoints": [{"endpoint": endpoint, "backend": [backend], **more}]}


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_graphql_query_post_fills_placeholders_from_the_path(backend, serve, client: str) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    graphql = {
        "type": "query",
        "query": FILM,
        "operationName": "Film",
        "variables": {
            "movie_id": "{movie_id}",
            "lang": "en<fr>",  # Go's encoder writes HTML-safe escapes
            "first": 2,
            "ratio": 1.0,  # a float64 to Go: written back as 1
            "deep": {"z": "{movie_id}", "a": None},  # only top-level strings are placeholders
        },
    }
    served = await serve(_doc(host, graphql, backend={"method": "GET", "target": "data"}), client=client)
    head = await raw_request(served.port, get("/films/7"))
    assert head.status == 200, head.body
    assert orjson.loads(head.body) == {"echo": {"method": "POST", "size": len(seen[0]["body"])}}
    (got,) = seen
    assert got["method"] == "POST" and got["path"] == "/graphql" and got["query_string"] == ""
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["Content-Length"] == str(len(got["body"]))
    assert got["body"] == (
        b'{"query":' + orjson.dumps(FILM) + b',"operationName":"Film","variables":'
        b'{"deep":{"a":null,"z":"{movie_id}"},"first":2,"lang":"en\\u003cfr\\u003e","movie_id":"7","ratio":1}}'
    )


async def test_graphql_query_missing_placeholder_is_an_empty_string_and_client_body_is_ignored(
    backend, gateway
) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    graphql = {"type": "query", "query": "{ a }", "variables": {"id": "{nope}", "movie": "{movie_id}"}}
    client = await gateway(_doc(host, graphql, method="POST"))
    resp = await client.post(
        "/films/9", data=b'{"id":"client","movie":"client"}', headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 200
    (got,) = seen
    assert orjson.loads(got["body"]) == {"query": "{ a }", "variables": {"id": "", "movie": "9"}}
    assert got["headers"]["Content-Type"] == "application/json"  # not the client's text/plain


async def test_graphql_query_without_variables_or_operation_sends_the_query_alone(backend, gateway) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    client = await gateway(_doc(host, {"type": "query", "query": "{ a }", "operationName": ""}, endpoint="/a"))
    assert (await client.get("/a")).status == 200
    assert (await client.get("/a")).status == 200
    assert [s["body"] for s in seen] == [b'{"query":"{ a }"}'] * 2


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_graphql_get_puts_the_operation_in_the_query_string(backend, serve, client: str) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    graphql = {
        "type": "query",
        "method": "get",
        "query": FILM,
        "operationName": "Film",
        "variables": {"movie_id": "{movie_id}", "n": 1},
    }
    doc = _doc(host, graphql, method="POST", input_query_strings=["page"], backend={"url_pattern": "/graphql?fixed=1"})
    served = await serve(doc, client=client)
    head = await raw_request(served.port, get("/films/a%20b?page=2&other=x", method="POST", body=b'{"x":1}'))
    assert head.status == 200, head.body
    (got,) = seen
    assert got["method"] == "GET" and got["body"] == b""
    assert "Content-Length" not in got["headers"]
    query = got["query_string"]
    assert query.startswith("fixed=1&page=2&operationName=Film&query=query+Film%28%24movie_id%3A+ID%21%29+")
    assert parse_qs(query) == {
        "fixed": ["1"],
        "page": ["2"],
        "operationName": ["Film"],
        "query": [FILM],
        "variables": ['{"movie_id":"a b","n":1}'],
    }


async def test_graphql_get_without_variables_and_no_backend_query(backend, gateway) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    client = await gateway(_doc(host, {"type": "query", "method": "GET", "query": "{ a }"}, endpoint="/a"))
    assert (await client.get("/a")).status == 200
    assert seen[0]["query_string"] == "query=%7B+a+%7D"


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_graphql_mutation_client_body_wins_over_configured_variables(backend, serve, client: str) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    graphql = {
        "type": "mutation",
        "query": "mutation Add($name: String!) { add(name: $name) { id } }",
        "variables": {"name": "config", "user": "{user_id}", "flags": {"b": True, "a": False}},
    }
    served = await serve(_doc(host, graphql, endpoint="/users/{user_id}", method="PUT"), client=client)
    body = b'{"name":"client","extra":[1,2.5,"x"],"n":12345678901234567}'
    head = await raw_request(served.port, get("/users/42", "Content-Type: application/json", method="PUT", body=body))
    assert head.status == 200, head.body
    (got,) = seen
    assert got["method"] == "POST"
    assert got["body"] == (
        b'{"query":"mutation Add($name: String!) { add(name: $name) { id } }","variables":'
        b'{"extra":[1,2.5,"x"],"flags":{"a":false,"b":true},"n":12345678901234567,"name":"client","user":"{user_id}"}}'
    )


async def test_graphql_mutation_over_get_sends_the_body_variables_in_the_query(backend, gateway) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    graphql = {"type": "mutation", "method": "GET", "query": "mutation { m }", "variables": {"a": 1}}
    client = await gateway(_doc(host, graphql, endpoint="/m", method="POST"))
    assert (await client.post("/m", data=b'{"b":"\xff"}')).status == 200  # not UTF-8: U+FFFD as Go reads it
    assert parse_qs(seen[0]["query_string"]) == {"query": ["mutation { m }"], "variables": ['{"a":1,"b":"\ufffd"}']}


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b'"x"', b"null", b"1"])
async def test_graphql_mutation_body_that_is_no_object_is_refused_before_the_backend(backend, gateway, body) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    client = await gateway(_doc(host, {"type": "mutation", "query": "mutation { m }"}, endpoint="/m", method="POST"))
    resp = await client.post("/m", data=body)
    assert resp.status == 400
    assert seen == []


async def test_graphql_mutation_failure_leaves_the_other_backends_answer(backend, gateway) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    doc = _doc(host, {"type": "mutation", "query": "mutation { m }"}, endpoint="/m", method="POST")
    doc["endpoints"][0]["backend"].append({"host": [host], "url_pattern": "/plain", "group": "plain"})
    client = await gateway(doc)
    resp = await client.post("/m", data=b"oops")
    assert resp.status == 200 and resp.headers["X-Krakend-Completed"] == "false"
    assert await resp.json() == {"plain": {"data": {"echo": {"method": "POST", "size": 4}}}}
    assert [s["path"] for s in seen] == ["/plain"]


async def test_graphql_query_path_is_read_once_relative_to_the_working_directory(backend, gateway, tmp_path) -> None:
    seen: list[dict[str, Any]] = []
    host = await backend(echo_app(seen))
    (tmp_path / "q").mkdir()
    document = tmp_path / "q" / "film.graphql"
    document.write_bytes(b'query Film {\n  film(id: "\xe9") { title }\n}\n')  # Latin-1 bytes: not UTF-8
    graphql = {"type": "query", "query_path": "./q/film.graphql"}
    client = await gateway(_doc(host, graphql, endpoint="/f"), base_dir=tmp_path)
    document.write_text("changed")  # read at start-up only
    assert (await client.get("/f")).status == 200
    assert orjson.loads(seen[0]["body"]) == {"query": 'query Film {\n  film(id: "\ufffd") { title }\n}\n'}


def test_graphql_parameter_bytes_that_are_not_utf8_are_written_as_go_writes_them() -> None:
    # a client's undecodable path bytes reach the params as surrogate escapes; Go writes U+FFFD
    options = COMPONENT.parse({"type": "query", "query": "{ a }", "variables": {"id": "{id}"}}, site(NS, "backend"))
    request = Request("GET", "/", {"Id": "x\udcffy"}, {}, {})
    compile_rewrite(options, "{ a }")(request)
    assert orjson.loads(request.body)["variables"] == {"id": "x\ufffdy"}


@pytest.mark.parametrize("value", ["7", "a b", "\u00e9t\u00e9", "<&>", "", "x\udcffy", "\u2028", '"\\', "\x01"])
def test_graphql_precomputed_pieces_write_what_go_writes_for_the_whole_object(value: str) -> None:
    raw = {
        "type": "query",
        "query": "{ a }",
        "variables": {"z": "{id}", "m": [1, {"k": "<"}], "a": "{other}", "\u00e9": 1},
    }
    options = COMPONENT.parse(raw, site(NS, "backend"))
    full = {"z": value, "m": [1, {"k": "<"}], "a": "", "\u00e9": 1}
    post = Request("GET", "/", {"Id": value}, {}, {})
    compile_rewrite(options, "{ a }")(post)
    assert post.body == b'{"query":"{ a }","variables":' + go_json(full) + b"}"
    get_options = COMPONENT.parse({**raw, "method": "GET"}, site(NS, "backend"))
    got = Request("GET", "/", {"Id": value}, {}, {}, url="http://h/g")
    compile_rewrite(get_options, "{ a }")(got)
    assert got.url == "http://h/g?" + encode_query({"query": ["{ a }"], "variables": [go_json(full).decode()]})


def test_graphql_parse_keeps_literals_and_go_numbers() -> None:
    at = site(NS, "backend")
    options = COMPONENT.parse(
        {"type": "query", "query": "q", "variables": {"a": "{}", "b": "", "c": "{x", "d": "{ab}", "e": 3.0, "f": 2.5}},
        at,
    )
    assert options.placeholders == (("d", "Ab"),)
    assert dict(options.variables) == {"a": "{}", "b": "", "c": "{x", "d": "{ab}", "e": 3, "f": 2.5}
    assert isinstance(options.variables["e"], int)
    assert options.method == "POST" and not options.mutation


def test_graphql_parse_errors_name_the_field() -> None:
    at = site(NS, "backend")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"query": "q"}, ".type: must be"),
        ({"type": "subscription", "query": "q"}, ".type: must be"),
        ({"type": "query"}, "graphql: needs the GraphQL document"),
        ({"type": "query", "query": "q", "query_path": "f"}, ".query_path: query and query_path are both set"),
        ({"type": "query", "query_path": ""}, ".query_path: must be a non-empty string"),
        ({"type": "query", "query": 1}, ".query: must be a string"),
        ({"type": "query", "query": "q", "variables": []}, ".variables: must be an object"),
        ({"type": "query", "query": "q", "operationName": 5}, ".operationName: must be a string"),
        ({"type": "query", "query": "q", "method": "PUT"}, '.method: must be "GET" or "POST"'),
    ]
    for raw, message in bad:
        with pytest.raises(ConfigError) as info:
            COMPONENT.parse(raw, at)
        assert message in str(info.value), (raw, str(info.value))
        assert str(info.value).startswith("endpoints[0].backend[0].extra_config.backend/graphql")


def test_graphql_rewrite_of_a_fixed_operation_reuses_one_body() -> None:
    options = GraphQLOptions(False, "POST", "{ a }", "", "", {"x": 1}, ())
    rewrite = compile_rewrite(options, "{ a }")
    first = Request("GET", "/", {}, {"Content-Length": ["3"]}, {}, body=b"abc")
    second = Request("GET", "/", {}, {}, {})
    rewrite(first)
    rewrite(second)
    assert first.body is second.body and first.body == b'{"query":"{ a }","variables":{"x":1}}'
    assert first.headers == {"Content-Type": ["application/json"]}
    with pytest.raises(ValidationError):
        compile_rewrite(GraphQLOptions(True, "POST", "m", "", "", {}, ()), "m")(Request("POST", "/", {}, {}, {}))


def _check(tmp_path: Path, doc: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path), *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _endpoints(*blocks: dict[str, Any]) -> dict[str, Any]:
    backend = {"host": ["http://127.0.0.1:9999"], "url_pattern": "/"}
    endpoints = [
        {"endpoint": f"/e{i}", "backend": [{**backend, "extra_config": {NS: b}}]} for i, b in enumerate(blocks)
    ]
    return {"version": 3, "endpoints": endpoints}


def test_graphql_cli_check_reports_bad_configs_at_their_json_paths(tmp_path: Path) -> None:
    at = "endpoints[{}].backend[0].extra_config.backend/graphql"
    # the schema's errors
    out = _check(
        tmp_path,
        _endpoints(
            {"query": "q"},
            {"type": "query", "query": "q", "method": "PUT"},
            {"type": "query", "query": "q", "variables": "x"},
            {"type": "Query", "query": "q", "querry_path": "x"},
        ),
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{at.format(0)}: 'type' is a required property" in out.stderr
    assert f"{at.format(1)}.method: 'PUT' is not one of" in out.stderr
    assert f"{at.format(2)}.variables: 'x' is not of type 'object'" in out.stderr
    assert f"{at.format(3)}.type: 'Query' is not one of ['query', 'mutation']" in out.stderr
    assert f"{at.format(3)}.querry_path: unknown key" in out.stderr
    # the cross-field rules (parse: also with --skip-components)
    doc = _endpoints({"type": "query", "query": "q", "query_path": "x.graphql"}, {"type": "mutation"})
    for extra in ((), ("--skip-components",)):
        out = _check(tmp_path, doc, *extra)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert f"{at.format(0)}.query_path: query and query_path are both set: keep one" in out.stderr
        assert f"{at.format(1)}: needs the GraphQL document: query or query_path" in out.stderr
    # the files, read by the build step
    os.mkfifo(tmp_path / "fifo.graphql")
    (tmp_path / "dir.graphql").mkdir()
    doc = _endpoints(*({"type": "query", "query_path": f"{n}.graphql"} for n in ("missing", "fifo", "dir")))
    out = _check(tmp_path, doc)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{at.format(0)}.query_path: cannot read {tmp_path}/missing.graphql: No such file or directory" in out.stderr
    assert f"{at.format(1)}.query_path: cannot read {tmp_path}/fifo.graphql: not a regular file" in out.stderr
    assert f"{at.format(2)}.query_path: cannot read {tmp_path}/dir.graphql: not a regular file" in out.stderr
    # --skip-components leaves the files alone, as it does Lua sources
    assert _check(tmp_path, doc, "--skip-components").returncode == 0


def test_graphql_cli_check_warns_about_what_never_works(tmp_path: Path) -> None:
    doc = _endpoints(
        {"type": "query", "query": "q", "variables": {"a": "{id}", "b": "{idd}", "c": "{resp0_x}"}},
        {"type": "mutation", "query": "m", "variables": {"u": "{id}", "v": "id"}},
    )
    doc["endpoints"][0]["endpoint"] = "/q/{id}"
    doc["endpoints"][1].update(endpoint="/m/{id}")  # GET: no body to read the variables from
    out = _check(tmp_path, doc)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    at = "endpoints[{}].backend[0].extra_config.backend/graphql"
    assert f"{at.format(0)}.variables.b: {{idd}} is no parameter of /q/{{id}}" in text
    assert f"{at.format(0)}.variables.c: {{resp0_x}} is no parameter of /q/{{id}}" in text
    assert "variables.a" not in text and "variables.v" not in text
    assert f"{at.format(1)}.variables.u: not replaced in a mutation: sent as written" in text
    assert f"{at.format(1)}: a mutation reads its variables from the client body: GET has none" in text
    # a parameter the gateway fills (a sequential value the url_pattern uses) is no warning
    doc["endpoints"][0]["backend"][0]["url_pattern"] = "/{resp0_x}"
    doc["endpoints"][0]["backend"].insert(0, {"host": ["http://127.0.0.1:9999"], "url_pattern": "/first"})
    doc["endpoints"][0]["extra_config"] = {"proxy": {"sequential": True}}
    out = _check(tmp_path, doc)
    assert out.returncode == 0, out.stderr
    assert "variables.c" not in out.stdout + out.stderr


def test_graphql_corpus_playground_config_runs_it(tmp_path: Path) -> None:
    corpus = ROOT.parent / "shared" / "corpus" / "krakend-configs" / "001-krakend-playground-community.json"
    if not corpus.exists():
        pytest.skip("corpus not present")
    out = _check(tmp_path, json.loads(corpus.read_text()), "--skip-components")
    assert out.returncode == 0, out.stderr
    assert "backend/graphql" not in out.stdout + out.stderr
