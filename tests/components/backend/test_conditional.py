"""``backend/conditional``: header and policy rules, the fallback, unconditional backends beside them,
the sequential proxy, and config errors through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.cli_gateway import check_config
from tests.conftest import make_config


def _app(calls: list[str]) -> web.Application:
    async def named(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        calls.append(name)
        return web.json_response({name: True, "label": request.query.get("label", "BENIGN")})

    app = web.Application()
    app.router.add_get("/{name}", named)
    return app


def _backend(base: str, name: str, rule: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    config = {"backend/conditional": rule} if rule is not None else {}
    return {"host": [base], "url_pattern": f"/{name}", "extra_config": config, **extra}


def _header(value: str) -> dict[str, str]:
    return {"strategy": "header", "name": "x-model", "value": value}


async def test_conditional_header_picks_the_backend_and_fallback_runs_when_none_matches(
    gateway: Any, backend: Any
) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    backends = [
        _backend(base, "gemini", _header("gemini")),
        _backend(base, "openai", _header("openai")),
        _backend(base, "default", {"strategy": "fallback"}),
    ]
    client = await gateway(make_config([{"endpoint": "/llm", "input_headers": ["X-Model"], "backend": backends}]))
    answer = await client.get("/llm", headers={"X-Model": "openai"})
    assert await answer.json() == {"openai": True, "label": "BENIGN"}
    assert answer.headers["X-KrakenD-Completed"] == "true"
    assert calls == ["openai"]
    calls.clear()
    answer = await client.get("/llm", headers={"X-Model": "mistral"})
    assert await answer.json() == {"default": True, "label": "BENIGN"}
    assert calls == ["default"]
    calls.clear()
    answer = await client.get("/llm")
    assert await answer.json() == {"default": True, "label": "BENIGN"}
    assert calls == ["default"]


async def test_conditional_header_not_in_input_headers_never_matches(gateway: Any, backend: Any) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    backends = [_backend(base, "gemini", _header("gemini")), _backend(base, "default", {"strategy": "fallback"})]
    client = await gateway(make_config([{"endpoint": "/llm", "backend": backends}]))
    answer = await client.get("/llm", headers={"X-Model": "gemini"})
    assert await answer.json() == {"default": True, "label": "BENIGN"}
    assert calls == ["default"]


async def test_conditional_policy_and_unconditional_backends_are_merged(gateway: Any, backend: Any) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    backends = [
        _backend(base, "always", None, group="always"),
        _backend(base, "beta", {"strategy": "policy", "value": "req_querystring['beta'][0] == 'on'"}),
        _backend(base, "cookie", {"strategy": "policy", "value": "getCookie('ab') == '1'"}),
    ]
    endpoint = {"endpoint": "/ab", "input_query_strings": ["beta"], "input_headers": ["Cookie"], "backend": backends}
    client = await gateway(make_config([endpoint]))
    answer = await client.get("/ab")
    assert await answer.json() == {"always": {"always": True, "label": "BENIGN"}}
    assert answer.headers["X-KrakenD-Completed"] == "true"
    assert calls == ["always"]
    calls.clear()
    answer = await client.get("/ab?beta=on", headers={"Cookie": "ab=1"})
    assert (await answer.json()).keys() == {"always", "beta", "cookie", "label"}
    assert sorted(calls) == ["always", "beta", "cookie"]


async def test_conditional_every_backend_skipped_is_an_empty_complete_answer(gateway: Any, backend: Any) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    single = {"endpoint": "/one", "input_headers": ["X-Model"], "backend": [_backend(base, "a", _header("a"))]}
    client = await gateway(make_config([single]))
    answer = await client.get("/one")
    assert answer.status == 200 and await answer.json() == {}
    assert calls == []


async def test_conditional_policy_sees_the_sequential_answers(gateway: Any, backend: Any) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    backends = [
        {"host": [base], "url_pattern": "/classify?label={label}"},
        _backend(base, "llm", {"strategy": "policy", "value": "req_params['Resp0_label'] == 'BENIGN'"}, group="llm"),
        _backend(base, "refuse", {"strategy": "fallback"}, group="refused"),
    ]
    endpoint = {
        "endpoint": "/guard/{label}",
        "backend": backends,
        "extra_config": {"proxy": {"sequential": True, "sequential_propagated_params": ["resp0_label"]}},
    }
    client = await gateway(make_config([endpoint]))
    assert (await (await client.get("/guard/BENIGN")).json()).keys() == {"classify", "label", "llm"}
    assert calls == ["classify", "llm"]
    calls.clear()
    assert (await (await client.get("/guard/INJECTION")).json()).keys() == {"classify", "label", "refused"}
    assert calls == ["classify", "refuse"]


async def test_conditional_policy_evaluation_error_skips(gateway: Any, backend: Any) -> None:
    calls: list[str] = []
    base = await backend(_app(calls))
    rule = {"strategy": "policy", "value": "req_headers['X-Missing'][0] == 'a'"}
    endpoint = {"endpoint": "/e", "backend": [_backend(base, "a", rule), _backend(base, "b", {"strategy": "fallback"})]}
    client = await gateway(make_config([endpoint]))
    answer = await client.get("/e")
    assert (await answer.json()).keys() == {"b", "label"}
    assert calls == ["b"]


def _check(tmp_path: Path, backends: list[dict[str, Any]]) -> str:
    doc = make_config([{"endpoint": "/x", "backend": backends}])
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    done = check_config(tmp_path / "krakend.json")
    assert done.returncode == 1
    return done.stdout + done.stderr


def test_conditional_config_errors_name_their_path(tmp_path: Path) -> None:
    host = "http://127.0.0.1:19"
    out = _check(
        tmp_path,
        [
            _backend(host, "a", {"strategy": "fallback"}),
            _backend(host, "b", {"strategy": "fallback"}),
            _backend(host, "c", {"strategy": "policy", "value": "req_headers["}),
            _backend(host, "d", {"strategy": "header", "value": "x"}),
        ],
    )
    where = "endpoints[0].backend[{}].extra_config.backend/conditional"
    assert f"{where.format(1)}.strategy: only one fallback backend per endpoint: backend[0] is one already" in out
    assert f"{where.format(2)}.value: policy syntax error" in out
    assert f"{where.format(3)}.name: the header strategy needs the header name" in out
    assert where.format(0) + ".strategy" not in out
    out = _check(tmp_path, [_backend(host, "e", {"strategy": "sometimes"})])
    assert f"{where.format(0)}.strategy: 'sometimes' is not one of" in out
