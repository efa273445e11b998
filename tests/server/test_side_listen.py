"""The side listeners (``/__stats``, Prometheus ``/metrics``, the revoker's API) bind a numeric or empty
host themselves (:func:`krakenpy.server.listen.numeric_listen`): under uvloop the loop's resolver
would start libuv's pool of threads for good, and every request of the gateway would then take
glibc's multi-threaded paths. A host name still goes through the loop's resolver."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from krakenpy.server.listen import numeric_listen


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_numeric_hosts_are_bound_here_non_blocking_and_listening() -> None:
    hosts = ["127.0.0.1", "0.0.0.0", ""] + (["::1"] if _ipv6() else [])
    for host in hosts:
        sockets = numeric_listen(host, 0)
        assert sockets, host
        try:
            for sock in sockets:
                assert not sock.getblocking()
                port = sock.getsockname()[1]
                assert port > 0
                family = sock.family
                target = "::1" if family == socket.AF_INET6 else "127.0.0.1"
                with socket.create_connection((target, port), timeout=2):
                    pass  # accepted into the backlog: the socket listens
            if host == "":  # every interface: one socket per family the machine has
                assert socket.AF_INET in {s.family for s in sockets}
        finally:
            for sock in sockets:
                sock.close()


def test_a_host_name_is_left_to_the_loop() -> None:
    assert numeric_listen("localhost", 0) is None
    assert numeric_listen("collector.example.invalid", 0) is None
    assert numeric_listen("999.1.1.1", 0) is None  # not an address: a name, which the loop will refuse


def test_a_busy_address_raises_and_leaves_no_socket_open() -> None:
    taken = numeric_listen("127.0.0.1", 0)
    assert taken is not None
    try:
        port = taken[0].getsockname()[1]
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError) as caught:
            numeric_listen("127.0.0.1", port)
        assert caught.value.errno == errno.EADDRINUSE
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        for sock in taken:
            sock.close()


def test_reuse_port_is_set_when_asked() -> None:
    sockets = numeric_listen("127.0.0.1", 0, reuse_port=True)
    assert sockets is not None
    try:
        assert sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        port = sockets[0].getsockname()[1]
        again = numeric_listen("127.0.0.1", port, reuse_port=True)  # a second socket on the same port
        assert again is not None
        for sock in again:
            sock.close()
    finally:
        for sock in sockets:
            sock.close()
    plain = numeric_listen("127.0.0.1", 0)
    assert plain is not None
    assert plain[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    plain[0].close()


_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, socket, sys
    import uvloop
    from aiohttp import web
    from krakenpy.server.listen import numeric_listen
    from krakenpy.server.side import SideListener

    def threads():
        return len(os.listdir("/proc/self/task"))

    async def hello(request):
        return web.Response(text="hi")

    async def main(host, wrapped):
        wrap = (lambda factory: factory) if wrapped else None
        side = SideListener(host, 0, {("GET", "/x"): hello}, wrap=wrap)
        await side.start()
        port = side.bound_port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /x HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n")
        status = (await reader.readline()).decode().strip()
        await reader.read()
        writer.close()
        counted = threads()
        await side.stop()
        # closed: the port can be listened on again at once (SO_REUSEADDR: only a listener in the way fails)
        if host == "127.0.0.1":
            for sock in numeric_listen(host, port):
                sock.close()
        print(status, counted, port > 0)

    uvloop.run(main(sys.argv[1], sys.argv[2] == "wrap"))
    """
)


@pytest.mark.parametrize("wrapped", ["plain", "wrap"])
def test_a_numeric_side_listener_answers_without_starting_a_thread(wrapped: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "127.0.0.1", wrapped], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["HTTP/1.1", "200", "OK", "1", "True"], done.stdout


def test_a_named_side_listener_still_answers() -> None:
    # "localhost" goes through the loop's resolver (libuv's threads start: counted, not asserted)
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "localhost", "plain"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    status, _threads, bound = done.stdout.rsplit(maxsplit=2)
    assert status == "HTTP/1.1 200 OK" and bound == "True", done.stdout
