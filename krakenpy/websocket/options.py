"""The ``websocket`` options, parsed once at start-up (the schema owns types, defaults and enums)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["BACKOFF_STRATEGIES", "WebSocketOptions", "parse_websocket"]

BACKOFF_STRATEGIES: Final = ("linear", "linear-jitter", "exponential", "exponential-jitter", "fallback")
#: KrakenD's floor for the direct mode's backend read timeout
_MIN_TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """One endpoint's WebSocket settings (KrakenD EE's field names and defaults)."""

    direct: bool = False
    #: canonical names, or ``("*",)``
    input_headers: tuple[str, ...] = ()
    subprotocols: tuple[str, ...] = ()
    connect_event: bool = False
    disconnect_event: bool = False
    return_error_details: bool = False
    max_message_size: int = 512
    message_buffer_size: int = 256
    write_wait: float = 10.0
    pong_wait: float = 60.0
    ping_period: float = 54.0
    #: the direct mode's backend read timeout
    timeout: float = 300.0
    #: reconnection attempts; 0 (or less) retries for ever
    max_retries: int = 0
    backoff_strategy: str = "fallback"


def _duration(raw: Mapping[str, Any], key: str, default: float, path: str) -> float:
    if key not in raw:
        return default
    try:
        value = parse_duration(raw[key])
    except ValueError as exc:
        raise ConfigError([ConfigIssue(f"{path}.{key}", str(exc))]) from None
    if value <= 0:
        raise ConfigError([ConfigIssue(f"{path}.{key}", "must be longer than 0")])
    return value


def parse_websocket(raw: Mapping[str, Any], path: str, method: str) -> WebSocketOptions:
    """Convert the schema-checked value at ``path``; cross-field rules raise with JSON paths."""
    from krakenpy.names import canonical_header

    if method != "GET":
        # RFC 6455: the opening handshake is a GET; any other method never upgrades
        message = f"a websocket endpoint answers the GET upgrade: method {method} never upgrades"
        raise ConfigError([ConfigIssue(path, message)])
    pong_wait = _duration(raw, "pong_wait", 60.0, path)
    ping_period = _duration(raw, "ping_period", 54.0, path)
    if ping_period >= pong_wait:
        message = "must be shorter than pong_wait, or a client that answers every ping still times out"
        raise ConfigError([ConfigIssue(f"{path}.ping_period", message)])
    headers = tuple(str(h) for h in raw.get("input_headers") or ())
    return WebSocketOptions(
        direct=bool(raw.get("enable_direct_communication", False)),
        input_headers=("*",) if "*" in headers else tuple(canonical_header(h) for h in headers),
        subprotocols=tuple(str(p) for p in raw.get("subprotocols") or ()),
        connect_event=bool(raw.get("connect_event", False)),
        disconnect_event=bool(raw.get("disconnect_event", False)),
        return_error_details=bool(raw.get("return_error_details", False)),
        max_message_size=int(raw.get("max_message_size", 512)),
        message_buffer_size=int(raw.get("message_buffer_size", 256)),
        write_wait=_duration(raw, "write_wait", 10.0, path),
        pong_wait=pong_wait,
        ping_period=ping_period,
        timeout=max(_duration(raw, "timeout", 300.0, path), _MIN_TIMEOUT),
        max_retries=int(raw.get("max_retries", 0)),
        backoff_strategy=str(raw.get("backoff_strategy", "fallback")),
    )
