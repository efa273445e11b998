"""A Go ``text/template`` engine for KrakenD's Flexible Configuration (and ``audit -f``).

Covers what KrakenD's docs and public templates use: actions with pipelines and parenthesised
arguments, variables (``$x :=``, ``$x =``, ``$``), ``if``/``else if``/``else``, ``range`` (``$i, $v :=``,
``else``, ``break``, ``continue``), ``with``, ``define``/``block``/``template``, comments and ``{{-``/``-}}``
trimming, Go's predefined functions and the common Sprig functions. Data are JSON values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from krakenpy.gotemplate.builtins import BUILTINS
from krakenpy.gotemplate.errors import TemplateError, TemplateSyntaxError
from krakenpy.gotemplate.exec import FuncError, execute
from krakenpy.gotemplate.nodes import Template
from krakenpy.gotemplate.parser import parse
from krakenpy.gotemplate.sprig import SPRIG, go_json

__all__ = ["FuncError", "TemplateError", "TemplateSet", "TemplateSyntaxError", "go_json"]


class TemplateSet:
    """Named templates parsed from one or more sources, sharing one function map."""

    def __init__(self, funcs: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.funcs: dict[str, Callable[..., Any]] = {**SPRIG, **BUILTINS, **(funcs or {})}
        self.templates: dict[str, Template] = {}

    def add(self, name: str, text: str, source: str | None = None) -> None:
        """Parse ``text`` as template ``name``; its ``define`` blocks join the set."""
        try:
            parsed = parse(text, name, source or name, self.funcs)
        except RecursionError:  # the parser recurses per nesting level (parentheses, blocks)
            raise TemplateSyntaxError(source or name, 0, "the template is nested too deeply") from None
        self.templates.update(parsed)

    def render(self, name: str, data: Any) -> tuple[str, list[str]]:
        """Execute ``name`` over ``data``: the output and warnings (values printed as ``<no value>``)."""
        if name not in self.templates:
            raise TemplateError(name, 0, f'no template "{name}"')
        source = self.templates[name].source
        try:
            return execute(self.templates, name, data, self.funcs)
        except RecursionError:
            # data nested deeper than the Python stack (a client's body printed or walked): a clean error
            raise TemplateError(source, 0, "the data or the templates are nested too deeply") from None
        except MemoryError:
            raise TemplateError(source, 0, "out of memory") from None
