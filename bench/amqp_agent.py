"""``python -m bench.amqp_agent [--messages N]``: an async agent's throughput on a private RabbitMQ
node (loopback only): N messages published, then the time until a loopback HTTP backend got them all,
for a few ``consumer.workers`` values, with and without ``auto_ack``. Prints one line per run."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import aiormq
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.rabbitmq_server import RabbitNode


async def _run(url: str, messages: int, workers: int, auto_ack: bool) -> float:
    got = 0
    done = asyncio.Event()

    async def sink(request: web.Request) -> web.Response:
        nonlocal got
        await request.read()
        got += 1
        if got >= messages:
            done.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sink", sink)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    name = uuid.uuid4().hex[:8]
    agent: dict[str, Any] = {
        "name": "bench",
        "consumer": {"topic": "#", "workers": workers},
        "connection": {"backoff_strategy": "linear"},
        "backend": [{"host": [f"http://127.0.0.1:{server.port}"], "url_pattern": "/sink", "method": "POST"}],
        "extra_config": {
            "async/amqp": {"host": url, "name": name, "exchange": name, "auto_ack": auto_ack, "prefetch_count": 100}
        },
    }
    gw = await build_gateway(build_service({"version": 3, "endpoints": [], "async_agent": [agent]}))
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        # the queue as the agent declares it, filled before the agent starts: it drains a full queue
        await channel.exchange_declare(name, exchange_type="topic")
        await channel.queue_declare(name)
        await channel.queue_bind(name, name, routing_key="#")
        for i in range(messages):
            await channel.basic_publish(b'{"n": %d}' % i, exchange=name, routing_key="k")
        started = time.perf_counter()
        await gw.start()
        await asyncio.wait_for(done.wait(), 300)
        return time.perf_counter() - started
    finally:
        await connection.close()
        await gw.close()
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    node = RabbitNode()
    node.start()
    try:
        for auto_ack in (False, True):
            for workers in (1, 20, 100):
                seconds = asyncio.run(_run(node.url, args.messages, workers, auto_ack))
                print(
                    f"workers={workers:<3} auto_ack={auto_ack!s:<5} {args.messages} messages in {seconds:.2f} s"
                    f" = {args.messages / seconds:,.0f} msg/s"
                )
    finally:
        node.stop()


if __name__ == "__main__":
    main()
