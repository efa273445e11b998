"""What is measured: the rows of the table (scenario × system under test) and how they are run.

All servers are started once, then the loads run interleaved (row 1..n, run 1, then row 1..n, run 2,
...) so that drift on the shared machine hits every row alike. The SUT is pinned to CPU 0; wrk and
the nginx backend to CPU 1 (performance.md).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.interleave import interleave, pair_stats
from bench.loadgen import Load, WrkResult, run_wrk
from bench.peers import BACKEND_PORT, CADDY_PORT, NGINX_PROXY_PORT, REDIS_PORT, caddy_config, nginx_config
from bench.procs import Processes, Started, http_get, http_get_headers, http_post, port_free, wait_http

__all__ = ["SCENARIOS", "Case", "Row", "Settings", "run_loads", "start_backend"]

SCENARIOS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "CORS", "T", "Q", "JWT")
#: traffic-control rows (scenario Q): P1's endpoint with one qos component each, compared with P1
QOS_ROWS = (
    ("kp-q-ratelimit", "q-ratelimit.json", ", router rate limit"),
    ("kp-q-breaker", "q-breaker.json", ", circuit breaker"),
    ("kp-q-cache", "q-cache.json", ", HTTP cache hit"),
    ("kp-q-redis", "q-redis.json", ", Redis rate limit"),
)
CONFIGS = Path(__file__).resolve().parent / "configs"
#: generated inputs (JWT keys and configs): never committed
BENCH_WORK = Path(__file__).resolve().parent / ".work"
#: server key → generated config path (JWT rows)
JWT_CONFIGS: dict[str, str] = {}
SUT_CPUS = "0"
LOAD_CPUS = "1"

#: the P8 request body (valid for bench/configs/p8.json's schema)
P8_BODY = b'{"name": "Ada Lovelace", "email": "ada@example.com", "age": 36, "tags": ["math", "engines"]}'
#: and one its schema rejects (the probe checks the 400: validation is really on)
P8_INVALID = b'{"name": "", "email": "nope", "age": -1}'

#: peer comparison groups: (path on the peers, connections)
GROUPS = {"small": ("/small.json", 50), "large": ("/large.json", 50), "small-c200": ("/small.json", 200)}
#: the Origin the CORS row sends (allowed by bench/configs/p1-cors.json)
CORS_ORIGIN = "https://app.example.com"


@dataclass(frozen=True)
class Settings:
    runs: int
    seconds: float
    warmup: float
    clients: tuple[str, ...]  # upstream clients to compare on P1/P2 (KRAKENPY_HTTP_CLIENT)
    primary: str  # the client used for P3, P5, P6
    only: frozenset[str]
    #: an older krakenpy (git revision, exported tree) also run on P1/P2: before/after in one run
    baseline: tuple[str, Path] | None = None
    #: ``--interleave``: a row with a baseline runs as that many B slices between A slices of its
    #: baseline (A B A ... B A, :mod:`bench.interleave`), each ``slice_seconds`` long, instead of runs
    slices: int = 0
    slice_seconds: float = 1.0


@dataclass(frozen=True)
class Case:
    scenario: str  # P1..P6, or "peer"
    label: str
    target: str  # key of a started server
    path: str
    group: str
    connections: int = 50
    baseline: str | None = None  # case key this row is compared with (P3 vs P1, P6 vs P1)
    body: bytes = b""  # a JSON body: every request is a POST with it (P8)
    headers: tuple[tuple[str, str], ...] = ()  # request headers wrk sends (the CORS row's Origin)

    @property
    def key(self) -> str:
        return f"{self.scenario}|{self.label}|{self.path}|{self.connections}"


@dataclass
class Row:
    case: Case
    runs: list[WrkResult] = field(default_factory=list)
    note: str = ""
    #: the baseline row measured again right before each of this row's runs (rows with a baseline):
    #: this shared VM's speed drifts by tens of percent within minutes, so a ratio is taken between
    #: two runs seconds apart, not between runs minutes apart in one round
    pairs: list[WrkResult] = field(default_factory=list)
    #: with ``--interleave``: the baseline's slices around this row's (one more than ``runs``; ``runs``
    #: then holds this row's slices)
    interleaved: list[WrkResult] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None


@dataclass
class Server:
    started: Started
    base: str


def _kp_label(client: str, extra: str = "") -> str:
    return f"krakenpy [{client}{extra}]"


def plan(settings: Settings) -> list[Case]:
    """The rows for the selected scenarios, peers included for every comparison group used."""
    cases: list[Case] = []
    only = settings.only
    primary = settings.primary
    p1_primary = Case("P1", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small").key
    if "P1" in only:
        cases += [Case("P1", _kp_label(c), f"kp-p1-{c}", "/p1", "small") for c in settings.clients]
        cases += [Case("P1", _kp_label(c) + " 10 KB", f"kp-p1-{c}", "/p1-large", "large") for c in settings.clients]
        # the loop choice: the rows without a loop in their label run on uvloop, krakenpy run's default
        cases.append(Case("P1", _kp_label(primary, ", asyncio"), "kp-p1-asyncio", "/p1", "small", baseline=p1_primary))
    if "P2" in only:
        cases += [Case("P2", _kp_label(c), f"kp-p2-{c}", "/p2", "small") for c in settings.clients]
    if settings.baseline is not None:
        label = f"krakenpy@{settings.baseline[0]} [{primary}]"
        if "P1" in only:
            cases.append(Case("P1", label, "kp-p1-base", "/p1", "small"))
        if "P2" in only:
            cases.append(Case("P2", label, "kp-p2-base", "/p2", "small"))
    if "P3" in only:
        cases.append(Case("P3", _kp_label(primary, ", lua pre+post"), "kp-p3", "/p3", "small", baseline=p1_primary))
        # a pair that reads and branches: run in Lua (P3's own pair only calls setters: no Lua entered)
        label = _kp_label(primary, ", lua pre+post, general")
        cases.append(Case("P3", label, "kp-p3-general", "/p3", "small", baseline=p1_primary))
        if "P1" not in only:
            cases.append(Case("P1", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small"))
    if "P8" in only:
        plain = Case("P8", _kp_label(primary, ", POST"), "kp-p8", "/p8-plain", "small", body=P8_BODY)
        cases.append(plain)
        label = _kp_label(primary, ", POST + json-schema + CEL")
        cases.append(Case("P8", label, "kp-p8", "/p8", "small", baseline=plain.key, body=P8_BODY))
    if "JWT" in only:  # P1's endpoint behind auth/validator, a valid token on every request
        from bench.jwt_material import jwt_rows

        for alg, (config, token) in jwt_rows(BENCH_WORK, CONFIGS / "p1.json").items():
            bearer = (("Authorization", f"Bearer {token}"),)
            label = _kp_label(primary, f", auth/validator {alg}")
            cases.append(
                Case("JWT", label, f"kp-jwt-{alg.lower()}", "/p1", "small", baseline=p1_primary, headers=bearer)
            )
            JWT_CONFIGS[f"kp-jwt-{alg.lower()}"] = str(config)
        if not only & {"P1", "P3", "CORS"}:
            cases.append(Case("P1", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small"))
    if "CORS" in only:
        origin = (("Origin", CORS_ORIGIN),)
        label = _kp_label(primary, ", CORS, allowed Origin")
        cases.append(Case("CORS", label, "kp-p1-cors", "/p1", "small", baseline=p1_primary, headers=origin))
        if not only & {"P1", "P3", "JWT"}:
            cases.append(Case("P1", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small"))
    if "T" in only:  # telemetry on vs off in one run (P1's endpoint; the access log goes to /dev/null)
        off = Case("T", _kp_label(primary, ", telemetry off"), "kp-t-off", "/p1", "small")
        cases.append(off)
        for extra, target in (
            (", access log + request id", "kp-t-log"),
            (", + /__stats", "kp-t-stats"),
            (", + Prometheus", "kp-t-prom"),
            (", + /__stats + Prometheus", "kp-t-metrics"),
            (", + 100 % traces", "kp-t-traces"),
        ):
            cases.append(Case("T", _kp_label(primary, extra), target, "/p1", "small", baseline=off.key))
    if "P5" in only:
        cases.append(Case("P5", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small-c200", 200))
        cases.append(Case("P5", _kp_label(primary, ", asyncio"), "kp-p1-asyncio", "/p1", "small-c200", 200))
    if "P6" in only:
        cases.append(Case("P6", _kp_label(primary, ", 2 workers"), "kp-p6", "/p1", "small", baseline=p1_primary))
        if "P1" not in only and "P3" not in only:
            cases.append(Case("P6", _kp_label(primary, ", 1 worker"), f"kp-p1-{primary}", "/p1", "small"))
    if "Q" in only:
        for key, _, extra in QOS_ROWS:
            cases.append(Case("Q", _kp_label(primary, extra), key, "/p1", "small", baseline=p1_primary))
        if "P1" not in only:
            cases.append(Case("P1", _kp_label(primary), f"kp-p1-{primary}", "/p1", "small"))
    groups = sorted({c.group for c in cases}, key=list(GROUPS).index)
    peers: list[Case] = []
    for g in groups:
        path, conns = GROUPS[g]
        if g == "small":
            peers.append(Case("peer", "nginx backend, direct", "backend", path, g, conns))
        peers.append(Case("peer", "nginx proxy", "nginx-proxy", path, g, conns))
        peers.append(Case("peer", "Caddy reverse_proxy", "caddy", path, g, conns))
    return peers + cases


def start_backend(procs: Processes, work: Path) -> Server:
    """The nginx backend (1 worker) on the load CPU; returns once it answers."""
    conf = nginx_config(work, "backend")
    started = procs.start("nginx-backend", ["nginx", "-p", str(work), "-c", str(conf)], LOAD_CPUS)
    server = Server(started, f"http://127.0.0.1:{BACKEND_PORT}")
    wait_http(server.base + "/small.json", started.proc)
    return server


def _start_servers(procs: Processes, work: Path, cases: list[Case], settings: Settings) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    needed = {c.target for c in cases} | {"backend"}
    py = sys.executable

    def kp(
        key: str,
        config: str,
        client: str,
        workers: int = 1,
        # named, not auto: a missing uvloop stops the bench instead of measuring asyncio unnoticed, and a
        # --baseline tree older than --loop auto runs on the same loop
        loop: str = "uvloop",
        cpus: str = SUT_CPUS,
        tree: Path | None = None,
    ) -> None:
        port = 18090 + len([k for k in servers if k.startswith("kp-")])
        argv = [py, "-m", "krakenpy", "run", "-c", str(CONFIGS / config), "-p", str(port)]
        argv += ["--workers", str(workers), "--loop", loop, "--log-level", "WARNING"]
        # a baseline runs from its exported tree: `python -m` puts the working directory first on the path
        started = procs.start(key, argv, cpus, env={"KRAKENPY_HTTP_CLIENT": client}, cwd=tree)
        servers[key] = Server(started, f"http://127.0.0.1:{port}")

    for port in (BACKEND_PORT, NGINX_PROXY_PORT, CADDY_PORT, REDIS_PORT, *range(18090, 18099)):
        if not port_free(port):
            raise SystemExit(f"bench: port {port} on 127.0.0.1 is busy; stop what uses it and retry")
    servers["backend"] = start_backend(procs, work)
    if "nginx-proxy" in needed:
        conf = nginx_config(work, "proxy")
        servers["nginx-proxy"] = Server(
            procs.start("nginx-proxy", ["nginx", "-p", str(work), "-c", str(conf)], SUT_CPUS),
            f"http://127.0.0.1:{NGINX_PROXY_PORT}",
        )
    if "caddy" in needed:
        caddyfile = caddy_config(work)
        home = work / "caddy-home"
        home.mkdir(exist_ok=True)
        env = {"HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
        argv = ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
        servers["caddy"] = Server(procs.start("caddy", argv, SUT_CPUS, env=env), f"http://127.0.0.1:{CADDY_PORT}")
    for client in settings.clients:
        if f"kp-p1-{client}" in needed:
            kp(f"kp-p1-{client}", "p1.json", client)
        if f"kp-p2-{client}" in needed:
            kp(f"kp-p2-{client}", "p2.json", client)
    if settings.baseline is not None:
        for key, config in (("kp-p1-base", "p1.json"), ("kp-p2-base", "p2.json")):
            if key in needed:
                kp(key, config, settings.primary, tree=settings.baseline[1])
    if "kp-p1-asyncio" in needed:
        kp("kp-p1-asyncio", "p1.json", settings.primary, loop="asyncio")
    if "kp-p3" in needed:
        kp("kp-p3", "p3.json", settings.primary)
    if "kp-p3-general" in needed:
        kp("kp-p3-general", "p3-general.json", settings.primary)
    if "kp-p8" in needed:
        kp("kp-p8", "p8.json", settings.primary)
    if "kp-p1-cors" in needed:
        kp("kp-p1-cors", "p1-cors.json", settings.primary)
    for key, config in JWT_CONFIGS.items():  # absolute paths: CONFIGS / path keeps them
        if key in needed:
            kp(key, config, settings.primary)
    for name in ("t-off", "t-log", "t-stats", "t-prom", "t-metrics", "t-traces"):
        if f"kp-{name}" in needed:
            kp(f"kp-{name}", f"{name}.json", settings.primary)
    if "kp-p6" in needed:
        kp("kp-p6", "p1.json", settings.primary, workers=2, cpus=f"{SUT_CPUS},{LOAD_CPUS}")
    if "kp-q-redis" in needed:
        argv = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        procs.start("redis", argv, LOAD_CPUS)
    for key, config, _ in QOS_ROWS:
        if key in needed:
            kp(key, config, settings.primary)
    return servers


def _probe(server: Server, case: Case) -> str | None:
    """Check the row's URL answers 200 (and, for P3, that the Lua post hook ran). ``None`` = fine."""
    try:
        # a POST row's path answers only POSTs, a JWT row's only with its token: wait on the health path
        guarded = bool(case.body) or case.scenario == "JWT"
        wait_http(server.base + ("/__health" if guarded else case.path), server.started.proc, deadline=20.0)
        if case.body:
            status, body = http_post(server.base + case.path, case.body)
        elif case.headers:
            status, _ = http_get_headers(server.base + case.path, dict(case.headers))
            body = b""
        else:
            status, body = http_get(server.base + case.path)
    except (OSError, RuntimeError) as exc:
        return f"skipped: {exc}"
    if status != 200:
        return f"skipped: {case.path} answered {status}"
    if case.scenario == "P8" and case.baseline:
        rejected, _ = http_post(server.base + case.path, P8_INVALID)
        if rejected != 400:
            return f"skipped: an invalid body answered {rejected}, not 400 (validation not functional)"
    if case.scenario == "JWT":
        anonymous, _ = http_get_headers(server.base + case.path, {})
        if anonymous != 401:
            return f"skipped: without a token {case.path} answered {anonymous}, not 401 (validation not functional)"
    if case.scenario == "CORS":
        _, headers = http_get_headers(server.base + case.path, dict(case.headers))
        if headers.get("Access-Control-Allow-Origin") != CORS_ORIGIN:
            return "skipped: security/cors is not functional (no Access-Control-Allow-Origin for the Origin)"
    if case.scenario == "P3":
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or doc.get("lua") is not True:
            return "skipped: modifier/lua-proxy is not functional yet (the post script did not set `lua`)"
    return None


