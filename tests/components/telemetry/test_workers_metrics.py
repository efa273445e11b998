"""Metrics across the workers of ``krakenpy run -w 2``, with the real CLI and a real aiohttp backend:
requests on fresh connections reach both workers (``SO_REUSEPORT``), and the one scrape target shows
them all (``/metrics`` parsed by prometheus_client's parser, ``/__stats``); through a reload and
workers killed with ``SIGKILL`` the counters never go down; ``SIGTERM`` removes the run directory.
``-w 1`` makes none; a directory removed under the gateway is made again; without a listener that
reads them no snapshot is written."""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.server.process import Gateway, SilentCollector, alive, wait_http, write_json
from tests.threaded_app import Served

STATS_KEY = "krakend.router.response./x.status.200.count"


def _ok_app() -> web.Application:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", ok)
    return app


class Backend(Served):
    """The gateways' backend: ``GET /`` answers ``{"ok": true}``."""

    def __init__(self) -> None:
        super().__init__(_ok_app)


def _config(port: int, prom: int, stats: int, backend: int, name: str) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "name": name,
        "extra_config": {
            "telemetry/opentelemetry": {
                "service_name": name,
                "exporters": {
                    "prometheus": [{"name": "prom", "port": prom, "listen_ip": "127.0.0.1", "process_metrics": True}]
                },
            },
            "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
        },
        "endpoints": [{"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{backend}"], "url_pattern": "/"}]}],
    }


def _send(port: int, n: int) -> None:
    """``n`` requests, each on a connection of its own (urllib closes it): spread over the workers."""
    for _ in range(n):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=10) as resp:
            assert resp.status == 200


