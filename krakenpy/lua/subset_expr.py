"""The expressions, method calls and objects of the Lua subset (:mod:`krakenpy.lua.subset`), and its lexicon."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from krakenpy.lua import subset_ops as ops
from krakenpy.lua.api.store import Accessor
from krakenpy.lua.guard import Guard

__all__ = ["GETTERS", "KEYWORDS", "NOT_LITERAL", "Expressions", "Refused", "Token", "tokens"]

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
    |(?P<symbol>==|~=|<=|>=|[.:(),;=<>])
    """,
    re.VERBOSE,
)
Token = tuple[str, bytes, int]
_T = TypeVar("_T")


class Refused(Exception):
    """Not in the subset: the script runs in Lua."""


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


class Expressions:
    """A recursive-descent parser of the subset's expressions, compiling as it goes."""

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
        guard: Guard | None = None,
    ) -> None:
        self.toks = toks
        self.at = 0
        self.prefix = prefix
        self.loaders, self.classes, self.setters = loaders, classes, setters
        self.accessors, self.objects, self.ids, self.globals = accessors, objects, ids, globals_
        #: the runtime's memory guard (krakenpy.lua.bindings.Bindings.guard), which getter calls ask
        self.guard = guard
        #: name → ("slot", slot) for an object, ("cell", cell) for a value
        self.scope: dict[bytes, tuple[Any, ...]] = {}
        self.calls: set[tuple[int, bytes]] = set()
        #: every local's cell, cleared after each run (no request value outlives its run)
        self.tables: set[int] = set()
        self.clear: list[list[Any]] = []
        #: the guarded getter calls' expressions (id → the expression, kept alive while parsing: a value
        #: assigned from one is a Lua string of its own), and the locals ever assigned anything else
        self.fresh: dict[int, ops.Expr] = {}
        self.shared: set[int] = set()
        #: the cells the VM holds at this point of the chunk: the locals in scope (a block's end drops its
        #: own; a shadowed local still holds its register) and the operands kept for the expression being
        #: parsed (:meth:`then`); and how many guarded getter calls were parsed so far
        self.live: list[list[Any]] = []
        self.guarded = 0

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

    def may_hold_table(self, cell: list[Any]) -> None:
        self.tables.add(id(cell))

    def assigned(self, cell: list[Any], value: ops.Expr) -> ops.Stmt:
        """``cell = value``; a local ever assigned what may be another's string (or a literal) is shared."""
        if id(value) not in self.fresh and not (type(value) is ops.Const and type(value.value) is not bytes):
            self.shared.add(id(cell))
        return ops.assign(cell, value)

    def held(self, args: list[ops.Expr]) -> ops.Held | None:
        """What a guarded getter call holds beside its result: the locals in scope and the operands kept
        before it (:attr:`live`; no loop: a local declared later holds nothing yet) and its argument;
        None when there is nothing. Not the locals of a block that has ended: the VM freed them (it
        reuses their registers), and counting them refused scripts the VM runs."""
        self.guarded += 1
        fresh_arg = bool(args) and id(args[0]) in self.fresh
        if not self.live and not fresh_arg:
            return None
        shared = [cell for cell in self.live if id(cell) in self.shared]
        fresh = [cell for cell in self.live if id(cell) not in self.shared]
        return ops.Held(fresh, shared, fresh_arg)

    def setter_errors(self, guard: Guard, args: list[ops.Expr]) -> ops.SetterErrors:
        """What a setter's error message is counted beside: the locals in scope and the operands kept
        (:attr:`live`), each getter's result as its own Lua string, and which arguments are one."""
        shared = [cell for cell in self.live if id(cell) in self.shared]
        fresh = [cell for cell in self.live if id(cell) not in self.shared]
        return ops.SetterErrors(guard, fresh, shared, [id(arg) in self.fresh for arg in args])

    def then(self, first: ops.Expr, parse: Callable[[], _T]) -> tuple[ops.Expr, _T]:
        """``parse()`` what is evaluated after ``first`` in the same expression (a comparison's right side,
        a setter's second argument): the VM holds ``first``'s value in a register meanwhile, so the getter
        calls in it count that value as held (a kept cell, :func:`ops.kept`); ``first`` as it is when
        there is none, or when it is a literal (a constant of the chunk)."""
        if type(first) is ops.Const:
            return first, parse()
        cell: list[Any] = [None]
        if id(first) not in self.fresh:  # a local's value, a literal or a test: maybe another's string
            self.shared.add(id(cell))
        self.live.append(cell)
        before = self.guarded
        parsed = parse()
        self.live.pop()
        if self.guarded == before:
            return first, parsed
        self.clear.append(cell)
        kept = ops.kept(cell, first)
        if id(first) in self.fresh:
            self.fresh[id(kept)] = kept
        return kept, parsed

    def new_cell(self) -> list[Any]:
        """A local's cell, in scope from now to its block's end, cleared after each run: no request value
        (a header, a body) outlives its run."""
        cell: list[Any] = [None]
        self.clear.append(cell)
        self.live.append(cell)
        return cell

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
                args[-1], (value, table) = self.then(args[-1], self.expression)
            else:
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
        # a getter's string may outgrow the memory left (a body, a header, a method an earlier script set
        # in Lua, which only checks its token form): checked by the guard as Lua's call is, it fails as in
        # the VM; a number getter (see _NUMBER_GETTERS) is not checked, a setter's error message is (Lua
        # calls setters guarded too: the message may name a client value)
        guard = self.guard if getter and method not in _NUMBER_GETTERS.get(cls, ()) else None
        errors = None if getter or self.guard is None else self.setter_errors(self.guard, args)
        accessor = self.accessors[cls][method]
        self.calls.add((slot, method))
        where = self.where(line)
        if cls == b"luaTable" and method == b"set" and tables == [False, True]:
            return ops.set_any(accessor, self.objects, self.ids[slot], args[0], args[1], where, errors), False
        held = self.held(args) if guard is not None else None
        if cls == b"luaTable" and method == b"get":
            return self.getter(ops.get(accessor, self.objects, self.ids[slot], args[0], where, guard, held)), True
        if cls == b"luaTable" and method == b"set" and type(args[0]) is ops.Const and type(args[0].value) is bytes:
            # a literal key decoded once, as luaTable's set decodes a bytes key (~0.4 k machine instructions)
            args[0] = ops.Const(args[0].value.decode("utf-8", "replace"))
        made = ops.call(accessor, self.ids[slot], args, where, guard, errors, held)
        return (self.getter(made) if guard is not None else made), False

    def getter(self, expr: ops.Expr) -> ops.Expr:
        """A guarded getter call's expression: its string is a Lua string of its own in the VM."""
        self.fresh[id(expr)] = expr
        return expr

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
            # `a and b` is a only when a is nil or false: a table only if b may be one
            left, table = ops.logic(left, right, True), right_table
        return left, table

    def comparison(self) -> tuple[ops.Expr, bool]:
        start = self.at
        left, table = self.unary()
        while self.peek() in _COMPARISONS:
            _, op, line = self.advance()
            left, (right, _) = self.then(left, self.unary)
            if op == b"==" or op == b"~=":
                left = ops.compare(left, right, op == b"==")
            else:  # an error names the line of the instruction: the whole comparison on the operator's
                self.on_line(line)  # line keeps that unambiguous (Lua gives it the right operand's last)
                if self.toks[start][2] != line:
                    raise Refused
                left = ops.order(left, right, op, self.where(line))
            table = False
        return left, table

    def unary(self) -> tuple[ops.Expr, bool]:
        if self.peek() == b"not":
            self.at += 1
            return ops.not_(self.unary()[0]), False
        return self.primary()

    def primary(self) -> tuple[ops.Expr, bool]:
        kind, text, line = self.advance()
        literal = self.literal(kind, text)
        if literal is not NOT_LITERAL:
            return ops.Const(literal), False
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
        return NOT_LITERAL

    def on_line(self, line: int) -> None:
        """Every token so far of a call is on ``line``: the line its error names."""
        if self.toks[self.at - 1][2] != line:
            raise Refused

    def where(self, line: int) -> bytes:
        return self.prefix + str(line).encode() + b": "


#: getters the subset calls bare: with no argument (their arity in :data:`GETTERS`) they answer a number
#: or a boolean, never a string (Lua calls them guarded: a call with an argument may answer an error
#: message, see bindings.NO_STRING)
_NUMBER_GETTERS: Final[Mapping[bytes, frozenset[bytes]]] = {
    b"response": frozenset({b"isComplete", b"statusCode"}),
    b"luaTable": frozenset({b"len"}),
}
_COMPARISONS: Final = (b"==", b"~=", b"<", b"<=", b">", b">=")
#: what :meth:`Expressions.literal` returns for a token that is not a literal
NOT_LITERAL: Final = object()
_LITERALS: Final[Mapping[bytes, Any]] = {b"true": True, b"false": False, b"nil": None}
