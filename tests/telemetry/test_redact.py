from __future__ import annotations

import os

import orjson
import pytest

from krakenpy.fingerprint import fingerprint, process_key
from krakenpy.telemetry.jsonpath import Selector, compile_selector
from krakenpy.telemetry.redact import RedactionOptions, Redactor


def test_redactor_header_keeps_the_auth_scheme() -> None:
    r = Redactor()
    assert r.header("Authorization", "Bearer abc.def.ghi") == "Bearer [REDACTED]"
    assert r.header("authorization", "opaque") == "[REDACTED]"
    assert r.header("X-Api-Key", "k1") == "[REDACTED]"
    assert r.header("Accept", "text/html") == "text/html"


def test_redactor_cookies_keep_names_and_attributes() -> None:
    r = Redactor()
    assert r.header("Cookie", "a=1; sid=xyz") == "a=[REDACTED]; sid=[REDACTED]"
    assert r.header("Set-Cookie", "sid=abc; Path=/; HttpOnly") == "sid=[REDACTED]; Path=/; HttpOnly"


def test_redactor_user_headers_and_allow_list() -> None:
    r = Redactor(RedactionOptions(headers=("X-Tenant-Secret",), allow_headers=("x-tenant-secret", "accept")))
    assert r.headers([("X-Tenant-Secret", "s"), ("Accept", "a"), ("User-Agent", "u")]) == [
        ("X-Tenant-Secret", "[REDACTED]"),
        ("Accept", "a"),
    ]


def test_redactor_query_masks_values_and_keeps_keys() -> None:
    r = Redactor(RedactionOptions(query_keys=("session",)))
    assert r.query("a=1&sig=SECRET&b=2") == "a=1&sig=[REDACTED]&b=2"
    assert r.query("Signature=x&X-Goog-Signature=y&session=z") == (
        "Signature=[REDACTED]&X-Goog-Signature=[REDACTED]&session=[REDACTED]"
    )
    assert r.query("design=1&a=2") == "design=1&a=2"  # 'sig' inside another key is not a key
    assert r.query("") == ""


def test_redactor_text_masks_urls_userinfo_and_tokens() -> None:
    r = Redactor()
    text = "invalid status code 500 [GET /x]: http://user:pw@h:8/x?sig=S3&a=1 (Bearer tok.en)"
    assert r.text(text) == (
        "invalid status code 500 [GET /x]: http://REDACTED:REDACTED@h:8/x?sig=[REDACTED]&a=1 (Bearer [REDACTED])"
    )
    assert r.target("/p", "token=t&x=1") == "/p?token=[REDACTED]&x=1"


def test_redactor_twice_is_once_and_raw_query_values_run_to_the_separator() -> None:
    r = Redactor()
    text = "[ENDPOINT: /e][BACKEND: /x?api_key=K&secret=S] failed [GET /x?sig=V]: http://u:p@h/x?password=P"
    once = r.text(text)
    assert once == (
        "[ENDPOINT: /e][BACKEND: /x?api_key=[REDACTED]&secret=[REDACTED]] failed [GET /x?sig=[REDACTED]]: "
        "http://REDACTED:REDACTED@h/x?password=[REDACTED]"
    )
    assert r.text(once) == once and r.query(r.query("sig=a&b=1")) == "sig=[REDACTED]&b=1"
    # in a raw query only & and ; end a value: nothing of it survives a ']' or a quote
    assert r.query('sig=abc]SECRET"<x>&a=1') == "sig=[REDACTED]&a=1"
    assert r.query("token=[REDACTED]SECRET") == "token=[REDACTED]"


def test_redactor_learns_credential_names_whatever_replace_defaults_says() -> None:
    r = Redactor(RedactionOptions(replace_defaults=True))
    assert r.query("key=K&sig=S") == "key=K&sig=S" and r.header("X-My-Key", "v") == "v"
    r.learn(query_keys=("key",), headers=("X-My-Key",))
    assert r.query("key=K&sig=S") == "key=[REDACTED]&sig=S" and r.header("x-my-key", "v") == "[REDACTED]"


def test_redactor_body_paths_and_modes() -> None:
    body = orjson.dumps({"password": "p", "card": {"number": "4111"}, "items": [{"ssn": 1}, {"ssn": 2}], "ok": 1})
    masked = orjson.loads(Redactor(RedactionOptions(body_paths=("$.card.number", "$.items[*].ssn"))).body(body))
    assert masked == {
        "password": "[REDACTED]",
        "card": {"number": "[REDACTED]"},
        "items": [{"ssn": "[REDACTED]"}, {"ssn": "[REDACTED]"}],
        "ok": 1,
    }
    dropped = orjson.loads(Redactor(RedactionOptions(body_mode="drop")).body(body))
    assert "password" not in dropped and dropped["ok"] == 1
    hashed = orjson.loads(Redactor(RedactionOptions(body_mode="hash", hash_key=b"k")).body(body))
    assert hashed["password"].startswith("sha256:") and len(hashed["password"]) == 23


def test_hash_mode_without_a_key_hashes_alike_across_redactors_and_forked_workers() -> None:
    """Without ``hash_key`` each redactor drew its own random key: the workers of ``run -w N`` (each
    builds its own) and a hot reload hashed one value differently, so equal values did not match
    within one instance. The key now derives from the process key ``run`` draws before forking."""
    body = orjson.dumps({"password": "same-value"})

    def hashed() -> str:
        value: str = orjson.loads(Redactor(RedactionOptions(body_mode="hash")).body(body))["password"]
        return value

    first = hashed()
    assert first.startswith("sha256:") and first == hashed()  # a second redactor: a reload
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker forked after the draw
        try:
            os.write(write, hashed().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)
    assert child == first
    # never the fingerprint of the same value (the key is derived for this use)
    assert first.removeprefix("sha256:") not in fingerprint(process_key(), b'"same-value"')


def test_redactor_body_never_writes_non_json_or_oversized() -> None:
    r = Redactor(RedactionOptions(body_limit=16))
    assert r.body(b"password=secret") == "[15 bytes, not JSON]"
    assert r.body(b"<x/>", "text/xml; charset=utf-8") == "[4 bytes, text/xml]"
    assert "log limit" in r.body(orjson.dumps({"a": "x" * 40}))


@pytest.mark.parametrize(
    ("path", "doc", "expected"),
    [
        ("$.a", {"a": 1, "b": 2}, {"a": "X", "b": 2}),
        ("$['odd key']", {"odd key": 1}, {"odd key": "X"}),
        ("$.l[0]", {"l": [1, 2]}, {"l": ["X", 2]}),
        ("$.l[-1]", {"l": [1, 2]}, {"l": [1, "X"]}),
        ("$.*", {"a": 1, "b": 2}, {"a": "X", "b": "X"}),
        ("$..t", {"t": 1, "n": {"t": 2, "m": [{"t": 3}]}}, {"t": "X", "n": {"t": "X", "m": [{"t": "X"}]}}),
        ("$.missing.deeper", {"a": 1}, {"a": 1}),
    ],
)
def test_compile_selector_selects(path: str, doc: object, expected: object) -> None:
    compile_selector(path).apply(doc, lambda _v: "X")
    assert doc == expected


def test_compile_selector_drop_in_lists() -> None:
    doc = {"l": [1, 2, 3]}
    compile_selector("$.l[*]").apply(doc, lambda _v: Selector.DROP)
    assert doc == {"l": []}


@pytest.mark.parametrize("path", ["a.b", "$", "$.a[", "$.a b"])
def test_compile_selector_rejects_bad_paths(path: str) -> None:
    with pytest.raises(ValueError):
        compile_selector(path)
