"""Backend redirects follow Go's client rules, on both clients (krakenpy/backends/redirects.py)."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.backends.redirects import _domain_or_subdomain, _referer
from tests.server.wirekit import RawBackend, Seen, Start, get, raw_request, reply

CLIENT = pytest.mark.parametrize("client", ["fast", "aiohttp"])


def _doc(url: str, method: str = "GET", noop: bool = False, **backend: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "endpoint": "/e",
        "method": method,
        "input_headers": ["Content-Type", "Authorization", "Cookie"],
        "backend": [{"host": [url], "url_pattern": "/up", **backend}],
    }
    if noop:
        endpoint["output_encoding"] = "no-op"
        endpoint["backend"][0]["encoding"] = "no-op"
    return {"version": 3, "endpoints": [endpoint]}


def _redirecting(status: int, location: str) -> Any:
    def answer(seen: Seen, port: int) -> bytes:
        if seen.target == "/up":
            return reply(status, b"", (("Location", location.format(port=port)),))
        return reply(200, b'{"done":true}')

    return answer


@CLIENT
@pytest.mark.parametrize("status", [301, 302, 303])
async def test_redirect_post_becomes_get_without_body(raw_backend: Any, serve: Start, client: str, status: int) -> None:
    backend: RawBackend = await raw_backend(_redirecting(status, "/next?q=1"))
    served = await serve(_doc(backend.url, "POST"), client=client)
    request = get("/e", "Content-Type: application/json", method="POST", body=b'{"a":1}')
    head = await raw_request(served.port, request)
    assert head.status == 200 and head.body == b'{"done":true}'
    first, second = backend.seen
    assert first.method == "POST" and first.body == b'{"a":1}'
    assert second.method == "GET" and second.target == "/next?q=1" and second.body == b""
    assert second.get("Content-Length") is None
    assert second.get("Content-Type") == b"application/json"  # Go copies the first request's headers
    assert second.get("Referer") == f"http://127.0.0.1:{backend.port}/up".encode()
    assert second.get("User-Agent") == first.get("User-Agent")


@CLIENT
async def test_redirect_307_with_a_body_is_the_answer_without_send_body_on_redirect(
    raw_backend: Any, serve: Start, client: str
) -> None:
    backend: RawBackend = await raw_backend(_redirecting(307, "/next"))
    served = await serve(_doc(backend.url, "POST", noop=True), client=client)
    head = await raw_request(served.port, get("/e", method="POST", body=b"payload"))
    assert head.status == 307 and head.get("Location") == "/next"
    assert len(backend.seen) == 1


@CLIENT
@pytest.mark.parametrize("status", [307, 308])
async def test_redirect_307_308_resend_the_body_with_send_body_on_redirect(
    raw_backend: Any, serve: Start, client: str, status: int
) -> None:
    backend: RawBackend = await raw_backend(_redirecting(status, "/next"))
    doc = _doc(backend.url, "POST", extra_config={"backend/http/client": {"send_body_on_redirect": True}})
    served = await serve(doc, client=client)
    head = await raw_request(served.port, get("/e", method="POST", body=b'{"b":2}'))
    assert head.status == 200
    first, second = backend.seen
    assert second.method == "POST" and second.target == "/next" and second.body == b'{"b":2}'
    assert second.get("Content-Length") == b"7"


@CLIENT
async def test_redirect_bodiless_307_is_followed(raw_backend: Any, serve: Start, client: str) -> None:
    backend: RawBackend = await raw_backend(_redirecting(307, "/next"))
    served = await serve(_doc(backend.url), client=client)
    assert (await raw_request(served.port, get("/e"))).status == 200
    assert [s.target for s in backend.seen] == ["/up", "/next"]


@CLIENT
async def test_redirect_to_another_host_drops_credentials(raw_backend: Any, serve: Start, client: str) -> None:
    other: RawBackend = await raw_backend(lambda seen, port: reply())
    backend: RawBackend = await raw_backend(_redirecting(302, f"http://localhost:{other.port}/x"))
    served = await serve(_doc(backend.url), client=client)
    head = await raw_request(served.port, get("/e", "Authorization: Bearer t", "Cookie: s=1"))
    assert head.status == 200
    assert backend.seen[0].get("Authorization") == b"Bearer t"
    (moved,) = other.seen
    assert moved.get("Authorization") is None and moved.get("Cookie") is None
    assert moved.get("Host") == f"localhost:{other.port}".encode()
    assert moved.get("Referer") == f"http://127.0.0.1:{backend.port}/up".encode()


@CLIENT
async def test_redirect_to_the_same_host_other_port_keeps_credentials(
    raw_backend: Any, serve: Start, client: str
) -> None:
    other: RawBackend = await raw_backend(lambda seen, port: reply())
    backend: RawBackend = await raw_backend(_redirecting(302, f"http://127.0.0.1:{other.port}/x"))
    served = await serve(_doc(backend.url), client=client)
    assert (await raw_request(served.port, get("/e", "Authorization: Bearer t"))).status == 200
    assert other.seen[0].get("Authorization") == b"Bearer t"


@CLIENT
async def test_redirect_stops_after_ten(raw_backend: Any, serve: Start, client: str) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply(302, b"", (("Location", "/up"),)))
    served = await serve(_doc(backend.url), client=client)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 500
    assert len(backend.seen) == 11  # the first request and 10 redirects


@CLIENT
async def test_redirect_without_location_is_the_answer(raw_backend: Any, serve: Start, client: str) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply(302, b"moved"))
    served = await serve(_doc(backend.url, noop=True), client=client)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 302 and head.body == b"moved"


def test_redirect_referer_rules() -> None:
    assert _referer("https://a.example/x", "http://b.example/") == ""
    assert _referer("http://u:p@a.example/x?q=1", "http://b.example/") == "http://a.example/x?q=1"
    assert _referer("https://a.example/x", "https://b.example/") == "https://a.example/x"


def test_redirect_domain_or_subdomain() -> None:
    assert _domain_or_subdomain("api.example.com", "example.com")
    assert _domain_or_subdomain("example.com", "example.com")
    assert not _domain_or_subdomain("badexample.com", "example.com")
    assert not _domain_or_subdomain("example.com", "api.example.com")
    assert not _domain_or_subdomain("::1", "1")


async def test_redirect_fallback_errors_are_backend_errors(raw_backend: Any) -> None:
    from krakenpy.backends.fastclient import FastClient
    from krakenpy.errors import BackendError

    backend: RawBackend = await raw_backend(lambda seen, port: b"NOT HTTP AT ALL\r\n\r\n")
    client = FastClient()
    try:
        with pytest.raises(BackendError):  # HEAD goes through the aiohttp fallback, hop by hop
            await client.request("HEAD", backend.url + "/up", [], None)
    finally:
        await client.close()


@CLIENT
async def test_redirect_no_redirect_passes_the_3xx_to_a_noop_endpoint(
    raw_backend: Any, serve: Start, client: str
) -> None:
    backend: RawBackend = await raw_backend(_redirecting(302, "/next"))
    served = await serve(
        _doc(backend.url, noop=True, extra_config={"backend/http/client": {"no_redirect": True}}), client=client
    )
    head = await raw_request(served.port, get("/e"))
    assert head.status == 302 and head.get("Location") == "/next"
    assert [s.target for s in backend.seen] == ["/up"]


@CLIENT
async def test_redirect_no_redirect_makes_the_3xx_a_backend_error(raw_backend: Any, serve: Start, client: str) -> None:
    backend: RawBackend = await raw_backend(_redirecting(301, "/next"))
    doc = _doc(
        backend.url,
        extra_config={"backend/http/client": {"no_redirect": True}, "backend/http": {"return_error_code": True}},
    )
    served = await serve(doc, client=client)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 301  # return_error_code: the backend's status, as KrakenD Enterprise answers
    assert [s.target for s in backend.seen] == ["/up"]
