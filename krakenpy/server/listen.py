"""The listening sockets, opened once by the supervisor and inherited by the workers.

Every worker accepts from the same sockets (one per address family), and the workers keep their
live connections even between themselves (:mod:`krakenpy.server.balance`). Until 2026-12-02 each
worker slot had a ``SO_REUSEPORT`` socket of its own: the kernel hashed each new connection to one
of them, so a burst of 50 keep-alive connections split like 50 coin tosses (``bench/balance.py``,
20 bursts on ``-w 2``: worst 16/34, ±36 %), and a worker could not hand over its excess, since a
connection queued on a slot's socket waits for that slot. ``EPOLLEXCLUSIVE`` (one waiter woken per
arrival) is not used: asyncio cannot ask for it, and a woken worker that leaves a connection to the
others must not be the only one woken.

The supervisor keeps the sockets open for the life of the process, so the port is never released
while krakenpy runs. When a worker dies the connections queued go to the other workers at once
(with one socket per slot they waited for its replacement); with ``-w 1`` they wait in the queue
for the replacement, as before.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket

__all__ = ["BACKLOG", "bind_slots", "numeric_listen", "raise_open_file_limit"]

log = logging.getLogger("krakenpy")

#: accept queue per socket (the kernel caps it at net.core.somaxconn)
BACKLOG = 1024
#: never ask for more descriptors than this, even when the hard limit is unlimited
_MAX_FILES = 1 << 20


def _open(
    host: str, port: int, *, numeric: bool = False, reuse_port: bool = False, v6only: bool = False
) -> list[socket.socket]:
    """``v6only``: every IPv6 socket IPv6-only (the event loops' ``create_server``); else only beside
    an IPv4 socket of the same host (``::`` alone also takes IPv4 clients, as Go's listener does)."""
    flags = socket.AI_PASSIVE | (socket.AI_NUMERICHOST if numeric else 0)
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, flags)
    except UnicodeError as exc:  # a name IDNA cannot encode (an empty or 64+ character label): no such host
        raise OSError(errno.EINVAL, f"{host!r} is not a valid host name ({exc})") from None
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
            if family == socket.AF_INET6 and (v6only or len(families) > 1):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # the IPv4 socket takes IPv4
            sock.bind(address)
            sock.listen(BACKLOG)
        if not sockets:  # every family of the host unavailable here (an IPv6 address, IPv6 off)
            raise OSError(errno.EAFNOSUPPORT, f"no address family of {host or 'every interface'} is available")
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def numeric_listen(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket] | None:
    """The listening sockets of an empty (every interface) or numeric ``host``, opened here, not by the
    event loop: uvloop's ``create_server`` resolves even those through libuv's pool of threads (four
    started for good), and a process with a second thread takes glibc's multi-threaded paths on every
    ``malloc`` and system call (a lock, the cancellation state: ~0.6 µs, about 1 % of a request,
    bench/README round 27). ``None`` for a host name, left to the loop's resolver; ``OSError`` when
    the address cannot be used (a port outside 0–65535 included). The sockets are non-blocking, as the
    loop takes them, and set as the loop's ``create_server`` sets its own: an IPv6 socket IPv6-only
    (``::`` takes no IPv4 client, as before: a side listener may be an admin API)."""
    if not 0 <= port <= 65535:  # glibc's getaddrinfo would take it modulo 65536
        raise OSError(errno.EINVAL, f"port {port} is out of range (0-65535)")
    try:
        sockets = _open(host, port, numeric=True, reuse_port=reuse_port, v6only=True)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME and host:
            return None  # a name: the loop's resolver
        raise
    for sock in sockets:
        sock.setblocking(False)
    return sockets


def bind_slots(host: str, port: int, workers: int) -> list[list[socket.socket]]:
    """The listening sockets of each worker slot (one per address family of ``host``): the same
    sockets for every slot; raises ``OSError`` when the address cannot be used."""
    sockets = _open(host, port)
    return [sockets] * workers


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
