"""The telemetry listeners: ``/__stats`` (``telemetry/metrics``, own address) and ``/metrics``
(each Prometheus exporter, own port). A busy address is logged and the gateway keeps serving, as
KrakenD does. Rendering yields to the event loop between chunks of series, so a large scrape never
holds the loop for long. They are served as the gateway is (:mod:`krakenpy.server.side`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import orjson
from aiohttp import web

from krakenpy.server.side import Route, SideListener
from krakenpy.state import Key
from krakenpy.telemetry.metrics.process import process_text, python_text
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.metrics.stats import StatsRegistry

__all__ = ["PROM_LISTENERS", "STATS_LISTENER", "Listener", "expvar_body", "prometheus_body"]

log = logging.getLogger("krakenpy.telemetry")
#: series rendered between two yields to the loop
_CHUNK = 16


def expvar_body(stats: StatsRegistry) -> bytes:
    """Go expvar's layout: one sorted ``"key": value`` per line."""
    snapshot = stats.snapshot()
    lines = [f"{orjson.dumps(k).decode()}: {orjson.dumps(snapshot[k]).decode()}" for k in sorted(snapshot)]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


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


class Listener:
    """One telemetry listener with a few GET routes, on :class:`~krakenpy.server.side.SideListener`
    (the gateway's wire rules: no ``Server`` header, a fixed 400 for malformed requests)."""

    def __init__(self, name: str, host: str, port: int, routes: dict[str, Callable[[], Awaitable[web.Response]]]):
        self.name = name
        self.host = host
        self.port = port
        self.routes = routes
        self._side: SideListener | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        table: dict[tuple[str, str], Route] = {}
        for path, produce in self.routes.items():
            table[("GET", path)] = _handler(produce)
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

    async def stop(self) -> None:
        if self._side is not None:
            await self._side.stop()
            self._side = None


#: the bound listeners in a gateway's state, for tests and diagnostics
STATS_LISTENER: Final = Key("stats listener", Listener)
PROM_LISTENERS: Final = Key("prometheus listeners", list)


def _handler(produce: Callable[[], Awaitable[web.Response]]) -> Route:
    async def handle(_request: web.BaseRequest) -> web.StreamResponse:
        return await produce()

    return handle


def _redirect(target: str) -> Route:
    async def handle(_request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": target})

    return handle
