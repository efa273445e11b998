"""The default event loop (uvloop where it imports) through the real CLI: what libuv does differently
from asyncio's selector loop (reads into its own buffer, writes, accepts, closes, timers) under
pipelined requests, large bodies both ways, clients leaving mid-request, static files, Lua's
``http_response.new``, several workers on one port; and ``--loop`` when uvloop cannot import.
Loopback only; every wait is bounded."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.server.process import Gateway, wait_http

#: the upstream's large answer: past every read size (64 KiB ours, 256 KiB uvloop's buffer)
BIG = bytes(range(256)) * 4096  # 1 MiB


class _Upstream:
    """A threaded loopback backend: ``/json``, ``/big``, ``/sleep?s=``, ``POST /echo`` (the body's
    length and SHA-256)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, body: bytes, kind: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/sleep"):
                    time.sleep(min(float(self.path.partition("s=")[2] or 0), 5.0))
                    self._send(b'{"slept": true}')
                elif self.path == "/big":
                    self._send(BIG, "application/octet-stream")
                else:
                    self._send(b'{"a": 1, "b": 2}')

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self._send(json.dumps({"len": len(body), "sha": hashlib.sha256(body).hexdigest()}).encode())

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the gateway closed a call whose client left

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _config(port: int, upstream: str) -> dict[str, Any]:
    no_op = {"output_encoding": "no-op"}
    lua_post = f"response.load():data():set('lua', http_response.new('{upstream}/json'):body())"
    return {
        "version": 3,
        "port": port,
        "timeout": "5s",
        "host": [upstream],
        "extra_config": {"server/static-filesystem": {"prefix": "/media/", "path": "./data/"}},
        "endpoints": [
            {"endpoint": "/json", "backend": [{"url_pattern": "/json"}]},
            {"endpoint": "/slow", "input_query_strings": ["s"], "backend": [{"url_pattern": "/sleep"}]},
            {"endpoint": "/big", **no_op, "backend": [{"url_pattern": "/big", "encoding": "no-op"}]},
            {
                "endpoint": "/echo",
                "method": "POST",
                **no_op,
                "backend": [{"url_pattern": "/echo", "encoding": "no-op"}],
            },
            {
                "endpoint": "/lua",
                "backend": [{"url_pattern": "/json"}],
                "extra_config": {"modifier/lua-proxy": {"post": lua_post}},
            },
        ],
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, int]]:
    """One gateway on the default loop, one worker."""
    work = tmp_path_factory.mktemp("default-loop")
    (work / "data").mkdir()
    (work / "data" / "page.html").write_text("<p>static</p>")
    upstream = _Upstream()
    port = free_port()
    config = work / "krakend.json"
    config.write_text(json.dumps(_config(port, upstream.url)))
    gateway = Gateway(config, "-w", "1", cwd=work)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        yield gateway, port
    finally:
        gateway.stop()
        upstream.close()


def _get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.read()


def _read_answers(sock: socket.socket, count: int) -> list[tuple[str, bytes]]:
    """``count`` HTTP/1.1 answers with a Content-Length, in order: (status line, body)."""
    buffer, answers = b"", []
    sock.settimeout(10)
    while len(answers) < count:
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        if sep:
            lines = head.decode("latin-1").split("\r\n")
            length = next(int(v) for k, _, v in (x.partition(": ") for x in lines[1:]) if k.lower() == "content-length")
            if len(rest) >= length:
                answers.append((lines[0], rest[:length]))
                buffer = rest[length:]
                continue
        chunk = sock.recv(1 << 16)
        assert chunk, f"closed after {len(answers)} answers"
        buffer += chunk
    return answers


def test_default_loop_is_uvloop_and_serves_every_kind_of_answer(served: tuple[Gateway, int]) -> None:
    gateway, port = served
    gateway.wait_log(r"listening on \*:\d+ with 5 endpoints on uvloop \(pid \d+, worker 1\)")
    assert json.loads(_get(port, "/__health")[1])["status"] == "ok"
    assert json.loads(_get(port, "/json")[1]) == {"a": 1, "b": 2}
    assert _get(port, "/media/page.html") == (200, b"<p>static</p>")
    # Lua's http_response.new suspends the script on the worker's loop while the call runs
    assert json.loads(_get(port, "/lua")[1]) == {"a": 1, "b": 2, "lua": '{"a": 1, "b": 2}'}


def test_default_loop_pipelined_requests_are_answered_in_order(served: tuple[Gateway, int]) -> None:
    _, port = served
    paths = ["/json", "/__health", "/big", "/slow?s=0.1", "/media/page.html", "/json"] * 3
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))  # one write
        answers = _read_answers(sock, len(paths))
    assert all(status == "HTTP/1.1 200 OK" for status, _ in answers)
    bodies = [body for _, body in answers]
    assert bodies[2] == BIG and bodies[3] == b'{"slept":true}' and bodies[4] == b"<p>static</p>"
    assert bodies[0::6] == [b'{"a":1,"b":2}'] * 3 and bodies[5::6] == [b'{"a":1,"b":2}'] * 3


def test_default_loop_large_bodies_both_ways(served: tuple[Gateway, int]) -> None:
    _, port = served
    body = bytes(range(251)) * 12_000  # ~3 MiB up: many reads of the request body
    request = urllib.request.Request(f"http://127.0.0.1:{port}/echo", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert json.loads(resp.read()) == {"len": len(body), "sha": hashlib.sha256(body).hexdigest()}
    # 1 MiB down to a client that reads slowly: the write buffer fills and drains
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)  # smaller: delayed ACKs make it crawl
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        (_, big), (_, small) = _read_answers(sock, 2)
    assert big == BIG and small == b'{"a":1,"b":2}'


