"""The Lua middlewares for scripts that are setter plans (:mod:`krakenpy.lua.setters`): the same steps
and outcomes as :mod:`krakenpy.lua.modifier`'s, without a call into Lua.

P3's pair through the ``modifier/lua-proxy`` middleware (``python -m bench.lua_instructions proxy
2000``): see bench/README.md § "Setter scripts without Lua".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import PipelineError
from krakenpy.lua.api.request import BAD_INPUT
from krakenpy.lua.api.store import Accessor
from krakenpy.lua.bindings import PostState, error_status
from krakenpy.lua.convert import Kind
from krakenpy.lua.errors import LuaError
from krakenpy.lua.setters import CTX, DATA, IDS, REQUEST, RESPONSE, Plan
from krakenpy.lua.subset_ops import Returned
from krakenpy.lua.subset_values import Fault
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

if TYPE_CHECKING:
    from krakenpy.lua.script import Script, Setters

__all__ = ["router_setters_middleware", "setters_middleware"]

log = logging.getLogger("krakenpy.lua")

#: an accessor's out-of-memory error: raised without a position (prelude.lua's ``fail``)
_MEMERR: Final = b"not enough memory"
#: a plan's steps with their object's id bound as the accessor's first argument; or a subset plan
Bound = tuple[tuple[Accessor, tuple[Any, ...], bytes], ...] | Plan


def _runner(outcome: Callable[[Any], Any]) -> Callable[[Bound], None]:
    def run(steps: Bound) -> None:
        if isinstance(steps, Plan):  # the subset's compiled chunk (krakenpy.lua.subset)
            chunk: Any = steps.chunk
            try:
                chunk()
            except Returned:
                pass
            except Fault as fault:
                outcome(fault.args[0])
            finally:
                for cell in steps.clear:  # a value that may hold the response's data: not kept
                    cell[0] = None
            return
        for accessor, args, where in steps:
            result = accessor(*args)
            # a setter's result is nothing or an error (api.lua's wrapper: fail(msg, status) at the line);
            # a setter never hands out an object of its own (only getters do), so no scope is needed
            if result is not None and result[0] == Kind.ERROR:
                message = result[1]
                outcome((b"error", message) if message == _MEMERR else (b"error", where + message, *result[2:]))

    return run


def router_setters_middleware(script: Script, steps: Plan, *, service_level: bool) -> Middleware:
    """``modifier/lua-endpoint``: ``pre``'s ``ctx`` setter calls made from Python, then the endpoint."""
    table = script.runtime.objects.objects
    run = _runner(script.runtime.outcome)
    bound = _bound(steps)
    ctx_id = IDS[CTX]

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_router(request: Request) -> Response:
            if bound:
                table[ctx_id] = request
                try:
                    run(bound)
                except LuaError as exc:
                    # as krakenpy.lua.modifier.router_middleware: the service level answers 500, except
                    # for a client value the API refused (400)
                    if service_level and (exc.custom or exc.status != BAD_INPUT):
                        raise LuaError(str(exc)) from None
                    raise
                finally:
                    table[ctx_id] = None
            return await next_proxy(request)

        return lua_router

    return middleware


def setters_middleware(script: Script, setters: Setters) -> Middleware:
    """``pre``, next (unless ``skip_next``), ``post``, each phase's accessor calls made from Python."""
    runtime = script.runtime
    table = runtime.objects.objects
    skip_next = script.options.skip_next
    # A run is synchronous (a setter cannot yield), so its objects take the ids reserved for setter runs
    # (krakenpy.lua.setters.IDS): put in place before the run, cleared after it, no scope to release;
    # the ids are bound into each step's arguments once, here (the P3 pair: -2.6 k machine instructions
    # against ids handed out per request)
    pre = _bound(setters.pre)
    post = _bound(setters.post)
    has_post = setters.post is not None
    with_state = setters.post is not None and RESPONSE in setters.post.slots

    run = _runner(runtime.outcome)

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


REQUEST_ID: Final = IDS[REQUEST]
STATE_ID: Final = IDS[RESPONSE]
DATA_ID: Final = IDS[DATA]


def _bound(plan: Plan | None) -> Bound:
    """A plan's steps with their object's id as the accessor's first argument (a subset plan: itself)."""
    if plan is None:
        return ()
    if plan.chunk is not None:
        return plan
    return tuple((accessor, (IDS[slot], *args), where) for slot, accessor, args, where in plan.steps)
