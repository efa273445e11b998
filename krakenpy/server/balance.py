"""How many of the queued connections a worker takes: an even split of live connections between the
workers of ``krakenpy run -w N``, by construction rather than by the kernel's hash.

Every worker accepts from the same listening socket (:mod:`krakenpy.server.listen`) and publishes
its live connection count (accepted, not closed yet) and its accepted total in a small shared memory
table the supervisor maps before forking (:class:`Shares`; each entry has one writer at a time,
8-byte aligned stores: no lock. The worker writes its entry while it lives; the supervisor's
:meth:`Shares.retire` writes its live count too, marking it absent, once that worker died and before
a replacement joins). A new connection wakes every worker (level-triggered epoll on the same
socket, watched through a private epoll set: :mod:`krakenpy.server.acceptor`); each reads the
accept queue's length (``TCP_INFO``'s ``tcpi_unacked``: on a listener, its accept backlog) and takes
at most its :meth:`Share.quota`: up to the even split of ``live connections + queued`` rounded down,
in one batch, then the remainder one at a time to the least loaded (of equals, the one that accepted
fewer: sequential short connections alternate instead of going to the quickest waker).
A burst of 50 on 2 workers is two batches of 25.

A worker over its share stops watching the socket and looks again after :data:`RECHECK` seconds
(if another worker took a connection meanwhile, it only watches the socket again: one still queued
wakes it at once); once no worker took a queued connection for :data:`STUCK` seconds (the
others are in a long loop turn, not scheduled, or gone) it takes them all. Balancing therefore delays
a connection only when the worker that should take it cannot run, and by at most ``STUCK`` (a
connection the kernel hashed to such a worker's ``SO_REUSEPORT`` socket waited for it however long).

Measured 2026-12-02 (``python -m bench.balance``, 20 bursts each, on a loaded 2-core machine): 50
connections on ``-w 2`` split worst ±36 %, median ±10 % with a ``SO_REUSEPORT`` socket per worker,
and 25/25 in all 20 with this (in a second run 19 of 20: once 1/49 at load average 15, the ``STUCK``
fallback); 200 on ``-w 4``: worst ±30 % before, ±8 % after (bench/README, "round 12: branch
``balance``").
Options not taken: a worker over its share pausing its own ``SO_REUSEPORT`` socket (a connection
queued there waits for that worker: it cannot be handed over); ``EPOLLEXCLUSIVE`` (asyncio cannot
ask for it, and one woken worker that leaves a connection to the others must not be the only one
woken).
"""

from __future__ import annotations

import mmap
import socket
import struct

__all__ = ["RECHECK", "STUCK", "Share", "Shares", "queued"]

#: a worker over its share looks at the queue again this often (it does not watch the socket meanwhile)
RECHECK = 0.001
#: queued connections nobody took for this long go to the worker that left them (see the module doc)
STUCK = 0.02
#: a worker slot that is not accepting (not started yet, draining, or dead)
_ABSENT = -1
#: two int64 per slot: live connections, connections accepted since the worker started
_FIELDS = 2
_TCP_INFO_LEN = 104
#: ``struct tcp_info``: 8 bytes of u8 fields, then u32 rto, ato, snd_mss, rcv_mss, unacked
_UNACKED = struct.Struct("=I")
_UNACKED_AT = 24


def queued(sock: socket.socket) -> int:
    """Connections waiting in ``sock``'s accept queue (Linux: a listener's ``tcpi_unacked`` is its
    accept backlog); 1 where that cannot be read, so the caller still tries one accept."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, AttributeError):
        return 1
    if len(info) < _UNACKED_AT + 4:
        return 1
    return int(_UNACKED.unpack_from(info, _UNACKED_AT)[0])


class Shares:
    """Every worker slot's counts, in anonymous shared memory inherited through ``fork``."""

    def __init__(self, slots: int) -> None:
        self._map = mmap.mmap(-1, 8 * _FIELDS * slots)  # MAP_SHARED | MAP_ANONYMOUS
        self.counts = memoryview(self._map).cast("q")
        self.slots = slots
        for index in range(slots):
            self.retire(index)

    def retire(self, index: int) -> None:
        """Slot ``index`` (0-based) accepts nothing: it no longer counts in anyone's share."""
        self.counts[_FIELDS * index] = _ABSENT

    def share(self, index: int) -> Share:
        """Slot ``index``'s (0-based) side."""
        return Share(self, index)

    def close(self) -> None:
        self.counts.release()
        self._map.close()


class Share:
    """One worker's entry: what it publishes and how many queued connections it takes."""

    def __init__(self, shares: Shares, index: int) -> None:
        self._counts = shares.counts
        self._slots = shares.slots
        self._at = _FIELDS * index
        #: accepted and not closed yet (being set up, or served)
        self.live = 0
        #: between join and leave: what it publishes counts in the others' shares
        self.present = False

    def join(self) -> None:
        """Start counting: on par with the others' accepted totals, so a replacement worker gets
        no run of tie-breaks."""
        counts = self._counts
        others = [counts[i * _FIELDS + 1] for i in range(self._slots) if i * _FIELDS != self._at]
        counts[self._at + 1] = max(others, default=0)
        self.present = True
        self.publish()

    def leave(self) -> None:
        """Accept no more (draining): the connections it still serves close without counting."""
        self.present = False
        self._counts[self._at] = _ABSENT

    def publish(self) -> int:
        if self.present:
            self._counts[self._at] = self.live
        return self.live

    def accepted(self) -> None:
        """One more connection taken (before its transport exists)."""
        self.live += 1
        self.publish()
        self._counts[self._at + 1] += 1

    def closed(self) -> None:
        """One of its connections closed, or was never set up (a failed TLS handshake): the others
        see it at once, else a worker whose connections all closed would look busy to them."""
        self.live -= 1
        self.publish()

    def others_progress(self) -> int:
        """The others' accepted totals summed: it grows while someone takes connections."""
        counts = self._counts
        return sum(counts[i + 1] for i in range(0, self._slots * _FIELDS, _FIELDS) if i != self._at)

    def quota(self, waiting: int) -> int:
        """How many of ``waiting`` queued connections this worker takes now (0: leave them)."""
        mine = self.publish()
        counts = self._counts
        total, workers = mine + waiting, 1
        fewest_live, fewest_accepted = -1, 0
        for at in range(0, self._slots * _FIELDS, _FIELDS):
            live = counts[at]
            if at == self._at or live < 0:
                continue
            total += live
            workers += 1
            if fewest_live < 0 or live < fewest_live or (live == fewest_live and counts[at + 1] < fewest_accepted):
                fewest_live, fewest_accepted = live, counts[at + 1]
        take = min(waiting, total // workers - mine)  # up to the even split, rounded down
        if take > 0:
            return take
        # the remainder, one at a time: to the least loaded; of equals, to the one that accepted fewer
        if mine < fewest_live or (mine == fewest_live and counts[self._at + 1] <= fewest_accepted):
            return 1
        return 0
