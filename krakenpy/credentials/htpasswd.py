"""Users and password hashes for HTTP basic auth: htpasswd files (bcrypt ``$2y$``/``$2a$``/``$2b$``,
``{SHA}``, plain text) and inline ``users``, inline entries winning.

bcrypt is slow by design: checks run in a worker thread (at most :data:`BCRYPT_CONCURRENCY` at once)
and a successful check is remembered (as a SHA-256 of user, password and hash) so a client
repeating its credentials costs one hash, not one bcrypt run, per request. Presented passwords are
compared as the bytes the client sent (surrogate escapes stand for bytes that are not UTF-8).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from krakenpy.files import read_bounded

__all__ = ["BCRYPT_CONCURRENCY", "PasswordCheck", "parse_htpasswd"]

BCRYPT_CONCURRENCY: Final = 4
_REMEMBERED: Final = 4096


def parse_htpasswd(text: str) -> dict[str, str]:
    """``user:hash`` lines; blank lines and ``#`` comments skipped."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, _, hashed = line.partition(":")
        users[user] = hashed
    return users


def load_users(path: Path) -> dict[str, str]:
    # bounded, regular files only (OSError otherwise); bytes that are not UTF-8 never match a password
    return parse_htpasswd(read_bounded(path).decode("utf-8", "replace"))


def supported(hashed: str) -> bool:
    """bcrypt, ``{SHA}`` or plain text (not ``$apr1$`` MD5 nor ``crypt``)."""
    return not hashed.startswith("$") or hashed.startswith(("$2y$", "$2a$", "$2b$"))


class PasswordCheck:
    """``await check(user, password) -> bool``."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        self._ok: dict[bytes, None] = {}
        self._slots = asyncio.Semaphore(BCRYPT_CONCURRENCY)

    async def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        if hashed is None:
            return False
        if hashed.startswith("$2"):
            memo = hashlib.sha256(_raw(f"{user}\0{password}\0{hashed}")).digest()
            if memo in self._ok:
                return True
            async with self._slots:
                ok = await asyncio.to_thread(_bcrypt, password, hashed)
            if ok:
                if len(self._ok) >= _REMEMBERED:
                    del self._ok[next(iter(self._ok))]
                self._ok[memo] = None
            return ok
        if hashed.startswith("{SHA}"):
            given = base64.b64encode(hashlib.sha1(_raw(password)).digest()).decode()
            return hmac.compare_digest(given, hashed[5:])
        return hmac.compare_digest(_raw(password), _raw(hashed))


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _bcrypt(password: str, hashed: str) -> bool:
    try:
        import bcrypt  # here: only configs with bcrypt users load the library

        # htpasswd writes $2y$, which the bcrypt library reads as $2b$
        return bool(bcrypt.checkpw(_raw(password), _raw("$2b$" + hashed[4:])))
    except ValueError:
        return False
