"""A :class:`~krakenpy.server.protocol.GatewayServer` under aiohttp's runners and sites, for
embedding and tests. Apart from :mod:`krakenpy.server.protocol` so that ``krakenpy run`` never imports
aiohttp's web layer (~94 M instructions of a start, P7: bench/README.md, round 9).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from krakenpy.server.protocol import GatewayServer

__all__ = ["GatewayRunner"]


class GatewayRunner(web.BaseRunner):
    """An aiohttp runner over a :class:`GatewayServer`: serve a gateway with aiohttp's sites
    (``web.TCPSite``, ``web.SockSite``...) and their TLS options, as tests and embedders do."""

    def __init__(self, server: GatewayServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway_server = server

    async def shutdown(self) -> None:
        pass

    async def _make_server(self) -> web.Server:
        self._gateway_server.start_sweeping()
        # the sites only call it as a protocol factory, and the runner its shutdown hooks
        return self._gateway_server  # type: ignore[return-value]

    async def _cleanup_server(self) -> None:
        self._gateway_server.stop_sweeping()
