"""KrakenD Enterprise's backend log (``telemetry/logging`` on a backend): one line per upstream call,
written from a ``custom_format`` compiled once at start-up.

Variables: ``%{prefix}``, ``%{time}`` / ``%{time:<Go layout or name>}`` (the call's end, local time),
``%{statusCode}``, ``%{latency}`` (Go duration) / ``%{latencyMs}`` (whole milliseconds),
``%{method}``, ``%{url}``, ``%{host}``, ``%{path}``, ``%{query}``, ``%{reqHeader.<Name>}`` (the
request as sent), ``%{respHeader.<Name>}`` and ``%{resp.<dot.path>}`` (the backend's JSON answer,
before any ``ai/llm`` or Martian rewriting; a number segment indexes an array): secrets are masked by
the telemetry redactor (its header list, its JSON body paths). A value
that does not resolve is ``no_value`` (``-``). Values are written JSON-escaped (``"``, ``\\`` and
control characters), so a format that is a JSON object stays one and a client's header cannot break
the line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from krakenpy.telemetry.exchange import current_secrets
from krakenpy.telemetry.gotime import compile_layout, go_duration
from krakenpy.telemetry.logfmt import LEVELS
from krakenpy.telemetry.redact import Redactor
from krakenpy.userinfo import mask_userinfo

__all__ = ["DEFAULT_FORMAT", "BackendCall", "BackendLogOptions", "FormatError", "compile_format", "parse_backend_log"]

DEFAULT_FORMAT: Final = "%{prefix}%{time} |%{statusCode}| %{latencyMs} | %{method} %{host} %{path}\n"
_DEFAULT_TIME: Final = "2006/01/02 - 15:04:05.000"
_VERB = re.compile(r"%\{([^{}]*)\}")
_SIMPLE: Final = frozenset(
    {"prefix", "time", "statusCode", "latency", "latencyMs", "method", "url", "host", "path", "query"}
)


class FormatError(ValueError):
    """A ``custom_format`` krakenpy cannot write."""


@dataclass(frozen=True, slots=True)
class BackendLogOptions:
    """A backend's ``telemetry/logging`` value after parsing."""

    custom_format: str = DEFAULT_FORMAT
    level: int = logging.INFO
    no_value: str = "-"
    prefix: str = ""


@dataclass(slots=True)
class BackendCall:
    """What one upstream call gives its log line."""

    end: float
    latency: float
    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    status: int | None = None
    response_headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    _json: Any = None
    _parsed: bool = False
    _split: Any = None

    def answer(self, redactor: Redactor) -> Any:
        """The decoded JSON answer with the redactor's body rules applied (once per call)."""
        if not self._parsed:
            self._parsed = True
            try:
                self._json = redactor.json_value(orjson.loads(self.body)) if self.body else None
            except (ValueError, TypeError):  # not JSON, or nested deeper than orjson writes back
                self._json = None
        return self._json

    def split(self) -> Any:
        """The URL's parts, its user information masked first (``REDACTED:REDACTED@``, the telemetry
        redactor's rule: a password holding ``/``, ``?`` or ``#`` would be split into the path)."""
        if self._split is None:
            self._split = urlsplit(mask_userinfo(self.url))
        return self._split


