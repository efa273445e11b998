"""AWS Signature Version 4 for one service in one region, as botocore's ``SigV4Auth`` signs a request.

The signing key (four chained HMACs of the secret) is derived once per (UTC date, secret) and kept;
a request then costs one SHA-256 of its payload, one of its canonical request and one HMAC. Only
what the Lambda invoker sends is supported: a path that is already percent-encoded, at most one
already-encoded query parameter, and the headers the caller lists (all of them are signed).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["Credentials", "Signer", "canonical_host"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Credentials(NamedTuple):
    """What a signature needs (botocore's ``ReadOnlyCredentials`` has the same three fields)."""

    access_key: str
    secret_key: str
    token: str | None


def canonical_host(url: str) -> str:
    """The ``Host`` value botocore signs for ``url``: lower-case, without a default port or user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _hmac(key: bytes, text: str) -> bytes:
    # hmac.digest: OpenSSL's one-shot HMAC, without the Python-level HMAC object of hmac.new
    return hmac.digest(key, text.encode("utf-8"), "sha256")


class Signer:
    """SigV4 for ``service`` in ``region``; one instance per target, reused by every request."""

    __slots__ = ("_key", "_key_for", "_now", "_region", "_scope_tail", "_second", "_service", "_stamp")

    def __init__(self, region: str, service: str) -> None:
        self._region = region
        self._service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key_for: tuple[str, str] | None = None
        self._key = b""
        self._second = -1
        self._stamp = ""

    def _signing_key(self, date: str, secret: str) -> bytes:
        # derived once per UTC day (and again when refreshable credentials rotate the secret)
        if self._key_for != (date, secret):
            key = _hmac(f"AWS4{secret}".encode(), date)
            for part in (self._region, self._service, "aws4_request"):
                key = _hmac(key, part)
            self._key, self._key_for = key, (date, secret)
        return self._key

    def timestamp(self, now: float | None = None) -> str:
        """``YYYYMMDDTHHMMSSZ`` for ``now`` (the clock by default), formatted once per second."""
        second = int(time.time() if now is None else now)
        if second != self._second:
            self._stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._stamp

    def sign(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        payload: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[tuple[str, str]]:
        """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a session token) and
        ``Authorization``. ``path`` and ``query`` are as sent (percent-encoded once); ``headers``
        must include ``Host`` and are all signed."""
        stamp = self.timestamp(now)
        signed = [*headers, ("X-Amz-Date", stamp)]
        if credentials.token:
            signed.append(("X-Amz-Security-Token", credentials.token))
        canonical = sorted((name.lower(), " ".join(value.split())) for name, value in signed)
        names = ";".join(name for name, _ in canonical)
        # non-S3 services sign the path percent-encoded a second time: of an encoded path only '%'
        # is not left as it is by quote(safe='/~')
        request = "\n".join(
            (
                method,
                path.replace("%", "%25"),
                query,
                "".join(f"{name}:{value}\n" for name, value in canonical),
                names,
                hashlib.sha256(payload).hexdigest(),
            )
        )
        date = stamp[:8]
        scope = date + self._scope_tail
        to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(request.encode('utf-8')).hexdigest()}"
        signature = _hmac(self._signing_key(date, credentials.secret_key), to_sign).hex()
        credential = f"{credentials.access_key}/{scope}"
        signed.append(
            ("Authorization", f"{_ALGORITHM} Credential={credential}, SignedHeaders={names}, Signature={signature}")
        )
        return signed
