"""``telemetry/influx``: push the ``/__stats`` collector to InfluxDB (v1 write API) every ``ttl``.

KrakenD's krakend-influx sends the krakend-metrics registry; krakenpy sends the same collector
(:class:`~krakenpy.telemetry.metrics.stats.StatsRegistry`) as InfluxDB line protocol in krakend-influx's
layout (the one KrakenD's Grafana dashboard queries), tagged with the host name (and, with
``run -w N``, N > 1, the worker's slot: ``worker``):

================================ ============================================ =========================
measurement                      tags                                         fields
================================ ============================================ =========================
``responses``                    ``name`` (endpoint), ``status``              ``total``, ``count`` (int)
``requests``                     ``layer``, ``name``, ``complete``, ``error`` ``total``, ``count`` (int)
``router``                       ``direction`` (``in``, ``out``)              ``current``, ``total``,
                                                                              ``gauge`` (int)
``router.response-time`` /       ``name`` (endpoint)                          ``min``, ``max``, ``mean``,
``router.response-size``                                                      ``stddev``, ``variance``
                                                                              (int), ``count``,
                                                                              ``p0.5``…``p0.999``
``debug``                        —                                            ``GCStats.NumGC`` (int)
``runtime``                      —                                            ``NumThread`` (int)
================================ ============================================ =========================

``total`` is the cumulative counter, ``count`` what it grew since the previous push (the first
push: all of it). ``router`` ``in`` carries ``krakend.router.connected`` (``current``),
``connected-total`` and ``connected-gauge``; ``out`` the ``disconnected`` ones. A histogram whose
window saw no value is not sent (krakend-influx skips empty ones); its percentiles are the
collector's (50, 75, 95, 99, 99.9: krakend-influx's 10, 25 and 90 have no counterpart).
``debug`` and ``runtime`` are krakend-influx's: the collector's ``krakend.service.debug.X`` and
``krakend.service.runtime.X`` gauges as the fields ``X`` (Go's registry has more of them; a Python
process has these two).

Pushes never block a request: a background task posts the batch with a short timeout; a collector
that is down is logged at most once a minute. The password never appears in logs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from yarl import URL

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.server import saidonce
from krakenpy.telemetry.instance import worker_tag
from krakenpy.telemetry.metrics.stats import StatsRegistry

__all__ = ["InfluxOptions", "InfluxPusher", "Lines", "PointKeys", "line", "parse_influx", "points"]

log = logging.getLogger("krakenpy.telemetry")

# re.S: a name may hold a newline (a JSON endpoint "/a\nb"), sent as \n rather than left out
_RESPONSE = re.compile(r"^krakend\.router\.response\.(.+)\.status\.(\d+)\.count$", re.S)
_REQUESTS = re.compile(
    r"^krakend\.proxy\.requests\.layer\.(\w+)\.name\.(.+)\.complete\.(true|false)\.error\.(true|false)$", re.S
)
_HISTOGRAM = re.compile(
    r"^krakend\.router\.response\.(.+)\.(size|time)\."
    r"(count|min|max|mean|std-dev|50-percentile|75-percentile|95-percentile|99-percentile|999-percentile)$",
    re.S,
)
_ROUTER = re.compile(r"^krakend\.router\.((?:dis)?connected(?:-total|-gauge)?)$")
_FIELD = {"std-dev": "stddev", "50-percentile": "p0.5", "75-percentile": "p0.75", "95-percentile": "p0.95"}
_FIELD |= {"99-percentile": "p0.99", "999-percentile": "p0.999"}
#: krakend-influx's ``router`` points: the collector's key → (``direction``, field)
_ROUTER_FIELD: Final = {
    "connected": ("in", "current"),
    "connected-total": ("in", "total"),
    "connected-gauge": ("in", "gauge"),
    "disconnected": ("out", "current"),
    "disconnected-total": ("out", "total"),
    "disconnected-gauge": ("out", "gauge"),
}
#: krakend-influx's histogram fields sent as ints
_INT_FIELDS: Final = ("min", "max", "mean", "stddev")
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


#: InfluxDB 1.x line protocol: a tag key or value and a field key escape ``,`` ``=`` and space with a
#: backslash, a measurement ``,`` and space; nothing else is unescaped (a ``\\`` stays two backslashes:
#: escaping the backslash, as krakenpy did, stored every one twice). A newline or carriage return,
#: which no escape carries (the line would end there), is written as the two characters ``\n``, ``\r``.
_TAG_ESCAPES: Final = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r"})
_MEASUREMENT_ESCAPES: Final = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r"})
#: an odd run of backslashes before an escaped character or the end: InfluxDB's scanner takes a
#: backslash and the next character as a pair, so its last one would take the escape's backslash (or
#: the separator after the value) and break the line
_ODD_RUN: Final = re.compile(r"(?<!\\)((?:\\\\)*\\)(?=[,= \n\r]|\Z)")


def _tag(value: str) -> str:
    """A tag key or value, or a field key, in line protocol. A backslash before ``,`` ``=`` space or at
    the end of the value, which line protocol cannot carry, is doubled: InfluxDB stores one more, and
    the line and its other tags stay whole."""
    if "\\" in value:
        value = _ODD_RUN.sub(r"\1\\", value)
    return value.translate(_TAG_ESCAPES)


def _measurement(name: str) -> str:
    if "\\" in name:
        name = _ODD_RUN.sub(r"\1\\", name)
    return name.translate(_MEASUREMENT_ESCAPES)


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, int | float], now_ns: int) -> str:
    return f"{_prefix(measurement, tags)} {_fields(fields)} {now_ns}"


def points(snapshot: Mapping[str, Any], host: str, now_ns: int, extra: Mapping[str, str] | None = None) -> list[str]:
    """The line-protocol points of one ``/__stats`` snapshot; ``extra`` tags every point (``worker``)."""
    return PointKeys(host, extra).points(snapshot, now_ns)


#: what one snapshot key gives: ``(_POINT_COUNTER, prefix, "")`` a point of its own (``prefix``: its
#: measurement and tags in line protocol; fields ``total`` and ``count``), ``(_IN_HISTOGRAM, prefix,
#: field)`` a field of its histogram's point, ``(_IN_ROUTER, direction, field)`` a field of that
#: ``router`` point, ``(_IN_DEBUG | _IN_RUNTIME, field, "")`` a field of that measurement's one point;
#: ``None``: the key is not sent
_Entry = tuple[int, str, str] | None
_POINT_COUNTER, _IN_HISTOGRAM, _IN_ROUTER, _IN_DEBUG, _IN_RUNTIME = range(5)
_DEBUG_PREFIX: Final = "krakend.service.debug."
_RUNTIME_PREFIX: Final = "krakend.service.runtime."


class PointKeys:
    """:func:`points` for one host and set of tags, each snapshot key read once: what it gives (its
    measurement, tags and field, from the regular expressions) is kept for the next pushes, which
    see the same keys (a regular expression per key over ~1,100 keys cost ~2.4 ms a push). Keys no
    longer in the snapshots are forgotten when the kept ones outgrow them. Each counter's last
    value is kept too: a point's ``count`` is what its counter grew since the previous push."""

    __slots__ = ("_base", "_groups", "_keys", "_last")

    def __init__(self, host: str, extra: Mapping[str, str] | None = None) -> None:
        self._base = {**(extra or {}), "host": host}
        self._keys: dict[str, _Entry] = {}
        self._groups: dict[tuple[str, str], str] = {}
        #: each counter point's (its prefix) total at the previous push
        self._last: dict[str, int] = {}

    def points(self, snapshot: Mapping[str, Any], now_ns: int) -> list[str]:
        keys = self._keys
        if len(keys) > 2 * len(snapshot) + 1024:
            keys.clear()
            self._groups.clear()
        last = self._last
        seen: dict[str, int] = {}
        lines: list[str] = []
        histograms: dict[str, dict[str, int | float]] = {}
        router: dict[str, dict[str, int | float]] = {}
        debug: dict[str, int | float] = {}
        runtime: dict[str, int | float] = {}
        for key, value in snapshot.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            try:
                entry = keys[key]
            except KeyError:
                entry = keys[key] = self._entry(key)
            if entry is None:
                continue
            kind = entry[0]
            if kind == _POINT_COUNTER:
                prefix, total = entry[1], int(value)
                before = last.get(prefix, 0)
                seen[prefix] = total
                grown = total - before if total >= before else total  # a counter that restarted
                lines.append(f"{prefix} count={grown}i,total={total}i {now_ns}")
            elif kind == _IN_HISTOGRAM:
                histograms.setdefault(entry[1], {})[entry[2]] = value
            elif kind == _IN_ROUTER:
                router.setdefault(entry[1], {})[entry[2]] = int(value)
            else:
                (debug if kind == _IN_DEBUG else runtime)[entry[1]] = int(value)
        last.update(seen)
        if len(last) > 2 * len(seen) + 1024:  # series gone from the snapshots are forgotten
            self._last = seen
        for prefix, fields in sorted(histograms.items()):
            if fields.get("count", 1) == 0:  # a window without values: krakend-influx sends none
                continue
            if "stddev" in fields:
                fields["variance"] = fields["stddev"] ** 2
            for name in _INT_FIELDS:
                value = fields.get(name)
                if value is not None and math.isfinite(value):  # int(nan) raised: no push at all
                    fields[name] = int(value)
            if "variance" in fields and math.isfinite(fields["variance"]):
                fields["variance"] = int(fields["variance"])
            text = _fields(fields)
            if text:
                lines.append(f"{prefix} {text} {now_ns}")
        base = self._base
        for direction in ("in", "out"):
            if direction in router:
                lines.append(line("router", {**base, "direction": direction}, router[direction], now_ns))
        for measurement, gauges in (("debug", debug), ("runtime", runtime)):
            if gauges:
                lines.append(line(measurement, base, gauges, now_ns))
        return lines

    def _entry(self, key: str) -> _Entry:
        base = self._base
        if match := _RESPONSE.match(key):
            return _POINT_COUNTER, _prefix("responses", {**base, "name": match[1], "status": match[2]}), ""
        if match := _REQUESTS.match(key):
            tags = {**base, "layer": match[1], "name": match[2], "complete": match[3], "error": match[4]}
            return _POINT_COUNTER, _prefix("requests", tags), ""
        if match := _HISTOGRAM.match(key):
            group = f"router.response-{match[2]}", match[1]  # one point's ten keys: one prefix
            prefix = self._groups.get(group)
            if prefix is None:
                prefix = self._groups[group] = _prefix(group[0], {**base, "name": group[1]})
            return _IN_HISTOGRAM, prefix, _FIELD.get(match[3], match[3])
        if match := _ROUTER.match(key):
            direction, field = _ROUTER_FIELD[match[1]]
            return _IN_ROUTER, direction, field
        # krakend-influx's gauges: ``krakend.service.debug.X`` the field ``X`` of ``debug``,
        # ``krakend.service.runtime.X`` of ``runtime`` (``GCStats.NumGC``, ``NumThread``), as ints
        if key.startswith(_DEBUG_PREFIX) and len(key) > len(_DEBUG_PREFIX):
            return _IN_DEBUG, key[len(_DEBUG_PREFIX) :], ""
        if key.startswith(_RUNTIME_PREFIX) and len(key) > len(_RUNTIME_PREFIX):
            return _IN_RUNTIME, key[len(_RUNTIME_PREFIX) :], ""
        return None


