"""``telemetry/influx``'s line protocol read back as InfluxDB 1.x reads it (models/points.go: a
backslash and the character after it are scanned as a pair; a tag key or value and a field key
unescape ``\\,`` ``\\=`` ``\\ `` and nothing else, a measurement ``\\,`` ``\\ ``): the body a real
receiver gets carries each endpoint's name as written. krakenpy escaped the backslash (InfluxDB stored
two), and wrote a newline raw (the point ended there and its rest was a broken line)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from krakenpy.telemetry.influx import InfluxOptions, InfluxPusher, points
from krakenpy.telemetry.metrics.stats import StatsRegistry


def _split(text: str, sep: str) -> list[str]:
    """``text`` cut at each ``sep`` that is not the second character of a backslash pair."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _unescape(text: str, chars: str) -> str:
    for c in chars:
        text = text.replace("\\" + c, c)
    return text


def parse_point(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """One line as InfluxDB 1.x parses it (numeric fields only, as the exporter sends)."""
    key, fields, stamp = _split(line, " ")  # a fourth part: the line is broken
    measurement, *tag_pairs = _split(key, ",")
    tags: dict[str, str] = {}
    for pair in tag_pairs:
        name, value = _split(pair, "=")
        tags[_unescape(name, ",= ")] = _unescape(value, ",= ")
    field_map: dict[str, str] = {}
    for pair in _split(fields, ","):
        name, value = _split(pair, "=")
        assert value.endswith("i") and value[:-1].lstrip("-").isdigit() or math.isfinite(float(value)), value
        field_map[_unescape(name, ",= ")] = value
    return _unescape(measurement, ", "), tags, field_map, int(stamp)


NAMES = {
    "/a b/:id": "/a b/:id",  # space
    "/c,d": "/c,d",  # comma
    "/e=f": "/e=f",  # equals
    '/g"h': '/g"h',  # a quote: no escape in a tag
    "/i\\j": "/i\\j",  # a backslash before an ordinary character: kept as it is
    "/k\\": "/k\\\\",  # at the end: line protocol cannot carry it, doubled so the line stays whole
    "/l\\,m": "/l\\\\,m",  # before a comma: the same
    "/n\no": "/n\\no",  # a newline: the two characters \n
}


async def test_influx_tags_reach_a_receiver_as_influxdb_reads_them(
    upstream: Callable[[web.Application], Awaitable[str]],
) -> None:
    bodies: list[bytes] = []

    async def write(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    url = await upstream(influx)
    stats = StatsRegistry()
    for name in NAMES:
        stats.inc(stats.counter_key(f"router.response.{name}.status.200.count"), 2)
    pusher = InfluxPusher(InfluxOptions(address=url, ttl=3600.0), stats)
    pusher.host = "gw 1,a=b"
    await pusher.start()
    try:
        await pusher.push()
    finally:
        await pusher.stop()
    assert pusher.sent == 1
    lines = bodies[0].decode().split("\n")
    parsed = [parse_point(line) for line in lines]
    responses = [p for p in parsed if p[0] == "responses"]
    assert sorted(tags["name"] for _, tags, _, _ in responses) == sorted(NAMES.values())
    assert {tags["host"] for _, tags, _, _ in parsed} == {"gw 1,a=b"}
    assert all(fields == {"count": "2i", "total": "2i"} for _, _, fields, _ in responses)


def test_influx_a_histogram_with_a_nan_is_sent_without_it() -> None:
    """A window histogram whose standard deviation is NaN (merged workers' pooled figures): the other
    fields are sent (``int(nan)`` raised, and with it every push of every point failed)."""
    snapshot = {
        "krakend.router.response./a.time.count": 3,
        "krakend.router.response./a.time.max": 1500.0,
        "krakend.router.response./a.time.std-dev": math.nan,
        "krakend.router.response./a.time.mean": math.inf,
        "krakend.router.response./a.status.200.count": 3,
    }
    lines = points(snapshot, "gw", 17)
    assert sorted(lines) == [
        "responses,host=gw,name=/a,status=200 count=3i,total=3i 17",
        "router.response-time,host=gw,name=/a count=3i,max=1500i 17",
    ]
    for line in lines:
        parse_point(line)
