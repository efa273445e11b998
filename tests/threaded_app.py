"""An aiohttp application served on 127.0.0.1 from a thread of its own: the backend or receiver of a
test whose gateway runs in a subprocess (the real CLI), or whose client blocks the test's thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Self

from aiohttp import web


class Served:
    """``app()`` served on a port of the kernel's choosing (``port`` once entered)."""

    def __init__(self, app: Callable[[], web.Application]) -> None:
        self._app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        async def start() -> web.AppRunner:
            runner = web.AppRunner(self._app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            return runner

        runner = self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def ok_app(path: str = "/") -> Callable[[], web.Application]:
    """An app whose ``GET path`` answers ``{"ok": true}``: the plainest backend a gateway needs."""

    def make() -> web.Application:
        async def ok(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_get(path, ok)
        return app

    return make
