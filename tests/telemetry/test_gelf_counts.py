"""GELF's bookkeeping against real collectors on loopback: ``sent`` counts messages (it counted one
for however many waited for the UDP socket), the waiting queue's limit counts messages (it counted a
chunked UDP message's frames, so big messages were dropped long before 4096 waited), and a message
dropped because the collector does not keep up is said once (it was only counted)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import socket

import orjson
import pytest

from krakenpy.telemetry.gelf import QUEUE_LIMIT, GelfSender, gelf_message


def _big(i: int) -> str:
    """A text whose gzip needs two or three UDP chunks."""
    return f"{i} " + os.urandom(2000).hex()


async def test_udp_messages_that_waited_for_the_socket_are_each_counted_sent() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    sender = GelfSender("127.0.0.1", receiver.getsockname()[1])
    loop = asyncio.get_running_loop()
    try:
        texts = ["one", _big(2), "three"]
        for text in texts:  # in one tick: all wait for the socket the first one opens
            sender.send(gelf_message(text))
        datagrams: list[bytes] = []
        while len(datagrams) < 4:  # "one", two or more chunks, "three"
            datagrams.append(await asyncio.wait_for(loop.sock_recv(receiver, 65536), 5))
            if (
                datagrams[-1][:2] != b"\x1e\x0f"
                and orjson.loads(gzip.decompress(datagrams[-1]))["short_message"] == "three"
            ):
                break
        sender.send(gelf_message("four"))  # over the open socket
        last = await asyncio.wait_for(loop.sock_recv(receiver, 65536), 5)
        assert orjson.loads(gzip.decompress(last))["short_message"] == "four"
    finally:
        await sender.close()
        receiver.close()
    assert sum(d[:2] == b"\x1e\x0f" for d in datagrams) >= 2
    assert (sender.sent, sender.dropped) == (4, 0)


async def test_the_waiting_queue_counts_chunked_messages_once(dead_port: int) -> None:
    """4096 messages of two or three chunks each wait for the socket: none is dropped (the queue held
    frames and dropped from the 1366th message on)."""
    sender = GelfSender("127.0.0.1", dead_port)  # UDP: nobody listens, the datagrams go nowhere
    try:
        for i in range(QUEUE_LIMIT):
            sender.send(gelf_message(_big(i)))
        assert sender.dropped == 0
        sender.send(gelf_message("one too many"))
        assert sender.dropped == 1
        while sender.sent < QUEUE_LIMIT:
            await asyncio.sleep(0.01)
    finally:
        await sender.close()


async def test_messages_a_stalled_tcp_collector_cannot_take_are_dropped_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # a collector that stopped reading
        connected.set()

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    sender = GelfSender("127.0.0.1", server.sockets[0].getsockname()[1], tcp=True)
    block = "x" * 256 * 1024
    try:
        sender.send(gelf_message("first"))
        await asyncio.wait_for(connected.wait(), 5)
        while sender._tcp is None:
            await asyncio.sleep(0.01)
        for i in range(120):  # 30 MiB: past what the kernel and the transport hold
            sender.send(gelf_message(f"{i} {block}"))
            await asyncio.sleep(0)
    finally:
        sender._closed = True
        if sender._tcp is not None:
            sender._tcp.transport.abort()
        for writer in held:
            writer.close()
        server.close()
    said = [r.getMessage() for r in caplog.records if "[GELF]" in r.getMessage() and "dropped" in r.getMessage()]
    assert sender.dropped > 0
    assert len(said) == 1 and "does not read fast enough" in said[0]
