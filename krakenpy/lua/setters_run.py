"""The proxy/backend Lua middleware for scripts that are setter plans (:mod:`krakenpy.lua.setters`):
the same steps and outcomes as :func:`krakenpy.lua.modifier.proxy_middleware`, without a call into Lua.

P3's pair through the ``modifier/lua-proxy`` middleware (``python -m bench.lua_instructions proxy
2000``): see bench/README.md § "Setter scripts without Lua".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import PipelineError
from krakenpy.lua.bindings import PostState, error_status
from krakenpy.lua.convert import Kind
from krakenpy.lua.errors import LuaError
from krakenpy.lua.handles import Scope
from krakenpy.lua.setters import DATA, REQUEST, RESPONSE, Step
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

if TYPE_CHECKING:
    from krakenpy.lua.script import Script, Setters

__all__ = ["setters_middleware"]

log = logging.getLogger("krakenpy.lua")

#: an accessor's out-of-memory error: raised without a position (prelude.lua's ``fail``)
_MEMERR: Final = b"not enough memory"


def setters_middleware(script: Script, setters: Setters) -> Middleware:
    """``pre``, next (unless ``skip_next``), ``post``, each phase's accessor calls made from Python."""
    runtime = script.runtime
    objects = runtime.objects
    table, ids, release, outcome = objects.objects, objects.ids, runtime.release, runtime.outcome
    skip_next = script.options.skip_next
    pre: tuple[Step, ...] = setters.pre.steps if setters.pre is not None else ()
    has_post = setters.post is not None
    post: tuple[Step, ...] = setters.post.steps if setters.post is not None else ()
    post_slots = setters.post.slots if setters.post is not None else frozenset()

    def run(steps: tuple[Step, ...], handles: Any, scope: Scope) -> None:
        objects.scope = scope  # where an accessor's own objects would be recorded
        for slot, accessor, args, where in steps:
            result = accessor(handles[slot], *args)
            # a setter's result is nothing or an error (api.lua's wrapper: fail(msg, status) at the line)
            if result is not None and result[0] == Kind.ERROR:
                message = result[1]
                outcome((b"error", message) if message == _MEMERR else (b"error", where + message, *result[2:]))

    def handed(obj: Any, scope: Scope) -> int:
        i = next(ids)
        table[i] = obj
        scope.append(i)
        return i

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_proxy(request: Request) -> Response:
            scope: Scope = []  # the objects this request hands to the accessors (see krakenpy.lua.handles)
            try:
                if pre:
                    run(pre, (handed(request, scope),), scope)
                if not has_post:
                    release(scope)
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
                if post:
                    handles = [0, 0, 0]
                    if REQUEST in post_slots:
                        handles[REQUEST] = handed(request, scope)
                    if RESPONSE in post_slots:
                        handles[RESPONSE] = handed(state, scope)
                    if DATA in post_slots:
                        handles[DATA] = handed(response.data, scope)
                    try:
                        run(post, handles, scope)
                    except LuaError as exc:
                        if state.error is not None and not exc.custom:
                            log.warning("lua post script failed on a failed response (ignored): %s", exc)
                            if failure is not None:
                                raise failure from None
                            return response
                        raise
            finally:
                release(scope)
            if failure is not None and not state.handled:
                raise failure
            return response

        return lua_proxy

    return middleware
