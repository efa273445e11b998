"""Verify cost of one compact JWS per library and algorithm (keys parsed once, as the validator does).

    .venv/bin/python -m bench.jose_verify [--n 5000]

Prints µs per verify for joserfc (the library krakenpy uses) and PyJWT, when installed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from joserfc import jws
from joserfc.jwk import ECKey, OctKey, RSAKey

CLAIMS = b'{"sub":"1234567890","iss":"https://idp.example","aud":["api"],"exp":4102444800,"roles":["user"]}'


def _timeit(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(200, n)):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    n = parser.parse_args().n
    keys = {
        "RS256": RSAKey.generate_key(2048, private=True),
        "ES256": ECKey.generate_key("P-256", private=True),
        "HS256": OctKey.generate_key(256, private=True),
    }
    print(f"{'alg':6} {'joserfc µs':>11} {'PyJWT µs':>9}")
    for alg, key in keys.items():
        token = jws.serialize_compact({"alg": alg, "kid": "k1"}, CLAIMS, key, algorithms=[alg])
        public = key if alg == "HS256" else type(key).import_key(key.as_dict(private=False))
        joserfc_us = _timeit(lambda: jws.deserialize_compact(token, public, algorithms=[alg]), n)  # noqa: B023
        pyjwt_us: float | None = None
        try:
            import jwt as pyjwt
            from jwt import PyJWK

            pk = PyJWK.from_dict(dict(public.as_dict(private=alg == "HS256"), alg=alg))
            opts = {"verify_aud": False}
            pyjwt_us = _timeit(lambda: pyjwt.decode(token, pk.key, algorithms=[alg], options=opts), n)  # noqa: B023
        except ImportError:
            pass
        print(f"{alg:6} {joserfc_us:11.1f} {pyjwt_us if pyjwt_us is not None else float('nan'):9.1f}")


if __name__ == "__main__":
    main()
