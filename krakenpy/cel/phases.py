"""KrakenD's CEL phases: which expressions run before the call, after it, and on the JWT claims.

krakend-cel classifies each ``check_expr`` by **substring**: one containing ``req`` runs before the
call, ``resp`` after it, ``JWT`` in the JWT rejecter; an expression can land in several phases. Each
phase keeps, in config order, the expressions that pass the type check (the others are skipped), and
a failure reports ``request aborted by evaluator #N`` with N counted in that phase's list.

Differences, by choice: a syntax error is a configuration error at the expression's JSON path
(KrakenD disables the whole CEL block, failing open); skipped expressions are reported as warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.cel.engine import CelCheckError, CelSyntaxError, Checks, Program, compile_expression
from krakenpy.cel.variables import REQUEST, RESPONSE, TOKEN, Binder, Getter, binder
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["PRE", "POST", "JWT", "CelPhases", "Phase", "compile_phases"]

PRE: Final = "req"
POST: Final = "resp"
JWT: Final = "JWT"
_GETTERS: Final[Mapping[str, Mapping[str, Getter]]] = {PRE: REQUEST, POST: RESPONSE, JWT: TOKEN}


@dataclass(frozen=True, slots=True)
class Phase:
    """The checks of one phase and the binder of the variables they use."""

    checks: Checks
    bind: Binder

    @property
    def wants_now(self) -> bool:
        return "now" in self.checks.names

    def first_failure(self, source: Any, now: str) -> tuple[int, str] | None:
        """``None`` when every check holds, else (evaluator number, why)."""
        return self.checks.first_failure(self.bind(source, now))


@dataclass(frozen=True, slots=True)
class CelPhases:
    """One ``validation/cel`` value compiled: a phase is ``None`` when no expression runs in it."""

    pre: Phase | None
    post: Phase | None
    jwt: Phase | None
    #: expressions that never run (type check failed, no phase, JWT without a validator): warnings
    warnings: tuple[ConfigIssue, ...] = ()


def _phase(programs: Sequence[Program], key: str) -> Phase | None:
    if not programs:
        return None
    getters = _GETTERS[key]
    checks = Checks(programs, (*getters, "now"))
    return Phase(checks, binder(getters, checks.names))


def compile_phases(expressions: Sequence[tuple[str, str]], *, jwt: bool) -> CelPhases:
    """Compile ``(json_path, check_expr)`` pairs; ``jwt`` is whether the JWT phase can run here
    (an endpoint with ``auth/validator``). Raises :class:`ConfigError` listing every syntax error."""
    errors: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    phases: dict[str, list[Program]] = {PRE: [], POST: [], JWT: []}
    for path, source in expressions:
        keys = [key for key in (PRE, POST, JWT) if key in source]
        if not keys:
            warnings.append(ConfigIssue(path, "never evaluated: mentions none of req, resp, JWT", "warning"))
            continue
        try:
            program = compile_expression(source)
        except CelSyntaxError as exc:
            errors.append(ConfigIssue(path, f"CEL syntax error: {exc}"))
            continue
        except CelCheckError as exc:
            warnings.append(ConfigIssue(path, f"skipped, as KrakenD does: type check failed: {exc}", "warning"))
            continue
        if keys == [JWT] and not jwt:
            warnings.append(ConfigIssue(path, "never evaluated: JWT checks run only with auth/validator", "warning"))
        for key in keys:
            phases[key].append(program)
    if errors:
        raise ConfigError(errors)
    return CelPhases(
        pre=_phase(phases[PRE], PRE),
        post=_phase(phases[POST], POST),
        jwt=_phase(phases[JWT], JWT) if jwt else None,
        warnings=tuple(warnings),
    )
