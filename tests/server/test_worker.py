"""A worker in process, driven through its channel like the supervisor does: a reload swaps the
gateway for new requests while a running one finishes on the old gateway, which is closed only then."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from krakenpy.cli import _Source
from krakenpy.server.channel import Channel, pair
from krakenpy.server.listen import bind_slots
from krakenpy.server.reload import config_digest
from krakenpy.server.runner import Config, Served, ServeOptions
from krakenpy.server.settings import runtime_settings
from krakenpy.server.worker import Worker
from krakenpy.tasks import spawn


class RecordingSource(_Source):
    """The CLI's source, remembering every gateway it built and whether it was closed."""

    def __init__(self, path: str) -> None:
        super().__init__(path, debug=False, allow_unsupported=False)
        self.built: list[tuple[Served, list[bool]]] = []

    async def build(self, config: Config, *, serving: bool) -> Served:
        gateway = await super().build(config, serving=serving)
        closed = [False]
        close = gateway.close

        async def recording_close() -> None:
            closed[0] = True
            await close()

        gateway.close = recording_close  # type: ignore[method-assign]
        self.built.append((gateway, closed))
        return gateway


@pytest.fixture
def restore_gc() -> Any:
    """The worker tunes the collector of its process: give the test process its settings back."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def _next(channel: Channel, event: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            messages = channel.receive()
            assert messages is not None, "the worker closed its channel"
            for message in messages:
                if message.get("event") == event:
                    return message
            await asyncio.sleep(0.01)


async def test_worker_reload_closes_the_old_gateway_once_its_request_is_done(
    tmp_path: Path, backend: Callable[[web.Application], Any], restore_gc: Any
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        return web.json_response({"version": request.match_info["v"]})

    app = web.Application()
    app.router.add_get("/{v}", slow)
    url = await backend(app)
    # the worker's socket first, on a port the kernel picks; the config then names that port
    sockets = bind_slots("127.0.0.1", 0, 1)[0]
    port = sockets[0].getsockname()[1]
    path = tmp_path / "krakend.json"

    def write(version: str) -> None:
        endpoint = {
            "endpoint": "/x",
            "input_query_strings": ["s"],
            "backend": [{"host": [url], "url_pattern": f"/{version}"}],
        }
        path.write_text(json.dumps({"version": 3, "port": port, "endpoints": [endpoint]}))

    write("one")
    source = RecordingSource(str(path))
    config = source.load()
    settings, errors, _ = runtime_settings(config.service)
    assert settings is not None and not errors
    supervisor_end, worker_end = pair()
    worker = Worker(1, sockets, worker_end, config, settings, ServeOptions(), source)
    running = spawn(worker.run())
    try:
        await _next(supervisor_end, "ready")
        async with aiohttp.ClientSession() as client:
            in_flight = spawn(client.get(f"http://127.0.0.1:{port}/x?s=0.6"))
            await asyncio.sleep(0.2)
            write("two")
            new = source.load()
            supervisor_end.send({"command": "reload", "generation": 1, "digest": config_digest(new.service)})
            answer = await _next(supervisor_end, "reloaded")
            assert answer["ok"] is True and answer["generation"] == 1
            async with client.get(f"http://127.0.0.1:{port}/x") as response:
                assert await response.json() == {"version": "two"}
            (old, old_closed), (_, new_closed) = source.built
            assert not old_closed[0]  # its request is still running
            async with await in_flight as response:
                assert await response.json() == {"version": "one"}  # finished on the old pipeline
            async with asyncio.timeout(2):
                while not old_closed[0]:
                    await asyncio.sleep(0.02)
            assert not new_closed[0]
            supervisor_end.send({"command": "reload", "generation": 2, "digest": "not-what-it-reads"})
            answer = await _next(supervisor_end, "reloaded")
            assert answer["ok"] is False and "changed again" in answer["error"][0]
    finally:
        worker.stop()
        assert await asyncio.wait_for(running, 10) == 0
        for sock in sockets:
            sock.close()
        supervisor_end.close()
        worker_end.close()
    assert all(closed[0] for _, closed in source.built)


def _stats_config(path: Path, port: int, stats: int | None) -> RecordingSource:
    extra = {"telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"}} if stats is not None else {}
    from tests.conftest import free_port

    endpoint = {"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/x"}]}
    path.write_text(json.dumps({"version": 3, "port": port, "extra_config": extra, "endpoints": [endpoint]}))
    return RecordingSource(str(path))


async def _answers(port: int, timeout: float) -> bool:
    """Whether ``/__health`` on ``port`` answers within ``timeout`` (the connection queues meanwhile)."""
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/__health", timeout=aiohttp.ClientTimeout(timeout)) as r:
                return r.status == 200
    except TimeoutError:
        return False


async def _stats_answers(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/__stats") as response:
                return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


@pytest.mark.parametrize("stats_listener", [True, False])
async def test_worker_forked_with_the_first_accepts_once_its_telemetry_listeners_listen(
    tmp_path: Path, restore_gc: Any, stats_listener: bool
) -> None:
    from tests.conftest import free_port

    sockets = bind_slots("127.0.0.1", 0, 1)[0]
    port = sockets[0].getsockname()[1]
    stats = free_port()
    source = _stats_config(tmp_path / "krakend.json", port, stats if stats_listener else None)
    config = source.load()
    settings, errors, _ = runtime_settings(config.service)
    assert settings is not None and not errors
    supervisor_end, worker_end = pair()
    worker = Worker(2, sockets, worker_end, config, settings, ServeOptions(), source)
    worker.gated = True
    running = spawn(worker.run())
    try:
        if stats_listener:  # held until the supervisor says the first worker's listeners listen
            assert not await _answers(port, 0.8)
            assert supervisor_end.receive() == []  # not ready either
            supervisor_end.send({"command": "accept"})
        # nothing to wait for without telemetry listeners
        await _next(supervisor_end, "ready")
        assert await _answers(port, 5)
        assert not await _stats_answers(stats)  # the first worker's: never bound by this one
    finally:
        worker.stop()
        assert await asyncio.wait_for(running, 10) == 0
        for sock in sockets:
            sock.close()
        supervisor_end.close()
        worker_end.close()


async def test_first_worker_binds_its_telemetry_listeners_before_it_accepts(tmp_path: Path, restore_gc: Any) -> None:
    from tests.conftest import free_port

    sockets = bind_slots("127.0.0.1", 0, 1)[0]
    port = sockets[0].getsockname()[1]
    stats = free_port()
    source = _stats_config(tmp_path / "krakend.json", port, stats)
    config = source.load()
    settings, errors, _ = runtime_settings(config.service)
    assert settings is not None and not errors
    supervisor_end, worker_end = pair()
    worker = Worker(1, sockets, worker_end, config, settings, ServeOptions(), source)
    running = spawn(worker.run())
    try:
        await _next(supervisor_end, "listening")  # what the supervisor relays to the others as ``accept``
        assert await _stats_answers(stats)
        assert await _answers(port, 5)
    finally:
        worker.stop()
        assert await asyncio.wait_for(running, 10) == 0
        for sock in sockets:
            sock.close()
        supervisor_end.close()
        worker_end.close()


async def test_gated_worker_opens_after_the_bound(
    tmp_path: Path, restore_gc: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from krakenpy.server import worker as worker_module
    from tests.conftest import free_port

    monkeypatch.setattr(worker_module, "_GATE", 0.5)
    sockets = bind_slots("127.0.0.1", 0, 1)[0]
    port = sockets[0].getsockname()[1]
    source = _stats_config(tmp_path / "krakend.json", port, free_port())
    config = source.load()
    settings, errors, _ = runtime_settings(config.service)
    assert settings is not None and not errors
    supervisor_end, worker_end = pair()
    worker = Worker(2, sockets, worker_end, config, settings, ServeOptions(), source)
    worker.gated = True
    running = spawn(worker.run())
    try:
        await _next(supervisor_end, "ready")  # nobody said accept: the first worker never got there
        assert await _answers(port, 5)
        assert "opens without the first worker's telemetry listeners" in caplog.text
    finally:
        worker.stop()
        assert await asyncio.wait_for(running, 10) == 0
        for sock in sockets:
            sock.close()
        supervisor_end.close()
        worker_end.close()
