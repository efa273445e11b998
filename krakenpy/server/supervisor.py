"""The supervisor: the process ``krakenpy run`` starts. It serves nothing itself; it forks the workers,
keeps the listening sockets, restarts a worker that dies, coordinates reloads and the final drain.

Signals: ``SIGHUP`` reloads, ``SIGTERM``/``SIGINT`` drain (a second one cuts), ``SIGCHLD`` reaps.
A plain synchronous loop (``selectors`` and a signal wake-up pipe) rather than asyncio: forking
from inside a running event loop would hand the workers a loop they must not use.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable

from krakenpy import startgc
from krakenpy.server import earlystop, rundir, saidonce
from krakenpy.server.balance import Shares
from krakenpy.server.channel import Channel, pair
from krakenpy.server.rollout import Rollout
from krakenpy.server.runner import Config, ConfigSource, ServeOptions
from krakenpy.server.settings import RuntimeSettings
from krakenpy.server.slots import FORK_BLOCKED, Slot, become_worker, exit_reason
from krakenpy.server.worker import EXIT_CONFIG, Worker, run_worker, sequential
from krakenpy.stdio import flush_std_streams

__all__ = ["Supervisor"]

log = logging.getLogger("krakenpy")

#: a worker that dies sooner than this after being ready counts as a crash in a loop
STABLE_AFTER = 10.0
#: consecutive quick crashes of one slot before the supervisor gives up
MAX_QUICK_CRASHES = 5
#: how often a slot whose configuration no longer builds is tried again
RETRY = 5.0
#: beyond max_shutdown_wait_time, before a worker that ignores SIGTERM is killed
KILL_GRACE = 5.0
#: a second stop signal sooner than this is the same one delivered twice (to the process group
#: and forwarded by a wrapper), not an operator asking to cut
REPEAT = 1.0


class Supervisor:
    """Runs until every worker has exited after a stop, or until it gives up."""

    def __init__(
        self,
        config: Config,
        settings: RuntimeSettings,
        options: ServeOptions,
        source: ConfigSource,
        sockets: list[list[socket.socket]],
    ) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        self.source = source
        self.slots = [Slot(i + 1, s) for i, s in enumerate(sockets)]
        self.generation = 0
        self.stopping = False
        self.stopped_at = 0.0
        self.code = 0
        self.started_once = False  # every slot was ready once: config errors no longer end the process
        #: worker 1 was ready once: the start's warnings and KrakenD's start lines were said, and a
        #: replacement forked from now on (one that died) does not say them again
        self.announced = False
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []
        #: the signal mask before _spawn blocked FORK_BLOCKED: what a forked worker restores
        self.fork_mask: set[int | signal.Signals] = set()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.wake: tuple[int, int] = (-1, -1)
        self.rollout = Rollout(self)
        #: the first worker's telemetry listeners listened once: a worker forked from now on accepts at once
        #: (before, it waits for them: the supervisor's ``accept``, sent when the first says ``listening``)
        self.opened = False
        #: the workers after the first wait for its first ``ready`` (``sequential_start``)
        self.holding = len(self.slots) > 1 and sequential(config.service)
        #: with more than one worker, where each publishes its metrics for the scrapes (``run``)
        self.run_dir: str | None = None
        #: with more than one worker, their live connection counts (the workers share the sockets)
        self.shares: Shares | None = None

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        wake_read, wake_write = self.wake = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        handlers = {s: signal.signal(s, self._on_signal) for s in self._SIGNALS}
        # what the workers inherit stays out of the collector's reach: a collection in a worker would
        # write to every inherited object and copy the pages the processes share. No collection
        # first (~22 ms of CPU on the way to the first answer, P7, 100 endpoints): the start ran with
        # automatic collection paused (krakenpy/startgc.py), so ~1,500 unreachable objects (argparse
        # formatters, class builders, functions, tuples: no sockets or files) stay frozen here, a few
        # hundred KiB
        gc.freeze()
        if len(self.slots) > 1:
            self.run_dir = rundir.create()
            saidonce.share(self.run_dir)  # a warning about a dependency: said by one process
            self.shares = Shares(len(self.slots))
        try:
            # a stop that came during the start (recorded since the command began): no worker is forked
            early = earlystop.take()
            if early:
                self._stop(signal.Signals(early[0]).name + " during the start")
            # sequential_start: the first worker runs the agents and opens its listener once they
            # have started; the others are forked when it is ready, so no worker serves before them
            for slot in [] if self.stopping else self.slots[:1] if self.holding else self.slots:
                self._spawn(slot)
            startgc.resume()  # paused by the CLI for the start; the workers forked with it paused
            if self.options.watch:
                self.rollout.start_watching()
            while not self._finished():
                self._turn(wake_read)
        finally:
            signal.set_wakeup_fd(previous)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)
            self._close_sockets()
            if self.run_dir is not None:
                rundir.remove(self.run_dir)
                saidonce.share(None)
        return self.code

    _SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)  # handled by the loop, outside the signal handler

    def _finished(self) -> bool:
        return self.stopping and all(slot.pid == 0 for slot in self.slots)

    def _turn(self, wake_read: int) -> None:
        timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    os.read(wake_read, 4096)
                except BlockingIOError:
                    pass
            else:
                self._on_message(key.data)
        while self.signals:
            self._handle_signal(self.signals.pop(0))
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()

    def after(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._order), action))

    def _handle_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            self._reap()
        elif signum == signal.SIGHUP:
            self.rollout.reload("SIGHUP")
        else:
            self._stop(signal.Signals(signum).name)

    # -- workers ----------------------------------------------------------------------------------

    def _spawn(self, slot: Slot) -> None:
        parent_end, child_end = pair()
        flush_std_streams()
        parent = os.getpid()
        # a stop signal sent to the new worker before it drops the supervisor's handlers would run
        # the inherited one, which only queues it in the child's copy of ``signals``: lost, and the
        # worker served on through the stop. Blocked across the fork, it stays pending until
        # become_worker has set the worker's own dispositions
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        self.fork_mask = blocked  # the child's once become_worker has run
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # no child: the supervisor's own again
            raise
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        else:
            code = 70
            try:
                parent_end.close()
                code = self._child(slot, child_end, parent)
            except BaseException:
                log.exception("worker %d crashed while starting", slot.index)
            finally:
                flush_std_streams()
                os._exit(code)
        child_end.close()
        slot.pid, slot.channel, slot.ready_at, slot.generation = pid, parent_end, 0.0, self.generation
        self.selector.register(parent_end.sock, selectors.EVENT_READ, slot)
        log.debug("worker %d started (pid %d)", slot.index, pid)

    def _child(self, slot: Slot, channel: Channel, parent: int) -> int:
        """In the forked process: shed the supervisor's state, then serve."""
        become_worker(parent, self.fork_mask)
        self.selector.close()
        for fd in self.wake:
            os.close(fd)
        for other in self.slots:
            if other is not slot:
                for sock in other.sockets:
                    if sock not in slot.sockets:  # with -w N > 1 every slot has the same sockets
                        sock.close()
                if other.channel is not None:
                    other.channel.close()
        worker = Worker(slot.index, slot.sockets, channel, self.config, self.settings, self.options, self.source)
        worker.generation = self.generation
        worker.gated = slot.index > 1 and not self.opened
        worker.announce = slot.index == 1 and not self.announced
        worker.run_dir = self.run_dir
        worker.shares = self.shares
        return run_worker(worker, self.options.loop)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is not None:
                self._exited(slot, status)

    def _exited(self, slot: Slot, status: int) -> None:
        if slot.channel is not None:
            self._on_message(slot)  # what it said last (a start-up failure) may still be unread
            self._drop_channel(slot)
        pid, slot.pid = slot.pid, 0
        if self.run_dir is not None:  # its counters still count; its gauges no longer do
            rundir.retire(self.run_dir, pid)
        if self.shares is not None:  # its connections died with it: the others take the new ones
            self.shares.retire(slot.index - 1)
        self.rollout.forget(slot)
        if self.stopping:
            if os.WIFEXITED(status) and os.waitstatus_to_exitcode(status) not in (0, EXIT_CONFIG):
                self.code = self.code or 1
            return
        reason = exit_reason(status)
        if os.WIFEXITED(status) and os.waitstatus_to_exitcode(status) == EXIT_CONFIG:
            self._unbuildable(slot)
            return
        quick = not slot.ready_at or time.monotonic() - slot.ready_at < STABLE_AFTER
        slot.quick_crashes = slot.quick_crashes + 1 if quick else 1
        if slot.quick_crashes >= MAX_QUICK_CRASHES:
            log.error("worker %d (pid %d) died (%s)", slot.index, pid, reason)
            crashes = f"worker {slot.index} died {slot.quick_crashes} times in a row within {STABLE_AFTER:.0f} s"
            self._give_up(f"{crashes}: giving up")
            return
        delay = 0.0 if slot.quick_crashes == 1 else min(5.0, 0.25 * 2 ** (slot.quick_crashes - 2))
        log.warning("worker %d (pid %d) died (%s): restarting it in %.2f s", slot.index, pid, reason, delay)
        self.after(delay, lambda: None if self.stopping or slot.pid else self._spawn(slot))

    def _unbuildable(self, slot: Slot) -> None:
        """A worker could not build the configuration."""
        issues = list(dict.fromkeys(slot.failure))
        if not self.started_once:  # at start-up: a configuration error, printed like ``check`` does
            for issue in issues:
                print(f"ERROR: {issue}", file=sys.stderr)
            print(f"{len(issues)} error(s) in {self.config.service.source}", file=sys.stderr)
            # nothing served: no drain to announce (the workers still building are simply stopped)
            self._give_up("the configuration does not build: not serving", drain=False)
            return
        # later, the files changed on disk since they were checked: not a crash. The other workers
        # keep serving; this slot comes back once the files (or a reload) make it build again
        shown = "; ".join(issues[:3])
        log.error("worker %d cannot build the configuration (%s): retrying in %.0f s", slot.index, shown, RETRY)
        self.after(RETRY, lambda: None if self.stopping or slot.pid else self._spawn(slot))

    def _give_up(self, why: str, *, drain: bool = True) -> None:
        log.error("%s", why)
        self.code = 1
        self._stop("giving up", say=drain)

    def _drop_channel(self, slot: Slot) -> None:
        if slot.channel is not None:
            self.selector.unregister(slot.channel.sock)
            slot.channel.close()
            slot.channel = None

    def _on_message(self, slot: Slot) -> None:
        channel = slot.channel
        if channel is None:
            return
        messages = channel.receive()
        if messages is None:
            self._drop_channel(slot)  # waitpid says why
            return
        for message in messages:
            event = message.get("event")
            if event == "ready":
                self._ready(slot, int(message.get("generation", 0)))
            elif event == "listening" and slot.index == 1:
                self.opened = True
                for other in self.slots[1:]:
                    if other.channel is not None:
                        other.channel.send({"command": "accept"})
            elif event == "failed":
                slot.failure = [str(i) for i in message.get("issues", [])]
            elif event == "reloaded":
                self.rollout.answered(slot, message)

    def _ready(self, slot: Slot, generation: int) -> None:
        slot.ready_at = time.monotonic()
        if slot.index == 1:
            self.announced = True
        if self.holding and slot.index == 1:
            self.holding = False
            for held in self.slots[1:]:
                if not held.pid and not self.stopping:
                    self._spawn(held)
        if all(s.ready_at for s in self.slots):
            self.started_once = True
        if generation < self.generation and slot.channel is not None:
            # forked before a reload was accepted: bring it up to date like the others
            self.rollout.send(slot)

    def _stop(self, why: str, *, say: bool = True) -> None:
        """Drain the workers; ``say``: with a line saying how many (a start that built nothing has none)."""
        if self.stopping:
            if time.monotonic() - self.stopped_at >= REPEAT:
                log.info("%s again: cutting in-flight requests", why)
                self._signal_workers(signal.SIGTERM)
            return
        self.stopping = True
        self.stopped_at = time.monotonic()
        wait = self.settings.limits.shutdown_wait
        alive = self.alive()
        if say and alive:
            workers = "1 worker" if alive == 1 else f"{alive} workers"
            log.info("%s: draining %s (max_shutdown_wait_time %s)", why, workers, f"{wait:g}s" if wait else "none")
        elif say:  # a stop during the start: no worker was forked
            log.info("%s: stopping (no worker running)", why)
        self._close_sockets()  # new connections are refused from now on
        self._signal_workers(signal.SIGTERM)
        if wait:
            self.after(wait + KILL_GRACE, lambda: self._signal_workers(signal.SIGKILL))

    def alive(self) -> int:
        return sum(1 for s in self.slots if s.pid)

    def _signal_workers(self, sig: int) -> None:
        for slot in self.slots:
            if slot.pid:
                try:
                    os.kill(slot.pid, sig)
                except ProcessLookupError:
                    pass

    def _close_sockets(self) -> None:
        for slot in self.slots:
            for sock in slot.sockets:
                sock.close()
