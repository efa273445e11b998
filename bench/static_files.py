"""``python -m bench.static_files``: what serving one static file costs, in-process.

Two questions behind ``krakenpy/staticfs``: how long a file read blocks the event loop (which sets
``INLINE_READ``, the size up to which files are read on the loop instead of in a thread), and what one
request to ``server/static-filesystem`` costs end to end in the edge handler (path checks, one
``lstat`` per segment, validators, the read). Best of several rounds (the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.staticfs import Folder
from krakenpy.staticfs.files import INLINE_READ, _read
from krakenpy.staticfs.server import StaticSite, static_middleware

SIZES = (4 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)


def _inline_us(path: str, size: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        _read(path, 0, size)
    return (time.perf_counter() - start) / n * 1e6


async def _thread_us(path: str, size: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await asyncio.to_thread(_read, path, 0, size)
    return (time.perf_counter() - start) / n * 1e6


async def _router(request: HttpRequest) -> HttpResponse:
    return HttpResponse(404)


async def _request_us(root: Path, name: str, n: int, headers: list[tuple[str, str]]) -> float:
    handler = static_middleware([StaticSite("/static/", Folder(str(root)))])(_router)
    request = HttpRequest("GET", f"/static/assets/{name}", headers=CIMultiDictProxy(CIMultiDict(headers)))
    start = time.perf_counter()
    for _ in range(n):
        answer = await handler(request)
    assert answer.status in (200, 304)
    return (time.perf_counter() - start) / n * 1e6


async def main_async(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "assets").mkdir()
        for size in SIZES:
            (root / "assets" / f"f{size}.js").write_bytes(os.urandom(size))
        print(f"INLINE_READ = {INLINE_READ} bytes")
        print("| file | read on the loop | read in a thread | GET through the static edge | conditional GET (304) |")
        print("|---|---|---|---|---|")
        for size in SIZES:
            path = str(root / "assets" / f"f{size}.js")
            n = 2000 if size <= 64 * 1024 else 300
            inline = min(_inline_us(path, size, n) for _ in range(rounds))
            threaded = min([await _thread_us(path, size, n // 4) for _ in range(rounds)])
            full = min([await _request_us(root, f"f{size}.js", n, []) for _ in range(rounds)])
            probe = await static_middleware([StaticSite("/static/", Folder(str(root)))])(_router)(
                HttpRequest("GET", f"/static/assets/f{size}.js")
            )
            etag = probe.headers["ETag"]
            cached = min([await _request_us(root, f"f{size}.js", n, [("If-None-Match", etag)]) for _ in range(rounds)])
            print(f"| {size // 1024} KiB | {inline:.0f} µs | {threaded:.0f} µs | {full:.0f} µs | {cached:.0f} µs |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.static_files", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (the best is kept)")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
