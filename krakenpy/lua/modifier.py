"""The Lua middlewares: router level (``ctx``, pre only) and proxy/backend level (``request`` in pre,
``request`` + ``response`` in post).

krakenpy extension: ``post`` also runs when the next layer failed (KrakenD skips it). The script
sees the error (``response.load():error()``) and the partial data; unless it answers for the
failure (``statusCode(n)``, ``isComplete(true)``, ``custom_error``, ``exit``), the original outcome
stands — and a crash of a script that did not expect a failure is logged, not reported — so
KrakenD scripts keep their KrakenD behaviour.
"""

from __future__ import annotations

import logging
from typing import Any

from krakenpy.errors import PipelineError
from krakenpy.lua.api.request import BAD_INPUT
from krakenpy.lua.bindings import PostState, error_status
from krakenpy.lua.errors import LuaError, LuaExit
from krakenpy.lua.handles import Scope
from krakenpy.lua.script import Script
from krakenpy.lua.setters_run import router_setters_middleware, setters_middleware
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["proxy_middleware", "router_middleware"]

log = logging.getLogger("krakenpy.lua")


def router_middleware(script: Script, *, service_level: bool) -> Middleware | None:
    """``modifier/lua-endpoint``: run ``pre`` with ``ctx`` before the endpoint's input filters."""
    if script.chains.pre is None and not script.options.live:
        return None
    if script.router_setters is not None:
        return router_setters_middleware(script, script.router_setters, service_level=service_level)
    runtime = script.runtime
    limits = script.limits

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_router(request: Request) -> Response:
            chain = script.current().router
            if chain is not None:
                scope: Scope = []
                try:
                    done = runtime.router(scope, request, chain, limits)
                    if type(done) is tuple:  # not over in one go (http_response.new) or failed
                        await runtime.settle(scope, done, limits)
                except LuaExit:
                    raise
                except LuaError as exc:
                    # KrakenD: the service-level middleware always answers 500; a client value the
                    # API refused (CR/LF in a header...) stays the client's 400
                    if service_level and (exc.custom or exc.status != BAD_INPUT):
                        raise LuaError(str(exc)) from None
                    raise
                finally:
                    runtime.release(scope)
            return await next_proxy(request)

        return lua_router

    return middleware


def proxy_middleware(script: Script) -> Middleware:
    """``modifier/lua-proxy`` / ``modifier/lua-backend``: ``pre``, next (unless ``skip_next``), ``post``."""
    if script.setters is not None:
        return setters_middleware(script, script.setters)
    runtime = script.runtime
    limits = script.limits
    skip_next = script.options.skip_next
    live = script.options.live
    start_pre, start_post = runtime.phases(limits)  # runtime.pre / runtime.post, one frame each

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_proxy(request: Request) -> Response:
            chains = script.current() if live else script.chains  # once per request: pre and post see the same code
            scope: Scope = []  # the objects this request hands to Lua (see krakenpy.lua.handles)
            kept: Any = None  # the request's handle (an int) when pre keeps its record (env, objects) for post
            try:
                if chains.pre is not None:
                    kept = start_pre(scope, request, chains.pre)
                    if type(kept) is tuple:  # not over in one go (http_response.new) or failed
                        kept = await runtime.settle(scope, kept, limits)
                if chains.post is None:
                    runtime.release(scope)
                    return Response(data={}, is_complete=False) if skip_next else await next_proxy(request)
                failure: PipelineError | None = None
                if skip_next:
                    response = Response(data={}, is_complete=False)
                else:
                    try:
                        response = await next_proxy(request)
                    except PipelineError as exc:
                        failure = exc
                        response = Response(data={}, is_complete=False, status=error_status(exc))
                state = PostState(response, failure or (response.errors[0] if response.errors else None))
                fn = chains.post if kept is not None else chains.post_alone
                try:
                    handle, kept = kept, None  # post takes the record over
                    done = start_post(scope, handle, request, state, fn)
                    if type(done) is tuple:
                        await runtime.settle(scope, done, limits)
                except LuaError as exc:
                    if state.error is not None and not exc.custom:
                        log.warning("lua post script failed on a failed response (ignored): %s", exc)
                        if failure is not None:
                            raise failure from None
                        return response
                    raise
            finally:
                if type(kept) is int:  # pre kept a record for a post that does not run
                    runtime.forget(kept)
                runtime.release(scope)
            if failure is not None and not state.handled:
                raise failure
            return response

        return lua_proxy

    return middleware
