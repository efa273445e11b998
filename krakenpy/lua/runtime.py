"""One sandboxed Lua 5.4 runtime (lupa), shared by every script with the same library and memory
settings, and the driver that runs a script as a coroutine.

Chunks are compiled once as ``function(_ENV, ...)`` and each request gets a fresh environment whose
``__index`` is the read-only sandbox globals: KrakenD's per-request isolation without a VM per
request. Runs execute on worker coroutines that are pooled and reused after a normal end (see
prelude.lua); a count hook on the worker enforces the instruction budget (a straight-line script
runs directly, with neither: :mod:`krakenpy.lua.scan`); lupa's ``max_memory`` caps the runtime.
``http_response.new`` yields to Python, which awaits the call on the event loop and resumes the
coroutine.

A run starts synchronously and nearly always ends within that one call into Lua, so the hot path
awaits nothing; only a run that yields (or fails) goes through :meth:`Runtime.settle`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import lupa.lua54 as lupa

from krakenpy.errors import PipelineError
from krakenpy.lua.bindings import Bindings, PostState
from krakenpy.lua.errors import LuaError, map_message
from krakenpy.lua.guard import MEMERR
from krakenpy.lua.handles import Handles, Scope
from krakenpy.lua.http import perform
from krakenpy.lua.phases import mapped, phases, text
from krakenpy.lua.scan import MIN_BUDGET, straight_line
from krakenpy.state import Key

if TYPE_CHECKING:
    from krakenpy.backends.client import UpstreamClient
    from krakenpy.proxy.types import Request
    from krakenpy.resources import Resources

__all__ = ["DEFAULT_MAX_INSTRUCTIONS", "DEFAULT_MAX_MEMORY", "Limits", "LuaCompileError", "Runtime", "runtime_for"]

DEFAULT_MAX_INSTRUCTIONS: Final = 10_000_000
DEFAULT_MAX_MEMORY: Final = 64 * 1024 * 1024
#: the count hook fires every HOOK_PERIOD instructions (the budget's granularity)
HOOK_PERIOD: Final = 10_000
#: lupa's stubs lack most constructor options (encoding, attribute_filter, max_memory...)
_LUA_RUNTIME: Any = lupa.LuaRuntime
#: a pattern function call runs in C when its worst-case step count is at most this (0.4-0.8 ms at
#: 4-8 ns a step) and an eighth of the budget left, charged as that many instructions; otherwise in
#: Lua, counted as it goes (see strlib.lua)
PATTERN_C_MAX: Final = 100_000
_HERE = Path(__file__).parent
_PRELUDE, _PATTERN, _STRLIB, _API = (
    (_HERE / name).read_bytes() for name in ("prelude.lua", "pattern.lua", "strlib.lua", "api.lua")
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-run limits of one script."""

    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS
    #: wall-clock seconds for one run (including its http_response calls); 0 = none
    timeout: float = 0.0


class LuaCompileError(Exception):
    """A chunk does not compile; ``str()`` is Lua's ``name:line: message``."""


def _deny_attributes(obj: Any, name: Any, setting: bool) -> NoReturn:
    # Python objects handed to Lua are opaque handles: no attribute may be read or written
    raise AttributeError("access to Python attributes is not allowed")


