"""Lambda API error answers: read as botocore's rest-json parser reads them, mapped to backend errors.

Statuses are the README's § Lambda "Errors" table; each failure has its own log line.
"""

from __future__ import annotations

import http.client
import logging
from typing import Any, NamedTuple

import orjson

from krakenpy.errors import BackendError

__all__ = ["AwsError", "map_client_error", "map_transport_error", "parse_error"]

log = logging.getLogger("krakenpy.lambda")
#: the longest error code and message kept from an error answer
_MAX_CODE = 128
_MAX_MESSAGE = 512

_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


class AwsError(NamedTuple):
    """An error answer of the Lambda API: HTTP status, error code, message and ``Retry-After``."""

    status: int
    code: str
    message: str
    retry_after: str | None


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _short_code(code: str) -> str:
    # "aws.protocoltests#FooError:http://..." → "FooError"
    return code.split(":", 1)[0].rsplit("#", 1)[-1]


def parse_error(status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> AwsError:
    """The error of a non-2xx answer, as botocore finds it: a 5xx with an empty or HTML body is
    generic (code = the status); otherwise the code is ``x-amzn-ErrorType``, else the body's
    ``code``/``Code``, else its ``__type``, else the status, each cut at ':' and after '#'; the
    message is the body's ``message``/``Message``."""
    retry_after = _header(headers, "retry-after")
    stripped = body.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        return AwsError(status, str(status), http.client.responses.get(status, ""), retry_after)
    doc: Any
    try:
        doc = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        doc = {"message": body.decode("utf-8", "replace")}
    if not isinstance(doc, dict):
        doc = {}
    message = doc.get("message", doc.get("Message", ""))
    code: Any = doc.get("__type") or str(status)
    header = _header(headers, "x-amzn-errortype")
    if header is not None:
        code = header
    elif "code" in doc or "Code" in doc:
        code = doc.get("code", doc.get("Code", ""))
    code = _short_code(code) if isinstance(code, str) else str(code)
    # an error page (a proxy's HTML in front of a custom endpoint) can be megabytes: logs get its start
    return AwsError(status, code[:_MAX_CODE], str(message or "")[:_MAX_MESSAGE], retry_after)


def _retry_after(value: str | None) -> str:
    text = value.strip() if value is not None else ""
    return text if text.isdigit() else "1"


def map_client_error(error: AwsError, function: str, *, dynamic: bool) -> BackendError:
    """An AWS API error as the backend error clients see (statuses documented in the README)."""
    code = error.code or "Unknown"
    message = error.message or f"HTTP {error.status}"
    text = f"aws lambda {function}: {code}: {message}"
    if code == "ResourceNotFoundException":
        # a name the client chose is the client's 404; a configured name that is gone is our fault
        log.warning("lambda %s: function not found (%s)", function, code)
        return BackendError(text, status=404 if dynamic else 502, name=code)
    if code == "TooManyRequestsException":
        retry = _retry_after(error.retry_after)
        log.warning("lambda %s: throttled (%s), Retry-After %s", function, code, retry)
        return BackendError(text, status=429, name=code, headers=(("Retry-After", retry),))
    if code in ("RequestTooLargeException", "SerializedRequestEntityTooLargeException"):
        log.warning("lambda %s: payload too large (%s)", function, code)
        return BackendError(text, status=413, name=code)
    if code in ("InvalidRequestContentException", "UnsupportedMediaTypeException"):
        log.warning("lambda %s: payload rejected (%s)", function, code)
        return BackendError(text, status=400, name=code)
    if code in _CREDENTIAL_CODES:
        log.error("lambda %s: credentials or permissions rejected (%s): %s", function, code, message)
        return BackendError(text, status=502, name=code)
    log.error("lambda %s: AWS error %s: %s", function, code, message)
    return BackendError(text, status=502, name=code)


def map_transport_error(exc: BaseException, function: str, *, credentials: bool = False) -> BackendError:
    """A failure that is not an AWS API answer: finding credentials, or the network."""
    if credentials:
        log.error("lambda %s: no usable AWS credentials: %s", function, exc)
        return BackendError(f"aws lambda {function}: credentials: {exc}", status=502, name="Credentials")
    log.error("lambda %s: network error: %s", function, exc)
    return BackendError(f"aws lambda {function}: network: {exc}", status=502, name="Network")
