"""What a Lambda answer becomes: data for the merge pipe, a proxy-integration response, or an error.

- ``X-Amz-Function-Error`` (a crashed function) is always an error, never 200 data.
- A JSON object is the data (KrakenD); krakenpy also takes arrays (``{"collection": [...]}``) and
  scalars (``{"content": v}``) instead of failing; ``null`` is empty data.
- With ``proxy_integration`` the ``{statusCode, headers, body, isBase64Encoded}`` envelope is opened:
  a JSON body becomes the data, status and headers become overrides (single-backend endpoints).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import orjson

from krakenpy.errors import BackendError
from krakenpy.lambda_.invoker import InvokeResult
from krakenpy.lambda_.options import LambdaOptions
from krakenpy.names import canonical_header
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Headers, Response

__all__ = ["ResultDecoder", "result_decoder", "shape"]

log = logging.getLogger("krakenpy.lambda")

#: (result, function name) → Response
ResultDecoder: TypeAlias = Callable[[InvokeResult, str], Response]
JSON_CT = "application/json"
_DROP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"})


def shape(value: Any) -> dict[str, Any]:
    """Any JSON value as response data (only objects pass through unchanged)."""
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    if isinstance(value, list):
        return {"collection": value}
    return {"content": value}


def _function_error(result: InvokeResult, function: str, options: LambdaOptions) -> BackendError:
    try:
        detail = orjson.loads(result.payload) if result.payload else None
    except orjson.JSONDecodeError:
        detail = None
    detail = detail if isinstance(detail, dict) else {}
    error_type = str(detail.get("errorType") or result.function_error or "")
    message = str(detail.get("errorMessage") or "")
    status = options.error_type_status.get(error_type, options.function_error_status)
    log.warning("lambda %s: function error %s (%s): %s", function, result.function_error, error_type, message)
    return BackendError(
        f"aws lambda {function}: function error {error_type}: {message}",
        status=status,
        backend_status=status,  # what a Lua post script sees: the status served, not Invoke's 200
        backend_body=result.payload,
        name=error_type or "FunctionError",
    )


def _bad_envelope(function: str, why: str) -> BackendError:
    log.warning("lambda %s: invalid proxy-integration response: %s", function, why)
    return BackendError(f"aws lambda {function}: invalid proxy-integration response: {why}", status=502)


def _envelope_headers(envelope: Mapping[str, Any], function: str) -> Headers:
    headers: Headers = {}
    single = envelope.get("headers") or {}
    multi = envelope.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise _bad_envelope(function, "headers must be objects")
    for name, value in single.items():
        if isinstance(value, dict | list) or value is None:
            raise _bad_envelope(function, f"header {name!r} is not a string")
        headers[canonical_header(str(name))] = [_header_text(value)]
    for name, values in multi.items():
        if not isinstance(values, list) or any(isinstance(v, dict | list) or v is None for v in values):
            raise _bad_envelope(function, f"multiValueHeaders {name!r} is not a list of strings")
        headers[canonical_header(str(name))] = [_header_text(v) for v in values]
    for name in list(headers):
        value_ok = all("\r" not in v and "\n" not in v for v in headers[name])
        if name.lower() in _DROP or not value_ok or not name:
            del headers[name]
    return headers


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _envelope_status(envelope: Mapping[str, Any], function: str) -> int:
    raw = envelope.get("statusCode", 200)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 100 <= raw <= 599:
        raise _bad_envelope(function, f"statusCode {raw!r} is not an HTTP status")
    return raw


def _envelope_body(envelope: Mapping[str, Any], function: str) -> bytes:
    body = envelope.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        # API Gateway wants a string; a function that returns an object meant JSON
        return orjson.dumps(body)
    if envelope.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_envelope(function, "body is not valid base64") from None
    return body.encode("utf-8")


def result_decoder(options: LambdaOptions, formatter: Formatter | None, *, noop: bool) -> ResultDecoder:
    """Compile the answer handling of one backend (``noop``: pass the payload through as the body)."""
    proxy = options.proxy_integration

    def metadata(result: InvokeResult) -> Headers:
        # KrakenD keeps only this header; the log tail and request id never travel further
        return {"X-Amz-Executed-Version": [result.executed_version]} if result.executed_version else {}

    def data_from(body: bytes, content_type: str | None, function: str) -> dict[str, Any]:
        if not body:
            return {}
        if content_type is None or "json" in content_type.lower():
            try:
                return shape(orjson.loads(body))
            except orjson.JSONDecodeError:
                if content_type is not None:
                    raise _bad_envelope(function, "body is not the JSON its Content-Type says") from None
        return {"content": body.decode("utf-8", "replace")}

    def decode(result: InvokeResult, function: str) -> Response:
        if result.function_error:
            raise _function_error(result, function, options)
        if result.status in (202, 204):  # Event, DryRun: nothing to read
            return Response(data={}, status=result.status, override_status=result.status, body=b"")
        if not proxy:
            if noop:
                return Response(
                    data={}, status=200, headers=metadata(result), body=result.payload, content_type=JSON_CT
                )
            try:
                data = shape(orjson.loads(result.payload)) if result.payload else {}
            except orjson.JSONDecodeError:
                log.warning("lambda %s: the function result is not JSON", function)
                raise BackendError(f"aws lambda {function}: the function result is not JSON", status=502) from None
            if formatter is not None:
                data = formatter(data)
            return Response(data=data, status=200, headers=metadata(result))
        try:
            envelope = orjson.loads(result.payload)
        except orjson.JSONDecodeError:
            raise _bad_envelope(function, "not JSON") from None
        if not isinstance(envelope, dict):
            raise _bad_envelope(function, "not an object")
        status = _envelope_status(envelope, function)
        headers = _envelope_headers(envelope, function)
        body = _envelope_body(envelope, function)
        content_type = next(iter(headers.pop("Content-Type", [])), None)
        complete = status < 400
        if noop:
            return Response(
                data={},
                is_complete=complete,
                status=status,
                headers=metadata(result),
                body=body,
                override_status=status,
                override_headers=headers,
                content_type=content_type or JSON_CT,
            )
        data = data_from(body, content_type, function)
        if formatter is not None:
            data = formatter(data)
        return Response(
            data=data,
            is_complete=complete,
            status=status,
            headers=metadata(result),
            override_status=status,
            override_headers=headers or None,
        )

    return decode
