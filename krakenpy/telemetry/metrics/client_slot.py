"""The backend HTTP client's metric slots (see :mod:`krakenpy.telemetry.metrics.slots`): one per
backend host for the round trip (and ``detailed_connection``), one per backend for ``read_payload``.
A call appends its numbers to columns; the fold moves them per status, in C where it can."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.telemetry.metrics.instruments import ClientMetrics, ReadMetrics, ReadSeries
from krakenpy.telemetry.metrics.registry import Histogram
from krakenpy.telemetry.metrics.slots import by_key, count_seconds, count_sizes, take

__all__ = ["CANCELED", "FAILED", "TIMEDOUT", "ClientSlot", "ReadSlot"]

#: a row's failure: none (0), canceled, timed out, failed without a response
CANCELED: Final = 1
TIMEDOUT: Final = 2
FAILED: Final = 3


class ClientSlot:
    """One backend host's calls, as columns (:meth:`record` appends a call's status, seconds and
    response size, and with ``detailed_connection`` its three connection times) and running totals
    (request body bytes, failures by kind). Numbers only: nothing queued holds anything of the call
    alive (no connection, body, exception, nor the ``CallTiming``; 2026-12-02, branch ``metrics``:
    the timing kept in a row survived each young collection), and no row tuple is built a call nor
    transposed at the fold (``zip(*rows)`` over 8-tuple rows, ``sum``/``any``/``count`` passes:
    ~1.2 k instructions a call at the fold, round 10; round 11, branch ``metrics3``)."""

    def __init__(self, metrics: ClientMetrics, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._metrics = metrics
        # the counters made with the host (exported from its first call, as before)
        self.started = metrics.started.counter(*labels)
        self.failed = metrics.failed.counter(*labels)
        self.canceled = metrics.canceled.counter(*labels)
        self.timedout = metrics.timedout.counter(*labels)
        self.request_size = metrics.request_size.counter(*labels)
        self._connection = metrics.connection
        #: per status: duration, response size and (detailed_connection) the three connection histograms
        self.by_status: dict[int, tuple[Histogram, Histogram, tuple[Histogram, ...] | None]] = {}
        #: the queued calls: status (0 without a response), seconds, response size
        self.statuses: list[int] = []
        self.seconds: list[float] = []
        self.sizes: list[int] = []
        #: with ``detailed_connection``, the calls that obtained a new connection: status, get_conn,
        #: dns, tls seconds. A kept-alive call's three zeros are counted at the fold (its status
        #: group's calls less its dialled ones), not queued: three floats boxed, appended, sorted
        #: and summed a call for nothing (a zero moves no sum and lands in the first bucket)
        self.dialled: list[int] = []
        self.get_conn: list[float] = []
        self.dns: list[float] = []
        self.tls: list[float] = []
        # the queued calls' request body bytes and failures (canceled, timed out, failed)
        self._request_bytes = 0
        self._failures = [0, 0, 0, 0]

    def size(self) -> int:
        """The queued calls."""
        return len(self.statuses)

    def _series(self, status: int) -> tuple[Histogram, Histogram, tuple[Histogram, ...] | None]:
        labels = (*self.labels, str(status))
        metrics = self._metrics
        connection = self._connection
        found = self.by_status[status] = (
            metrics.duration.histogram(*labels),
            metrics.response_size.histogram(*labels),
            tuple(family.histogram(*labels) for family in connection) if connection is not None else None,
        )
        return found

    def record(
        self, status: int, seconds: float, size: int, request_size: int, failure: int, get_conn: float, dns: float,
        tls: float,
    ) -> None:  # fmt: skip
        """One call (the client layer's, per call): ``failure`` one of 0, :data:`CANCELED`,
        :data:`TIMEDOUT`, :data:`FAILED`; the connection times kept only with ``detailed_connection``."""
        self.statuses.append(status)
        self.seconds.append(seconds)
        self.sizes.append(size)
        if request_size:
            self._request_bytes += request_size
        if failure:
            self._failures[failure] += 1
        # a call that got no new connection records three zeros (krakend-otel's hooks): counted at the fold
        if get_conn and self._connection is not None:
            self.dialled.append(status)
            self.get_conn.append(get_conn)
            self.dns.append(dns)
            self.tls.append(tls)

    def drain(self) -> None:
        """Fold the queued calls."""
        if not self.statuses:
            return
        statuses = take(self.statuses)
        seconds = take(self.seconds)
        sizes = take(self.sizes)
        self.started.value += len(statuses)
        self.request_size.value += self._request_bytes
        self._request_bytes = 0
        failures = self._failures
        if failures[CANCELED] or failures[TIMEDOUT] or failures[FAILED]:
            # krakend-otel: a timed-out call counts in failed too, a canceled one only in canceled
            self.canceled.value += failures[CANCELED]
            self.timedout.value += failures[TIMEDOUT]
            self.failed.value += failures[FAILED] + failures[TIMEDOUT]
            failures[CANCELED] = failures[TIMEDOUT] = failures[FAILED] = 0
        dialled: dict[int, tuple[list[Any], ...]] = {}
        if self.dialled:
            dialled = dict(by_key(take(self.dialled), take(self.get_conn), take(self.dns), take(self.tls)))
        for status, group in by_key(statuses, seconds, sizes):
            duration, size, connection = self.by_status.get(status) or self._series(status)
            count_seconds(duration, group[0])
            count_sizes(size, group[1])
            if connection is not None:
                kept = len(group[0])
                times = dialled.get(status)
                if times is not None:
                    kept -= len(times[0])
                    count_seconds(connection[0], times[0])
                    count_seconds(connection[1], times[1])
                    count_seconds(connection[2], times[2])
                if kept:
                    connection[0].zeros(kept)
                    connection[1].zeros(kept)
                    connection[2].zeros(kept)


class ReadSlot:
    """One backend's body reads of the calls whose answer head arrived, as columns: the seconds
    from the head to the end of the body (worked out at the call, 0 for an end read before the
    head) and the response size; a failed read's seconds and bytes read in two more. Numbers only,
    as :class:`ClientSlot`'s: a failure is counted, never kept (a row waits for the next fold, and
    an exception's traceback keeps the call's frames, partial bodies up to the client's max body
    and the request body, alive until then)."""

    def __init__(self, reads: ReadMetrics, labels: tuple[str, ...]) -> None:
        self._reads = reads
        self._labels = labels
        #: the successful and the failed reads' series, each made at the fold that first has one (a
        #: scrape shows a backend's read series once it read a body, as krakend-otel records them)
        self._ok: ReadSeries | None = None
        self._error: ReadSeries | None = None
        self.seconds: list[float] = []
        self.sizes: list[int] = []
        self.failed_seconds: list[float] = []
        self.failed_sizes: list[int] = []

    def size(self) -> int:
        """The queued reads."""
        return len(self.seconds) + len(self.failed_seconds)

    def record(self, head: float, end: float, size: int, failed: bool, read_size: int) -> None:
        """One read: ``head`` and ``end`` clock readings (the answer's head, the body's end), the
        response size, whether the body failed and the bytes it read then."""
        elapsed = end - head if end > head else 0.0
        if failed:
            self.failed_seconds.append(elapsed)
            self.failed_sizes.append(read_size if read_size > 0 else 0)
        else:
            self.seconds.append(elapsed)
            self.sizes.append(size)

    def drain(self) -> None:
        """Fold the queued reads."""
        if self.seconds:
            if self._ok is None:
                self._ok = self._reads.series(self._labels, False)
            _add(self._ok, take(self.sizes), take(self.seconds))
        if self.failed_seconds:
            if self._error is None:
                self._error = self._reads.series(self._labels, True)
            failed = take(self.failed_seconds)
            self._error[4].value += len(failed)
            _add(self._error, take(self.failed_sizes), failed)


def _add(series: ReadSeries, sizes: list[int], seconds: list[float]) -> None:
    size_count, size_hist, time_count, time_hist, _ = series
    size_count.value += sum(sizes)
    count_sizes(size_hist, sizes)
    # in arrival order from the counter's value: the float the per-call += gave
    time_count.value = sum(seconds, time_count.value)
    count_seconds(time_hist, seconds)
