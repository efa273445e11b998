"""One ``modifier/lua-*`` configuration compiled: options, source files (md5, ``live`` reload) and
the pre/post chains, built once at startup."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.files import read_bounded
from krakenpy.lua.errors import LuaError, map_message
from krakenpy.lua.runtime import (
    DEFAULT_MAX_INSTRUCTIONS,
    DEFAULT_MAX_MEMORY,
    Limits,
    LuaCompileError,
    Runtime,
    runtime_for,
)
from krakenpy.lua.scan import MIN_BUDGET
from krakenpy.lua.setters import Plan, plan

if TYPE_CHECKING:
    from krakenpy.resources import Resources

__all__ = ["Chains", "LuaOptions", "Script", "Setters", "build_script", "compile_script", "parse_options"]

log = logging.getLogger("krakenpy.lua")


@dataclass(frozen=True, slots=True)
class LuaOptions:
    """The namespace fields (krakend-lua ``config.go``) plus krakenpy's limits."""

    sources: tuple[str, ...] = ()
    pre: str = ""
    post: str = ""
    live: bool = False
    allow_open_libs: bool = False
    skip_next: bool = False
    md5: Mapping[str, str] | None = None
    limits: Limits = Limits()
    max_memory: int = DEFAULT_MAX_MEMORY


def parse_options(raw: Any, where: str) -> LuaOptions:
    """Validate the namespace value; bad fields raise :class:`ConfigError` (KrakenD silently disables)."""
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(where, "expected an object")])
    issues: list[ConfigIssue] = []

    def typed(key: str, kind: type, default: Any) -> Any:
        value = raw.get(key, default)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            issues.append(ConfigIssue(f"{where}.{key}", f"expected {kind.__name__}, got {value!r}"))
            return default
        return value

    sources = typed("sources", list, [])
    md5 = typed("md5", dict, {})
    for path, digest in md5.items():
        if not isinstance(digest, str):
            issues.append(ConfigIssue(f"{where}.md5.{path}", "expected a hex md5 string"))
    timeout = 0.0
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"])
        except (TypeError, ValueError) as exc:
            issues.append(ConfigIssue(f"{where}.timeout", str(exc)))
    options = LuaOptions(
        sources=tuple(s for s in sources if isinstance(s, str)),  # KrakenD skips non-strings
        pre=typed("pre", str, ""),
        post=typed("post", str, ""),
        live=typed("live", bool, False),
        allow_open_libs=typed("allow_open_libs", bool, False),
        skip_next=typed("skip_next", bool, False),
        md5=md5 or None,
        limits=Limits(max_instructions=typed("max_instructions", int, DEFAULT_MAX_INSTRUCTIONS), timeout=timeout),
        max_memory=typed("max_memory", int, DEFAULT_MAX_MEMORY),
    )
    if options.limits.max_instructions < 1 or options.max_memory < 1024 * 1024:
        issues.append(ConfigIssue(where, "max_instructions must be >= 1 and max_memory >= 1 MiB"))
    if issues:
        raise ConfigError(issues)
    return options


@dataclass(frozen=True, slots=True)
class Chains:
    """What one request runs, as runners (:meth:`Runtime.runner`): ``pre`` (sources + pre) at the proxy
    and backend levels, ``router`` (the same code) at the router level, ``post`` after a pre ran,
    ``post_alone`` otherwise."""

    pre: Any
    router: Any
    post: Any
    post_alone: Any


@dataclass(frozen=True, slots=True)
class Setters:
    """The proxy/backend phases as setter plans (:mod:`krakenpy.lua.setters`); None where a phase has no code."""

    pre: Plan | None
    post: Plan | None


class _Source:
    __slots__ = ("fn", "name", "path", "spec", "stamp")

    def __init__(self, spec: str, base_dir: Path) -> None:
        #: the path as configured (the ``md5`` key); ``name`` is what errors show (KrakenD: the base name)
        self.spec = spec
        self.path = base_dir / spec
        name = os.path.basename(spec)
        self.name = name
        self.stamp: tuple[int, int] = (0, 0)
        self.fn: Any = None


