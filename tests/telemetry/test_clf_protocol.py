"""Common and Combined access lines write the request line's protocol as the client sent it
(Apache's ``%r``): an HTTP/1.0 request was logged ``HTTP/1.1``."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.cli_gateway import gateway_process
from tests.conftest import free_port


def _ask(port: int, request_line: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _lines(path: Path, markers: list[str]) -> list[str]:
    """The file's lines once each marker is in one. (Counting lines from those found at the start
    was not enough: the start-up health check's own line, written up to a writer batch after its
    answer, could arrive after that count and stand for one of the requests.)"""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = path.read_text().splitlines() if path.exists() else []
        if all(any(marker in line for line in found) for marker in markers):
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path}: no line with each of {markers}")


@pytest.mark.parametrize("fmt", ["common", "combined"])
def test_the_request_lines_protocol_is_the_clients(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "access.log"
    port = free_port()
    config = tmp_path / "krakend.json"
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/access_log": {"stdout": False, "file": str(log), "format": fmt}},
        "endpoints": [],
    }
    config.write_text(json.dumps(doc))
    with gateway_process(config, port=port):
        assert _ask(port, "GET /__health?v=10 HTTP/1.0").startswith(b"HTTP/1.0 200 ")
        assert _ask(port, "GET /__health?v=11 HTTP/1.1").startswith(b"HTTP/1.1 200 ")
        assert _ask(port, "GET /__health?v=12 HTTP/1.2").startswith(b"HTTP/1.1 200 ")  # served as 1.1, as Go does
        lines = _lines(log, ["?v=10 ", "?v=11 ", "?v=12 "])
    logged = {line.split('"')[1] for line in lines if "?v=" in line}
    assert logged == {"GET /__health?v=10 HTTP/1.0", "GET /__health?v=11 HTTP/1.1", "GET /__health?v=12 HTTP/1.2"}
