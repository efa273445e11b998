"""Real receivers on 127.0.0.1 for the OpenCensus exporters, decoding with independent code:
thriftpy2 (from the IDL beside this file) for Jaeger's binary and compact Thrift, orjson for Zipkin."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import thriftpy2
from aiohttp import web
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.transport import TMemoryBuffer
from thriftpy2.utils import deserialize

jaeger = thriftpy2.load(str(Path(__file__).with_name("jaeger.thrift")), module_name="jaeger_thrift")


def decode_binary_batch(body: bytes) -> Any:
    """A collector body: one binary-protocol ``Batch`` struct."""
    return deserialize(jaeger.Batch(), body, TBinaryProtocolFactory())


def decode_agent_packet(packet: bytes) -> tuple[str, int, int, Any]:
    """An agent datagram: (method, message type, sequence id, the ``Batch`` argument)."""
    protocol = TCompactProtocolFactory().get_protocol(TMemoryBuffer(packet))
    name, mtype, seqid = protocol.read_message_begin()
    args = jaeger.Agent.emitBatch_args()
    args.read(protocol)
    return name, mtype, seqid, args.batch


def tags(span_or_process: Any) -> dict[str, Any]:
    """Tag key → typed value (the ``vType`` decides which field is read)."""
    out: dict[str, Any] = {}
    for tag in span_or_process.tags or ():
        t = jaeger.TagType
        out[tag.key] = {t.STRING: tag.vStr, t.DOUBLE: tag.vDouble, t.BOOL: tag.vBool, t.LONG: tag.vLong}[tag.vType]
    return out


def unsigned_hex(value: int, width: int = 16) -> str:
    return f"{value & ((1 << 64) - 1):0{width}x}"


class Collector:
    """A Jaeger collector's ``POST /api/traces`` (and Zipkin's ``POST /api/v2/spans``)."""

    def __init__(self, status: int = 202) -> None:
        self.batches: list[Any] = []
        self.zipkin: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.status = status
        self.arrived = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/traces", self._jaeger)
        app.router.add_post("/api/v2/spans", self._zipkin)
        return app

    async def _jaeger(self, request: web.Request) -> web.Response:
        self.content_types.append(request.headers.get("Content-Type", ""))
        self.batches.append(decode_binary_batch(await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)

    async def _zipkin(self, request: web.Request) -> web.Response:
        self.content_types.append(request.headers.get("Content-Type", ""))
        self.zipkin.extend(orjson.loads(await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)

    def spans(self) -> list[Any]:
        return [span for batch in self.batches for span in batch.spans]


class AgentListener(asyncio.DatagramProtocol):
    """A Jaeger agent's UDP port."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets.append(data)
        self.arrived.set()