def _prefix(measurement: str, tags: Mapping[str, str]) -> str:
    """A point's measurement and tags in line protocol (tags sorted, empty ones left out)."""
    tag_text = "".join(f",{_tag(k)}={_tag(v)}" for k, v in sorted(tags.items()) if v != "")
    return f"{_measurement(measurement)}{tag_text}"


def _fields(fields: Mapping[str, int | float]) -> str:
    """A point's fields; a NaN or infinite float is left out (InfluxDB refuses the whole write for one)."""
    return ",".join(
        f"{_tag(k)}={v}i" if isinstance(v, int) and not isinstance(v, bool) else f"{_tag(k)}={float(v)!r}"
        for k, v in sorted(fields.items())
        if isinstance(v, int) or math.isfinite(v)
    )


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
        #: where the points are posted (``address`` + ``/write``); ``None``: not a URL (nothing is sent)
        self._url: URL | None
        try:
            self._url = URL(f"{options.address}/write")
        except ValueError:  # a bad port or IPv6 literal: Go's client refuses it too, KrakenD runs without
            self._url = None
        #: each snapshot key's part in the points, kept across pushes (made at the first push)
        self._keys: PointKeys | None = None
        #: batches written (for tests and diagnostics)
        self.sent = 0

    async def start(self) -> None:
        from krakenpy.tasks import spawn

        if self._url is None:
            log.error("[SERVICE: InfluxDB] the address is not a valid URL: nothing is sent")
            return
        headers = {}
        if self.options.username:
            token = base64.b64encode(f"{self.options.username}:{self.options.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
            # Go's client: the configured credentials win over a user:password@ in the address (aiohttp
            # refuses both at once: every write raised, and the loop posting them had ended unheard)
            self._url = self._url.with_user(None)
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
            try:
                await self.push()
            except Exception as exc:  # never the end of the pushes: the next period tries again
                self._report(exc)

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
        keys = self._keys
        if keys is None:
            keys = self._keys = PointKeys(self.host, self.tags)
        return keys.points(snapshot, time.time_ns())

    async def push(self) -> None:
        """Post one batch now; failures are logged (rarely), never raised."""
        session, url = self._session, self._url
        if session is None or url is None:
            return
        points = await self._points()
        if not points or session.closed:  # nothing to write (KrakenD writes nothing either), or
            return  # stopped during the snapshot's steps (stop closes the session, then drops it)
        body = "\n".join(points).encode()
        try:
            async with session.post(url, params={"db": self.options.db}, data=body) as response:
                if response.status >= 300:
                    raise OSError(f"InfluxDB answered {response.status}")
            self.sent += 1
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        now = time.monotonic()
        if now >= self._quiet_until and self._url is not None:  # at most once a minute: a down collector
            self._quiet_until = now + _QUIET  # must not flood the log
            url = self._url.with_user(None)  # never a password from the address
            saidonce.say(
                log,
                logging.ERROR,
                "[SERVICE: InfluxDB] cannot write to %s (db %s): %s",
                url,
                self.options.db,
                exc,
                topic=f"influx {url}",
            )
