"""A GELF sender closed while its connection is still being opened (the gateway stopped or reloaded
right after a line was logged): the connection made afterwards sends what waited and is closed,
instead of staying open for the life of the process (one more per reload)."""

from __future__ import annotations

import asyncio
import gzip

import orjson
import pytest

from krakenpy.telemetry.gelf import GelfSender, gelf_message


async def test_a_tcp_connection_made_after_the_close_is_closed() -> None:
    received = bytearray()
    ended = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.extend(data)
        ended.set()  # the sender closed its end
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    sender = GelfSender("127.0.0.1", server.sockets[0].getsockname()[1], tcp=True)
    try:
        sender.send(gelf_message("last words"))  # opens the connection in a task
        await sender.close()  # before that task ran
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        server.close()
    [frame] = bytes(received).split(b"\0")[:-1]
    assert orjson.loads(frame)["short_message"] == "last words"


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.messages.append(orjson.loads(gzip.decompress(data))["short_message"])


async def test_a_udp_endpoint_made_after_the_close_is_closed() -> None:
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    sender = GelfSender("127.0.0.1", transport.get_extra_info("sockname")[1])
    try:
        sender.send(gelf_message("last words"))
        await sender.close()
        for _ in range(100):
            if collector.messages:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        transport.close()
    assert collector.messages == ["last words"]
    assert sender._udp is None  # no endpoint kept after the close


@pytest.mark.parametrize("tcp", [False, True])
async def test_a_host_name_idna_refuses_is_a_failed_connection(tcp: bool) -> None:
    # "a..b:12201" (an empty label): getaddrinfo's UnicodeError left each connecting task with an
    # exception never retrieved (a traceback in the log for every line logged); now it waits and retries
    sender = GelfSender("a..b", 12201, tcp=tcp)
    loop = asyncio.get_running_loop()
    await sender._open(loop)
    assert sender._retry_at > loop.time() and not sender._connecting
    await sender.close()