def _post_script(work: Path, body: bytes) -> str:
    """A wrk script that makes every request a JSON POST with ``body``."""
    path = work / "post.lua"
    text = body.decode().replace("\\", "\\\\").replace("'", "\\'")
    path.write_text(f"wrk.method = 'POST'\nwrk.body = '{text}'\nwrk.headers['Content-Type'] = 'application/json'\n")
    return str(path)


def run_loads(procs: Processes, work: Path, settings: Settings) -> list[Row]:
    cases = plan(settings)
    if not cases:
        return []
    servers = _start_servers(procs, work, cases, settings)
    rows = [Row(c) for c in cases]
    for row in rows:
        server = servers.get(row.case.target)
        if server is None:
            row.note = "skipped: not installed"
            continue
        problem = _probe(server, row.case)
        if problem:
            row.note = problem
            tail = procs.tail(server.started, 5)
            print(f"bench: {row.case.scenario} {row.case.label}: {problem}\n{tail}", flush=True)
    active = [r for r in rows if not r.note]
    keyed = {r.case.key: r for r in active}

    def measure(row: Row, run: int, seconds: float) -> WrkResult:
        server = servers[row.case.target]
        case = row.case
        script = _post_script(work, case.body) if case.body else None
        # P8's POST body (a wrk script) and the CORS/JWT rows' headers: one Load carries both
        load = Load(server.base + case.path, case.connections, seconds, LOAD_CPUS, script=script, headers=case.headers)
        if run == 0 and settings.warmup > 0:
            warm = Load(load.url, load.connections, settings.warmup, LOAD_CPUS, script=script, headers=case.headers)
            run_wrk(warm, None)
        return run_wrk(load, server.started.pid)

    if settings.slices:
        for row in active:
            base = keyed.get(row.case.baseline or "")
            if base is not None:
                _interleave(row, base, measure, settings)
    for run in range(settings.runs):
        for row in active:
            base = keyed.get(row.case.baseline or "")
            if base is not None and settings.slices:
                continue  # measured as interleaved slices above
            if base is not None:  # the baseline again, right before: the pair for this row's ratio
                row.pairs.append(measure(base, 1, settings.seconds))
            res = measure(row, run, settings.seconds)
            row.runs.append(res)
            paired = f"  (baseline just before: {row.pairs[-1].rps:.0f} rps)" if base is not None else ""
            print(
                f"  run {run + 1}/{settings.runs}  {row.case.scenario:4} {row.case.label:40} "
                f"c={row.case.connections:<3} {res.rps:9.0f} rps  p99 {res.p99_ms:7.2f} ms  "
                f"{res.cpu_us_per_req or 0:6.1f} µs/req  timeouts {res.timeouts} errors {res.errors}{paired}",
                flush=True,
            )
    return rows


def _interleave(row: Row, base: Row, measure: Callable[[Row, int, float], WrkResult], settings: Settings) -> None:
    """``row`` against ``base`` in alternating slices (both warmed up first, servers kept running)."""
    for r in (base, row):
        measure(r, 0, settings.slice_seconds)  # run 0 warms up; the slice itself is dropped
    seconds = settings.slice_seconds
    row.interleaved, row.runs = interleave(
        lambda: measure(base, 1, seconds), lambda: measure(row, 1, seconds), settings.slices
    )
    stats = pair_stats(row.interleaved, row.runs)
    cpu = f", {stats.cpu_extra:+.1f} µs/req" if stats.cpu_extra is not None else ""
    print(
        f"  {settings.slices} slices  {row.case.scenario:4} {row.case.label:40} "
        f"{stats.median * 100:5.1f} % of the baseline's rps (middle half {stats.q1 * 100:.1f}–{stats.q3 * 100:.1f} %, "
        f"all {stats.low * 100:.1f}–{stats.high * 100:.1f} %){cpu}; slices "
        + " ".join(f"{x.rps:.0f}" for x in row.runs)
        + " against "
        + " ".join(f"{x.rps:.0f}" for x in row.interleaved),
        flush=True,
    )
