"""One endpoint's handler (lura ``router/gin/endpoint.go``): edge request → pipeline → response.

Everything that depends only on the config (allow-lists, parameter keys, renderer, Cache-Control,
fixed headers) is computed in :func:`make_handler`; the returned coroutine does per-request work only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeAlias

from multidict import CIMultiDict, istr

from krakenpy.config.model import EndpointConfig
from krakenpy.config.options import RouterOptions
from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.errors import BackendError, PipelineError, Rejection
from krakenpy.names import canonical_header, capitalize
from krakenpy.proxy.compose import compose
from krakenpy.proxy.deadline import arm_request, disarm, expired
from krakenpy.proxy.guard import Guard, GuardCheck
from krakenpy.proxy.types import CLIENT_TARGET, Middleware, Proxy, Request, TargetReader
from krakenpy.server.clientip import client_ip_resolver
from krakenpy.server.payload import MAX_REQUEST_BODY, body_limits, gunzip, is_gzip
from krakenpy.server.render import renderer_for
from krakenpy.server.request import (
    collect_headers,
    guard_headers,
    guard_names,
    input_filter_middleware,
    param_problem,
    user_agent,
)
from krakenpy.server.response import (
    apply_headers,
    error_response,
    noop_response,
    plain_response,
    rejection_response,
    verbatim_response,
)
from krakenpy.server.wire import CONTENT_TYPE

__all__ = ["MAX_REQUEST_BODY", "EndpointHandler", "make_handler"]

log = logging.getLogger("krakenpy.handler")

#: header names of every rendered answer, as ``istr``: a ``CIMultiDict`` takes an ``istr``'s folded
#: form as made once, where a ``str`` name is folded at every lookup or store (round 21); the written
#: name is the text as given
_ACCEPT: Final = istr("Accept")
_X_KRAKEND: Final = istr("X-Krakend")
_X_KRAKEND_COMPLETED: Final = istr("X-Krakend-Completed")
_CACHE_CONTROL: Final = istr("Cache-Control")
#: ``handle(request, param_values)``: what the router calls for a matched endpoint
EndpointHandler: TypeAlias = Callable[[HttpRequest, tuple[str, ...]], Awaitable[HttpResponse]]
#: how long after the endpoint deadline the handler gives up on the pipeline itself
DEADLINE_GRACE = 0.05


def _too_large(version: str) -> HttpResponse:
    """413, and the connection is closed once it is written: the rest of the body is never read
    into the pipeline (the server drains what is in flight, bounded in time, without decoding it)."""
    response = plain_response(413, "request body too large", version)
    response.headers["Connection"] = "close"
    return response


#: headers the handler writes before the pipeline: a guard reading them would see the client's
#: values on the filtered path, the gateway's on the unfiltered one
_WRITTEN: frozenset[str] = frozenset({"X-Forwarded-For", "X-Forwarded-Host"})


def _filtered_guards(layers: Sequence[Middleware]) -> tuple[tuple[GuardCheck, ...], tuple[str, ...]] | None:
    """The checks of an endpoint layer made only of guards that can run on the filtered request, and
    the headers they read; ``None`` when some layer needs the unfiltered request."""
    checks: list[GuardCheck] = []
    reads: list[str] = []
    for layer in layers:
        if not isinstance(layer, Guard) or layer.check_filtered is None or _WRITTEN.intersection(layer.reads):
            return None
        checks.append(layer.check_filtered)
        reads.extend(layer.reads)
    return tuple(checks), guard_names(reads)


def make_handler(
    endpoint: EndpointConfig,
    proxy: Proxy,
    router: RouterOptions,
    middlewares: Sequence[Middleware | None] = (),
) -> EndpointHandler:
    """The handler of one endpoint; ``middlewares`` are the endpoint layer (outermost first): they see
    the request before the ``input_headers`` / ``input_query_strings`` filters, unless they are all
    guards that can run on the filtered request (:mod:`krakenpy.proxy.guard`): those the handler
    calls itself, on the request built filtered as for an endpoint without guards."""
    param_keys = tuple(capitalize(p) for p in endpoint.params)
    raw_param_names = endpoint.params
    layers = [m for m in middlewares if m is not None]
    filtered_guards = _filtered_guards(layers)
    guards, guard_reads = filtered_guards or ((), ())
    prefilter = filtered_guards is None
    # router Lua's ctx:url() reads the client's raw target: kept for an endpoint layer that has one only
    keep_target = any(isinstance(layer, TargetReader) for layer in layers)
    pipeline = compose(proxy, *layers, input_filter_middleware(endpoint)) if prefilter else proxy
    header_allow: tuple[str, ...] | None = (
        None
        if prefilter or "*" in endpoint.input_headers
        else tuple(canonical_header(h) for h in endpoint.input_headers)
    )
    query_all = prefilter or "*" in endpoint.input_query_strings
    query_names = endpoint.input_query_strings
    span = endpoint.timeout
    noop = endpoint.output_encoding == "no-op"
    render = renderer_for(endpoint.output_encoding, tuple(b.encoding for b in endpoint.backends))
    cache_control = f"public, max-age={int(endpoint.cache_ttl)}" if endpoint.cache_ttl >= 1 else None
    version = router.version_header
    return_msg = router.return_error_msg
    endpoint_name = endpoint.endpoint
    check_params = not router.disable_path_decoding
    client_ip = client_ip_resolver(router)
    limits = body_limits(router, endpoint.proxy)
    body_cap, gunzip_cap = limits.read, limits.gunzip

    async def handle(request: HttpRequest, values: tuple[str, ...]) -> HttpResponse:
        if check_params and values:
            for value in values:
                if "%" in value or "?" in value or "#" in value:
                    problem = param_problem(value)
                    if problem is not None:
                        return HttpResponse(400, {"Content-Type": "text/plain; charset=utf-8"}, problem.encode())
        gunzipped = False
        if request.has_body:
            if request.content_length is not None and request.content_length > body_cap:
                return _too_large(version)
            try:
                read = await request.body(body_cap)
            except (OSError, asyncio.IncompleteReadError):
                return plain_response(400, "cannot read the request body", version)
            if read is None:
                return _too_large(version)
            body = read
            if gunzip_cap and body and is_gzip(request.headers.get("Content-Encoding")):
                try:
                    inflated = gunzip(body, gunzip_cap)
                except ValueError as exc:
                    return plain_response(400, str(exc), version)
                if inflated is None:
                    return _too_large(version)
                body, gunzipped = inflated, True
        else:
            body = b""
        raw_headers = request.headers
        headers = collect_headers(raw_headers, header_allow)
        if gunzipped:  # the backends get the plain body: the coding is gone (and its length with it)
            headers.pop("Content-Encoding", None)
            headers.pop("Content-Length", None)
        ip = client_ip(request.remote, raw_headers.get)
        host = request.host
        headers["X-Forwarded-For"] = [ip]
        headers["X-Forwarded-Host"] = [host]
        if not prefilter:
            user_agent(headers)  # else the input filter sets it, once the endpoint layer is done
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
            context=request.context,
        )
        if prefilter:  # an endpoint layer sees the client's request (router Lua's ctx: its raw target too)
            context = pipe_request.context
            if keep_target:
                context[CLIENT_TARGET] = request.raw_path
            if values:
                context["raw_params"] = dict(zip(raw_param_names, values, strict=True))
        # backends end themselves at the deadline (a handled error); the timer's second stage is only
        # a safety net, slightly later so static/Lua fallbacks can still answer
        timer = arm_request(span, DEADLINE_GRACE)
        pipe_request.deadline = timer.when
        pipe_request.timer = timer
        try:
            if guards:
                seen = guard_headers(raw_headers, guard_reads)
                for guard in guards:
                    await guard(pipe_request, seen)
            response = await pipeline(pipe_request)
        except Rejection as exc:
            return rejection_response(exc)
        except PipelineError as exc:
            return error_response(exc, version, return_msg)
        except asyncio.CancelledError:
            if expired(timer):
                return error_response(BackendError("context deadline exceeded"), version, return_msg)
            raise
        except Exception:
            log.exception("unexpected error in %s %s", request.method, endpoint_name)
            return error_response(PipelineError("internal server error"), version, return_msg)
        finally:
            disarm(timer)
        # partial failures were logged, redacted and once, by the backend layer (telemetry)
        if response.verbatim:
            return verbatim_response(response)
        if noop:
            return noop_response(response, version)
        data = response.data
        complete = response.is_complete and bool(data) and not response.errors
        try:
            body_out, content_type = render(data, raw_headers.get(_ACCEPT, ""))
        except (ValueError, TypeError, RecursionError) as exc:
            # data no encoder can write (a cycle from Lua, YAML nested too deep...): KrakenD's 500
            log.error("%s %s: cannot render the response: %s", request.method, endpoint_name, exc)
            return error_response(PipelineError("internal server error"), version, return_msg)
        out_headers: CIMultiDict[str] = CIMultiDict(
            (
                (CONTENT_TYPE, content_type),
                (_X_KRAKEND, version),
                (_X_KRAKEND_COMPLETED, "true" if complete else "false"),
            )
        )
        if complete and cache_control is not None:
            out_headers[_CACHE_CONTROL] = cache_control
        if response.override_headers:
            apply_headers(out_headers, response.override_headers)
        return HttpResponse(response.override_status or 200, out_headers, body_out)

    return handle
