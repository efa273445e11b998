"""gRPC channels: one per host and TLS setting, shared by every backend that calls it, opened on
first use (a worker's own event loop) and closed with the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import grpc
from grpc import aio

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.grpc.options import INT32_MAX, BackendOptions
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["ChannelSpec", "Channels", "channel_spec", "channels_of"]

_SCHEMES: Final = ("http://", "https://", "grpc://", "grpcs://", "h2c://", "h2://")


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """How one backend reaches its hosts: TLS credentials (``None``: plaintext) and channel options."""

    credentials: Any
    options: tuple[tuple[str, int], ...]


def target_of(host: str) -> tuple[str, bool]:
    """``https://h:443/`` → (``h:443``, TLS); a bare ``h:4242`` or ``http://`` is plaintext."""
    secure = host.startswith(("https://", "grpcs://", "h2://"))
    for scheme in _SCHEMES:
        if host.startswith(scheme):
            host = host[len(scheme) :]
            break
    return host.rstrip("/"), secure


def _read(path: str, base: Path, where: str) -> bytes:
    try:
        return Path(base, path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(where, f"cannot read {path}: {exc.strerror or exc}")]) from None


def channel_spec(options: BackendOptions, secure_host: bool, resources: Resources, path: str) -> ChannelSpec:
    """The credentials and options of a backend's channels, files read once at start-up; backends
    with the same settings get the same spec, and so share their channels."""
    tls = options.tls
    channel_options: list[tuple[str, int]] = [("grpc.max_receive_message_length", options.max_recv)]
    if options.idle_timeout > 0:
        idle_ms = min(max(1, int(options.idle_timeout * 1000)), INT32_MAX)
        channel_options.append(("grpc.client_idle_timeout_ms", idle_ms))
    # allow_insecure_connections is grpc-go's "insecure" credentials: plaintext, as in KrakenD
    secure = not tls.allow_insecure and (secure_host or tls.configured)
    key = (secure, tls if secure else None, tuple(channel_options))
    specs = channels_of(resources).specs
    found = specs.get(key)
    if found is not None:
        return found
    credentials = None
    if secure:
        where = f"{path}.client_tls"
        roots = b"".join(_read(ca, resources.base_dir, f"{where}.ca_certs") for ca in tls.ca_certs) or None
        private = _read(tls.client_key, resources.base_dir, f"{where}.client_certs") if tls.client_key else None
        cert = _read(tls.client_cert, resources.base_dir, f"{where}.client_certs") if tls.client_cert else None
        credentials = grpc.ssl_channel_credentials(root_certificates=roots, private_key=private, certificate_chain=cert)
    found = specs[key] = ChannelSpec(credentials, tuple(channel_options))
    return found


class Channels:
    """The open channels of a gateway, by target and spec."""

    __slots__ = ("_open", "specs")

    def __init__(self) -> None:
        self._open: dict[tuple[str, ChannelSpec], aio.Channel] = {}
        #: (TLS, TLS settings, channel options) → the spec backends with those settings share
        self.specs: dict[tuple[object, ...], ChannelSpec] = {}

    def get(self, target: str, spec: ChannelSpec) -> aio.Channel:
        """The channel to ``target`` (opened now if it is the first call)."""
        key = (target, spec)
        channel = self._open.get(key)
        if channel is None:
            if spec.credentials is None:
                channel = aio.insecure_channel(target, options=spec.options)
            else:
                channel = aio.secure_channel(target, spec.credentials, options=spec.options)
            self._open[key] = channel
        return channel

    async def close(self) -> None:
        """Close every channel (the gateway's exit stack calls it)."""
        channels, self._open = list(self._open.values()), {}
        failed: BaseException | None = None
        for channel in channels:
            try:
                await channel.close(grace=None)
            except Exception as exc:  # the others are closed all the same
                failed = failed or exc
        if failed is not None:
            raise failed


_CHANNELS: Final = Key("grpc channels", Channels)


def channels_of(resources: Resources) -> Channels:
    """The gateway's :class:`Channels`, made (and registered for closing) on first use."""
    channels = resources.state.get(_CHANNELS)
    if channels is None:
        channels = resources.state.set(_CHANNELS, Channels())
        resources.stack.push_async_callback(channels.close)
    return channels


def unary(channel: aio.Channel, path: str) -> Any:
    """The unary multi-callable of ``path`` on ``channel``; answers are left as bytes (the caller
    decodes them, as grpcio hides a decoding failure behind a ``None`` answer)."""
    return channel.unary_unary(path, request_serializer=_serialize, response_deserializer=None)


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
