"""The aiohttp client's timing mode (:meth:`AiohttpClient.enable_timing`): an aiohttp ``TraceConfig``
for obtaining a connection (queued + created; a reused one counts 0) and DNS (a lookup answered by
aiohttp's DNS cache counts 0), and a connector whose protocol factory notes when the TCP connection is
up, which is when asyncio starts the TLS handshake: the handshake lasts until the connection is made.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from krakenpy.backends.conntiming import current_timing, now

__all__ = ["TimedConnector", "trace_config"]


class TimedConnector(aiohttp.TCPConnector):
    """``TCPConnector`` noting the start of each new connection's TLS handshake."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # asyncio calls the protocol factory once the socket is connected, right before the TLS
        # handshake; without this (private) attribute TLS simply stays 0
        inner = getattr(self, "_factory", None)
        if callable(inner):

            def factory() -> Any:
                timing = current_timing()
                if timing is not None:
                    timing.tls_from = now()
                return inner()

            self._factory = factory  # type: ignore[assignment]


async def _request_start(_session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
    ctx.https = params.url.scheme == "https"


async def _queued_start(_session: Any, ctx: Any, _params: Any) -> None:
    ctx.queued = now()


async def _queued_end(_session: Any, ctx: Any, _params: Any) -> None:
    timing = current_timing()
    if timing is not None:
        timing.get_conn += now() - ctx.queued


async def _create_start(_session: Any, ctx: Any, _params: Any) -> None:
    ctx.created = now()


async def _create_end(_session: Any, ctx: Any, _params: Any) -> None:
    timing = current_timing()
    if timing is not None:
        end = now()
        timing.get_conn += end - ctx.created
        if getattr(ctx, "https", False) and timing.tls_from:
            timing.tls = end - timing.tls_from


async def _dns_start(_session: Any, ctx: Any, _params: Any) -> None:
    ctx.dns = now()


async def _dns_end(_session: Any, ctx: Any, _params: Any) -> None:
    timing = current_timing()
    if timing is not None:
        timing.dns = now() - ctx.dns


def trace_config() -> aiohttp.TraceConfig:
    """The hooks filling the running call's :class:`~krakenpy.backends.conntiming.CallTiming`."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_request_start)
    config.on_connection_queued_start.append(_queued_start)
    config.on_connection_queued_end.append(_queued_end)
    config.on_connection_create_start.append(_create_start)
    config.on_connection_create_end.append(_create_end)
    config.on_dns_resolvehost_start.append(_dns_start)
    config.on_dns_resolvehost_end.append(_dns_end)
    config.freeze()
    return config
