"""Where the application log goes: handlers on the ``krakenpy`` logger, installed for the life of a
gateway and removed when it closes (so ``check`` leaves the process as it found it).

Requests never call ``logging`` on the hot path; these handlers serve start-up lines, failures and
Lua ``print``. Standard-output lines share the access log's :class:`LineWriter`, so both keep their
order and are written in the same batches.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from krakenpy.telemetry.logfmt import (
    DEFAULT_PATTERN,
    LOGSTASH_PATTERN,
    BasicFormatter,
    LogstashFormatter,
    PatternFormatter,
)
from krakenpy.telemetry.loopowner import LoopOwner
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.settings import LoggingOptions
from krakenpy.telemetry.writer import LineWriter

__all__ = [
    "AppLogOptions",
    "LineHandler",
    "Masking",
    "app_log_options",
    "follow_redactor",
    "install_handlers",
    "make_formatter",
    "root_redactor",
]

LOGGER = "krakenpy"


@dataclass(frozen=True, slots=True)
class AppLogOptions:
    """``telemetry/logging`` (+ ``telemetry/logstash``) after parsing."""

    level: int = logging.INFO
    prefix: str = ""
    stdout: bool = False
    syslog: bool = False
    syslog_facility: str = "local3"
    format: Literal["default", "logstash", "custom", "basic"] = "default"
    custom_format: str = ""
    #: ``telemetry/logstash`` enabled: clean JSON lines whatever ``format`` says
    logstash: bool = False


def app_log_options(options: LoggingOptions | None, *, logstash: bool, level: int) -> AppLogOptions:
    """The application log's set-up from ``telemetry/logging`` (absent: standard output at ``level``)
    and whether ``telemetry/logstash`` is on."""
    options = options or LoggingOptions(level=level, stdout=True)
    return AppLogOptions(
        level=options.level,
        prefix=options.prefix,
        stdout=options.stdout,
        syslog=options.syslog,
        syslog_facility=options.syslog_facility,
        format=options.format,
        custom_format=options.custom_format,
        logstash=logstash,
    )


def make_formatter(options: AppLogOptions, redactor: Redactor | None = None) -> logging.Formatter:
    """The line formatter for these options (raises PatternError for a bad custom format)."""
    module = options.prefix or "KRAKEND"
    if options.logstash:
        return LogstashFormatter(module=module, redactor=redactor)
    if options.format == "basic":
        return BasicFormatter(redactor)
    if options.format == "logstash":
        return PatternFormatter(LOGSTASH_PATTERN, module="KRAKEND", redactor=redactor, json_message=True)
    if options.format == "custom":
        return PatternFormatter(options.custom_format, module="KRAKEND", redactor=redactor)
    return PatternFormatter(DEFAULT_PATTERN, prefix=options.prefix, redactor=redactor)


class LineHandler(logging.Handler):
    """Formatted records as lines on a :class:`LineWriter` (batched with the access log), written
    from the loop's thread (:class:`~krakenpy.telemetry.loopowner.LoopOwner`)."""

    def __init__(self, writer: LineWriter, formatter: logging.Formatter) -> None:
        super().__init__()
        self.writer = writer
        self.owner = LoopOwner()
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.owner.call(self.writer.write, self.format(record).encode("utf-8", "replace") + b"\n")
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """The batch written now, not at the end of the loop's tick (a line said for the whole gateway,
        :mod:`krakenpy.server.saidonce`: the other processes fold it from now on)."""
        self.owner.call(_flush, self.writer)


def _flush(writer: LineWriter) -> None:
    writer.flush()


#: the ``krakenpy`` logger before any gateway configured it (handlers, level, propagate)
_ORIGINAL: tuple[list[logging.Handler], int, bool] | None = None


def install_handlers(handlers: Sequence[logging.Handler], level: int) -> Callable[[], None]:
    """Make ``handlers`` the only outputs of the ``krakenpy`` logger (none: the log goes nowhere);
    returns the undo.

    A hot reload builds the next gateway before the previous one is closed, so undos run in the order
    the gateways were built, not the reverse: an undo closes its own handlers and gives the logger
    back its original set-up only while no later gateway has replaced them."""
    global _ORIGINAL
    logger = logging.getLogger(LOGGER)
    if _ORIGINAL is None:
        _ORIGINAL = (list(logger.handlers), logger.level, logger.propagate)
    original = _ORIGINAL
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    # no output at all (stdout and syslog off) means no application log, as in KrakenD: a logger
    # without handlers would fall to ``logging.lastResort`` (WARNING and above on standard error)
    mine = list(handlers) or [logging.NullHandler()]
    for handler in mine:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def undo() -> None:
        global _ORIGINAL
        still_mine = logger.handlers == mine
        for handler in mine:
            logger.removeHandler(handler)
            if handler not in original[0]:
                handler.close()
        if still_mine:
            for handler in original[0]:
                logger.addHandler(handler)
            logger.setLevel(original[1])
            logger.propagate = original[2]
            _ORIGINAL = None

    return undo


@runtime_checkable
class Masking(Protocol):
    """A formatter or handler that masks its lines with ``redactor`` (the formatters of
    :mod:`krakenpy.telemetry.logfmt`, the syslog handler)."""

    redactor: Redactor


#: per masking target (a root handler, its formatter): the redactor it had before the gateways it
#: follows, then theirs in the order they were built, the last one masking (weak: a handler removed
#: from the root logger takes its entry with it)
_FOLLOWED: weakref.WeakKeyDictionary[object, list[Redactor]] = weakref.WeakKeyDictionary()


def _root_targets() -> list[Masking]:
    """The root logger's handlers and their formatters that mask."""
    found: list[Masking] = []
    for handler in logging.getLogger().handlers:
        targets: tuple[object, ...] = (handler, handler.formatter)
        found.extend(target for target in targets if isinstance(target, Masking))
    return found


def follow_redactor(redactor: Redactor) -> Callable[[], None]:
    """Make the root logger's handlers (the command line's basic logger, the supervisor's standard
    output and syslog, which every worker inherits) mask with ``redactor``, a gateway's: its
    ``redact`` lists and the literals learned from its configuration, as the handlers
    ``telemetry/logging`` installs for it do; returns the undo. Set once per gateway built, nothing
    per line.

    A reload builds the next gateway before the previous one closes, and a candidate that fails
    closes while the previous one serves: an undo takes its gateway's redactor out, and a handler
    it was masking then masks with the latest gateway still open, or with the redactor it had before
    any (:func:`root_redactor`), never with a closed gateway's."""
    followed = _root_targets()
    for target in followed:
        chain = _FOLLOWED.get(target)
        if chain is None:
            chain = _FOLLOWED[target] = [target.redactor]
        chain.append(redactor)
        target.redactor = redactor

    def undo() -> None:
        for target in followed:
            chain = _FOLLOWED.get(target)
            if chain is None:
                continue
            for i in range(len(chain) - 1, 0, -1):
                if chain[i] is redactor:
                    del chain[i]
                    break
            else:
                continue
            if target.redactor is redactor:
                target.redactor = chain[-1]
            if len(chain) == 1:
                del _FOLLOWED[target]

    return undo


def root_redactor(redactor: Redactor) -> None:
    """Make ``redactor`` the one the root logger's handlers mask with when no gateway is open (the
    supervisor's, from its configuration: at start, and on every reload it accepts)."""
    for target in _root_targets():
        chain = _FOLLOWED.get(target)
        if chain is None:
            target.redactor = redactor
        else:
            chain[0] = redactor
