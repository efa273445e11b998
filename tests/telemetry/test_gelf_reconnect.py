"""A GELF TCP collector that closes the connection (Graylog restarting): the next messages go over a
new connection instead of into the dead socket (the first was lost there unheard, the second with the
reset it drew; go-gelf's TCP writer at least retries the second)."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from krakenpy.telemetry.gelf import GelfSender, gelf_message


async def test_messages_after_the_collector_closed_go_over_a_new_connection() -> None:
    frames: list[list[str]] = []
    first_closed = asyncio.Event()
    arrived = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mine: list[str] = []
        frames.append(mine)
        first = len(frames) == 1
        while True:
            try:
                frame = await reader.readuntil(b"\0")
            except asyncio.IncompleteReadError:  # the sender closed its end
                break
            mine.append(orjson.loads(frame[:-1])["short_message"])
            arrived.set()
            if first:  # the collector goes away after one message
                break
        writer.close()
        await writer.wait_closed()
        if first:
            first_closed.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    sender = GelfSender("127.0.0.1", server.sockets[0].getsockname()[1], tcp=True)
    try:
        sender.send(gelf_message("before"))
        await asyncio.wait_for(first_closed.wait(), 5)
        await asyncio.sleep(0.2)  # the loop reads the collector's end of the connection
        arrived.clear()
        sender.send(gelf_message("after 1"))
        sender.send(gelf_message("after 2"))
        while sum(map(len, frames)) < 3:
            await asyncio.wait_for(arrived.wait(), 5)
            arrived.clear()
    finally:
        await sender.close()
        server.close()
    assert frames[0] == ["before"]
    assert [m for conn in frames[1:] for m in conn] == ["after 1", "after 2"]


async def test_an_unreachable_collector_is_said_once(caplog: pytest.LogCaptureFixture, dead_port: int) -> None:
    """KrakenD logs that it cannot make its GELF writer; krakenpy kept retrying without a word, so a
    wrong address or a collector that was down went unnoticed. Now: one warning an outage."""
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    port = dead_port  # each connection is refused
    sender = GelfSender("127.0.0.1", port, tcp=True)
    loop = asyncio.get_running_loop()
    try:
        for attempt in range(1, 3):  # two refused attempts: one warning
            sender.send(gelf_message(f"try {attempt}"))  # starts a connection attempt once the back-off allows
            deadline = loop.time() + 5
            while sender._backoff < 0.5 * 2**attempt:  # this attempt failed
                assert loop.time() < deadline, "no connection attempt"
                await asyncio.sleep(0.02)
            while loop.time() < sender._retry_at:
                await asyncio.sleep(0.02)
    finally:
        await sender.close()
    said = [r.getMessage() for r in caplog.records if "[GELF] cannot reach" in r.getMessage()]
    assert len(said) == 1 and f"127.0.0.1:{port} over TCP" in said[0]
