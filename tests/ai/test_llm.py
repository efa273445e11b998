"""``ai/llm`` through a real gateway: fake vendors on 127.0.0.1 check the request each vendor's API
expects (path, credential headers, body) and answer in the vendor's shape; the client gets the
unified answer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.ai.vendors import (
    CANARY,
    Vendor,
    anthropic_answer,
    gemini_answer,
    mistral_answer,
    openai_answer,
)
from tests.conftest import make_config


def _endpoint(host: str, url: str, llm: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": "/llm",
        "method": "POST",
        **extra,
        "backend": [{"host": [host], "url_pattern": url, "method": "POST", "extra_config": {"ai/llm": llm}}],
    }


def _llm(vendor: str, version: str, **settings: Any) -> dict[str, Any]:
    return {vendor: {version: {"credentials": CANARY, **settings}}}


PROMPT = {"instructions": "Act as a consultant", "contents": "Tell me a joke"}


async def test_llm_openai_request_and_unified_answer(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(openai_answer("Why did the consultant cross the road?"))
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", variables={"model": "gpt-4o-mini", "temperature": 0.2, "max_output_tokens": 0})
    client = await gateway(make_config([_endpoint(host, "/v1/responses", llm)]))
    r = await client.post("/llm", json=PROMPT, headers={"Authorization": "Bearer client-token"})
    assert r.status == 200
    assert await r.json() == {
        "ai_gateway_response": [{"contents": ["Why did the consultant cross the road?"]}],
        "usage": "42",
    }
    (seen,) = vendor.seen
    assert (seen.method, seen.path) == ("POST", "/v1/responses")
    assert seen.headers["Authorization"] == f"Bearer {CANARY}"  # the client's token never reaches the vendor
    assert seen.headers["Content-Type"] == "application/json"
    # max_output_tokens 0 sets no limit: not sent
    assert seen.body == {
        "model": "gpt-4o-mini",
        "input": "Tell me a joke",
        "instructions": "Act as a consultant",
        "temperature": 0.2,
    }


async def test_llm_anthropic_request_and_unified_answer(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(anthropic_answer("A haiku."))
    host = await backend(vendor.app())
    llm = _llm("anthropic", "v1", variables={"model": "claude-haiku-4-5", "stop_sequences": ["END"]})
    client = await gateway(make_config([_endpoint(host, "/v1/messages", llm)]))
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 200
    assert await r.json() == {"ai_gateway_response": [{"contents": ["A haiku."]}], "usage": "42"}
    (seen,) = vendor.seen
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == CANARY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in seen.headers
    assert seen.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "system": "Act as a consultant",
        "messages": [{"role": "user", "content": "Tell me a joke"}],
        "stop_sequences": ["END"],
    }


async def test_llm_gemini_candidates_and_key_header(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(gemini_answer("one", "two"))
    host = await backend(vendor.app())
    llm = _llm("gemini", "v1beta", variables={"candidate_count": 2, "top_k": 3})
    url = "/v1beta/models/gemini-2.5-flash:generateContent"
    client = await gateway(make_config([_endpoint(host, url, llm)]))
    r = await client.post("/llm", json={"contents": "Count"})
    assert r.status == 200
    assert await r.json() == {
        "ai_gateway_response": [{"contents": ["one"]}, {"contents": ["two"]}],
        "usage": "12",
    }
    (seen,) = vendor.seen
    assert seen.path == url
    assert seen.headers["x-goog-api-key"] == CANARY
    assert seen.body == {
        "contents": [{"role": "user", "parts": [{"text": "Count"}]}],
        "generationConfig": {"candidateCount": 2, "topK": 3},
    }


async def test_llm_mistral_messages(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(mistral_answer("bonjour"))
    host = await backend(vendor.app())
    llm = _llm("mistral", "v1", variables={"model": "mistral-small-latest", "safe_prompt": True, "n": 1})
    client = await gateway(make_config([_endpoint(host, "/v1/chat/completions", llm)]))
    r = await client.post("/llm", json=PROMPT)
    assert await r.json() == {"ai_gateway_response": [{"contents": ["bonjour"]}], "usage": "7"}
    (seen,) = vendor.seen
    assert seen.headers["Authorization"] == f"Bearer {CANARY}"
    assert seen.body == {
        "model": "mistral-small-latest",
        "messages": [
            {"role": "system", "content": "Act as a consultant"},
            {"role": "user", "content": "Tell me a joke"},
        ],
        "n": 1,
        "safe_prompt": True,
    }


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
async def test_llm_vendor_error_is_a_backend_error(gateway, backend, status: int) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor({"error": {"message": "quota", "type": "rate_limit"}}, status=status)
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", variables={"model": "m"})
    client = await gateway(make_config([_endpoint(host, "/v1/responses", llm)]))
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 500  # as any failing backend of a JSON endpoint
    assert CANARY not in await r.text()


async def test_llm_vendor_error_code_returned_with_return_error_code(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor({"error": {"message": "slow down"}}, status=429)
    host = await backend(vendor.app())
    endpoint = _endpoint(host, "/v1/messages", _llm("anthropic", "v1", variables={"model": "m"}))
    endpoint["backend"][0]["extra_config"]["backend/http"] = {"return_error_code": True}
    client = await gateway(make_config([endpoint]))
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 429


async def test_llm_slow_vendor_times_out(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(openai_answer("late"), delay=2.0)
    host = await backend(vendor.app())
    endpoint = _endpoint(host, "/v1/responses", _llm("openai", "v1", variables={"model": "m"}), timeout="300ms")
    client = await gateway(make_config([endpoint]))
    r = await client.post("/llm", json=PROMPT)
    assert r.status in (500, 504)
    assert "late" not in await r.text()


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"instructions": "x"}', b'{"contents": 3}', b'{"contents": "x", "instructions": 1}'],
)
async def test_llm_bad_unified_request_is_400_and_no_call(gateway, backend, body: bytes) -> None:  # type: ignore[no-untyped-def]
    vendor = Vendor(openai_answer("never"))
    host = await backend(vendor.app())
    client = await gateway(
        make_config([_endpoint(host, "/v1/responses", _llm("openai", "v1", variables={"model": "m"}))])
    )
    r = await client.post("/llm", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert "error" in orjson.loads(await r.read())
    assert vendor.seen == []


async def test_llm_non_json_success_answer_is_a_backend_error(gateway, backend) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/v1/responses", text)
    host = await backend(app)
    client = await gateway(
        make_config([_endpoint(host, "/v1/responses", _llm("openai", "v1", variables={"model": "m"}))])
    )
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 500


async def test_llm_custom_templates(gateway, backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "in.tmpl").write_text(
        '{"model": {{ .variables.model | toJson }}, "prompt": {{ .req_body.contents | upper | toJson }},'
        ' "extra": {{ .variables.extra_payload.tag | toJson }}}'
    )
    (tmp_path / "out.tmpl").write_text(
        '{"text": {{ (index .resp_body.choices 0).message.content | toJson }}, "status": {{ .resp_status }}}'
    )
    vendor = Vendor(mistral_answer("ok"))
    host = await backend(vendor.app())
    llm = _llm(
        "mistral",
        "v1",
        variables={"model": "mx", "extra_payload": {"tag": "t1"}},
        input_template="in.tmpl",
        output_template="out.tmpl",
    )
    client = await gateway(make_config([_endpoint(host, "/v1/chat/completions", llm)]), base_dir=tmp_path)
    r = await client.post("/llm", json={"contents": "hi"})
    assert await r.json() == {"text": "ok", "status": 200}
    assert vendor.seen[0].body == {"model": "mx", "prompt": "HI", "extra": "t1"}


async def test_llm_template_rendering_bad_json_is_500(gateway, backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "in.tmpl").write_text("{{ .req_body.contents }}")  # not JSON once rendered
    vendor = Vendor(mistral_answer("ok"))
    host = await backend(vendor.app())
    llm = _llm("mistral", "v1", variables={"model": "mx"}, input_template="in.tmpl")
    client = await gateway(make_config([_endpoint(host, "/v1/chat/completions", llm)]), base_dir=tmp_path)
    r = await client.post("/llm", json={"contents": "plain words"})
    assert r.status == 500
    assert vendor.seen == []


async def test_llm_debug_logs_bodies_never_the_credential(gateway, backend, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    vendor = Vendor(openai_answer("dbg"))
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", debug=True, variables={"model": "m"})
    client = await gateway(make_config([_endpoint(host, "/v1/responses", llm)]))
    with caplog.at_level(logging.DEBUG, logger="krakenpy.llm"):
        r = await client.post("/llm", json=PROMPT)
    assert r.status == 200
    text = "\n".join(rec.getMessage() for rec in caplog.records if rec.name == "krakenpy.llm")
    assert "Tell me a joke" in text and "dbg" in text
    assert CANARY not in caplog.text
