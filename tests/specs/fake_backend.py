"""The fake upstream the spec config points at: one aiohttp app on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip

import orjson
from aiohttp import web

USERS = {
    "1": {"id": 1, "name": "ann", "friend": "2", "secret": "s1", "address": {"city": "Rome", "zip": "001"}},
    "2": {"id": 2, "name": "bob", "friend": "1", "secret": "s2", "address": {"city": "Oslo", "zip": "002"}},
}


def _json(data: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


async def echo(request: web.Request) -> web.Response:
    """What the gateway sent: method, raw path, raw query, headers (canonical name → joined), body."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    body = await request.read()
    return _json(
        {
            "method": request.method,
            "path": request.raw_path.split("?", 1)[0],
            "query": request.query_string,
            "headers": headers,
            "body": body.decode("utf-8", "replace") if len(body) < 4096 else "",
            "body_length": len(body),
        }
    )


async def user(request: web.Request) -> web.Response:
    found = USERS.get(request.match_info["id"])
    return _json(found) if found else _json({"error": "no such user"}, status=404)


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    if code == 204:
        return web.Response(status=204)
    return _json({"status": code, "msg": "backend says <no>"}, status=code)


async def slow(request: web.Request) -> web.Response:
    ms = int(request.match_info["ms"])
    await asyncio.sleep(ms / 1000)
    return _json({"who": "slow", "slow_ms": ms})


async def fast(request: web.Request) -> web.Response:
    return _json({"who": "fast", "fast": True})


async def empty(request: web.Request) -> web.Response:
    return _json({})


async def collection(request: web.Request) -> web.Response:
    return _json([{"id": 1, "tmp": "x"}, {"id": 2, "tmp": "y"}])


async def text(request: web.Request) -> web.Response:
    return web.Response(text="<html>not json & not xml</html>", content_type="text/html")


async def xml(request: web.Request) -> web.Response:
    body = '<user id="7"><name>ann</name><tag>a</tag><tag>b</tag></user>'
    return web.Response(text=body, content_type="application/xml")


async def gzipped(request: web.Request) -> web.Response:
    body = gzip.compress(orjson.dumps({"zipped": True, "accept_encoding": request.headers.get("Accept-Encoding", "")}))
    return web.Response(body=body, content_type="application/json", headers={"Content-Encoding": "gzip"})


async def noop(request: web.Request) -> web.Response:
    return web.Response(
        body=b"raw <body> & bytes",
        status=202,
        content_type="application/x-custom",
        headers={"X-Custom": "kept", "Set-Cookie": "a=1"},
    )


async def parse_json(request: web.Request) -> web.Response:
    """A JSON API: rejects bodies that are not JSON with 400."""
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _json({"error": "malformed JSON"}, status=400)
    return _json({"received": data}, status=201)


async def reset(request: web.Request) -> web.Response:
    transport = request.transport
    assert transport is not None
    transport.abort()  # drop the connection without an answer
    await asyncio.sleep(0.05)
    return web.Response()


async def numbers(request: web.Request) -> web.Response:
    return web.Response(
        body=b'{"int":1,"float":1.5,"big":12345678901234,"neg":-3,"html":"<a&b>"}', content_type="application/json"
    )


def fake_backend_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", r"/echo{tail:[\s\S]*}", echo)
    app.router.add_get("/users/{id}", user)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/slow/{ms}", slow)
    app.router.add_get("/fast", fast)
    app.router.add_get("/empty", empty)
    app.router.add_get("/collection", collection)
    app.router.add_get("/text", text)
    app.router.add_get("/xml", xml)
    app.router.add_get("/gzip", gzipped)
    app.router.add_route("*", "/noop", noop)
    app.router.add_post("/parse", parse_json)
    app.router.add_get("/reset", reset)
    app.router.add_get("/numbers", numbers)
    return app
