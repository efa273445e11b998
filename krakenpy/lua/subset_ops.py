"""The closures a :mod:`krakenpy.lua.subset` script compiles to: one per expression or statement.

An expression is a function of no argument returning a Lua value (:mod:`krakenpy.lua.subset_values`),
a statement one whose result is ignored; ``return`` raises :class:`Returned`. An accessor error
becomes a :class:`Fault` carrying the result prelude.lua would describe (``name:line: message``,
its status), which the middleware hands to the runtime's ``outcome``, as for a run in Lua.
Literals are :class:`Const` (callable too), folded into the calls and comparisons that use them:
each closure call saved is ~0.3-0.5 k machine instructions, against ~16 k for a whole pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from krakenpy.lua.api.store import Accessor
from krakenpy.lua.convert import Kind
from krakenpy.lua.guard import STRING_OVERHEAD, Guard
from krakenpy.lua.subset_values import LUA_NIL, Fault, LuaObject, lifted, lua_eq, lua_tostring, table_key, truthy

__all__ = [
    "Const",
    "Expr",
    "Held",
    "LiteralCall",
    "Returned",
    "SetterErrors",
    "Stmt",
    "assign",
    "block",
    "call",
    "checked",
    "checked_beside",
    "compare",
    "custom_error",
    "get",
    "if_",
    "kept",
    "local",
    "logic",
    "not_",
    "nothing",
    "order",
    "returned",
    "set_any",
]

Expr = Callable[[], Any]
Stmt = Callable[[], Any]


class Returned(Exception):
    """A chunk ran ``return``."""


class Const:
    """A literal: its value, and callable as any expression."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self) -> Any:
        return self.value


#: an accessor's out-of-memory error: raised without a position (prelude.lua's ``fail``)
_MEMERR: Final = b"not enough memory"
#: lupa's message when a getter's integer does not fit Lua's (the run fails at the call's line)
_OVERFLOW: Final = b"Python int too large to convert to C long"


def _number(v: object) -> bool:
    """A Lua number as lupa hands it over: an int or a float, not a bool (``type``, not ``__class__``:
    compiled, ``v.__class__`` is a generic attribute lookup, ~0.2 k machine instructions)."""
    t = type(v)
    return t is int or t is float


def failed(where: bytes, result: Any) -> Fault:
    """The fault of an accessor's error result, raised at ``where`` (api.lua's method wrapper)."""
    message = result[1]
    if message == _MEMERR:
        return Fault((b"error", message))
    return Fault((b"error", where + message, *result[2:]))


class SetterErrors:
    """The memory guard a setter's error message must pass, as Lua's guarded call of the setter asks (the
    message may name a client value: the body as a header name). In the VM the call's arguments and the
    locals' strings are Lua strings when it is asked; here they are Python's: counted in as held, as the
    VM holds them. ``fresh``: locals only ever assigned a getter's result, each its own Lua string;
    ``shared``: locals that may hold another's value or a literal, counted once per object;
    ``fresh_args``: which arguments are a getter's result, a Lua string of its own (``local a =
    r:body()`` then ``r:headers(r:body(), …)`` holds two copies in the VM and one Python object here:
    counted once, the subset answered the message up to ~310 KB under a 1 MiB cap where the VM
    answered its memory error from ~230 KB)."""

    def __init__(
        self, guard: Guard, fresh: Sequence[list[Any]], shared: Sequence[list[Any]], fresh_args: Sequence[bool]
    ) -> None:
        #: the runtime's guard, and the cells in scope at the call (its locals, the operands kept before it)
        self.guard = guard
        self.fresh, self.shared, self.fresh_args = tuple(fresh), tuple(shared), tuple(fresh_args)

    def fault(self, where: bytes, result: Any, args: tuple[Any, ...]) -> Fault:
        """:func:`failed`'s fault, or Lua's memory error when the message would not fit."""
        message = result[1]
        if message != _MEMERR and message.__class__ is bytes:
            total = 0
            counted: set[int] = set()
            for cell in self.fresh:
                v = cell[0]
                if v.__class__ is bytes:
                    total += len(v) + STRING_OVERHEAD
                    counted.add(id(v))
            for cell in self.shared:
                v = cell[0]
                if v.__class__ is bytes and id(v) not in counted:
                    total += len(v) + STRING_OVERHEAD
                    counted.add(id(v))
            for i, v in enumerate(args):
                if v.__class__ is bytes:
                    fresh = i < len(self.fresh_args) and self.fresh_args[i]
                    if fresh or id(v) not in counted:
                        total += len(v) + STRING_OVERHEAD
                        counted.add(id(v))
            if self.guard.refuses_failure(message, where, total):
                return Fault((b"error", _MEMERR))
        return failed(where, result)


