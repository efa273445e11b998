"""Secret query values in a backend ``url_pattern`` and URL passwords in a config never reach metric
labels, ``/__stats`` keys or ``check``'s messages: masked by the same rules as the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.components.telemetry.conftest import recording_app
from tests.conftest import ROOT, free_port

PATTERNS = (
    "/echo?access_token=CANARYURLTOK",
    "/err?api_key=CANARYURLKEY&x=1",
    "/x?password=CANARYPWQ",
    "/s?s=5&secret=CANARYSECRETQ",
)


async def test_metric_names_mask_secret_query_values(served: Any, upstream: Any) -> None:
    base = await upstream(recording_app([], {"ok": True}))
    stats, prom = free_port(), free_port()
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
                "telemetry/opentelemetry": {
                    "exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]},
                    "layers": {"backend": {"metrics": {"round_trip": True}}},
                },
            },
            "endpoints": [
                {"endpoint": f"/e{i}", "backend": [{"host": [base], "url_pattern": pattern}]}
                for i, pattern in enumerate(PATTERNS)
            ],
        }
    )
    for i in range(len(PATTERNS)):
        assert (await s.client.get(f"/e{i}")).status == 200
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{stats}/__stats") as resp:
            expvar = await resp.text()
        async with http.get(f"http://127.0.0.1:{prom}/metrics") as resp:
            metrics = await resp.text()
    assert "layer.backend.name./echo?access_token=[REDACTED].complete.true.error.false" in expvar
    assert 'http_route="/err?api_key=[REDACTED]&x=1"' in metrics, metrics
    assert 'clientname="/x?password=[REDACTED]"' in metrics, metrics
    assert "CANARY" not in expvar and "CANARY" not in metrics, metrics


def test_metric_names_check_masks_url_passwords(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/a", "backend": [{"host": ["http://admin:CANARYHOSTPW@127.0.0.1:18000"], "url_pattern": "/"}]}
        ],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode != 0
    assert "host 'http://admin:[REDACTED]@127.0.0.1:18000' not valid" in out.stderr + out.stdout
    assert "CANARY" not in out.stderr + out.stdout
