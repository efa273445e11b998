"""API keys (KrakenD Enterprise's ``auth/api-keys`` field names).

Keys are kept in memory only as digests: ``plain`` keys are hashed with SHA-256 at start-up, the
other ``hash`` modes hold the digest the config already carries. A presented key is hashed the same
way (``hash(key + salt)``, lower-case hex) and found by digest; the final comparison is constant-time.
A presented key is hashed as the bytes the client sent (header and query text carries bytes that are
not UTF-8 as surrogate escapes), so such a key is simply unknown, never an error.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from krakenpy.fingerprint import fingerprint

__all__ = ["HASHES", "ApiKey", "KeyRing", "digest_function", "fnv1_128"]

Hash: TypeAlias = Literal["plain", "fnv128", "sha256", "sha1"]
HASHES: Final = ("plain", "fnv128", "sha256", "sha1")
_FNV128_OFFSET: Final = 0x6C62272E07BB014262B821756295C58D
_FNV128_PRIME: Final = 0x0000000001000000000000000000013B
_MASK128: Final = (1 << 128) - 1


def fnv1_128(data: bytes) -> bytes:
    """FNV-1 128-bit (Go's ``hash/fnv.New128``)."""
    value = _FNV128_OFFSET
    for byte in data:
        value = (value * _FNV128_PRIME) & _MASK128
        value ^= byte
    return value.to_bytes(16, "big")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def digest_function(mode: Hash, salt: str) -> Callable[[str], str]:
    """How a presented key becomes the digest keys are stored under."""
    salt_bytes = _bytes(salt)
    if mode == "fnv128":
        return lambda key: fnv1_128(_bytes(key) + salt_bytes).hex()
    name = "sha1" if mode == "sha1" else "sha256"  # plain keys are stored as SHA-256 digests
    return lambda key: hashlib.new(name, _bytes(key) + salt_bytes).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    digest: str
    roles: tuple[str, ...]
    #: a short id for logs and ``request.claims``: a keyed fingerprint of the digest (``hmac-sha256:``
    #: and 16 hex digits), so a log reader cannot confirm a guessed key by hashing it
    key_id: str


class KeyRing:
    """The service's keys by digest."""

    def __init__(
        self,
        keys: Sequence[tuple[str, Sequence[str]]],
        *,
        mode: Hash = "plain",
        salt: str = "",
        fingerprint_key: bytes = b"",
    ) -> None:
        """``fingerprint_key``: the HMAC key of the ``key_id`` s (empty: this process's random key)."""
        self._digest = digest_function(mode, salt)
        by_digest: dict[str, ApiKey] = {}
        for value, roles in keys:
            digest = self._digest(value) if mode == "plain" else value.strip().lower()
            by_digest[digest] = ApiKey(digest, tuple(roles), fingerprint(fingerprint_key, digest.encode()))
        self._keys: Mapping[str, ApiKey] = by_digest

    def find(self, presented: str) -> ApiKey | None:
        """The key entry for a presented key, or ``None``."""
        digest = self._digest(presented)
        found = self._keys.get(digest)
        if found is None or not hmac.compare_digest(found.digest, digest):
            return None
        return found
