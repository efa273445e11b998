"""Files as HTTP answers: types, validators, conditional and range requests, folders."""

from __future__ import annotations

import asyncio
import logging
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from krakenpy.staticfs import files, listing
from krakenpy.staticfs.files import FileAnswer, content_type, serve_path
from krakenpy.staticfs.listing import MAX_ENTRIES, listing_page
from krakenpy.staticfs.paths import Folder


def _headers(answer: FileAnswer) -> dict[str, str]:
    return dict(answer.headers)


async def _get(folder: Folder, *parts: str, method: str = "GET", listing: bool = False, **headers: str) -> FileAnswer:
    sent = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return await serve_path(
        folder,
        list(parts),
        method=method,
        header=lambda name: sent.get(name.lower()),
        listing=listing,
        max_size=1 << 20,
        trailing_slash=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    (tmp_path / "data.json").write_bytes(b'{"a": 1}')
    (tmp_path / "page.html").write_text("<p>hi</p>")
    (tmp_path / "noext").write_bytes(b"<html><body>sniffed</body></html>")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<h1>docs</h1>")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "x <&>.txt").write_text("x")
    (tmp_path / "bare" / ".hidden").write_text("h")
    (tmp_path / "bare" / "nested").mkdir()
    os.utime(tmp_path / "data.json", (1_700_000_000, 1_700_000_000))
    return Folder(str(tmp_path))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.json", "application/json"),
        ("a.HTML", "text/html; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.svg", "image/svg+xml"),
        ("a.wasm", "application/wasm"),
        ("a.csv", "text/csv; charset=utf-8"),
        ("a.mp4", "video/mp4"),
        ("a.unknown-ext", None),
        ("Makefile", None),
    ],
)
def test_content_type_by_extension(name: str, expected: str | None) -> None:
    assert content_type(name) == expected


async def test_serve_path_file_with_validators(folder: Folder) -> None:
    answer = await _get(folder, "data.json")
    headers = _headers(answer)
    assert answer.status == 200 and answer.body == b'{"a": 1}'
    assert headers["Content-Type"] == "application/json"
    assert headers["Last-Modified"] == formatdate(1_700_000_000, usegmt=True)
    assert headers["ETag"].startswith('"') and headers["Accept-Ranges"] == "bytes"


async def test_serve_path_unknown_extension_is_sniffed(folder: Folder) -> None:
    assert _headers(await _get(folder, "noext"))["Content-Type"] == "text/html; charset=utf-8"
    head = await _get(folder, "noext", method="HEAD")
    assert head.body == b"" and _headers(head)["Content-Type"] == "text/html; charset=utf-8"
    assert _headers(await _get(folder, "empty"))["Content-Type"] == "text/plain; charset=utf-8"


async def test_serve_path_head_has_length_and_no_body(folder: Folder) -> None:
    answer = await _get(folder, "data.json", method="HEAD")
    assert answer.status == 200 and answer.body == b"" and _headers(answer)["Content-Length"] == "8"


async def test_serve_path_conditional_requests(folder: Folder) -> None:
    etag = _headers(await _get(folder, "data.json"))["ETag"]
    assert (await _get(folder, "data.json", If_None_Match=etag)).status == 304
    assert (await _get(folder, "data.json", If_None_Match=f'"other", W/{etag}')).status == 304
    assert (await _get(folder, "data.json", If_None_Match='"other"')).status == 200
    assert (await _get(folder, "data.json", If_None_Match="*")).status == 304
    later = formatdate(1_700_000_100, usegmt=True)
    earlier = formatdate(1_699_999_000, usegmt=True)
    assert (await _get(folder, "data.json", If_Modified_Since=later)).status == 304
    assert (await _get(folder, "data.json", If_Modified_Since=earlier)).status == 200
    assert (await _get(folder, "data.json", If_Modified_Since="not a date")).status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
    assert (await _get(folder, "data.json", If_None_Match='"other"', If_Modified_Since=later)).status == 200
    not_modified = await _get(folder, "data.json", If_None_Match=etag)
    assert not_modified.body == b"" and _headers(not_modified) == {"ETag": etag}


