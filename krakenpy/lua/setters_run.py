"""The proxy/backend Lua middleware for scripts that are setter plans (:mod:`krakenpy.lua.setters`):
the same steps and outcomes as :func:`krakenpy.lua.modifier.proxy_middleware`, without a call into Lua.

P3's pair through the ``modifier/lua-proxy`` middleware (``python -m bench.lua_instructions proxy
2000``): see bench/README.md § "Setter scripts without Lua".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import PipelineError
from krakenpy.lua.api.store import Accessor
from krakenpy.lua.bindings import PostState, error_status
from krakenpy.lua.convert import Kind
from krakenpy.lua.errors import LuaError
from krakenpy.lua.setters import DATA, REQUEST, RESPONSE, Plan
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
    table, outcome = runtime.objects.objects, runtime.outcome
    skip_next = script.options.skip_next
    # A run is synchronous (a setter cannot yield), so its objects take the ids reserved for setter runs
    # (ids handed to Lua are positive): put in place before the run, cleared after it, no scope to
    # release; the ids are bound into each step's arguments once, here (the P3 pair: -2.6 k machine
    # instructions against ids handed out per request)
    pre = _bound(setters.pre)
    post = _bound(setters.post)
    has_post = setters.post is not None
    with_state = setters.post is not None and RESPONSE in setters.post.slots

    def run(steps: tuple[tuple[Accessor, tuple[Any, ...], bytes], ...]) -> None:
        for accessor, args, where in steps:
            result = accessor(*args)
            # a setter's result is nothing or an error (api.lua's wrapper: fail(msg, status) at the line);
            # a setter never hands out an object of its own (only getters do), so no scope is needed
            if result is not None and result[0] == Kind.ERROR:
                message = result[1]
                outcome((b"error", message) if message == _MEMERR else (b"error", where + message, *result[2:]))

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_proxy(request: Request) -> Response:
            if pre:
                table[REQUEST_ID] = request
                try:
                    run(pre)
                finally:
                    table[REQUEST_ID] = None
            if not has_post:
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
            error = failure or (response.errors[0] if response.errors else None)
            # what the response accessors work on; only made when post uses the response object
            state = PostState(response, error) if with_state else None
            if post:
                table[REQUEST_ID], table[STATE_ID], table[DATA_ID] = request, state, response.data
                try:
                    run(post)
                except LuaError as exc:
                    if error is not None and not exc.custom:
                        log.warning("lua post script failed on a failed response (ignored): %s", exc)
                        if failure is not None:
                            raise failure from None
                        return response
                    raise
                finally:
                    table[REQUEST_ID] = table[STATE_ID] = table[DATA_ID] = None
            if failure is not None and (state is None or not state.handled):
                raise failure
            return response

        return lua_proxy

    return middleware


#: the ids of a setter run's objects, by slot (Handles hands out positive ids only)
REQUEST_ID: Final = -1 - REQUEST
STATE_ID: Final = -1 - RESPONSE
DATA_ID: Final = -1 - DATA


def _bound(plan: Plan | None) -> tuple[tuple[Accessor, tuple[Any, ...], bytes], ...]:
    """A plan's steps with their object's id as the accessor's first argument."""
    if plan is None:
        return ()
    return tuple((accessor, (-1 - slot, *args), where) for slot, accessor, args, where in plan.steps)
