"""``make run``: start the demo backend, then serve a sample config with krakenpy until Ctrl-C.

Every sample config talks to the demo backend on 127.0.0.1:8000 (or to the gateway itself), so the
whole thing runs offline.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(HERE / "krakend.json"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--backend-port", type=int, default=8000)
    args = parser.parse_args()
    backend = subprocess.Popen([sys.executable, str(HERE / "demo_backend.py"), "--port", str(args.backend_port)])
    try:
        if not _wait_port(args.backend_port):
            print("demo backend did not start", file=sys.stderr)
            return 1
        print(f"demo backend on http://127.0.0.1:{args.backend_port}; gateway on http://127.0.0.1:{args.port}")
        print(f"try: curl -s http://127.0.0.1:{args.port}/users/1   (Ctrl-C stops both)")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", args.config, "-p", str(args.port), "-d", "--workers", "1"]
        )

        def stop(signum: int, _frame: object) -> None:
            gateway.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return gateway.wait()
    finally:
        backend.terminate()
        backend.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
