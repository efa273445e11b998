"""Hostile data for the renderers (issue 10, item 9): any nesting depth, cycles from Lua, and backend
keys that are not XML names. Never aiohttp's traceback 500: the answer is rendered, or KrakenD's 500."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest

from tests.server.wirekit import RawBackend, Seen, Start, get, raw_request, reply

DEEP_JSON = b'{"a":' * 300 + b"1" + b"}" * 300
DEEP_XML = b"<a>" * 5000 + b"v" + b"</a>" * 5000
EVIL = {"a><b": 1, "1x": 2, "x y": 3, "<!--": 4, "ok": {'-q"t': "\"'<&>", "#text": "t<x>"}, "c": "</c><d>"}


def _answer(seen: Seen, port: int) -> bytes:
    if seen.target == "/deep":
        return reply(200, DEEP_JSON)
    if seen.target == "/deepxml":
        return reply(200, DEEP_XML, (("Content-Type", "application/xml"),))
    if seen.target == "/evil":
        return reply(200, orjson.dumps(EVIL))
    return reply(200, b'{"a":1}')


async def _served(raw_backend: Any, serve: Start, *endpoints: dict[str, Any]) -> int:
    backend: RawBackend = await raw_backend(_answer)
    for endpoint in endpoints:
        endpoint["backend"][0]["host"] = [backend.url]
    return (await serve({"version": 3, "endpoints": list(endpoints)})).port


async def test_renderers_json_deeper_than_orjson_writes(raw_backend: Any, serve: Start) -> None:
    port = await _served(raw_backend, serve, {"endpoint": "/e", "backend": [{"url_pattern": "/deep"}]})
    head = await raw_request(port, get("/e"))
    assert head.status == 200 and head.body == DEEP_JSON


async def test_renderers_backend_xml_5000_deep(raw_backend: Any, serve: Start) -> None:
    port = await _served(
        raw_backend, serve, {"endpoint": "/e", "backend": [{"url_pattern": "/deepxml", "encoding": "xml"}]}
    )
    head = await raw_request(port, get("/e"))
    assert head.status == 200
    assert head.body == b'{"a":' * 5000 + b'"v"' + b"}" * 5000


@pytest.mark.parametrize("encoding", ["xml", "yaml"])
async def test_renderers_deep_data_in_other_encodings(raw_backend: Any, serve: Start, encoding: str) -> None:
    port = await _served(
        raw_backend,
        serve,
        {"endpoint": "/e", "output_encoding": encoding, "backend": [{"url_pattern": "/deepxml", "encoding": "xml"}]},
    )
    head = await raw_request(port, get("/e"))
    if head.status == 200:  # XML: rendered without recursion
        assert encoding == "xml" and head.body == DEEP_XML
    else:  # YAML: PyYAML recurses; KrakenD's 500 with its headers, not a traceback
        assert head.status == 500 and head.body == b""
        assert head.get("X-Krakend-Completed") == "false" and head.get("X-Krakend")


async def test_renderers_lua_cycle_is_krakends_500(raw_backend: Any, serve: Start) -> None:
    lua = {"modifier/lua-proxy": {"post": "local d = response.load():data(); d:set('me', d)"}}
    port = await _served(raw_backend, serve, {"endpoint": "/e", "backend": [{"url_pattern": "/"}], "extra_config": lua})
    head = await raw_request(port, get("/e"))
    assert head.status == 500 and head.body == b""
    assert head.get("X-Krakend-Completed") == "false" and (head.get("X-Krakend") or "").startswith("Version")


async def test_renderers_xml_keys_cannot_inject_markup(raw_backend: Any, serve: Start) -> None:
    port = await _served(
        raw_backend, serve, {"endpoint": "/e", "output_encoding": "xml", "backend": [{"url_pattern": "/evil"}]}
    )
    head = await raw_request(port, get("/e"))
    assert head.status == 200 and head.get("Content-Type") == "application/xml"
    root = ET.fromstring(head.body)  # well-formed
    assert root.tag == "doc"
    assert [child.tag for child in root] == ["_1x", "__--", "a__b", "c", "ok", "x_y"]  # sorted by the original keys
    assert root.find("c") is not None and root.find("c").text == "</c><d>"  # type: ignore[union-attr]
    ok = root.find("ok")
    assert ok is not None and ok.attrib == {"q_t": "\"'<&>"} and ok.text == "t<x>"
    assert b"&apos;" in head.body and b"&quot;" in head.body  # mxj's entities
