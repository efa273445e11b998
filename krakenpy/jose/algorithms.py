"""The JWS algorithms KrakenD accepts and which key type each one needs.

A token is only ever checked with the one algorithm the configuration names, and only against keys
of the matching type: an HS256 token can never be verified with an RSA public key's bytes
(algorithm confusion), an ES256 token only with a P-256 key.
"""

from __future__ import annotations

import warnings
from typing import Final, TypeAlias

from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

__all__ = ["ALGORITHMS", "Key", "key_fits", "sign", "verify"]

Key: TypeAlias = OctKey | RSAKey | ECKey | OKPKey

#: every algorithm of KrakenD's ``alg`` enum (krakend-jose ``SupportedAlgorithms``)
ALGORITHMS: Final = (
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
)
_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_OKP_CURVES: Final = frozenset({"Ed25519", "Ed448"})


def key_fits(alg: str, key: Key) -> bool:
    """True when ``key`` is of the type ``alg`` works with (the JWK's own ``alg`` is not enforced, as in KrakenD)."""
    family = alg[:2]
    if family == "HS":
        return isinstance(key, OctKey)
    if family in ("RS", "PS"):
        return isinstance(key, RSAKey)
    if family == "ES":
        return isinstance(key, ECKey) and key.curve_name == _CURVES.get(alg)
    if alg == "EdDSA":
        return isinstance(key, OKPKey) and key.curve_name in _OKP_CURVES
    return False


def verify(alg: str, signing_input: bytes, signature: bytes, key: Key) -> bool:
    """Check one signature; any library error counts as a bad signature."""
    model = JWSRegistry.algorithms[alg]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc flags EdDSA and short HMAC keys; the config chose them
            return bool(model.verify(signing_input, signature, key))
    except Exception:  # a key the library refuses to use verifies nothing
        return False


def sign(alg: str, signing_input: bytes, key: Key) -> bytes:
    """Sign ``signing_input`` (the signer component's side)."""
    model = JWSRegistry.algorithms[alg]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(model.sign(signing_input, key))
