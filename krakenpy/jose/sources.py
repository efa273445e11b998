"""Where keys come from: a local JWK file (read once) or a JWKS URL kept fresh in the background.

A remote set is fetched when the gateway starts and then every ``interval`` seconds; a failed fetch
keeps the last good keys and is retried with backoff. A token whose key id is unknown triggers one
on-demand refetch, shared by every request waiting for it (single flight) and spaced at least
:data:`MIN_REFETCH_INTERVAL` apart, so a flood of made-up ``kid`` values costs a bounded number of
downloads; with ``failed_jwk_key_cooldown`` an id that was still unknown after a refetch is not
looked for again during the cooldown. Requests never wait for a download longer than
:data:`REFETCH_WAIT` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from krakenpy.jose.algorithms import Key
from krakenpy.jose.keyset import KeyIndex, KeySetError, Strategy, parse_key_set
from krakenpy.names import USER_AGENT
from krakenpy.server import saidonce
from krakenpy.tasks import spawn

__all__ = ["MIN_REFETCH_INTERVAL", "REFETCH_WAIT", "KeySource", "RemoteKeySource", "StaticKeySource", "spki_sha256"]

log = logging.getLogger("krakenpy.jose")

#: on-demand refetches (unknown key id) are at least this many seconds apart
MIN_REFETCH_INTERVAL: Final = 1.0
#: the longest a request waits for an in-flight download
REFETCH_WAIT: Final = 1.0
#: bound of one download (KrakenD has none beyond dial and TLS timeouts)
FETCH_TIMEOUT: Final = 10.0
#: largest JWKS document accepted
MAX_JWKS_BYTES: Final = 1024 * 1024
#: retry delays after failures: 1 s, doubling up to this
MAX_BACKOFF: Final = 60.0
_JWKS_TYPES: Final = ("application/json", "application/jwk-set+json")
#: bound of the unknown-key-id memory (cooldown); cleared when full
_MAX_FAILED_IDS: Final = 10_000


class FetchError(Exception):
    """One download failed; the message is logged (it never holds a secret)."""


def spki_sha256(der_cert: bytes) -> bytes:
    """SHA-256 of a certificate's SubjectPublicKeyInfo (what ``jwk_fingerprints`` pin)."""
    cert = x509.load_der_x509_certificate(der_cert)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


class KeySource:
    """Keys by id, with a ``generation`` that changes whenever the set changes."""

    def __init__(self) -> None:
        self.index: KeyIndex | None = None
        self.generation = 0
        #: why no keys are available (for rejection details), "" when fine
        self.problem = "key set not loaded yet"

    def lookup(self, key_id: str) -> tuple[Key, ...] | None:
        index = self.index
        return index.keys.get(key_id) if index is not None else None

    def _install(self, index: KeyIndex) -> None:
        if self.index is None or self.index.digest != index.digest:
            self.generation += 1
        self.index = index
        self.problem = ""

    async def find(self, key_id: str) -> tuple[Key, ...] | None:
        """The keys for ``key_id``, after a refetch when the source can do one."""
        return self.lookup(key_id)

    def start(self) -> None:
        """Begin background work (nothing for a static set)."""

    async def close(self) -> None:
        """Stop background work."""


class StaticKeySource(KeySource):
    """A JWK set read once at start-up (``jwk_local_path``)."""

    def __init__(self, index: KeyIndex) -> None:
        super().__init__()
        self._install(index)


