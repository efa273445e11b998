"""A tiny demo backend for the sample configs (127.0.0.1:8000 by default).

Routes: /users/{id}, /users/{id}/posts, /posts/{id}, /products (array), /catalog.xml, /slow.
Run: ``python sample-configs/demo_backend.py [--port 8000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

USERS = {
    "1": {
        "id": 1,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "role": "admin",
        "address": {"city": "London", "zip": "W1"},
    },
    "2": {
        "id": 2,
        "name": "Alan Turing",
        "email": "alan@example.com",
        "role": "user",
        "address": {"city": "Wilmslow", "zip": "SK9"},
    },
}
POSTS = {
    "1": [{"id": 10, "title": "Notes on the Analytical Engine", "likes": 42}],
    "2": [
        {"id": 20, "title": "Computing Machinery and Intelligence", "likes": 99},
        {"id": 21, "title": "On Computable Numbers", "likes": 77},
    ],
}
PRODUCTS = [{"sku": "KP-1", "name": "Gateway", "price": 10.5}, {"sku": "KP-2", "name": "Lambda", "price": 0.2}]


async def user(request: web.Request) -> web.Response:
    found = USERS.get(request.match_info["id"])
    if found is None:
        return web.json_response({"error": "no such user"}, status=404)
    return web.json_response(found)


async def posts(request: web.Request) -> web.Response:
    return web.json_response({"posts": POSTS.get(request.match_info["id"], [])})


async def post(request: web.Request) -> web.Response:
    for items in POSTS.values():
        for item in items:
            if str(item["id"]) == request.match_info["id"]:
                return web.json_response({**item, "author_id": 1 if item["id"] < 20 else 2})
    return web.json_response({"error": "no such post"}, status=404)


async def products(request: web.Request) -> web.Response:
    return web.json_response(PRODUCTS)


async def catalog(request: web.Request) -> web.Response:
    body = '<catalog><item sku="KP-1">Gateway</item><item sku="KP-2">Lambda</item></catalog>'
    return web.Response(text=body, content_type="application/xml")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "1")))
    return web.json_response({"slow": True})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/users/{id}", user)
    app.router.add_get("/users/{id}/posts", posts)
    app.router.add_get("/posts/{id}", post)
    app.router.add_get("/products", products)
    app.router.add_get("/catalog.xml", catalog)
    app.router.add_get("/slow", slow)
    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    try:
        web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)
    except OSError as exc:
        print(f"demo backend: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
