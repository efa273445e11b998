"""Check one request body against a compiled schema (krakend-jsonschema's proxy, per request).

Every failure is a 400 rendered by the handler with ``X-Krakend-Completed: false``; the text is sent
only with ``router.return_error_msg``, as in KrakenD. With krakenpy's opt-in
``validation/json-schema-errors`` the client always gets a JSON body naming each violation
(instance path, keyword, message) instead: krakend-ce#310.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import jsonschema_rs
import orjson

from krakenpy.bodyschema.compiler import Validator, json_pointer
from krakenpy.errors import ValidationError

__all__ = ["EMPTY_BODY", "ErrorDetails", "SchemaRejection", "body_checker"]

EMPTY_BODY = "could not validate an empty body"
VIOLATED = "jsonschema validation failed"
#: violations listed in the plain-text message (a hostile body could have thousands)
TEXT_LIMIT = 10


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


class SchemaRejection(ValidationError):
    """The body is empty, not JSON, or violates the schema (400 unless the details say otherwise)."""

    def __init__(self, message: str, violations: list[dict[str, str]], details: ErrorDetails | None) -> None:
        super().__init__(message, status=details.status if details else 400)
        self.violations = violations
        self._json = ""
        if details is not None:
            self.public_body = True
            self.content_type = "application/json"
            self._json = orjson.dumps({"error": message.split("\n", 1)[0], "details": violations}).decode()

    @property
    def body(self) -> str:
        """The JSON details when they were asked for, else KrakenD's text."""
        return self._json if self.public_body else str(self)


def body_checker(validator: Validator, details: ErrorDetails | None = None) -> Callable[[bytes], Any]:
    """``check(body)``: returns the parsed document, or raises :class:`SchemaRejection`."""
    keep = max(details.max_details if details else 0, TEXT_LIMIT)

    def check(body: bytes) -> Any:
        if not body:
            raise SchemaRejection(EMPTY_BODY, [], details)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SchemaRejection(f"invalid JSON body: {exc}", [], details) from None
        if validator.is_valid(document):
            return document
        found = [_violation(e) for e in islice(validator.iter_errors(document), keep)]
        lines = [VIOLATED, *(f"- at '{v['instance_path']}': {v['message']}" for v in found[:TEXT_LIMIT])]
        listed = found[: details.max_details] if details else []
        raise SchemaRejection("\n".join(lines), listed, details)

    return check
