"""``telemetry/influx``: push the ``/__stats`` collector to InfluxDB (v1 write API) every ``ttl``.

KrakenD's krakend-influx sends the krakend-metrics registry; krakenpy sends the same collector
(:class:`~krakenpy.telemetry.metrics.stats.StatsRegistry`) as InfluxDB line protocol, one point per
series, tagged with the host name (and, with ``run -w N``, N > 1, the worker's slot: ``worker``):

================================ ============================================ =========================
measurement                      tags                                         fields
================================ ============================================ =========================
``responses``                    ``endpoint``, ``status``                     ``count`` (int)
``requests``                     ``layer``, ``name``, ``complete``, ``error`` ``total`` (int)
``router``                       —                                            connection counters (int)
``router.response-time`` /       ``endpoint``                                 ``count``, ``min``, ``max``,
``router.response-size``                                                      ``mean``, ``stddev``, ``p50``…``p999``
``runtime``                      —                                            process figures
================================ ============================================ =========================

Pushes never block a request: a background task posts the batch with a short timeout; a collector
that is down is logged at most once a minute. The password never appears in logs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.telemetry.instance import worker_tag
from krakenpy.telemetry.metrics.stats import StatsRegistry

__all__ = ["InfluxOptions", "InfluxPusher", "Lines", "line", "parse_influx", "points"]

log = logging.getLogger("krakenpy.telemetry")

_RESPONSE = re.compile(r"^krakend\.router\.response\.(.+)\.status\.(\d+)\.count$")
_REQUESTS = re.compile(
    r"^krakend\.proxy\.requests\.layer\.(\w+)\.name\.(.+)\.complete\.(true|false)\.error\.(true|false)$"
)
_HISTOGRAM = re.compile(
    r"^krakend\.router\.response\.(.+)\.(size|time)\."
    r"(count|min|max|mean|std-dev|50-percentile|75-percentile|95-percentile|99-percentile|999-percentile)$"
)
_ROUTER = re.compile(r"^krakend\.router\.((?:dis)?connected(?:-total|-gauge)?)$")
_FIELD = {"std-dev": "stddev", "50-percentile": "p50", "75-percentile": "p75", "95-percentile": "p95"}
_FIELD |= {"99-percentile": "p99", "999-percentile": "p999"}
_QUIET = 60.0


@dataclass(frozen=True, slots=True)
class InfluxOptions:
    address: str
    db: str = "krakend"
    ttl: float = 60.0
    username: str = ""
    password: str = ""
    #: seconds a write may take (telemetry/opencensus's ``timeout``; krakend-influx has none)
    timeout: float = 5.0


def parse_influx(raw: Any, path: str) -> InfluxOptions:
    """``address`` (http/https), ``ttl`` (push period, default 1m), ``db``, ``username``, ``password``;
    ``buffer_size`` is accepted (KrakenD reads it as 0 from JSON: every point is sent each period)."""
    o: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    address = str(o.get("address") or "")
    if not address.startswith(("http://", "https://")):
        raise ConfigError([ConfigIssue(f"{path}.address", f"expected an http(s) URL, got {address!r}")])
    try:
        ttl = parse_duration(o.get("ttl") or "1m")
    except ValueError as exc:
        raise ConfigError([ConfigIssue(f"{path}.ttl", str(exc))]) from None
    return InfluxOptions(
        address=address.rstrip("/"),
        db=str(o.get("db") or "krakend"),
        ttl=ttl if ttl > 0 else 60.0,
        username=str(o.get("username") or ""),
        password=str(o.get("password") or ""),
    )


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, int | float], now_ns: int) -> str:
    tag_text = "".join(f",{_tag(k)}={_tag(v)}" for k, v in sorted(tags.items()) if v != "")
    field_text = ",".join(
        f"{_tag(k)}={v}i" if isinstance(v, int) and not isinstance(v, bool) else f"{_tag(k)}={float(v)!r}"
        for k, v in sorted(fields.items())
    )
    return f"{_tag(measurement)}{tag_text} {field_text} {now_ns}"


def points(snapshot: Mapping[str, Any], host: str, now_ns: int, extra: Mapping[str, str] | None = None) -> list[str]:
    """The line-protocol points of one ``/__stats`` snapshot; ``extra`` tags every point (``worker``)."""
    lines: list[str] = []
    base = {**(extra or {}), "host": host}
    histograms: dict[tuple[str, str], dict[str, int | float]] = {}
    router: dict[str, int | float] = {}
    runtime: dict[str, int | float] = {}
    for key, value in snapshot.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if match := _RESPONSE.match(key):
            tags = {**base, "endpoint": match[1], "status": match[2]}
            lines.append(line("responses", tags, {"count": int(value)}, now_ns))
        elif match := _REQUESTS.match(key):
            tags = {**base, "layer": match[1], "name": match[2], "complete": match[3], "error": match[4]}
            lines.append(line("requests", tags, {"total": int(value)}, now_ns))
        elif match := _HISTOGRAM.match(key):
            histograms.setdefault((match[1], match[2]), {})[_FIELD.get(match[3], match[3])] = value
        elif match := _ROUTER.match(key):
            router[match[1]] = int(value)
        elif key.startswith("service.runtime."):
            runtime[key.removeprefix("service.runtime.")] = value
    for (endpoint, kind), fields in sorted(histograms.items()):
        lines.append(line(f"router.response-{kind}", {**base, "endpoint": endpoint}, fields, now_ns))
    if router:
        lines.append(line("router", base, router, now_ns))
    if runtime:
        lines.append(line("runtime", base, runtime, now_ns))
    return lines


#: (host name, tags of every point, time in ns) -> the line-protocol points of one push
Lines = Callable[[str, Mapping[str, str], int], list[str]]


class InfluxPusher:
    """The background task posting points every ``ttl``: the ``/__stats`` collector's, or what
    ``lines`` produces (telemetry/opencensus's views)."""

    def __init__(self, options: InfluxOptions, stats: StatsRegistry | None, lines: Lines | None = None) -> None:
        self.options = options
        self.stats = stats
        assert lines is not None or stats is not None
        self._lines = lines
        self.host = socket.gethostname()
        #: tags every point: which worker of ``run -w N`` pushed it (the workers share the host name)
        self.tags: Mapping[str, str] = worker_tag()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._quiet_until = 0.0
        #: batches written (for tests and diagnostics)
        self.sent = 0

    async def start(self) -> None:
        from krakenpy.tasks import spawn

        headers = {}
        if self.options.username:
            token = base64.b64encode(f"{self.options.username}:{self.options.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.options.timeout)
        )
        self._task = spawn(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.options.ttl)
            await self.push()

    async def _points(self) -> list[str]:
        """The batch's points: ``lines``'s, or the collector's snapshot taken in steps as ``/__stats``
        takes it (one capture of one window, each window histogram summarized in a step of its own,
        the loop running in between: 100 of them in one go held it ~21 ms)."""
        lines, stats = self._lines, self.stats
        if lines is not None:
            return lines(self.host, self.tags, time.time_ns())
        assert stats is not None
        snapshot: dict[str, Any] = {}
        for _ in stats.snapshot_steps(snapshot):
            await asyncio.sleep(0)
        return points(snapshot, self.host, time.time_ns(), self.tags)

    async def push(self) -> None:
        """Post one batch now; failures are logged (rarely), never raised."""
        session = self._session
        if session is None:
            return
        body = "\n".join(await self._points()).encode()
        if session.closed:  # stopped during the snapshot's steps (stop closes it, then drops it)
            return
        url = f"{self.options.address}/write"
        try:
            async with session.post(url, params={"db": self.options.db}, data=body) as response:
                if response.status >= 300:
                    raise OSError(f"InfluxDB answered {response.status}")
            self.sent += 1
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            now = time.monotonic()
            if now >= self._quiet_until:  # at most once a minute: a down collector must not flood the log
                self._quiet_until = now + _QUIET
                log.error("[SERVICE: InfluxDB] cannot write to %s (db %s): %s", url, self.options.db, exc)
