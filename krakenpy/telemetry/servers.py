"""The telemetry listeners: ``/__stats`` (``telemetry/metrics``, own address) and ``/metrics``
(each Prometheus exporter, own port). A busy address is logged and the gateway keeps serving, as
KrakenD does. Rendering yields to the event loop between chunks of series, so a large scrape never
holds the loop for long."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from krakenpy.telemetry.metrics.process import process_text, python_text
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.metrics.stats import StatsRegistry

__all__ = ["Listener", "expvar_body", "prometheus_body"]

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
    """One small aiohttp server with a few GET routes."""

    def __init__(self, name: str, host: str, port: int, routes: dict[str, Callable[[], Awaitable[web.Response]]]):
        self.name = name
        self.host = host
        self.port = port
        self.routes = routes
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        for path, produce in self.routes.items():
            app.router.add_get(path, _handler(produce))
            if path.endswith("/__stats"):
                app.router.add_get(path + "/", _redirect(path))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host or None, self.port)
        try:
            await site.start()
        except OSError as exc:
            log.error("[SERVICE: %s] cannot listen on %s:%d: %s", self.name, self.host or "*", self.port, exc)
            await runner.cleanup()
            return
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _handler(produce: Callable[[], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_request: web.Request) -> web.Response:
        return await produce()

    return handle


def _redirect(target: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(target)

    return handle
