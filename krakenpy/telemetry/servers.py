"""The telemetry listeners: ``/__stats`` (``telemetry/metrics``, own address) and ``/metrics``
(each Prometheus exporter, own port). A busy address is logged and the gateway keeps serving, as
KrakenD does. They listen in one worker of ``krakenpy run`` (the first: a second could not bind the
port; with ``-w N`` it merges every worker's snapshot at a scrape: :mod:`.metrics.shared`), and a
reload hands the bound socket to the new configuration's listener of the same address and routes
(:func:`hand_over`), so a scrape never meets a closed port. Rendering yields to the event
loop between chunks of series, so a large scrape never holds the loop for long. They are served as
the gateway is (:mod:`krakenpy.server.side`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from krakenpy.server.side import Route, SideListener
from krakenpy.state import Key, State
from krakenpy.telemetry.metrics.process import process_text, python_text
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.metrics.stats import StatsRegistry

if TYPE_CHECKING:
    from krakenpy.telemetry.metrics.shared import Publisher

__all__ = [
    "LISTENERS",
    "PROM_LISTENERS",
    "STATS_LISTENER",
    "Listener",
    "expvar_body",
    "hand_over",
    "prometheus_body",
    "workers_expvar_body",
    "workers_prometheus_body",
]

log = logging.getLogger("krakenpy.telemetry")
#: series rendered between two yields to the loop
_CHUNK = 16


def expvar_body(stats: StatsRegistry) -> bytes:
    """Go expvar's layout: one sorted ``"key": value`` per line."""
    snapshot = stats.snapshot()
    return _expvar(snapshot)


def _expvar(snapshot: dict[str, object]) -> bytes:
    lines = [f"{orjson.dumps(k).decode()}: {orjson.dumps(snapshot[k]).decode()}" for k in sorted(snapshot)]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


async def workers_expvar_body(publisher: Publisher) -> bytes:
    """``/__stats`` of every worker of ``run -w N`` (see :mod:`krakenpy.telemetry.metrics.shared`):
    this worker's snapshot written now, a window histogram or a file at a time, the others' read."""
    from krakenpy.telemetry.metrics.shared import expvar_steps

    docs: list[tuple[bool, dict[str, Any]]] = []
    for _ in publisher.gather_steps(docs):
        await asyncio.sleep(0)
    # merged a worker at a time, then rendered: 4 workers' 100 window histograms held the loop
    # ~2 ms in one step (2026-12-02)
    snapshot: dict[str, Any] = {}
    for _ in expvar_steps(docs, snapshot):
        await asyncio.sleep(0)
    return _expvar(snapshot)


async def workers_prometheus_body(
    publisher: Publisher, kind: str, registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool
) -> bytes:
    """``/metrics`` of every worker of ``run -w N``: this worker's snapshot written now, the others'
    latest read, merged and rendered a family or a chunk of series at a time, the loop running in between."""
    from krakenpy.telemetry.metrics.shared import add_prom, render_prom
    from krakenpy.telemetry.metrics.shared import python_text as workers_python_text

    for steps in registry.feed_steps:  # this worker's queued rows, folded a few series at a time
        for _ in steps():
            await asyncio.sleep(0)
    docs: list[tuple[bool, dict[str, Any]]] = []
    for _ in publisher.gather_steps(docs):
        await asyncio.sleep(0)
    merged: dict[str, Any] = {}
    for live, doc in docs:
        part = doc["parts"].get(kind)
        if part is not None:
            for _ in add_prom(merged, part, live=live):
                await asyncio.sleep(0)
    out: list[str] = [target_info]
    for _ in render_prom(merged, out, scope, _CHUNK):
        await asyncio.sleep(0)
    out.append(
        "# HELP krakenpy_metrics_series_overflow_total Label sets folded into __other__ by the series cap.\n"
        "# TYPE krakenpy_metrics_series_overflow_total counter\n"
        f"krakenpy_metrics_series_overflow_total {int(merged.get('o', 0))}\n"
    )
    if process:  # one process of -w 1: its own, without a pid label, as prometheus_body writes them
        pids = None if publisher.local else [int(doc["pid"]) for live, doc in docs if live]
        out.append(await asyncio.to_thread(process_text, pids))
    if runtime:
        out.append(python_text() if publisher.local else workers_python_text(docs))
    await asyncio.sleep(0)
    return "".join(out).encode()


