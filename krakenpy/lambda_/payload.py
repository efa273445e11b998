"""The event a request becomes: KrakenD's ``params``/``body`` payloads or API Gateway proxy events.

Builders are chosen once per backend; each call serialises one request. APIGW events carry what
the pipeline let through: headers and query already filtered by ``input_headers`` /
``input_query_strings`` (endpoint, then backend).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import orjson

from krakenpy.errors import BackendError
from krakenpy.gojson import lenient_json
from krakenpy.lambda_.options import PayloadMode
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Request

__all__ = ["PayloadBuilder", "payload_builder"]

PayloadBuilder: TypeAlias = Callable[[Request], bytes]
_EMPTY_EVENT = b"{}"


def _params(request: Request) -> bytes:
    # KrakenD lower-cases every key (First_name → first_name, FirstName → firstname) and encodes
    # with Go's json.Encoder, which ends the document with a newline
    return lenient_json({k.lower(): v for k, v in request.params.items()}) + b"\n"


def _body(request: Request) -> bytes:
    body = request.body
    if not body:
        return _EMPTY_EVENT
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        # Lambda would answer InvalidRequestContentException; say it without spending an invoke
        raise BackendError("the request body is not JSON: a Lambda event must be JSON", status=400) from None
    return body


def _text_body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _path_parameters(request: Request, names: Mapping[str, str]) -> dict[str, str] | None:
    if not request.params:
        return None
    return {names.get(k, k): v for k, v in request.params.items()}


def _claim_text(value: Any) -> str:
    """API Gateway's JWT authorizer hands claims over as strings (lists and objects as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def _scopes(claims: Mapping[str, Any]) -> list[str] | None:
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return None


def _last(values: list[str]) -> str:
    return values[-1] if values else ""


def _apigw_v1(method: str, names: Mapping[str, str]) -> PayloadBuilder:
    def build(request: Request) -> bytes:
        headers = request.headers
        query = request.query
        body, is_b64 = _text_body(request.body)
        now = time.time()
        event: dict[str, Any] = {
            "version": "1.0",
            "resource": request.endpoint,
            "path": request.client_path or request.path,
            "httpMethod": method,
            "headers": {k: _last(v) for k, v in headers.items()},
            "multiValueHeaders": headers,
            "queryStringParameters": {k: _last(v) for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": _path_parameters(request, names),
            "stageVariables": None,
            "requestContext": {
                "resourcePath": request.endpoint,
                "httpMethod": method,
                "path": request.client_path or request.path,
                "protocol": "HTTP/1.1",
                "stage": "$default",
                "domainName": request.host,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(now * 1000),
                "identity": {
                    "sourceIp": request.client_ip,
                    "userAgent": _last(headers.get("User-Agent", [])),
                },
            },
            "body": body,
            "isBase64Encoded": is_b64,
        }
        if request.claims is not None:  # where a REST API's Cognito/JWT authorizer puts them
            event["requestContext"]["authorizer"] = {"claims": {k: _claim_text(v) for k, v in request.claims.items()}}
        return lenient_json(event)

    return build


def _apigw_v2(method: str, names: Mapping[str, str]) -> PayloadBuilder:
    def build(request: Request) -> bytes:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, values in request.headers.items():
            lower = name.lower()
            if lower == "cookie":
                cookies.extend(c.strip() for v in values for c in v.split(";") if c.strip())
            else:
                headers[lower] = ",".join(values)
        query = request.query
        body, is_b64 = _text_body(request.body)
        path = request.client_path or request.path
        route_key = f"{method} {request.endpoint}"
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": encode_query(query) if query else "",
            "headers": headers,
            "requestContext": {
                "domainName": request.host,
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.client_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": is_b64,
        }
        if request.claims is not None:  # an HTTP API JWT authorizer's shape: string claims and scopes
            claims = request.claims
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": {k: _claim_text(v) for k, v in claims.items()}, "scopes": _scopes(claims)}
            }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
        params = _path_parameters(request, names)
        if params:
            event["pathParameters"] = params
        if body is not None:
            event["body"] = body
        return lenient_json(event)

    return build


def payload_builder(mode: PayloadMode, *, method: str, param_names: Mapping[str, str]) -> PayloadBuilder:
    """The event serialiser for ``mode``; ``method`` is the endpoint's (client) method and
    ``param_names`` maps KrakenD param keys (``Id``) back to their placeholder names (``id``)."""
    if mode == "params":
        return _params
    if mode == "body":
        return _body
    if mode == "apigw_v1":
        return _apigw_v1(method, dict(param_names))
    return _apigw_v2(method, dict(param_names))
