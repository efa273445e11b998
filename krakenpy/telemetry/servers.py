"""The telemetry listeners: ``/__stats`` (``telemetry/metrics``, own address) and ``/metrics``
(each Prometheus exporter, own port). A busy address is logged and the gateway keeps serving, as
KrakenD does. They listen in one worker of ``krakenpy run`` (the first: a second could not bind the
port; with ``-w N`` it merges every worker's snapshot at a scrape: :mod:`.metrics.shared`), and a
reload hands the bound socket to the new configuration's listener of the same address and routes
(:func:`hand_over`), so a scrape never meets a closed port. A scrape yields to the event loop
between chunks of series (``/__stats``: between window histograms), encodes each chunk as it goes and
is written a piece at a time (:class:`Scraped`), so a large scrape never holds the loop for long.
They are served as the gateway is (:mod:`krakenpy.server.side`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from krakenpy.server.side import Route, SideListener
from krakenpy.state import Key, State
from krakenpy.telemetry.metrics.process import INLINE as PROCFS_INLINE
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
    "Scraped",
    "expvar_body",
    "expvar_scrape",
    "hand_over",
    "prometheus_body",
    "prometheus_scrape",
    "workers_expvar_body",
    "workers_expvar_scrape",
    "workers_prometheus_body",
    "workers_prometheus_scrape",
]

log = logging.getLogger("krakenpy.telemetry")
#: series rendered between two yields to the loop
_CHUNK = 16
#: ``/__stats`` keys written between two yields to the loop
_KEYS = 256
#: histogram series a ``-w N`` scrape merges between two yields (the tick's 200 took 1.4 ms a step
#: at 1,900 series on a loaded machine, 2026-12-02)
_MERGE = 64


class Scraped:
    """A scrape's body in pieces (each encoded as it was rendered) and its ``Content-Type``: the
    listener writes them a piece at a time. The whole text joined and encoded in one step held the
    loop ~7 ms at 1,900 histogram series (5 MB; twice the copy, and the page faults of two fresh
    5 MB buffers, 2026-12-02)."""

    __slots__ = ("content_type", "pieces", "size")

    def __init__(self, pieces: list[bytes], content_type: str) -> None:
        self.pieces = pieces
        self.content_type = content_type
        self.size = sum(map(len, pieces))

    def body(self) -> bytes:
        return b"".join(self.pieces)


_PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_JSON_TYPE = "application/json; charset=utf-8"


def _flush(out: list[str], pieces: list[bytes]) -> None:
    """The text rendered since the last flush, as one encoded piece."""
    if out:
        pieces.append("".join(out).encode())
        out.clear()


def expvar_body(stats: StatsRegistry) -> bytes:
    """Go expvar's layout: one sorted ``"key": value`` per line."""
    snapshot = stats.snapshot()
    return b"".join(_expvar(snapshot))


def _expvar(snapshot: dict[str, object]) -> list[bytes]:
    pieces: list[bytes] = []
    for _ in _expvar_steps(snapshot, pieces):
        pass
    return pieces


def _expvar_steps(snapshot: dict[str, object], pieces: list[bytes]) -> Iterator[None]:
    """:func:`_expvar` into ``pieces``, pausing (``yield``) after every :data:`_KEYS` keys."""
    keys = sorted(snapshot)
    last = len(keys) - 1
    for start in range(0, len(keys), _KEYS):
        lines = []
        for i in range(start, min(start + _KEYS, len(keys))):
            key = keys[i]
            end = "\n}\n" if i == last else ",\n"
            lines.append(f"{orjson.dumps(key).decode()}: {orjson.dumps(snapshot[key]).decode()}{end}")
        pieces.append(("{\n" if not start else "").encode() + "".join(lines).encode())
        yield
    if not keys:
        pieces.append(b"{\n\n}\n")


async def expvar_scrape(stats: StatsRegistry) -> Scraped:
    """``/__stats`` of this process: the request path's rows fed, the window histograms summarized
    and the keys written a step at a time, the loop running in between (what is summarized and
    counted is one capture: :meth:`StatsRegistry.capture_steps`)."""
    snapshot: dict[str, Any] = {}
    for _ in stats.snapshot_steps(snapshot):
        await asyncio.sleep(0)
    pieces: list[bytes] = []
    for _ in _expvar_steps(snapshot, pieces):
        await asyncio.sleep(0)
    return Scraped(pieces, _JSON_TYPE)


async def workers_expvar_body(publisher: Publisher) -> bytes:
    """:func:`workers_expvar_scrape`'s body."""
    return (await workers_expvar_scrape(publisher)).body()


