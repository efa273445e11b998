"""Reloads, supervisor side: check the new configuration once (:func:`krakenpy.server.reload.validate`),
hand it to every worker, follow their answers, and poll the files for ``--watch``. One reload at a
time: a request arriving meanwhile runs once the workers have answered."""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING

from krakenpy.config.quickcheck import forget_verdict, last_verdict
from krakenpy.server import saidonce
from krakenpy.server.reload import Candidate, validate
from krakenpy.server.runner import Config
from krakenpy.server.watch import INTERVAL, Watcher

if TYPE_CHECKING:
    from krakenpy.server.slots import Slot
    from krakenpy.server.supervisor import Supervisor

__all__ = ["Rollout"]

log = logging.getLogger("krakenpy")

#: how long workers get to answer a reload before it is reported as incomplete
RELOAD_ANSWER = 120.0
#: a change seen by --watch waits this long for the writer to finish
SETTLE = 0.3


class Rollout:
    """The reloads of one supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.attempts = 0  # reloads asked for (numbering the log lines)
        self.digest = ""
        #: the schema's quick verdict on the document checked, with its hash (quickcheck.last_verdict)
        self.verdict: tuple[str, bool] | None = None
        self.pending: dict[int, float] = {}  # slot → when its answer is due
        self.started = 0.0
        self.again = False
        self.watcher = Watcher()
        self.watch_due = False

    def reload(self, why: str) -> None:
        """Check the configuration file again and, when it is acceptable, send it to every worker."""
        if self.supervisor.stopping:
            return
        if self.pending:
            self.again = True  # once the workers have answered the current one
            return
        self.attempts += 1
        number = self.attempts
        log.info("reload %d (%s): checking the configuration", number, why)
        started = time.monotonic()
        if self.supervisor.options.watch:  # a change from now on triggers the next reload
            self.watcher.reset(self._files(self.supervisor.config))
        forget_verdict()  # the schema verdict of this check's document, sent on to the workers
        try:
            result = validate(self.supervisor.source, self.supervisor.settings, self.supervisor.options)
        except Exception:  # a bug while checking: the running configuration stays
            log.exception("reload %d refused: unexpected error while checking the configuration", number)
            return
        if self._stop_asked():
            # a SIGTERM that came while checking (a slow or stopped check): the workers it would be
            # sent to are about to drain; without this, their exits read as "applied by 0/0 workers"
            log.info("reload %d: not applied, shutting down", number)
            return
        if self.supervisor.options.watch and isinstance(result, Candidate):
            self.watcher.add(self._files(result.config))  # new Lua sources
        if not isinstance(result, Candidate):
            for reason in result:
                log.error("reload %d refused: %s", number, reason)
            log.error("reload %d refused: the running configuration keeps serving", number)
            return
        self._accept(result, number, started)

    def _accept(self, candidate: Candidate, number: int, started: float) -> None:
        # the new configuration's redaction first: its warnings below quote its own values
        self.supervisor.source.accepted(candidate.config)
        # each warning once, on its own line (the first three only were shown, joined; the components'
        # own were said besides, as every process that built the configuration logged them)
        if candidate.warnings:
            log.warning("reload %d: %d warning(s)", number, len(candidate.warnings))
        for warning in candidate.warnings:
            log.warning("reload %d: %s", number, warning)
        self.supervisor.config, self.supervisor.settings = candidate.config, candidate.settings
        self.supervisor.generation += 1
        saidonce.advance(self.supervisor.generation)
        self.digest = candidate.digest
        self.verdict = last_verdict()
        self.started = started
        for slot in self.supervisor.slots:
            if slot.pid and slot.ready_at and slot.channel is not None:
                self.send(slot)
        if not self.pending:
            log.info("reload %d: no worker running yet; new workers start with it", number)
            return
        generation = self.supervisor.generation
        self.supervisor.after(RELOAD_ANSWER, lambda: self._overdue(generation))

    def send(self, slot: Slot) -> None:
        """Ask one worker to switch to the current generation."""
        assert slot.channel is not None
        message: dict[str, object] = {
            "command": "reload",
            "generation": self.supervisor.generation,
            "digest": self.digest,
        }
        if self.verdict is not None:  # a worker reading the same document skips its own check's child
            message["verdict"] = list(self.verdict)
        if slot.channel.send(message):
            self.pending[slot.index] = time.monotonic() + RELOAD_ANSWER

    def answered(self, slot: Slot, message: dict[str, object]) -> None:
        """A worker's answer to :meth:`send`."""
        generation = int(str(message.get("generation", 0)))
        if message.get("ok"):
            slot.generation = generation
        else:
            errors = message.get("error")
            detail = "; ".join(str(e) for e in errors[:5]) if isinstance(errors, list) else str(errors)
            log.error("worker %d kept generation %d: %s", slot.index, slot.generation, detail)
        self.pending.pop(slot.index, None)
        if not self.pending:
            self._reload_done()

    def _stop_asked(self) -> bool:
        stops = (signal.SIGTERM, signal.SIGINT)
        return self.supervisor.stopping or any(s in stops for s in self.supervisor.signals)

    def _reload_done(self) -> None:
        if self.supervisor.stopping:  # the workers still pending exited on the way out: not an answer
            log.info("reload %d: shutting down before every worker had answered", self.attempts)
            self.again = False
            return
        current = sum(1 for s in self.supervisor.slots if s.pid and s.generation == self.supervisor.generation)
        took = time.monotonic() - self.started
        level = logging.INFO if current == self.supervisor.alive() else logging.WARNING
        log.log(
            level, "reload %d applied by %d/%d workers in %.2f s", self.attempts, current, self.supervisor.alive(), took
        )
        if self.again:
            self.again = False
            self.reload("changes during the last reload")

    def _overdue(self, generation: int) -> None:
        if self.supervisor.generation == generation and self.pending:
            log.error("reload %d: workers %s did not answer", self.attempts, sorted(self.pending))
            self.pending.clear()
            self._reload_done()

    def _files(self, config: Config) -> list[str]:
        paths = self.supervisor.source.watched(config)
        if self.supervisor.settings.tls is not None:
            paths += list(self.supervisor.settings.tls.files())
        return paths

    def _poll_files(self) -> None:
        if self.supervisor.stopping:
            return
        changed = self.watcher.changed()
        if changed and not self.watch_due:
            self.watch_due = True
            log.info("--watch: %s changed", ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else ""))
            self.supervisor.after(SETTLE, self._watch_reload)
        self.supervisor.after(INTERVAL, self._poll_files)

    def _watch_reload(self) -> None:
        self.watch_due = False
        self.reload("--watch")

    def forget(self, slot: Slot) -> None:
        """A worker exited: no answer is awaited from it any more."""
        if self.pending.pop(slot.index, None) is not None and not self.pending:
            self._reload_done()

    def start_watching(self) -> None:
        """Poll the files of the running configuration from now on (``--watch``)."""
        self.watcher.reset(self._files(self.supervisor.config))
        self.supervisor.after(INTERVAL, self._poll_files)
