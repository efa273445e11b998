"""In-process microbenchmark of the request path krakenpy owns: edge dispatch → handler → upstream
client → a loopback backend → render, without a socket on the client side.

    .venv/bin/python -m bench.wire_micro [--n 5000] [--client fast|aiohttp]

Prints the best-of-5 mean CPU µs (process time: the machine may be shared) per request of the whole
in-process path and of the upstream client call alone (the backend is a canned asyncio protocol, so
nearly all of it is krakenpy's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest
from krakenpy.gateway import build_gateway

_BODY = b'{"a":1,"b":"two","c":[1,2,3],"d":{"e":true,"f":null},"g":"<tag>"}'


_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(_BODY) + _BODY


class _Backend(asyncio.Protocol):
    """A canned answer per request: the cheapest backend, so the gateway's cost shows. A POST's body
    (the OTLP exporter's batches in the traces rows) is skipped by its Content-Length: kept in the
    buffer, it was copied whole and searched again at every later read on that connection, a cost
    that grew with each post of the run."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""
        self.skip = 0

    def data_received(self, data: bytes) -> None:
        if self.skip:  # the rest of a POST's body
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data, self.skip = data[self.skip :], 0
        buffer = self.buffer + data  # (no copy when the buffer is empty: CPython returns ``data``)
        # ``find``, not ``in``: on CPython 3.11 ``bytes in bytes`` first tries the needle as an
        # integer and raises (and swallows) a TypeError, ~1.8 k instructions a test, twice a request:
        # the harness's own cost, counted in every row until round 21
        start = 0
        while (end := buffer.find(b"\r\n\r\n", start)) >= 0:
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]
            if buffer.startswith(b"POST", start):
                # the body skipped by offsets, never sliced: a slice copied the whole OTLP batch
                # twice (the rest after the head, then the body), ~3 k instructions a request in
                # the traces rows until round 22, a cost the T rows' sink (nginx) never puts on krakenpy
                at = buffer.find(b"Content-Length: ", start, end)
                stop = buffer.find(b"\r\n", at, end) if at >= 0 else -1
                length = int(buffer[at + 16 : stop if stop > 0 else end]) if at >= 0 else 0
                start = end + 4 + length
                if start > len(buffer):
                    self.skip = start - len(buffer)
                    start = len(buffer)
            else:
                start = end + 4
        self.buffer = buffer[start:] if start else buffer


class _Sink(asyncio.BufferedProtocol):
    """The OTLP exporter's target in the traces rows: the canned answer per request, as
    :class:`_Backend`, read into one buffer kept for the connection (no bytes object made per read:
    the event loop's copy of each read of a batch cost ~1.6 k instructions a request in the traces
    rows, a cost the T rows' sink, nginx, never puts on krakenpy); bodies skipped by their
    Content-Length, never copied."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = bytearray(1 << 16)
        self.view = memoryview(self.buffer)
        self.fill = 0  # bytes kept at the buffer's start: a head not yet whole
        self.skip = 0  # bytes of a body still to come

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.fill == len(self.buffer):  # a head longer than the buffer: a larger one
            self.buffer = self.buffer + bytes(len(self.buffer))
            self.view = memoryview(self.buffer)
        return self.view[self.fill :]

    def buffer_updated(self, nbytes: int) -> None:
        buffer = self.buffer
        end = self.fill + nbytes
        start = 0
        if self.skip:  # (nothing is kept while a body is skipped: the read starts the buffer)
            start = min(self.skip, end)
            self.skip -= start
        while (head_end := buffer.find(b"\r\n\r\n", start, end)) >= 0:
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]
            at = buffer.find(b"Content-Length: ", start, head_end)
            stop = buffer.find(b"\r\n", at, head_end) if at >= 0 else -1
            length = int(buffer[at + 16 : stop if stop > 0 else head_end]) if at >= 0 else 0
            start = head_end + 4 + length
            if start > end:
                self.skip = start - end
                start = end
        self.fill = end - start
        if start and self.fill:
            buffer[: self.fill] = buffer[start:end]


async def _sink() -> tuple[asyncio.Server, int]:
    server = await asyncio.get_running_loop().create_server(_Sink, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _backend() -> tuple[asyncio.Server, int]:
    server = await asyncio.get_running_loop().create_server(_Backend, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _run(n: int) -> None:
    runner, port = await _backend()
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/p1",
                "backend": [{"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/data", "allow": ["a", "b", "d"]}],
            }
        ],
    }
    gateway = await build_gateway(build_service(doc))
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "User-Agent": "bench", "Accept": "*/*"}))

    def request() -> HttpRequest:
        return HttpRequest("GET", "/p1", "", headers, remote="127.0.0.1", host="gw.example")

    for _ in range(2000):  # warm up pools and caches
        assert (await gateway.edge(request())).status == 200
    http = gateway.resources.http
    url = f"http://127.0.0.1:{port}/data"
    pairs = [("User-Agent", "bench"), ("X-Forwarded-For", "127.0.0.1"), ("Accept-Encoding", "gzip")]
    whole = client = float("inf")
    for _ in range(5):  # best of 5 rounds: the machine is shared
        gc.collect()
        start = time.process_time()
        for _ in range(n):
            await gateway.edge(request())
        whole = min(whole, (time.process_time() - start) / n * 1e6)
        start = time.process_time()
        for _ in range(n):
            await http.request("GET", url, pairs, None)
        client = min(client, (time.process_time() - start) / n * 1e6)
    print(f"client={os.environ.get('KRAKENPY_HTTP_CLIENT', 'fast')} n={n}")
    print(f"  whole path (edge→render, incl. backend): {whole:7.1f} µs/request")
    print(f"  upstream client call (incl. backend):    {client:7.1f} µs/request")
    await gateway.close()
    runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--client", choices=("fast", "aiohttp"), default="fast")
    args = parser.parse_args()
    os.environ["KRAKENPY_HTTP_CLIENT"] = args.client
    asyncio.run(_run(args.n))


if __name__ == "__main__":
    main()
