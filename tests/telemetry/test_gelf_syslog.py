from __future__ import annotations

import asyncio
import gzip
import logging
import socket
from pathlib import Path

import orjson
import pytest

from krakenpy.telemetry import gelf
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.gelf import CHUNK_SIZE, GelfHandler, GelfSender, encode_udp, gelf_message
from krakenpy.telemetry.syslog import SyslogHandler


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.datagrams.append(data)


def _reassemble(datagrams: list[bytes]) -> list[dict[str, object]]:
    chunks: dict[bytes, dict[int, bytes]] = {}
    counts: dict[bytes, int] = {}
    out = []
    for d in datagrams:
        if d[:2] == b"\x1e\x0f":
            ident, seq, count = d[2:10], d[10], d[11]
            chunks.setdefault(ident, {})[seq] = d[12:]
            counts[ident] = count
            if len(chunks[ident]) == count:
                out.append(orjson.loads(gzip.decompress(b"".join(chunks[ident][i] for i in range(count)))))
        else:
            out.append(orjson.loads(gzip.decompress(d)))
    return out


def test_gelf_message_fields() -> None:
    msg = gelf_message("first\nsecond", level=3, timestamp=12.5, facility="krakenpy", extra={"_x": 1})
    assert msg["version"] == "1.1" and msg["short_message"] == "first" and msg["full_message"] == "first\nsecond"
    assert msg["timestamp"] == 12.5 and msg["level"] == 3 and msg["facility"] == "krakenpy" and msg["_x"] == 1


def test_encode_udp_chunks_large_messages() -> None:
    import os

    payload = orjson.dumps({"short_message": os.urandom(4000).hex()})
    frames = encode_udp(payload, message_id=b"12345678")
    assert len(frames) > 1 and all(len(f) <= CHUNK_SIZE for f in frames)
    assert all(f[:2] == b"\x1e\x0f" and f[2:10] == b"12345678" and f[11] == len(frames) for f in frames)
    assert gzip.decompress(b"".join(f[12:] for f in frames)) == payload
    assert len(encode_udp(b'{"a":1}')) == 1


async def test_gelf_sender_udp_delivers_and_chunks() -> None:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    sender = GelfSender("127.0.0.1", port)
    handler = GelfHandler(sender)
    logger = logging.getLogger("krakenpy.gelftest")
    logger.addHandler(handler)
    logger.propagate = False
    exchange = Exchange()
    exchange.request_id = "rid-9"
    token = CURRENT.set(exchange)
    try:
        logger.error("[ENDPOINT: /x] failed http://h/?sig=SECRET")
        import os

        logger.error("big " + os.urandom(3000).hex())
        for _ in range(50):
            await asyncio.sleep(0.01)
            if len(_reassemble(proto.datagrams)) >= 2:
                break
    finally:
        CURRENT.reset(token)
        logger.removeHandler(handler)
        await sender.close()
        transport.close()
    messages = _reassemble(proto.datagrams)
    assert len(messages) == 2
    first = messages[0]
    assert first["short_message"] == "[ENDPOINT: /x] failed http://h/?sig=[REDACTED]"
    assert first["level"] == 3 and first["_request_id"] == "rid-9" and first["_line"]
    assert any(d[:2] == b"\x1e\x0f" for d in proto.datagrams)


async def test_gelf_sender_tcp_frames_end_with_nul() -> None:
    received = bytearray()
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not done.is_set():
            data = await reader.read(65536)
            if not data:
                break
            received.extend(data)
            if received.count(b"\0") >= 2:
                done.set()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = GelfSender("127.0.0.1", port, tcp=True)
    sender.send(gelf_message("one"))
    sender.send(gelf_message("two"))
    await asyncio.wait_for(done.wait(), 5)
    await sender.close()
    server.close()
    frames = bytes(received).split(b"\0")[:2]
    assert [orjson.loads(f)["short_message"] for f in frames] == ["one", "two"]
    assert "facility" not in orjson.loads(frames[0])


def test_syslog_handler_priority_and_body(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    handler = SyslogHandler(facility="local0", tag="[KRAKEND]", address=path)
    record = logging.LogRecord("krakenpy", logging.WARNING, __file__, 1, "careful Bearer abc", None, None)
    handler.emit(record)
    data = server.recv(8192).decode()
    handler.close()
    server.close()
    assert data.startswith(f"<{16 * 8 + 4}>")
    assert "[KRAKEND][" in data and data.endswith("WARNING > careful Bearer [REDACTED]")


def test_syslog_handler_without_daemon_drops(tmp_path: Path) -> None:
    handler = SyslogHandler(address=str(tmp_path / "absent.sock"))
    handler.emit(logging.LogRecord("krakenpy", logging.ERROR, __file__, 1, "x", None, None))
    assert handler.dropped == 1
    handler.close()


async def test_gelf_sender_tcp_close_is_bounded_when_the_collector_stops_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collector that accepts and never reads: the frames stay buffered, ``wait_closed`` would never
    return (a worker's stop hung there); the close gives up after CLOSE_WAIT and aborts."""
    monkeypatch.setattr(gelf, "CLOSE_WAIT", 0.5)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    loop = asyncio.get_running_loop()
    accepted = loop.run_in_executor(None, listener.accept)
    sender = GelfSender("127.0.0.1", listener.getsockname()[1], tcp=True)
    sender.send(gelf_message("first"))
    held, _ = await asyncio.wait_for(accepted, 5)
    for _ in range(200):  # until the kernel's buffers are full and asyncio holds the rest
        await asyncio.sleep(0.01)
        for _ in range(50):
            sender.send(gelf_message("x" * 16000))
        if sender._tcp is not None and sender._tcp.transport.get_write_buffer_size() > 1 << 20:
            break
    assert sender._tcp is not None and sender._tcp.transport.get_write_buffer_size() > 0
    started = loop.time()
    await asyncio.wait_for(sender.close(), 10)
    assert loop.time() - started < 3
    held.close()
    listener.close()
