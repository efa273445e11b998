"""The acceptor that drains the accept queue per readiness event on uvloop (libuv admits one
connection per loop turn), on a real uvloop loop and loopback sockets."""

from __future__ import annotations

import asyncio
import os
import resource
import socket

import pytest
import uvloop

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server import acceptor as acceptor_module
from krakenpy.server.acceptor import Acceptor, accepts_in_batches
from krakenpy.server.balance import Shares
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer

QUEUED = 40


async def _hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(body=b"hi " + request.path.encode())


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def test_acceptor_only_on_loops_that_accept_one_at_a_time() -> None:
    loop = uvloop.new_event_loop()
    plain = asyncio.new_event_loop()
    try:
        assert not accepts_in_batches(loop)
        assert accepts_in_batches(plain)
    finally:
        loop.close()
        plain.close()


def test_acceptor_admits_every_queued_connection_in_one_turn_and_serves_them() -> None:
    listener = _listener()
    port = listener.getsockname()[1]
    # the kernel completes these handshakes into the accept queue before the loop runs at all
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(QUEUED)]

    async def main() -> tuple[int, list[bytes]]:
        server = GatewayServer(_hello, limits=ServerLimits())
        made = 0

        def factory() -> asyncio.Protocol:
            nonlocal made
            made += 1
            return server()

        acceptor = Acceptor(asyncio.get_running_loop(), factory, listener, backlog=128).start()
        for _ in range(4):  # poll → accept all; then each connection task's first step makes its protocol
            await asyncio.sleep(0)
        admitted = made  # libuv's own accept would have admitted about one per turn here
        answers: list[bytes] = []
        for i, client in enumerate(clients):
            client.sendall(f"GET /{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        for client in clients:
            client.setblocking(False)
            data = b""
            while True:
                chunk = await asyncio.get_running_loop().sock_recv(client, 4096)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
        acceptor.close()
        assert not acceptor.is_serving()
        await server.drain(0.1)
        return admitted, answers

    try:
        admitted, answers = uvloop.run(main())
    finally:
        for client in clients:
            client.close()
        listener.close()
    assert admitted == QUEUED
    for i, data in enumerate(answers):
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(f"hi /{i}".encode()), data


def test_acceptor_close_stops_admitting_and_leaves_the_socket_open() -> None:
    listener = _listener()
    port = listener.getsockname()[1]

    async def main() -> int:
        made = 0

        def factory() -> asyncio.Protocol:
            nonlocal made
            made += 1
            return GatewayServer(_hello, limits=ServerLimits())()

        acceptor = Acceptor(asyncio.get_running_loop(), factory, listener, backlog=128).start()
        acceptor.close()
        late = socket.create_connection(("127.0.0.1", port))
        for _ in range(4):
            await asyncio.sleep(0)
        late.close()
        return made

    try:
        assert uvloop.run(main()) == 0
        assert listener.fileno() != -1  # the supervisor owns the socket: closing the acceptor keeps it
    finally:
        listener.close()


def _lowest_free_fd(sock: socket.socket) -> int:
    fd = os.dup(sock.fileno())  # the kernel hands out the lowest free descriptor
    os.close(fd)
    return fd


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_drain_during_the_out_of_descriptors_pause_is_not_undone(
    kind: str, shared: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of descriptors (a real EMFILE: the soft RLIMIT_NOFILE lowered to the lowest free
    descriptor), the acceptor pauses and retries; a ``close`` (the worker draining) in between must
    keep it closed. Before the guard the retry called ``start`` again and accepted the queued client."""
    monkeypatch.setattr(acceptor_module, "_RETRY_DELAY", 0.05)
    listener = _listener()
    port = listener.getsockname()[1]
    shares = Shares(1)
    made = 0

    def factory() -> asyncio.Protocol:
        nonlocal made
        made += 1
        return GatewayServer(_hello, limits=ServerLimits())()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        client = socket.create_connection(("127.0.0.1", port))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        share = shares.share(0) if shared else None
        if share is not None:
            share.join()
        acceptor = Acceptor(loop, factory, listener, backlog=128, share=share)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (_lowest_free_fd(listener), hard))
            try:
                acceptor.start()
                for _ in range(50):  # until the accept failed and the acceptor paused
                    await asyncio.sleep(0.001)
                    if "Too many open files" in caplog.text:
                        break
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert "Too many open files" in caplog.text
            acceptor.close()  # the drain
            await asyncio.sleep(0.2)  # past the retry delay
            assert not acceptor.is_serving()
        finally:
            acceptor.close()
            client.close()

    try:
        uvloop.run(main()) if kind == "uvloop" else asyncio.run(main())
    finally:
        listener.close()
        shares.close()
    assert made == 0