class Held:
    """The strings the VM holds in Lua while a getter runs, beside the result its guard asks about: the
    locals in scope at the call (a block's locals end with it: the VM reuses their registers, and an
    emergency collection frees their strings), the operands evaluated before it in the same expression
    (:func:`kept`) and the call's argument. In the
    VM they are Lua strings, in Lua's count; here Python's, which it does not see: counted in as held, as
    :class:`SetterErrors` does for a setter's message (without them a script of getters into locals
    outgrew ``max_memory`` in the subset where the VM answers the memory error).

    A cell is read when the call runs: a local reassigned a number or nil holds no string any more.
    ``fresh``: locals only ever assigned a getter's result, each its own Lua string (two ``r:body()``
    calls are two copies in Lua and one Python object here: counted per local); ``shared``: locals that
    may hold another's value (``local b = a``, one Lua string) or a literal (a constant of the chunk),
    counted once per object; ``fresh_arg``: the argument is a getter's result (a Lua string of its own)."""

    def __init__(self, fresh: Sequence[list[Any]], shared: Sequence[list[Any]], fresh_arg: bool) -> None:
        self.fresh, self.shared, self.fresh_arg = tuple(fresh), tuple(shared), fresh_arg

    def size(self, arg: Any) -> int:
        """The bytes held beside the result (each string with its :data:`STRING_OVERHEAD`)."""
        total = 0
        counted: set[int] = set()
        for cell in self.fresh:
            v = cell[0]
            if type(v) is bytes:
                total += len(v) + STRING_OVERHEAD
                counted.add(id(v))
        for cell in self.shared:
            v = cell[0]
            if type(v) is bytes and id(v) not in counted:
                total += len(v) + STRING_OVERHEAD
                counted.add(id(v))
        if type(arg) is bytes and (self.fresh_arg or id(arg) not in counted):
            total += len(arg) + STRING_OVERHEAD
        return total


def checked(result: Any, where: bytes, guard: Guard) -> Any:
    """A guarded getter's result as a value (nothing, a plain value) or its fault: a string (a value or
    an error message) the memory guard refuses fails with Lua's memory error, as Lua's guarded call of
    the same accessor (:func:`krakenpy.lua.guard.guarded`) does. For a call with no string held beside
    it (no local assigned before it, no getter's result as its argument): :func:`checked_beside` else."""
    if result is None:
        return None
    value = result[1]
    # the first test inline (the string fits, nearly always): Guard.refuses only when it may not
    if type(value) is bytes and len(value) + STRING_OVERHEAD > guard.cap - guard.used() and guard.refuses(value):
        raise Fault((b"error", _MEMERR))
    if result[0] == Kind.PLAIN:
        return value
    raise failed(where, result)


def checked_beside(result: Any, where: bytes, guard: Guard, held: Held, arg: Any = None) -> Any:
    """:func:`checked` with the strings ``held`` beside the result (``arg``: the call's argument). Its
    own function so that a call without them (P3's ``r:method() == 'GET'``) runs :func:`checked`
    unchanged: one function with the count inline cost that call ~0.3 k machine instructions
    (``bench.lua_instructions general``, pure)."""
    if result is None:
        return None
    value = result[1]
    if type(value) is bytes:
        extra = held.size(arg)
        if len(value) + STRING_OVERHEAD + extra > guard.cap - guard.used() and guard.refuses(value, extra):
            raise Fault((b"error", _MEMERR))
    if result[0] == Kind.PLAIN:
        return value
    raise failed(where, result)


