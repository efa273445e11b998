"""``host[:port]`` as written in settings (``NO_PROXY`` entries, ``KRAKENPY_DNS_SERVER``)."""

from __future__ import annotations

__all__ = ["split_host_port"]


def split_host_port(value: str) -> tuple[str, str]:
    """(host, port) of ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address; the
    port is ``""`` when none is written."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, ""
