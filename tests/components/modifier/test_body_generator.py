"""``modifier/body-generator``: a template file seeing the request, a sequential proxy, and config
errors through the real CLI (the shared code: :mod:`krakenpy.bodygen`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.cli_gateway import check_config
from tests.conftest import make_config


def _echo() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {"got": body.decode(), "type": request.headers.get("Content-Type", ""), "path": request.path}
        )

    async def classify(request: web.Request) -> web.Response:
        return web.json_response({"label": request.match_info["label"]})

    async def raw(request: web.Request) -> web.Response:
        return web.Response(text="plain words", status=201, headers={"X-Up": "yes"})

    app = web.Application()
    app.router.add_route("*", "/echo/{any:.*}", echo)
    app.router.add_get("/classify/{label}", classify)
    app.router.add_get("/raw", raw)
    return app


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_body_generator_backend_template_file_sees_the_request(
    gateway: Any, backend: Any, tmp_path: Path
) -> None:
    base = await backend(_echo())
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "body.tmpl").write_text(
        '{"user": {{ toJson .req_params.User }}, "email": {{ toJson .req_body.email }}, '
        '"lang": {{ toJson (index .req_headers "Accept-Language") }}, "q": {{ toJson .req_querystring.q }}, '
        '"method": "{{ .req_method }}"}'
    )
    generator = {"modifier/body-generator": {"path": "./templates/body.tmpl"}}
    endpoint = {
        "endpoint": "/users/{user}",
        "method": "POST",
        "input_headers": ["Accept-Language"],
        "input_query_strings": ["q"],
        "backend": [{"host": [base], "url_pattern": "/echo/x", "extra_config": generator}],
    }
    client = await gateway(make_config([endpoint]), base_dir=tmp_path)
    answer = await client.post(
        "/users/42?q=a&q=b", json={"email": "a@b.c", "other": 1}, headers={"Accept-Language": "es"}
    )
    got = await answer.json()
    assert got["type"] == "application/json"
    assert json.loads(got["got"]) == {"user": "42", "email": "a@b.c", "lang": ["es"], "q": ["a", "b"], "method": "POST"}


async def test_body_generator_in_a_sequential_proxy_sees_the_earlier_answer(gateway: Any, backend: Any) -> None:
    base = await backend(_echo())
    template = '{"prompt_label": "{{ .req_params.Resp0_label }}"}'
    endpoint = {
        "endpoint": "/guard/{label}",
        "method": "POST",
        "backend": [
            {"host": [base], "url_pattern": "/classify/{label}", "method": "GET"},
            {
                "host": [base],
                "url_pattern": "/echo/llm",
                "method": "POST",
                "group": "llm",
                "extra_config": {"modifier/body-generator": {"template": _b64(template)}},
            },
        ],
        "extra_config": {"proxy": {"sequential": True, "sequential_propagated_params": ["resp0_label"]}},
    }
    client = await gateway(make_config([endpoint]))
    answer = await (await client.post("/guard/BENIGN", json={})).json()
    assert json.loads(answer["llm"]["got"]) == {"prompt_label": "BENIGN"}


def _check(tmp_path: Path, config: dict[str, Any], *args: str) -> tuple[int, str]:
    backend = {"host": ["http://127.0.0.1:19"], "url_pattern": "/", "extra_config": config}
    (tmp_path / "krakend.json").write_text(json.dumps(make_config([{"endpoint": "/x", "backend": [backend]}])))
    done = check_config(tmp_path / "krakend.json", *args)
    return done.returncode, done.stdout + done.stderr


def test_body_generator_config_errors_name_their_path(tmp_path: Path) -> None:
    where = "endpoints[0].backend[0].extra_config.modifier/body-generator"
    code, out = _check(tmp_path, {"modifier/body-generator": {"path": "./missing.tmpl"}})
    assert code == 1 and f"{where}.path: cannot read" in out
    # --skip-components reads no file: the config alone is fine
    code, out = _check(tmp_path, {"modifier/body-generator": {"path": "./missing.tmpl"}}, "--skip-components")
    assert code == 0, out
    (tmp_path / "bad.tmpl").write_text("{{ if }")
    code, out = _check(tmp_path, {"modifier/body-generator": {"path": "bad.tmpl"}})
    assert code == 1 and f"{where}.path: template syntax error" in out
    code, out = _check(tmp_path, {"modifier/body-generator": {"template": _b64("{{ .x ")}})
    assert code == 1 and f"{where}.template: template syntax error" in out
    code, out = _check(tmp_path, {"modifier/body-generator": {"template": "%%%"}})
    assert code == 1 and f"{where}.template: not base64" in out
    code, out = _check(tmp_path, {"modifier/body-generator": {"template": _b64("x"), "path": "a"}})
    assert code == 1 and f"{where}: set one of path" in out
    code, out = _check(tmp_path, {"modifier/response-body-generator": {"content_type": "text/plain"}})
    assert code == 1 and "modifier/response-body-generator: set one of path" in out
