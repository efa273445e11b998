"""krakenpy.userinfo's mask: the rule its docstring states, and a time linear in the text's length
(it runs on log lines, span messages and error texts that quote what a client sent)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from krakenpy.errors import ConfigIssue
from krakenpy.telemetry.redact import Redactor
from krakenpy.userinfo import mask_url, mask_userinfo, password_of
from tests.cli_gateway import check_config


@pytest.mark.parametrize(
    ("text", "masked", "kept"),
    [
        ("http://ada:pa/ss w#?@h:8/x", "http://REDACTED:REDACTED@h:8/x", "http://ada:[REDACTED]@h:8/x"),
        ("http://h/users/a@b", "http://REDACTED:REDACTED@b", "http://h/users/a@b"),
        ("mail a@b at http://h/x", "mail a@b at http://h/x", "mail a@b at http://h/x"),
        ("an amqp:// URL, got amqp://u:p@h", "an amqp:// URL, got amqp://REDACTED:REDACTED@h", "an amqp:// URL, got amqp://u:[REDACTED]@h"),
        ("x http://a:1@h http://b:2@k y", "x http://REDACTED:REDACTED@k y", "x http://a:[REDACTED]@k y"),
        ("git+ssh://u:p@h\r\nhttp://v:q@k", "git+ssh://REDACTED:REDACTED@h\r\nhttp://REDACTED:REDACTED@k", "git+ssh://u:[REDACTED]@h\r\nhttp://v:[REDACTED]@k"),
        ("xhttp://u:p@h", "xhttp://REDACTED:REDACTED@h", "xhttp://u:[REDACTED]@h"),
        ("_http://u:p@h", "_http://REDACTED:REDACTED@h", "_http://u:[REDACTED]@h"),
        ("a://b c://d:e@f\n@", "a://REDACTED:REDACTED@f\n@", "a://b c:[REDACTED]@f\n@"),
        # a scheme that follows a scheme character or starts with none: the mask looks for ``://``
        ("1http://u:p@h", "1http://REDACTED:REDACTED@h", "1http://u:[REDACTED]@h"),
        ("...http://u:p@h/x", "...http://REDACTED:REDACTED@h/x", "...http://u:[REDACTED]@h/x"),
        ("got://u:p@h", "got://REDACTED:REDACTED@h", "got://u:[REDACTED]@h"),
        # blanks after ``://``: a password when a ``:`` comes before the ``@``, prose otherwise
        ("http:// u:p@h", "http://REDACTED:REDACTED@h", "http:// u:[REDACTED]@h"),
        ("http://\tu:p@h", "http://REDACTED:REDACTED@h", "http://\tu:[REDACTED]@h"),
        ("http://\xa0 u:p@h", "http://REDACTED:REDACTED@h", "http://\xa0 u:[REDACTED]@h"),
        ("an amqp:// URL, got a@b", "an amqp:// URL, got a@b", "an amqp:// URL, got a@b"),
        # a password broken over lines: the user and a ``:`` on the first, no whitespace up to the ``@``
        ("http://u:pa\nss@h/x", "http://REDACTED:REDACTED@h/x", "http://u:[REDACTED]@h/x"),
        ("http://u:p\r\na\rss@h y", "http://REDACTED:REDACTED@h y", "http://u:[REDACTED]@h y"),
        ("http://h:1\nsee http://u:p@h", "http://h:1\nsee http://REDACTED:REDACTED@h", "http://h:1\nsee http://u:[REDACTED]@h"),
        ("http://h/x\nmail@b", "http://h/x\nmail@b", "http://h/x\nmail@b"),
        # ``://`` with blanks after it in prose (``an http:// or https:// URL``): the ``:`` of a password
        # is one no ``//`` follows, and the user information starts after the last ``://`` before it
        ("a:// b:// c:d@h", "a:// b://REDACTED:REDACTED@h", "a:// b:// c:[REDACTED]@h"),
        ("amqp:// or amqps:// URL, got g@h", "amqp:// or amqps:// URL, got g@h", "amqp:// or amqps:// URL, got g@h"),
        ("amqp:// or amqps:// g:p@h", "amqp:// or amqps://REDACTED:REDACTED@h", "amqp:// or amqps:// g:[REDACTED]@h"),
        ("http:// or https://, not 'b@c'", "http:// or https://REDACTED:REDACTED@c'", "http:// or https://, not 'b@c'"),
        ("http:// or https:// (b@c)", "http:// or https:// (b@c)", "http:// or https:// (b@c)"),
        ("http:// ada:pa:// ss@h", "http://REDACTED:REDACTED@h", "http:// ada:[REDACTED]@h"),
    ],
)  # fmt: skip
def test_the_rule(text: str, masked: str, kept: str) -> None:
    assert mask_userinfo(text) == masked
    assert mask_userinfo(text, keep_user=True) == kept
    assert mask_userinfo(masked) == masked


def test_password_of() -> None:
    assert password_of("amqp://u:p/a?s#s@h:5672/") == "p/a?s#s"
    assert password_of("amqp://u@h") is None
    assert password_of("amqp://h") is None
    assert password_of("amqp:// u:p@h") == "p"
    assert password_of("1amqp://u:p@h") == "p"
    assert password_of("an amqp:// URL, got a@b") is None
    assert password_of("an amqp:// or amqps:// URL, got a@b") is None
    assert password_of("an amqp:// or amqps:// URL, got a:pw@b") == "pw"


@pytest.mark.parametrize(
    "url",
    ["http://ada:s3\ncret@h:8/x", "http:// ada:s3cret@h:8/x", "1http://ada:s3cret@h:8/x", "...http://ada:s3cret@h:8/x"],
)
def test_check_messages_and_telemetry_texts_hide_these_passwords(url: str) -> None:
    """What ``check`` prints (a quoted host or one in free text) and the telemetry redactor writes."""
    for text in (f"host {url!r} not valid", f'host "{url}" not valid', f"backend {url} failed"):
        shown = ConfigIssue("endpoints[0].backend[0].host[0]", text).message
        assert "s3" not in shown and "cret" not in shown and "ada:[REDACTED]@h:8/x" in shown, shown
        logged = Redactor().text(text)
        assert "s3" not in logged and "cret" not in logged and "REDACTED:REDACTED@h:8/x" in logged, logged
    assert mask_url(url) == url.replace("s3\ncret", "s3cret").replace("s3cret", "[REDACTED]")


@pytest.mark.parametrize(
    ("host", "shown"),
    [("guest@rabbit:5672", "guest@rabbit:5672"), ("guest:s3cret@rabbit:5672", "guest:[REDACTED]@rabbit:5672")],
)
def test_check_prints_a_broker_without_scheme_in_its_own_words(tmp_path: Path, host: str, shown: str) -> None:
    """The real ``krakenpy check``: the message's prose ``amqp:// or amqps://`` starts no user
    information (its ``://`` are followed by blanks and the only ``:`` before the ``@`` is a scheme's):
    the broker is quoted as it was given, its password (if any) masked, nothing of the prose eaten."""
    agent = {
        "name": "a",
        "consumer": {"topic": "#"},
        "backend": [{"host": ["http://127.0.0.1:8081"], "url_pattern": "/x"}],
        "extra_config": {"async/amqp": {"name": "q", "exchange": "e", "host": host}},
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, "timeout": "3s", "endpoints": [], "async_agent": [agent]}))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"the broker must be an amqp:// or amqps:// URL, got {shown}\n" in out, out
    assert "s3cret" not in out


@pytest.mark.parametrize(
    "text",
    [
        "a" * 50_000 + "@x://y",  # a long word: the scheme was tried from each of its letters
        "@\n" + "a://b " * 100_000,  # schemes on one line with no @: the line was read again for each
        # a backend URL whose path a client chose (a CLIENT span's url.full): past the masked part, the
        # scheme was tried from each letter of the rest (1.3 s a span for 30 k; the server takes 1 MiB)
        "http://backend:8080/u/@/" + "a" * 50_000,
        # lines of URLs that may start a password broken over lines, none holding an "@"
        "a://b:c\n" * 100_000 + "@",
        # lines ended by CR alone (no LF in the text): each line's end was searched for an LF to the
        # text's end first (~1.5 s on this text)
        "a://b:c\r" * 100_000 + "@",
        "a://b@c\r" * 100_000,
    ],
    ids=["word", "schemes", "client-path", "broken-lines", "cr-broken-lines", "cr-lines"],
)
def test_the_mask_takes_a_time_linear_in_the_text(text: str) -> None:
    """Quadratic before: ~7 s and ~3 s on these (a 200 k letter word: ~1 min); a few ms now."""
    started = time.perf_counter()
    mask_userinfo(text)
    mask_userinfo(text, keep_user=True)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("quote", ["'", '"'])
def test_a_config_issue_quoting_an_unclosed_value_is_masked_in_linear_time(quote: str) -> None:
    """The quoted-value mask of :class:`ConfigIssue` tried each ``@`` of an unclosed quote as the
    split (``'a:`` and 100 k ``@``: ~36 s); a closed quote after the run is still masked."""
    text = f"got {quote}a:" + "@" * 200_000
    started = time.perf_counter()
    assert ConfigIssue("x", text).message == text
    assert time.perf_counter() - started < 0.5
    closed = ConfigIssue("x", f"got {quote}ada:s3cret@idp/token{quote} and {quote}a:b{quote}").message
    assert closed == f"got {quote}ada:[REDACTED]@idp/token{quote} and {quote}a:b{quote}"


def test_the_quoted_value_mask_matches_what_its_backtracking_form_matched() -> None:
    """The possessive quoted-value pattern finds the very matches (spans and groups) of the
    backtracking one it replaced, on every text of up to 6 characters over its stop characters and
    a letter (both quotes, ``:``, ``@``, a line break): a quote holding several ``@`` or ``:``
    included, an unclosed one, one quote inside the other."""
    import itertools
    import re

    from krakenpy.errors import _QUOTED_USERINFO

    before = re.compile(r"'([^'\n:]*:[^'\n]*@[^'\n]*)'|\"([^\"\n:]*:[^\"\n]*@[^\"\n]*)\"")
    checked = 0
    for size in range(7):
        for chars in itertools.product("'\":@\na", repeat=size):
            text = "".join(chars)
            found = [(m.span(), m.groups()) for m in _QUOTED_USERINFO.finditer(text)]
            assert found == [(m.span(), m.groups()) for m in before.finditer(text)], text
            checked += bool(found)
    assert checked > 600  # texts with a match among them (632)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://ada:pa/ss@h:8/x", "http://ada:[REDACTED]@h:8/x"),
        ("ada:pw@backend:8080", "ada:[REDACTED]@backend:8080"),
        ("//ada:pw@h", "//ada:[REDACTED]@h"),
        ("amqp:/ada:pw@h/", "amqp:[REDACTED]@h/"),
        ("ada:p\nw@h", "ada:[REDACTED]@h"),
        ("http://ada@h", "http://ada@h"),
        ("http://h/x", "http://h/x"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    from krakenpy.userinfo import mask_url

    assert mask_url(url) == shown
    assert mask_url(shown) == shown
