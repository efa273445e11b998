"""Scripts in a checked subset of Lua, compiled at start-up to Python closures that run without Lua.

lua5's setter plans (:mod:`krakenpy.lua.setters`) made a script of literal setter calls into its
accessor calls; real scripts read a value first, compare it and branch (``if r:method() == 'GET'
then r:headers('X-A', 'b') end``), which in Lua costs ~50 k machine instructions per pre/post pair
in fixed crossings. This parser accepts such scripts when it can keep Lua's semantics exact, and
refuses (→ the VM) anything else, a byte of it:

- statements: ``local NAME [= e]``, ``NAME = e`` (a local of the subset), ``if e then … {elseif e
  then …} [else …] end``, a method call (its result dropped), ``custom_error(…)``, ``request.load()``,
  a bare ``return`` ending a block, ``;``; line comments (``--`` not followed by ``[``);
- objects: ``request.load()``, ``response.load()`` (``post``), ``ctx.load()`` (the router level),
  ``:data()`` of a response, and locals bound to them; they are receivers only;
- method calls with the argument count of a setter or a getter (:data:`GETTERS`; getters whose
  result is a plain value, nil or an error, and ``luaTable:get``), every call on one line (the line
  an error names);
- expressions: short strings without escapes, decimal numbers (at most 18 digits each side of
  the point), ``true``, ``false``, ``nil``, locals, getter calls, ``( e )``, ``not``, ``and``,
  ``or``, ``==``, ``~=`` (:mod:`krakenpy.lua.subset_values`: Lua's truth and equality);
- ``custom_error(msg[, status[, content_type]])`` with literal ``status`` and ``content_type``.

A value ``data():get(k)`` lifts to a table (an object, an array, a JSON null) may only be tested
(truth, ``==``): passing it to a call or a concatenation would need lupa's conversions. ``..``,
``<`` and ``>`` are refused: their errors name the operand's variable (``(local 'x')``) or its
type as the VM's debug information finds it, which this parser does not model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from krakenpy.lua import subset_ops as ops
from krakenpy.lua.api.store import Accessor

__all__ = ["GETTERS", "KEYWORDS", "Compiled", "Refused", "compile_subset", "tokens"]

#: class → getter method → its argument count (results: a plain value, nothing or an error; ``get``
#: lifts containers, see subset_ops.get)
GETTERS: Final[Mapping[bytes, Mapping[bytes, int]]] = {
    b"request": {b"method": 0, b"path": 0, b"url": 0, b"query": 0, b"body": 0, b"headers": 1, b"params": 1},
    b"ctx": {b"method": 0, b"url": 0, b"host": 0, b"body": 0, b"query": 1, b"headers": 1, b"params": 1},
    b"response": {b"isComplete": 0, b"statusCode": 0, b"body": 0, b"headers": 1},
    b"luaTable": {b"get": 1, b"len": 0, b"keyExists": 1},
}
KEYWORDS: Final = frozenset(
    b"""and break do else elseif end false for function goto if in local nil not or repeat return then true
    until while""".split()
)
_TOKEN: Final = re.compile(
    rb"""(?P<newline>\n)
    |(?P<space>[ \t\f\v]+)
    |(?P<comment>--(?!\[)[^\n\r]*)
    |(?P<string>'[^'\\\n\r]*'|"[^"\\\n\r]*")
    |(?P<number>-?[0-9]{1,18}(?:\.[0-9]{1,18})?(?![0-9A-Za-z_.]))
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<symbol>==|~=|[.:(),;=])
    """,
    re.VERBOSE,
)
Token = tuple[str, bytes, int]
#: what ends a block
_BLOCK_END: Final = (b"end", b"else", b"elseif", b"")


class Refused(Exception):
    """Not in the subset: the script runs in Lua."""


#: the compiled chunk, the accessor calls it may make (slot, method), the locals to clear after a run
Compiled = tuple[ops.Stmt, frozenset[tuple[int, bytes]], tuple[list[Any], ...]]


def tokens(source: bytes) -> list[Token] | None:
    """The source's tokens (kind, text, line), or None if a byte is outside the subset's lexicon."""
    out: list[Token] = []
    line, pos, end = 1, 0, len(source)
    while pos < end:
        m = _TOKEN.match(source, pos)
        if m is None:
            return None
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "newline":
            line += 1
        elif kind != "space" and kind != "comment":
            out.append((kind, m.group(), line))
    return out


def compile_subset(
    toks: list[Token],
    prefix: bytes,
    loaders: Mapping[bytes, int],
    classes: Mapping[int, bytes],
    setters: Mapping[int, Mapping[str, int]],
    accessors: Mapping[bytes, Mapping[bytes, Accessor]],
    objects: dict[int, Any],
    ids: Mapping[int, int],
    globals_: frozenset[str],
) -> Compiled:
    """Compile a chunk's tokens; raises :class:`Refused`. ``loaders``: global → slot of its ``load()``."""
    parser = _Parser(toks, prefix, loaders, classes, setters, accessors, objects, ids, globals_)
    chunk = parser.block()
    if parser.at != len(toks):
        raise Refused
    return chunk, frozenset(parser.calls), tuple(parser.clear)


