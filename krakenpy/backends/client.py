"""The upstream HTTP client seam.

Backends talk to upstreams through :class:`UpstreamClient`, so the aiohttp ``ClientSession``
implementation here can be swapped for a faster one without touching the pipeline. Foreign
exceptions are mapped to :class:`~krakenpy.errors.BackendError` at exactly this boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import aiohttp
from yarl import URL

from krakenpy.errors import BackendError

__all__ = [
    "AiohttpClient",
    "ClientMiddleware",
    "ClientOptions",
    "UpstreamCall",
    "UpstreamClient",
    "UpstreamResponse",
]

#: largest backend body read into memory (a larger one is a backend error)
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    #: (name, value) pairs as received
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_type: str


class UpstreamClient(Protocol):
    """What a backend needs from an HTTP client."""

    async def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


#: one upstream HTTP call: ``call(method, url, headers, body)`` (``UpstreamClient.request``'s shape)
UpstreamCall: TypeAlias = Callable[[str, str, list[tuple[str, str]], bytes | None], Awaitable[UpstreamResponse]]
#: the upstream-client seam of one backend (HTTP cache, OAuth2 client credentials)
ClientMiddleware: TypeAlias = Callable[[UpstreamCall], UpstreamCall]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Transport settings from the service config (lura ``transport/http/client``)."""

    limit_per_host: int = 250
    limit: int = 0
    keepalive_timeout: float = 90.0
    connect_timeout: float | None = None
    response_header_timeout: float | None = None
    disable_keep_alives: bool = False
    max_body: int = MAX_BODY


class AiohttpClient:
    """:class:`UpstreamClient` over one shared ``aiohttp.ClientSession`` (one pool per host)."""

    def __init__(self, options: ClientOptions | None = None) -> None:
        self._options = options or ClientOptions()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        o = self._options
        connector = aiohttp.TCPConnector(
            limit=o.limit,
            limit_per_host=o.limit_per_host,
            keepalive_timeout=o.keepalive_timeout if not o.disable_keep_alives else None,
            force_close=o.disable_keep_alives,
            ttl_dns_cache=30,
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=o.connect_timeout, sock_read=o.response_header_timeout)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        return self._session

    async def request(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None
    ) -> UpstreamResponse:
        session = self._session or self._open()
        try:
            async with session.request(
                method, URL(url, encoded=True), headers=list(headers), data=body or None
            ) as resp:
                length = resp.content_length
                if length is not None and length > self._options.max_body:
                    raise BackendError(f"backend body too large ({length} bytes) [{method}]: {url}")
                data = await resp.content.read(self._options.max_body + 1)
                if len(data) > self._options.max_body:
                    raise BackendError(f"backend body too large [{method}]: {url}")
                return UpstreamResponse(
                    status=resp.status,
                    headers=tuple(resp.headers.items()),
                    body=data,
                    content_type=resp.headers.get("Content-Type", ""),
                )
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendError(f"backend timeout [{method}]: {url}") from exc
        except aiohttp.ClientError as exc:
            raise BackendError(f"{type(exc).__name__}: {exc} [{method}]: {url}") from exc
        except (OSError, ValueError) as exc:
            raise BackendError(f"{type(exc).__name__}: {exc} [{method}]: {url}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
