"""The backend HTTP client's metric slots (see :mod:`krakenpy.telemetry.metrics.slots`): one per
backend host for the round trip (and ``detailed_connection``), one per backend for ``read_payload``.
A call appends one row; the fold counts them per status in C where it can."""

from __future__ import annotations

from operator import itemgetter, sub
from typing import Final

from krakenpy.telemetry.metrics.instruments import ClientMetrics, ReadMetrics, ReadSeries
from krakenpy.telemetry.metrics.registry import Histogram
from krakenpy.telemetry.metrics.slots import groups, take

__all__ = ["CANCELED", "FAILED", "TIMEDOUT", "ClientSlot", "ReadSlot"]

#: a row's failure: none (0), canceled, timed out, failed without a response
CANCELED: Final = 1
TIMEDOUT: Final = 2
FAILED: Final = 3

_STATUS = itemgetter(0)


class ClientSlot:
    """One backend host's calls: rows ``(status, seconds, response size, request body size, failure,
    get_conn, dns, tls)`` (the last three the call's ``CallTiming`` times when ``detailed_connection``
    is on, else zeros). Numbers only: a queued row holds nothing of the call alive (no connection,
    body, exception, nor the ``CallTiming``), and the collector untracks it at its first pass instead
    of walking it, and what it refers to, at every young collection until the fold (2026-12-02,
    branch ``metrics``: the timing kept in the row survived each young collection)."""

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
        self.rows: list[tuple[int, float, int, int, int, float, float, float]] = []
        #: what the client layer calls per call
        self.append = self.rows.append

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

    def drain(self) -> None:
        """Fold the queued calls."""
        if not self.rows:
            return
        batch = take(self.rows)
        columns = tuple(zip(*batch, strict=True))
        self.started.value += len(batch)
        self.request_size.value += sum(columns[3])
        failures = columns[4]
        if any(failures):
            # krakend-otel: a timed-out call counts in failed too, a canceled one only in canceled
            timedout = failures.count(TIMEDOUT)
            self.canceled.value += failures.count(CANCELED)
            self.timedout.value += timedout
            self.failed.value += failures.count(FAILED) + timedout
        for status, group in groups(batch, _STATUS):
            cols = columns if group is batch else tuple(zip(*group, strict=True))
            duration, size, connection = self.by_status.get(status) or self._series(status)
            duration.pending.extend(cols[1])
            size.pending.extend(cols[2])
            if connection is not None:
                get_conn, dns, tls = cols[5], cols[6], cols[7]
                if (any(dns) or any(tls)) and not all(get_conn):
                    # a call that got no new connection records three zeros (krakend-otel's hooks)
                    dns = tuple(d if g else 0.0 for d, g in zip(dns, get_conn, strict=True))
                    tls = tuple(t if g else 0.0 for t, g in zip(tls, get_conn, strict=True))
                connection[0].pending.extend(get_conn)
                connection[1].pending.extend(dns)
                connection[2].pending.extend(tls)


class ReadSlot:
    """One backend's body reads: rows ``(head, read end, response size, failed, bytes read)`` of the
    calls whose answer head arrived (the ``CallTiming``'s ``head``, ``read_end`` (set by the
    recorder) and ``read_size``). Numbers only, as :class:`ClientSlot`'s: ``failed`` is a bool, never
    the exception (a row waits for the next fold, and an exception's traceback keeps the call's
    frames, partial bodies up to the client's max body and the request body, alive until then)."""

    def __init__(self, reads: ReadMetrics, labels: tuple[str, ...]) -> None:
        self._reads = reads
        self._labels = labels
        self._ok = reads.series(labels, False)
        self._error: ReadSeries | None = None
        self.rows: list[tuple[float, float, int, bool, int]] = []
        self.append = self.rows.append

    def drain(self) -> None:
        """Fold the queued reads (one pass in C when none failed)."""
        if not self.rows:
            return
        batch = take(self.rows)
        heads, ends, sizes, failures, _ = zip(*batch, strict=True)
        if not any(failures):
            seconds = list(map(sub, ends, heads))
            if min(seconds) < 0.0:
                seconds = [s if s > 0.0 else 0.0 for s in seconds]
            _add(self._ok, sizes, seconds)
            return
        for head, end, size, failure, read_size in batch:  # a failed read among them: each row as it comes
            elapsed = end - head if end > head else 0.0
            if not failure:
                _add(self._ok, (size,), (elapsed,))
                continue
            if self._error is None:
                self._error = self._reads.series(self._labels, True)
            self._error[4].value += 1
            _add(self._error, (read_size if read_size > 0 else 0,), (elapsed,))


def _add(series: ReadSeries, sizes: tuple[int, ...] | list[int], seconds: list[float] | tuple[float, ...]) -> None:
    size_count, size_hist, time_count, time_hist, _ = series
    size_count.value += sum(sizes)
    size_hist.pending.extend(sizes)
    # in arrival order from the counter's value: the float the per-call += gave
    time_count.value = sum(seconds, time_count.value)
    time_hist.pending.extend(seconds)
