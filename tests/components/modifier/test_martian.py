"""``modifier/martian``: Martian's modifiers, filters and groups on the upstream call, through the gateway."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.modifier.martian import COMPONENT
from krakenpy.errors import ConfigError
from tests.cli_gateway import check_config
from tests.components.helpers import site
from tests.conftest import make_config


def _echo() -> web.Application:
    """Answers with what it received: method, path, query, headers, body."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        data = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {k: v for k, v in request.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        response = web.json_response(data)
        response.headers["X-Upstream"] = "kept"
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _doc(host: str, martian: dict[str, Any], **endpoint: Any) -> dict[str, Any]:
    backend = {"host": [host], "url_pattern": "/echo", "extra_config": {"modifier/martian": martian}}
    if endpoint.get("output_encoding") == "no-op":
        backend["encoding"] = "no-op"
    return make_config([{"endpoint": "/m", "backend": [backend], **endpoint}])


async def test_martian_fifo_group_of_the_krakend_ce_example(backend, gateway) -> None:
    host = await backend(_echo())
    martian = {
        "fifo.Group": {
            "scope": ["request", "response"],
            "aggregateErrors": True,
            "modifiers": [
                {"header.Modifier": {"scope": ["request", "response"], "name": "X-Martian", "value": "ouh yeah!"}},
                {
                    "header.RegexFilter": {
                        "scope": ["request"],
                        "header": "X-Neptunian",
                        "regex": "no!",
                        "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-Martian-New", "value": "y"}},
                    }
                },
                {"querystring.Modifier": {"scope": ["request"], "name": "amount", "value": "1000"}},
                {"header.Blacklist": {"scope": ["request"], "names": ["X-Drop"]}},
            ],
        }
    }
    client = await gateway(_doc(host, martian, input_headers=["X-Neptunian", "X-Drop"]))
    plain = await (await client.get("/m", headers={"X-Drop": "1"})).json()
    assert plain["headers"]["X-Martian"] == "ouh yeah!" and "X-Martian-New" not in plain["headers"]
    assert plain["query"] == {"amount": "1000"} and "X-Drop" not in plain["headers"]
    matched = await (await client.get("/m", headers={"X-Neptunian": "oh no!"})).json()
    assert matched["headers"]["X-Martian-New"] == "y"


async def test_martian_body_modifier_sets_the_request_body_and_type(backend, gateway) -> None:
    host = await backend(_echo())
    soap = b"<?xml version='1.0'?><Envelope/>"
    martian = {
        "body.Modifier": {
            "scope": ["request"],
            "contentType": "text/xml; charset=utf-8",
            "body": base64.b64encode(soap).decode(),
        }
    }
    client = await gateway(_doc(host, martian, method="POST"))
    echoed = await (await client.post("/m", data=b"ignored")).json()
    assert echoed["body"] == soap.decode() and echoed["headers"]["Content-Type"] == "text/xml; charset=utf-8"
    assert echoed["headers"]["Content-Length"] == str(len(soap))


async def test_martian_response_modifiers_reach_no_op_clients(backend, gateway) -> None:
    host = await backend(_echo())
    martian = {
        "priority.Group": {
            "modifiers": [
                {
                    "priority": 1,
                    "modifier": {"header.Append": {"scope": ["response"], "name": "X-Order", "value": "low"}},
                },
                {
                    "priority": 9,
                    "modifier": {"header.Append": {"scope": ["response"], "name": "X-Order", "value": "high"}},
                },
                {
                    "priority": 5,
                    "modifier": {
                        "cookie.Modifier": {"scope": ["response"], "name": "s", "value": "1", "httpOnly": True}
                    },
                },
            ]
        }
    }
    client = await gateway(_doc(host, martian, output_encoding="no-op"))
    response = await client.get("/m")
    assert response.headers.getall("X-Order") == ["high", "low"]
    assert response.headers["Set-Cookie"] == "s=1; HttpOnly" and response.headers["X-Upstream"] == "kept"


