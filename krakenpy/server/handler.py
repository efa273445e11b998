"""From an aiohttp request to the endpoint pipeline and back (lura ``router/gin/endpoint.go``).

Everything that depends only on the config (allow-lists, parameter keys, renderer, Cache-Control,
fixed headers) is computed in :func:`make_handler`; the returned coroutine does per-request work only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from krakenpy import PRODUCT, __version__
from krakenpy.config.model import EndpointConfig, capitalize
from krakenpy.errors import BackendError, PipelineError
from krakenpy.proxy.compose import compose
from krakenpy.proxy.deadline import arm_in, disarm, expired
from krakenpy.proxy.request_builder import canonical_header
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response
from krakenpy.server.render import TEXT_CT, renderer_for

__all__ = ["RouterOptions", "client_ip", "input_filter_middleware", "make_handler"]

log = logging.getLogger("krakenpy.handler")

USER_AGENT = f"{PRODUCT} Version {__version__}"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "upgrade",
        "te",
        "trailer",
    }
)
#: how long after the endpoint deadline the handler gives up on the pipeline itself
DEADLINE_GRACE = 0.05
#: client headers that describe this hop only; never copied to a backend even with ``"*"``
_NOT_FORWARDED = frozenset(
    {"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"}
)
#: largest client body read into memory (413 beyond)
MAX_REQUEST_BODY = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RouterOptions:
    """The ``router`` namespace values the handlers need."""

    return_error_msg: bool = False
    hide_version_header: bool = False
    disable_path_decoding: bool = False

    @property
    def version_header(self) -> str:
        return "Version undefined" if self.hide_version_header else f"Version {__version__}"


def client_ip(request: web.BaseRequest) -> str:
    """gin's ``ClientIP`` with every proxy trusted: first X-Forwarded-For entry, X-Real-Ip, then peer."""
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    real = request.headers.get("X-Real-Ip")
    if real:
        return real.strip()
    return request.remote or ""


def _collect_headers(raw: CIMultiDict[str] | Any, allowed: tuple[str, ...] | None) -> Headers:
    headers: Headers = {}
    if allowed is None:
        for name, value in raw.items():
            key = canonical_header(name)
            if key not in _NOT_FORWARDED:
                headers.setdefault(key, []).append(value)
        return headers
    for name in allowed:
        values = raw.getall(name, None)
        if values:
            headers[name] = list(values)
    return headers


def input_filter_middleware(endpoint: EndpointConfig) -> Middleware:
    """Apply the endpoint ``input_headers`` / ``input_query_strings`` to a request that was built
    unfiltered (because a router-level Lua script had to see everything first)."""
    all_headers = "*" in endpoint.input_headers
    header_names = tuple(canonical_header(h) for h in endpoint.input_headers)
    all_query = "*" in endpoint.input_query_strings
    query_names = endpoint.input_query_strings

    def middleware(next_proxy: Proxy) -> Proxy:
        async def filtered(request: Request) -> Response:
            forwarded: Headers = {
                k: request.headers[k] for k in ("X-Forwarded-For", "X-Forwarded-Host") if k in request.headers
            }
            if not all_headers:
                request.headers = {k: request.headers[k] for k in header_names if k in request.headers}
            request.headers.update(forwarded)
            _user_agent(request.headers)
            if not all_query:
                request.query = {k: request.query[k] for k in query_names if k in request.query}
            return await next_proxy(request)

        return filtered

    return middleware


def _user_agent(headers: Headers) -> None:
    if "User-Agent" in headers:
        headers["X-Forwarded-Via"] = [USER_AGENT]
    else:
        headers["User-Agent"] = [USER_AGENT]


