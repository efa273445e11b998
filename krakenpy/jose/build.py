"""Start-up side of the key sources: files read, TLS contexts made, one source per URL per gateway."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.files import read_config_file
from krakenpy.jose.keyset import KeySetError, Strategy, parse_key_set
from krakenpy.jose.options import KeySourceOptions
from krakenpy.jose.sources import KeySource, RemoteKeySource, StaticKeySource
from krakenpy.resources import Resources
from krakenpy.state import Key
from krakenpy.tlsfiles import TlsFileError, client_context

__all__ = ["SOURCES", "key_source", "tls_context"]

_SourceId = tuple[str, str, bool, frozenset[bytes], str]
#: every key source of the gateway, shared by the endpoints that name the same set
SOURCES: Final = Key("jose key sources", dict)


def _resolve(path: str, resources: Resources) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else resources.base_dir / candidate


def tls_context(options: KeySourceOptions, path: str, resources: Resources) -> ssl.SSLContext | bool:
    """``False`` (no verification) with ``disable_jwk_security``; else the system CAs plus ``jwk_local_ca``
    (a FIFO or device refused, never waited on: :mod:`krakenpy.tlsfiles`)."""
    if options.disable_jwk_security:
        return False
    if not options.jwk_local_ca:
        return True
    file = str(_resolve(options.jwk_local_ca, resources))
    try:
        return client_context(file, system_roots=True)
    except TlsFileError as exc:
        reason = f"cannot read {file}: {exc.reason}" if exc.unreadable else f"cannot load the CA file: {exc.reason}"
        raise ConfigError([ConfigIssue(f"{path}.jwk_local_ca", reason)]) from None


def _local(options: KeySourceOptions, path: str, resources: Resources) -> KeySource:
    file = _resolve(options.jwk_local_path, resources)
    document = read_config_file(file, f"{path}.jwk_local_path")
    try:
        return StaticKeySource(parse_key_set(document, options.strategy))
    except KeySetError as exc:
        raise ConfigError([ConfigIssue(f"{path}.jwk_local_path", f"{file}: {exc}")]) from None


class _NoKeySource(KeySource):
    """The source of a validator configured with neither ``jwk_url`` nor ``jwk_local_path``."""

    def __init__(self) -> None:
        super().__init__()
        self.problem = "no key source configured (jwk_url or jwk_local_path)"


_NO_SOURCE: Final = _NoKeySource()


def key_source(
    options: KeySourceOptions, path: str, resources: Resources, *, refresh: float, cooldown: float = 0.0
) -> KeySource:
    """The gateway's source for these options (created and started on first use). ``path`` is the JSON
    path of the namespace value, for errors."""
    sources: dict[_SourceId, KeySource] = resources.state.setdefault(SOURCES, dict)
    strategy: Strategy = options.strategy
    if options.jwk_local_path:
        ident: _SourceId = ("file", str(_resolve(options.jwk_local_path, resources)), False, frozenset(), strategy)
        found = sources.get(ident)
        if found is None:
            found = sources[ident] = _local(options, path, resources)
        return found
    if not options.jwk_url:
        return _NO_SOURCE  # no key at all: every token is rejected (401), as KrakenD does (check warns)
    context = tls_context(options, path, resources)
    ident = (options.jwk_url, strategy, options.disable_jwk_security, options.fingerprints, options.jwk_local_ca)
    source = sources.get(ident)
    if isinstance(source, RemoteKeySource):
        source.interval = min(source.interval, refresh)
        source.cooldown = max(source.cooldown, cooldown)
        return source
    remote = RemoteKeySource(
        options.jwk_url,
        strategy=strategy,
        interval=refresh,
        cooldown=cooldown,
        ssl_context=context,
        fingerprints=options.fingerprints,
    )
    sources[ident] = remote
    resources.stack.push_async_callback(remote.close)
    if resources.serving:  # check downloads nothing
        remote.start()
    return remote
