"""FlowProtocol's write flow control: drainers waiting on a real socket transport's pause."""

from __future__ import annotations

import asyncio
import socket

import pytest

from krakenpy.flowcontrol import FlowProtocol


async def test_flowcontrol_cancelled_drainer_leaves_the_others_waiting() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, proto = await loop.create_connection(lambda: FlowProtocol(loop), sock=ours)
    try:
        proto.pause_writing()
        first = loop.create_task(proto._drain_helper())
        second = loop.create_task(proto._drain_helper())
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0)
        assert not second.done()  # HTTP/2 streams share the waiter: one stream's cancel is its own
        proto.resume_writing()
        await asyncio.wait_for(second, 1.0)
        assert second.exception() is None
    finally:
        transport.close()
        theirs.close()


async def test_flowcontrol_drainers_released_by_connection_loss() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, proto = await loop.create_connection(lambda: FlowProtocol(loop), sock=ours)
    try:
        proto.pause_writing()
        drainers = [loop.create_task(proto._drain_helper()) for _ in range(2)]
        await asyncio.sleep(0)
        proto.connection_lost(OSError("reset"))
        for drainer in drainers:
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(drainer, 1.0)
    finally:
        transport.close()
        theirs.close()
