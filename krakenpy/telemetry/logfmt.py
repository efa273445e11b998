"""Application-log line formats of KrakenD, as stdlib ``logging.Formatter`` s compiled once:

- ``basic``: lura's logger when ``telemetry/logging`` is absent:
  ``2026/11/30 16:00:00 KRAKEND INFO: message``;
- go-logging patterns (``telemetry/logging`` ``default``, ``logstash`` and ``custom``), with the
  verbs ``%{id} %{pid} %{time:<Go layout>} %{level} %{program} %{message} %{module} %{color}
  %{shortfile} %{longfile} %{callpath} %{shortfunc} %{longfunc} %{shortpkg} %{longpkg}``, printf
  layouts (``%{level:.4s}``), and krakenpy's ``%{request_id}``;
- logstash JSON (``telemetry/logstash``): sorted keys, µs timestamps with the real offset.

Every message is redacted, and a line written while serving a request carries its request id
(``request_id=…`` appended, or a JSON key), unless the pattern places ``%{request_id}`` itself.
A record is one line: CR and LF in its text (a failure quoting a client's value, a traceback) are
written ``\\r`` and ``\\n``, as JSON writes them in the logstash formats, so a client's value cannot
forge a line; the other control characters but the tab are written escaped too (``\\x1b``): no
terminal escape sequence from a client reaches the log raw.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from typing import Final

import orjson

from krakenpy.gojson import text_json
from krakenpy.goquote import control_escape
from krakenpy.telemetry.exchange import CURRENT, current_secrets
from krakenpy.telemetry.gotime import compile_layout, utc_offset
from krakenpy.telemetry.redact import Redactor

__all__ = [
    "DEFAULT_PATTERN",
    "LEVELS",
    "LOGSTASH_PATTERN",
    "NOTICE",
    "PREMASKED",
    "BasicFormatter",
    "LogstashFormatter",
    "PatternError",
    "PatternFormatter",
    "krakend_level",
    "masked",
    "one_line",
]

NOTICE: Final = 25
logging.addLevelName(NOTICE, "NOTICE")
#: KrakenD level names → stdlib levels
LEVELS: Final = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "NOTICE": NOTICE,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
DEFAULT_PATTERN: Final = " %{time:2006/01/02 - 15:04:05.000} %{color}▶ %{level}%{color:reset} %{message}"
LOGSTASH_PATTERN: Final = (
    '{"@timestamp":"%{time:2006-01-02T15:04:05.000+00:00}", "@version": 1, "level": "%{level}", '
    '"message": "%{message}", "module": "%{module}"}'
)
_COLORS: Final = {
    logging.CRITICAL: "\x1b[35m",
    logging.ERROR: "\x1b[31m",
    logging.WARNING: "\x1b[33m",
    NOTICE: "\x1b[32m",
    logging.DEBUG: "\x1b[36m",
}
_BOLD: Final = {level: seq[:-1] + ";1m" for level, seq in _COLORS.items()}
_VERB = re.compile(r"%\{([a-z_]+)(?::([^}]*))?\}")
_PRINTF = re.compile(r"^(-)?(0)?(\d+)?(?:\.(\d+))?([sdqvx])$")
_ids = itertools.count(1)
_HOST = socket.gethostname()


class PatternError(ValueError):
    """A custom format krakenpy cannot compile (go-logging refuses it too)."""


def krakend_level(levelno: int) -> str:
    """The KrakenD name of a stdlib level (nearest lower one)."""
    if levelno >= logging.CRITICAL:
        return "CRITICAL"
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARNING"
    if levelno >= NOTICE:
        return "NOTICE"
    if levelno >= logging.INFO:
        return "INFO"
    return "DEBUG"


def _printf(layout: str | None) -> Callable[[object], str]:
    if not layout:
        return str
    m = _PRINTF.match(layout)
    if m is None:
        raise PatternError(f"unsupported layout {layout!r}")
    left, zero, width, precision, verb = m.groups()
    spec = ("<" if left else ">") + (width or "")
    if zero and not left and width:
        spec = "0>" + width

    def fmt(value: object) -> str:
        if verb == "d" and isinstance(value, int):
            text = str(value)
        elif verb == "x" and isinstance(value, int):
            text = f"{value:x}"
        elif verb == "q":
            text = text_json(str(value)).decode()
        else:
            text = str(value)
        if precision is not None and verb in "sqv":
            text = text[: int(precision)]
        return format(text, spec) if width else text

    return fmt


#: (record, message, level text) -> text
_Piece = Callable[[logging.LogRecord, str, str], str]


def _verb(name: str, layout: str | None, module: str) -> _Piece:
    if name == "time":
        # go-logging's default (its rfc3339Milli): "Z" for UTC, else the offset; its comment's
        # "Z-07:00" would write a literal Z before the offset
        stamp = compile_layout(layout or "2006-01-02T15:04:05.999Z07:00")
        return lambda r, m, lv: stamp(r.created)
    if name == "color":
        if layout in (None, ""):
            return lambda r, m, lv: _COLORS.get(_floor(r.levelno), "")
        if layout == "reset":
            return lambda r, m, lv: "\x1b[0m"
        if layout == "bold":
            return lambda r, m, lv: _BOLD.get(_floor(r.levelno), "")
        raise PatternError(f"unknown color layout {layout!r}")
    p = _printf(layout)
    getters: dict[str, Callable[[logging.LogRecord, str, str], object]] = {
        "id": lambda r, m, lv: next(_ids),
        "pid": lambda r, m, lv: os.getpid(),
        "level": lambda r, m, lv: lv,
        "program": lambda r, m, lv: _program(),
        "message": lambda r, m, lv: m,
        "module": lambda r, m, lv: module,
        "shortfile": lambda r, m, lv: f"{os.path.basename(r.pathname)}:{r.lineno}",
        "longfile": lambda r, m, lv: f"{r.pathname}:{r.lineno}",
        "callpath": lambda r, m, lv: r.funcName,
        "shortfunc": lambda r, m, lv: r.funcName,
        "longfunc": lambda r, m, lv: f"{r.module}.{r.funcName}",
        "shortpkg": lambda r, m, lv: r.module,
        "longpkg": lambda r, m, lv: r.name,
        "request_id": lambda r, m, lv: _request_id() or "-",
    }
    get = getters.get(name)
    if get is None:
        raise PatternError(f"unknown verb %{{{name}}}")
    return lambda r, m, lv: p(get(r, m, lv))


def _program() -> str:
    """go-logging's ``%{program}``: the base name of the command (``krakenpy``), not ``__main__.py``
    (``python -m krakenpy``) nor ``-c``, as GELF's ``facility`` names it."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "krakenpy" if name in ("", "-c", "__main__.py") else name


