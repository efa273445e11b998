"""``python -m bench.startup``: P7's start-up alone, without the full bench: ``krakenpy run`` on an
n-endpoint config (1 worker), timed from exec to the first 200 through the gateway, best of N.

The backend is a canned HTTP/1.1 answer served by a thread of this process; the probe connects and
sends one GET every 2 ms. Besides the wall time, the CPU time of the gateway's processes at the first
200 (supervisor + worker, from ``/proc``, 10 ms ticks) is shown: it is less sensitive than the wall
time to what else runs on a shared machine. ``--importtime`` prints the slowest imports of one start
(``python -X importtime``, cumulative µs). ``--reloads N`` measures a reload instead: the CPU time
that N ``SIGHUP`` reloads of a 2-worker gateway cost, per reload (supervisor, workers and the children
they reaped, such as the schema's quick-check processes: ``/proc`` utime + stime + cutime + cstime).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from bench.procs import cpu_seconds, tree

ROOT = Path(__file__).resolve().parents[1]
_BODY = b'{"id": 7, "name": "small", "email": "a@example.com"}'
_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)


class _Backend(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Answer(socketserver.BaseRequestHandler):
    """Answers every request head on a keep-alive connection with the canned JSON."""

    def handle(self) -> None:
        buf = b""
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                self.request.sendall(_ANSWER)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, n: int, backend_port: int, port: int) -> Path:
    """P7's config: ``n`` endpoints, one backend each (``deny`` on one field), as bench/extras.py."""
    backend = {"url_pattern": "/small.json", "deny": ["email"], "host": [f"http://127.0.0.1:{backend_port}"]}
    endpoints = [{"endpoint": f"/e{i}/items/{{id}}", "backend": [backend]} for i in range(n)]
    doc = {"version": 3, "name": f"startup: {n} endpoints", "port": port, "timeout": "3s", "endpoints": endpoints}
    path = folder / f"startup-{n}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def _probe(port: int, path: str) -> bool:
    """One GET; True when it answered 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            return s.recv(12)[9:12] == b"200"
    except OSError:
        return False


def one_start(
    argv: list[str], port: int, path: str, env: dict[str, str], deadline: float = 30.0
) -> tuple[float, float]:
    """Start ``argv``; (seconds to the first 200, CPU seconds of its processes then). Always stopped."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        while not _probe(port, path):
            if proc.poll() is not None:
                raise RuntimeError(f"krakenpy exited with {proc.returncode} before answering")
            if time.monotonic() - t0 > deadline:
                raise RuntimeError(f"no 200 within {deadline} s")
            time.sleep(0.002)
        return time.monotonic() - t0, cpu_seconds(proc.pid)
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(5.0)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


#: /proc/PID/status and smaps_rollup fields shown by ``--rss`` (KiB)
_MEMORY = ("VmRSS", "RssAnon", "RssFile", "Pss", "Private_Clean", "Private_Dirty")


def memory_kib(pid: int) -> dict[str, int]:
    """One process's memory in KiB: RSS (anonymous and file-backed), PSS and USS (private pages)."""
    found: dict[str, int] = {}
    for name in (f"/proc/{pid}/status", f"/proc/{pid}/smaps_rollup"):
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in _MEMORY:
                found[key] = int(rest.split()[0])
    found["USS"] = found.pop("Private_Clean", 0) + found.pop("Private_Dirty", 0)
    return found


def idle_memory(argv: list[str], port: int, path: str, env: dict[str, str], settle: float) -> list[str]:
    """Start ``argv``; ``settle`` seconds after the first 200, each process's memory (as P7 reads it:
    bench/extras.py takes the largest VmRSS). One line per process, the supervisor first."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.monotonic()
        while not _probe(port, path):
            if proc.poll() is not None or time.monotonic() - t0 > 30.0:
                raise RuntimeError("krakenpy did not answer")
            time.sleep(0.002)
        time.sleep(settle)
        lines = []
        for pid in tree(proc.pid):
            role = "supervisor" if pid == proc.pid else "worker"
            mem = memory_kib(pid)
            lines.append(f"  {role:<10} " + "  ".join(f"{k} {v / 1024:5.1f}" for k, v in mem.items()) + " MiB")
        return lines
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5.0)


def importtime(argv: list[str], port: int, path: str, env: dict[str, str], top: int) -> None:
    """One start under ``-X importtime``: the ``top`` slowest imports, cumulative."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([argv[0], "-X", "importtime", *argv[1:]], env=env, stderr=err, start_new_session=True)
        try:
            t0 = time.monotonic()
            while not _probe(port, path) and time.monotonic() - t0 < 30.0 and proc.poll() is None:
                time.sleep(0.002)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5.0)
        err.seek(0)
        rows = []
        for line in err.read().decode(errors="replace").splitlines():
            if line.startswith("import time:") and "|" in line and "cumulative" not in line:
                _, spent, name = line.split("|", 2)
                rows.append((int(spent), name.rstrip()))
    seen = len(rows)
    rows.sort(reverse=True)
    print(f"{seen} modules imported; the slowest (cumulative µs):")
    for micros, module in rows[:top]:
        print(f"{micros:>9,}  {module}")


