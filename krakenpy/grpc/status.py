"""gRPC status → HTTP status (the mapping grpc-gateway and Google APIs use) and the error body."""

from __future__ import annotations

from typing import Final

import orjson

__all__ = ["error_body", "http_status"]

#: by gRPC code number
_HTTP: Final = {
    0: 200,  # OK
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}


def http_status(code: int) -> int:
    """The HTTP status of a gRPC code (500 for a code gRPC does not define)."""
    return _HTTP.get(code, 500)


def error_body(code: int, name: str, message: str) -> bytes:
    """``{"code": 5, "status": "NOT_FOUND", "message": "..."}`` (google.rpc.Status with the name)."""
    return orjson.dumps({"code": code, "status": name, "message": message})
