"""Serve a compiled gateway: one process, or N pre-forked workers sharing the port (SO_REUSEPORT).

SIGTERM/SIGINT stop accepting, let in-flight requests finish (bounded by
``max_shutdown_wait_time`` when set) and exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from krakenpy import __version__
from krakenpy.config.model import ServiceConfig
from krakenpy.errors import ConfigError
from krakenpy.server.adapter import AiohttpHandler, make_server

__all__ = ["Served", "ServeOptions", "serve"]

log = logging.getLogger("krakenpy")

#: default per-header and request-line limit (aiohttp's own default is 8 KiB)
_MAX_FIELD = 64 * 1024
#: "wait forever" for in-flight requests, in practice
_FOREVER = 24 * 3600.0
#: young-generation GC threshold while serving (CPython's default is 700)
_GC_YOUNG = 20_000


def _settle_gc() -> None:
    """Keep the cyclic GC off the request path: per-request garbage is freed by reference counting,
    so frequent young collections find little, and full collections walking every module and
    compiled endpoint showed up as tail latency under overload. Startup objects are frozen out of
    the collector's view; collections run ~30x less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, 10, 10)


class Served(Protocol):
    """What the runner serves: a compiled gateway (:class:`krakenpy.gateway.Gateway`)."""

    @property
    def handler(self) -> AiohttpHandler: ...

    @property
    def endpoints(self) -> int: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


#: builds the gateway inside each worker process (after the fork)
GatewayFactory = Callable[[], Awaitable[Served]]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    port: int
    host: str = ""
    debug: bool = False
    workers: int = 1
    access_log: bool = False
    loop: str = "asyncio"


async def _serve(service: ServiceConfig, options: ServeOptions, build: GatewayFactory) -> int:
    try:
        gateway = await build()
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"ERROR: {issue}", file=sys.stderr)
        return 1
    server = make_server(  # no Server header, no request-body decompression (server/adapter.py)
        gateway.handler,
        access_log=None,  # the gateway writes its own access log (telemetry/access_log)
        # Go's http.Server allows 1 MB of headers; aiohttp limits each line/field instead
        max_field_size=max(service.max_header_bytes, _MAX_FIELD),
        max_line_size=max(service.max_header_bytes, _MAX_FIELD),
        handler_cancellation=True,
    )
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    wait = service.max_shutdown_wait_time or _FOREVER
    site = web.TCPSite(
        runner,
        options.host or None,
        options.port,
        shutdown_timeout=wait,
        backlog=1024,
        reuse_port=options.workers > 1 or None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
    except OSError as exc:
        print(f"ERROR: cannot listen on port {options.port}: {exc.strerror or exc}", file=sys.stderr)
        await runner.cleanup()
        await gateway.close()
        return 1
    await gateway.start()
    _settle_gc()
    log.info(
        "krakenpy %s listening on %s:%d with %d endpoints (pid %d)",
        __version__,
        options.host or "*",
        options.port,
        gateway.endpoints,
        os.getpid(),
    )
    await stop.wait()
    log.info("shutting down (pid %d)", os.getpid())
    await runner.cleanup()
    await gateway.close()
    return 0


def _run_one(service: ServiceConfig, options: ServeOptions, build: GatewayFactory) -> int:
    if options.loop == "uvloop":
        import uvloop

        return uvloop.run(_serve(service, options, build))
    return asyncio.run(_serve(service, options, build))


def serve(service: ServiceConfig, options: ServeOptions, build: GatewayFactory) -> int:
    """Run until SIGTERM/SIGINT; ``build`` compiles the gateway in each worker. Returns the exit code."""
    if options.workers <= 1:
        return _run_one(service, options, build)
    children: list[int] = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:  # child
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = _run_one(service, options, build)
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            worst = 1
            forward(signal.SIGTERM, None)
    return worst
