"""Backend answers Go's client and decoder accept: JSON with bytes that are not UTF-8 or lone
surrogate escapes (read as U+FFFD), and many response headers (bounded by bytes); on both clients."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from krakenpy.backends.client import MAX_HEADER_BYTES
from krakenpy.backends.encoding import decoder_for
from krakenpy.errors import BackendError
from tests.server.wirekit import RawBackend, Seen, Start, get, raw_request, reply

BODIES = {
    "/latin1": b'{"name":"Jos\xe9"}',
    "/surrogate": b'{"name":"\\ud800x"}',
    "/low": b'{"name":"\\udc00","pair":"\\ud83d\\ude00","kept":"\\\\ud800"}',
    "/list": b'[{"name":"\xff\xfe"}]',
}


def _answer(seen: Seen, port: int) -> bytes:
    if seen.target == "/headers":
        return reply(200, b'{"ok":true}', tuple((f"X-H{i}", f"v{i}") for i in range(200)))
    if seen.target == "/huge-headers":
        filler = "v" * 1000
        return reply(200, b'{"ok":true}', tuple((f"X-H{i}", filler) for i in range(2 * MAX_HEADER_BYTES // 1000)))
    return reply(200, BODIES[seen.target])


def _doc(url: str) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = [
        {"endpoint": path, "backend": [{"host": [url], "url_pattern": path, "is_collection": path == "/list"}]}
        for path in (*BODIES, "/headers", "/huge-headers")
    ]
    return {"version": 3, "endpoints": endpoints}


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_backend_json_not_utf8_reads_as_go_does(raw_backend: Any, serve: Start, client: str) -> None:
    backend: RawBackend = await raw_backend(_answer)
    served = await serve(_doc(backend.url), client=client)
    expected = {
        "/latin1": {"name": "Jos\ufffd"},
        "/surrogate": {"name": "\ufffdx"},
        "/low": {"kept": "\\ud800", "name": "\ufffd", "pair": "\U0001f600"},
        "/list": {"collection": [{"name": "\ufffd\ufffd"}]},
    }
    for path, data in expected.items():
        answer = await raw_request(served.port, get(path))
        assert answer.status == 200 and orjson.loads(answer.body) == data, (path, answer)


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_backend_many_response_headers_are_read_within_a_byte_bound(
    raw_backend: Any, serve: Start, client: str
) -> None:
    backend: RawBackend = await raw_backend(_answer)
    served = await serve(_doc(backend.url), client=client)
    many = await raw_request(served.port, get("/headers"))
    assert many.status == 200 and orjson.loads(many.body) == {"ok": True}
    huge = await raw_request(served.port, get("/huge-headers"))  # 2 MiB of headers
    assert huge.status == 500


def test_backend_json_still_refuses_what_is_not_json() -> None:
    decode = decoder_for("json", False)
    with pytest.raises(BackendError, match="invalid JSON from backend: invalid literal"):
        decode(b'{"a": nope\xff}')
    assert decode(b'{"a":"\\u00e9"}') == {"a": "é"}  # valid bodies: orjson alone
