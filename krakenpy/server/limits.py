"""How long and how much a client connection may take: KrakenD's ``http.Server`` settings with safe
defaults where KrakenD has none (Go's zero means "no limit", which lets a slow client hold a
connection forever).

| setting | KrakenD (0) | krakenpy when unset |
|---|---|---|
| ``read_header_timeout`` | ``read_timeout``, else none | ``read_timeout`` when set, else 10 s |
| ``read_timeout`` | none | 30 s (at least the header timeout) |
| ``write_timeout`` | none | the whole request time + the longest endpoint timeout + 10 s |
| ``idle_timeout`` | ``read_timeout``, else none | ``read_timeout`` when set, else 90 s |
| ``max_header_bytes`` | 1 MiB | 1 MiB |

The clocks follow Go's ``net/http``: the header and read clocks start with the first byte of a request
(with the connection itself for the first request), the write clock when the headers are complete,
the idle clock when a response is written. The TLS handshake gets the smallest of the three.
"""

from __future__ import annotations

from dataclasses import dataclass

from krakenpy.config.model import ServiceConfig

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_IDLE_TIMEOUT", "DEFAULT_READ_TIMEOUT", "ServerLimits", "server_limits"]

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 90.0
#: Go's ``http.DefaultMaxHeaderBytes``
DEFAULT_MAX_HEADER_BYTES = 1 << 20
#: Go's reader accepts this much beyond ``MaxHeaderBytes`` before it answers 431
HEADER_SLACK = 4096
#: what the write clock allows beyond the request and the endpoint's own deadline
WRITE_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The effective limits of the listener (seconds; 0 = no limit)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    write_timeout: float = DEFAULT_READ_TIMEOUT + 2.0 + WRITE_GRACE
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    #: request line plus headers, in bytes (431 beyond, with Go's 4 KiB of slack)
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    #: ``max_shutdown_wait_time``: 0 waits for in-flight requests without a bound, as KrakenD
    shutdown_wait: float = 0.0

    @property
    def handshake_timeout(self) -> float:
        """Go's ``tlsHandshakeTimeout``: the smallest of the request clocks that is set."""
        clocks = [t for t in (self.header_timeout, self.read_timeout, self.write_timeout) if t > 0]
        return min(clocks) if clocks else 0.0

    @property
    def header_budget(self) -> int:
        """Bytes of request line and headers accepted before the request is refused with 431."""
        return self.max_header_bytes + HEADER_SLACK

    @property
    def tick(self) -> float:
        """How often deadlines are checked: a tenth of the shortest clock, between 50 ms and 1 s."""
        clocks = [t for t in (self.header_timeout, self.read_timeout, self.write_timeout, self.idle_timeout) if t > 0]
        return min(1.0, max(0.05, min(clocks) / 10)) if clocks else 1.0


def server_limits(service: ServiceConfig) -> ServerLimits:
    """The limits of ``service``: its settings, Go's fallbacks between them, krakenpy's defaults."""
    read_set = service.read_timeout
    header = service.read_header_timeout or read_set or DEFAULT_HEADER_TIMEOUT
    read = read_set or max(DEFAULT_READ_TIMEOUT, header)
    longest = max((e.timeout for e in service.endpoints), default=service.timeout)
    write = service.write_timeout or read + longest + WRITE_GRACE
    idle = service.idle_timeout or read_set or DEFAULT_IDLE_TIMEOUT
    return ServerLimits(
        header_timeout=header,
        read_timeout=read,
        write_timeout=write,
        idle_timeout=idle,
        max_header_bytes=service.max_header_bytes or DEFAULT_MAX_HEADER_BYTES,
        shutdown_wait=service.max_shutdown_wait_time,
    )