def instructions(argv: list[str], port: int, path: str, env: dict[str, str], folder: Path) -> tuple[int, list[str]]:
    """One start under valgrind's callgrind (every process), stopped at the first 200: the instructions
    executed, start-up plus a short shutdown, and one line per process. Reproducible where the wall
    and CPU times are not (a shared machine); ~50x slower. ``--dump-before=fork`` writes and zeroes
    the counters at every fork, so a child counts only its own work and the sum over every dump is
    the start's (a worker forked with the supervisor's counts, as before round 10, made the largest
    single count the start's: that misses the work of a second child, such as the schema check's)."""
    out = folder / "callgrind.%p"
    cmd = ["valgrind", "--tool=callgrind", "--dump-before=fork", f"--callgrind-out-file={out}"]
    cmd += [f"--log-file={folder}/valgrind.%p", *argv]
    one_start(cmd, port, path, env, deadline=600.0)
    by_pid: dict[str, int] = {}
    for dump in folder.glob("callgrind.*"):
        found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
        pid = dump.name.split(".")[1]
        by_pid[pid] = by_pid.get(pid, 0) + (int(found.group(1)) if found else 0)
    lines = [f"  pid {pid}: {count / 1e6:,.0f} M" for pid, count in sorted(by_pid.items(), key=lambda i: int(i[0]))]
    return sum(by_pid.values()), lines


def _all_cpu(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, with the children each reaped, in seconds."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def reload_cpu(argv: list[str], port: int, path: str, env: dict[str, str], reloads: int) -> float:
    """CPU seconds per ``SIGHUP`` reload of ``argv`` (a 2-worker ``run`` logging at INFO), each reload
    waited for until "applied by 2/2 workers"."""
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    seen = threading.Condition()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with seen:
                lines.append(line)
                seen.notify_all()

    def wait_for(pattern: str, count: int = 1, timeout: float = 60.0) -> None:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with seen:
            while sum(1 for line in lines if regex.search(line)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no {pattern!r}: {''.join(lines[-20:])}")
                seen.wait(min(left, 0.2))

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(r"listening on .*worker", 2)
        while not _probe(port, path):
            time.sleep(0.01)
        time.sleep(1.0)  # the start-up's last work done
        before = _all_cpu(proc.pid)
        for number in range(1, reloads + 1):
            proc.send_signal(signal.SIGHUP)
            wait_for(rf"reload {number} applied by 2/2 workers")
        return (_all_cpu(proc.pid) - before) / reloads
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--endpoints", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7, help="starts; the best and the median are shown")
    parser.add_argument("--client", default="fast", help="KRAKENPY_HTTP_CLIENT")
    parser.add_argument("--cpus", default="", help="pin krakenpy with taskset (the bench's P7: 0)")
    parser.add_argument("--importtime", type=int, default=0, metavar="TOP", help="print the TOP slowest imports")
    parser.add_argument(
        "--instructions", action="store_true", help="one start under callgrind: instructions until stopped"
    )
    parser.add_argument(
        "--rss", type=int, default=0, metavar="STARTS", help="each process's memory 1 s after the first 200"
    )
    parser.add_argument(
        "--reloads", type=int, default=0, metavar="N", help="CPU per SIGHUP reload of a 2-worker gateway, N reloads"
    )
    parser.add_argument("--keep", default="", help="with --instructions: copy the callgrind files here")
    parser.add_argument("--python", default=sys.executable, help="the interpreter (another venv: a baseline)")
    parser.add_argument("--cwd", default=str(ROOT), help="run from here (another checkout: a baseline)")
    args = parser.parse_args(argv)

    backend = _Backend(("127.0.0.1", 0), _Answer)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    env = dict(os.environ, KRAKENPY_HTTP_CLIENT=args.client, PYTHONPATH=args.cwd)
    # compiled modules as an installed krakenpy has them: without this (set in some shells and CI
    # images) every start compiles the sources again, a third of the instructions of a fresh tree
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            config = write_config(Path(tmp), args.endpoints, backend.server_address[1], port)
            cmd = [args.python, "-m", "krakenpy", "run", "-c", str(config), "--workers", "1"]
            cmd += ["--log-level", "WARNING"]
            path = f"/e{args.endpoints - 1}/items/7"
            os.chdir(args.cwd)
            one_start(cmd, port, path, env)  # untimed: writes the bytecode caches of a fresh tree
            if args.reloads:
                reloading = [*cmd[: cmd.index("--workers")], "--workers", "2", "--log-level", "INFO"]
                cpus = [reload_cpu(reloading, port, path, env, args.reloads) for _ in range(args.runs)]
                print(f"{args.endpoints} endpoints, 2 workers, {args.runs} x {args.reloads} reloads, CPU per reload:")
                print(f"  best {min(cpus) * 1000:.0f} ms  median {statistics.median(cpus) * 1000:.0f} ms")
                print("  each: " + ", ".join(f"{c * 1000:.0f}" for c in cpus))
                return 0
            if args.importtime:
                importtime(cmd, port, path, env, args.importtime)
                return 0
            if args.rss:
                for i in range(args.rss):
                    print(f"start {i + 1}, 1 s after the first 200 (MiB):")
                    print("\n".join(idle_memory(cmd, port, path, env, 1.0)))
                return 0
            if args.instructions:
                count, lines = instructions(cmd, port, path, env, Path(tmp))
                if args.keep:
                    for dump in Path(tmp).glob("callgrind.*"):
                        shutil.copy(dump, args.keep)
                print(f"{count / 1e6:,.0f} M instructions (exec → first 200 → stop), every process:")
                print("\n".join(lines))
                return 0
            walls, cpus = [], []
            for _ in range(args.runs):
                pinned = ["taskset", "-c", args.cpus] if args.cpus else []
                wall, cpu = one_start([*pinned, *cmd], port, path, env)
                walls.append(wall)
                cpus.append(cpu)
            print(f"{args.endpoints} endpoints, 1 worker, {args.runs} starts (exec → first 200):")
            print(f"  wall  best {min(walls) * 1000:.0f} ms  median {statistics.median(walls) * 1000:.0f} ms")
            print(f"  CPU   best {min(cpus) * 1000:.0f} ms  median {statistics.median(cpus) * 1000:.0f} ms")
            print("  wall: " + ", ".join(f"{w * 1000:.0f}" for w in walls))
    finally:
        backend.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