def _floor(levelno: int) -> int:
    return LEVELS[krakend_level(levelno)]


def _request_id() -> str | None:
    exchange = CURRENT.get()
    return exchange.request_id if exchange is not None else None


#: control characters a line never carries raw (a tab is kept): C0, DEL, C1 (U+009B is a CSI) and the
#: Unicode line and paragraph separators (line breaks to a reader that splits lines as Python does)
_CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` as one log line: CR and LF written ``\\r`` and ``\\n``, the other control characters
    but the tab as Go quotes them (``\\x1b``, ``\\u009b``): a client's value (a decoded ``%1B``) quoted
    in a failure or printed by a script cannot forge a line nor send escape sequences to the terminal
    that shows the log (recolour, move the cursor over earlier lines, set the window's title);
    backslashes left as they are, as Lua's ``print`` writes them."""
    if text.isprintable():  # the usual text: one C scan (a tab, a space other than " " fall through)
        return text
    return _CONTROL.sub(control_escape, text)


#: a log record's attribute (``extra={PREMASKED: True}``): its message is masked already, as the
#: gateway means it to be read, and every output of the application log writes it as it is (no
#: client text is in it). The audit anchors (:mod:`krakenpy.telemetry.auditanchor`): their
#: destination and instance masked by the writer, their labels, ``seq`` and ``hash`` never (a
#: ``redact`` query key ``hash``, or a learned credential's hex digits, would unmake the anchor)
PREMASKED: Final = "krakenpy_premasked"


def masked(redactor: Redactor, record: logging.LogRecord, text: str) -> str:
    """``text`` (``record``'s message) as the application log writes it: redacted, with the request's
    secrets, unless the record says it is masked already (:data:`PREMASKED`)."""
    if record.__dict__.get(PREMASKED) is True:
        return text
    return redactor.text(text, current_secrets(redactor))


class _Base(logging.Formatter):
    def __init__(self, redactor: Redactor | None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def message(self, record: logging.LogRecord, *, with_id: bool = True, escape: bool = True) -> str:
        """The record's redacted text (and traceback), its request id appended; ``escape``: as
        :func:`one_line` (a JSON format leaves it to its encoder)."""
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        text = masked(self.redactor, record, text)
        if with_id:
            rid = _request_id()
            if rid is not None:
                text += f" request_id={rid}"
        return one_line(text) if escape else text


class BasicFormatter(_Base):
    """lura's basic logger: ``2026/11/30 16:00:00 KRAKEND INFO: message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp} KRAKEND {krakend_level(record.levelno)}: {self.message(record)}"


class PatternFormatter(_Base):
    """A go-logging pattern, compiled once; ``prefix`` is written before each line (Go ``log.New``)."""

    def __init__(
        self,
        pattern: str,
        *,
        prefix: str = "",
        module: str = "KRAKEND",
        redactor: Redactor | None = None,
        json_message: bool = False,
    ) -> None:
        super().__init__(redactor)
        pieces: list[_Piece | str] = []
        pos = 0
        self._places_id = False
        for m in _VERB.finditer(pattern):
            if m.start() > pos:
                pieces.append(pattern[pos : m.start()])
            pieces.append(_verb(m.group(1), m.group(2), module))
            self._places_id = self._places_id or m.group(1) == "request_id"
            pos = m.end()
        if pos < len(pattern):
            pieces.append(pattern[pos:])
        stray = [p for p in pieces if isinstance(p, str) and "%{" in p]
        if stray:
            raise PatternError(f"cannot read {stray[0]!r}")
        self._pieces = tuple(pieces)
        self._prefix = prefix
        #: escape the message for a JSON-shaped pattern (go-logging does not: a quote breaks the line)
        self._json_message = json_message

    def format(self, record: logging.LogRecord) -> str:
        message = self.message(record, with_id=not self._places_id, escape=not self._json_message)
        if self._json_message:
            message = text_json(message).decode()[1:-1]
        level = krakend_level(record.levelno)
        return self._prefix + "".join(p if isinstance(p, str) else p(record, message, level) for p in self._pieces)


class LogstashFormatter(_Base):
    """``telemetry/logstash``: one sorted-key JSON object per line."""

    def __init__(self, *, module: str = "KRAKEND", redactor: Redactor | None = None) -> None:
        super().__init__(redactor)
        self._module = module

    def format(self, record: logging.LogRecord) -> str:
        tm = time.localtime(record.created)
        micros = int((record.created % 1) * 1_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{micros:06d}" + utc_offset(tm.tm_gmtoff or 0, True)
        out: dict[str, object] = {
            "@timestamp": stamp,
            "@version": 1,
            "host": _HOST,
            "level": krakend_level(record.levelno),
            "message": self.message(record, with_id=False, escape=False),
            "module": self._module,
        }
        rid = _request_id()
        if rid is not None:
            out["request_id"] = rid
        return text_json(out, orjson.OPT_SORT_KEYS).decode()
