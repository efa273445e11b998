"""One quota processor against a real Redis, at a fixed clock (noon UTC today): a step the script
refuses is that request's trouble (Redis is not declared down), and caller keys that are not UTF-8
are hashed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from krakenpy.quota.options import Limit, ProcessorOptions
from krakenpy.quota.processor import Processor
from krakenpy.redis_pools import RedisPool
from tests.quota.clock import noon
from tests.redis_server import RedisServer

DAY = (Limit(10, "day"),)


@pytest.fixture
async def processor(redis_server: RedisServer) -> AsyncIterator[Processor]:
    client = Redis(host="127.0.0.1", port=redis_server.port, socket_connect_timeout=1)
    options = ProcessorOptions(name="q", connection_name="p", rules={"r": DAY})
    at = noon()
    yield Processor(options, RedisPool(client, asyncio.Semaphore(4)), clock=lambda: at)
    await client.aclose()


async def test_processor_a_step_redis_refuses_is_not_redis_down(
    processor: Processor, caplog: pytest.LogCaptureFixture
) -> None:
    step = processor.step(DAY, "ann", processor.clock())
    assert await processor.run(step, 2**64, check=False) is None  # INCRBY: not an integer
    assert await processor.run(step, 2**64, check=False) is None
    assert processor.down_until == 0.0
    assert await processor.run(processor.step(DAY, "bob", processor.clock()), 1, check=True) == (0, [1])
    logged = [r for r in caplog.records if r.name == "krakenpy.quota"]
    assert len(logged) == 1 and "Redis unavailable" not in logged[0].getMessage()
    assert not any(r.exc_info for r in caplog.records) and logged[0].levelno == logging.WARNING


async def test_processor_caller_keys_that_are_not_utf8_are_hashed(processor: Processor) -> None:
    raw = "caf\udce9"  # b"caf\xe9" decoded with surrogateescape, as a header's bytes
    step = processor.step(DAY, raw, processor.clock())
    assert step.keys[0].rpartition(":")[2].startswith("#")
    assert step.keys != processor.step(DAY, "caf\udce8", processor.clock()).keys
    assert processor.step(DAY, "café", processor.clock()).keys[0].endswith(":café")  # valid UTF-8 stays readable
    assert await processor.run(step, 1, check=True) == (0, [1])
    lone = processor.step(DAY, "x\ud800", processor.clock())  # a surrogate no decoder makes: hashed too
    assert await processor.run(lone, 1, check=True) == (0, [1])
