"""The listening sockets, opened once by the supervisor and inherited by the workers.

With several workers each worker slot gets its own ``SO_REUSEPORT`` socket, so the kernel spreads new
connections evenly. The supervisor keeps every socket open for the life of the process: when a
worker dies, the connections the kernel queued on its slot wait for the replacement instead of
being reset, and the port is never released while krakenpy runs.
"""

from __future__ import annotations

import logging
import resource
import socket

__all__ = ["BACKLOG", "bind_slots", "raise_open_file_limit"]

log = logging.getLogger("krakenpy")

#: accept queue per socket (the kernel caps it at net.core.somaxconn)
BACKLOG = 1024
#: never ask for more descriptors than this, even when the hard limit is unlimited
_MAX_FILES = 1 << 20


def _open(host: str, port: int, reuse_port: bool) -> list[socket.socket]:
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    families = {info[0] for info in infos}
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # this family is not available on the machine (IPv6 off)
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and len(families) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # the IPv4 socket takes IPv4
            sock.bind(address)
            sock.listen(BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_slots(host: str, port: int, workers: int) -> list[list[socket.socket]]:
    """One list of listening sockets per worker slot (one per address family of ``host``);
    raises ``OSError`` when the address cannot be used."""
    slots: list[list[socket.socket]] = []
    try:
        for _ in range(workers):
            slots.append(_open(host, port, reuse_port=workers > 1))
    except OSError:
        for sockets in slots:
            for sock in sockets:
                sock.close()
        raise
    return slots


def raise_open_file_limit() -> None:
    """Go's runtime raises the soft open-file limit to the hard one at start; so does krakenpy, since a
    gateway holds one descriptor per client connection and per upstream connection."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = _MAX_FILES if hard == resource.RLIM_INFINITY else min(hard, _MAX_FILES)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.debug("open-file limit raised from %d to %d", soft, target)
    except (OSError, ValueError) as exc:
        log.debug("open-file limit unchanged: %s", exc)
