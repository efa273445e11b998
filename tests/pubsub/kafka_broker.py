"""A one-broker Kafka stand-in for the publisher tests: it answers ApiVersions, Metadata and Produce
(v3: record batches with headers) on 127.0.0.1, and keeps what was produced. No Kafka broker can be
installed here (not a Debian package; its Java archives are not reachable), so this speaks the wire
protocol through aiokafka's own request and response structures."""

from __future__ import annotations

import asyncio
import io
import struct
from dataclasses import dataclass, field

from aiokafka.protocol.admin import ApiVersionResponse_v0
from aiokafka.protocol.metadata import MetadataResponse_v1
from aiokafka.protocol.produce import ProduceRequest_v3, ProduceResponse_v3
from aiokafka.record.memory_records import MemoryRecords

_PRODUCE, _METADATA, _API_VERSIONS = 0, 3, 18
_UNKNOWN_TOPIC = 3


@dataclass
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class KafkaBroker:
    """``topics`` exist (one partition each); others are unknown to Metadata and Produce."""

    topics: tuple[str, ...]
    records: list[Record] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # Server.close_clients is Python 3.13's
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                api_key, _version, correlation, client_len = struct.unpack(">hhih", frame[:10])
                body = io.BytesIO(frame[10 + max(client_len, 0) :])
                answer = self._answer(api_key, body)
                out = struct.pack(">i", correlation) + answer
                writer.write(struct.pack(">i", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, api_key: int, body: io.BytesIO) -> bytes:
        if api_key == _API_VERSIONS:
            versions = [(_PRODUCE, 3, 3), (_METADATA, 1, 1), (_API_VERSIONS, 0, 0)]
            return bytes(ApiVersionResponse_v0(error_code=0, api_versions=versions).encode())
        if api_key == _METADATA:
            topics = [(0, t, False, [(0, 0, 0, [0], [0])]) for t in self.topics]
            brokers = [(0, "127.0.0.1", self.port, None)]
            return bytes(MetadataResponse_v1(brokers=brokers, controller_id=0, topics=topics).encode())
        if api_key == _PRODUCE:
            request = ProduceRequest_v3.decode(body)
            results = []
            for topic, partitions in request.topics:
                known = topic in self.topics
                for _partition, data in partitions:
                    if known:
                        batch = MemoryRecords(bytes(data)).next_batch()
                        for r in batch or ():
                            self.records.append(Record(topic, r.key, r.value, list(r.headers)))
                results.append(
                    (topic, [(p, 0 if known else _UNKNOWN_TOPIC, len(self.records), -1) for p, _ in partitions])
                )
            return bytes(ProduceResponse_v3(topics=results, throttle_time_ms=0).encode())
        raise ConnectionError(f"api {api_key} is not spoken here")
