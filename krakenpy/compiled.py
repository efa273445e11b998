"""Which of krakenpy's hot-path modules run compiled by mypyc (a wheel built where a C compiler and
Python's headers were present, or ``make compile`` in a checkout) and which run as Python.

:data:`HOT_MODULES` is the list ``setup.py`` compiles; this module itself stays Python (``setup.py``
reads it without importing the package). Compiled or not, the modules behave the same: the tests run
on both builds.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os

__all__ = ["HOT_MODULES", "NATIVE_MODULES", "in_checkout", "leftovers", "native", "status", "summary"]

#: the modules a P1/P2 request spends its Python time in (``bench.instructions --opcodes``), compiled
#: together into one extension group so that calls between them are native calls
HOT_MODULES = (
    "krakenpy.flowcontrol",
    "krakenpy.edge",
    "krakenpy.gojson",
    "krakenpy.server.connection",
    "krakenpy.server.lifecycle",
    "krakenpy.server.wire",
    "krakenpy.server.handler",
    "krakenpy.server.request",
    "krakenpy.server.response",
    "krakenpy.server.render",
    "krakenpy.backends.fastwire",
    "krakenpy.backends.fastclient",
    "krakenpy.backends.fasttiming",
    # the metrics row's CallTiming (one per upstream call when detailed_connection or read_payload is
    # on, KrakenD's default): as a Python class ~1.9 k instructions to make (round 9, `tellayers`)
    "krakenpy.backends.conntiming",
    "krakenpy.backends.quickanswer",
    "krakenpy.backends.http",
    "krakenpy.backends.encoding",
    "krakenpy.proxy.driven",
    "krakenpy.proxy.merging",
    "krakenpy.proxy.request_builder",
    "krakenpy.proxy.deadline",
    "krakenpy.proxy.formatter",
    "krakenpy.proxy.types",
    "krakenpy.proxy.flatmap",
    # telemetry: logs and metrics (what the default row, access log + request id, and the metrics
    # row run per request: the edge layers, the proxy, backend and client layers, the ids, the gin
    # line and its writer, the metric slots). The layers build their per-request coroutines in
    # module-level factories (or as methods): nested two functions deep, mypy 2.4's mypyc miscompiled
    # them (the first call failed: "attribute 'observed' of 'lean_proxy_middleware_env' undefined")
    "krakenpy.telemetry.ids",
    "krakenpy.telemetry.exchange",
    "krakenpy.telemetry.clientip",
    "krakenpy.telemetry.ginline",
    "krakenpy.telemetry.writer",
    # the path-parameter masks the edge layers call per request once an endpoint has a sensitive one
    # (interpreted, ~4.7 k instructions a request of such a route: round 29)
    "krakenpy.telemetry.pathmask",
    "krakenpy.telemetry.layers.edge_lean",
    "krakenpy.telemetry.layers.edge_metered",
    "krakenpy.telemetry.layers.edge_traced",
    "krakenpy.telemetry.layers.endpoint",
    "krakenpy.telemetry.layers.backend",
    "krakenpy.telemetry.layers.client",
    "krakenpy.telemetry.layers.client_timing",
    "krakenpy.telemetry.layers.record",
    "krakenpy.telemetry.metrics.slots",
    "krakenpy.telemetry.metrics.client_slot",
    # the /__stats window histograms' fold (algorithm L's skips and weights: interpreted, ~125 Python
    # opcodes a request of the metrics row once a window's reservoir is full, 2026-12-02, round 11,
    # branch `metrics3`, `bench.instructions --opcodes`)
    "krakenpy.telemetry.metrics.stats",
    # telemetry: traces (a sampled request's trace context, span ids and records, and the exporter's
    # encoding of them, the span buffer included; the sampler, trace/sampler.py, stays Python:
    # OpenCensus subclasses it)
    "krakenpy.telemetry.trace.context",
    "krakenpy.telemetry.trace.spans",
    "krakenpy.telemetry.trace.otlptext",
    "krakenpy.telemetry.trace.otlpproto",
    "krakenpy.telemetry.trace.templates",
    "krakenpy.telemetry.otlp",
    # lua: what a P3 request runs when its scripts run without the VM (setter plans, the subset's
    # compiled closures), the accessors they call and the max_memory guard both they and Lua's calls ask;
    # for scripts that run in the VM, the proxy middleware and its phase starts (bench/README.md § "Lua
    # on the compiled path", and round 9's `luabind`)
    "krakenpy.lua.guard",
    "krakenpy.lua.phases",
    "krakenpy.lua.modifier",
    "krakenpy.lua.setters_run",
    "krakenpy.lua.subset_ops",
    "krakenpy.lua.subset_values",
    "krakenpy.lua.api.store",
    "krakenpy.lua.api.args",
    "krakenpy.lua.api.headers",
    "krakenpy.lua.api.request",
    "krakenpy.lua.api.response",
    "krakenpy.lua.api.lua_table",
)

#: the shared library (in the package) that holds the compiled code of all of them
GROUP = "krakenpy.hot__mypyc"

#: hand-written C extensions built with the hot modules (under the same rules, ``setup.py``), each an
#: optional fast path beside the Python code that stays the reference and the fallback: the OTLP span
#: encoder (``krakenpy/telemetry/trace/_spanwire.c``, used by ``otlp.spans_proto`` when it imports) and
#: the gin access-log batch writer (``krakenpy/telemetry/_ginwire.c``, used by ``ginline.gin_renderer``)
NATIVE_MODULES = ("krakenpy.telemetry.trace._spanwire", "krakenpy.telemetry._ginwire")


def _extension(name: str) -> str | None:
    """Where module ``name`` imports from when that is a compiled extension, else None."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    if origin is None or not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return None
    return origin


