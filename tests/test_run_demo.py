"""``make run``'s script: loopback by default, says where it listens, a configurable demo-backend
port, a clear error for a busy port, a hint the chosen sample really serves."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

SCRIPT = ROOT / "sample-configs" / "run_demo.py"


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _hint(proc: subprocess.Popen[str], timeout: float = 30.0) -> list[str]:
    """The script's lines up to and including the ``try:`` hint."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("try: "):
            return lines
    raise AssertionError(f"no hint: {lines} {proc.stderr.read() if proc.stderr else ''}")


def _get(url: str, timeout: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err


@pytest.mark.parametrize(
    ("sample", "path"),
    [
        ("krakend.json", "/users/1"),
        ("minimal.json", "/users/1"),
        ("aggregation.json", "/users/1/profile"),
        ("sequential.json", "/posts/20/with-author"),
        ("static.json", "/recommendations"),
        ("flexible/krakend.tmpl", "/users/1"),
    ],
)
def test_run_demo_serves_on_loopback_with_a_working_hint(sample: str, path: str) -> None:
    port, backend = free_port(), free_port()
    proc = _start(
        "--config", str(ROOT / "sample-configs" / sample), "--port", str(port), "--backend-port", str(backend)
    )
    try:
        lines = _hint(proc)
        assert f"gateway on http://127.0.0.1:{port}" in lines[-2] and "this machine only" in lines[-2]
        assert lines[-1].startswith(f"try: curl -s http://127.0.0.1:{port}{path} ")
        assert b'"' in _get(f"http://127.0.0.1:{port}{path}")  # a JSON answer from the demo backend
        listening = socket.socket()
        with listening:
            # bound to loopback only: the same port is still free on another local address
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            listening.bind(("127.0.0.2", port))
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("sample", "answer"),
    [
        # a publish, then the subscriber's GET: the hint must not be a GET that waits out its timeout
        ("pubsub.json", '{}{"n":1}'),
        ("mcp.json", '"name":"user_profile"'),
    ],
)
def test_run_demo_hint_answers_at_once_for_samples_without_a_plain_get(sample: str, answer: str) -> None:
    """The ``try:`` line is a command that answers: run as printed, by a shell, with curl."""
    assert shutil.which("curl"), "curl is missing (make install-test-deps installs it)"
    port, backend = free_port(), free_port()
    proc = _start(
        "--config", str(ROOT / "sample-configs" / sample), "--port", str(port), "--backend-port", str(backend)
    )
    try:
        hint = _hint(proc)[-1]
        command = hint.removeprefix("try: ").removesuffix("(Ctrl-C stops both)").strip()
        assert command.startswith("curl -s ") and f"http://127.0.0.1:{port}/" in command, hint
        _get(f"http://127.0.0.1:{port}/__health")  # the gateway is up
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=4)
        assert out.returncode == 0 and answer in out.stdout, (hint, out)
    finally:
        _stop(proc)


def test_run_demo_busy_backend_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proc = _start("--port", str(free_port()), "--backend-port", str(busy))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"cannot use port {busy} for the demo backend on 127.0.0.1: already in use" in err
    assert f"BACKEND_PORT={busy + 1}" in err
    assert "Traceback" not in err


def test_run_demo_refuses_the_lambda_sample_with_a_pointer() -> None:
    proc = _start("--config", str(ROOT / "sample-configs" / "lambda.json"), "--port", str(free_port()))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "lambda_demo.py" in out


