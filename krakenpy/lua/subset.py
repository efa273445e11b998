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

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.lua import subset_ops as ops
from krakenpy.lua.api.store import Accessor
from krakenpy.lua.guard import Guard
from krakenpy.lua.subset_expr import GETTERS, KEYWORDS, NOT_LITERAL, Expressions, Refused, Token, tokens

__all__ = ["GETTERS", "Compiled", "Refused", "compile_subset", "tokens"]

#: what ends a block
_BLOCK_END: Final = (b"end", b"else", b"elseif", b"")

#: the compiled chunk, the accessor calls it may make (slot, method), the locals to clear after a run
Compiled = tuple[ops.Stmt, frozenset[tuple[int, bytes]], tuple[list[Any], ...]]


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
    guard: Guard | None = None,
) -> Compiled:
    """Compile a chunk's tokens; raises :class:`Refused`. ``loaders``: global → slot of its ``load()``;
    ``guard``: the runtime's memory guard (``Bindings.guard``), which a getter call's string must pass
    as Lua's guarded call does."""
    parser = _Parser(toks, prefix, loaders, classes, setters, accessors, objects, ids, globals_, guard)
    chunk = parser.block()
    if parser.at != len(toks):
        raise Refused
    return chunk, frozenset(parser.calls), tuple(parser.clear)


class _Parser(Expressions):
    # statements --------------------------------------------------------------------------------------
    def block(self) -> ops.Stmt:
        outer, live = dict(self.scope), len(self.live)  # a block's locals end with it
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
        del self.live[live:]
        statements = [statement for statement in statements if statement is not ops.nothing]
        return ops.block(statements) if statements else ops.nothing

    def statement(self) -> ops.Stmt:
        kind, text, line = self.toks[self.at]
        if text == b"local":
            self.at += 1
            name = self.name()
            if name == b"_ENV" or name.decode() in self.globals:  # a local hiding a global (or them all)
                raise Refused
            if self.peek() != b"=":
                cell = self.new_cell()
                self.scope[name] = ("cell", cell)
                return ops.assign(cell, ops.Const(None))
            self.at += 1
            if self.is_object():
                start = self.at
                slot = self.object()
                if self.peek() != b":":  # an object, not a method call's result
                    self.scope[name] = ("slot", slot)
                    return ops.nothing
                self.at = start
            value, table = self.expression()
            cell = self.new_cell()
            if table:
                self.may_hold_table(cell)
            self.scope[name] = ("cell", cell)
            return self.assigned(cell, value)
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
            return self.assigned(bound[1], value)
        start = self.at
        if not self.is_object():
            raise Refused
        slot = self.object()
        if self.peek() != b":":
            if self.at - start == 1:  # a local alone is no statement; `request.load()` is a call
                raise Refused
            return ops.nothing
        return self.method_call(slot, line, statement=True)[0]

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
                if literal is NOT_LITERAL or (kind == "string") != (len(args) == 2 and literal is not None):
                    raise Refused
                value: ops.Expr = ops.Const(literal)
            else:  # the message: a table fails with its class name (subset_ops.custom_error)
                value, _ = self.expression()
            args.append(value)
            literals.append(literal)
        self.at += 1
        self.on_line(line)
        status = literals[1] if len(literals) > 1 else None
        content_type = literals[2] if len(literals) > 2 else None
        return ops.custom_error(args, status, content_type, self.where(line))