async def workers_expvar_scrape(publisher: Publisher) -> Scraped:
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
    pieces: list[bytes] = []
    for _ in _expvar_steps(snapshot, pieces):
        await asyncio.sleep(0)
    return Scraped(pieces, _JSON_TYPE)


async def workers_prometheus_body(
    publisher: Publisher, kind: str, registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool
) -> bytes:
    """:func:`workers_prometheus_scrape`'s body."""
    scraped = await workers_prometheus_scrape(
        publisher, kind, registry, scope=scope, target_info=target_info, process=process, runtime=runtime
    )
    return scraped.body()


async def workers_prometheus_scrape(
    publisher: Publisher, kind: str, registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool
) -> Scraped:
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
            for _ in add_prom(merged, part, live=live, size=_MERGE):
                await asyncio.sleep(0)
    out: list[str] = [target_info]
    pieces: list[bytes] = []
    for _ in render_prom(merged, out, scope, _CHUNK):
        _flush(out, pieces)
        await asyncio.sleep(0)
    out.append(_overflow(int(merged.get("o", 0))))
    if process:  # one process of -w 1: its own, without a pid label, as prometheus_body writes them
        pids = None if publisher.local else [int(doc["pid"]) for live, doc in docs if live]
        out.append(await _process(pids))
    if runtime:
        out.append(python_text() if publisher.local else workers_python_text(docs))
    _flush(out, pieces)
    return Scraped(pieces, _PROM_TYPE)


async def _process(pids: list[int] | None) -> str:
    """:func:`process_text`: a few small procfs files, read on the loop; where the fd count needs a
    listing (before Linux 6.2), in a thread: it may take milliseconds with thousands of connections."""
    return process_text(pids) if PROCFS_INLINE else await asyncio.to_thread(process_text, pids)


def _overflow(value: float) -> str:
    return (
        "# HELP krakenpy_metrics_series_overflow_total Label sets folded into __other__ by the series cap.\n"
        "# TYPE krakenpy_metrics_series_overflow_total counter\n"
        f"krakenpy_metrics_series_overflow_total {int(value)}\n"
    )


async def prometheus_body(registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool) -> bytes:
    """:func:`prometheus_scrape`'s body."""
    scraped = await prometheus_scrape(registry, scope=scope, target_info=target_info, process=process, runtime=runtime)
    return scraped.body()


async def prometheus_scrape(
    registry: Registry, *, scope: str, target_info: str, process: bool, runtime: bool
) -> Scraped:
    """The exposition text, rendered and encoded a chunk of series at a time."""
    out: list[str] = [target_info]
    pieces: list[bytes] = []
    # the request path's queued rows (up to 1,024 per slot: the edge folds at that count) folded a
    # few series at a time, then the series rendered a chunk at a time, the loop running in between
    for steps in registry.feed_steps:
        for _ in steps():
            await asyncio.sleep(0)
    for family in list(registry.families()):
        for _ in family.render_chunks(out, scope, _CHUNK):
            _flush(out, pieces)
            await asyncio.sleep(0)
        # and after each family: a family counts its own series, one of fewer than a chunk's never
        # pauses (a gateway's 20-odd small families went into one piece with the next chunk's)
        _flush(out, pieces)
        await asyncio.sleep(0)
    out.append(_overflow(registry.overflow.value))
    if process:
        out.append(await _process(None))
    if runtime:
        out.append(python_text())
    _flush(out, pieces)
    return Scraped(pieces, _PROM_TYPE)


async def _send(request: web.BaseRequest, scraped: Scraped) -> web.StreamResponse:
    """``scraped`` written a piece at a time, a loop turn between two (a 5 MB body written at once
    is copied into the transport's buffer in one step: all but what the socket takes), with the
    headers a :class:`~aiohttp.web.Response` of the joined body has (its length, its type)."""
    response = web.StreamResponse(headers={"Content-Type": scraped.content_type})
    response.content_length = scraped.size
    try:
        await response.prepare(request)
        if request.method != "HEAD":
            for piece in scraped.pieces:
                await response.write(piece)  # waits for the socket while the transport's buffer is full
                await asyncio.sleep(0)
        await response.write_eof()
    except ConnectionError:  # the scraper hung up (its timeout): no one to answer, nothing to log
        pass
    return response


Produce = Callable[[], Awaitable[web.StreamResponse | Scraped]]


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
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        made = await serving.current[path]()
        return await _send(request, made) if isinstance(made, Scraped) else made

    return handle


def _redirect(target: str) -> Route:
    async def handle(_request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": target})

    return handle
