"""``ai/llm`` as a component: bad values at their JSON path (parse and the real CLI's ``check``, exit
1), the template files read at start-up, and the credential canary through ``routes``, ``/__debug/``,
the logs and error answers."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, parse_components
from krakenpy.llm.call import LlmOptions
from krakenpy.telemetry.writer import flush_stdout
from tests.ai.vendors import CANARY, Vendor, openai_answer
from tests.cli_gateway import check_config
from tests.conftest import ROOT, make_config


def _doc(llm: Any, **backend: Any) -> dict[str, Any]:
    return make_config(
        [
            {
                "endpoint": "/llm",
                "method": "POST",
                "backend": [
                    {"host": ["http://127.0.0.1:8080"], "url_pattern": "/v1/responses", "method": "POST", **backend,
                     "extra_config": {"ai/llm": llm}},
                ],
            }
        ]
    )  # fmt: skip


def _issues(doc: dict[str, Any]) -> list[str]:
    _, issues = parse_components(build_service(doc))
    return [str(issue) for issue in issues]


AT = "endpoints[0].backend[0].extra_config.ai/llm"
OPENAI: dict[str, Any] = {"credentials": "k", "variables": {"model": "m"}}


@pytest.mark.parametrize(
    ("llm", "where", "message"),
    [
        (
            {"bedrock": {"v1": {"credentials": "k", "variables": {"max_tokens": 5}}}},
            f"{AT}.bedrock.v1",
            "bedrock v1 is not supported",
        ),
        ({"openai": {"v2": {"credentials": "k", "variables": {"model": "m"}}}}, f"{AT}.openai.v2", "not supported"),
        ({"openai": {"v1": {"credentials": "k", "variables": {}}}}, f"{AT}.openai.v1.variables.model", "model"),
        ({"anthropic": {"v1": {"credentials": "", "variables": {"model": "m"}}}}, f"{AT}.anthropic.v1.credentials", ""),
        ({}, AT, "exactly one vendor"),
    ],
)
def test_llm_parse_reports_bad_values_at_their_json_path(llm: Any, where: str, message: str) -> None:
    issues = _issues(_doc(llm))
    assert any(issue.startswith(where) and message in issue for issue in issues), issues


def test_llm_options_never_show_the_credential() -> None:
    options = LlmOptions("openai", "v1", CANARY, {"model": "m"})
    assert CANARY not in repr(options) and CANARY not in str(options)


@pytest.mark.parametrize(
    ("llm", "where"),
    [
        ({"gemini": {"v1beta": {"credentials": 3}}}, f"{AT}.gemini.v1beta.credentials"),
        ({"openai": {"v1": {**OPENAI, "temprature": 1}}}, f"{AT}.openai.v1"),
        ({"openai": {"v1": {**OPENAI, "variables": {"model": "m", "temperature": 3}}}}, f"{AT}.openai.v1.variables"),
        ({"mistral": {"v1": {**OPENAI, "input_template": "missing.tmpl"}}}, f"{AT}.mistral.v1.input_template"),
        ({"openai": {"v1": OPENAI}, "gemini": {"v1beta": {"credentials": "k"}}}, AT),
    ],
)  # fmt: skip
def test_llm_check_fails_at_the_json_path(tmp_path: Path, llm: Any, where: str) -> None:
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(_doc(llm)))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert where in out
    assert "Traceback" not in out


async def test_llm_bad_input_template_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "in.tmpl").write_text("{{ .req_body.contents ")
    llm = {"openai": {"v1": {"credentials": "k", "variables": {"model": "m"}, "input_template": "in.tmpl"}}}
    with pytest.raises(ConfigError) as caught:
        await build_gateway(build_service(_doc(llm)), base_dir=tmp_path)
    assert f"{AT}.openai.v1.input_template" in str(caught.value)


def test_llm_routes_never_show_the_credential(tmp_path: Path) -> None:
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(_doc({"openai": {"v1": {"credentials": CANARY, "variables": {"model": "m"}}}})))
    done = subprocess.run(
        [sys.executable, "-m", "krakenpy", "routes", "-c", str(config), "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ai/llm" in done.stdout
    assert CANARY not in done.stdout + done.stderr


async def test_llm_credential_canary_reaches_no_output(gateway, backend, capfd, caplog) -> None:  # type: ignore[no-untyped-def]
    failing = Vendor({"error": {"message": "bad key"}}, status=401)
    working = Vendor(openai_answer("fine"))
    hosts = [await backend(failing.app()), await backend(working.app())]
    llm = {"openai": {"v1": {"credentials": CANARY, "debug": True, "variables": {"model": "m"}}}}
    log = {"custom_format": "BL %{reqHeader.Authorization} %{url} %{resp.error.message}\n"}
    endpoints = [
        {
            "endpoint": f"/e{i}",
            "method": "POST",
            "backend": [
                {"host": [h], "url_pattern": "/v1/responses", "extra_config": {"ai/llm": llm, "telemetry/logging": log}}
            ],
        }
        for i, h in enumerate(hosts)
    ]
    doc = make_config(
        endpoints,
        debug_endpoint=True,
        extra_config={
            "router": {"return_error_msg": True},
            "telemetry/logging": {"level": "DEBUG", "stdout": True},
        },
    )
    client = await gateway(doc, debug=True)
    with caplog.at_level(logging.DEBUG):
        bodies = []
        for path in ("/e0", "/e1", "/__debug/x"):
            r = await client.post(path, json={"contents": "hello"})
            bodies.append(await r.text())
            assert CANARY not in str(r.headers)
    assert working.seen[0].headers["Authorization"] == f"Bearer {CANARY}"  # the vendor does get it
    flush_stdout()
    out, err = capfd.readouterr()
    assert "BL Bearer [REDACTED]" in out
    assert "bad key" in out  # the log line is there, and still holds no credential
    for text in (*bodies, out, err, caplog.text):
        assert CANARY not in text


@pytest.mark.parametrize(
    "credentials",
    [12345678987654321, ["sk-c4n4ry-9d1e7b"], {"key": "sk-c4n4ry-9d1e7b"}, ""],
)
def test_llm_check_never_quotes_a_credential_of_the_wrong_type(tmp_path: Path, credentials: Any) -> None:
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(_doc({"openai": {"v1": {**OPENAI, "credentials": credentials}}})))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"{AT}.openai.v1.credentials" in out and "never shown" in out
    assert CANARY not in out and "12345678987654321" not in out