def call(
    accessor: Accessor,
    id_: int,
    args: Sequence[Expr],
    where: bytes,
    guard: Guard | None = None,
    errors: SetterErrors | None = None,
    held: Held | None = None,
) -> Expr:
    """A method call whose result is nothing, a plain value or an error (setters and plain getters);
    ``guard``: the memory guard a getter's string must pass (None for setters and number getters), with
    the strings ``held`` beside it; ``errors``: the one a setter's error message must pass (literal
    arguments are Lua's constants already)."""
    n = len(args)
    if all(type(arg) is Const for arg in args):
        literal = LiteralCall(accessor, (id_, n, *(arg.value for arg in args)), where, guard, errors)  # type: ignore[attr-defined]
        literal.held = held
        return literal
    if guard is not None:
        return _guarded_call(accessor, id_, args, where, guard, held)
    if n == 1:
        (arg,) = args

        def call1() -> Any:
            v = arg()
            result = accessor(id_, 1, v)
            if result is None or result[0] == Kind.PLAIN:
                return result and result[1]
            raise failed(where, result) if errors is None else errors.fault(where, result, (v,))

        return call1
    a1, a2 = args  # setters take at most two arguments
    if type(a1) is Const:  # `d:set('k', e)`, `r:headers('X-A', e)`
        k1 = a1.value

        def call_k1() -> Any:
            v = a2()
            result = accessor(id_, 2, k1, v)
            if result is None or result[0] == Kind.PLAIN:
                return result and result[1]
            # as indexed by ``fresh_args`` (the source's arguments); the literal is Lua's constant: not counted
            raise failed(where, result) if errors is None else errors.fault(where, result, (None, v))

        return call_k1

    def call2() -> Any:
        v1, v2 = a1(), a2()
        result = accessor(id_, 2, v1, v2)
        if result is None or result[0] == Kind.PLAIN:
            return result and result[1]
        raise failed(where, result) if errors is None else errors.fault(where, result, (v1, v2))

    return call2


def _guarded_call(
    accessor: Accessor, id_: int, args: Sequence[Expr], where: bytes, guard: Guard, held: Held | None
) -> Expr:
    """A getter call whose arguments are not all literals, its string guarded."""
    n = len(args)
    if n == 1:  # getters take at most one argument (subset_expr.GETTERS)
        (arg,) = args
        if held is not None:
            beside = held

            def call1_beside() -> Any:
                v = arg()
                return checked_beside(accessor(id_, 1, v), where, guard, beside, v)

            return call1_beside

        def call1() -> Any:
            return checked(accessor(id_, 1, arg()), where, guard)

        return call1
    bound = tuple(args)

    def call_n() -> Any:
        result = accessor(id_, n, *[arg() for arg in bound])
        return checked(result, where, guard) if held is None else checked_beside(result, where, guard, held)

    return call_n


class LiteralCall:
    """A call whose arguments are all literals (bound once); :func:`compare` fuses it with a literal.

    A class rather than a closure so that :func:`compare` recognises it by its type: the closures
    were once looked up in a weak-keyed table, and a weak reference to a mypyc-compiled closure
    crashes the interpreter (bench/README.md § "The hot path compiled with mypyc")."""

    def __init__(
        self,
        accessor: Accessor,
        bound: tuple[Any, ...],
        where: bytes,
        guard: Guard | None = None,
        errors: SetterErrors | None = None,
    ) -> None:
        self.accessor, self.bound, self.where, self.guard, self.errors = accessor, bound, where, guard, errors
        #: the strings the VM holds beside a getter's result (:class:`Held`; its literal argument is a constant)
        self.held: Held | None = None

    def __call__(self) -> Any:
        accessor = self.accessor  # bound first: compiled, ``self.accessor(*...)`` is a generic attribute lookup
        result = accessor(*self.bound)
        guard = self.guard
        if guard is not None:
            held = self.held
            return (
                checked(result, self.where, guard) if held is None else checked_beside(result, self.where, guard, held)
            )
        if result is None or result[0] == Kind.PLAIN:
            return result and result[1]
        errors = self.errors
        raise failed(self.where, result) if errors is None else errors.fault(self.where, result, ())


