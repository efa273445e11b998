"""``auth/signer``: replace objects of the endpoint's answer with JWS tokens (krakend-jose ``SignFields``).

Each name of ``keys_to_sign`` whose value is a JSON object becomes a compact JWS (or, with ``full``,
the JSON serialisation as a string) of that object encoded like Go's ``encoding/json`` (sorted keys,
compact, HTML-escaped), under the protected header ``{"alg", "kid", "typ": "JWT"}``; other values are
left untouched. HMAC signatures are therefore byte-for-byte those KrakenD produces.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.errors import PipelineError, Rejection, is_backend_body
from krakenpy.jose.algorithms import key_fits, sign
from krakenpy.jose.options import KeySourceOptions
from krakenpy.jose.sources import KeySource
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response
from krakenpy.server.render import go_json

__all__ = ["POLICY", "JSON_CT", "SignerOptions", "sign_fields", "signer_middleware"]

log = logging.getLogger("krakenpy.jose")
POLICY: Final = "auth/signer"
JSON_CT: Final = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SignerOptions:
    alg: str
    kid: str
    keys_to_sign: tuple[str, ...]
    source: KeySourceOptions
    full: bool = False
    typ: str = "JWT"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_fields(data: dict[str, Any], options: SignerOptions, key: Any) -> dict[str, Any]:
    """A copy of ``data`` with every object under ``keys_to_sign`` replaced by its JWS."""
    protected = _b64(go_json({"alg": options.alg, "kid": options.kid, "typ": options.typ}))
    out = dict(data)
    for name in options.keys_to_sign:
        value = out.get(name)
        if not isinstance(value, dict):
            continue
        payload = _b64(go_json(value))
        signing_input = f"{protected}.{payload}"
        signature = _b64(sign(options.alg, signing_input.encode("ascii"), key))
        if options.full:
            out[name] = go_json({"payload": payload, "protected": protected, "signature": signature}).decode()
        else:
            out[name] = f"{signing_input}.{signature}"
    return out


def _first_values(headers: Headers) -> Headers:
    # gin copies the backend's metadata headers with their first value only
    return {name: values[:1] for name, values in headers.items() if values}


def signer_middleware(options: SignerOptions, source: KeySource, *, endpoint: str = "") -> Middleware:
    """The signer replaces the endpoint's rendering: status and headers of the backend, signed data."""

    def signing_key() -> Any:
        keys: Sequence[Any] = source.lookup(options.kid) or ()
        return next((k for k in keys if key_fits(options.alg, k) and k.is_private), None)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def signed(request: Request) -> Response:
            key = signing_key()
            if key is None:  # KrakenD answers 401 when its signer could not be built
                raise Rejection(401, reason="no_credentials", policy=POLICY, detail=source.problem or "no signing key")
            try:
                response = await next_proxy(request)
            except PipelineError as exc:
                # the audit record's detail and this line: never a backend's body (return_error_code)
                text = f"invalid status code {exc.backend_status}" if is_backend_body(exc) else str(exc)
                log.debug("%s: signer: proxy error: %s", endpoint, text)
                raise Rejection(400, reason="signer_failed", policy=POLICY, detail=text) from None
            try:
                data = sign_fields(response.data or {}, options, key)
            except Exception as exc:  # a signing failure is a 400 as in KrakenD, never a crash
                raise Rejection(400, reason="signer_failed", policy=POLICY, detail=type(exc).__name__) from None
            return Response(
                data=data,
                is_complete=response.is_complete,
                status=response.status,
                headers=response.headers,
                body=go_json(data),
                content_type=JSON_CT,
                override_status=response.status or 200,
                override_headers=_first_values(response.headers),
                verbatim=True,  # gin's c.JSON: no X-Krakend, no Cache-Control
            )

        return signed

    return middleware
