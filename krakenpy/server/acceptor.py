"""Accept every queued connection per readiness event on loops that accept one at a time.

libuv accepts a single connection each time the listening socket is reported readable (since
libuv 1.45, libuv PR #3696), so uvloop's ``create_server`` admits one new client per loop turn.
Under overload a turn lasts tens of milliseconds (every ready request runs in it), and a burst of
new connections waits seconds in the kernel's accept queue: measured 2026-12-01 at c=200 on one
worker (``bench --only P5``), the last of wrk's 200 connections was accepted 3.4 s after the first,
which is uvloop's p99 of 1.1–1.5 s and its timeouts, while requests already accepted waited at most
90 ms. asyncio's selector loop accepts up to the backlog per event and keeps ``create_server``.

:class:`Acceptor` watches the listening socket itself, accepts until the queue is empty (at most
the backlog per event, like asyncio), and hands each socket to ``loop.connect_accepted_socket``.

With several workers on one shared listening socket it also keeps their live connections even
(:mod:`krakenpy.server.balance`, on either loop): per readiness event it takes at most its
:meth:`~krakenpy.server.balance.Share.quota` of the queue, still in one batch (a burst of 200 is two
batches of 100, not 200 loop turns), and a worker over its share stops watching the socket for
:data:`~krakenpy.server.balance.RECHECK` seconds at a time, and takes the queued connections
itself once nobody took one for :data:`~krakenpy.server.balance.STUCK` seconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from krakenpy.server.balance import RECHECK, STUCK, Share, queued
from krakenpy.server.logs import Tally

__all__ = ["Acceptor", "accepts_in_batches"]

log = logging.getLogger("krakenpy")

#: out of descriptors or memory: stop accepting for a moment instead of spinning (asyncio waits 1 s)
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RETRY_DELAY = 1.0


def accepts_in_batches(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop's own ``create_server`` drains the accept queue per event (asyncio's does)."""
    return isinstance(loop, asyncio.BaseEventLoop)


class Acceptor:
    """A listening socket served through ``connect_accepted_socket``; ``close`` stops accepting (the
    socket stays open: it is the worker's copy, which the worker closes when it drains)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Callable[[], asyncio.Protocol],
        sock: socket.socket,
        *,
        backlog: int,
        errors: Tally | None = None,
        tls: ssl.SSLContext | None = None,
        handshake_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        share: Share | None = None,
    ) -> None:
        self._loop = loop
        self._factory = factory
        self._sock = sock
        self._backlog = backlog
        self._errors = errors
        self._tls: dict[str, Any] = {}
        if tls is not None:
            self._tls = {
                "ssl": tls,
                "ssl_handshake_timeout": handshake_timeout,
                "ssl_shutdown_timeout": shutdown_timeout,
            }
        self._pending: set[asyncio.Task[Any]] = set()
        self._serving = False
        self._share = share
        #: over its share: the timer that looks at the queue again (the socket is not watched meanwhile)
        self._deferred: asyncio.TimerHandle | None = None
        #: out of descriptors: the timer that starts accepting again (``close`` cancels it: a drain)
        self._retry: asyncio.TimerHandle | None = None
        #: whether the listening socket is watched now (not paused over its share or out of descriptors)
        self._watching = False
        #: with a share, the socket is watched through a private epoll set the loop watches: pausing
        #: and resuming are one ``epoll_ctl(MOD)`` each. The loop's own ``remove_reader`` and
        #: ``add_reader`` per pause cost uvloop 6 ``epoll_ctl`` (3 failing: its handle is closed and
        #: made again), an ``ioctl`` and an ``io_uring_enter`` (strace, bench/README "balancefix")
        self._poll: select.epoll | None = None
        if share is not None and hasattr(select, "epoll"):
            self._poll = select.epoll(1)
            self._poll.register(sock.fileno(), 0)
        sock.setblocking(False)

    def start(self) -> Acceptor:
        """Begin accepting."""
        self._serving = True
        if self._poll is not None:
            self._loop.add_reader(self._poll.fileno(), self._accept)
        self._watch()
        return self

    def close(self) -> None:
        """Stop accepting for good; connections already accepted go on."""
        for timer in (self._retry, self._deferred):
            if timer is not None:
                timer.cancel()
        self._retry = self._deferred = None
        if self._watching:
            self._pause()
        if self._poll is not None:
            if self._serving:
                self._loop.remove_reader(self._poll.fileno())
            self._poll.close()
        self._serving = False

    def _watch(self) -> None:
        self._watching = True
        if self._poll is not None:
            self._poll.modify(self._sock.fileno(), select.EPOLLIN)
        else:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def _pause(self) -> None:
        self._watching = False
        if self._poll is not None:
            self._poll.modify(self._sock.fileno(), 0)
        else:
            self._loop.remove_reader(self._sock.fileno())

    def is_serving(self) -> bool:
        """Whether new connections are accepted."""
        return self._serving

    def _accept(self) -> None:
        share = self._share
        if share is None:
            self._take(self._backlog)
            return
        waiting = queued(self._sock)
        if not waiting:
            return  # another worker took them (every worker is woken by the same arrival)
        take = share.quota(waiting)
        if take:
            self._take(take)
            return
        # over its share: the others take these (the same arrival woke them); look again shortly
        self._pause()
        self._defer(share, share.others_progress(), time.monotonic())

    def _defer(self, share: Share, progress: int, since: float) -> None:
        self._deferred = self._loop.call_later(RECHECK, self._look_again, share, progress, since)

    def _look_again(self, share: Share, progress: int, since: float) -> None:
        self._deferred = None
        if share.others_progress() != progress:
            # someone took connections meanwhile (the usual case): watch again without reading the
            # queue; one still queued wakes this worker at once and is weighed in ``_accept``
            self._watch()
            return
        waiting = queued(self._sock)
        take = share.quota(waiting) if waiting else 0
        if waiting and not take:
            if time.monotonic() - since < STUCK:
                self._defer(share, progress, since)
                return
            take = waiting  # nobody took one for STUCK seconds (a long loop turn, or not scheduled)
        self._watch()
        if take:
            self._take(take)

    def _take(self, limit: int) -> None:
        share = self._share
        for _ in range(limit):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:  # out of descriptors or memory, or worse: pause rather than spin
                if exc.errno in _RESOURCE_ERRORS and self._errors is not None:
                    # one line, then a count per interval, as asyncio's reports of the same (logs.py)
                    self._errors.record(f"{exc.strerror}: retrying in {_RETRY_DELAY:.0f} s")
                else:
                    level = logging.ERROR if exc.errno in _RESOURCE_ERRORS else logging.CRITICAL
                    log.log(level, "cannot accept connections (%s): retrying in %.0f s", exc.strerror, _RETRY_DELAY)
                self._pause()
                self._retry = self._loop.call_later(_RETRY_DELAY, self._resume)
                return
            conn.setblocking(False)
            if share is not None:
                share.accepted()
            coro = self._loop.connect_accepted_socket(self._factory, conn, **self._tls)
            # a task per connection (not per request): the transport is set up in its first step
            task = self._loop.create_task(coro)
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _resume(self) -> None:
        self._retry = None
        if self._serving and not self._watching:
            self._watch()

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            if self._share is not None:
                self._share.closed()
            return
        exc = task.exception()
        if exc is not None and self._share is not None:
            self._share.closed()  # never reached the server: no connection_lost will say so
        if exc is not None:  # a TLS handshake that failed or timed out: the client's problem, not ours
            log.debug("connection not set up: %s", exc)
