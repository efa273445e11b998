"""``modifier/jmespath``: the query at the endpoint (after the merge) and at a backend, the wrappers,
the order with Lua ``post``, and config errors through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.cli_gateway import check_config
from tests.conftest import make_config

STUDENTS = {"students": [{"name": "Bill", "age": 23}, {"name": "Mary", "age": 16}, {"name": "Jessica", "age": 19}]}


def _app() -> web.Application:
    async def students(request: web.Request) -> web.Response:
        return web.json_response(STUDENTS)

    async def school(request: web.Request) -> web.Response:
        return web.json_response({"school": "North", "city": "Oslo"})

    app = web.Application()
    app.router.add_get("/students", students)
    app.router.add_get("/school", school)
    return app


def _endpoint(path: str, expr: str | None, backends: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"modifier/jmespath": {"expr": expr}} if expr is not None else {}
    return {"endpoint": path, "backend": backends, "extra_config": config, **extra}


async def test_jmespath_endpoint_query_on_the_merged_answer(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    both = [{"host": [base], "url_pattern": "/students"}, {"host": [base], "url_pattern": "/school"}]
    client = await gateway(
        make_config(
            [
                _endpoint("/adults", "students[?age > `18`].name", both, output_encoding="json-collection"),
                _endpoint("/summary", "{school: school, count: length(students)}", both),
                _endpoint("/count", "length(students)", both),
                _endpoint("/nothing", "missing", both),
            ]
        )
    )
    adults = await client.get("/adults")
    assert await adults.json() == ["Bill", "Jessica"]
    assert await (await client.get("/summary")).json() == {"school": "North", "count": 3}
    assert await (await client.get("/count")).json() == {"content": 3}
    assert await (await client.get("/nothing")).json() == {}


async def test_jmespath_backend_query_runs_before_the_merge(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    queried = {
        "host": [base],
        "url_pattern": "/students",
        "group": "people",  # the backend's own filters run first: the query sees the group
        "extra_config": {"modifier/jmespath": {"expr": "{names: people.students[*].name}"}},
    }
    client = await gateway(make_config([_endpoint("/x", None, [queried, {"host": [base], "url_pattern": "/school"}])]))
    answer = await client.get("/x")
    assert await answer.json() == {"names": ["Bill", "Mary", "Jessica"], "school": "North", "city": "Oslo"}


async def test_jmespath_sees_what_lua_post_left(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    lua = {"sources": [], "post": "local r = response.load(); r:data():set('extra', 'from-lua')", "live": False}
    endpoint = _endpoint("/x", "{school: school, extra: extra}", [{"host": [base], "url_pattern": "/school"}])
    endpoint["extra_config"]["modifier/lua-proxy"] = lua
    client = await gateway(make_config([endpoint]))
    assert await (await client.get("/x")).json() == {"school": "North", "extra": "from-lua"}


def test_jmespath_bad_expression_is_a_config_error_with_its_path(tmp_path: Path) -> None:
    doc = make_config([_endpoint("/x", "students[?", [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}])])
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    done = check_config(tmp_path / "krakend.json")
    assert done.returncode == 1
    assert "endpoints[0].extra_config.modifier/jmespath.expr: not a JMESPath expression" in done.stdout + done.stderr


def test_jmespath_expression_nested_past_the_parser_is_a_config_error(tmp_path: Path) -> None:
    """An expression nesting 500 brackets (or parentheses) ran jmespath's recursive parser out of
    stack: ``check`` and ``run`` ended on a ``RecursionError`` traceback."""
    for expr in ("[" * 500 + "]" * 500, "(" * 500 + "a" + ")" * 500):
        doc = make_config([_endpoint("/x", expr, [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}])])
        (tmp_path / "krakend.json").write_text(json.dumps(doc))
        done = check_config(tmp_path / "krakend.json")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "endpoints[0].extra_config.modifier/jmespath.expr: nested too deeply" in done.stderr, done.stderr
