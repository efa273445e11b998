"""``auth/revoker``: bloom-filter token revocation checked by every ``auth/validator``.

KrakenD fills the filters over a Go RPC port; krakenpy serves a small HTTP admin API on ``port``
instead (:mod:`krakenpy.jose.revocation`), with the same element format (``jti-<value>``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.jose.bloom import MAX_FILTER_BITS, RotatingBloom, Shape, bloom_shape
from krakenpy.jose.bloomfile import StoreError, inspect_store
from krakenpy.jose.bloomhash import HASH_NAMES
from krakenpy.jose.revocation import AdminServer
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE", "RevokerOptions", "revocation_check"]

NAMESPACE: Final = "auth/revoker"
#: Go's limit: KrakenD multiplies TTL by time.Second in an int64 of nanoseconds
MAX_TTL: Final = 9_223_372_036


@dataclass(frozen=True, slots=True)
class RevokerOptions:
    capacity: int
    false_positive: float
    ttl: int
    port: int
    token_keys: tuple[str, ...]
    hash_name: str = "optimal"
    admin_key_env: str = ""
    store_path: str = ""


@dataclass
class _Holder:
    """Filled by the revoker's build; read by validators at request time (build order does not matter)."""

    store: RotatingBloom | None = None
    token_keys: tuple[str, ...] = field(default_factory=tuple)


_STORE: Final = Key("auth/revoker store", _Holder)


def _get(raw: dict[str, Any], name: str) -> Any:
    # Go's JSON decoding matches field names case-insensitively: "N" and "n" both work
    for key, value in raw.items():
        if key.lower() == name.lower():
            return value
    return None


def parse(raw: Any, site: Site) -> RevokerOptions:
    """Sizes, TTL, port and claims; the admin key comes from the environment at start-up."""
    issues: list[ConfigIssue] = []
    capacity, rate, ttl, port = _get(raw, "N"), _get(raw, "P"), _get(raw, "TTL"), _get(raw, "port")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_FILTER_BITS:
        issues.append(
            ConfigIssue(site.at("N"), f"expected the filter capacity, an integer from 1 to {MAX_FILTER_BITS}")
        )
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate < 1:
        issues.append(ConfigIssue(site.at("P"), "expected a false-positive rate between 0 and 1"))
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TTL:
        issues.append(ConfigIssue(site.at("TTL"), f"expected seconds from 1 (KrakenD panics on 0) to {MAX_TTL}"))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        issues.append(ConfigIssue(site.at("port"), "expected a TCP port"))
    hash_name = _get(raw, "hash_name") or "optimal"
    if hash_name not in HASH_NAMES:  # KrakenD looks the name up in a map and panics on another
        issues.append(ConfigIssue(site.at("hash_name"), "expected optimal or default"))
    keys = _get(raw, "token_keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        issues.append(ConfigIssue(site.at("token_keys"), "expected a non-empty list of claim names"))
    if not issues and bloom_shape(capacity, rate)[0] > MAX_FILTER_BITS:
        issues.append(
            ConfigIssue(site.at("N"), f"N={capacity} at P={rate} needs filters over 1 GiB each: lower N or raise P")
        )
    if issues:
        raise ConfigError(issues)
    return RevokerOptions(
        capacity=int(capacity),
        false_positive=float(rate),
        ttl=int(ttl),
        port=int(port),
        token_keys=tuple(keys),
        hash_name=str(hash_name),
        admin_key_env=str(raw.get("admin_key_env") or ""),
        store_path=str(raw.get("store_path") or ""),
    )


def revocation_check(resources: Resources) -> Callable[[dict[str, Any]], bool] | None:
    """The validators' check, or ``None`` when the service has no ``auth/revoker`` (nothing per request)."""
    if NAMESPACE not in resources.service.extra_config:
        return None
    holder = resources.state.setdefault(_STORE, _Holder)

    def revoked(claims: dict[str, Any]) -> bool:
        store = holder.store
        if store is None:
            return False
        for name in holder.token_keys:
            value = claims.get(name)
            # only string claims are looked up, as in KrakenD (arrays and numbers never are)
            if isinstance(value, str) and store.check(f"{name}-{value}"):
                return True
        return False

    return revoked


async def build(options: RevokerOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    """Open the shared filters and start the admin listener; no per-request middleware of its own."""
    if options is None:
        return None
    path = Path(options.store_path or Path(tempfile.gettempdir()) / f"krakenpy-revoker-{options.port}.bloom")
    if not path.is_absolute():
        path = resources.base_dir / path
    where = site.at("store_path")
    if not resources.serving:  # check: no filter file created or changed, no port bound
        if not path.parent.is_dir():
            raise ConfigError([ConfigIssue(where, f"no such directory: {path.parent}")])
        bits, hashes = bloom_shape(options.capacity, options.false_positive)
        try:
            change = inspect_store(path, Shape(bits, hashes, options.ttl, options.hash_name))
        except StoreError as exc:
            raise ConfigError([ConfigIssue(where, str(exc))]) from None
        except OSError as exc:
            raise ConfigError([ConfigIssue(where, f"cannot open {path}: {exc.strerror or exc}")]) from None
        if change:
            resources.warnings.append(f"{site.path}: {change}")
        return None
    try:
        store = RotatingBloom(
            path,
            capacity=options.capacity,
            false_positive=options.false_positive,
            ttl=options.ttl,
            hash_name=options.hash_name,
        )
    except StoreError as exc:
        raise ConfigError([ConfigIssue(where, str(exc))]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(where, f"cannot open {path}: {exc.strerror or exc}")]) from None
    resources.stack.callback(store.close)
    key = os.environ.get(options.admin_key_env, "") if options.admin_key_env else ""
    if options.admin_key_env and not key:
        resources.warnings.append(
            f"{site.path}: environment variable {options.admin_key_env} is empty: admin API bound to 127.0.0.1 only"
        )
    host = (resources.service.listen_ip or "") if key else "127.0.0.1"
    server = AdminServer(store, host=host, port=options.port, key=key)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError([ConfigIssue(site.at("port"), f"cannot listen on {options.port}: {exc.strerror}")]) from None
    resources.stack.push_async_callback(server.close)
    holder = resources.state.setdefault(_STORE, _Holder)
    holder.store = store
    holder.token_keys = options.token_keys
    return None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=parse,
    summary="revoked tokens (rotating bloom filters, HTTP admin API on `port`) rejected by auth/validator",
    edge=build,
    ignored={
        "headers": "read by KrakenD's code and never used",
        **{
            f"revoke_server_{name}": "KrakenD Enterprise's revoke server is not supported: revoke through "
            "the admin API on port"
            for name in ("api_key", "max_workers", "ping_interval", "ping_url", "max_retries")
        },
    },
)