def _scrape(prom: int) -> tuple[float, set[str]]:
    """The request counter (``http.server.duration``'s count for /x) and the pids of ``process_*``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    count = 0.0
    pids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_server_duration_count" and sample.labels.get("http_route") == "/x":
                count += sample.value
            if sample.name == "process_cpu_seconds_total":
                pids.add(sample.labels.get("pid", ""))
    return count, pids


def _stats(stats: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{stats}/__stats", timeout=5) as resp:
        found: dict[str, Any] = json.loads(resp.read())
        return found


def _until(want: float, prom: int, stats: int, timeout: float = 10.0) -> None:
    """Both views count ``want`` requests within ``timeout`` (the tick is 1 s)."""
    deadline = time.monotonic() + timeout
    seen: tuple[float, Any] = (0.0, None)
    while time.monotonic() < deadline:
        try:
            seen = (_scrape(prom)[0], _stats(stats).get(STATS_KEY))
        except (OSError, http.client.HTTPException):
            seen = (-1.0, None)
        if seen == (want, want):
            return
        time.sleep(0.1)
    raise AssertionError(f"wanted {want} requests in /metrics and /__stats, saw {seen}")


def _run_dirs(supervisor: int) -> list[str]:
    return [
        path
        for parent in {"/dev/shm", tempfile.gettempdir()}
        for path in glob.glob(os.path.join(parent, f"krakenpy-{supervisor}-*"))
    ]


class _Watcher(threading.Thread):
    """Scrapes both views back to back; every pair of successive counts must not go down."""

    def __init__(self, prom: int, stats: int) -> None:
        super().__init__(daemon=True)
        self.prom, self.stats = prom, stats
        self.done = threading.Event()
        self.prom_counts: list[float] = []
        self.stats_counts: list[int] = []

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.prom_counts.append(_scrape(self.prom)[0])
                self.stats_counts.append(int(_stats(self.stats).get(STATS_KEY, 0)))
            except (OSError, http.client.HTTPException):
                # the serving worker was killed (before the answer, or in its body: IncompleteRead, seen
                # once in a clean clone's run): the next one binds its ports
                time.sleep(0.05)

    def stop(self) -> None:
        self.done.set()
        self.join(15)

    def assert_monotonic(self) -> None:
        for counts in (self.prom_counts, self.stats_counts):
            assert counts, "no scrape answered"
            drops = [(a, b) for a, b in zip(counts, counts[1:], strict=False) if b < a]
            assert not drops, drops[:5]


def _restarted(gateway: Gateway, slot: int, old: int, timeout: float = 30.0) -> dict[int, int]:
    """The worker pids once ``slot`` runs a new process in place of ``old``."""
    deadline = time.monotonic() + timeout
    while True:
        pids = gateway.worker_pids(1)
        if pids.get(slot, old) != old:
            return pids
        assert time.monotonic() < deadline, gateway.log
        time.sleep(0.1)


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend() as started:
        yield started


def test_two_workers_one_scrape_through_reload_and_kills(tmp_path: Path, backend: Backend) -> None:
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw-0"))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    watcher = _Watcher(prom, stats)
    try:
        pids = gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        wait_http(f"http://127.0.0.1:{stats}/__stats")
        (run_dir,) = _run_dirs(gateway.proc.pid)
        sent = 60
        _send(port, sent)
        _until(sent, prom, stats)
        # both workers served some: each one's own snapshot counts requests, and the two add up
        own = {}
        for pid in pids.values():
            doc = json.loads(Path(run_dir, f"live-{pid}.json").read_bytes())
            own[pid] = doc["parts"]["stats"]["c"].get(STATS_KEY, 0)
        assert all(own.values()) and sum(own.values()) == sent, own
        assert _scrape(prom)[1] == {str(p) for p in pids.values()}  # process_* of each live worker
        watcher.start()

        write_json(config, _config(port, prom, stats, backend.port, "gw-1"))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        time.sleep(1.5)  # the old configuration retired, its counts kept by each worker
        _until(sent, prom, stats)
        _send(port, 40)
        sent += 40
        _until(sent, prom, stats)

        for slot in (2, 1):  # the other worker, then the one serving the scrapes
            os.kill(pids[slot], signal.SIGKILL)
            gateway.wait_log(rf"worker {slot} \(pid {pids[slot]}\) died \(killed by SIGKILL\)")
            pids = _restarted(gateway, slot, pids[slot])
            wait_http(f"http://127.0.0.1:{prom}/metrics")
            _until(sent, prom, stats)
        assert len(glob.glob(os.path.join(run_dir, "gone-*.json"))) == 2
        _send(port, 20)
        sent += 20
        _until(sent, prom, stats)
        assert _scrape(prom)[1] == {str(p) for p in pids.values()}  # the killed ones' series are gone
        watcher.stop()
        watcher.assert_monotonic()
        assert gateway.stop() == 0
        assert not os.path.exists(run_dir)
    finally:
        watcher.done.set()
        gateway.kill()


def test_one_worker_keeps_its_counters_through_a_reload(tmp_path: Path, backend: Backend) -> None:
    """``-w 1`` as ``-w N``: a reload (SIGHUP) retires the gateway whose registries counted, and its
    counts stay in ``/metrics`` and ``/__stats`` (a Prometheus counter does not go down without a
    restart); ``process_*`` keep no pid label, and still no run directory is made."""
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw-0"))
    gateway = Gateway(config, "-w", "1", cwd=tmp_path)
    watcher = _Watcher(prom, stats)
    try:
        gateway.worker_pids(1)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        wait_http(f"http://127.0.0.1:{stats}/__stats")
        sent = 7
        _send(port, sent)
        _until(sent, prom, stats)
        watcher.start()
        for generation in (1, 2):  # the second reload retires a gateway that kept the first's counts
            write_json(config, _config(port, prom, stats, backend.port, f"gw-{generation}"))
            gateway.signal(signal.SIGHUP)
            gateway.wait_log(rf"reload {generation} applied by 1/1 workers")
            time.sleep(1.0)  # the old configuration retired
            _until(sent, prom, stats)
            _send(port, 5)
            sent += 5
            _until(sent, prom, stats)
        watcher.stop()
        watcher.assert_monotonic()
        count, pids = _scrape(prom)
        assert count == sent and pids == {""}
        assert _run_dirs(gateway.proc.pid) == []
        assert gateway.stop() == 0
    finally:
        watcher.done.set()
        gateway.kill()


def test_one_worker_keeps_its_counters_while_the_first_retired_gateway_closes(tmp_path: Path, backend: Backend) -> None:
    """``-w 1``, first reload: the retired gateway's close stops its services before its registries
    are removed (here an OTLP flush to a collector that accepts and never answers: 10 s); meanwhile
    the listener handed over to the new gateway still counts both (it showed the new one alone: 8 → 0)."""
    collector = SilentCollector()

    def config(name: str) -> dict[str, Any]:
        doc = _config(port, prom, stats, backend.port, name)
        otel = doc["extra_config"]["telemetry/opentelemetry"]
        otel["trace_sample_rate"] = 1
        otlp = {"name": "col", "host": "http://127.0.0.1", "port": collector.port, "use_http": True}
        otel["exporters"]["otlp"] = [{**otlp, "disable_metrics": True}]
        return doc

    port, prom, stats = free_port(), free_port(), free_port()
    path = write_json(tmp_path / "krakend.json", config("gw-0"))
    gateway = Gateway(path, "-w", "1", cwd=tmp_path)
    watcher = _Watcher(prom, stats)
    try:
        gateway.worker_pids(1)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        wait_http(f"http://127.0.0.1:{stats}/__stats")
        _send(port, 5)
        _until(5, prom, stats)
        watcher.start()
        write_json(path, config("gw-1"))
        _send(port, 3)  # spans still waiting: the old gateway's close posts them as its last batch
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 1/1 workers")
        time.sleep(4.0)  # the old gateway retired and is closing (its flush waits on the collector)
        watcher.stop()
        watcher.assert_monotonic()
        assert _scrape(prom)[0] == 8
    finally:
        watcher.done.set()
        gateway.kill()
        collector.close()


def test_one_worker_makes_no_run_directory(tmp_path: Path, backend: Backend) -> None:
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw"))
    gateway = Gateway(config, "-w", "1", cwd=tmp_path)
    try:
        gateway.worker_pids(1)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        _send(port, 5)
        count, pids = _scrape(prom)
        assert count == 5 and pids == {""}  # this process's process_* without a pid label, as before
        assert _stats(stats)[STATS_KEY] == 5
        assert _run_dirs(gateway.proc.pid) == []
        assert gateway.stop() == 0
    finally:
        gateway.kill()


#: kill rounds of the test below: each a gateway of three workers whose supervisor gets SIGKILL
KILL_ROUNDS = 4


def _scraping(prom: int, stop: threading.Event) -> None:
    """Scrape as fast as answers come: every scrape writes the serving worker's snapshot, so there is
    a write in flight while the other workers remove the directory on their way out."""
    while not stop.is_set():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=2).read()
        except OSError:
            time.sleep(0.005)


@pytest.mark.parametrize("round_", range(KILL_ROUNDS))
def test_workers_remove_the_run_directory_when_the_supervisor_is_killed(
    tmp_path: Path, backend: Backend, round_: int
) -> None:
    """Nobody would remove it otherwise: the workers, told by their channel's end (or PR_SET_PDEATHSIG),
    do on their way out, the last one out (rundir._last_out: each stops writing, then lets the lock
    go). Before, a worker that read the channel's end before it was given another parent took the
    supervisor for alive and wrote a last snapshot, and each removed the directory as it stopped: the
    directory was left, its files and lock, to the next start's sweep (3 of 4 rounds on a loaded
    machine). Scrapes run through the kill: a write in flight at each removal."""
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw"))
    gateway = Gateway(config, "-w", "3", cwd=tmp_path)
    stop = threading.Event()
    scraper = threading.Thread(target=_scraping, args=(prom, stop), daemon=True)
    try:
        pids = gateway.worker_pids(3)
        (run_dir,) = _run_dirs(gateway.proc.pid)
        _send(port, 6)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        deadline = time.monotonic() + 10
        while len(glob.glob(os.path.join(run_dir, "live-*.json"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # every worker wrote a snapshot
        assert len(glob.glob(os.path.join(run_dir, "live-*.json"))) == 3
        scraper.start()
        time.sleep(0.05 * round_)  # the kill lands at another point of the scrapes' writes each round
        gateway.proc.kill()  # SIGKILL: the supervisor cleans nothing up
        gateway.proc.wait(10)
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids.values())
        assert not os.path.exists(run_dir), os.listdir(run_dir)
    finally:
        stop.set()
        if scraper.is_alive():
            scraper.join(5)
        gateway.kill()


def test_a_run_directory_removed_under_the_gateway(tmp_path: Path, backend: Backend) -> None:
    """systemd-logind's RemoveIPC at logout, a tmp cleaner: every scrape still answers and soon
    counts every worker again (the directory made again, private, by the workers' next writes)."""
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw"))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        (run_dir,) = _run_dirs(gateway.proc.pid)
        _send(port, 10)
        _until(10, prom, stats)
        shutil.rmtree(run_dir)
        _scrape(prom)  # answers (a 500 raised HTTPError)
        _stats(stats)
        _until(10, prom, stats)
        assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
        _send(port, 10)
        _until(20, prom, stats)
        assert gateway.stop() == 0
        assert not os.path.exists(run_dir)
    finally:
        gateway.kill()


def test_no_snapshots_without_a_listener_that_reads_them(tmp_path: Path, backend: Backend) -> None:
    """OTLP metrics only: each worker exports its own registry, nobody would read a snapshot file
    (each worker wrote one every second, and exited workers' files piled up)."""
    port = free_port()
    config = _config(port, 0, 0, backend.port, "gw")
    otel = config["extra_config"]["telemetry/opentelemetry"]
    otel["exporters"] = {
        "otlp": [
            {"name": "o", "host": "http://127.0.0.1", "port": free_port(), "use_http": True, "disable_traces": True}
        ]
    }
    del config["extra_config"]["telemetry/metrics"]
    gateway = Gateway(write_json(tmp_path / "krakend.json", config), "-w", "2", cwd=tmp_path)
    try:
        pids = gateway.worker_pids(2)
        (run_dir,) = _run_dirs(gateway.proc.pid)
        _send(port, 6)
        time.sleep(2.5)  # two ticks
        os.kill(pids[2], signal.SIGKILL)
        _restarted(gateway, 2, pids[2])
        assert [n for n in os.listdir(run_dir) if n.endswith(".json")] == []
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def _refusing_app() -> web.Application:
    """An audit collector that calls every batch malformed: each record is refused for good."""

    async def refuse(_request: web.Request) -> web.Response:
        return web.Response(status=400)

    app = web.Application()
    app.router.add_post("/audit", refuse)
    return app


def _dropped(prom: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "krakenpy_audit_records_dropped_total"
    )


def _denied(port: int, n: int) -> None:
    """``n`` requests the CEL check denies (a deny record each), each on a connection of its own."""
    for _ in range(n):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500
        else:
            raise AssertionError("not denied")


def _dropped_until(want: float, prom: int, seen: list[float], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(_dropped(prom))
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)  # the serving worker was killed: the next one binds its ports
            continue
        if seen[-1] == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"wanted {want} dropped audit records, saw {seen[-5:]}")