def test_default_loop_clients_leaving_mid_request_leave_no_trace(served: tuple[Gateway, int]) -> None:
    gateway, port = served
    before = len(gateway.lines)
    for payload in (
        b"GET /slow?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n",  # waiting for the upstream
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000,  # half a body
        b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n",  # while the answer is written
        b"GET /json HTTP/1.1\r\nHost: x",  # half a header block
    ):
        for linger in (False, True):  # a FIN, and a reset
            sock = socket.create_connection(("127.0.0.1", port))
            if linger:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(payload)
            time.sleep(0.05)
            sock.close()
    time.sleep(0.5)  # the slow calls end meanwhile
    for _ in range(20):
        assert _get(port, "/json") == (200, b'{"a":1,"b":2}')
    log = "\n".join(gateway.lines[before:])
    assert "Traceback" not in log and "ERROR" not in log and "unhandled" not in log, log


def _connections_per_worker(pids: list[int], port: int) -> Counter[int]:
    """How many established connections to ``port`` each process holds (its socket descriptors
    matched with the kernel's TCP table)."""
    owner: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = fd.readlink().name if fd.is_symlink() else ""
            if target.startswith("socket:["):
                owner[target[8:-1]] = pid
    counts: Counter[int] = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if int(local.partition(":")[2], 16) == port and state == "01" and inode in owner:  # 01: ESTABLISHED
            counts[owner[inode]] += 1
    return counts


def test_default_loop_workers_share_the_port(tmp_path: Path) -> None:
    upstream = _Upstream()
    port = free_port()
    config = tmp_path / "krakend.json"
    (tmp_path / "data").mkdir()
    config.write_text(json.dumps(_config(port, upstream.url)))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    sockets: list[socket.socket] = []
    try:
        pids = list(gateway.worker_pids(2).values())
        assert len(gateway.wait_log(r"with 5 endpoints on uvloop", count=2)) == 2
        for _ in range(40):  # kept open: each stays with the worker that accepted it
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_answers(sock, 1)[0][1] == b'{"a":1,"b":2}'
            sockets.append(sock)
        counts = _connections_per_worker(pids, port)
        assert sum(counts.values()) == 40 and min(counts[p] for p in pids) >= 5, counts  # P(< 5 of 40) ~ 1e-7
    finally:
        for sock in sockets:
            sock.close()
        gateway.stop()
        upstream.close()


def test_loop_option_without_uvloop(tmp_path: Path) -> None:
    """Where uvloop does not import: ``auto`` serves on asyncio without a word, ``--loop uvloop`` is
    one line and exit 1. ``--loop asyncio`` opts out where it does import."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "uvloop.py").write_text("raise ImportError('uvloop is not available here')\n")
    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, "port": port, "endpoints": []}))
    refused = Gateway(config, "--loop", "uvloop", cwd=tmp_path, env={"PYTHONPATH": str(shim)})
    assert refused.proc.wait(20) == 1
    refused.kill()
    assert refused.lines == [
        "ERROR: --loop uvloop: uvloop cannot be imported (uvloop is not available here); use --loop asyncio"
    ]
    for args, env in ((("-w", "1"), {"PYTHONPATH": str(shim)}), (("-w", "1", "--loop", "asyncio"), {})):
        gateway = Gateway(config, *args, cwd=tmp_path, env=env)
        try:
            gateway.wait_log(r"with 0 endpoints on asyncio \(pid")
            wait_http(f"http://127.0.0.1:{port}/__health")
        finally:
            assert gateway.stop() == 0
        assert "uvloop" not in gateway.log


@pytest.mark.lambda_emulator
def test_default_loop_lambda_backend(tmp_path: Path) -> None:
    """``backend/lambda`` (krakenpy's own invoker) from a worker on the default loop, against the
    emulator, one call and then concurrent ones."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tests.lambda_.conftest import AWS_ENV, FUNCTIONS, deploy, ministack_bin, start_emulator

    binary = ministack_bin()
    if binary is None:
        pytest.skip("Lambda emulator not installed: run `make install-emulator` or set MINISTACK_BIN")
    emulator = start_emulator(binary)
    gateway = None
    try:
        with pytest.MonkeyPatch.context() as env:
            for key, value in AWS_ENV.items():
                env.setenv(key, value)
            asyncio.run(deploy(emulator.url, tuple(f for f in FUNCTIONS if f.name == "hello")))
        port = free_port()

        def call(function: str) -> dict[str, Any]:
            lam = {"function_name": function, "region": "us-east-1", "endpoint": emulator.url, "max_retries": 0}
            return {"url_pattern": "/", "extra_config": {"backend/lambda": lam}}

        doc = {
            "version": 3,
            "port": port,
            "timeout": "30s",  # the emulator starts a runtime on a function's first call
            "endpoints": [
                {"endpoint": "/hello/{first_name}", "backend": [{**call("hello"), "deny": ["foo"]}]},
            ],
        }
        config = tmp_path / "krakend.json"
        config.write_text(json.dumps(doc))
        gateway = Gateway(config, "-w", "1", cwd=tmp_path, env=AWS_ENV)
        gateway.wait_log(r"with 1 endpoints on uvloop")
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert json.loads(_get(port, "/hello/Ada")[1]) == {"message": "Hello Ada !"}
        with ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(lambda i: _get(port, f"/hello/n{i}")[1], range(16)))
        assert [json.loads(b)["message"] for b in bodies] == [f"Hello n{i} !" for i in range(16)]
        assert "Traceback" not in gateway.log
    finally:
        if gateway is not None:
            gateway.stop()
        emulator.stop()
