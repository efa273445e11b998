"""``modifier/response-body``: each modifier kind, paths through objects and arrays, the backend and
endpoint levels, answers left alone, and config errors through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.modifier.response_body import Edit, _change, apply_edit
from tests.cli_gateway import check_config
from tests.conftest import make_config

USER = {
    "name": "  Mary Jane ",
    "credit_card": {"number": "4111 1111 1111 1234", "cvv": 123},
    "tags": ["a-b", "c-d"],
    "friends": [{"nick": "larry"}, {"nick": "moe"}],
}


def _app() -> web.Application:
    async def user(request: web.Request) -> web.Response:
        return web.json_response(USER)

    async def other(request: web.Request) -> web.Response:
        return web.json_response({"city": "oslo"})

    app = web.Application()
    app.router.add_get("/user", user)
    app.router.add_get("/other", other)
    return app


def _modifiers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"modifier/response-body": {"modifiers": list(items)}}


async def test_response_body_backend_modifiers_in_order(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    config = _modifiers(
        # the corpus 002 masking
        {"regexp": {"field": "credit_card.number", "find": "^.*(\\d{4})", "replace": "XXXX-${1}"}},
        {"trim": {"field": "name"}},
        {"upper": {"field": "name"}},
        {"literal": {"field": "tags.*", "find": "-", "replace": "+", "@comment": "every element"}},
        {"upper": {"field": "friends.1.nick"}},
        {"lower": {"field": "credit_card.number"}},
        {"upper": {"field": "credit_card.cvv"}},  # not a string: left alone
        {"upper": {"field": "missing.path"}},
    )
    user = {"host": [base], "url_pattern": "/user", "extra_config": config}
    client = await gateway(
        make_config([{"endpoint": "/u", "backend": [user, {"host": [base], "url_pattern": "/other"}]}])
    )
    assert await (await client.get("/u")).json() == {
        "name": "MARY JANE",
        "credit_card": {"number": "xxxx-1234", "cvv": 123},
        "tags": ["a+b", "c+d"],
        "friends": [{"nick": "larry"}, {"nick": "MOE"}],
        "city": "oslo",
    }


async def test_response_body_endpoint_edits_the_merged_answer(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    endpoint = {
        "endpoint": "/u",
        "backend": [
            {"host": [base], "url_pattern": "/user", "group": "user"},
            {"host": [base], "url_pattern": "/other"},
        ],
        "extra_config": _modifiers(
            {"upper": {"field": "city"}},
            {"trim": {"field": "user.*", "find": " yM"}},
            {"upper": {"field": "user.*.*.nick"}},
        ),
    }
    client = await gateway(make_config([endpoint]))
    answer = await (await client.get("/u")).json()
    assert answer["city"] == "OSLO"
    assert answer["user"]["name"] == "ary Jane"
    assert answer["user"]["friends"] == [{"nick": "LARRY"}, {"nick": "MOE"}]


async def test_response_body_no_op_answer_is_left_alone(gateway: Any, backend: Any) -> None:
    base = await backend(_app())
    user = {
        "host": [base],
        "url_pattern": "/user",
        "encoding": "no-op",
        "extra_config": _modifiers({"upper": {"field": "name"}}),
    }
    client = await gateway(make_config([{"endpoint": "/u", "output_encoding": "no-op", "backend": [user]}]))
    assert (await (await client.get("/u")).json())["name"] == "  Mary Jane "


def test_response_body_copies_instead_of_changing_a_shared_answer() -> None:
    shared = {"a": {"b": ["x", "y"]}, "c": {"d": "keep"}}
    edited = apply_edit(shared, Edit(("a", "b", "*"), str.upper))
    assert edited == {"a": {"b": ["X", "Y"]}, "c": {"d": "keep"}}
    assert shared == {"a": {"b": ["x", "y"]}, "c": {"d": "keep"}}
    assert edited["c"] is shared["c"]
    assert apply_edit(shared, Edit(("a", "b", "7"), str.upper)) is shared


def test_response_body_config_errors_name_their_path(tmp_path: Path) -> None:
    config = _modifiers(
        {"regexp": {"field": "a", "find": "(", "replace": ""}},
        {"upper": {"field": "a"}, "lower": {"field": "a"}},
        {"literal": {"field": "a..b", "find": "x", "replace": ""}},
        {"literal": {"field": "a", "find": "", "replace": "y"}},
    )
    doc = make_config(
        [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/", "extra_config": config}]}]
    )
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    done = check_config(tmp_path / "krakend.json")
    out = done.stdout + done.stderr
    assert done.returncode == 1
    where = "endpoints[0].backend[0].extra_config.modifier/response-body.modifiers"
    assert f"{where}[0].regexp.find: invalid regular expression" in out
    assert f"{where}[1]: one modifier per item" in out
    assert f"{where}[2].literal.field: not a dotted field path" in out
    assert f"{where}[3].literal.find: a literal replacement needs a non-empty find" in out
    doc["endpoints"][0]["backend"][0]["extra_config"] = _modifiers({"upper": {"field": "a", "find": "x"}})
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    done = check_config(tmp_path / "krakend.json")
    assert done.returncode == 1 and f"{where}[0].upper" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("upper", "straße ǰ ᾳ abc é", "STRAßE ǰ ᾳ ABC É"),
        ("upper", "ß", "ß"),
        ("upper", "a\0ßb", "A\0ßB"),
        ("lower", "ΟΔΟΣ ΣΑΣ", "οδοσ σασ"),  # Go has no final sigma: Python's lower() writes "ς"
        ("lower", "İSTANBUL É", "İstanbul é"),
        ("lower", "Σ\0İA", "σ\0İa"),
        ("lower", "ABC", "abc"),
    ],
)
def test_response_body_upper_lower_are_go_rune_by_rune(kind: str, text: str, expected: str) -> None:
    assert _change(kind, {}, "w")(text) == expected


def test_response_body_upper_lower_map_without_a_per_rune_python_loop() -> None:
    """A long non-ASCII field maps in a few C calls, not one call per rune (100 ms for 300 KB)."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event == "c_call"

    for kind in ("upper", "lower"):
        change = _change(kind, {}, "w")
        calls = 0
        sys.setprofile(count)
        try:
            change("é" * 2000 + "ßΣİ" + "É" * 2000)
        finally:
            sys.setprofile(None)
        assert calls < 50, (kind, calls)


def test_response_body_trim_is_go_trimspace() -> None:
    """Go's unicode.IsSpace: U+2003 and U+3000 trimmed; U+001C (Python's strip() trims it) kept."""
    trim = _change("trim", {}, "w")
    assert trim("\u2003\u0085 x \u3000\u202f\u205f\u1680\t") == "x"
    assert trim("\x1cx\x1f") == "\x1cx\x1f"


def test_response_body_non_ascii_digit_segment_is_no_index() -> None:
    """``data.²``: str.isdigit() accepts "²", int() refuses it: the field is absent, no error."""
    data = {"data": ["a", "b", "c"]}
    assert apply_edit(data, Edit(("data", "\u00b2"), str.upper)) is data
    assert apply_edit(data, Edit(("data", "1"), str.upper)) == {"data": ["a", "B", "c"]}
