"""A small HTTP listener beside the gateway (the ``/__stats`` and Prometheus ``/metrics`` listeners, the
revocation admin API), served with the gateway's client limits (:class:`~krakenpy.server.sideserver.SideServer`):
so the same wire rules hold there as on the gateway's port — no ``Server`` header, Go's short
answer to a request the parser refuses (never aiohttp's, which quotes the offending bytes: a
``Cookie`` line, a token), and the header, read, write and idle clocks (a slow client cannot hold a
connection). Routes are exact (method, path) pairs; ``HEAD`` is answered for ``GET`` routes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from krakenpy.server.adapter import server_options
from krakenpy.server.limits import ServerLimits
from krakenpy.server.listen import numeric_listen
from krakenpy.server.sideserver import SideServer

__all__ = ["Route", "SideListener", "Wrap"]

#: one route's handler
Route = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
#: given the HTTP connection factory, the factory the listener accepts with (the revoker's RPC sniffing)
Wrap = Callable[[Callable[[], asyncio.Protocol]], Callable[[], asyncio.Protocol]]
_TEXT = "text/plain; charset=utf-8"


def _dispatch(routes: Mapping[tuple[str, str], Route]) -> Route:
    allowed: dict[str, list[str]] = {}
    for method, path in routes:
        allowed.setdefault(path, []).append(method)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        method = "GET" if request.method == "HEAD" else request.method
        route = routes.get((method, request.path))
        if route is not None:
            return await route(request)
        methods = allowed.get(request.path)
        if methods is None:  # Go's mux answers
            return web.Response(status=404, text="404 page not found\n", headers={"Content-Type": _TEXT})
        headers = {"Allow": ", ".join(methods), "Content-Type": _TEXT}
        return web.Response(status=405, text="405 method not allowed\n", headers=headers)

    return handle


class SideListener:
    """One listener: :meth:`start` binds (``OSError`` when it cannot), :meth:`stop` closes."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[tuple[str, str], Route],
        *,
        reuse_port: bool = False,
        wrap: Wrap | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.routes = dict(routes)
        self.reuse_port = reuse_port
        self.wrap = wrap
        #: the port actually bound (``port`` 0 picks one)
        self.bound_port: int | None = None
        self._runner: web.ServerRunner | None = None
        self._server: SideServer | None = None
        self._listening: list[asyncio.Server] = []

    async def start(self) -> None:
        server = SideServer(_dispatch(self.routes), limits=ServerLimits(), access_log=None, **server_options())
        runner = web.ServerRunner(server, handle_signals=False)
        sockets: list[socket.socket] | None = None
        try:
            # a numeric or empty host bound here (no resolver thread: :func:`numeric_listen`; OSError
            # when the address cannot be used), a name by the loop
            sockets = numeric_listen(self.host, self.port, reuse_port=self.reuse_port)
            await runner.setup()
            if sockets is not None:
                bound = await self._listen_on(runner, server, sockets)
            else:
                bound = await self._listen_by_name(runner, server)
        except BaseException:
            for listening in self._listening:
                listening.close()
            self._listening.clear()
            await runner.cleanup()
            loop = asyncio.get_running_loop()
            for sock in sockets or ():
                if sock.fileno() != -1:  # not taken (and closed) by a server the loop kept
                    # a server the loop made but never handed back (asyncio's create_server canceled
                    # at its pause after it began serving): its read interest on the fd goes first, or
                    # the next socket given that fd number would never be watched
                    loop.remove_reader(sock)
                    sock.close()
            raise
        server.start_sweeping()
        self._runner, self._server = runner, server
        self.bound_port = bound[0].getsockname()[1] if bound else self.port

    async def _listen_on(
        self, runner: web.ServerRunner, server: SideServer, sockets: list[socket.socket]
    ) -> list[socket.socket]:
        if self.wrap is None:
            for sock in sockets:
                await web.SockSite(runner, sock).start()
        else:  # aiohttp's site takes no factory of ours: listen directly, the runner still owns HTTP
            loop = asyncio.get_running_loop()
            factory = self.wrap(server)
            for sock in sockets:
                self._listening.append(await loop.create_server(factory, sock=sock))
        return sockets

    async def _listen_by_name(self, runner: web.ServerRunner, server: SideServer) -> list[socket.socket]:
        if self.wrap is None:
            site = web.TCPSite(runner, self.host, self.port, reuse_port=self.reuse_port or None)
            await site.start()
            listening = getattr(site, "_server", None)
        else:
            loop = asyncio.get_running_loop()
            listening = await loop.create_server(
                self.wrap(server), self.host, self.port, reuse_port=self.reuse_port or None
            )
            self._listening.append(listening)
        return list(getattr(listening, "sockets", None) or ())

    async def stop(self) -> None:
        for listening in self._listening:
            listening.close()
        self._listening.clear()
        if self._server is not None:
            self._server.stop_sweeping()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
