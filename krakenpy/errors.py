"""The exception tree of krakenpy.

- ``KrakenpyError``: root.
  - ``ConfigError``: the configuration cannot be used; carries every ``ConfigIssue`` found.
  - ``PipelineError``: raised inside a request pipeline; ``status`` is the HTTP status the
    router renders when no data is left (lura's ``StatusCode()`` interface).
    - ``Rejection``: a guard (JWT, rate limit, bot detector...) answered by itself before the
      endpoint handler; rendered exactly as given, without KrakenD's headers.

A pipeline error never escapes the request handler: the handler maps it to a response.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeGuard

from krakenpy.goquote import control_escape
from krakenpy.userinfo import mask_url, mask_userinfo

__all__ = [
    "BackendError",
    "ConfigError",
    "ConfigIssue",
    "KrakenpyError",
    "PipelineError",
    "Rejection",
    "UpstreamBodyError",
    "ValidationError",
    "is_backend_body",
]


class KrakenpyError(Exception):
    """Root of krakenpy's own errors."""


#: a value the message quotes (``repr``'s quotes) with an ``@`` after a ``:``: a URL's user information
#: may be in it without ``scheme://`` (``not an http(s) URL: 'ada:pw@idp/token'``), where the mask of
#: the text finds none. Possessive: each run stops at its first stop character and is never given
#: back (``[^'\n]*@[^'\n]*`` tried every ``@`` of an unclosed quote as the split: ``'a:`` and 100 k
#: ``@`` took ~36 s); the same matches
_QUOTED_USERINFO = re.compile(r"'([^'\n:]*+:[^'\n@]*+@[^'\n]*+)'|\"([^\"\n:]*+:[^\"\n@]*+@[^\"\n]*+)\"")


#: what an issue's line never carries raw (a tab is kept): C0, DEL, C1 and the Unicode line and
#: paragraph separators, as the log lines (``krakenpy.telemetry.logfmt.one_line``)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\x1b``): a key or a value
    of the file that an issue quotes (an endpoint's path, a plugin's name, an unknown key) can neither
    start a line of its own (an ``ERROR:`` line without a path) nor send escape sequences to the
    terminal that shows ``check``'s answer or ``run``'s log."""
    return text if text.isprintable() else _CONTROL.sub(control_escape, text)


def _mask_quoted(match: re.Match[str]) -> str:
    quote = match.group(0)[0]
    return quote + mask_url(match.group(1) or match.group(2)) + quote


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration, located by its JSON path (``endpoints[3].backend[0].host``).
    A URL password quoted in the message (a host, a schema error quoting a value) is masked: issues
    are printed by ``check`` and logged by ``run``."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __post_init__(self) -> None:
        message = self.message
        if "@" in message:
            if "://" in message:
                message = mask_userinfo(message, keep_user=True)
            if ":" in message:
                message = _QUOTED_USERINFO.sub(_mask_quoted, message)
            object.__setattr__(self, "message", message)

    def __str__(self) -> str:
        where = self.path or "(root)"
        return one_line(f"{where}: {self.message}")


class ConfigError(KrakenpyError):
    """The configuration is unusable; ``issues`` lists every error found (not only the first)."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self, issues: Sequence[ConfigIssue] | str, source: str = "", warnings: Sequence[ConfigIssue] = ()
    ) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue("", issues)]
        # one line per mistake: a value several places inherit (the service's ``host`` each backend
        # without its own takes) is found at each of them, with the same path and message
        self.issues: tuple[ConfigIssue, ...] = tuple(dict.fromkeys(issues))
        self.source = source
        #: the warnings found before the errors stopped the load (a misspelt key's hint is often
        #: what explains an error): ``check`` and ``run`` print them with the errors
        self.warnings: tuple[ConfigIssue, ...] = tuple(warnings)
        super().__init__("\n".join(str(i) for i in self.issues))


class PipelineError(KrakenpyError):
    """An error inside the request pipeline. ``status`` is used when no data can be rendered."""

    status: int = 500
    #: Content-Type of ``body`` when the error carries a body of its own (backend error bodies).
    content_type: str | None = None
    #: the body is meant for clients: rendered even without ``router.return_error_msg`` (Lua ``exit``)
    public_body: bool = False
    #: extra response headers the router adds when this error becomes the response
    headers: tuple[tuple[str, str], ...] = ()

    def __init__(self, message: str, *, status: int | None = None, content_type: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if content_type is not None:
            self.content_type = content_type

    @property
    def body(self) -> str:
        """The text rendered to clients when ``router.return_error_msg`` is on."""
        return str(self)


class BackendError(PipelineError):
    """A backend answered badly or not at all.

    ``backend_status``/``backend_body`` keep what the backend said, for ``return_error_code`` and Lua.
    ``expose_status`` is true when the backend's status must become the client status
    (``backend/http.return_error_code``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        backend_status: int = 0,
        backend_body: bytes = b"",
        content_type: str | None = None,
        name: str = "",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message, status=status, content_type=content_type)
        self.backend_status = backend_status
        self.backend_body = backend_body
        self.name = name
        #: extra response headers the router adds when this error becomes the response (Retry-After)
        self.headers = tuple(headers)


def is_backend_body(exc: BaseException) -> TypeGuard[BackendError]:
    """Whether ``exc``'s message is a backend's answer body (``return_error_code``): a text that a
    log line, a span or an audit record never writes (``invalid status code N`` instead)."""
    return (
        isinstance(exc, BackendError)
        and bool(exc.backend_body)
        and str(exc) == exc.backend_body.decode("utf-8", "replace")
    )


class UpstreamBodyError(BackendError):
    """The upstream answered (status line and headers) and its body then failed: the request reached
    it, so a caller that retries (the Lambda invoker) must not send it again."""


class ValidationError(PipelineError):
    """The client request is invalid (400)."""

    status = 400


class Rejection(PipelineError):
    """A guard answered by itself (gin's ``AbortWithStatus``): the response is exactly ``status``,
    ``headers`` and ``body`` (empty by default), without ``X-Krakend`` headers.

    ``reason`` is a word of the audit vocabulary (``jwt_expired``, ``rate_limited``...), ``policy``
    the namespace that decided; ``detail`` is for logs and never reaches the client.
    """

    def __init__(
        self,
        status: int,
        *,
        reason: str,
        policy: str,
        detail: str = "",
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(detail or reason, status=status)
        self.reason = reason
        self.policy = policy
        self.detail = detail
        self.payload = body
        self.headers = tuple(headers)