def get(
    accessor: Accessor,
    objects: dict[int, Any],
    id_: int,
    arg: Expr,
    where: bytes,
    guard: Guard | None = None,
    held: Held | None = None,
) -> Expr:
    """``luaTable:get(k)``: the value as api.lua lifts it, without handing a container an id; with a
    ``guard``, a string value or error message beyond the memory left (beside the strings ``held``)
    fails as Lua's guarded call does."""

    def getter() -> Any:
        k = arg()
        key = table_key(k)
        if key is None:  # the accessor's own message for a bad key
            result = accessor(id_, 1, k)
            if guard is not None:
                checked(result, where, guard) if held is None else checked_beside(result, where, guard, held, k)
            raise failed(where, result)
        table = objects[id_]
        if key not in table:
            return None
        try:
            value = lifted(table[key])
        except OverflowError:
            raise Fault((b"error", where + _OVERFLOW)) from None
        if guard is not None and type(value) is bytes:
            extra = 0 if held is None else held.size(k)
            if len(value) + STRING_OVERHEAD + extra > guard.cap - guard.used() and guard.refuses(value, extra):
                raise Fault((b"error", _MEMERR))
        return value

    return getter


def set_any(
    accessor: Accessor,
    objects: dict[int, Any],
    id_: int,
    key: Expr,
    value: Expr,
    where: bytes,
    errors: SetterErrors | None = None,
) -> Expr:
    """``luaTable:set(k, v)`` where ``v`` may be a getter's container: set by reference, as from_lua does;
    ``errors``: the memory guard its error message must pass."""

    def setter() -> Any:
        k, v = key(), value()
        if type(v) is LuaObject:
            result = accessor(id_, 2, k, None)  # the key's checks (a nil value sets nothing)
            if result is not None:
                raise failed(where, result) if errors is None else errors.fault(where, result, (k,))
            objects[id_][table_key(k)] = v.value  # luaNil's is None: a JSON null
            return None
        result = accessor(id_, 2, k, v)
        if result is None or result[0] == Kind.PLAIN:
            return None
        raise failed(where, result) if errors is None else errors.fault(where, result, (k, v))

    return setter


def compare(left: Expr, right: Expr, equal: bool) -> Expr:
    """``==`` (``equal``) or ``~=``; with a literal on one side, its type's test inline."""
    if type(left) is Const and type(right) is not Const:
        left, right = right, left  # Lua's equality is symmetric
    if type(right) is Const:
        k = right.value
        if type(left) is LiteralCall:
            if left.guard is not None:
                return _guarded_compared(left.accessor, left.bound, left.where, left.guard, left.held, k, equal)
            return _call_compared(left.accessor, left.bound, left.where, k, equal)
        if type(k) is bytes:
            if equal:
                return lambda: type(v := left()) is bytes and v == k
            return lambda: not (type(v := left()) is bytes and v == k)
        if k is None or k is True or k is False:
            return (lambda: left() is k) if equal else (lambda: left() is not k)
        if type(k) is int or type(k) is float:  # not a boolean (bool is a subclass of int)
            if equal:
                return lambda: _number(v := left()) and v == k
            return lambda: not (_number(v := left()) and v == k)
    if equal:
        return lambda: lua_eq(left(), right())
    return lambda: not lua_eq(left(), right())


