"""JWK sets: parse ``{"keys": [...]}`` once into key objects indexed by the configured key id strategy.

Keys of a type the library cannot import (an ``oct`` key with ``alg: A128KW`` imports fine; an
unknown ``kty`` does not) are skipped, as in KrakenD, where only the keys a token asks for matter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import orjson
from joserfc.jwk import JWKRegistry

from krakenpy.jose.algorithms import Key

__all__ = ["STRATEGIES", "KeyIndex", "KeySetError", "Strategy", "parse_key_set", "token_key_id"]

Strategy: TypeAlias = Literal["kid", "x5t", "x5t#S256", "kid_x5t"]
STRATEGIES: Final = ("kid", "x5t", "x5t#S256", "kid_x5t")


class KeySetError(Exception):
    """The document is not a usable JWK set."""


@dataclass(frozen=True, slots=True)
class KeyIndex:
    """Parsed keys by id (several keys may share one id: the algorithm picks the one that fits)."""

    keys: Mapping[str, tuple[Key, ...]] = field(default_factory=dict)
    #: how many entries of the document could not be imported
    skipped: int = 0
    #: a digest of the document, to tell a changed set from the same one fetched again
    digest: bytes = b""

    def __len__(self) -> int:
        return sum(len(v) for v in self.keys.values())


def _thumb(cert_b64: str, algo: str) -> str:
    der = base64.b64decode(cert_b64, validate=True)
    return base64.urlsafe_b64encode(hashlib.new(algo, der).digest()).rstrip(b"=").decode()


def _cert_thumbprint(entry: Mapping[str, Any], name: str) -> str:
    """``x5t`` / ``x5t#S256`` as written in the JWK, else computed from the first ``x5c`` certificate."""
    value = entry.get(name)
    if isinstance(value, str):
        return value
    chain = entry.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        try:
            return _thumb(chain[0], "sha1" if name == "x5t" else "sha256")
        except (binascii.Error, ValueError):
            return ""
    return ""


def _key_id(entry: Mapping[str, Any], strategy: Strategy) -> str:
    kid = entry.get("kid")
    kid = kid if isinstance(kid, str) else ""
    if strategy == "kid":
        return kid
    if strategy == "kid_x5t":
        return kid + _cert_thumbprint(entry, "x5t")
    return _cert_thumbprint(entry, strategy)


def token_key_id(header: Mapping[str, Any], strategy: Strategy) -> str:
    """The id a token asks for: its ``kid``, or its ``x5t``/``x5t#S256`` (falling back to ``kid``)."""
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else ""
    if strategy == "kid":
        return kid
    x5t = header.get("x5t")
    if strategy == "kid_x5t":
        return kid + (x5t if isinstance(x5t, str) else "")
    value = header.get(strategy)
    return value if isinstance(value, str) else kid


def parse_key_set(document: bytes | Mapping[str, Any], strategy: Strategy = "kid") -> KeyIndex:
    """Parse a JWK set; raises :class:`KeySetError` when it has no ``keys`` or none can be used."""
    if isinstance(document, bytes | bytearray):
        try:
            data = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise KeySetError(f"not JSON: {exc}") from None
        digest = hashlib.sha256(document).digest()
    else:
        data = document
        digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).digest()
    if not isinstance(data, Mapping):
        raise KeySetError("a JWK set is a JSON object with a 'keys' list")
    entries = data.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeySetError("no keys have been found in the JWK set")
    index: dict[str, list[Key]] = {}
    skipped = 0
    for entry in entries:
        if not isinstance(entry, Mapping):
            skipped += 1
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # short HMAC secrets are the config's choice
                key = JWKRegistry.import_key(dict(entry))
        except Exception:  # an unusable entry is skipped, like KrakenD does
            skipped += 1
            continue
        index.setdefault(_key_id(entry, strategy), []).append(key)
    if not index:
        raise KeySetError(f"none of the {len(entries)} keys of the JWK set can be used")
    return KeyIndex({k: tuple(v) for k, v in index.items()}, skipped, digest)