def test_audit_records_dropped_summed_over_workers_reloads_and_kills(tmp_path: Path, backend: Backend) -> None:
    """``krakenpy_audit_records_dropped_total`` with ``-w 2``: every worker's trail loses the records
    a collector refuses, and the one scrape counts them all, through a reload (the retired trails'
    losses kept by each worker) and workers killed with SIGKILL (their last snapshots kept)."""
    port, prom, stats = free_port(), free_port(), free_port()

    def config(name: str) -> dict[str, Any]:
        doc = _config(port, prom, stats, backend.port, name)
        doc["extra_config"]["telemetry/audit"] = {"sink": "http", "url": f"http://127.0.0.1:{collector.port}/audit"}
        doc["endpoints"][0]["extra_config"] = {"validation/cel": [{"check_expr": "req_method == 'POST'"}]}
        return doc

    with Served(_refusing_app) as collector:
        path = write_json(tmp_path / "krakend.json", config("gw-0"))
        gateway = Gateway(path, "-w", "2", cwd=tmp_path)
        seen: list[float] = []
        try:
            pids = gateway.worker_pids(2)
            wait_http(f"http://127.0.0.1:{prom}/metrics")
            _denied(port, 12)
            _dropped_until(12, prom, seen)
            write_json(path, config("gw-1"))
            gateway.signal(signal.SIGHUP)
            gateway.wait_log(r"reload 1 applied by 2/2 workers")
            time.sleep(1.5)  # the old configuration retired, its trail's losses kept by each worker
            _dropped_until(12, prom, seen)
            _denied(port, 8)
            _dropped_until(20, prom, seen)
            for slot in (2, 1):
                os.kill(pids[slot], signal.SIGKILL)
                gateway.wait_log(rf"worker {slot} \(pid {pids[slot]}\) died \(killed by SIGKILL\)")
                pids = _restarted(gateway, slot, pids[slot])
                wait_http(f"http://127.0.0.1:{prom}/metrics")
                _dropped_until(20, prom, seen)
            _denied(port, 4)
            _dropped_until(24, prom, seen)
            assert all(a <= b for a, b in zip(seen, seen[1:], strict=False)), seen
            assert gateway.stop() == 0
        finally:
            gateway.kill()


