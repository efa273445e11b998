"""``validation/json-schema`` support: compile a request-body schema once, check bodies per request."""

from __future__ import annotations

from krakenpy.bodyschema.check import EMPTY_BODY, ErrorDetails, SchemaRejection, body_checker
from krakenpy.bodyschema.compiler import compile_schema, json_pointer

__all__ = [
    "EMPTY_BODY",
    "ErrorDetails",
    "SchemaRejection",
    "body_checker",
    "compile_schema",
    "json_pointer",
]