async def prometheus_body(registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool) -> bytes:
    """The exposition text, rendered a chunk of series at a time."""
    out: list[str] = [target_info]
    # the request path's queued rows (up to 1,024 per slot: the edge folds at that count) folded a
    # few series at a time, then the series rendered a chunk at a time, the loop running in between
    for steps in registry.feed_steps:
        for _ in steps():
            await asyncio.sleep(0)
    for family in list(registry.families()):
        for _ in family.render_chunks(out, scope, _CHUNK):
            await asyncio.sleep(0)
    out.append(
        "# HELP krakenpy_metrics_series_overflow_total Label sets folded into __other__ by the series cap.\n"
        "# TYPE krakenpy_metrics_series_overflow_total counter\n"
        f"krakenpy_metrics_series_overflow_total {int(registry.overflow.value)}\n"
    )
    if process:  # procfs reads: in a thread, they may take milliseconds on a loaded machine
        out.append(await asyncio.to_thread(process_text))
    if runtime:
        out.append(python_text())
    await asyncio.sleep(0)
    return "".join(out).encode()


Produce = Callable[[], Awaitable[web.Response]]


class _Routes:
    """What a bound listener answers with: the routes of its current owner (replaced at a hand-over)."""

    __slots__ = ("current",)

    def __init__(self, current: dict[str, Produce]) -> None:
        self.current = current


class Listener:
    """One telemetry listener with a few GET routes, on :class:`~krakenpy.server.side.SideListener`
    (the gateway's wire rules: no ``Server`` header, a fixed 400 for malformed requests)."""

    def __init__(self, name: str, host: str, port: int, routes: dict[str, Produce]):
        self.name = name
        self.host = host
        self.port = port
        self.routes = routes
        self._side: SideListener | None = None
        self._serving = _Routes(routes)
        self.bound_port: int | None = None

    @property
    def address(self) -> tuple[str, int, frozenset[str]]:
        """What a hand-over matches on: the configured address and the paths served there."""
        return self.host, self.port, frozenset(self.routes)

    async def start(self) -> None:
        if self._side is not None:  # handed over by the listener it replaces: already serving
            return
        serving = self._serving
        table: dict[tuple[str, str], Route] = {}
        for path in self.routes:
            table[("GET", path)] = _handler(serving, path)
            if path.endswith("/__stats"):
                table[("GET", path + "/")] = _redirect(path)
        side = SideListener(self.host, self.port, table)
        try:
            await side.start()
        except OSError as exc:
            log.error("[SERVICE: %s] cannot listen on %s:%d: %s", self.name, self.host or "*", self.port, exc)
            return
        self._side = side
        self.bound_port = side.bound_port

    def take_from(self, old: Listener) -> None:
        """Serve on ``old``'s bound socket from now on, with this listener's routes."""
        if self._side is not None or old._side is None:
            return
        old._serving.current = self.routes
        self._side, self._serving, self.bound_port = old._side, old._serving, old.bound_port
        old._side = None

    async def stop(self) -> None:
        if self._side is not None:
            await self._side.stop()
            self._side = None


#: the bound listeners in a gateway's state, for tests and diagnostics
STATS_LISTENER: Final = Key("stats listener", Listener)
PROM_LISTENERS: Final = Key("prometheus listeners", list)
#: every telemetry listener of a gateway (what :func:`hand_over` looks through)
LISTENERS: Final = Key("telemetry listeners", list)


def hand_over(old: State, new: State) -> None:
    """Give each bound listener of the running gateway (``old``) to the new gateway's listener of the
    same address and paths, before the old gateway closes: the port stays bound through a reload (the
    new one would otherwise bind it after the old one closed, and a scrape in between was refused)."""
    bound: dict[tuple[str, int, frozenset[str]], Listener] = {}
    for listener in old.get(LISTENERS) or ():
        if listener.port:  # port 0 (tests): each listener picks its own
            bound.setdefault(listener.address, listener)
    for listener in new.get(LISTENERS) or ():
        previous = bound.pop(listener.address, None)
        if previous is not None:
            listener.take_from(previous)


def _handler(serving: _Routes, path: str) -> Route:
    async def handle(_request: web.BaseRequest) -> web.StreamResponse:
        return await serving.current[path]()

    return handle


def _redirect(target: str) -> Route:
    async def handle(_request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": target})

    return handle
