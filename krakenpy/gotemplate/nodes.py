"""The parse tree of a template (Go's ``text/template/parse`` nodes, the subset templates use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "Action",
    "Arg",
    "Break",
    "Chain",
    "Command",
    "Continue",
    "Control",
    "Dot",
    "Field",
    "Function",
    "Literal",
    "Node",
    "Pipe",
    "TemplateCall",
    "Text",
    "Variable",
]


@dataclass(frozen=True, slots=True)
class Dot:
    """``.``: the current data."""


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number, bool or ``nil``."""

    value: object


@dataclass(frozen=True, slots=True)
class Field:
    """``.a.b``: fields of the current data."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """``$x.a.b`` (``$`` is the template's data)."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Function:
    """A function name used as an argument (called without arguments)."""

    name: str


@dataclass(frozen=True, slots=True)
class Chain:
    """``(pipeline).a.b``."""

    pipe: Pipe
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """One stage of a pipeline: an operand, or a function and its arguments."""

    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Pipe:
    """``$x := cmd | cmd``; ``assign`` is ``=`` (an existing variable)."""

    line: int
    text: str
    commands: tuple[Command, ...]
    decl: tuple[str, ...] = ()
    assign: bool = False


Arg: TypeAlias = Dot | Literal | Field | Variable | Function | Chain | Pipe


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Action:
    """``{{ pipeline }}``: prints the value unless it declares variables."""

    pipe: Pipe


@dataclass(frozen=True, slots=True)
class Control:
    """``if``, ``range`` or ``with`` with its body and ``else`` branch."""

    keyword: str
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateCall:
    """``{{ template "name" pipeline }}``."""

    line: int
    name: str
    pipe: Pipe | None


@dataclass(frozen=True, slots=True)
class Break:
    line: int


@dataclass(frozen=True, slots=True)
class Continue:
    line: int


Node: TypeAlias = Text | Action | Control | TemplateCall | Break | Continue


@dataclass(slots=True)
class Template:
    """One named template: its nodes and the file it comes from (for error messages)."""

    name: str
    source: str
    nodes: tuple[Node, ...] = field(default=())