def test_martian_unknown_modifier_is_an_error_at_its_path() -> None:
    where = site("modifier/martian", "backend")
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"fifo.Group": {"modifiers": [{"header.Teleport": {}}]}}, where)
    assert info.value.issues[0].path == where.path + ".fifo.Group.modifiers[0].header.Teleport"
    with pytest.raises(ConfigError, match="base64"):
        COMPONENT.parse({"body.Modifier": {"body": "not base64!"}}, where)


def test_martian_empty_group_costs_nothing() -> None:
    options = COMPONENT.parse(
        {"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": True}}, site("modifier/martian", "backend")
    )
    assert options.request is None and options.response is None


@pytest.mark.timeout(30)
async def test_martian_regex_filters_match_in_linear_time(backend, gateway) -> None:
    host = await backend(_echo())
    martian = {
        "fifo.Group": {
            "modifiers": [
                {
                    "header.RegexFilter": {
                        "scope": ["request"],
                        "header": "X-Name",
                        "regex": "^(a+)+$",
                        "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-By-Header", "value": "1"}},
                    }
                },
                {
                    "url.RegexFilter": {
                        "scope": ["request"],
                        "regex": "^http://[^/]+/echo\\?q=(b+)+$",
                        "modifier": {"header.Modifier": {"scope": ["request"], "name": "X-By-Url", "value": "1"}},
                    }
                },
            ]
        }
    }
    doc = _doc(host, martian, input_headers=["X-Name"], input_query_strings=["q"])
    doc["endpoints"][0]["backend"][0]["url_pattern"] = "/echo"
    client = await gateway(doc)
    # catastrophic for a backtracking engine (2^60 steps): RE2 answers at once, the worker stays free
    missed = await (await client.get("/m", headers={"X-Name": "a" * 60 + "!"}, params={"q": "b" * 60 + "!"})).json()
    assert "X-By-Header" not in missed["headers"] and "X-By-Url" not in missed["headers"]
    hit = await (await client.get("/m", headers={"X-Name": "a" * 60}, params={"q": "b" * 60})).json()
    assert hit["headers"]["X-By-Header"] == "1" and hit["headers"]["X-By-Url"] == "1"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?<=a)b", "invalid perl operator"),  # look-behind: Go has none
        ("(a)\\1", "invalid escape sequence"),  # back-reference: Go has none
        ("x{4294967296}", "invalid repetition size"),
        ("(" * 5000 + "a" + ")" * 5000, "nests too deeply"),
        ("(a", "missing )"),
    ],
)
@pytest.mark.parametrize("kind", ["header.RegexFilter", "url.RegexFilter"])
def test_martian_regex_filters_refuse_what_go_refuses(kind: str, pattern: str, message: str) -> None:
    where = site("modifier/martian", "backend")
    spec = {kind: {"header": "X-A", "regex": pattern, "modifier": {"header.Id": {}}}}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"fifo.Group": {"modifiers": [spec]}}, where)
    [issue] = info.value.issues
    assert issue.path == f"{where.path}.fifo.Group.modifiers[0].{kind}.regex" and message in issue.message


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"header.Modifier": {"name": "X:Colon", "value": "v"}}, "header.Modifier.name"),
        ({"header.Append": {"name": "X-A\r\nEvil", "value": "v"}}, "header.Append.name"),
        ({"header.Copy": {"from": "X-A", "to": "X B"}}, "header.Copy.to"),
        ({"header.Modifier": {"name": "X-A", "value": "v\r\nEvil: 1"}}, "header.Modifier.value"),
    ],
)
def test_martian_header_names_and_values_go_refuses_fail_check(tmp_path: Path, spec: dict[str, Any], key: str) -> None:
    # Go's client refuses every request carrying them (net/http: invalid header field name); the
    # fast client wrote "X:Colon: v" on the wire, aiohttp failed each request on CR/LF
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_doc("http://127.0.0.1:8000", spec)))
    done = check_config(config)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"endpoints[0].backend[0].extra_config.modifier/martian.{key}: invalid header field" in done.stderr
    assert "\nEvil" not in done.stderr  # quoted, never a raw line of its own
