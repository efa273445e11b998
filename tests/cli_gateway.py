"""The real CLI in a subprocess, for end-to-end tests: :func:`gateway_process` starts ``krakenpy run`` on a
written config and stops it (SIGTERM, then kill) when the block ends; :func:`wait_http` waits for its
first answer; :func:`check_config` runs ``krakenpy check``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT

__all__ = ["check_config", "gateway_process", "stop", "wait_http"]


def wait_http(url: str, proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    """Until ``url`` answers (any status); fails when the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:  # it answers
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gateway did not start")


def stop(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[str, str]:
    """SIGTERM, then kill when it has not ended within ``timeout``; its stdout and stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@contextmanager
def gateway_process(
    config: Path,
    *,
    port: int,
    workers: int = 1,
    cwd: Path | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """``krakenpy run -c config`` serving on ``port``, answering ``/__health`` when the block starts
    (``env``: variables over the test run's, ``PYTHONPATH`` among them)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", str(workers), *args],
        cwd=cwd or config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        yield proc
    finally:
        stop(proc)


def check_config(
    config: Path, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``krakenpy check [args] -c config`` (``KRAKEND_*`` variables of the test run left out; ``env``
    over the rest)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", *args, "-c", str(config)],
        cwd=cwd or config.parent,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def audited_deny_config(folder: Path, port: int, audit: Mapping[str, object]) -> Path:
    """A ``krakend.json`` in ``folder`` serving ``/x`` on ``port``, denied by a Lua ``custom_error``
    (403) on every request, so each leaves one audit record, with ``telemetry/audit`` set to ``audit``."""
    from tests.conftest import free_port

    doc = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/audit": dict(audit)},
        "endpoints": [{
            "endpoint": "/x",
            "extra_config": {"modifier/lua-endpoint": {"pre": "custom_error('no', 403)"}},
            "backend": [{"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/b"}],
        }],
    }  # fmt: skip
    config = folder / "krakend.json"
    config.write_text(json.dumps(doc))
    return config


def deny_requests(url: str, n: int) -> None:
    """``n`` requests to an :func:`audited_deny_config` gateway's ``url``, each denied (one record
    each), the trail given time to write each alone (its own batch)."""
    import urllib.error

    for _ in range(n):
        try:
            urllib.request.urlopen(url, timeout=10).read()
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
        time.sleep(0.1)
