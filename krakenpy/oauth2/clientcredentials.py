"""One token per backend, shared by all its requests, fetched on first use and renewed ten seconds
before it expires (x/oauth2's ``expiryDelta``).

The token request is a form POST with ``grant_type=client_credentials``, ``scope`` (the configured
comma-separated scopes joined by spaces; sent even when empty) and ``endpoint_params``. The client
authenticates with HTTP Basic first and, if the server refuses, with ``client_id``/``client_secret``
in the body; the style that worked is remembered per token URL. Failures are backend errors
(``oauth2: ...``), never showing the secret.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote_plus, urlencode

import orjson

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse, refusal_without
from krakenpy.errors import BackendError

__all__ = ["ClientCredentials", "TokenSource", "client_credentials_middleware"]

#: a token is renewed this many seconds before its expiry
EXPIRY_DELTA: Final = 10.0
#: bound of one token request
TOKEN_TIMEOUT: Final = 10.0
_FORM: Final = "application/x-www-form-urlencoded"
AuthStyle = Literal["header", "params"]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """``auth/client-credentials`` options."""

    client_id: str
    client_secret: str
    token_url: str
    scopes: tuple[str, ...] = ()
    endpoint_params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class _Token:
    header: str
    #: monotonic time after which the token is renewed; ``None``: never
    renew_at: float | None


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, quote_via=quote_plus).encode()


class TokenSource:
    """Fetches and caches the token of one backend (single flight: concurrent callers share a fetch)."""

    def __init__(
        self,
        options: ClientCredentials,
        call: UpstreamCall,
        *,
        styles: dict[str, AuthStyle] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._call = call
        #: token URL → the client authentication that worked (shared by the sources of a gateway)
        self._styles = styles if styles is not None else {}
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        #: token requests made (tests, logs)
        self.fetches = 0

    async def authorization(self) -> str:
        """The ``Authorization`` header value, fetching a token when none is valid."""
        token = self._token
        if token is not None and (token.renew_at is None or self._clock() < token.renew_at):
            return token.header
        async with self._lock:
            token = self._token
            if token is None or (token.renew_at is not None and self._clock() >= token.renew_at):
                token = self._token = await self._fetch()
            return token.header

    async def _fetch(self) -> _Token:
        o = self.options
        pairs = [("grant_type", "client_credentials"), ("scope", " ".join(o.scopes))]
        for name, values in o.endpoint_params.items():
            pairs.extend((name, v) for v in values)
        known = self._styles.get(o.token_url)
        styles: tuple[AuthStyle, ...] = (known,) if known else ("header", "params")
        failure: BackendError | None = None
        for style in styles:
            try:
                token = await self._request(style, pairs)
            except BackendError as exc:
                failure = exc
                continue
            self._styles[o.token_url] = style
            return token
        assert failure is not None
        raise failure

    async def _request(self, style: AuthStyle, pairs: list[tuple[str, str]]) -> _Token:
        o = self.options
        headers = [("Content-Type", _FORM), ("Accept", "application/json")]
        if style == "header":
            user = f"{quote_plus(o.client_id)}:{quote_plus(o.client_secret)}"
            headers.append(("Authorization", "Basic " + base64.b64encode(user.encode()).decode()))
        else:
            pairs = [*pairs, ("client_id", o.client_id), ("client_secret", o.client_secret)]
        self.fetches += 1
        try:
            async with asyncio.timeout(TOKEN_TIMEOUT):
                response = await self._call("POST", o.token_url, headers, _form(pairs))
        except TimeoutError:
            raise BackendError(f"oauth2: no answer from the token endpoint {o.token_url}") from None
        except BackendError as exc:
            raise BackendError(f"oauth2: cannot reach the token endpoint: {exc}") from None
        return self._token_from(response)

    def _token_from(self, response: UpstreamResponse) -> _Token:
        url = self.options.token_url
        if not 200 <= response.status < 300:
            raise BackendError(f"oauth2: cannot fetch token: {response.status} from {url}")
        content_type = response.content_type.split(";", 1)[0].strip().lower()
        data: Any
        if content_type in (_FORM, "text/plain"):
            data = dict(parse_qsl(response.body.decode("utf-8", "replace")))
        else:
            try:
                data = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                raise BackendError(f"oauth2: the token endpoint {url} did not answer JSON") from None
        access = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access, str) or not access:
            raise BackendError(f"oauth2: server response missing access_token ({url})")
        kind = data.get("token_type")
        kind = kind if isinstance(kind, str) and kind else "Bearer"
        if kind.lower() == "bearer":
            kind = "Bearer"
        expires = data.get("expires_in")
        try:
            seconds = float(expires) if expires not in (None, "") else 0.0
        except (TypeError, ValueError):
            seconds = 0.0
        renew_at = self._clock() + seconds - EXPIRY_DELTA if seconds > 0 else None
        return _Token(f"{kind} {access}", renew_at)


def client_credentials_middleware(source: TokenSource, mask: str = "[REDACTED]") -> ClientMiddleware:
    """Add the backend's token to every upstream call (replacing a forwarded ``Authorization``); a
    refusal quoting the token (``token <t> expired``) has it masked: the token is the gateway's, and
    ``return_error_code`` passes the backend's answer on to the client."""
    masked = mask.encode()

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def authorized(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> UpstreamResponse:
            value = await source.authorization()
            out = [(k, v) for k, v in headers if k.lower() != "authorization"]
            out.append(("Authorization", value))
            response = await call(method, url, out, body)
            if 200 <= response.status < 300:
                return response
            token = value.partition(" ")[2] or value  # the failure path only
            return await refusal_without(response, (value.encode(), token.encode()), masked)

        return authorized

    return middleware
