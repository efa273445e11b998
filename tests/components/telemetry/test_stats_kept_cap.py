"""``/__stats`` counters a worker keeps across hot reloads are held to the registries' series cap per
family (2,000): reloads that changed the routes each kept every retired route's keys (8 request
counters a route with one backend: 300 such routes, three configurations, 7,200 keys and growing
with each reload). Now the live routes' counts are kept first (a route still served never loses
its count), the oldest up to the cap, and the rest fold into the route ``__other__``."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.cli_gateway import gateway_process
from tests.conftest import free_port

ROUTES = 260  # 2,080 request keys a configuration: past the cap on its own
_PROXY = "krakend.proxy.requests.layer."


def _config(port: int, stats: int, backend: int, prefix: str) -> dict[str, Any]:
    endpoints = [{"endpoint": "/keep", "backend": [{"host": [f"http://127.0.0.1:{backend}"], "url_pattern": "/keep"}]}]
    endpoints += [
        {
            "endpoint": f"/{prefix}{i}",
            "backend": [{"host": [f"http://127.0.0.1:{backend}"], "url_pattern": f"/{prefix}{i}"}],
        }
        for i in range(ROUTES - 1)
    ]
    return {
        "version": 3,
        "port": port,
        "timeout": "2s",
        "extra_config": {"telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"}},
        "endpoints": endpoints,
    }


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def _call_keep(port: int) -> None:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/keep", timeout=5).read()
    except urllib.error.HTTPError:  # the backend refuses: 500, counted all the same
        pass


def test_kept_stats_counters_are_capped_across_reloads_the_live_routes_first(tmp_path: Path, dead_port: int) -> None:
    port, stats = free_port(), free_port()
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(_config(port, stats, dead_port, "a")))
    with gateway_process(path, port=port, workers=1) as proc:
        deadline = time.monotonic() + 30
        while not any(k.startswith(_PROXY) for k in _stats(stats)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for prefix in ("b", "c"):
            _call_keep(port)
            _call_keep(port)
            path.write_text(json.dumps(_config(port, stats, dead_port, prefix)))
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while True:  # until the new configuration serves and the old one retired (its keys kept)
                doc = _stats(stats)
                proxy = [k for k in doc if k.startswith(_PROXY)]
                served = f"{_PROXY}pipe.name./{prefix}0.complete.true.error.false" in doc
                if served and len(proxy) <= 8 * ROUTES + 2000 + 8:
                    break
                assert time.monotonic() < deadline, f"{len(proxy)} request keys after reload {prefix}"
                time.sleep(0.1)
        _call_keep(port)
        _call_keep(port)
        doc = _stats(stats)
    assert proc.returncode is not None
    others = [k for k in doc if ".name.__other__." in k]
    assert others and all(k.startswith(_PROXY) for k in others)
    # the route served by every configuration kept all its counts (6 calls, failed: complete false)
    assert doc[f"{_PROXY}pipe.name./keep.complete.false.error.true"] == 6
    # nothing counted is lost: the folded counts are in __other__ (each configuration pre-registers its keys at 0)
    assert sum(doc[k] for k in others) == 0