def _call_compared(accessor: Accessor, bound: tuple[Any, ...], where: bytes, k: Any, equal: bool) -> Expr:
    """A getter call with literal arguments compared with a literal, in one closure (P3-general's
    ``r:method() == 'GET'``: one Python call fewer than the call and the comparison apart)."""

    def value() -> Any:  # the call's result, or its fault (api.lua's method wrapper)
        result = accessor(*bound)
        if result is None or result[0] == Kind.PLAIN:
            return result and result[1]
        raise failed(where, result)

    if type(k) is bytes:

        def eq_string() -> bool:
            result = accessor(*bound)
            if result is not None and result[0] != Kind.PLAIN:
                raise failed(where, result)
            v = result and result[1]
            return (type(v) is bytes and v == k) is equal

        return eq_string
    if type(k) is int or type(k) is float:

        def eq_number() -> bool:
            result = accessor(*bound)
            if result is not None and result[0] != Kind.PLAIN:
                raise failed(where, result)
            v = result and result[1]
            return (_number(v) and v == k) is equal

        return eq_number
    if equal:
        return lambda: lua_eq(value(), k)
    return lambda: not lua_eq(value(), k)


def _guarded_compared(
    accessor: Accessor, bound: tuple[Any, ...], where: bytes, guard: Guard, held: Held | None, k: Any, equal: bool
) -> Expr:
    """:func:`_call_compared` for a guarded getter (P3-general's ``r:method() == 'GET'``): the guard
    asked in the same closure, without a wrapper's call and argument tuple; with strings ``held``
    beside the result, Lua's equality on :func:`checked_beside`'s value."""
    if held is not None:
        beside = held
        if equal:
            return lambda: lua_eq(checked_beside(accessor(*bound), where, guard, beside), k)
        return lambda: not lua_eq(checked_beside(accessor(*bound), where, guard, beside), k)
    if type(k) is bytes:

        def eq_string() -> bool:
            v = checked(accessor(*bound), where, guard)
            return (type(v) is bytes and v == k) is equal

        return eq_string
    if type(k) is int or type(k) is float:

        def eq_number() -> bool:
            v = checked(accessor(*bound), where, guard)
            return (_number(v) and v == k) is equal

        return eq_number
    if equal:
        return lambda: lua_eq(checked(accessor(*bound), where, guard), k)
    return lambda: not lua_eq(checked(accessor(*bound), where, guard), k)


def order(left: Expr, right: Expr, op: bytes, where: bytes) -> Expr:
    """``<``, ``<=``, ``>``, ``>=``: numbers with numbers, strings with strings (bytes: strcmp in the C
    locale), else Lua's error, which names the types in the order of the ``<``/``<=`` it compiles to
    (``a > b`` is ``b < a``) at the operator's line."""
    swap = op in (b">", b">=")
    strict = op in (b"<", b">")

    def compared() -> bool:
        a, b = left(), right()  # evaluated in source order
        if swap:
            a, b = b, a
        if (_number(a) and _number(b)) or (type(a) is bytes and type(b) is bytes):
            return a < b if strict else a <= b  # type: ignore[no-any-return]
        t1, t2 = _typename(a), _typename(b)
        message = b"two " + t1 + b" values" if t1 == t2 else t1 + b" with " + t2
        raise Fault((b"error", where + b"attempt to compare " + message))

    return compared


def _typename(v: Any) -> bytes:
    """Lua's type name of a value, a table's ``__name`` (luaTable, luaList, luaNil) for a getter's container."""
    if v is None:
        return b"nil"
    if v is True or v is False:
        return b"boolean"
    if _number(v):
        return b"number"
    if type(v) is bytes:
        return b"string"
    return _class(v)


def not_(operand: Expr) -> Expr:
    """``not``: true for nil and false only."""
    return lambda: not truthy(operand())


