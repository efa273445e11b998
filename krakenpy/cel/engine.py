"""The CEL engine behind a small interface: compile once, evaluate many times.

This is the only module that imports the CEL library (``cel-expr-python``, Google's binding of
cel-cpp: a real type checker and cel-go-like semantics; see ``bench/cel_fidelity.py`` for why it was
chosen). The environment mirrors krakend-cel's: the CEL standard library only (no string or math
extensions, no cross-type numeric comparisons in the checker) and the variables of
:data:`VARIABLES`, declared with KrakenD's types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

from cel_expr_python import cel

from krakenpy.gojson import valid_text

__all__ = [
    "VARIABLES",
    "CelCheckError",
    "CelSyntaxError",
    "Checks",
    "Program",
    "ValuePredicate",
    "compile_expression",
    "compile_value_predicate",
]

_T = cel.Type
#: every variable KrakenD declares, with its type (krakend-cel ``internal/cel.go``); which ones are
#: bound depends on the phase
VARIABLES: Final[Mapping[str, Any]] = {
    "now": _T.STRING,
    "req_method": _T.STRING,
    "req_path": _T.STRING,
    "req_params": _T.Map(_T.STRING, _T.STRING),
    "req_headers": _T.Map(_T.STRING, _T.List(_T.STRING)),
    "req_querystring": _T.Map(_T.STRING, _T.List(_T.STRING)),
    "resp_completed": _T.BOOL,
    "resp_metadata_status": _T.INT,
    "resp_metadata_headers": _T.Map(_T.STRING, _T.List(_T.STRING)),
    "resp_data": _T.Map(_T.STRING, _T.DYN),
    "JWT": _T.Map(_T.STRING, _T.DYN),
}


class CelSyntaxError(ValueError):
    """The expression does not parse (KrakenD disables the whole CEL block; krakenpy refuses the config)."""


class CelCheckError(ValueError):
    """The expression parses but fails the type check (KrakenD skips it silently)."""


@cache
def _env() -> Any:
    return cel.NewEnv(variables=dict(VARIABLES))


def _first_line(message: str) -> str:
    # cel-cpp prefixes "INVALID_ARGUMENT: ERROR: <input>:1:5: " and appends the source with a caret
    text = message.split("\n", 1)[0]
    for prefix in ("INVALID_ARGUMENT: ", "ERROR: "):
        text = text.removeprefix(prefix)
    return text.strip()


class Program:
    """One compiled, type-checked expression."""

    __slots__ = ("_expr", "source")

    def __init__(self, source: str, expr: Any) -> None:
        self.source = source
        self._expr = expr

    def evaluate(self, activation: Any) -> tuple[bool, str]:
        """``(True, "")`` when the result is the boolean ``true``; else ``(False, why)``.

        ``why`` names the result's type or the evaluation error, never a value (claims, headers and
        bodies stay out of logs)."""
        value = self._expr.eval(activation)
        if value.value() is True:
            return True, ""
        kind = value.type()
        if kind == _T.ERROR:
            return False, f"evaluation error: {_valueless(str(value.value()))}"
        return False, f"result is {'false' if kind == _T.BOOL else 'a ' + kind.name()}"


#: a quoted literal in cel-cpp's error text: the value a map lookup or a conversion failed on
_QUOTED: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def _valueless(text: str) -> str:
    """An evaluation error's first line without the values it quotes (a header, a claim, a
    pattern built from one): cel-cpp writes ``Key not found in map : "<the key>"``."""
    line = _first_line(text).partition("regular expression:")[0]
    if "No value with name" in line:  # a variable the expression names: from the config, no value
        return line[:200]
    return _QUOTED.sub('"…"', line)[:200]


def compile_expression(source: str) -> Program:
    """Parse and type-check ``source``; raises :class:`CelSyntaxError` or :class:`CelCheckError`."""
    env = _env()
    try:
        env.compile(source, disable_check=True)
    except RuntimeError as exc:
        raise CelSyntaxError(_first_line(str(exc))) from None
    try:
        expr = env.compile(source)
    except RuntimeError as exc:
        raise CelCheckError(_first_line(str(exc))) from None
    return Program(source, expr)


class Checks:
    """The compiled expressions of one phase, run in order against one set of variables.

    ``names`` are the variables the phase binds that its expressions mention: only those are
    converted per request (the others could not be referenced anyway).
    """

    __slots__ = ("names", "programs")

    def __init__(self, programs: Sequence[Program], bound: Sequence[str]) -> None:
        self.programs = tuple(programs)
        self.names = tuple(n for n in bound if any(n in p.source for p in self.programs))

    def __len__(self) -> int:
        return len(self.programs)

    def first_failure(self, values: Mapping[str, Any]) -> tuple[int, str] | None:
        """``None`` when every expression is true, else (index of the first that is not, why)."""
        try:
            return self._run(values)
        except RuntimeError:
            # cel-cpp cannot hold a string with surrogate escapes (client bytes that are not UTF-8):
            # evaluate again with each such byte as U+FFFD, as cel-go sees invalid UTF-8 (one rune
            # per bad byte). Only such requests pay for the copy.
            try:
                return self._run(valid_text(values))
            except RuntimeError as exc:
                return 0, f"evaluation error: {_first_line(str(exc))}"

    def _run(self, values: Mapping[str, Any]) -> tuple[int, str] | None:
        try:
            activation = _env().Activation(values)
        except RuntimeError:
            raise
        except Exception as exc:  # a value the engine cannot convert: fail closed, like an eval error
            return 0, f"cannot bind the variables: {exc}"
        for index, program in enumerate(self.programs):
            ok, why = program.evaluate(activation)
            if not ok:
                return index, why
        return None


@cache
def _value_env() -> Any:
    # KrakenD Enterprise's tier policies see one variable, the tier header's value
    return cel.NewEnv(variables={"value": _T.STRING})


class ValuePredicate:
    """A policy over one string, ``value`` (a tier header): compiled once, true only when the
    expression gives the boolean ``true`` (an evaluation error is false)."""

    __slots__ = ("_expr", "source")

    def __init__(self, source: str, expr: Any) -> None:
        self.source = source
        self._expr = expr

    def __call__(self, value: str) -> bool:
        try:
            result = self._expr.eval(_value_env().Activation({"value": value}))
        except Exception:
            try:  # surrogate escapes (bytes that are not UTF-8) as U+FFFD, as in Checks
                result = self._expr.eval(_value_env().Activation({"value": valid_text(value)}))
            except Exception:  # a value the engine cannot take: no match rather than a 500
                return False
        return result.value() is True


def compile_value_predicate(source: str) -> ValuePredicate:
    """Parse and type-check a policy over ``value`` (the CEL standard library only); raises
    :class:`CelSyntaxError`, or :class:`CelCheckError` for an unknown name or function, a result
    that is not a boolean, or a constant regular expression RE2 refuses."""
    env = _value_env()
    try:
        env.compile(source, disable_check=True)
    except RuntimeError as exc:
        raise CelSyntaxError(_first_line(str(exc))) from None
    try:
        expr = env.compile(source)
    except RuntimeError as exc:
        raise CelCheckError(_first_line(str(exc))) from None
    try:
        env.compile(f"({source}) == true")
    except RuntimeError:
        raise CelCheckError("the policy must give a boolean") from None
    probe = expr.eval(env.Activation({"value": ""}))
    if probe.type() == _T.ERROR and "regular expression" in str(probe.value()):
        raise CelCheckError(_first_line(str(probe.value())))
    return ValuePredicate(source, expr)