class RemoteKeySource(KeySource):
    """A JWKS URL, refreshed every ``interval`` seconds and on unknown key ids (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        strategy: Strategy = "kid",
        interval: float = 900.0,
        cooldown: float = 0.0,
        ssl_context: ssl.SSLContext | bool = True,
        fingerprints: frozenset[bytes] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.url = url
        self.strategy: Strategy = strategy
        self.interval = interval
        self.cooldown = cooldown
        self._ssl = ssl_context
        self._pins = fingerprints
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._loop_task: asyncio.Task[Any] | None = None
        self._last_attempt = -MIN_REFETCH_INTERVAL
        self._failed: dict[str, float] = {}
        self._failing = False
        #: downloads attempted (for tests and logs)
        self.fetches = 0

    # -- background refresh -------------------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = spawn(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        backoff = 1.0
        while True:
            ok = await self._refetch()
            if ok:
                backoff = 1.0
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(min(backoff, self.interval))
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _refetch(self) -> Awaitable[bool]:
        """The download in flight, or a new one (single flight)."""
        task = self._inflight
        if task is None:
            self._last_attempt = self._clock()
            task = self._inflight = spawn(self._fetch_once())
            task.add_done_callback(self._clear_inflight)
        return asyncio.shield(task)

    def _clear_inflight(self, task: asyncio.Task[bool]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch_once(self) -> bool:
        self.fetches += 1
        try:
            index = await asyncio.wait_for(self._download(), FETCH_TIMEOUT)
        except (FetchError, KeySetError) as exc:
            self._failed_fetch(str(exc))
            return False
        except TimeoutError:
            self._failed_fetch(f"no answer within {FETCH_TIMEOUT:g} s")
            return False
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            self._failed_fetch(f"{type(exc).__name__}: {exc}")
            return False
        self._install(index)
        if self._failing:
            saidonce.say(
                log,
                logging.WARNING,
                "JWK set %s reachable again (%d keys)",
                self.url,
                len(index),
                topic=f"jwk {self.url}",
            )
            self._failing = False
        return True

    def _failed_fetch(self, reason: str) -> None:
        kept = " (keeping the previous keys)" if self.index is not None else ""
        self.problem = f"JWK set {self.url} unavailable: {reason}" if self.index is None else ""
        if not self._failing:
            # once per gateway with run -w N: every worker fetches the same set
            saidonce.say(
                log,
                logging.WARNING,
                "cannot fetch the JWK set %s: %s%s",
                self.url,
                reason,
                kept,
                topic=f"jwk {self.url}",
            )
            self._failing = True

    async def _download(self) -> KeyIndex:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
            )
        headers = {"User-Agent": USER_AGENT, "Accept": "application/jwk-set+json, application/json"}
        async with session.get(self.url, headers=headers, ssl=self._ssl, allow_redirects=True) as resp:
            if self._pins:
                self._check_pins(resp)
            if resp.status != 200:
                raise FetchError(f"status {resp.status}")
            content_type = resp.headers.get("Content-Type", "")
            if not content_type.startswith(_JWKS_TYPES):
                raise FetchError(f"unexpected Content-Type {content_type[:80]!r}")
            body = await resp.content.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise FetchError(f"document larger than {MAX_JWKS_BYTES} bytes")
        return parse_key_set(body, self.strategy)

    def _check_pins(self, resp: aiohttp.ClientResponse) -> None:
        connection = resp.connection
        transport = connection.transport if connection is not None else None
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise FetchError("jwk_fingerprints set but the server presented no TLS certificate")
        if spki_sha256(der) not in self._pins:
            raise FetchError("the server certificate matches none of jwk_fingerprints")

    # -- request path ---------------------------------------------------------------------------

    async def find(self, key_id: str) -> tuple[Key, ...] | None:
        keys = self.lookup(key_id)
        if keys is not None:
            return keys
        now = self._clock()
        if self.cooldown and self._failed.get(key_id, 0.0) > now:
            return None
        if self._inflight is None and now - self._last_attempt < MIN_REFETCH_INTERVAL:
            return None
        try:
            await asyncio.wait_for(self._refetch(), REFETCH_WAIT)
        except TimeoutError:
            return None
        keys = self.lookup(key_id)
        if keys is None and self.cooldown and self.index is not None:
            if len(self._failed) >= _MAX_FAILED_IDS:
                self._failed.clear()
            self._failed[key_id] = self._clock() + self.cooldown
        return keys

    async def close(self) -> None:
        for task in (self._loop_task, self._inflight):
            if task is not None:
                task.cancel()
        for task in (self._loop_task, self._inflight):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # shutting down
                    pass
        self._loop_task = self._inflight = None
        if self._session is not None:
            await self._session.close()
            self._session = None