@pytest.mark.parametrize(
    ("spec", "status", "body", "content_range"),
    [
        ("bytes=1-3", 206, b'"a"', "bytes 1-3/8"),
        ("bytes=5-", 206, b" 1}", "bytes 5-7/8"),
        ("bytes=-2", 206, b"1}", "bytes 6-7/8"),
        ("bytes=2-100", 206, b'a": 1}', "bytes 2-7/8"),
        ("bytes=0-0,2-3", 200, b'{"a": 1}', None),  # several ranges: the whole file
        ("items=0-1", 200, b'{"a": 1}', None),
        ("bytes=x-y", 200, b'{"a": 1}', None),
        ("bytes=8-", 416, b"", "bytes */8"),
        ("bytes=-0", 416, b"", "bytes */8"),
    ],
)
async def test_serve_path_ranges(
    folder: Folder, spec: str, status: int, body: bytes, content_range: str | None
) -> None:
    answer = await _get(folder, "data.json", Range=spec)
    assert (answer.status, answer.body) == (status, body)
    assert _headers(answer).get("Content-Range") == content_range


async def test_serve_path_if_range_mismatch_sends_everything(folder: Folder) -> None:
    etag = _headers(await _get(folder, "data.json"))["ETag"]
    assert (await _get(folder, "data.json", Range="bytes=0-1", If_Range=etag)).status == 206
    assert (await _get(folder, "data.json", Range="bytes=0-1", If_Range='"old"')).status == 200


async def test_serve_path_folders(folder: Folder) -> None:
    redirect = await _get(folder, "docs")
    assert (redirect.status, redirect.location) == (301, "docs/")
    index = await serve_path(
        folder, ["docs"], method="GET", header=lambda _: None, listing=False, max_size=100, trailing_slash=True
    )
    assert (index.status, index.body) == (200, b"<h1>docs</h1>")
    to_folder = await _get(folder, "docs", "index.html")
    assert (to_folder.status, to_folder.location) == (301, "./")
    no_listing = await serve_path(
        folder, ["bare"], method="GET", header=lambda _: None, listing=False, max_size=100, trailing_slash=True
    )
    assert no_listing.status == 404 and no_listing.body == b"404 page not found\n"


async def test_serve_path_listing_escapes_and_hides(folder: Folder) -> None:
    answer = await serve_path(
        folder, ["bare"], method="GET", header=lambda _: None, listing=True, max_size=100, trailing_slash=True
    )
    assert answer.status == 200 and _headers(answer)["Content-Type"] == "text/html; charset=utf-8"
    page = answer.body.decode()
    assert '<a href="nested/">nested/</a>' in page
    assert '<a href="x%20%3C%26%3E.txt">x &lt;&amp;&gt;.txt</a>' in page
    assert ".hidden" not in page


def test_listing_page_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_ENTRIES == 10_000
    monkeypatch.setattr(listing, "MAX_ENTRIES", 5)
    for i in range(8):
        (tmp_path / f"f{i}").touch()
    assert listing_page(str(tmp_path), str(tmp_path)).count(b"<a href=") == 5


async def test_serve_path_backend_mode_serves_the_index_without_redirects(folder: Folder) -> None:
    answer = await serve_path(
        folder, ["docs"], method="GET", header=lambda _: None, listing=False, max_size=100, redirects=False
    )
    assert (answer.status, answer.body) == (200, b"<h1>docs</h1>")
    direct = await serve_path(
        folder,
        ["docs", "index.html"],
        method="GET",
        header=lambda _: None,
        listing=False,
        max_size=100,
        redirects=False,
    )
    assert direct.status == 200


async def test_serve_path_over_max_size_is_500_logged_once(
    folder: Folder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    files._too_large_logged.clear()

    async def get(range_header: str | None = None) -> FileAnswer:
        sent = {"range": range_header} if range_header else {}
        return await serve_path(
            folder, ["big.bin"], method="GET", header=lambda n: sent.get(n.lower()), listing=False, max_size=1024
        )

    with caplog.at_level(logging.WARNING, logger="krakenpy.static"):
        assert (await get()).status == 500
        assert (await get()).status == 500
        assert (await get("bytes=0-99")).status == 206  # a range under the cap is fine
    assert len([r for r in caplog.records if "max_file_size" in r.getMessage()]) == 1


async def test_serve_path_large_file_is_read_in_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threaded: list[int] = []
    real = asyncio.to_thread

    async def spy(func: Any, *args: Any) -> Any:
        threaded.append(args[2])
        return await real(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    data = os.urandom(files.INLINE_READ * 2 + 17)
    (tmp_path / "large.bin").write_bytes(data)
    (tmp_path / "small.bin").write_bytes(data[: files.INLINE_READ])
    folder = Folder(str(tmp_path))
    answer = await _get(folder, "large.bin")
    assert answer.status == 200 and answer.body == data
    assert _headers(answer)["Content-Type"] == "application/octet-stream"
    assert (await _get(folder, "small.bin")).status == 200
    assert threaded == [len(data)]  # the small one was read on the loop
