"""``validation/cel`` support: the CEL engine, KrakenD's variables and its phase split.

The component (:mod:`krakenpy.components.validation.cel`) stays thin: it parses the namespace with
:func:`compile_phases` and wraps proxies with the :class:`Phase` objects it returns.
"""

from __future__ import annotations

from krakenpy.cel.engine import CelCheckError, CelSyntaxError, compile_expression
from krakenpy.cel.phases import CelPhases, Phase, compile_phases
from krakenpy.cel.variables import now_string

__all__ = [
    "CelCheckError",
    "CelPhases",
    "CelSyntaxError",
    "Phase",
    "compile_expression",
    "compile_phases",
    "now_string",
]