def test_run_demo_demo_backend_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, str(ROOT / "sample-configs" / "demo_backend.py"), "--port", str(busy)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy}" in out.stderr and "Traceback" not in out.stderr


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_run_demo_observability_sample_shows_every_output(tmp_path: Path) -> None:
    """A newcomer's first hour with ``observability.json`` (README's starting point): the script names
    the telemetry listeners, and the access log, a backend's and a Lua script's failure (once, with
    the request id), the audit trail (a chain that verifies), ``/__stats`` and a ``/metrics`` that
    Prometheus' parser reads all show the requests sent, with no secret in any of them. The sample's
    listener ports are moved to free ones in a copy (the shipped 8090/9090 may be taken here)."""
    from prometheus_client.parser import text_string_to_metric_families

    from krakenpy.telemetry.audit import verify_chain

    port, backend, stats_port, prom_port = free_port(), free_port(), free_port(), free_port()
    text = (ROOT / "sample-configs" / "observability.json").read_text(encoding="utf-8")
    assert '"127.0.0.1:8090"' in text and '"port": 9090' in text
    sample = tmp_path / "observability.json"
    sample.write_text(text.replace(":8090", f":{stats_port}").replace('"port": 9090', f'"port": {prom_port}'))
    proc = _start("--config", str(sample), "--port", str(port), "--backend-port", str(backend))
    try:
        _hint(proc)
        assert proc.stdout is not None
        telemetry = [proc.stdout.readline().rstrip("\n") for _ in range(2)]
        assert telemetry == [
            f"telemetry: curl -s http://127.0.0.1:{stats_port}/__stats",
            f"telemetry: curl -s http://127.0.0.1:{prom_port}/metrics",
        ]
        base = f"http://127.0.0.1:{port}"
        _get(f"{base}/__health")
        secret = "Sup3r-secret-canary"
        basic = "Basic " + base64.b64encode(b"ada:demo-password").decode()
        wrong = "Basic " + base64.b64encode(f"ada:{secret}".encode()).decode()
        sent = [
            (f"/users/1?sig={secret}", {"X-Request-Id": "rid-ok", "Cookie": f"s={secret}"}, 200),
            ("/users/99", {"X-Request-Id": "rid-404"}, 500),  # the demo backend's 404
            ("/private/1", {"X-Request-Id": "rid-allow", "Authorization": basic}, 200),
            ("/private/1", {"X-Request-Id": "rid-deny", "Authorization": wrong}, 401),
            ("/lua-error", {"X-Request-Id": "rid-lua"}, 500),
        ]
        assert [_fetch(base + path, headers)[0] for path, headers, _ in sent] == [s for _, _, s in sent]
        status, stats = _fetch(telemetry[0].split()[-1])
        assert status == 200 and '"krakend.router.response./users/:id.status.200.count": 1' in stats.decode()
        status, metrics = _fetch(telemetry[1].split()[-1])
        families = {f.name: f for f in text_string_to_metric_families(metrics.decode())}
        served = {
            (s.labels["http_route"], s.labels["http_response_status_code"], s.value)
            for s in families["http_server_duration"].samples
            if s.name == "http_server_duration_count"
        }
        assert {("/users/:id", "200", 1.0), ("/private/:id", "401", 1.0), ("/lua-error", "500", 1.0)} <= served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert secret not in out + err
    access = [json.loads(line) for line in lines if line.startswith('{"time"') and "/__health" not in line]
    assert [(a["request_id"], a["status"]) for a in access] == [(h["X-Request-Id"], s) for _, h, s in sent]
    assert access[0]["path"] == "/users/1?sig=[REDACTED]" and access[2]["subject"] == "ada"
    failures = [line.split(" ERROR", 1)[1] for line in lines if "▶ ERROR" in line]
    assert len(failures) == 2
    assert failures[0].endswith(
        f"invalid status code 404 [GET /users/{{{{.Id}}}}]: http://127.0.0.1:{backend}/users/99 request_id=rid-404"
    )
    assert "[ENDPOINT: /lua-error] [Lua] attempt to index a nil value" in failures[1]
    assert failures[1].endswith("request_id=rid-lua")
    trail = [line.encode() for line in lines if line.startswith('{"ts"')]
    assert verify_chain(trail)
    records = [json.loads(line) for line in trail]
    assert [(r["request"]["id"], r["decision"], r["reason"]) for r in records] == [
        ("rid-allow", "allow", "allowed"),
        ("rid-deny", "deny", "credentials_invalid"),
    ]
