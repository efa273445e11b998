"""A serving worker keeps the heap pages a large transient freed (``krakenpy/server/heap.py``): the OTLP
exporter's batches no longer give pages back to the kernel and fault them in again (1.7 page faults a
request at 100 % traces before, bench/README "round 11: branch `gap`")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.gap import read_counters, run_client
from bench.procs import tree
from tests.conftest import free_port
from tests.server.process import Gateway
from tests.threaded_app import Served

#: a transient above 1 MiB each round: ~2,000 strings of ~700 characters and their 1.4 MiB join
CHURN = """
import resource, sys
from krakenpy.server.heap import settle_heap
settled = settle_heap() if sys.argv[1] == "settle" else None
def batch():
    parts = ["x" * 700 + str(i) for i in range(2000)]
    return len("".join(parts))
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    batch()
print(settled, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""
GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")


def _churn(mode: str, env: dict[str, str] | None = None) -> tuple[str, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    settled, faults = out.stdout.split()
    return settled, float(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_a_large_transient_stays_in_the_heap() -> None:
    """Setting a threshold stops glibc's sliding one: a fixed mmap threshold below a round's largest block
    (1 MiB was tried) mapped and unmapped the 1.4 MiB join every round (344 faults against 9)."""
    plain = _churn("plain")
    settled = _churn("settle")
    assert settled[0] == "True"
    assert settled[1] <= plain[1] + 5


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_the_operators_malloc_settings_win() -> None:
    assert _churn("settle", {"MALLOC_TRIM_THRESHOLD_": "131072"})[0] == "False"
    assert _churn("settle", {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"})[0] == "False"


@pytest.fixture
def collector() -> Iterator[tuple[int, list[int]]]:
    """A real OTLP/HTTP receiver on 127.0.0.1 (in a thread), also the gateway's backend (``GET /x``); the
    list holds each post's body size."""
    posts: list[int] = []

    async def traces(request: web.Request) -> web.Response:
        posts.append(len(await request.read()))
        return web.Response(status=200, content_type="application/json", text="{}")

    async def backend(request: web.Request) -> web.Response:
        return web.json_response({"id": 1, "name": "ada"})

    def app() -> web.Application:
        made = web.Application(client_max_size=64 << 20)
        made.router.add_post("/v1/traces", traces)
        made.router.add_get("/x", backend)
        return made

    with Served(app) as served:
        yield served.port, posts


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_a_traced_worker_does_not_fault_per_batch(tmp_path: Path, collector: tuple[int, list[int]]) -> None:
    otlp_port, posts = collector
    gw_port = free_port()
    backend = {"host": [f"http://127.0.0.1:{otlp_port}"], "url_pattern": "/x", "deny": ["name"]}
    doc = {
        "version": 3,
        "port": gw_port,
        "endpoints": [{"endpoint": "/p1", "backend": [backend]}],
        "extra_config": {
            "telemetry/access_log": {"stdout": False, "file": os.devnull},
            "telemetry/opentelemetry": {
                "trace_sample_rate": 1,
                "exporters": {
                    "otlp": [
                        {"name": "c", "host": "127.0.0.1", "port": otlp_port, "use_http": True, "disable_metrics": True}
                    ]
                },
            },
        },
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    gw = Gateway(config, "--workers", "1", "--log-level", "INFO", cwd=tmp_path)
    try:
        worker = gw.worker_pids(1)[1]
        run_client(gw_port, 1500, 20)  # warm: the heap grows to its working size
        before = read_counters(tree(worker))
        sent = len(posts)
        run_client(gw_port, 4000, 20)
        faults = (read_counters(tree(worker)) - before).minflt / 4000
        assert len(posts) - sent >= 5, posts  # batches were built and posted meanwhile
        assert faults < 0.3, faults  # 1.7 a request before server/heap.py
    finally:
        gw.stop()