def test_a_run_directory_made_again_stays_the_running_gateways(tmp_path: Path, backend: Backend) -> None:
    """The directory removed under the gateway and made again by a worker, which alone held its new
    lock: once that worker was killed (and the others, respawned, held the supervisor's lock of the
    removed directory), the next gateway's sweep took the running one's directory for a killed
    gateway's and removed it, the exited workers' snapshots with it (10 requests, then 0)."""
    from krakenpy.server import rundir

    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.port, "gw"))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        pids = gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        (run_dir,) = _run_dirs(gateway.proc.pid)
        _send(port, 10)
        _until(10, prom, stats)
        shutil.rmtree(run_dir)
        _until(10, prom, stats)  # made again, by whichever worker wrote first
        for slot in (2, 1):
            os.kill(pids[slot], signal.SIGKILL)
            gateway.wait_log(rf"worker {slot} \(pid {pids[slot]}\) died \(killed by SIGKILL\)")
            pids = _restarted(gateway, slot, pids[slot])
            wait_http(f"http://127.0.0.1:{prom}/metrics")
            _until(10, prom, stats)
        rundir._sweep(os.path.dirname(run_dir))  # what the next gateway's start does
        assert os.path.isdir(run_dir)
        _until(10, prom, stats)
        assert gateway.stop() == 0
        assert not os.path.exists(run_dir)
    finally:
        gateway.kill()
