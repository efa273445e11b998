"""How loaded a worker is, beside KrakenD's request metrics (observability §2.5, "the default set
operators expect": saturation), in the OpenTelemetry registry (Prometheus ``/metrics`` and OTLP):

- ``krakenpy.server.open_connections`` (gauge): client connections open now;
- ``krakenpy.server.active_requests`` (gauge): requests being answered now (an HTTP/2 connection
  answering streams counts once);
- ``krakenpy.server.connections`` (counter, ``krakenpy_server_connections_total``): connections accepted;
- ``krakenpy.event_loop.lag`` (histogram, seconds): how late a timer ran, sampled every
  :data:`PERIOD`: the time the loop spends on one piece of work without yielding (a long JSON
  document, a Lua script, a blocking call) is time every other request of the worker waits.

The gauges and the counter are read from the process's census (:mod:`krakenpy.server.census`) when the
registry is read (a scrape, an OTLP export, a worker's snapshot): nothing per request. The probe is
one timer callback per :data:`PERIOD`. With ``run -w N`` the series are summed over the workers, as
every series is (gauges over the live ones).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Final

from krakenpy.server.census import CENSUS, Tenure
from krakenpy.telemetry.metrics.registry import Histogram, Registry

__all__ = ["LAG_BUCKETS", "PERIOD", "LoopLag", "register"]

#: seconds between two samples of the loop's lag
PERIOD: Final = 0.25
#: the lag histogram's bounds (seconds): from uvloop's timer resolution (1 ms) to a stalled loop
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLag:
    """Samples the running loop's lag into ``histogram``: a timer due every :data:`PERIOD` records
    how much later than due it ran (read on the process clock: uvloop's loop clock moves in whole
    milliseconds, once per turn)."""

    def __init__(self, histogram: Histogram, period: float = PERIOD) -> None:
        self.histogram = histogram
        self.period = period
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    async def start(self) -> None:
        self._arm(asyncio.get_running_loop())

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = time.monotonic() + self.period
        self._handle = loop.call_later(self.period, self._beat, loop)

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.histogram.observe(max(0.0, time.monotonic() - self._due))
        self._arm(loop)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def register(registry: Registry, tenure: Tenure) -> LoopLag:
    """Add the saturation series to ``registry`` (the connections accepted: ``tenure``'s); the
    returned probe is started and stopped with the gateway (a service)."""
    open_connections = registry.family(
        "krakenpy.server.open_connections", "gauge", (), help="Client connections open now."
    ).counter()
    active = registry.family(
        "krakenpy.server.active_requests",
        "gauge",
        (),
        help="Requests being answered now (an HTTP/2 connection answering streams counts once).",
    ).counter()
    accepted = registry.family(
        "krakenpy.server.connections", "counter", (), help="Client connections accepted."
    ).counter()
    lag = registry.family(
        "krakenpy.event_loop.lag",
        "histogram",
        (),
        help="How late a timer of the worker's event loop ran, sampled every 0.25 s.",
        unit="s",
        buckets=LAG_BUCKETS,
    ).histogram()

    def feed(least: int = 1) -> None:
        if least > 1:  # the request path's periodic fold of queued values: no reader here
            return
        # the process's, from the configuration serving now only: a reload's draining one (still a
        # live source until it closes, summed with the new one) says 0
        serving = tenure.serving
        open_connections.value = CENSUS.open_connections() if serving else 0
        active.value = CENSUS.active_requests() if serving else 0
        # this configuration's: a worker keeps a retired one's in its base (metrics.shared), and
        # tenures do not overlap, so the sum is the process's
        accepted.value = tenure.opened()

    def steps() -> Iterator[None]:
        feed()
        yield

    registry.feeders.append(feed)
    registry.feed_steps.append(steps)
    return LoopLag(lag)
