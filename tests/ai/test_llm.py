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
    vendor = Vendor(None, status=status, echo_key=True)  # the error quotes the key, as OpenAI's 401 does
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", variables={"model": "m"})
    client = await gateway(make_config([_endpoint(host, "/v1/responses", llm)]))
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 500  # as any failing backend of a JSON endpoint
    assert CANARY not in await r.text()
    assert CANARY in vendor.seen[0].headers["Authorization"]  # the echo held it: the gateway kept it back


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


SERVICE_LOG = {"telemetry/logging": {"level": "DEBUG", "prefix": "[KRAKEND]", "stdout": True}}


@pytest.mark.parametrize(
    ("vendor", "version", "url", "header"),
    [
        ("openai", "v1", "/v1/responses", "Authorization"),
        ("anthropic", "v1", "/v1/messages", "x-api-key"),
        ("gemini", "v1beta", "/v1beta/models/m:generateContent", "x-goog-api-key"),
        ("mistral", "v1", "/v1/chat/completions", "Authorization"),
    ],
)
async def test_llm_vendor_key_header_masked_with_replace_defaults(  # type: ignore[no-untyped-def]
    gateway, backend, capfd, vendor: str, version: str, url: str, header: str
) -> None:
    from krakenpy.telemetry.writer import flush_stdout

    host = await backend(Vendor(openai_answer("hi")).app())
    endpoint = _endpoint(host, url, _llm(vendor, version, variables={"model": "m"}))
    endpoint["backend"][0]["extra_config"]["telemetry/logging"] = {"custom_format": f"BL %{{reqHeader.{header}}}"}
    service = {**SERVICE_LOG, "telemetry/access_log": {"redact": {"replace_defaults": True}}}
    client = await gateway(make_config([endpoint], extra_config=service))
    assert (await client.post("/llm", json=PROMPT)).status == 200
    flush_stdout()
    out, err = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("BL ")]
    assert lines == ["BL Bearer [REDACTED]" if header == "Authorization" else "BL [REDACTED]"]
    assert CANARY not in out + err


async def test_llm_openai_output_text_without_a_string_text_is_skipped(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    parts = [{"type": "output_text"}, {"type": "output_text", "text": None}, {"type": "output_text", "text": "ok"}]
    host = await backend(Vendor({"output": [{"type": "message", "content": parts}]}).app())
    client = await gateway(
        make_config([_endpoint(host, "/v1/responses", _llm("openai", "v1", variables={"model": "m"}))])
    )
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 200
    assert await r.json() == {"ai_gateway_response": [{"contents": ["ok"]}], "usage": ""}
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


async def test_llm_input_template_takes_any_json_object(gateway, backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "in.tmpl").write_text('{"model": "m", "input": {{ .req_body.prompt | toJson }}}')
    vendor = Vendor(openai_answer("hi"))
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", variables={"model": "m"}, input_template="in.tmpl")
    client = await gateway(make_config([_endpoint(host, "/v1/responses", llm)]), base_dir=tmp_path)
    r = await client.post("/llm", json={"prompt": "joke"})
    assert r.status == 200, await r.text()
    assert vendor.seen[0].body == {"model": "m", "input": "joke"}
    r = await client.post("/llm", json=["joke"])  # still a JSON object
    assert r.status == 400
    assert len(vendor.seen) == 1


@pytest.mark.parametrize("which", ["input", "output"])
async def test_llm_template_failure_of_any_kind_is_a_clean_500(gateway, backend, capfd, tmp_path, which: str) -> None:  # type: ignore[no-untyped-def]
    # 300 nested arrays: orjson reads them (depth 1024) but will not write them back (depth 254)
    (tmp_path / "deep.tmpl").write_text('{{ repeat 300 "[" }}{{ repeat 300 "]" }}')
    vendor = Vendor(openai_answer("hi"))
    host = await backend(vendor.app())
    llm = _llm("openai", "v1", variables={"model": "m"}, **{f"{which}_template": "deep.tmpl"})
    client = await gateway(
        make_config([_endpoint(host, "/v1/responses", llm)], extra_config=SERVICE_LOG), base_dir=tmp_path
    )
    r = await client.post("/llm", json=PROMPT)
    assert r.status == 500
    assert len(vendor.seen) == (1 if which == "output" else 0)
    from krakenpy.telemetry.writer import flush_stdout

    flush_stdout()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


async def test_llm_debug_lines_are_escaped_and_redacted(gateway, backend, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from aiohttp import web

    answers = [
        web.json_response({**openai_answer("a\nb"), "api_key": "VENDOR-SECRET-1"}),
        web.Response(status=502, text="bad gateway\n[KRAKEND] 2026/01/01 - 00:00:00.000 ▶ ERROR FORGED"),
    ]

    async def handle(request: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_route("*", "/{t:.*}", handle)
    host = await backend(app)
    llm = _llm("openai", "v1", debug=True, variables={"model": "m"})
    client = await gateway(make_config([_endpoint(host, "/v1/responses?token=URL-SECRET-3", llm)]))
    with caplog.at_level(logging.DEBUG, logger="krakenpy.llm"):
        assert (await client.post("/llm", json=PROMPT)).status == 200
        assert (await client.post("/llm", json=PROMPT)).status == 500
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "krakenpy.llm"]
    assert len(lines) == 4
    assert all("\n" not in line for line in lines), lines  # one line each: nothing forged
    assert "Tell me a joke" in lines[0] and "a\\nb" in lines[1] and "[REDACTED]" in lines[1]
    assert lines[3].endswith(" bytes, text/plain]")  # a body that is not JSON: only its size
    for secret in ("VENDOR-SECRET-1", "URL-SECRET-3", "FORGED", CANARY):
        assert secret not in caplog.text, secret
