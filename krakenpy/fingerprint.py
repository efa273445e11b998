"""Keyed fingerprints of credentials: what logs, audit records, spans and claims may carry in place
of a credential (an HMAC-SHA256, truncated to 64 bits), so a log reader cannot confirm a guessed
low-entropy key by hashing it.

The key is an operator's secret (``fingerprint_key_env`` of ``auth/api-keys`` or
``telemetry/audit``); without one, a random key drawn once per process (``run`` draws it before
forking, so its workers share it): every fingerprint of the instance agrees, but the same credential
reads differently after a restart and on another instance (README, Authentication)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["PREFIX", "configured_key", "derived_key", "env_key", "fingerprint", "process_key", "store_name_key"]

PREFIX: Final = "hmac-sha256:"
_process: list[bytes] = []


def process_key() -> bytes:
    """This process's random fingerprint key (drawn on first use, then kept)."""
    if not _process:
        _process.append(os.urandom(32))
    return _process[0]


def derived_key(label: bytes) -> bytes:
    """A key of this process for another use than fingerprints (``label`` names the use): derived
    from :func:`process_key`, so the workers of one run share it too, and a value hashed for that use
    never reads as a credential's fingerprint."""
    return hmac.new(process_key(), b"krakenpy " + label, hashlib.sha256).digest()


def fingerprint(key: bytes, raw: bytes) -> str:
    """``hmac-sha256:`` and the first 16 hex digits of HMAC-SHA256(key, raw)."""
    return PREFIX + hmac.new(key or process_key(), raw, hashlib.sha256).hexdigest()[:16]


def env_key(name: str) -> bytes:
    """The bytes of the environment variable ``name`` (``b""`` when unset): a fingerprint key as the
    operator set it, UTF-8 or not (``head -c 32 /dev/urandom``: :data:`os.environ` holds its invalid
    bytes surrogate-escaped, which a strict ``encode()`` refused with an error quoting a byte of it)."""
    return os.environ.get(name, "").encode("utf-8", "surrogateescape")


def configured_key(extra_config: Mapping[str, Any]) -> tuple[str, bytes]:
    """The service's fingerprint key: (the environment variable named, its value as bytes), read
    from ``auth/api-keys``' ``fingerprint_key_env``, else ``telemetry/audit``'s; ``("", b"")`` when
    neither names one (an empty or unset variable: its name and ``b""``)."""
    for namespace in ("auth/api-keys", "telemetry/audit"):
        block = extra_config.get(namespace)
        name = block.get("fingerprint_key_env") if isinstance(block, Mapping) else None
        if isinstance(name, str) and name:
            return name, env_key(name)
    return "", b""


def store_name_key(extra_config: Mapping[str, Any]) -> bytes:
    """The BLAKE2b key a credential is hashed with into a Redis key name (rate limits, quotas): derived
    from the configured fingerprint key, or empty (an unkeyed hash, as before) without one. Never the
    per-process random key: every instance must name a client's counter alike."""
    _, key = configured_key(extra_config)
    return hashlib.sha256(b"krakenpy store names\0" + key).digest() if key else b""