def logic(left: Expr, right: Expr, is_and: bool) -> Expr:
    """``and`` / ``or``: an operand, the right one evaluated only when needed."""
    if is_and:

        def and_() -> Any:
            value = left()
            return right() if value is not None and value is not False else value

        return and_

    def or_() -> Any:
        value = left()
        return value if value is not None and value is not False else right()

    return or_


def block(statements: Sequence[Stmt]) -> Stmt:
    """Statements in order."""
    statements = tuple(statements)
    if len(statements) == 1:
        return statements[0]

    def run() -> None:
        for statement in statements:
            statement()

    return run


def nothing() -> None:
    """An empty block (or a statement that only binds an object)."""


def if_(branches: Sequence[tuple[Expr, Stmt]], otherwise: Stmt | None) -> Stmt:
    """``if … then … elseif … else … end``."""
    branches = tuple(branches)
    if len(branches) == 1:
        ((condition, body),) = branches
        if otherwise is None:

            def if1() -> None:
                value = condition()
                if value is not None and value is not False:
                    body()

            return if1
        other = otherwise

        def if_else() -> None:
            value = condition()
            if value is not None and value is not False:
                body()
            else:
                other()

        return if_else

    def run() -> None:
        for condition, body in branches:
            value = condition()
            if value is not None and value is not False:
                body()
                return
        if otherwise is not None:
            otherwise()

    return run


def custom_error(args: Sequence[Expr], status: Any, content_type: Any, where: bytes) -> Stmt:
    """api.lua's ``custom_error(msg[, status[, content_type]])``; ``status`` and ``content_type`` are literals."""
    n = len(args)
    # the errors' payloads built once; each raise makes a new Fault: a raised exception object collects
    # its traceback, so one object raised per request would keep every request's frames alive
    fail_status = (b"error", where + b"custom_error: the status must be an integer between 100 and 999")
    code: int | None = None
    if status is not None:
        number = status if type(status) is int or type(status) is float else None
        if number is None or math.isinf(number) or number != math.floor(number) or not 100 <= number <= 999:
            code = -1
        else:
            code = int(number)
    ct_fault: tuple[bytes, bytes] | None = None
    if content_type is not None and any(c < 32 or c == 127 for c in content_type):
        ct_fault = (b"error", where + b"custom_error: control characters are not allowed in the content type")

    def run() -> None:
        values = [arg() for arg in args]  # every argument is evaluated before the call
        if n == 0:
            raise Fault((b"error", where + b"need arguments"))
        msg = values[0]
        if type(msg) is bytes:
            text = msg
        elif type(msg) is int or type(msg) is float:
            text = lua_tostring(msg)
        else:
            got = b"nil" if msg is None else b"boolean" if msg is True or msg is False else _class(msg)
            raise Fault((b"error", where + b"bad argument #1 to 'custom_error' (string expected, got " + got + b")"))
        if code == -1:
            raise Fault(fail_status)
        if ct_fault is not None:
            raise Fault(ct_fault)
        raise Fault((b"custom", text, code, content_type))

    return run


def kept(cell: list[Any], value: Expr) -> Expr:
    """An operand the VM keeps in a register while the rest of its expression runs (a comparison's left
    side, a setter's first argument): its value also stored in ``cell``, which the getter calls after it
    count as held (:class:`Held`; ``r:body() == r:body()`` holds two bodies when the second is copied)."""

    def run() -> Any:
        v = value()
        cell[0] = v
        return v

    return run


def assign(slot: list[Any], value: Expr) -> Stmt:
    """``local x = e`` / ``x = e``: a local's value (one cell per declaration)."""

    def run() -> None:
        slot[0] = value()

    return run


def local(slot: list[Any]) -> Expr:
    """A local's current value."""
    return lambda: slot[0]


def returned() -> None:
    """``return``: ends the chunk."""
    raise Returned


def _class(v: Any) -> bytes:
    """The ``__name`` of a getter's container (api.lua's classes)."""
    if v is LUA_NIL:
        return b"luaNil"
    return b"luaTable" if type(v.value) is dict else b"luaList"
