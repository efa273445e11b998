"""``python -m bench.instructions``: machine instructions per request of krakenpy's in-process request
path, counted by valgrind's callgrind (reproducible on a shared machine, unlike wall or CPU time).

Each configuration is run twice under callgrind, with ``--short`` and ``--long`` requests through the
edge handler against a canned in-process backend (``bench/wire_micro.py``'s); the difference divided by
the difference in requests is the cost of one request, start-up and warm-up cancelled out. Compare two
revisions by running it on both (``git stash``/a worktree). Needs ``valgrind`` (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

CONFIGS: dict[str, dict[str, object]] = {
    "p1": {},
    "p1-no-telemetry": {"router": {"disable_access_log": True}, "telemetry/access_log": {"request_id_header": ""}},
    "p1-no-access-log": {"router": {"disable_access_log": True}},
    # P1 without the request id forwarded to the backend (returned and logged as in P1)
    "p1-no-forward": {"telemetry/access_log": {"forward_request_id": False}},
    # the bench's T access-log row: the default access log written to a file instead of stdout
    "p1-log-file": {"telemetry/access_log": {"stdout": False, "file": "/dev/null"}},
    "p2": {},
    "p2-no-telemetry": {"router": {"disable_access_log": True}, "telemetry/access_log": {"request_id_header": ""}},
    # P1's endpoint behind auth/validator (a local JWK set, the same token on every request: the
    # cache-hit path); keys and token are made once by ``main`` (bench.jwt_material), outside valgrind
    "p1-jwt-rs256": {},
    "p1-jwt-hs256": {},
    # P1 with the RS256 row's Authorization header but no validator: what carrying the token costs
    "p1-bearer": {},
    # the bench's T rows (bench/configs/t-metrics.json, t-traces.json: their extra_config, loaded by
    # ``_doc``): + /__stats + Prometheus, + 100 % traces over OTLP/HTTP (to the canned backend)
    "p1-metrics": {},
    # each metrics system alone (t-stats.json, t-prom.json), as every corpus config with metrics has it:
    # ``telemetry/metrics``'s /__stats or ``telemetry/opentelemetry``'s Prometheus exporter, never both
    "p1-stats": {},
    "p1-prom": {},
    "p1-traces": {},
    # the same with a sample rate that samples (in effect) no request: what tracing costs a request it
    # does not record (the trace id drawn, the decision, the traceparent sent to the backend)
    "p1-traces-unsampled": {},
    # p1-metrics with the backend metrics object present and round_trip only: detailed_connection and
    # read_payload off (absent, krakend-otel turns them on: p1-metrics pays for them)
    "p1-metrics-rt": {},
    # P1's endpoint with bench/configs/p3.json's modifier/lua-proxy pair (pre sets a header, post a data key)
    "p3": {},
    # the same with p3-general.json's pair, which reads and branches: it runs in Lua (no setter plan)
    "p3-general": {},
    # P1 behind plugin/http-server's ip-filter: an allow-list of four networks, the client (127.0.0.1)
    # in the last, read from the connection as no forwarding header is sent
    "p1-ip-filter": {
        "plugin/http-server": {
            "name": ["ip-filter"],
            "ip-filter": {"CIDR": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "127.0.0.0/8"], "allow": True},
        }
    },
    # P1's endpoint with two security/policies req policies (a variable, a macro): their cost per request
    "p1-policies": {},
    # P1 as ``/p1/{token}`` (a sensitive path parameter, the default access log): what masking the
    # token in the gin line costs a request
    "p1-path-secret": {},
    # the same route with a parameter that is no secret (``/p1/{id}``): the baseline of the row above
    "p1-path-param": {},
}
#: the T rows' configuration files; their listeners bind port 0, the OTLP target is the sink
#: (``wire_micro._Sink``)
_T_FILES = {
    "p1-metrics": "t-metrics.json", "p1-traces": "t-traces.json", "p1-metrics-rt": "t-metrics.json",
    "p1-traces-unsampled": "t-traces.json", "p1-stats": "t-stats.json", "p1-prom": "t-prom.json",
}  # fmt: skip
#: the ``telemetry/opentelemetry`` layers a row sets over its file's
_T_LAYERS: dict[str, dict[str, object]] = {"p1-metrics-rt": {"backend": {"metrics": {"round_trip": True}}}}
#: the ``telemetry/opentelemetry`` sample rate a row sets over its file's (a ratio below one in a
#: billion: a trace id drawn per request, in effect none sampled)
_T_RATES: dict[str, float] = {"p1-traces-unsampled": 1e-9}
#: the p1-policies row's two policies: one reads a variable, one calls a macro
_POLICIES = ["req_method == 'GET'", "!hasQuerystring('debug')"]
#: the ``--drive`` child's validator value and token, as JSON (set by ``main`` for the JWT rows)
_JWT_ENV = "KRAKENPY_BENCH_JWT"
#: the log writer's batch interval in the ``--drive`` child (``--writer-interval``)
_INTERVAL_ENV = "KRAKENPY_BENCH_WRITER_INTERVAL"
#: the OTLP exporter's span interval in the ``--drive`` child (``--span-interval``)
_SPAN_INTERVAL_ENV = "KRAKENPY_BENCH_SPAN_INTERVAL"
#: the metrics folder's tick period in the ``--drive`` child (``--fold-period``)
_FOLD_PERIOD_ENV = "KRAKENPY_BENCH_FOLD_PERIOD"
#: the ``--drive`` child's number of client connections (``--clients``; server modes)
_CLIENTS_ENV = "KRAKENPY_BENCH_CLIENTS"


def _clients() -> int:
    return int(os.environ.get(_CLIENTS_ENV, "1"))


def _jwt_env(name: str, work: str) -> dict[str, str]:
    """The validator value and token of a JWT row, made once (key generation is not measured)."""
    if not name.startswith("p1-jwt-") and name != "p1-bearer":
        return {}
    from bench.jwt_material import jwt_rows

    alg = "RS256" if name == "p1-bearer" else name.rsplit("-", 1)[1].upper()
    config, token = jwt_rows(Path(work), Path(__file__).parent / "configs" / "p1.json")[alg]
    validator = orjson.loads(config.read_bytes())["endpoints"][0]["extra_config"]["auth/validator"]
    return {_JWT_ENV: orjson.dumps([validator, token]).decode()}


def _doc(name: str, port: int, sink: int) -> tuple[dict[str, object], str, dict[str, str]]:
    """The configuration ``name`` against the canned backend on ``port`` (its OTLP exporter's target:
    the sink on ``sink``, ``wire_micro._Sink``), the path to request and the
    extra request headers: ``p1*`` one backend with an allow-list (the JWT rows behind
    ``auth/validator`` with its bearer token, ``p1-bearer`` the token without a validator, ``p3`` with
    P3's Lua pair); ``p2*``
    P2's shape, two backends merged (an allow-list on one, ``group`` on the other)."""
    host = [f"http://127.0.0.1:{port}"]
    backends: list[dict[str, object]] = [{"host": host, "url_pattern": "/data", "allow": ["a", "b", "d"]}]
    if name.startswith("p2"):
        backends = [
            {"host": host, "url_pattern": "/data", "allow": ["a", "b", "d.e"]},
            {"host": host, "url_pattern": "/posts", "group": "activity"},
        ]
    path = "/" + name.split("-")[0]
    endpoint: dict[str, object] = {"endpoint": path, "backend": backends}
    extra: dict[str, str] = {}
    if name.startswith("p1-jwt-") or name == "p1-bearer":
        validator, token = orjson.loads(os.environ[_JWT_ENV])
        if name != "p1-bearer":
            endpoint["extra_config"] = {"auth/validator": validator}
        extra["Authorization"] = f"Bearer {token}"
    if name in ("p1-path-secret", "p1-path-param"):
        endpoint["endpoint"] = "/p1/{token}" if name == "p1-path-secret" else "/p1/{id}"
        path = "/p1/s3cr3t-t0k3n-4711"
    if name == "p1-policies":
        endpoint["extra_config"] = {"security/policies": {"req": {"policies": _POLICIES}}}
    if name in ("p3", "p3-general"):
        p3 = orjson.loads((Path(__file__).parent / "configs" / f"{name}.json").read_bytes())
        endpoint["extra_config"] = p3["endpoints"][0]["extra_config"]
    # 60 s, not KrakenD's 2 s: under valgrind on a busy machine a request queued behind 7 others took
    # longer and failed the count (2026-12-01, load ~18); a timer costs the same whatever its length
    doc = {"version": 3, "timeout": "60s", "endpoints": [endpoint], "extra_config": _extra(name, sink)}
    return doc, path, extra


def _extra(name: str, sink: int) -> dict[str, object]:
    """The service's extra_config: a T row's from its bench file, its listeners on free ports (a
    Prometheus port 0 means the default 9090) and its OTLP target the sink on ``sink``."""
    if name not in _T_FILES:
        return CONFIGS[name]
    extra: dict[str, Any] = orjson.loads((Path(__file__).parent / "configs" / _T_FILES[name]).read_bytes())[
        "extra_config"
    ]
    if "telemetry/metrics" in extra:
        extra["telemetry/metrics"]["listen_address"] = f"127.0.0.1:{_free_port()}"
    if name in _T_LAYERS:
        extra["telemetry/opentelemetry"]["layers"] = _T_LAYERS[name]
    if name in _T_RATES:
        extra["telemetry/opentelemetry"]["trace_sample_rate"] = _T_RATES[name]
    exporters = extra.get("telemetry/opentelemetry", {}).get("exporters", {})
    for exporter in exporters.get("prometheus", []):
        exporter["port"] = _free_port()
    for exporter in exporters.get("otlp", []):
        exporter["port"] = sink
    return extra


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Client:
    """A minimal keep-alive HTTP/1.1 client: one request at a time on one connection (cheap, so the
    count is the gateway's)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str, extra: dict[str, str]) -> int:
        more = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: bench\r\n{more}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        # the gateway's own spelling found first: lowering the whole head cost ~2 instructions a byte,
        # so a row whose answer carries one more header (the request id) paid ~0.3 k more for the
        # harness (round 26); any other spelling through the lowered head
        at = head.find(b"\r\nContent-Length: ")
        if at >= 0:
            length = int(head[at + 18 : head.index(b"\r\n", at + 18)])
        else:
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await self.reader.readexactly(length)
        return int(head[9:12])


async def _serve(name: str, n: int, lean: bool = True) -> None:
    """The whole server path on a loopback socket: the worker's server (``GatewayServer`` on the edge
    handler, as ``krakenpy run`` serves), or with ``lean=False`` aiohttp's web server through the
    adapter (the embedding path, and the runtime's before the lean protocol)."""
    from aiohttp import web

    from bench import wire_micro
    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway
    from krakenpy.server.adapter import make_server
    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer
    from krakenpy.server.worker import settle_gc

    runner_backend, port = await wire_micro._backend()
    runner_sink, sink = await wire_micro._sink()
    doc, path, extra = _doc(name, port, sink)
    gateway = await build_gateway(build_service(doc))
    await gateway.start()  # as the worker does: listeners, the stats ticker, the OTLP exporter
    settle_gc()
    loop = asyncio.get_running_loop()
    if lean:
        server = GatewayServer(gateway.edge, limits=ServerLimits())
        server.start_sweeping()
        listener = await loop.create_server(server, "127.0.0.1", 0)
        gw_port = listener.sockets[0].getsockname()[1]
    else:
        runner = web.ServerRunner(make_server(gateway.handler), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        gw_port = runner.addresses[0][1]
    clients = [_Client(*await asyncio.open_connection("127.0.0.1", gw_port)) for _ in range(_clients())]

    async def run(client: _Client, count: int) -> None:
        for _ in range(count):
            assert await client.get(path, extra) == 200

    # the requests shared out over the connections, which ask concurrently (loop steps then serve
    # several connections at once, as under load)
    await asyncio.gather(*(run(c, (200 + n) // len(clients)) for c in clients))
    for client in clients:
        client.writer.close()
    if lean:
        listener.close()
        await server.drain(1.0)
        server.stop_sweeping()
    else:
        await runner.cleanup()
    await gateway.close()
    runner_backend.close()
    runner_sink.close()


async def _drive(name: str, n: int) -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    from bench import wire_micro
    from krakenpy.config.build import build_service
    from krakenpy.edge import HttpRequest
    from krakenpy.gateway import build_gateway

    runner, port = await wire_micro._backend()
    runner_sink, sink = await wire_micro._sink()
    doc, path, extra = _doc(name, port, sink)
    gateway = await build_gateway(build_service(doc))
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "User-Agent": "bench", "Accept": "*/*", **extra}))
    for _ in range(200 + n):
        response = await gateway.edge(HttpRequest("GET", path, "", headers, remote="127.0.0.1", host="gw.example"))
        assert response.status == 200
    await gateway.close()
    runner.close()
    runner_sink.close()


def _call(name: str) -> Callable[[], object]:
    """One hot helper of the request path with P1's arguments (``--mode calls``): opcode counts
    mislead there (a C-level rewrite with fewer opcodes counted up to 2.4x the instructions)."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from bench.wire_micro import _RESPONSE
    from krakenpy.backends.fastwire import request_head
    from krakenpy.backends.http import _headers_out
    from krakenpy.backends.quickanswer import quick_answer
    from krakenpy.proxy.types import Request
    from krakenpy.server.wire import encode_response
    from krakenpy.telemetry.trace.context import compile_extract
    from krakenpy.telemetry.trace.sampler import Sampler

    headers = {"X-Forwarded-For": ["127.0.0.1"], "X-Forwarded-Host": ["gw.example"], "User-Agent": ["KrakenD"]}
    headers["X-Request-Id"] = ["5760b40c-49b9-48d7-ae82-79c398c7d545"]
    pairs = [(k, v[0]) for k, v in headers.items()] + [("Accept-Encoding", "gzip")]
    out = CIMultiDict((("Content-Type", "application/json; charset=utf-8"), ("X-Krakend", "Version 2.9")))
    out.update((("X-Krakend-Completed", "true"), ("X-Request-Id", pairs[3][1])))
    request = Request("GET", "/p2", {}, headers, {})
    # heads that never repeat within the short path's cache (512 > its 256 entries): its miss path
    end = _RESPONSE.index(b"\r\n\r\n")
    fresh = itertools.cycle([_RESPONSE[:end] + b"\r\nX-N: %d" % i + _RESPONSE[end:] for i in range(512)])
    # P1's list with a new request id per call (as the default row sends it), from a cycle of lists
    # made beforehand: request_head's path for a value that varies
    with_ids = itertools.cycle(
        [[*pairs[:3], ("X-Request-Id", f"5760b40c-49b9-48d7-ae82-{i:012x}"), pairs[4]] for i in range(4096)]
    )
    # the trace reader of telemetry/opentelemetry's default propagators, rate 1, on the usual
    # traceparent (flags 01, and 00) read from a request's header map
    extract = compile_extract(("tracecontext", "baggage"), Sampler(1.0))
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
    sampled = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "traceparent": traceparent + "01"})).get
    unsampled = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "traceparent": traceparent + "00"})).get
    calls: dict[str, Callable[[], object]] = {
        "quick_answer": lambda: quick_answer(_RESPONSE, 1 << 26),
        "quick_answer_new": lambda: quick_answer(next(fresh), 1 << 26),
        "request_head": lambda: request_head("GET", "/data", "127.0.0.1:8080", pairs, None, False),
        "request_head_id": lambda: request_head("GET", "/data", "127.0.0.1:8080", next(with_ids), None, False),
        "headers_out": lambda: _headers_out(headers, True),
        "encode_response": lambda: encode_response(200, out, b'{"a":1,"b":"two"}', "GET", True, False),
        "clone": request.clone,
        "extract_traceparent": lambda: extract(sampled),
        "extract_traceparent_00": lambda: extract(unsampled),
    }
    return calls[name]


CALLS = (
    "quick_answer", "quick_answer_new", "request_head", "request_head_id", "headers_out", "encode_response", "clone",
    "extract_traceparent", "extract_traceparent_00",
)  # fmt: skip


def opcodes(name: str, n: int, top: int = 20, loop: str = "asyncio") -> None:
    """The Python-level split (``--opcodes``, no valgrind): bytecodes executed and calls per request
    through the server, per function (``n`` requests minus 100, traced with ``sys.settrace``). Where
    the interpreter spends its steps; what a change saves is the callgrind count's to say."""
    import collections
    from types import CodeType, FrameType

    counts: collections.Counter[tuple[CodeType, bool]] = collections.Counter()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call":
            frame.f_trace_opcodes, frame.f_trace_lines = True, False
            counts[frame.f_code, True] += 1
        elif event == "opcode":
            counts[frame.f_code, False] += 1
        return trace

    async def traced(requests: int) -> None:
        sys.settrace(trace)
        try:
            await _serve(name, requests)
        finally:
            sys.settrace(None)

    runs = []
    for requests in (100, n):
        counts.clear()
        _run(traced(requests), loop)
        runs.append(counts.copy())
    per = {key: (runs[1][key] - runs[0][key]) / (n - 100) for key in runs[1]}
    total = sum(v for (_, call), v in per.items() if not call)
    print(f"{name}: {total:,.0f} opcodes/request", file=sys.__stdout__)
    rows = sorted(((v, code) for (code, call), v in per.items() if not call), key=lambda row: -row[0])
    for v, code in rows[:top]:
        where = code.co_filename.split("/lib/python3.11/")[-1].replace(os.getcwd() + "/", "")
        line = f"{v:8.0f} {per.get((code, True), 0):5.1f}  {where}:{code.co_firstlineno} {code.co_name}"
        print(line, file=sys.__stdout__)


def _run(main: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def _count(name: str, n: int, mode: str = "edge", env: dict[str, str] | None = None, loop: str = "asyncio") -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-m",
             "bench.instructions", "--drive", name, str(n), "--mode", mode, "--loop", loop],
            capture_output=True, text=True, check=True, env={**os.environ, **(env or {}), "PYTHONHASHSEED": "0"},
        )  # fmt: skip
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(out.stderr[-2000:])
    return int(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--long", type=int, default=1300)
    parser.add_argument("--only", default="", help="comma-separated configurations (default: all)")
    parser.add_argument(
        "--mode", choices=("edge", "server", "aiohttp", "calls"), default="edge",
        help="edge: the edge handler called directly; server: through the worker's server on a socket; "
        "aiohttp: through aiohttp's web server and the adapter (the embedding path); calls: instructions "
        f"per call of hot helpers ({', '.join(CALLS)}), --short/--long calls",
    )  # fmt: skip
    parser.add_argument(
        "--clients", type=int, default=1,
        help="server modes: connections asking concurrently (the counts divide evenly among them)",
    )  # fmt: skip
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio",
        help="the event loop of the measured process (krakenpy run's default is uvloop; asyncio here keeps "
        "the counts comparable with earlier ones); the bench's client shares the loop",
    )  # fmt: skip
    parser.add_argument(
        "--writer-interval", type=float, metavar="S",
        help="the log writer's batch interval in the measured process (valgrind slows a request ~100x: "
        "20 gives the batches a worker writes in the default 0.02 s at real speed)",
    )  # fmt: skip
    parser.add_argument(
        "--span-interval", type=float, metavar="S",
        help="the OTLP exporter's span interval in the measured process (default 0.5 s: under valgrind, "
        "~100x slower, a post leaves every few requests with a few dozen spans; 50 lets the batches "
        "fill to the 512 spans a worker posts at real speed)",
    )  # fmt: skip
    parser.add_argument(
        "--fold-period", type=float, metavar="S",
        help="the metrics folder's tick period in the measured process (default 1 s: under valgrind a tick "
        "lands every ~30 requests and the metrics row swings 4-21 k between counts of one tree, round 13; "
        "100 gives the ticks per request a worker has at real speed; the edge's own fold every 1,024 "
        "requests then falls outside --short/--long below 1,024: add it apart)",
    )  # fmt: skip
    parser.add_argument("--opcodes", type=int, metavar="N", help="the Python-level split over N requests, no valgrind")
    parser.add_argument("--drive", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_interval is not None:
        os.environ[_INTERVAL_ENV] = str(args.writer_interval)  # the --drive children inherit it
    if os.environ.get(_INTERVAL_ENV):
        from krakenpy.telemetry import writer

        writer.INTERVAL = float(os.environ[_INTERVAL_ENV])
    if args.span_interval is not None:
        os.environ[_SPAN_INTERVAL_ENV] = str(args.span_interval)  # the --drive children inherit it
    if os.environ.get(_SPAN_INTERVAL_ENV):
        from krakenpy.telemetry import export

        export.SPAN_INTERVAL = float(os.environ[_SPAN_INTERVAL_ENV])  # type: ignore[misc]
    if args.fold_period is not None:
        os.environ[_FOLD_PERIOD_ENV] = str(args.fold_period)  # the --drive children inherit it
    if os.environ.get(_FOLD_PERIOD_ENV):
        from krakenpy.telemetry import setup as telemetry_setup

        telemetry_setup.FOLD_PERIOD = float(os.environ[_FOLD_PERIOD_ENV])  # type: ignore[misc]
    if args.drive:
        sys.stdout = open(os.devnull, "w")  # the access log goes nowhere
        name, n = args.drive[0], int(args.drive[1])
        if args.mode == "calls":
            call = _call(name)
            for _ in range(n):
                call()
        elif args.mode == "edge":
            _run(_drive(name, n), args.loop)
        else:
            _run(_serve(name, n, lean=args.mode == "server"), args.loop)
        return
    if args.opcodes:
        sys.stdout = open(os.devnull, "w")  # the access log goes nowhere
        for name in args.only.split(",") if args.only else ("p1", "p2"):
            opcodes(name, args.opcodes, loop=args.loop)
        return
    names = args.only.split(",") if args.only else CALLS if args.mode == "calls" else tuple(CONFIGS)
    for name in names:
        if args.mode == "calls":
            per = (_count(name, args.long, "calls") - _count(name, args.short, "calls")) / (args.long - args.short)
            print(f"{name:20s} calls  {per / 1000:8.1f} k instructions/call", flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix="krakenpy-instructions-") as work:
            env = {**_jwt_env(name, work), _CLIENTS_ENV: str(args.clients)}
            long = _count(name, args.long, args.mode, env, args.loop)
            short = _count(name, args.short, args.mode, env, args.loop)
        served = [(200 + n) // args.clients * args.clients for n in (args.long, args.short)]  # shared out evenly
        per = (long - short) / (served[0] - served[1])
        clients = f" c={args.clients}" if args.clients > 1 else ""
        loop = f" {args.loop}" if args.loop != "asyncio" else ""
        print(f"{name:20s} {args.mode:6s}{clients}{loop} {per / 1000:8.1f} k instructions/request", flush=True)


if __name__ == "__main__":
    main()