def make_handler(
    endpoint: EndpointConfig,
    proxy: Proxy,
    options: RouterOptions,
    *,
    router_middlewares: tuple[Middleware | None, ...] = (),
) -> Any:
    """Return ``handle(aiohttp_request, param_values)`` for one endpoint."""
    param_keys = tuple(capitalize(p) for p in endpoint.params)
    raw_param_names = endpoint.params
    prefilter = any(m is not None for m in router_middlewares)
    pipeline = compose(proxy, *router_middlewares, input_filter_middleware(endpoint)) if prefilter else proxy
    header_allow: tuple[str, ...] | None = (
        None
        if prefilter or "*" in endpoint.input_headers
        else tuple(canonical_header(h) for h in endpoint.input_headers)
    )
    query_all = prefilter or "*" in endpoint.input_query_strings
    query_names = endpoint.input_query_strings
    timeout = endpoint.timeout
    outer_span = timeout + DEADLINE_GRACE
    noop = endpoint.output_encoding == "no-op"
    render = renderer_for(endpoint.output_encoding, tuple(b.encoding for b in endpoint.backends))
    cache_control = f"public, max-age={int(endpoint.cache_ttl)}" if endpoint.cache_ttl >= 1 else None
    version = options.version_header
    return_msg = options.return_error_msg
    endpoint_name = endpoint.endpoint
    check_params = not options.disable_path_decoding

    async def handle(request: web.BaseRequest, values: tuple[str, ...]) -> web.StreamResponse:
        if check_params and values:
            for value in values:
                if "%" in value or "?" in value or "#" in value:
                    problem = _param_problem(value)
                    if problem is not None:
                        return web.Response(status=400, text=problem)
        if request.body_exists:
            if request.content_length is not None and request.content_length > MAX_REQUEST_BODY:
                return _plain(413, "request body too large", version)
            try:
                read = await _read_body(request)
            except (OSError, asyncio.IncompleteReadError):
                return _plain(400, "cannot read the request body", version)
            if read is None:
                return _plain(413, "request body too large", version)
            body = read
        else:
            body = b""
        raw_headers = request.headers
        headers = _collect_headers(raw_headers, header_allow)
        ip = client_ip(request)
        host = request.host
        if not prefilter:
            headers["X-Forwarded-For"] = [ip]
            headers["X-Forwarded-Host"] = [host]
            _user_agent(headers)
        else:
            headers["X-Forwarded-For"] = [ip]
            headers["X-Forwarded-Host"] = [host]
        if query_all:
            query_src = request.query
            query = {k: query_src.getall(k) for k in query_src.keys()} if query_src else {}
        elif query_names:
            query_src = request.query
            query = {k: query_src.getall(k) for k in query_names if k in query_src} if query_src else {}
        else:
            query = {}  # the client's query is never parsed when nothing of it is forwarded
        pipe_request = Request(
            method=request.method,
            path=request.path,
            params=dict(zip(param_keys, values, strict=True)) if values else {},
            headers=headers,
            query=query,
            body=body,
            client_ip=ip,
            host=host,
            endpoint=endpoint_name,
            client_path=request.path,
        )
        if values and prefilter:
            pipe_request.context["raw_params"] = dict(zip(raw_param_names, values, strict=True))
        # backends end themselves at the deadline (a handled error); this outer bound is only
        # a safety net, slightly later so static/Lua fallbacks can still answer
        timer = arm_in(outer_span)
        pipe_request.deadline = timer.when - DEADLINE_GRACE
        try:
            response = await pipeline(pipe_request)
        except PipelineError as exc:
            return _error(exc, version, return_msg)
        except asyncio.CancelledError:
            if expired(timer):
                return _error(BackendError("context deadline exceeded"), version, return_msg)
            raise
        except Exception:
            log.exception("unexpected error in %s %s", request.method, endpoint_name)
            return _error(PipelineError("internal server error"), version, return_msg)
        finally:
            disarm(timer)
        for error in response.errors:
            log.warning("%s %s: %s", request.method, endpoint_name, error)
        if noop:
            return _noop(response, version)
        data = response.data
        complete = response.is_complete and bool(data) and not response.errors
        body_out, content_type = render(data, raw_headers.get("Accept", ""))
        out_headers = {
            "Content-Type": content_type,
            "X-Krakend": version,
            "X-Krakend-Completed": "true" if complete else "false",
        }
        if complete and cache_control is not None:
            out_headers["Cache-Control"] = cache_control
        resp = web.Response(body=body_out, status=response.override_status or 200, headers=out_headers)
        if response.override_headers:
            _apply_headers(resp, response.override_headers)
        return resp

    return handle


_HEX = frozenset("0123456789abcdefABCDEF")


def _param_problem(value: str) -> str | None:
    """gin/lura's URL-param check: the 400 text for a param that is still encoded, else ``None``."""
    i = value.find("%")
    while i != -1:
        pair = value[i + 1 : i + 3]
        if len(pair) != 2 or not (pair[0] in _HEX and pair[1] in _HEX):
            return f'error: invalid URL escape "{value[i : i + 3]}"'
        i = value.find("%", i + 3)
    if "%" in value or "?" in value or "#" in value:
        return "error: encoded url params"
    return None


async def _read_body(request: web.BaseRequest) -> bytes | None:
    """The whole client body, or ``None`` when it exceeds :data:`MAX_REQUEST_BODY`."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_REQUEST_BODY:  # every pass consumes at least one byte or ends
        chunk = await request.content.read(1 << 18)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        chunks.append(chunk)
    return None


def _apply_headers(resp: web.StreamResponse, headers: Mapping[str, list[str]]) -> None:
    for name, values in headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        resp.headers.popall(name, None)
        for value in values:
            resp.headers.add(name, value)


def _plain(status: int, text: str, version: str) -> web.Response:
    return web.Response(
        status=status,
        body=text.encode(),
        headers={"Content-Type": TEXT_CT, "X-Krakend": version, "X-Krakend-Completed": "false"},
    )


def _error(exc: PipelineError, version: str, return_msg: bool) -> web.Response:
    headers = {"X-Krakend": version, "X-Krakend-Completed": "false"}
    for name, value in exc.headers:
        headers[name] = value
    status = exc.status if 100 <= exc.status <= 999 else 500
    if return_msg or exc.public_body:
        headers["Content-Type"] = exc.content_type or TEXT_CT
        return web.Response(status=status, body=exc.body.encode(), headers=headers)
    if exc.content_type:
        headers["Content-Type"] = exc.content_type
    return web.Response(status=status, headers=headers)


def _noop(response: Response, version: str) -> web.Response:
    resp = web.Response(status=response.override_status or response.status or 200, body=response.body or b"")
    _apply_headers(resp, response.headers)
    if response.override_headers:
        _apply_headers(resp, response.override_headers)
    if response.content_type and "Content-Type" not in resp.headers:
        resp.headers["Content-Type"] = response.content_type
    resp.headers["X-Krakend"] = version
    resp.headers["X-Krakend-Completed"] = "false"
    return resp