class Script:
    """Compiled sources and pre/post code of one namespace value."""

    def __init__(self, options: LuaOptions, runtime: Runtime, base_dir: Path, where: str) -> None:
        self.options = options
        self.runtime = runtime
        self.limits = options.limits
        self._where = where
        self._sources = [_Source(s, base_dir) for s in options.sources]
        # every failure of the block at once (pre, post, each source), each at its own path
        issues: list[ConfigIssue] = []
        self._pre = self._compile_inline(options.pre, "pre-script", "pre", issues)
        self._post = self._compile_inline(options.post, "post-script", "post", issues)
        for i, source in enumerate(self._sources):
            try:
                self._load(source, check_md5=not options.live)
            except (OSError, LuaCompileError, ValueError) as exc:
                issues.append(ConfigIssue(f"{where}.sources[{i}]", _describe(source, exc)))
        if issues:
            raise ConfigError(issues)
        self.chains = self._link()
        #: both phases as setter plans, run without Lua by the proxy/backend middleware, and ``pre`` as
        #: the router level's (``ctx``); None if a phase is more than setters, or its limits could stop it
        self.setters, self.router_setters = self._setters()

    def _setters(self) -> tuple[Setters | None, Plan | None]:
        options, limits, runtime = self.options, self.limits, self.runtime
        if self._sources or options.allow_open_libs or limits.timeout or limits.max_instructions < MIN_BUDGET:
            return None, None
        bindings, names, objects = runtime.bindings, runtime.global_names, runtime.objects.objects
        accessors, guard = bindings.accessors, bindings.guard
        pre, post, router = (
            plan(code.encode(), name, phase, accessors, names, objects, guard) if code else None
            for code, name, phase in (
                (options.pre, "pre-script", "pre"),
                (options.post, "post-script", "post"),
                (options.pre, "pre-script", "router"),
            )
        )
        both = not (options.pre and pre is None) and not (options.post and post is None)
        return (Setters(pre, post) if both else None), router

    def _compile_inline(self, code: str, name: str, key: str, issues: list[ConfigIssue]) -> Any:
        """``code`` compiled; None when there is none, or when it does not compile (said on ``issues``)."""
        if not code:
            return None
        try:
            return self.runtime.compile(code.encode(), name)
        except LuaCompileError as exc:
            issues.append(ConfigIssue(f"{self._where}.{key}", f"lua syntax error: {exc}"))
            return None

    def _load(self, source: _Source, *, check_md5: bool) -> None:
        stat = source.path.stat()
        data = read_bounded(source.path)  # regular files only, bounded: OSError otherwise
        if check_md5 and self.options.md5:
            expected = self.options.md5.get(source.spec)
            if expected is not None and hashlib.md5(data).hexdigest() != expected.lower():
                raise ValueError(f"md5 mismatch for {source.name}")
        source.fn = self.runtime.compile(data, source.name)
        source.stamp = (stat.st_mtime_ns, stat.st_size)

    def _link(self) -> Chains:
        fns = [s.fn for s in self._sources]
        runtime, limits = self.runtime, self.limits
        # inline code alone is scanned for the count hook (see krakenpy.lua.scan), sources are not; post
        # runs in pre's env, where pre may have defined functions: it is scanned along with pre
        pre_code = self.options.pre if not fns and self._pre is not None else None
        post_code = self.options.post if not fns else None
        post_after_pre = f"{pre_code}\n{self.options.post}" if pre_code is not None else None
        chain = runtime.chain
        pre = chain(*fns, self._pre) if self._pre is not None else (chain(*fns) if fns and not self._post else None)
        post = self._post
        post_alone = chain(*fns, post) if post is not None and fns else post
        if pre is None:
            return Chains(
                pre=None,
                router=None,
                post=post and runtime.runner("post", post, limits, source=post_code),
                post_alone=post_alone and runtime.runner("post", post_alone, limits, source=post_code),
            )
        return Chains(
            pre=runtime.runner("pre", pre, limits, keep=post is not None, source=pre_code),
            router=runtime.runner("router", pre, limits, source=pre_code),
            post=post and runtime.runner("post", post, limits, source=post_after_pre),
            post_alone=post_alone and runtime.runner("post", post_alone, limits, source=post_code),
        )

    def current(self) -> Chains:
        """The chains to run now; with ``live``, changed files are re-read and recompiled first."""
        if not self.options.live:
            return self.chains
        changed = False
        for source in self._sources:
            try:
                stat = source.path.stat()
                if (stat.st_mtime_ns, stat.st_size) != source.stamp:
                    self._load(source, check_md5=False)
                    changed = True
            except (OSError, LuaCompileError) as exc:
                # the request fails (KrakenD: "unable to load required source"); the next one retries
                raise LuaError(map_message(_describe(source, exc))) from None
        if changed:
            self.chains = self._link()
        return self.chains


def _describe(source: _Source, exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"lua: unable to load required source {source.path}: {exc.strerror or exc}"
    if isinstance(exc, LuaCompileError):
        return f"lua syntax error: {exc}"
    return f"lua: {exc}"


def build_script(raw: Any, resources: Resources, where: str) -> Script:
    """Parse and compile one namespace value (``where`` is its JSON path, for errors)."""
    return compile_script(parse_options(raw, where), resources, where)


def compile_script(options: LuaOptions, resources: Resources, where: str) -> Script:
    """Load and compile parsed options on the gateway's runtime (``where`` is their JSON path)."""
    runtime = runtime_for(resources, open_libs=options.allow_open_libs, max_memory=options.max_memory)
    return Script(options, runtime, resources.base_dir, where)
