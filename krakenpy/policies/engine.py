"""Compile a ``security/policies`` section once; evaluate it per request.

A section (``req``, ``resp``, ``jwt``) gets its own CEL environment: the variables of its context
(``req_*``; ``resp_*``; ``JWT``) and ``now``, plus the advanced macros unless ``disable_macros``.
Everything that does not compile is a configuration error at the policy's JSON path, a reference
the section cannot see or a macro krakenpy lacks included: a policy must never be silently false
(nor silently skipped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from cel_expr_python import cel

from krakenpy.cel.engine import VARIABLES, Program
from krakenpy.cel.variables import REQUEST, RESPONSE, TOKEN, Binder, Getter, binder
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.gojson import valid_text
from krakenpy.policies.macros import CURRENT, MACROS, declarations
from krakenpy.proxy.types import Request

__all__ = ["JWT", "REQ", "RESP", "SECTIONS", "Section", "compile_section"]

REQ: Final = "req"
RESP: Final = "resp"
JWT: Final = "jwt"
SECTIONS: Final = (REQ, RESP, JWT)
_GETTERS: Final[Mapping[str, Mapping[str, Getter]]] = {REQ: REQUEST, RESP: RESPONSE, JWT: TOKEN}
_UNDECLARED: Final = re.compile(r"undeclared reference to '([^']+)'")
_NO_OVERLOAD: Final = re.compile(r"found no matching overload for '([^']+)'")


def _first_line(message: str) -> str:
    # cel-cpp prefixes "INVALID_ARGUMENT: ERROR: <input>:1:5: " and appends the source with a caret
    text = message.split("\n", 1)[0]
    for prefix in ("INVALID_ARGUMENT: ", "ERROR: "):
        text = text.removeprefix(prefix)
    return text.strip()


@cache
def _env(section: str, macros: bool) -> Any:
    names = (*_GETTERS[section], "now")
    return cel.NewEnv(
        variables={name: VARIABLES[name] for name in names},
        functions=declarations() if macros else None,
    )


def _explain(message: str, section: str, macros: bool) -> str:
    """A type-check failure in the words of a policy author."""
    first = _first_line(message)
    found = _UNDECLARED.search(first)
    if found:
        name = found.group(1)
        if name in MACROS and not macros:
            return f"advanced macro '{name}' used while disable_macros is true"
        root = name.split(".", 1)[0]
        if root in VARIABLES:
            return f"'{root}' is not available in {section} policies (they see {', '.join(_GETTERS[section])}, now)"
        return f"unknown function, macro or variable '{name}' (krakenpy's macros: {', '.join(MACROS)})"
    return first


@dataclass(frozen=True, slots=True)
class Section:
    """The compiled policies of one section and the binder of the variables they use."""

    name: str
    programs: tuple[Program, ...]
    bind: Binder
    wants_now: bool
    #: the macros read the request: the evaluator binds it only when a policy calls one
    wants_request: bool
    env: Any

    def first_failure(self, source: Any, request: Request | None, now: str) -> tuple[int, str] | None:
        """``None`` when every policy is true, else (index of the first that is not, why)."""
        values = self.bind(source, now)
        try:
            return self._run(values, request)
        except RuntimeError:
            # cel-cpp cannot hold surrogate escapes (client bytes that are not UTF-8): as krakenpy.cel
            # does, again with each such byte as U+FFFD; only such requests pay for the copy
            try:
                return self._run(valid_text(values), request)
            except RuntimeError as exc:
                return 0, f"evaluation error: {_first_line(str(exc))}"

    def _run(self, values: Mapping[str, Any], request: Request | None) -> tuple[int, str] | None:
        try:
            activation = self.env.Activation(values)
        except RuntimeError:
            raise
        except Exception as exc:  # a value the engine cannot convert: fail closed
            return 0, f"cannot bind the variables: {type(exc).__name__}"
        if self.wants_request:
            CURRENT.request = request
        try:
            for index, program in enumerate(self.programs):
                ok, why = program.evaluate(activation)
                if not ok:
                    return index, why
        finally:
            CURRENT.request = None
        return None


def _compile_one(env: Any, path: str, source: str, section: str, macros: bool) -> Any:
    try:
        env.compile(source, disable_check=True)
    except RuntimeError as exc:
        raise ConfigError([ConfigIssue(path, f"policy syntax error: {_first_line(str(exc))}")]) from None
    try:
        expr = env.compile(source)
    except RuntimeError as exc:
        why = _explain(str(exc), section, macros)
        raise ConfigError([ConfigIssue(path, f"policy does not type-check: {why}")]) from None
    try:
        env.compile(f"({source}) == true")
    except RuntimeError:
        raise ConfigError([ConfigIssue(path, "a policy must give a boolean")]) from None
    return expr


def compile_section(
    policies: Sequence[tuple[str, str]], section: str, *, macros: bool, auto_join: bool
) -> Section | None:
    """Compile ``(json_path, policy)`` pairs of one section; ``None`` when there are none. Raises
    :class:`ConfigError` listing every policy that does not compile."""
    if not policies:
        return None
    env = _env(section, macros)
    errors: list[ConfigIssue] = []
    programs: list[Program] = []
    for path, source in policies:
        try:
            programs.append(Program(source, _compile_one(env, path, source, section, macros)))
        except ConfigError as exc:
            errors.extend(exc.issues)
    if errors:
        raise ConfigError(errors)
    if auto_join and len(programs) > 1:
        # one expression, one evaluation: the outcome is the same (deny unless every policy is
        # true), only the index of the failing policy is lost, as EE documents
        joined = " && ".join(f"({p.source})" for p in programs)
        programs = [Program(joined, env.compile(joined))]
    sources = " ".join(p.source for p in programs)
    getters = _GETTERS[section]
    names = tuple(name for name in (*getters, "now") if name in sources)
    return Section(
        name=section,
        programs=tuple(programs),
        bind=binder(getters, names),
        wants_now="now" in names,
        wants_request=macros and any(macro in sources for macro in MACROS),
        env=env,
    )
