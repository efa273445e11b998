"""What ``krakenpy run`` of a plain configuration imports (P7 start-up): the real CLI, its worker's
``sys.modules`` written once it serves, then one request through it."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from krakenpy.components import registry
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

#: the CLI, with the worker's modules written to $MODULES once it serves (settle_gc runs right after
#: the build and the listen, before the worker says it is ready)
_WRAPPER = """
import os, sys
from krakenpy.server.deferred_tls import import_aiohttp
import_aiohttp()  # as the CLI does first, before the worker module below imports aiohttp
import gc
import krakenpy.server.supervisor as supervisor
import krakenpy.server.worker as worker

settle = worker.settle_gc

def settle_and_dump():
    # the collections since main(), supervisor and worker (the counts are inherited by the fork)
    collections = sum(generation["collections"] for generation in gc.get_stats()) - BEFORE
    settle()
    modules = list(sys.modules)  # before the connector below runs aiohttp's package __init__
    import aiohttp.connector
    deferred = "_krakenpy_deferred" in aiohttp.connector._SSL_CONTEXT_VERIFIED.__dict__
    with open(os.environ["MODULES"], "w") as out:
        out.write("\\n".join([f"deferred={deferred}", f"collections={collections}", *modules]))

turn = supervisor.Supervisor._turn

def turn_and_dump(self, wake):
    # the supervisor's thresholds once its workers are forked, as it waits for them
    with open(os.environ["MODULES"] + ".supervisor", "w") as out:
        out.write(repr(gc.get_threshold()))
    return turn(self, wake)

worker.settle_gc = settle_and_dump
supervisor.Supervisor._turn = turn_and_dump
from krakenpy.cli import main
BEFORE = sum(generation["collections"] for generation in gc.get_stats())
sys.exit(main(sys.argv[1:]))
"""

#: engines and whole features a plain configuration must not load
_LAZY = (
    *("lupa", "joserfc", "cryptography", "botocore", "aiobotocore", "bcrypt", "yaml", "redis"),
    # jsonschema: a valid configuration passes jsonschema-rs's quick check alone, and that check runs
    # in a child process (krakenpy/config/quickcheck.py): neither is loaded in the worker
    *("jsonschema", "jsonschema_rs", "referencing", "cel_expr_python", "importlib.metadata"),
    *("krakenpy.jose", "krakenpy.lua", "krakenpy.lambda_", "krakenpy.cel", "krakenpy.martian"),
    *("krakenpy.httpcache", "krakenpy.cors", "krakenpy.openapi", "krakenpy.oauth2", "krakenpy.botdetect"),
    *("krakenpy.ratelimit", "krakenpy.redis_pools", "krakenpy.telemetry.opencensus"),
    # telemetry outputs the configuration does not set (the access log alone is on by default)
    *("krakenpy.telemetry.gelf", "krakenpy.telemetry.export", "krakenpy.telemetry.otlp", "gzip"),
    *("krakenpy.telemetry.servers", "krakenpy.telemetry.metrics.process", "krakenpy.server.side"),
    *("krakenpy.telemetry.otelsettings", "krakenpy.telemetry.otelsecurity", "krakenpy.telemetry.auditsettings"),
    # no tracer, agents, DNS discovery, TOML file, misspelt name, nor a package read through importlib.resources
    *("krakenpy.telemetry.trace.tracer", "krakenpy.asyncagent.runner", "krakenpy.sd.dnssrv"),
    *("tomllib", "difflib", "importlib.resources"),
    # decimal: only a float written where the file wants a string is converted with it (config/coerce.py)
    *("decimal", "_decimal"),
    # aiohttp's web layer: the worker serves on krakenpy's own server (Gateway.handler is made on use)
    *("aiohttp.web", "aiohttp.web_app", "krakenpy.server.adapter", "krakenpy.server.webrunner"),
    # nor aiohttp's client: its package __init__ waits for a first use (krakenpy/server/deferred_tls.py)
    *("aiohttp.client", "aiohttp.connector", "aiohttp.cookiejar", "aiohttp.tracing", "aiohttp.http"),
)


def _backend() -> tuple[socket.socket, int]:
    """A loopback backend answering one canned JSON body per connection (in a thread)."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{"a": 1}')

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_startup_plain_config_imports_only_what_it_uses(tmp_path: Path) -> None:
    listener, backend_port = _backend()
    port = free_port()
    config = tmp_path / "krakend.json"
    backend = {"url_pattern": "/x", "host": [f"http://127.0.0.1:{backend_port}"]}
    doc = {"version": 3, "port": port, "endpoints": [{"endpoint": "/e/{id}", "backend": [backend]}]}
    config.write_bytes(orjson.dumps(doc))
    modules = tmp_path / "modules.txt"
    argv = [sys.executable, "-c", _WRAPPER, "run", "-c", str(config), "--workers", "1", "--log-level", "WARNING"]
    env = {**os.environ, "MODULES": str(modules)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/e/1", timeout=2) as resp:
                    status = resp.status
                    break
            except OSError:
                time.sleep(0.05)
        assert status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        listener.close()
    lines = modules.read_text().splitlines()
    assert lines[0] == "deferred=True"  # no HTTPS call yet: the CA bundle is not loaded
    # no automatic collection from exec to the worker's settle_gc (krakenpy.startgc), and the
    # supervisor collects again once its workers are forked
    assert lines[1] == "collections=0"
    assert ast.literal_eval(Path(f"{modules}.supervisor").read_text())[0] > 0
    loaded = set(lines[2:])
    assert "krakenpy.gateway" in loaded and "aiohttp" in loaded  # the dump is the serving worker's
    assert sorted(m for m in loaded if m in _LAZY or m.startswith(tuple(f"{p}." for p in _LAZY))) == []
    # the components on by default (the access log), no other
    used = {registry.module_name(n) for n in registry.DEFAULT_ON}
    assert loaded & {registry.module_name(n) for n in registry.NAMESPACES} == used


def test_startup_gateway_runner_still_importable_from_protocol() -> None:
    """GatewayRunner moved to webrunner.py (aiohttp's web layer, not imported by ``run``); embedders'
    ``from krakenpy.server.protocol import GatewayRunner`` keeps working, importing that layer then."""
    code = (
        "import sys; import krakenpy.server.protocol as p; assert 'aiohttp.web' not in sys.modules; "
        "from krakenpy.server.protocol import GatewayRunner; from krakenpy.server.webrunner import GatewayRunner as R; "
        "assert GatewayRunner is R; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