class Runtime:
    """A lupa runtime with the prelude loaded."""

    def __init__(self, http: UpstreamClient, *, open_libs: bool, max_memory: int) -> None:
        self.http = http
        self.max_memory = max_memory
        self.lua: Any = _LUA_RUNTIME(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=max_memory,
        )
        #: API object (Lua table) → the id of its Python object in ``objects``, or a marker
        lua_handles = self.lua.eval("setmetatable({}, {__mode = 'k'})")
        nil = self.lua.table()
        self.objects = Handles()
        self.bindings = Bindings(self.lua, lua_handles, nil, self.objects, max_memory)
        self.release = self.objects.release  # type: ignore[method-assign]
        prelude = self.lua.execute(b"return load(...)", _PRELUDE, b"@krakenpy/lua/prelude.lua", b"t")
        api = prelude(
            self.bindings.table(), lua_handles, nil, open_libs, HOOK_PERIOD, _PATTERN, _STRLIB, _API, PATTERN_C_MAX
        )
        self.bindings.store.use_lookup(api[b"handle_of"])
        self._compile = api[b"compile"]
        self._chain = api[b"chain"]
        self._runner = api[b"runner"]
        self._forget = api[b"forget"]
        self.kept: Any = api[b"kept"]  # how many records wait for their post (see prelude.lua)
        #: the sandbox's global names (what krakenpy.lua.scan must not let a script's local shadow)
        self.global_names = frozenset(n.decode() for n in api[b"global_names"]())
        self.open_libs = open_libs

    def compile(self, source: bytes, name: str) -> Any:
        """Compile ``source`` into a reusable ``function(_ENV, ...)``; :class:`LuaCompileError` if invalid."""
        fn, err = self._compile(source, name.encode())
        if fn is None:
            raise LuaCompileError((err or b"cannot compile").decode("utf-8", "replace"))
        return fn

    def chain(self, *fns: Any) -> Any:
        """One function running ``fns`` in order against the same env."""
        return self._chain(*fns)

    def runner(self, kind: str, fn: Any, limits: Limits, *, keep: bool = False, source: str | None = None) -> Any:
        """``fn`` bound to its budget as the runner of one phase: ``router``, ``pre`` (``keep``: a post
        follows, in the same env) or ``post``; what :meth:`router`, :meth:`pre` and :meth:`post` run.
        ``source``: ``fn``'s whole code, when it is one inline chunk; a straight-line one runs without the
        count hook (:mod:`krakenpy.lua.scan`)."""
        hooked = (
            source is None
            or self.open_libs
            or limits.max_instructions < MIN_BUDGET
            or not straight_line(source, self.global_names)
        )
        return self._runner(kind.encode(), fn, limits.max_instructions, keep, hooked)

    # A phase starts synchronously and usually ends in that same call: the result is then one value
    # (pre: the request's handle when the runner keeps its record for post; otherwise True). A tuple
    # means the run is not over (an http_response.new call) or failed: ``await settle(scope, result,
    # limits)`` finishes it. ``scope`` collects the ids of the objects the request hands to Lua: pass
    # the same list to every phase of one request, and to :meth:`release` once the request is done.
    # A deadline crosses only when the script has a timeout (every argument that crosses costs).

    def router(self, scope: Scope, request: Request, run: Any, limits: Limits) -> Any:
        """Start a router-level run (``ctx``)."""
        return self.pre(scope, request, run, limits)

    def pre(self, scope: Scope, request: Request, run: Any, limits: Limits) -> Any:
        """Start a proxy/backend ``pre`` run (``request``) with a ``pre`` (or ``router``) runner."""
        objects = self.objects
        objects.scope = scope
        timeout = limits.timeout
        try:
            if not timeout:
                return run(objects.ref(request))
            return run(objects.ref(request), time.monotonic() + timeout)
        except lupa.LuaError as exc:
            raise mapped(exc) from None

    def post(self, scope: Scope, kept: int | None, request: Request, state: PostState, run: Any, limits: Limits) -> Any:
        """Start a ``post`` run: in the record pre kept (``kept``, what pre returned) or a new one."""
        objects = self.objects
        objects.scope = scope
        handle = kept if kept is not None else objects.ref(request)
        timeout = limits.timeout
        try:
            # the data dict's id is the state's plus one (one call, one argument fewer)
            if not timeout:
                return run(handle, objects.ref_two(state, state.response.data))
            return run(handle, objects.ref_two(state, state.response.data), time.monotonic() + timeout)
        except lupa.LuaError as exc:
            raise mapped(exc) from None

    def phases(self, limits: Limits) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """:meth:`pre` and :meth:`post` for one script's ``limits``, as plain functions with the handle
        bookkeeping (:meth:`Handles.ref`) inline: the proxy middleware's per-request path runs one Python
        frame per phase instead of three (compiled: :mod:`krakenpy.lua.phases`)."""
        return phases(self.objects, limits.timeout)

    def forget(self, kept: int) -> None:
        """Drop the record pre kept for a post that will not run (the next layer raised, or was cancelled)."""
        self._forget(kept)

    def release(self, scope: Scope) -> None:
        """The request is over: its objects are no longer Lua's."""
        self.objects.release(scope)  # the instance binds Handles.release directly (one call fewer)

    async def settle(self, scope: Scope, result: tuple[Any, ...], limits: Limits) -> Any:
        """Finish a run that did not end in one go; return its value or raise :class:`LuaError` / :class:`LuaExit`."""
        try:
            if result[0] == b"http":
                if not limits.timeout:
                    result = await self._serve_http(scope, result)
                else:
                    async with asyncio.timeout_at(asyncio.get_running_loop().time() + limits.timeout):
                        result = await self._serve_http(scope, result)
        except TimeoutError:
            raise LuaError("lua: script exceeded its time limit") from None
        except lupa.LuaError as exc:
            raise mapped(exc) from None
        return self.outcome(result)

    async def _serve_http(self, scope: Scope, result: Any) -> Any:
        objects = self.objects
        held = 0  # response bodies this run holds: bounded like the Lua memory they end up in
        while type(result) is tuple and result[0] == b"http":
            resume = result[1]
            try:
                answer = await perform(self.http, self.bindings.store, result[2:])
                held += len(answer.body)
                if held > self.max_memory:
                    raise ValueError(f"http_response.new: the responses of this run exceed max_memory ({held} bytes)")
            except (PipelineError, ValueError) as exc:
                objects.scope = scope
                message = str(exc).encode("utf-8", "surrogateescape")
                # the message names what was refused (a header built from request data may be large):
                # resumed into Lua near the cap, its copy failed outside any protected call and Lua
                # aborted the process; Lua's own (interned) memory error instead
                guard = self.bindings.guard
                if guard is not None and guard.refuses(message):
                    message = MEMERR
                result = resume(False, message)
            else:
                objects.scope = scope
                result = resume(True, objects.ref(answer))
        return result

    def outcome(self, result: Any) -> Any:
        """A run's result: one value is returned; a tuple (``"error"``, message[, status]; ``"custom"``...) raised."""
        if type(result) is not tuple:
            return result
        status = result[0]
        if status == b"custom":
            message, code, content_type = (tuple(result[1:]) + (None, None, None))[:3]
            code = int(code) if isinstance(code, int | float) else None
            raise LuaError(
                text(message),
                status=code,
                content_type=text(content_type) if content_type is not None else None,
                custom=True,
            )
        if status == b"exit":
            raise self.objects.objects[result[1]]  # a LuaExit, built when the script called exit
        message = text(result[1]) if len(result) > 1 else "lua error"
        if message == "not enough memory":
            message = "lua: not enough memory"
        status = result[2] if len(result) > 2 and type(result[2]) is int else None
        raise LuaError(map_message(message), status=status)


#: the gateway's runtimes by (open libs, memory cap)
RUNTIMES: Final = Key("lua runtimes", dict)


def runtime_for(resources: Resources, *, open_libs: bool, max_memory: int) -> Runtime:
    """The gateway's runtime for these settings (created on first use; a small pool per worker)."""
    runtimes: dict[tuple[bool, int], Runtime] = resources.state.setdefault(RUNTIMES, dict)
    key = (open_libs, max_memory)
    runtime = runtimes.get(key)
    if runtime is None:
        runtime = runtimes[key] = Runtime(resources.http, open_libs=open_libs, max_memory=max_memory)
    return runtime
