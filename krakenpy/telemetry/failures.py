"""Failure logging: every backend, Lambda, Lua and component failure is logged once, redacted, at
KrakenD's level and shape (``[ENDPOINT: /x][BACKEND: /y] …``, ERROR), with the request id (added by
the log formatter), and kept as the access log's ``error``."""

from __future__ import annotations

import logging
from typing import Final

from krakenpy.errors import BackendError, Rejection, is_backend_body
from krakenpy.telemetry.exchange import CURRENT
from krakenpy.telemetry.redact import Redactor

__all__ = ["error_text", "failure_text", "log_failure", "was_logged"]

log = logging.getLogger("krakenpy.failures")
_MARK: Final = "_krakenpy_logged"
#: a log line never carries more of an error text than this
MAX_TEXT: Final = 1024


def failure_text(exc: BaseException, redactor: Redactor, secrets: tuple[str, ...] = ()) -> str:
    """The loggable text of an error: redacted (``secrets``: the request's credentials, masked
    wherever the text quotes them), bounded, never a backend body."""
    text = error_text(exc, redactor, secrets)
    if type(exc).__name__ == "LuaError" or type(exc).__module__.startswith("krakenpy.lua"):
        text = "[Lua] " + text
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def error_text(exc: BaseException, redactor: Redactor, secrets: tuple[str, ...] = ()) -> str:
    """:func:`failure_text` without its log prefix and bound: what a span's status message says
    (the same rules: the error's own masking, never a backend body, then the redactor)."""
    if is_backend_body(exc):
        text = f"invalid status code {exc.backend_status}"  # return_error_code: the message *is* the body
    else:
        text = _text_of(exc, redactor)
    return redactor.text(text, secrets)


def _text_of(exc: BaseException, redactor: Redactor) -> str:
    try:
        own = getattr(exc, "log_text", None)  # an error whose message quotes request data it can mask
        if callable(own):
            return str(own(redactor)) or type(exc).__name__
        return str(exc) or type(exc).__name__
    except Exception:  # a third-party exception whose __str__ fails: the failure is still logged
        return type(exc).__name__


def _client_mistake(exc: BaseException) -> bool:
    """Whether ``exc`` carries a 4xx ``status``; a status that is no int (a gRPC ``StatusCode``, a
    string, ``None``) is not one, and never stops the failure from being logged."""
    try:
        status = getattr(exc, "status", 500)
    except Exception:  # a property that fails
        return False
    return isinstance(status, int) and not isinstance(status, bool) and 400 <= status < 500


def _all_logged_inside(exc: BaseException) -> bool:
    """Whether ``exc`` carries a tuple of ``errors`` (a merge's), every one logged already; an
    ``errors`` property that fails (a third-party exception's) carries none."""
    try:
        inner = getattr(exc, "errors", None)
    except Exception:
        return False
    return (
        isinstance(inner, tuple) and bool(inner) and all(isinstance(e, BaseException) and was_logged(e) for e in inner)
    )


def was_logged(exc: BaseException) -> bool:
    """Whether ``exc``, or the error it was raised from (the same failure, re-shaped), was logged."""
    cause = exc.__cause__
    return bool(getattr(exc, _MARK, False)) or (cause is not None and bool(getattr(cause, _MARK, False)))


def log_failure(
    exc: BaseException, prefix: str, redactor: Redactor, *, level: int = logging.ERROR, body: bytes = b""
) -> None:
    """Log ``exc`` under ``prefix`` unless it was logged already; guard rejections are decisions,
    not failures (the audit trail records them). ``body``: the failed request's body, whose secret
    fields' values the texts about the request mask from now on (:meth:`Exchange.note_body`)."""
    if body:
        exchange = CURRENT.get()
        if exchange is not None:
            exchange.note_body(body)
    if was_logged(exc) or isinstance(exc, Rejection):
        return
    try:
        setattr(exc, _MARK, True)
    except AttributeError:  # an exception type with slots: log it, it cannot be marked
        pass
    if _all_logged_inside(exc):  # a merge that lost every backend: each was logged already
        return
    if level == logging.ERROR and not isinstance(exc, BackendError) and _client_mistake(exc):
        level = logging.INFO  # the client's mistake (a missing routing header, a bad value a script refused)
    exchange = CURRENT.get()
    text = failure_text(exc, redactor, exchange.secrets(redactor) if exchange is not None else ())
    if exchange is not None:
        exchange.fail(text)
    log.log(level, "%s %s", prefix, text)
