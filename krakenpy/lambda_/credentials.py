"""AWS credentials for the Lambda invoker: botocore's default chain, walked on the first call.

The one aiobotocore session per gateway is kept for what is done once (region, endpoint resolution)
and for credentials: its chain (environment, shared files and profiles, SSO, web identity, ECS, EC2
metadata) and its refreshable credentials, which refresh themselves when asked for a frozen copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiobotocore.session import AioSession
from botocore.exceptions import NoCredentialsError

from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["CREDENTIALS_RETRY", "SESSION", "DeferredCredentials", "LambdaSession", "session"]

#: retry the credential chain at most this often when it found nothing (IMDS can be slow)
CREDENTIALS_RETRY = 30.0


class DeferredCredentials:
    """Walks the default credential chain on the first signed request instead of at startup, so
    ``check`` and start-up never wait for (or call) the instance metadata service."""

    method = "krakenpy-deferred-chain"

    def __init__(self, resolve: Callable[[], Awaitable[Any]]) -> None:
        self._resolve = resolve
        self._credentials: Any = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def _get(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        async with self._lock:  # one chain walk at a time; waiters reuse its result
            now = asyncio.get_running_loop().time()
            current: Any = self._credentials  # another waiter may have resolved it meanwhile
            if current is None and now >= self._retry_at:
                try:
                    found = await self._resolve()
                except Exception:  # a broken profile, a denied STS call: the next walk waits as well
                    self._retry_at = now + CREDENTIALS_RETRY
                    raise
                if found is None:
                    self._retry_at = now + CREDENTIALS_RETRY
                self._credentials = found
        return self._credentials

    async def get_frozen_credentials(self) -> Any:
        """(access_key, secret_key, token) now; refreshable credentials refresh first when due."""
        credentials = self._credentials
        if credentials is None:
            credentials = await self._get()
            if credentials is None:
                raise NoCredentialsError()
        return await credentials.get_frozen_credentials()

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        return lambda: getattr(self._credentials, name, None)

    def get_account_id(self) -> Any:
        return getattr(self._credentials, "account_id", None)


class LambdaSession(AioSession):
    """An aiobotocore session whose credentials are :class:`DeferredCredentials`."""

    def __init__(self) -> None:
        super().__init__()
        self.credentials = DeferredCredentials(super().get_credentials)

    async def get_credentials(self) -> Any:  # type: ignore[override]
        return self.credentials


#: one aiobotocore session per gateway (its credential chain is resolved once, lazily)
SESSION: Final = Key("lambda session", LambdaSession)


def session(resources: Resources) -> LambdaSession:
    """The gateway's session (created on first use)."""
    return resources.state.setdefault(SESSION, LambdaSession)
