"""GELF's ``facility`` over UDP is the program's name, ``krakenpy``, however it was started: not
``__main__.py`` for ``python -m krakenpy`` (real CLI, a UDP listener)."""

from __future__ import annotations

import gzip
import json
import socket
import urllib.request
from pathlib import Path

from tests.cli_gateway import gateway_process
from tests.conftest import free_port


def test_gelf_facility_is_the_program_name_under_python_m(tmp_path: Path) -> None:
    port = free_port()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps(
            {
                "version": 3,
                "port": port,
                "listen_ip": "127.0.0.1",
                "extra_config": {
                    "telemetry/gelf": {"address": f"127.0.0.1:{receiver.getsockname()[1]}", "enable_tcp": False}
                },
                "endpoints": [],
            }
        )
    )
    try:
        with gateway_process(config, port=port):  # python -m krakenpy run
            urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=10).read()
            message = json.loads(gzip.decompress(receiver.recv(65535)))
    finally:
        receiver.close()
    assert message["facility"] == "krakenpy", message
