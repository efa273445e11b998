"""Check one request body against a compiled schema (krakend-jsonschema's proxy, per request).

Every failure is a 400 rendered by the handler with ``X-Krakend-Completed: false``; the text is sent
only with ``router.return_error_msg``, as in KrakenD. krakenpy's opt-in
``validation/json-schema-errors`` turns the rejection into a JSON body naming each violation
(instance path, keyword, message): krakend-ce#310.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from krakenpy.bodyschema.compiler import json_pointer
from krakenpy.errors import ValidationError

if TYPE_CHECKING:  # only annotations: the library is loaded by compile_schema
    import jsonschema_rs
    from jsonschema_rs import Validator

    from krakenpy.telemetry.redact import Redactor

__all__ = ["EMPTY_BODY", "MAX_DETAILS", "ErrorDetails", "SchemaRejection", "body_checker", "redacted_message"]

EMPTY_BODY = "could not validate an empty body"
VIOLATED = "jsonschema validation failed"
#: violations listed in the plain-text message (a hostile body could have thousands)
TEXT_LIMIT = 10
#: violations collected at most (the largest ``max_details``)
MAX_DETAILS = 100


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """``validation/json-schema-errors``: answer failures with a JSON list of violations."""

    max_details: int = 10
    status: int = 400


def _violation(error: jsonschema_rs.ValidationError) -> dict[str, str]:
    keyword = next((p for p in reversed(error.schema_path) if isinstance(p, str)), "")
    return {
        "instance_path": json_pointer(error.instance_path),
        "schema_path": json_pointer(error.schema_path),
        "keyword": keyword or "false",  # only the `false` schema has no keyword
        "message": error.message,
    }


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` (keys and indexes) in ``document``; a sentinel when it is not there."""
    node = document
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


_MISSING = object()


def _secret_leaves(value: Any, masked: Any, out: list[str]) -> None:
    """The texts a message could quote a masked value by: every scalar of ``value`` that ``masked``
    (the redactor's copy) changed or dropped, as it is and as JSON writes it (escaped)."""
    if value == masked:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _secret_leaves(item, masked.get(key, _MISSING) if isinstance(masked, dict) else _MISSING, out)
    elif isinstance(value, list):
        same = isinstance(masked, list) and len(masked) == len(value)
        for i, item in enumerate(value):
            _secret_leaves(item, masked[i] if same else _MISSING, out)
    elif value is not None:
        raw = orjson.dumps(value).decode()
        out.append(raw)
        if isinstance(value, str):
            out.append(value)
            out.append(raw[1:-1])


def quotes_secret(message: str, instance: Any, masked: Any) -> bool:
    """Whether a violation's ``message`` about ``instance`` quotes a value the redactor masks
    (``masked``: the redactor's copy of the instance). A message that quotes none keeps its words
    (``'x' was unexpected`` at an object holding a password); a masked value too short to tell
    apart from the message's own words counts as quoted."""
    if _at_same(instance, masked):
        return False
    leaves: list[str] = []
    _secret_leaves(instance, masked, leaves)
    return any(leaf in message for leaf in leaves if leaf) or not leaves


def _at_same(instance: Any, masked: Any) -> bool:
    return masked is not _MISSING and masked == instance


def redacted_message(message: str, keyword: str, instance: Any, masked: Any) -> str:
    """``message``, or the keyword alone when it quotes a masked value."""
    return f"{keyword} violated (value redacted)" if quotes_secret(message, instance, masked) else message


class SchemaRejection(ValidationError):
    """The body is empty, not JSON, or violates the schema: a 400 with KrakenD's text, or, once
    :meth:`with_details` made it so, a public JSON body listing the violations."""

    def __init__(
        self, message: str, violations: list[dict[str, str]], document: Any = None, instances: tuple[Any, ...] = ()
    ) -> None:
        super().__init__(message)
        self.violations = violations
        self._json = ""
        #: the checked document and each listed violation's instance: what :meth:`log_text` needs to
        #: tell a secret's violation from another's (the messages quote the instance)
        self._document = document
        self._instances = instances

    def log_text(self, redactor: Redactor) -> str:
        """The text as logs may write it: a violation whose instance holds a field the redactor
        masks (``"hunter2" is shorter than 12 characters`` at ``/password``) names its place and
        keyword, never the value (a checker built with the gateway's redactor words the rejection so
        from the start: :func:`body_checker`)."""
        if not self._instances:
            return str(self)
        masked = redactor.json_value(self._document)
        lines = [VIOLATED]
        for v, (path, instance) in zip(self.violations[:TEXT_LIMIT], self._instances, strict=False):
            message = redacted_message(v["message"], v["keyword"], instance, _at(masked, path))
            lines.append(f"- at '{v['instance_path']}': {message}")
        return "\n".join(lines)

    def with_details(self, details: ErrorDetails) -> SchemaRejection:
        """The same rejection answered as ``{"error", "details"}`` JSON, whatever ``return_error_msg`` says."""
        out = SchemaRejection(str(self), self.violations[: details.max_details])
        out.status = details.status
        out.public_body = True
        out.content_type = "application/json"
        out._json = orjson.dumps({"error": str(self).split("\n", 1)[0], "details": out.violations}).decode()
        return out

    @property
    def body(self) -> str:
        """The JSON details when they were asked for, else KrakenD's text."""
        return self._json if self.public_body else str(self)


def _masked(
    found: list[dict[str, str]], errors: list[jsonschema_rs.ValidationError], document: Any, redactor: Redactor
) -> None:
    """Rewrite, in place, the message of each violation whose instance holds a field ``redactor``
    masks (the messages quote the instance: ``"hunter2" is not of type "integer"``) to name its
    keyword only (one that quotes none keeps its words); the failure path alone pays for the masked
    copy."""
    masked = redactor.json_value(document)
    for violation, error in zip(found, errors, strict=True):
        at = _at(masked, tuple(error.instance_path))
        violation["message"] = redacted_message(violation["message"], violation["keyword"], error.instance, at)


def body_checker(validator: Validator, redactor: Redactor | None = None) -> Callable[[bytes], Any]:
    """``check(body)``: returns the parsed document, or raises :class:`SchemaRejection`. With
    ``redactor``, a violation of a field it masks is worded without the value everywhere, the
    client's answer and the JSON details included."""

    def check(body: bytes) -> Any:
        if not body:
            raise SchemaRejection(EMPTY_BODY, [])
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SchemaRejection(f"invalid JSON body: {exc}", []) from None
        if validator.is_valid(document):
            return document
        errors = list(islice(validator.iter_errors(document), MAX_DETAILS))
        found = [_violation(e) for e in errors]
        if redactor is not None:
            _masked(found, errors, document, redactor)
        lines = [VIOLATED, *(f"- at '{v['instance_path']}': {v['message']}" for v in found[:TEXT_LIMIT])]
        instances = tuple((tuple(e.instance_path), e.instance) for e in errors[:TEXT_LIMIT])
        raise SchemaRejection("\n".join(lines), found, document, instances)

    return check
