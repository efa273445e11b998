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
from krakenpy.lua.bindings import PostState, error_status
from krakenpy.lua.convert import Kind
from krakenpy.lua.errors import LuaError
from krakenpy.lua.guard import Guard
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
#: a phase's run: the plan's calls made, an error result raised as the runtime's outcome
Run = Callable[[], object]


def _phase(plan: Plan | None, outcome: Callable[[Any], Any], guard: Guard | None, *, bare: bool = False) -> Run | None:
    """The run of one phase's plan (None when it does nothing), bound once per script; ``guard``: the
    memory guard a setter's error message must pass, as Lua's guarded call of the setter asks. ``bare``:
    a chunk without locals to clear is returned as it is, its caller handling :class:`Returned` and
    :class:`Fault` (one Python call fewer per phase: ~0.2 k machine instructions compiled)."""
    if plan is None:
        return None
    if plan.chunk is not None:  # the subset's compiled chunk (krakenpy.lua.subset)
        chunk, clear = plan.chunk, plan.clear
        if bare and not clear:
            return chunk

        def run_chunk() -> None:
            try:
                chunk()
            except Returned:
                pass
            except Fault as fault:
                outcome(fault.args[0])
            finally:
                for cell in clear:  # the locals (a data dict, a header, a body): not kept
                    cell[0] = None

        return run_chunk
    # the steps with their object's id bound as the accessor's first argument
    steps = tuple((accessor, (IDS[slot], *args), where) for slot, accessor, args, where in plan.steps)
    if not steps:
        return None

    def run_steps() -> None:
        for accessor, args, where in steps:
            result = accessor(*args)
            # a setter's result is nothing or an error (api.lua's wrapper: fail(msg, status) at the line);
            # a setter never hands out an object of its own (only getters do), so no scope is needed
            if result is not None and result[0] == Kind.ERROR:
                message = result[1]
                if message == _MEMERR or (guard is not None and guard.refuses_failure(message, where)):
                    outcome((b"error", _MEMERR))
                else:
                    outcome((b"error", where + message, *result[2:]))

    return run_steps


def router_setters_middleware(script: Script, steps: Plan, *, service_level: bool) -> Middleware:
    """``modifier/lua-endpoint``: ``pre``'s ``ctx`` setter calls made from Python, then the endpoint."""
    table = script.runtime.objects.objects
    run = _phase(steps, script.runtime.outcome, script.runtime.bindings.guard)
    ctx_id = IDS[CTX]

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_router(request: Request) -> Response:
            if run is not None:
                table[ctx_id] = request
                try:
                    run()
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
    outcome, guard = runtime.outcome, runtime.bindings.guard
    pre = _phase(setters.pre, outcome, guard, bare=True)
    post = _phase(setters.post, outcome, guard, bare=True)
    has_post = setters.post is not None
    # post puts in place only the objects its plan uses (P3-general's post: the response and its data,
    # not the request): each object table write costs ~0.3 k machine instructions, two per object
    used = setters.post.slots if setters.post is not None else frozenset()
    with_request, with_state, with_data = REQUEST in used, RESPONSE in used, DATA in used

    def middleware(next_proxy: Proxy) -> Proxy:
        async def lua_proxy(request: Request) -> Response:
            if pre is not None:
                table[REQUEST_ID] = request
                try:
                    pre()
                except Returned:
                    pass
                except Fault as fault:
                    outcome(fault.args[0])
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
            if post is not None:
                if with_request:
                    table[REQUEST_ID] = request
                if with_state:
                    table[STATE_ID] = state
                if with_data:
                    table[DATA_ID] = response.data
                try:
                    post()
                except Returned:
                    pass
                except (Fault, LuaError) as caught:
                    lua_error = caught if isinstance(caught, LuaError) else _raised(outcome, caught)
                    if error is not None and not lua_error.custom:
                        log.warning("lua post script failed on a failed response (ignored): %s", lua_error)
                        if failure is not None:
                            raise failure from None
                        return response
                    if lua_error is caught:
                        raise
                    raise lua_error from None
                finally:
                    if with_request:
                        table[REQUEST_ID] = None
                    if with_state:
                        table[STATE_ID] = None
                    if with_data:
                        table[DATA_ID] = None
            if failure is not None and (state is None or not state.handled):
                raise failure
            return response

        return lua_proxy

    return middleware


def _raised(outcome: Callable[[Any], Any], fault: Fault) -> LuaError:
    """The error ``outcome`` raises for a chunk's fault (a tuple result: it always raises)."""
    try:
        outcome(fault.args[0])
    except LuaError as exc:
        return exc
    raise AssertionError("a fault's outcome raises")  # pragma: no cover


REQUEST_ID: Final = IDS[REQUEST]
STATE_ID: Final = IDS[RESPONSE]
DATA_ID: Final = IDS[DATA]
