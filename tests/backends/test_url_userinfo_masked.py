"""A backend URL's password appears in no output, whatever characters it holds (:mod:`krakenpy.userinfo`:
up to the last ``@`` of the line, unencoded ``/``, ``?``, ``#`` and spaces included). Go's ``url.Parse``
takes the user information up to the *last* ``@`` of the authority and accepts ``@`` and ``'`` in it
(``http://ada:pa@ss@host``, ``http://ada:it's@host``): the masks cut at the first ``@`` (the rest of
the password was logged, answered with ``return_error_msg`` and written on spans) or gave up at a
quote (a ``check`` error quoted the whole password)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.telemetry.redact import Redactor
from tests.conftest import ROOT, make_config

#: (user information, what of it must show nowhere)
_SECRETS = [
    ("ada:pa@ssw0rd", "ssw0rd"),
    ("ada:it's-s3cret", "s3cret"),
    ("ad@min:s3cret", "s3cret"),
    ("ada:s3:cr@etx9", "etx9"),
    # unencoded URL delimiters: Go's url.Parse ends the authority at them, the password's rest showed
    ("ada:x/Qw7", "Qw7"),
    ("ada:x?Qw8", "Qw8"),
    ("ada:x#Qw9", "Qw9"),
    ("ada:x Qw6", "Qw6"),
]


@pytest.mark.parametrize(("userinfo", "secret"), _SECRETS)
def test_masks_hide_the_whole_password(userinfo: str, secret: str) -> None:
    url = f"http://{userinfo}@127.0.0.1:8080/x?a=1"
    for text in (f"ClientConnectorError: refused [GET]: {url}", f"host '{url}' not valid", f'host "{url}" not valid'):
        logged = Redactor().text(text)
        assert secret not in logged and "127.0.0.1:8080/x?a=1" in logged, logged
        issue = ConfigIssue("endpoints[0].backend[0].host[0]", text)
        assert secret not in str(issue) and "127.0.0.1:8080/x?a=1" in str(issue), str(issue)


def test_masks_keep_what_is_no_user_information() -> None:
    for text in ("mail a@b at http://h/x", "http://h/x\nmail a@b", "an amqp:// URL, got a@b"):
        assert Redactor().text(text) == text
        assert ConfigIssue("", text).message == text
    # an "@" after the authority is read as the end of a password (krakenpy.userinfo: never shows one)
    for text, masked in (
        ("GET http://127.0.0.1:1/users/a@b", "GET http://REDACTED:REDACTED@b"),
        ("http://h:1?to=a@b", "http://REDACTED:REDACTED@b"),
        ("http://h#x@y", "http://REDACTED:REDACTED@y"),
    ):
        assert Redactor().text(text) == masked


@pytest.mark.parametrize(("userinfo", "secret"), _SECRETS)
async def test_a_failed_call_shows_no_password(
    gateway: Any, dead_port: int, caplog: pytest.LogCaptureFixture, userinfo: str, secret: str
) -> None:
    backends = [
        {"host": [f"http://{userinfo}@127.0.0.1:{dead_port}"], "url_pattern": "/u", "disable_host_sanitize": True}
    ]
    doc = make_config([{"endpoint": "/x", "backend": backends}], extra_config={"router": {"return_error_msg": True}})
    gw = await gateway(doc)
    with caplog.at_level(logging.INFO):
        async with gw.get("/x") as response:
            body = await response.text()
    assert response.status >= 500
    assert f"127.0.0.1:{dead_port}/u" in body  # the error's text is answered, its URL masked
    assert secret not in body, body
    assert f"127.0.0.1:{dead_port}/u" in caplog.text
    assert secret not in caplog.text, caplog.text


def test_check_prints_no_password(tmp_path: Path) -> None:
    """The real CLI's ``check``: a host the sanitizer refuses is quoted in the error, its password masked."""
    endpoints = [
        {"endpoint": f"/e{i}", "backend": [{"host": [f"http://{userinfo}@127.0.0.1:1"], "url_pattern": "/u"}]}
        for i, (userinfo, _) in enumerate(_SECRETS)
    ]
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(make_config(endpoints)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.count("127.0.0.1:1") == len(_SECRETS), out.stderr  # each host quoted
    for _, secret in _SECRETS:
        assert secret not in out.stdout + out.stderr, out.stderr


@pytest.mark.parametrize(
    "host", ["ada:s3cretQ@127.0.0.1:1", "//ada:s3cretQ@127.0.0.1:1", "ada:s3c/ret Q@127.0.0.1:1", "ada:s3cretQ\n@h"]
)
def test_check_masks_the_password_of_a_host_without_a_scheme(host: str) -> None:
    """A host without ``scheme://`` that the sanitizer refuses: its error quoted it whole (no mask of a
    message finds user information without a scheme), the password with it."""
    from krakenpy.config.build import build_service

    with pytest.raises(ConfigError) as caught:
        build_service(make_config([{"endpoint": "/e", "backend": [{"host": [host], "url_pattern": "/u"}]}]))
    text = str(caught.value)
    assert "s3c" not in text and "ada:[REDACTED]@" in text, text


@pytest.mark.parametrize(
    "message",
    [
        "not an http(s) URL: 'ada:s3cretQ@idp/token'",
        "expected an http(s) URL, got 'user:s3c ret@influx:8086'",
        'address "u:s3c\'retQ@h:4317" must be host:port',
        "not an http(s) URL: 'ftp:/ada:s3cretQ@h/x'",
    ],
)
def test_a_check_message_quoting_a_url_without_a_scheme_masks_its_password(message: str) -> None:
    """Options checked for an http(s) URL (``token_url``, ``jwk_url``, influx's ``address``) quoted
    what they refused whole: without ``scheme://`` the message's mask found no user information."""
    shown = str(ConfigIssue("x", message))
    assert "s3c" not in shown and ":[REDACTED]@" in shown, shown


def test_a_refused_influx_address_without_a_scheme_shows_no_password() -> None:
    from krakenpy.telemetry.influx import parse_influx

    with pytest.raises(ConfigError) as caught:
        parse_influx({"address": "ada:s3cretQ@influx:8086"}, "telemetry/influx")
    assert "s3cretQ" not in str(caught.value) and "ada:[REDACTED]@influx:8086" in str(caught.value)