def _valid(text: str) -> str:
    """``text`` with its lone surrogates (a client's non-UTF-8 header byte, kept by surrogateescape)
    as U+FFFD: orjson refuses them."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def _escape(text: str) -> str:
    try:
        return orjson.dumps(text).decode()[1:-1]
    except TypeError:
        return orjson.dumps(_valid(text)).decode()[1:-1]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


def _header(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    lower = name.lower()
    return next((v for k, v in pairs if k.lower() == lower), None)


def _resp(path: str) -> Callable[[BackendCall, Redactor], str | None]:
    keys = tuple(path.split("."))

    def get(call: BackendCall, redactor: Redactor) -> str | None:
        value = call.answer(redactor)
        for key in keys:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return None
        return _text(value)

    return get


def _part(verb: str, options: BackendLogOptions) -> Callable[[BackendCall, Redactor], str | None]:
    name, _, arg = verb.partition(":")
    if name == "time":
        layout = compile_layout(arg or _DEFAULT_TIME)
        return lambda c, r: layout(c.end)
    if arg:
        raise FormatError(f"%{{{verb}}}: only time takes a layout")
    kind, dot, rest = verb.partition(".")
    if dot and rest:
        if kind == "reqHeader":
            return lambda c, r: _header_text(r, rest, _header(c.headers, rest))
        if kind == "respHeader":
            return lambda c, r: _header_text(r, rest, _header(c.response_headers, rest))
        if kind == "resp":
            return _resp(rest)
    simple: dict[str, Callable[[BackendCall, Redactor], str | None]] = {
        "prefix": lambda c, r: options.prefix,
        "statusCode": lambda c, r: None if c.status is None else str(c.status),
        "latency": lambda c, r: go_duration(int(c.latency * 1e9)),
        "latencyMs": lambda c, r: str(int(c.latency * 1000)),
        "method": lambda c, r: c.method,
        "url": _url,
        "host": _host,
        "path": _path,
        "query": lambda c, r: _query(c, r, ""),
    }
    if verb not in simple:
        known = ", ".join(sorted(_SIMPLE))
        raise FormatError(
            f"unknown variable %{{{verb}}} (known: {known}, time:<layout>, reqHeader.<Name>, respHeader.<Name>, "
            "resp.<path>)"
        )
    return simple[verb]


def _header_text(redactor: Redactor, name: str, value: str | None) -> str | None:
    """A header's value as logged (:meth:`Redactor.header_text`), the request's credentials masked
    too when an endpoint has a sensitive path parameter (a ``Location`` naming the backend's URL)."""
    if value is None:
        return None
    if redactor.paths is None:
        return redactor.header_text(name, value)
    return redactor.header_text(name, value, current_secrets(redactor))


def _path(call: BackendCall, redactor: Redactor) -> str:
    """The call's path, the request's sensitive path parameters masked when an endpoint has one
    (``/reset/{token}`` calling ``/v1/reset/{token}``: :meth:`Redactor.request_secrets`)."""
    return _masked(call.split().path, redactor)


def _host(call: BackendCall, redactor: Redactor) -> str:
    """The call's host and port (Go's ``URL.Host``: no user information; a dynamic host may be built
    from a path parameter), masked as :func:`_path`."""
    return _masked(call.split().netloc.rpartition("@")[2], redactor)


def _url(call: BackendCall, redactor: Redactor) -> str:
    """The call's URL: user information masked (``REDACTED:REDACTED@``), then as :func:`_host`,
    :func:`_path` and :func:`_query`."""
    split = call.split()
    userinfo, at, _ = split.netloc.rpartition("@")
    return f"{split.scheme}://{userinfo}{at}{_host(call, redactor)}{_path(call, redactor)}{_query(call, redactor, '?')}"


def _query(call: BackendCall, redactor: Redactor, lead: str) -> str:
    """The call's query, its sensitive keys masked, and a path parameter's value under any key (a
    url_pattern ``/d?t={token}``), masked as :func:`_path`; ``lead`` before a query there is."""
    query: str = call.split().query
    return f"{lead}{_masked(redactor.query(query), redactor)}" if query else ""


def _masked(text: str, redactor: Redactor) -> str:
    if redactor.paths is None:
        return text
    return redactor.text(text, current_secrets(redactor))


def compile_format(options: BackendLogOptions) -> Callable[[BackendCall, Redactor], bytes]:
    """``render(call, redactor) -> line``; raises :class:`FormatError` for an unknown variable."""
    pieces: list[str | Callable[[BackendCall, Redactor], str | None]] = []
    fmt, at = options.custom_format, 0
    for match in _VERB.finditer(fmt):
        if match.start() > at:
            pieces.append(fmt[at : match.start()])
        pieces.append(_part(match.group(1), options))
        at = match.end()
    if at < len(fmt):
        pieces.append(fmt[at:])
    if not fmt.endswith("\n"):
        pieces.append("\n")
    missing = options.no_value or "-"
    frozen = tuple(pieces)

    def render(call: BackendCall, redactor: Redactor) -> bytes:
        out: list[str] = []
        for piece in frozen:
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = piece(call, redactor)
                out.append(missing if value is None or value == "" else _escape(value))
        return "".join(out).encode("utf-8", "surrogateescape")

    return render


def parse_backend_log(raw: Any, path: str) -> BackendLogOptions:
    """A backend-level value (pure: the format is compiled to find bad variables)."""
    from krakenpy.errors import ConfigError, ConfigIssue

    o = raw if isinstance(raw, dict) else {}
    level_name = str(o.get("log_with_level") or "INFO").upper()
    if level_name not in LEVELS:
        raise ConfigError([ConfigIssue(f"{path}.log_with_level", f"unknown level {o.get('log_with_level')!r}")])
    options = BackendLogOptions(
        custom_format=str(o.get("custom_format") or DEFAULT_FORMAT),
        level=LEVELS[level_name],
        no_value=str(o.get("no_value") or "-"),
        prefix=str(o.get("prefix") or ""),
    )
    try:
        compile_format(options)
    except FormatError as exc:
        raise ConfigError([ConfigIssue(f"{path}.custom_format", str(exc))]) from None
    return options
