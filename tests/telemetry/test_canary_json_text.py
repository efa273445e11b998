"""A JSON body's secret field quoted in free text (a script printing the body it got, an error quoting
it): the fields the body paths mask wherever they appear (``$..password``, ``$..token``…) are masked
in every text the redactor writes, not only in the bodies ``/__debug/`` logs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.redact import RedactionOptions, Redactor
from tests.components.telemetry.conftest import doc, recording_app

CANARY = "c4n4ry-5e1b7d90"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('{"password":"%s"}', '{"password":"[REDACTED]"}'),
        ('body {"user":"ada", "Password" : "a \\" %s"} end', 'body {"user":"ada", "Password" : "[REDACTED]"} end'),
        ('{"a":{"token":"%s"},"id_token":"%s"}', '{"a":{"token":"[REDACTED]"},"id_token":"[REDACTED]"}'),
        ('{"api_key": 123456, "token": true}', '{"api_key": "[REDACTED]", "token": "[REDACTED]"}'),
    ],
)
def test_a_json_secret_field_in_free_text_is_masked(text: str, masked: str) -> None:
    filled = text.replace("%s", CANARY)
    assert Redactor().text(filled) == masked
    assert Redactor().text(masked) == masked  # redacted twice: the same


def test_only_fields_masked_anywhere_and_not_their_lookalikes() -> None:
    redactor = Redactor(RedactionOptions(body_paths=("$..pin", "$.card.number")))
    assert redactor.text('{"pin":"1234","number":"4111","tokens":"t","my_token":"m"}') == (
        '{"pin":"[REDACTED]","number":"4111","tokens":"t","my_token":"m"}'
    )
    assert Redactor(RedactionOptions(replace_defaults=True)).text('{"password":"x"}') == '{"password":"x"}'


async def test_a_lua_print_of_the_body_hides_its_secret_fields(
    served: Any, upstream: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_path = str(tmp_path / "log.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(sock_path)
    daemon.settimeout(2)
    monkeypatch.setenv("KRAKENPY_SYSLOG_ADDRESS", sock_path)
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [
                {
                    "endpoint": "/login",
                    "method": "POST",
                    "backend": [{"host": [base], "url_pattern": "/y"}],
                    "extra_config": {"modifier/lua-proxy": {"pre": "print('got ' .. request.load():body())"}},
                }
            ],
            extra_config={"telemetry/logging": {"level": "INFO", "stdout": True, "syslog": True}},
        )
    )
    body = orjson.dumps({"user": "ada", "password": CANARY, "session": {"refresh_token": CANARY}})
    resp = await s.client.post("/login", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    await s.gateway.close()
    out = capfd.readouterr().out
    datagrams = []
    try:
        while True:
            daemon.settimeout(0.2)
            datagrams.append(daemon.recv(65536).decode())
    except TimeoutError:
        pass
    finally:
        daemon.close()
        os.unlink(sock_path)
    printed = [line for line in out.split("\n") if "lua: got " in line]
    assert len(printed) == 1, out
    assert '"user":"ada","password":"[REDACTED]","session":{"refresh_token":"[REDACTED]"}' in printed[0]
    assert any("lua: got " in d for d in datagrams), datagrams
    assert CANARY not in out and not [d for d in datagrams if CANARY in d]


def test_a_hashed_body_field_keeps_its_digest_in_the_log_line() -> None:
    """``body_mode: hash`` (``/__debug/``'s body, redacted before its line is): the digest, kept for
    correlation, is not masked again by the line's text redaction."""
    redactor = Redactor(RedactionOptions(body_mode="hash"))
    body = redactor.body(orjson.dumps({"password": CANARY}), "application/json")
    assert body.startswith('{"password":"sha256:') and redactor.text(f"body={body}") == f"body={body}"
