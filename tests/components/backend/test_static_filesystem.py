"""``backend/static-filesystem``: a backend answered from a file, through a real gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.components.helpers import json_app
from tests.conftest import make_config

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]


@pytest.fixture
def mocks(tmp_path: Path) -> Path:
    root = tmp_path / "mocks"
    (root / "users").mkdir(parents=True)
    (root / "users" / "7.json").write_text('{"id": 7, "name": "Ada", "password": "x"}')
    (root / "users" / "list.json").write_text('[{"id": 1}, {"id": 2}]')
    (root / "feed.xml").write_text("<feed><title>t</title></feed>")
    (root / "page").mkdir()
    (root / "page" / "index.html").write_text("<p>page</p>")
    (tmp_path / "secret.json").write_text('{"secret": true}')
    return tmp_path


def _backend(url_pattern: str, **extra: Any) -> dict[str, Any]:
    return {"url_pattern": url_pattern, "extra_config": {"backend/static-filesystem": {"path": "mocks"}}, **extra}


async def test_static_backend_file_decoded_and_filtered(gateway: Gateway, mocks: Path) -> None:
    doc = make_config([{"endpoint": "/users/{id}", "backend": [_backend("/users/{id}.json", deny=["password"])]}])
    client = await gateway(doc, base_dir=mocks)
    answer = await client.get("/users/7")
    assert answer.status == 200 and await answer.json() == {"id": 7, "name": "Ada"}
    assert answer.headers["X-Krakend-Completed"] == "true"
    missing = await client.get("/users/8")
    assert missing.status == 500 and missing.headers["X-Krakend-Completed"] == "false"  # a 404 upstream


async def test_static_backend_merges_with_http_backends(backend: Start, gateway: Gateway, mocks: Path) -> None:
    url = await backend(json_app({"live": True}))
    doc = make_config(
        [
            {
                "endpoint": "/mixed",
                "backend": [
                    _backend("/users/list.json", is_collection=True, mapping={"collection": "users"}),
                    {"host": [url], "url_pattern": "/live"},
                ],
            }
        ]
    )
    client = await gateway(doc, base_dir=mocks)
    assert await (await client.get("/mixed")).json() == {"live": True, "users": [{"id": 1}, {"id": 2}]}


async def test_static_backend_noop_passes_the_file(gateway: Gateway, mocks: Path) -> None:
    doc = make_config(
        [
            {"endpoint": "/feed", "output_encoding": "no-op", "backend": [_backend("/feed.xml", encoding="no-op")]},
            {"endpoint": "/page", "output_encoding": "no-op", "backend": [_backend("/page", encoding="no-op")]},
            {"endpoint": "/gone", "output_encoding": "no-op", "backend": [_backend("/gone.txt", encoding="no-op")]},
        ]
    )
    client = await gateway(doc, base_dir=mocks)
    feed = await client.get("/feed")
    assert feed.status == 200 and await feed.text() == "<feed><title>t</title></feed>"
    assert feed.headers["Content-Type"] == "text/xml; charset=utf-8" and "ETag" in feed.headers
    assert await (await client.get("/page")).text() == "<p>page</p>"  # a folder's index, no redirect
    gone = await client.get("/gone")
    assert gone.status == 404 and await gone.text() == "404 page not found\n"


@pytest.mark.parametrize("value", ["..%2Fsecret", "%2E%2E", "..", ".hidden", "a%00b"])
async def test_static_backend_parameters_never_leave_the_folder(gateway: Gateway, mocks: Path, value: str) -> None:
    doc = make_config(
        [
            {
                "endpoint": "/f/{name}",
                "output_encoding": "no-op",
                "backend": [_backend("/users/{name}.json", encoding="no-op")],
            }
        ]
    )
    client = await gateway(doc, base_dir=mocks)
    from yarl import URL

    answer = await client.get(URL(f"/f/{value}", encoded=True))
    assert answer.status in (400, 404)
    assert b"secret" not in await answer.read()


async def test_static_backend_needs_no_host(gateway: Gateway, mocks: Path) -> None:
    """An executor backend: `check` does not ask for a host (the file is the answer)."""
    from krakenpy.config.build import build_service
    from krakenpy.gateway import _serviceable, parse_components

    doc = make_config([{"endpoint": "/u", "backend": [_backend("/users/7.json")]}])
    service = build_service(doc)
    parsed, issues = parse_components(service)
    assert issues == [] and _serviceable(service, parsed) == []
    client = await gateway(doc, base_dir=mocks)
    assert (await client.get("/u")).status == 200


async def test_static_backend_missing_folder_warns(mocks: Path) -> None:
    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway

    doc = make_config(
        [
            {
                "endpoint": "/u",
                "backend": [
                    {"url_pattern": "/a.json", "extra_config": {"backend/static-filesystem": {"path": "elsewhere"}}}
                ],
            }
        ]
    )
    built = await build_gateway(build_service(doc), base_dir=mocks, serving=False)
    try:
        assert any("does not exist" in w for w in built.resources.warnings)
    finally:
        await built.close()
