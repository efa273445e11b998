"""Keys, JWK set, tokens and configs of the JWT bench rows (P1 behind ``auth/validator``), generated
into the bench's work folder: no key material is committed."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

__all__ = ["jwt_rows"]

#: (row label, algorithm, config file name)
ROWS = (("RS256", "RS256", "p1-jwt-rs256.json"), ("HS256", "HS256", "p1-jwt-hs256.json"))


def jwt_rows(work: Path, base_config: Path) -> dict[str, tuple[Path, str]]:
    """alg → (config path, bearer token) for P1's endpoint behind ``auth/validator`` with a local
    JWK set (the cached path: keys parsed once, no network)."""
    from joserfc import jwt
    from joserfc.jwk import OctKey, RSAKey

    folder = work / "jwt"
    folder.mkdir(parents=True, exist_ok=True)
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rs1", "alg": "RS256", "use": "sig"}, private=True)
    oct_key = OctKey.generate_key(256, parameters={"kid": "hs1", "alg": "HS256"})
    public = {"keys": [rsa.as_dict(private=False), oct_key.as_dict()]}
    jwk_path = folder / "jwks.json"
    jwk_path.write_bytes(orjson.dumps(public))
    claims = {"sub": "bench", "iss": "bench", "aud": "krakenpy", "exp": int(time.time()) + 24 * 3600}
    base = orjson.loads(base_config.read_bytes())
    out: dict[str, tuple[Path, str]] = {}
    for _, alg, name in ROWS:
        key = rsa if alg == "RS256" else oct_key
        token = jwt.encode({"alg": alg, "kid": key.kid}, claims, key)
        doc = orjson.loads(orjson.dumps(base))
        doc["name"] = f"bench JWT: P1 behind auth/validator ({alg}, local JWK set)"
        for endpoint in doc["endpoints"]:
            endpoint.setdefault("extra_config", {})["auth/validator"] = {
                "alg": alg,
                "jwk_local_path": str(jwk_path),
                "disable_jwk_security": True,
                "issuer": "bench",
                "audience": ["krakenpy"],
            }
        path = folder / name
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        out[alg] = (path, token)
    return out
