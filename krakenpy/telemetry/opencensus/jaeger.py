"""The ``jaeger`` exporter: spans as a Jaeger ``Batch{process, spans}`` (jaeger-idl's
``jaeger.thrift``), POSTed to the collector as binary Thrift (``application/x-thrift``), or sent to
the agent as compact-Thrift ``emitBatch`` datagrams (at most 65 000 bytes each).

The span mapping is OpenCensus' Jaeger exporter's: 128-bit trace ids split in two signed 64-bit
halves, operation names ``Recv.<name>`` (server) and ``Sent.<name>`` (client), attributes as typed
tags followed by ``status.code``, ``status.message`` and ``error=true`` when the status is not OK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

import aiohttp

from krakenpy.telemetry.answers import skim
from krakenpy.telemetry.opencensus.settings import JaegerOptions, TagValue
from krakenpy.telemetry.opencensus.spans import CLIENT, SERVER, OcSpan
from krakenpy.telemetry.opencensus.thrift import (
    DOUBLE,
    I32,
    I64,
    LIST,
    ONEWAY,
    STRING,
    STRUCT,
    BinaryWriter,
    CompactWriter,
    Writer,
)

__all__ = ["MAX_PACKET", "AgentSink", "CollectorSink", "agent_packets", "collector_body", "encode_span"]

#: the agent's UDP packet limit (OpenCensus' udpPacketMaxLength)
MAX_PACKET: Final = 65000
#: jaeger.thrift's TagType
_STRING, _DOUBLE, _BOOL, _LONG = 0, 1, 2, 3
_TIMEOUT: Final = 10.0


def _signed(hex_id: str) -> int:
    value = int(hex_id, 16) if hex_id else 0
    return value - (1 << 64) if value >= 1 << 63 else value


def _tag(w: Writer, key: str, value: TagValue | Any) -> None:
    w.struct_begin()
    w.field(1, STRING)
    w.string(key)
    w.field(2, I32)
    if isinstance(value, bool):
        w.i32(_BOOL)
        w.bool_field(5, value)
    elif isinstance(value, int):
        w.i32(_LONG)
        w.field(6, I64)
        w.i64(max(min(value, (1 << 63) - 1), -(1 << 63)))
    elif isinstance(value, float):
        w.i32(_DOUBLE)
        w.field(4, DOUBLE)
        w.double(value)
    else:
        w.i32(_STRING)
        w.field(3, STRING)
        w.string(", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
    w.struct_end()


def _tags(w: Writer, fid: int, tags: list[tuple[str, Any]]) -> None:
    w.field(fid, LIST)
    w.list_begin(STRUCT, len(tags))
    for key, value in tags:
        _tag(w, key, value)


def encode_span(w: Writer, span: OcSpan) -> None:
    """One ``jaeger.Span`` struct."""
    name = span.name
    if span.kind == SERVER:
        name = "Recv." + name
    elif span.kind == CLIENT:
        name = "Sent." + name
    tags: list[tuple[str, Any]] = list(span.attributes.items())
    tags.append(("status.code", span.status_code))
    tags.append(("status.message", span.status_message))
    if span.status_code != 0:
        tags.append(("error", True))
    w.struct_begin()
    w.field(1, I64)
    w.i64(_signed(span.trace_id[16:]))
    w.field(2, I64)
    w.i64(_signed(span.trace_id[:16]))
    w.field(3, I64)
    w.i64(_signed(span.span_id))
    w.field(4, I64)
    w.i64(_signed(span.parent_id or ""))
    w.field(5, STRING)
    w.string(name)
    w.field(7, I32)
    w.i32(1)  # sampled: only sampled spans are recorded
    w.field(8, I64)
    w.i64(span.start_us)
    w.field(9, I64)
    w.i64(span.duration_us)
    _tags(w, 10, tags)
    w.struct_end()


def _process(w: Writer, options: JaegerOptions) -> None:
    w.struct_begin()
    w.field(1, STRING)
    w.string(options.service_name)
    _tags(w, 2, list(options.process_tags))
    w.struct_end()


def collector_body(options: JaegerOptions, spans: Iterable[OcSpan]) -> bytes:
    """A binary-Thrift ``Batch`` for the collector's ``/api/traces``."""
    w = BinaryWriter()
    items = list(spans)
    w.struct_begin()
    w.field(1, STRUCT)
    _process(w, options)
    w.field(2, LIST)
    w.list_begin(STRUCT, len(items))
    for span in items:
        encode_span(w, span)
    w.struct_end()
    return bytes(w.out)


def _packet(options: JaegerOptions, encoded: list[bytes], seqid: int) -> bytes:
    w = CompactWriter()
    w.message_begin("emitBatch", ONEWAY, seqid)
    w.struct_begin()  # emitBatch_args
    w.field(1, STRUCT)
    w.struct_begin()  # Batch
    w.field(1, STRUCT)
    _process(w, options)
    w.field(2, LIST)
    w.list_begin(STRUCT, len(encoded))
    for data in encoded:
        w.out += data  # a compact struct does not depend on what precedes it
    w.struct_end()
    w.struct_end()
    return bytes(w.out)


def agent_packets(options: JaegerOptions, spans: Iterable[OcSpan], seqid: int = 0) -> list[bytes]:
    """Compact-Thrift ``emitBatch`` datagrams of at most :data:`MAX_PACKET` bytes (a span that
    alone is larger is dropped, as the agent could not read it)."""
    encoded: list[bytes] = []
    for span in spans:
        w = CompactWriter()
        encode_span(w, span)
        encoded.append(bytes(w.out))
    overhead = len(_packet(options, [], seqid)) + 5  # the list header grows to at most 5 bytes
    packets: list[bytes] = []
    batch: list[bytes] = []
    size = overhead
    for data in encoded:
        if overhead + len(data) > MAX_PACKET:
            continue
        if batch and size + len(data) > MAX_PACKET:
            packets.append(_packet(options, batch, seqid + len(packets)))
            batch, size = [], overhead
        batch.append(data)
        size += len(data)
    if batch:
        packets.append(_packet(options, batch, seqid + len(packets)))
    return packets


class CollectorSink:
    """POSTs batches to the collector URL (``endpoint``)."""

    name = "jaeger"
    batch = 512

    def __init__(self, options: JaegerOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT))

    async def send(self, spans: list[OcSpan]) -> None:
        assert self._session is not None
        body = collector_body(self.options, spans)
        headers = {"Content-Type": "application/x-thrift"}
        async with self._session.post(self.options.endpoint, data=body, headers=headers) as response:
            await skim(response)
            if not 200 <= response.status < 300:
                raise RuntimeError(f"failed to upload traces; HTTP status code: {response.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AgentSink:
    """Sends datagrams to the agent (``agent_endpoint``); the socket opens on first use."""

    name = "jaeger agent"
    batch = 1024

    def __init__(self, options: JaegerOptions) -> None:
        self.options = options
        self._transport: asyncio.DatagramTransport | None = None
        self._seq = 0

    async def open(self) -> None:
        return None

    async def send(self, spans: list[OcSpan]) -> None:
        if self._transport is None or self._transport.is_closing():
            loop = asyncio.get_running_loop()
            remote = (self.options.agent_host, self.options.agent_port)
            self._transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=remote)
        for packet in agent_packets(self.options, spans, self._seq):
            self._transport.sendto(packet)
            self._seq += 1

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
