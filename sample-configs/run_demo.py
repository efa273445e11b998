"""``make run``: start the demo backend, then serve a sample config with krakenpy until Ctrl-C.

The gateway listens on 127.0.0.1 unless told otherwise (``--host``, ``make run HOST=0.0.0.0``); the
demo backend on 127.0.0.1:8000 unless ``--backend-port`` (``make run BACKEND_PORT=8001``) picks
another port, in which case the sample's hosts are rewritten to it. A port that is already taken is
a clear error, never a backend that silently is somebody else's. ``CONFIG`` may also be the Flexible
Configuration sample (``sample-configs/flexible/krakend.tmpl``). Everything runs offline.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
DEMO_HOST = "http://127.0.0.1:8000"


def _port_free(host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "already in use by another process"
            return exc.strerror or str(exc)
    return None


def _wait_port(port: int, child: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _fc_env(config: Path) -> dict[str, str]:
    """Flexible Configuration settings for a ``.tmpl`` sample laid out like sample-configs/flexible."""
    if config.suffix != ".tmpl":
        return {}
    base = config.parent
    return {
        "FC_ENABLE": "1",
        "FC_SETTINGS": str(base / "settings" / "dev"),
        "FC_PARTIALS": str(base / "partials"),
        "FC_TEMPLATES": str(base / "templates"),
    }


def _routes(config: Path, env: dict[str, str]) -> dict[str, Any] | None:
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "routes", "-c", str(config), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        return None
    routes: dict[str, Any] = orjson.loads(out.stdout)
    return routes


def _sample_path(endpoint: str) -> str:
    """``endpoint`` with sample values for its parameters (the demo backend knows users 1-2 and posts 10,
    20, 21)."""
    return re.sub(r"(\w*)/\{[^}]+\}", lambda m: f"{m.group(1)}/{'20' if m.group(1) == 'posts' else '1'}", endpoint)


def _uses(endpoint: dict[str, Any], namespace: str) -> bool:
    levels = [endpoint, *endpoint["backends"]]
    return any(ns["name"] == namespace for level in levels for ns in level["namespaces"])


def _try_command(routes: dict[str, Any], base: str) -> str | None:
    """A ``curl`` command line that gets an answer from the sample at once: a GET route; for a pub/sub
    sample, a publish then the subscriber's GET (a subscriber alone waits for a message until its
    timeout); for an MCP server, its ``tools/list``."""
    endpoints: list[dict[str, Any]] = routes["endpoints"]
    for endpoint in endpoints:
        if endpoint["method"] == "GET" and not _uses(endpoint, "backend/pubsub/subscriber"):
            return f"curl -s {base}{_sample_path(endpoint['endpoint'])}"
    publish = next((e for e in endpoints if _uses(e, "backend/pubsub/publisher")), None)
    receive = next((e for e in endpoints if e["method"] == "GET" and _uses(e, "backend/pubsub/subscriber")), None)
    if publish and receive:
        return (
            f"curl -s{'' if publish['method'] == 'POST' else ' -X ' + publish['method']} -d '{{\"n\":1}}'"
            f" {base}{_sample_path(publish['endpoint'])}"
            f" && curl -s {base}{_sample_path(receive['endpoint'])}"
        )
    for endpoint in endpoints:
        if endpoint["method"] == "POST" and _uses(endpoint, "ai/mcp"):
            body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
            return f"curl -s -H 'Content-Type: application/json' -d '{body}' {base}{endpoint['endpoint']}"
    return None


def _telemetry_urls(raw: dict[str, Any]) -> list[str]:
    """Where the sample's telemetry listeners answer: ``/__stats`` (``telemetry/metrics``) and each
    Prometheus exporter's ``/metrics`` (``telemetry/opentelemetry``); an unset host is every interface,
    reached here on loopback."""
    extra = raw.get("extra_config") or {}
    urls: list[str] = []
    metrics = extra.get("telemetry/metrics")
    if isinstance(metrics, dict) and not metrics.get("endpoint_disabled"):
        host, _, port = str(metrics.get("listen_address") or ":8090").rpartition(":")
        urls.append(f"http://{host or '127.0.0.1'}:{port}/__stats")
    otel = extra.get("telemetry/opentelemetry")
    exporters = otel.get("exporters") if isinstance(otel, dict) else None
    for exporter in (exporters or {}).get("prometheus") or []:
        if isinstance(exporter, dict) and not exporter.get("disable_metrics"):
            host = exporter.get("listen_ip") or exporter.get("host") or "127.0.0.1"
            urls.append(f"http://{host}:{exporter.get('port', 9090)}/metrics")
    return urls


def _with_backend_port(config: Path, port: int, workdir: Path) -> Path:
    """A copy of a JSON sample whose demo-backend hosts point at ``port``."""
    text = config.read_text(encoding="utf-8").replace(DEMO_HOST, f"http://127.0.0.1:{port}")
    copy = workdir / config.name
    copy.write_text(text, encoding="utf-8")
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "krakend.json"))
    parser.add_argument("--host", default="127.0.0.1", help="gateway listen address (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8080, help="gateway port")
    parser.add_argument("--backend-port", type=int, default=8000, help="demo backend port")
    args = parser.parse_args()
    config = Path(args.config)
    env = {**os.environ, **_fc_env(config), "KRAKEND_LISTEN_IP": args.host, "PYTHONUNBUFFERED": "1"}
    routes = _routes(config, env)
    if routes is None:
        return 1
    if any(b["target"].startswith("lambda:") for e in routes["endpoints"] for b in e["backends"]):
        print(f"{config} calls Lambda functions: run `.venv/bin/python {HERE / 'lambda_demo.py'}` instead")
        return 1
    for what, host, port, flag in (
        ("gateway", args.host, args.port, "PORT"),
        ("demo backend", "127.0.0.1", args.backend_port, "BACKEND_PORT"),
    ):
        problem = _port_free(host, port)
        if problem:
            print(f"error: cannot use port {port} for the {what} on {host}: {problem}", file=sys.stderr)
            print(f"       pick another one, e.g. `make run {flag}={port + 1}`", file=sys.stderr)
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="krakenpy-demo-"))
    if args.backend_port != 8000 and config.suffix == ".json":
        config = _with_backend_port(config, args.backend_port, workdir)
    env["DEMO_BACKEND"] = f"http://127.0.0.1:{args.backend_port}"  # read by the Flexible Configuration sample
    backend = subprocess.Popen([sys.executable, str(HERE / "demo_backend.py"), "--port", str(args.backend_port)])
    try:
        if not _wait_port(args.backend_port, backend):
            print("error: the demo backend did not start", file=sys.stderr)
            return 1
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"demo backend on http://127.0.0.1:{args.backend_port}")
        print(f"gateway on http://{shown}:{args.port} serving {args.config}", end="")
        local = args.host.startswith("127.") or args.host == "::1"
        print(" (this machine only; HOST=0.0.0.0 for every interface)" if local else "")
        raw = orjson.loads(config.read_text(encoding="utf-8")) if config.suffix == ".json" else {}
        exposed = [p for p, key in (("/__debug/", "debug_endpoint"), ("/__echo/", "echo_endpoint")) if raw.get(key)]
        if exposed and not local:
            print(f"warning: {' and '.join(exposed)} are reachable from other machines", file=sys.stderr)
        command = _try_command(routes, f"http://{shown}:{args.port}")
        if command:
            print(f"try: {command}   (Ctrl-C stops both)")
        for url in _telemetry_urls(raw):
            print(f"telemetry: curl -s {url}")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-p", str(args.port), "--workers", "1"],
            env=env,
        )

        def stop(signum: int, _frame: object) -> None:
            gateway.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return gateway.wait()
    finally:
        backend.terminate()
        backend.wait(timeout=10)
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
