"""The backend (nginx, 1 worker, fixed JSON bodies) and the peers (nginx keep-alive proxy, Caddy).

Configs are written under the scratch dir; every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

from pathlib import Path

import orjson

__all__ = ["BACKEND_PORT", "CADDY_PORT", "NGINX_PROXY_PORT", "bodies", "caddy_config", "nginx_config"]

BACKEND_PORT = 18080
#: the Redis of the Q rows (cluster-wide rate limit), on the load CPU like the backend
REDIS_PORT = 18079
NGINX_PROXY_PORT = 18081
CADDY_PORT = 18082


def bodies() -> dict[str, bytes]:
    """``small.json`` (~200 B), ``posts.json`` (~200 B) and ``large.json`` (~10 KB)."""
    small = {
        "id": 42,
        "name": "Ann Example",
        "email": "ann@example.com",
        "active": True,
        "score": 98.5,
        "tags": ["alpha", "beta"],
        "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345"},
        "created": "2024-01-01T00:00:00Z",
    }
    posts = {
        "posts": [
            {"id": 1, "title": "Hello", "likes": 3},
            {"id": 2, "title": "Benchmarks", "likes": 12},
            {"id": 3, "title": "Gateways", "likes": 7},
        ],
        "total": 3,
        "next": None,
    }
    items = [
        {
            "id": i,
            "sku": f"SKU-{i:05d}",
            "name": f"Product number {i}",
            "price": round(9.99 + i * 0.5, 2),
            "stock": i * 7 % 100,
            "tags": ["catalog", "bench"],
        }
        for i in range(95)
    ]
    large = {"items": items, "count": len(items), "generated": "2024-01-01T00:00:00Z"}
    return {name: orjson.dumps(doc) for name, doc in (("small", small), ("posts", posts), ("large", large))}


def _nginx_common(work: Path, name: str) -> str:
    temp = work / f"{name}-temp"
    temp.mkdir(parents=True, exist_ok=True)
    return f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server_tokens off;
"""


def nginx_config(work: Path, role: str) -> Path:
    """``role`` = ``backend`` (fixed bodies) or ``proxy`` (reverse proxy, keep-alive upstream)."""
    conf = _nginx_common(work, f"nginx-{role}")
    if role == "backend":
        www = work / "www"
        www.mkdir(parents=True, exist_ok=True)
        for name, body in bodies().items():
            (www / f"{name}.json").write_bytes(body)
        small = bodies()["small"].decode()
        conf += f"""
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    server {{
        listen 127.0.0.1:{BACKEND_PORT} backlog=4096;
        default_type application/json;
        location = /small.json {{ return 200 '{small}'; }}
        location = /cached.json {{ expires 1h; return 200 '{small}'; }}
        # the T rows' OTLP collector: a success, the body read and dropped (as the instruction
        # harness's sink answers; until round 27 a 404, whose failure path the traces row paid too)
        location /v1/ {{ return 200; }}
        location / {{ root {www}; }}
    }}
}}
"""
    else:
        conf += f"""
    upstream backend {{ server 127.0.0.1:{BACKEND_PORT}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{NGINX_PROXY_PORT} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }}
    }}
}}
"""
    path = work / f"nginx-{role}.conf"
    path.write_text(conf)
    return path


def caddy_config(work: Path) -> Path:
    """A Caddyfile: ``reverse_proxy`` to the backend, admin API and logs off, HTTP only."""
    path = work / "Caddyfile"
    path.write_text(
        f"""{{
    admin off
    auto_https off
}}
http://127.0.0.1:{CADDY_PORT} {{
    bind 127.0.0.1
    reverse_proxy 127.0.0.1:{BACKEND_PORT}
}}
"""
    )
    return path
