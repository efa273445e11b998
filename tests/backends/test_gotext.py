"""Upstream transport failures worded as KrakenD's (Go's net/http) client words them."""

from __future__ import annotations

import errno
import socket

import aiohttp
import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.backends.gotext import go_cause, transport_text
from krakenpy.errors import BackendError


@pytest.mark.parametrize(
    ("method", "url", "exc", "expected"),
    [
        ("GET", "http://10.0.0.9:8080/x?a=1", ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
         'Get "http://10.0.0.9:8080/x?a=1": dial tcp 10.0.0.9:8080: connect: connection refused'),
        ("POST", "http://backend/x", OSError(errno.EHOSTUNREACH, "No route to host"),
         'Post "http://backend/x": dial tcp backend:80: connect: no route to host'),
        ("DELETE", "https://[::1]/x", OSError(errno.ENETUNREACH, "Network is unreachable"),
         'Delete "https://[::1]/x": dial tcp [::1]:443: connect: network is unreachable'),
        ("GET", "http://nope.internal:81/", socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         'Get "http://nope.internal:81/": dial tcp: lookup nope.internal: no such host'),
    ],
)  # fmt: skip
def test_go_words_these_causes(method: str, url: str, exc: BaseException, expected: str) -> None:
    assert transport_text(method, url, exc) == expected


@pytest.mark.parametrize(
    "exc",
    [
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        ValueError("bad"),
    ],
)
def test_other_causes_keep_krakenpys_text(exc: BaseException) -> None:
    assert go_cause("http://h/x", exc) is None
    assert transport_text("GET", "http://h/x", exc) == f"{type(exc).__name__}: {exc} [GET]: http://h/x"


def test_a_url_without_host_keeps_krakenpys_text() -> None:
    exc = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert transport_text("GET", "http://:99999/x", exc).startswith("ConnectionRefusedError: ")


async def test_the_aiohttp_client_words_a_refused_port_as_go(dead_port: int) -> None:
    """The ``ClientSession`` client (``KRAKENPY_HTTP_CLIENT=aiohttp``): its wrapper's OS error read."""
    client = AiohttpClient(ClientOptions())
    url = f"http://127.0.0.1:{dead_port}/x"
    try:
        with pytest.raises(BackendError) as caught:
            await client.request("GET", url, [], None)
    finally:
        await client.close()
    assert str(caught.value) == f'Get "{url}": dial tcp 127.0.0.1:{dead_port}: connect: connection refused'
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
