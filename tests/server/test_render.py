from __future__ import annotations

import pytest

from krakenpy.server.render import go_json, renderer_for


def test_render_json_is_go_style() -> None:
    body, ct = renderer_for("json", ("json",))({"b": 1, "a": {"z": "<>&", "y": "é"}, "c": [1.5, None, True]}, "")
    assert body == b'{"a":{"y":"\xc3\xa9","z":"\\u003c\\u003e\\u0026"},"b":1,"c":[1.5,null,true]}'
    assert ct == "application/json; charset=utf-8"
    assert renderer_for("json", ())(None, "")[0] == b"{}"
    assert go_json("\u2028") == b'"\\u2028"'


def test_render_json_collection() -> None:
    render = renderer_for("json-collection", ())
    assert render({"collection": [{"b": 1, "a": 2}]}, "")[0] == b'[{"a":2,"b":1}]'
    assert render({"x": 1}, "")[0] == b"[]"


def test_render_string() -> None:
    render = renderer_for("string", ())
    assert render({"content": "hi <b>"}, "") == (b"hi <b>", "text/plain; charset=utf-8")
    assert render({"x": 1}, "")[0] == b""


def test_render_yaml_sorted() -> None:
    body, ct = renderer_for("yaml", ())({"b": 1, "a": {"d": [1, 2], "c": "x"}}, "")
    assert body == b"a:\n  c: x\n  d:\n  - 1\n  - 2\nb: 1\n"
    assert ct.startswith("application/yaml")


def test_render_xml_root_and_doc() -> None:
    render = renderer_for("xml", ())
    body, ct = render({"user": {"-id": "7", "name": "a&b", "tags": ["x", "y"]}}, "")
    assert body == b'<user id="7"><name>a&amp;b</name><tags>x</tags><tags>y</tags></user>'
    assert ct.startswith("application/xml")
    assert render({"b": 1, "a": 2}, "")[0] == b"<doc><a>2</a><b>1</b></doc>"


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("application/xml", "xml"),
        ("text/plain", "yaml"),
        ("application/x-yaml", "yaml"),
        ("application/json", "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json, application/xml", "json"),
        ("text/html, application/xml;q=0.9", "xml"),
    ],
)
def test_render_negotiate(accept: str, kind: str) -> None:
    body, ct = renderer_for("negotiate", ())({"a": 1}, accept)
    assert kind in ct
    assert body == {"xml": b"<a>1</a>", "yaml": b"a: 1\n", "json": b'{"a":1}'}[kind]


def test_render_unknown_encoding_uses_single_backend_encoding() -> None:
    assert renderer_for("weird", ("string",))({"content": "x"}, "")[1].startswith("text/plain")
    assert renderer_for("weird", ("string", "json"))({"content": "x"}, "")[0] == b'{"content":"x"}'