def _newer(source: str, origin: str, built: float = 0.0) -> bool:
    """Whether ``source`` was written after the extension at ``origin`` (and after ``built``); false when
    either cannot be read (a wheel may ship an extension without its source)."""
    try:
        return os.path.getmtime(source) > max(built, os.path.getmtime(origin))
    except OSError:
        return False


def native() -> tuple[list[str], list[str]]:
    """(the :data:`NATIVE_MODULES` that import here as extensions, those of them built in place before
    their C source was edited), as :func:`status` for the hot modules."""
    found: list[str] = []
    stale: list[str] = []
    checkout = in_checkout()
    for name in NATIVE_MODULES:
        origin = _extension(name)
        if origin is None:
            continue
        found.append(name)
        source = os.path.join(os.path.dirname(origin), name.rsplit(".", 1)[1] + ".c")
        if checkout and _newer(source, origin):
            stale.append(name)
    return found, stale


def status() -> tuple[list[str], list[str]]:
    """(the hot modules that import as compiled extensions, those of them older than their ``.py``).

    A stale extension is one built in place (``make compile``) before its source was edited: Python
    still prefers it to the ``.py`` beside it."""
    compiled: list[str] = []
    stale: list[str] = []
    # only an in-place build can go stale: pip writes an installed wheel's files in its own order, and a
    # .py written a moment after the extensions would read as newer than them
    checkout = in_checkout()
    # each module's extension is a shim that a rebuild may leave untouched: the code is in the group's
    runtime = importlib.util.find_spec(GROUP)
    built = os.path.getmtime(runtime.origin) if runtime is not None and runtime.origin else 0.0
    for name in HOT_MODULES:
        origin = _extension(name)
        if origin is None:
            continue
        compiled.append(name)
        source = os.path.join(os.path.dirname(origin), name.rsplit(".", 1)[1] + ".py")
        if checkout and _newer(source, origin, built):
            stale.append(name)
    return compiled, stale


def in_checkout(root: str | None = None) -> bool:
    """Whether the package (``root``) sits in a source checkout (``setup.py`` beside it), where
    ``make compile`` builds in place, rather than installed."""
    base = root or os.path.dirname(os.path.abspath(__file__))
    return os.path.isfile(os.path.join(os.path.dirname(base), "setup.py"))


def leftovers(root: str | None = None) -> list[str]:
    """The extension modules under the package (``root``) that are neither hot modules nor the group
    library: left by an in-place build from before a module left :data:`HOT_MODULES`, they would
    still win the import over the ``.py`` beside them."""
    base = root or os.path.dirname(os.path.abspath(__file__))
    known = {*HOT_MODULES, GROUP, *NATIVE_MODULES}
    found: list[str] = []
    for folder, _, files in os.walk(base):
        for file in files:
            suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if file.endswith(s)), None)
            if suffix is None:
                continue
            parts = os.path.relpath(os.path.join(folder, file[: -len(suffix)]), os.path.dirname(base))
            name = parts.replace(os.sep, ".")
            if name not in known:
                found.append(name)
    return sorted(found)


def summary() -> str:
    """One line: ``compiled (mypyc, N of M hot modules)``, ``pure Python``, the native extensions that
    import (`` and native (_spanwire)``), stale and left-over ones named."""
    compiled, stale = status()
    line = f"compiled (mypyc, {len(compiled)} of {len(HOT_MODULES)} hot modules)" if compiled else "pure Python"
    built, stale_native = native()
    if built:
        names = ", ".join(name.rsplit(".", 1)[1] for name in built)
        # no ";": what follows one names stale or left-over extensions (the packaging test's check)
        line += f" and native ({names})" if compiled else f" but native ({names})"
        stale = stale + stale_native
    if stale:
        line += f"; stale, older than their source (make compile or make clean-compiled): {', '.join(stale)}"
    extra = leftovers()
    if extra:
        line += f"; left over, not hot modules (make clean-compiled): {', '.join(extra)}"
    return line