class _Parser:
    def __init__(
        self,
        toks: list[Token],
        prefix: bytes,
        loaders: Mapping[bytes, int],
        classes: Mapping[int, bytes],
        setters: Mapping[int, Mapping[str, int]],
        accessors: Mapping[bytes, Mapping[bytes, Accessor]],
        objects: dict[int, Any],
        ids: Mapping[int, int],
        globals_: frozenset[str],
    ) -> None:
        self.toks = toks
        self.at = 0
        self.prefix = prefix
        self.loaders, self.classes, self.setters = loaders, classes, setters
        self.accessors, self.objects, self.ids, self.globals = accessors, objects, ids, globals_
        #: name → ("slot", slot) for an object, ("cell", cell) for a value
        self.scope: dict[bytes, tuple[Any, ...]] = {}
        self.calls: set[tuple[int, bytes]] = set()
        #: the cells that may hold a getter's container (ids), cleared after each run
        self.tables: set[int] = set()
        self.clear: list[list[Any]] = []

    # tokens ------------------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> bytes:
        at = self.at + ahead
        return self.toks[at][1] if at < len(self.toks) else b""

    def advance(self) -> Token:
        if self.at >= len(self.toks):
            raise Refused
        token = self.toks[self.at]
        self.at += 1
        return token

    def expect(self, text: bytes) -> int:
        token = self.advance()
        if token[1] != text or token[0] in ("string", "number"):
            raise Refused
        return token[2]

    def name(self) -> bytes:
        kind, text, _ = self.advance()
        if kind != "name" or text in KEYWORDS:
            raise Refused
        return text

    # statements --------------------------------------------------------------------------------------
    def block(self) -> ops.Stmt:
        outer = dict(self.scope)  # a block's locals end with it
        statements: list[ops.Stmt] = []
        while self.peek() not in _BLOCK_END:
            text = self.peek()
            if text == b";":
                self.at += 1
            elif text == b"return":
                self.at += 1
                while self.peek() == b";":
                    self.at += 1
                if self.peek() not in _BLOCK_END:  # `return` with values, or not last
                    raise Refused
                statements.append(ops.returned)
            else:
                statements.append(self.statement())
        self.scope = outer
        return ops.block(statements) if statements else (lambda: False)

    def statement(self) -> ops.Stmt:
        kind, text, line = self.toks[self.at]
        if text == b"local":
            self.at += 1
            name = self.name()
            if name == b"_ENV" or name.decode() in self.globals:  # a local hiding a global (or them all)
                raise Refused
            if self.peek() != b"=":
                cell: list[Any] = [None]
                self.scope[name] = ("cell", cell)
                return ops.assign(cell, ops.constant(None))
            self.at += 1
            if self.is_object():
                start = self.at
                slot = self.object()
                if self.peek() != b":":  # an object, not a method call's result
                    self.scope[name] = ("slot", slot)
                    return lambda: False
                self.at = start
            value, table = self.expression()
            cell = [None]
            if table:
                self.may_hold_table(cell)
            self.scope[name] = ("cell", cell)
            return ops.assign(cell, value)
        if text == b"if":
            return self.if_statement()
        if kind != "name" or text in KEYWORDS:
            raise Refused
        if text == b"custom_error" and text not in self.scope:
            return self.custom_error()
        bound = self.scope.get(text)
        if bound is not None and bound[0] == "cell" and self.peek(1) == b"=":
            self.at += 2
            value, table = self.expression()
            if table:  # no loop: only the uses that follow can see it
                self.may_hold_table(bound[1])
            return ops.assign(bound[1], value)
        start = self.at
        if not self.is_object():
            raise Refused
        slot = self.object()
        if self.peek() != b":":
            if self.at - start == 1:  # a local alone is no statement; `request.load()` is a call
                raise Refused
            return lambda: False
        return ops.discard(self.method_call(slot, line, statement=True)[0])

    def if_statement(self) -> ops.Stmt:
        branches: list[tuple[ops.Expr, ops.Stmt]] = []
        otherwise = None
        self.at += 1
        while True:
            condition, _ = self.expression()
            self.expect(b"then")
            branches.append((condition, self.block()))
            keyword = self.advance()[1]
            if keyword == b"elseif":
                continue
            if keyword == b"else":
                otherwise = self.block()
                self.expect(b"end")
            elif keyword != b"end":
                raise Refused
            return ops.if_(branches, otherwise)

    def custom_error(self) -> ops.Stmt:
        line = self.toks[self.at][2]
        self.at += 1
        self.expect(b"(")
        args: list[ops.Expr] = []
        literals: list[Any] = []
        while self.peek() != b")":
            if args:
                self.expect(b",")
            if len(args) == 3:
                raise Refused
            literal = None
            if args:  # the status and the content type: one literal each (a string status needs tonumber)
                kind, text, _ = self.advance()
                literal = self.literal(kind, text)
                if literal is _NOT_LITERAL or (kind == "string") != (len(args) == 2 and literal is not None):
                    raise Refused
                value = ops.constant(literal)
            else:  # the message: a table fails with its class name (subset_ops.custom_error)
                value, _ = self.expression()
            args.append(value)
            literals.append(literal)
        self.at += 1
        self.on_line(line)
        status = literals[1] if len(literals) > 1 else None
        content_type = literals[2] if len(literals) > 2 else None
        return ops.custom_error(args, status, content_type, self.where(line))

    def may_hold_table(self, cell: list[Any]) -> None:
        if id(cell) not in self.tables:
            self.tables.add(id(cell))
            self.clear.append(cell)

    # objects and calls -------------------------------------------------------------------------------
    def is_object(self) -> bool:
        text = self.peek()
        bound = self.scope.get(text)
        if bound is not None:
            return bool(bound[0] == "slot")
        return text in self.loaders and self.peek(1) == b"."

    def object(self) -> int:
        """``request.load()``, ``response.load()``, ``ctx.load()`` or a local bound to one, then ``:data()``."""
        line = self.toks[self.at][2]
        name = self.name()
        bound = self.scope.get(name)
        if bound is not None:
            slot: int = bound[1]
        else:
            slot = self.loaders[name]
            self.expect(b".")
            if self.name() != b"load":
                raise Refused
            self.expect(b"(")
            self.expect(b")")
        while self.classes[slot] == b"response" and self.peek() == b":" and self.peek(1) == b"data":
            self.at += 2
            self.expect(b"(")
            self.expect(b")")
            slot = self.data_slot
        self.on_line(line)
        return slot

    @property
    def data_slot(self) -> int:
        return next(slot for slot, cls in self.classes.items() if cls == b"luaTable")

    def method_call(self, slot: int, line: int, *, statement: bool) -> tuple[ops.Expr, bool]:
        self.expect(b":")
        method = self.name()
        self.expect(b"(")
        args: list[ops.Expr] = []
        tables: list[bool] = []
        while self.peek() != b")":
            if args:
                self.expect(b",")
            value, table = self.expression()
            args.append(value)
            tables.append(table)
        self.at += 1
        self.on_line(line)
        cls = self.classes[slot]
        if any(tables) and not (cls == b"luaTable" and method == b"set" and tables == [False, True] and statement):
            raise Refused  # a container reaches an accessor only as luaTable:set's value (by reference)
        getter = GETTERS.get(cls, {}).get(method) == len(args)
        if not getter and not (statement and self.setters[slot].get(method.decode()) == len(args)):
            raise Refused
        accessor = self.accessors[cls][method]
        self.calls.add((slot, method))
        where = self.where(line)
        if cls == b"luaTable" and method == b"set" and len(args) == 2:
            return ops.set_any(accessor, self.objects, self.ids[slot], args[0], args[1], where), False
        if cls == b"luaTable" and method == b"get":
            return ops.get(accessor, self.objects, self.ids[slot], args[0], where), True
        return ops.call(accessor, self.ids[slot], args, where), False

    # expressions -------------------------------------------------------------------------------------
    def expression(self) -> tuple[ops.Expr, bool]:
        """``e or e``; the flag: the value may be a table (a getter's container)."""
        left, table = self.conjunction()
        while self.peek() == b"or":
            self.at += 1
            right, right_table = self.conjunction()
            left, table = ops.logic(left, right, False), table or right_table
        return left, table

    def conjunction(self) -> tuple[ops.Expr, bool]:
        left, table = self.comparison()
        while self.peek() == b"and":
            self.at += 1
            right, right_table = self.comparison()
            left, table = ops.logic(left, right, True), table or right_table
        return left, table

    def comparison(self) -> tuple[ops.Expr, bool]:
        left, table = self.unary()
        while self.peek() in (b"==", b"~="):
            equal = self.advance()[1] == b"=="
            right, _ = self.unary()
            left, table = ops.compare(left, right, equal), False
        return left, table

    def unary(self) -> tuple[ops.Expr, bool]:
        if self.peek() == b"not":
            self.at += 1
            return ops.not_(self.unary()[0]), False
        return self.primary()

    def primary(self) -> tuple[ops.Expr, bool]:
        kind, text, line = self.advance()
        literal = self.literal(kind, text)
        if literal is not _NOT_LITERAL:
            return ops.constant(literal), False
        if text == b"(":
            value, table = self.expression()
            self.expect(b")")
            return value, table
        if kind != "name" or text in KEYWORDS:
            raise Refused
        bound = self.scope.get(text)
        if bound is not None and bound[0] == "cell":
            return ops.local(bound[1]), id(bound[1]) in self.tables
        self.at -= 1
        if not self.is_object():
            raise Refused
        slot = self.object()
        if self.peek() != b":":
            raise Refused  # an object as a value
        return self.method_call(slot, line, statement=False)

    @staticmethod
    def literal(kind: str, text: bytes) -> Any:
        if kind == "string":
            return text[1:-1]
        if kind == "number":
            return float(text) if b"." in text else int(text)
        if kind == "name" and text in _LITERALS:
            return _LITERALS[text]
        return _NOT_LITERAL

    def on_line(self, line: int) -> None:
        """Every token so far of a call is on ``line``: the line its error names."""
        if self.toks[self.at - 1][2] != line:
            raise Refused

    def where(self, line: int) -> bytes:
        return self.prefix + str(line).encode() + b": "


_NOT_LITERAL: Final = object()
_LITERALS: Final[Mapping[bytes, Any]] = {b"true": True, b"false": False, b"nil": None}
