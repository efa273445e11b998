"""What ``krakenpy run``'s processes keep resident (P7 idle memory): the real CLI in a subprocess.

jsonschema-rs's validator (~19 MiB resident once built) is built only in short-lived children
(:mod:`krakenpy.config.quickcheck`): at start, when the supervisor checks a reload and when a
worker loads it, never in the supervisor nor in a worker, whose memory maps must not name its library.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.server.process import Gateway, wait_http, write_json

ROOT = Path(__file__).resolve().parents[2]


def _config(port: int, generation: int, **service: Any) -> dict[str, Any]:
    backend = {"host": [f"127.0.0.1:{port}"], "url_pattern": f"/__echo/g{generation}", "allow": ["req_uri"]}
    return {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        **service,
        "endpoints": [{"endpoint": "/gen", "backend": [backend]}],
    }


def _maps_validator(pid: int) -> bool:
    return "jsonschema_rs" in Path(f"/proc/{pid}/maps").read_text()


def test_memory_no_process_of_run_holds_the_schema_validator(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, 1))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        workers = gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{port}/gen")
        processes = [gateway.proc.pid, *workers.values()]
        assert [pid for pid in processes if _maps_validator(pid)] == []
        # a reload the schema accepts: checked by the supervisor, then loaded by each worker (in a
        # thread there: a fresh interpreter checks it); one it refuses: the full validator reports it
        write_json(config, _config(port, 2))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        write_json(config, _config(port, 3, timeout="soon"))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 2 refused: timeout: .*soon")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gen", timeout=5) as resp:
            assert b"/__echo/g2" in resp.read()
        assert gateway.worker_pids(2) == workers  # reloaded in place, none restarted
        assert [pid for pid in processes if _maps_validator(pid)] == []
        assert "Traceback" not in gateway.log
        assert gateway.stop() == 0
    finally:
        gateway.kill()


#: quick_valid isolated: in a forked child (one thread), in a fresh interpreter (another thread
#: running), and here (counted) when the document is not JSON's or the child cannot answer
_SCRIPT = """
import sys, threading
import orjson
from krakenpy.config import quickcheck

here = []
in_process = quickcheck._in_process
quickcheck._in_process = lambda doc: here.append(1) or in_process(doc)
valid = orjson.loads(sys.argv[1])
invalid = dict(valid, timeout="soon")
quickcheck.isolate()
loaded = lambda: "jsonschema_rs" in sys.modules
print("fork", quickcheck.quick_valid(valid), quickcheck.quick_valid(invalid), loaded(), len(here))
stop = threading.Event()
threading.Thread(target=stop.wait).start()
print("spawn", quickcheck.quick_valid(valid), quickcheck.quick_valid(invalid), loaded(), len(here))
print("nan", quickcheck.quick_valid(dict(valid, name=float("nan"))), len(here))
sys.executable = "/nonexistent/python"
print("here", quickcheck.quick_valid(valid), quickcheck.quick_valid(invalid), len(here))
stop.set()
"""


def test_memory_quick_check_in_a_child_gives_the_same_verdicts() -> None:
    doc = _config(free_port(), 1)
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(doc)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "fork True False False 0",
        "spawn True False False 0",
        "nan False 1",
        "here True False 3",
    ]
