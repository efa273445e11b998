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


def test_an_ipv6_wildcard_stays_ipv6_only_and_a_port_out_of_range_is_refused() -> None:
    if not _ipv6():
        pytest.skip("no IPv6 here")
    sockets = numeric_listen("::", 0)
    assert sockets is not None and len(sockets) == 1
    try:
        # as the loops' create_server set it: "::" takes no IPv4 client (a side listener may be an admin API)
        assert sockets[0].getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        port = sockets[0].getsockname()[1]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        sockets[0].close()
    for port in (-1, 65536, 70000):
        with pytest.raises(OSError) as caught:
            numeric_listen("127.0.0.1", port)
        assert caught.value.errno == errno.EINVAL and "out of range" in str(caught.value)


_EDGES = textwrap.dedent(
    """
    import asyncio, os, socket, sys
    from aiohttp import web
    from krakenpy.server.listen import numeric_listen
    from krakenpy.server.side import SideListener

    async def hello(request):
        return web.Response(text="hi")

    async def answer(host, port):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        writer.write(b"GET /x HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n")
        line = (await asyncio.wait_for(reader.readline(), 2)).decode().strip()
        writer.close()
        return line

    def free_port():
        # a port free on both families (the wildcard binds it on each)
        while True:
            probe = numeric_listen("", 0)
            port = probe[0].getsockname()[1]
            for s in probe:
                s.close()
            try:
                for s in numeric_listen("", port):
                    s.close()
                return port
            except OSError:
                continue

    async def wildcard(v6):
        port = free_port()
        side = SideListener("", port, {("GET", "/x"): hello})
        await side.start()
        print("v4", await answer("127.0.0.1", port))
        if v6:
            print("v6", await answer("::1", port))
        await side.stop()

    async def failing(v6):
        # the second socket's server fails: the first's is closed, no descriptor is left
        loop = asyncio.get_running_loop()
        real, calls = loop.create_server, []
        async def second_fails(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("injected")
            return await real(*args, **kwargs)
        loop.create_server = second_fails
        before = sorted(os.listdir("/proc/self/fd"))
        port = free_port()
        side = SideListener("", port, {("GET", "/x"): hello}, wrap=lambda factory: factory)
        try:
            await side.start()
            print("started")
        except OSError as exc:
            print("refused", exc)
        loop.create_server = real
        print("fds kept", sorted(os.listdir("/proc/self/fd")) == before)
        try:
            await answer("127.0.0.1", port)
            print("still listening")
        except OSError:
            print("closed")

    async def canceled(n):
        # start() canceled after n turns of the loop; a listener started next must answer
        side = SideListener("127.0.0.1", 0, {("GET", "/x"): hello})
        task = asyncio.ensure_future(side.start())
        for _ in range(n):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await side.stop()
        second = SideListener("127.0.0.1", 0, {("GET", "/x"): hello})
        await second.start()
        try:
            print(n, await answer("127.0.0.1", second.bound_port))
        except Exception as exc:
            print(n, type(exc).__name__)
        await second.stop()

    async def main(what, v6):
        if what == "wildcard":
            await wildcard(v6)
        elif what == "failing":
            await failing(v6)
        else:
            for n in range(8):
                await canceled(n)

    if sys.argv[3] == "uvloop":
        import uvloop
        uvloop.run(main(sys.argv[1], sys.argv[2] == "v6"))
    else:
        asyncio.run(main(sys.argv[1], sys.argv[2] == "v6"))
    """
)


def _edges(what: str, loop: str = "asyncio") -> list[str]:
    argv = [sys.executable, "-c", _EDGES, what, "v6" if _ipv6() else "v4", loop]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_wildcard_side_listener_serves_every_family_on_its_port(loop: str) -> None:
    expected = ["v4 HTTP/1.1 200 OK"] + (["v6 HTTP/1.1 200 OK"] if _ipv6() else [])
    assert _edges("wildcard", loop) == expected


def test_a_side_listener_that_fails_on_its_second_socket_leaves_nothing_open() -> None:
    # asyncio's loop only: uvloop's create_server cannot be replaced on the loop object
    if not _ipv6():
        pytest.skip("one socket only without IPv6")
    assert _edges("failing") == ["refused injected", "fds kept True", "closed"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_canceled_start_leaves_the_loop_able_to_serve_the_next_listener(loop: str) -> None:
    # asyncio's create_server pauses once after it began serving: a cancel there left the closed fd
    # registered with the selector, and the next socket given that number was never watched
    assert _edges("canceled", loop) == [f"{n} HTTP/1.1 200 OK" for n in range(8)]


def test_a_host_whose_every_family_is_unavailable_is_an_error_not_an_empty_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real(family, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "socket", no_ipv6)
    with pytest.raises(OSError) as caught:
        numeric_listen("::1", 0)  # IPv6 off: nothing to listen on
    assert caught.value.errno == errno.EAFNOSUPPORT
    wildcard = numeric_listen("", 0)  # the wildcard keeps the families there are
    assert wildcard is not None and [s.family for s in wildcard] == [socket.AF_INET]
    for sock in wildcard:
        sock.close()
