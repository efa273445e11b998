"""Execute parsed templates with Go's semantics: dot and ``$``, variable scopes, field chains over maps,
``and``/``or`` short-circuit, ``range`` over lists, maps (sorted keys) and integers, ``break``/``continue``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from krakenpy.gotemplate.errors import TemplateError
from krakenpy.gotemplate.nodes import (
    Action,
    Arg,
    Break,
    Chain,
    Command,
    Continue,
    Control,
    Dot,
    Field,
    Function,
    Literal,
    Node,
    Pipe,
    Template,
    TemplateCall,
    Text,
    Variable,
)
from krakenpy.gotemplate.values import MISSING, go_str, is_true, type_name

__all__ = ["MAX_OUTPUT", "FuncError", "bounded", "execute"]

#: nested {{template}} calls allowed before giving up (Go allows 100000; a config needs a handful).
#: A level costs 5 to 10 Python frames: 64 stays well inside the default recursion limit of 1000
MAX_DEPTH = 64
#: characters one execution may write (the request body cap): client data cannot make it allocate more
MAX_OUTPUT = 10 * 1024 * 1024


class FuncError(Exception):
    """Raised by a template function: reported at the calling action's line."""


def bounded(size: int, what: str) -> None:
    """Refuse (``FuncError``) a result of ``size`` characters over :data:`MAX_OUTPUT`, before building it."""
    if size > MAX_OUTPUT:
        raise FuncError(f"{what}: the result would exceed {MAX_OUTPUT} characters")


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass(slots=True)
class _State:
    templates: Mapping[str, Template]
    funcs: Mapping[str, Callable[..., Any]]
    out: list[str]
    warnings: list[str]
    template: Template
    #: characters still allowed: one list shared by the nested {{template}} states
    budget: list[int]
    depth: int = 0
    #: (name, value) pairs; ``$`` first
    vars: list[list[Any]] = field(default_factory=list)
    line: int = 0
    text: str = ""

    def error(self, message: str) -> TemplateError:
        return TemplateError(self.template.source, self.line, f"at <{self.text}>: {message}")

    # -- variables ------------------------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(f'undefined variable "{name}"')

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.error(f'undefined variable "{name}"')

    # -- nodes ----------------------------------------------------------------------------------
    def write(self, text: str) -> None:
        self.budget[0] -= len(text)
        if self.budget[0] < 0:
            raise self.error(f"the output exceeds {MAX_OUTPUT} characters")
        self.out.append(text)

    def walk(self, nodes: Sequence[Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    if value is MISSING or value is None:
                        self.warnings.append(
                            f"{self.template.source}:{node.pipe.line}: <{node.pipe.text}> has no value: "
                            "wrote <no value>"
                        )
                    self.write(go_str(value))
            elif isinstance(node, Control):
                self.control(node, dot)
            elif isinstance(node, TemplateCall):
                self.call(node, dot)
            elif isinstance(node, Break):
                raise _Break
            elif isinstance(node, Continue):
                raise _Continue

    def control(self, node: Control, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.keyword == "range":
                self.range(node, dot)
                return
            value = self.pipeline(node.pipe, dot)
            if is_true(value):
                self.walk(node.body, value if node.keyword == "with" else dot)
            else:
                self.walk(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: Control, dot: Any) -> None:
        pipe = node.pipe
        value = self.pipeline(Pipe(pipe.line, pipe.text, pipe.commands), dot)
        if value is None or value is MISSING:
            items: list[tuple[Any, Any]] = []
        elif isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(pipe.decl) > 1:
                raise self.at(pipe).error("can't use two variables to range over an integer")
            if value > MAX_OUTPUT:  # a client's number must not allocate without bound
                raise self.at(pipe).error(f"range over {value}: more than {MAX_OUTPUT} iterations")
            items = [(i, i) for i in range(value)]
        else:
            raise self.at(pipe).error(f"range can't iterate over {go_str(value)}")
        if not items:
            self.walk(node.orelse, dot)
            return
        mark = len(self.vars)
        for key, elem in items:
            if len(pipe.decl) == 1:
                self.vars.append([pipe.decl[0], elem])
            elif len(pipe.decl) == 2:
                self.vars.append([pipe.decl[0], key])
                self.vars.append([pipe.decl[1], elem])
            try:
                self.walk(node.body, elem)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.vars[mark:]

    def call(self, node: TemplateCall, dot: Any) -> None:
        self.line, self.text = node.line, f'template "{node.name}"'
        target = self.templates.get(node.name)
        if target is None:
            known = ", ".join(sorted(self.templates)) or "none"
            raise self.error(f'no template "{node.name}" (known: {known})')
        if self.depth >= MAX_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_DEPTH})")
        value = None if node.pipe is None else self.pipeline(node.pipe, dot)
        inner = _State(
            self.templates, self.funcs, self.out, self.warnings, target, self.budget, self.depth + 1, [["$", value]]
        )
        inner.walk(target.nodes, value)

    # -- pipelines ------------------------------------------------------------------------------
    def at(self, pipe: Pipe) -> _State:
        self.line, self.text = pipe.line, pipe.text
        return self

    def pipeline(self, pipe: Pipe, dot: Any) -> Any:
        value: Any = _NO_FINAL
        for command in pipe.commands:
            self.at(pipe)
            value = self.command(command, dot, value)
        if pipe.decl:
            if pipe.assign:
                self.set_var(pipe.decl[0], value)
            else:
                self.vars.append([pipe.decl[0], value])
        return value

    def command(self, command: Command, dot: Any, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, Function):
            return self.function(first.name, command.args[1:], dot, final)
        if final is not _NO_FINAL:
            raise self.error(f"can't give argument to non-function {self.text}")
        return self.arg(first, dot)

    def function(self, name: str, args: Sequence[Arg], dot: Any, final: Any) -> Any:
        if name in ("and", "or"):
            count = len(args) + (final is not _NO_FINAL)
            if not count:
                raise self.error(f"wrong number of args for {name}: want at least 1 got 0")
            result: Any = None
            for i in range(count):
                # evaluated one by one: the first decisive operand ends the call, as in Go
                result = self.arg(args[i], dot) if i < len(args) else final
                if is_true(result) != (name == "and"):
                    return result
            return result
        values = [self.arg(a, dot) for a in args]
        if final is not _NO_FINAL:
            values.append(final)
        values = [None if v is MISSING else v for v in values]
        try:
            return self.funcs[name](*values)
        except FuncError as exc:
            raise self.error(f"error calling {name}: {exc}") from None
        except TemplateError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
            raise self.error(f"error calling {name}: {exc}") from None

    def arg(self, arg: Arg, dot: Any) -> Any:
        if isinstance(arg, Literal):
            return arg.value
        if isinstance(arg, Dot):
            return dot
        if isinstance(arg, Field):
            return self.fields(dot, arg.names)
        if isinstance(arg, Variable):
            return self.fields(self.lookup(arg.name), arg.names)
        if isinstance(arg, Function):
            return self.function(arg.name, (), dot, _NO_FINAL)
        if isinstance(arg, Chain):
            return self.fields(self.pipeline(arg.pipe, dot), arg.names)
        mark = len(self.vars)
        try:
            return self.pipeline(arg, dot)
        finally:
            del self.vars[mark:]

    def fields(self, receiver: Any, names: Sequence[str]) -> Any:
        for name in names:
            if receiver is MISSING:
                return MISSING
            if receiver is None:
                raise self.error(f"nil pointer evaluating interface {{}}.{name}")
            if not isinstance(receiver, Mapping):
                raise self.error(f"can't evaluate field {name} in type {type_name(receiver)}")
            receiver = receiver.get(name, MISSING)
        return receiver


_NO_FINAL: Any = object()


def execute(
    templates: Mapping[str, Template],
    name: str,
    data: Any,
    funcs: Mapping[str, Callable[..., Any]],
) -> tuple[str, list[str]]:
    """Run template ``name`` over ``data``: the output and the ``<no value>`` warnings."""
    out: list[str] = []
    warnings: list[str] = []
    state = _State(templates, funcs, out, warnings, templates[name], [MAX_OUTPUT], 0, [["$", data]])
    state.walk(templates[name].nodes, data)
    return "".join(out), warnings
