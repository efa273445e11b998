"""Scripts that only call setters with literal arguments, run without entering Lua.

A ``pre`` or ``post`` such as P3's ``local r = request.load(); r:headers('X-Bench', 'lua')`` does
nothing but its accessor calls: every value it passes is written in its source, no call returns a
value it uses, and it cannot loop. Running it in Lua costs two crossings per phase (Python into Lua
for the run, Lua back into Python for the accessor; ~7 k machine instructions each, fixed lupa costs
among them) and an env and a record per request, for a single Python function call's worth of work.
A *setter plan* makes the same calls from Python: the same accessor (:mod:`krakenpy.lua.api`), with
the arguments lupa would hand over (strings as bytes, integers, booleans, nil as None) and their
count, and an error result raised as api.lua's method wrapper raises it (``name:line: message``,
its status kept). The P3 pair through the server: see bench/README.md § "Setter scripts without Lua".

What a plan accepts (anything else, a byte of it, runs in Lua):

- statements ``local NAME = OBJ`` and ``OBJ:SETTER(LITERAL, ...)``, each on one line (the line an
  error names), separated by spaces, newlines or ``;``; line comments (``--`` not followed by ``[``);
- ``OBJ``: ``request.load()``, ``response.load()`` (``post`` only: ``response`` is nil in ``pre``),
  ``ctx.load()`` (the router level's ``pre``, where it is the only one), a local bound to one, or a
  response object's ``:data()`` (the response's data as a ``luaTable``);
- ``SETTER``: a method with the argument count that makes it a setter (:data:`SETTERS`), whose
  result is nothing or an error;
- ``LITERAL``: a short string without escapes (``'...'``, ``"..."``), a decimal integer of at most
  18 digits (optionally negative), ``true``, ``false``, ``nil``.

A script outside that list may still be in the wider subset of :mod:`krakenpy.lua.subset` (getters,
comparisons, ``if``, ``custom_error``), whose plan is a compiled chunk instead of a list of steps.

Such a script's limits cannot stop it: it runs a few VM instructions per call, and a literal
converts for no charge (a ``set`` of a string or a scalar), so no budget of at least
:data:`~krakenpy.lua.scan.MIN_BUDGET` is reached; a plan is only used without a ``timeout`` (the
deadline is checked by charges; none happen here), without ``sources`` and without open libs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.lua import subset
from krakenpy.lua.api.store import Accessor
from krakenpy.lua.guard import Guard

__all__ = ["CTX", "DATA", "IDS", "REQUEST", "RESPONSE", "SETTERS", "Plan", "Step", "plan"]

#: the objects a run may use, by slot: the request, the response (its ``PostState``), its data; the
#: router level's ``ctx`` (the same request, through ctx's accessors)
REQUEST: Final = 0
RESPONSE: Final = 1
DATA: Final = 2
CTX: Final = 3
#: slot → the id of its object during a setter run: reserved, as krakenpy.lua.handles hands out positive
#: ids only (a run is synchronous: the ids are filled before it and cleared after it). Not -1 and -2:
#: CPython hashes both to -2, and the second of them cost ~2 k machine instructions per lookup in the
#: runtime's object table (callgrind, compiled: ``response:statusCode()`` 2.5 k, ~0.3 k with these ids)
IDS: Final = {REQUEST: -3, RESPONSE: -4, DATA: -5, CTX: -3}
#: slot → setter method → the argument count that makes it a setter (its result: nil or an error)
SETTERS: Final[Mapping[int, Mapping[str, int]]] = {
    REQUEST: {"method": 1, "path": 1, "url": 1, "query": 1, "body": 1, "params": 2, "headers": 2},
    RESPONSE: {"isComplete": 1, "statusCode": 1, "body": 1, "headers": 2},
    DATA: {"set": 2, "del": 1},
    CTX: {"method": 1, "url": 1, "host": 1, "query": 2, "body": 1, "params": 2, "headers": 2},
}
#: the Lua class of each slot (the accessor tables of :class:`krakenpy.lua.bindings.Bindings`)
CLASS_OF: Final = {REQUEST: b"request", RESPONSE: b"response", DATA: b"luaTable", CTX: b"ctx"}
#: the longest source planned (as krakenpy.lua.scan's MAX_SOURCE)
MAX_SOURCE: Final = 4096
_KEYWORDS: Final = frozenset(
    b"""and break do else elseif end false for function goto if in local nil not or repeat return then true
    until while""".split()
)
_TOKEN: Final = re.compile(
    rb"""(?P<newline>\n)
    |(?P<space>[ \t\f\v]+)
    |(?P<comment>--(?!\[)[^\n\r]*)
    |(?P<string>'[^'\\\n\r]*'|"[^"\\\n\r]*")
    |(?P<number>-?[0-9]{1,18}(?![0-9A-Za-z_.]))
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<symbol>[.:(),;=])
    """,
    re.VERBOSE,
)

#: one accessor call: the object's slot, the accessor, its arguments (count first), the error prefix
Step = tuple[int, Accessor, tuple[Any, ...], bytes]


@dataclass(frozen=True, slots=True)
class Plan:
    """A script's accessor calls, in order, and the slots they use; or, for a script of the wider subset
    (:mod:`krakenpy.lua.subset`), no steps and its compiled chunk."""

    steps: tuple[Step, ...]
    slots: frozenset[int]
    #: the subset's chunk (raises :class:`~krakenpy.lua.subset_values.Fault`) and the locals to clear after it
    chunk: Callable[[], object] | None = None
    clear: tuple[list[Any], ...] = ()


def plan(
    source: bytes,
    name: str,
    phase: str,
    accessors: Mapping[bytes, Mapping[bytes, Accessor]],
    globals_: frozenset[str],
    objects: dict[int, Any],
    guard: Guard | None = None,
) -> Plan | None:
    """The plan of ``source`` (chunk ``name``; ``phase``: ``pre``, ``post`` or ``router``), or None.

    Setter calls alone make a list of steps; else the wider subset (:mod:`krakenpy.lua.subset`) a
    compiled chunk; ``objects`` is the runtime's id → object table (which ``luaTable:get`` reads);
    ``accessors`` are the bare ones; ``guard`` the memory guard the subset's getter calls ask (as Lua's do).
    """
    if len(source) > MAX_SOURCE or len(name) > 40:  # a longer chunk name would be cut in Lua's positions
        return None
    tokens = _tokens(source)
    if tokens is None:
        return _general(source, name, phase, accessors, globals_, objects, guard)
    parser = _Parser(tokens, phase, accessors, globals_, f"{name}:".encode())
    try:
        return parser.parse()
    except _Refused:
        return _general(source, name, phase, accessors, globals_, objects, guard)


def _general(
    source: bytes,
    name: str,
    phase: str,
    accessors: Mapping[bytes, Mapping[bytes, Accessor]],
    globals_: frozenset[str],
    objects: dict[int, Any],
    guard: Guard | None,
) -> Plan | None:
    toks = subset.tokens(source)
    if toks is None:
        return None
    loaders = _LOADERS[phase]
    try:
        chunk, calls, clear = subset.compile_subset(
            toks, f"{name}:".encode(), loaders, CLASS_OF, SETTERS, accessors, objects, IDS, globals_, guard
        )
    except subset.Refused:
        return None
    return Plan((), frozenset(slot for slot, _ in calls), chunk, clear)


#: phase → the globals whose ``load()`` gives an object there (response is nil in pre; ctx is the
#: router level's only one)
_LOADERS: Final[Mapping[str, Mapping[bytes, int]]] = {
    "pre": {b"request": REQUEST},
    "post": {b"request": REQUEST, b"response": RESPONSE},
    "router": {b"ctx": CTX},
}


class _Refused(Exception):
    """Not a setter script."""


def _tokens(source: bytes) -> list[tuple[str, bytes, int]] | None:
    out: list[tuple[str, bytes, int]] = []
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


class _Parser:
    def __init__(
        self,
        tokens: list[tuple[str, bytes, int]],
        phase: str,
        accessors: Mapping[bytes, Mapping[bytes, Accessor]],
        globals_: frozenset[str],
        prefix: bytes,
    ) -> None:
        self.tokens = tokens
        self.at = 0
        self.phase = phase
        self.accessors = accessors
        self.globals = globals_
        self.prefix = prefix
        self.locals: dict[bytes, int] = {}
        self.steps: list[Step] = []
        self.line = 0

    def parse(self) -> Plan:
        while self.at < len(self.tokens):
            text, line = self.tokens[self.at][1:]
            if text == b";":
                self.at += 1
                continue
            self.line = line
            if text == b"local":
                self.at += 1
                name = self.take("name")
                if name == b"_ENV" or name.decode() in self.globals:  # a local hiding a global (or them all)
                    raise _Refused
                self.expect(b"=")
                self.locals[name] = self.object()
            else:
                self.statement()
            if self.at < len(self.tokens):
                # the next statement starts with a name or `;`: `(`, `:`, `.` or a string would
                # continue this one
                kind, text, _ = self.tokens[self.at]
                if text != b";" and (kind != "name" or (text in _KEYWORDS and text != b"local")):
                    raise _Refused
        return Plan(tuple(self.steps), frozenset(step[0] for step in self.steps))

    def statement(self) -> None:
        """``OBJ:SETTER(args)``, or a call alone (``request.load()``)."""
        local = self.tokens[self.at][1] in self.locals
        slot = self.object()
        if not self.next_is(b":"):
            if local and self.tokens[self.at - 1][1] != b")":  # a name alone is no statement
                raise _Refused
            return
        self.at += 1
        method = self.take("name")
        self.expect(b"(")
        args = self.args()
        if SETTERS[slot].get(method.decode()) != len(args):
            raise _Refused
        accessor = self.accessors[CLASS_OF[slot]][method]
        where = self.prefix + str(self.line).encode() + b": "
        if slot == DATA and method == b"set" and type(args[0]) is bytes:  # decoded once (luaTable's set_)
            args = (args[0].decode("utf-8", "replace"), *args[1:])
        self.steps.append((slot, accessor, (len(args), *args), where))

    def object(self) -> int:
        """``request.load()``, ``response.load()``, a local, then any ``:data()``."""
        name = self.take("name")
        slot = self.locals.get(name)
        if slot is None:
            if name == b"request" and self.phase != "router":
                slot = REQUEST
            elif name == b"ctx" and self.phase == "router":
                slot = CTX
            elif name == b"response" and self.phase == "post":
                slot = RESPONSE
            else:
                raise _Refused
            self.expect(b".")
            if self.take("name") != b"load":
                raise _Refused
            self.expect(b"(")
            self.expect(b")")
        while slot == RESPONSE and self.next_is(b":") and self.tokens[self.at + 1][1] == b"data":
            self.at += 2
            self.expect(b"(")
            self.expect(b")")
            slot = DATA
        return slot

    def args(self) -> tuple[Any, ...]:
        values: list[Any] = []
        if self.next_is(b")"):
            self.at += 1
            return ()
        while True:
            kind, text, line = self.advance()
            if kind == "string":
                values.append(text[1:-1])
            elif kind == "number":
                values.append(int(text))
            elif text == b"true" or text == b"false" or text == b"nil":
                values.append(None if text == b"nil" else text == b"true")
            else:
                raise _Refused
            kind, text, line = self.advance()
            if text == b")":
                return tuple(values)
            if text != b",":
                raise _Refused

    def peek(self) -> str:
        return self.tokens[self.at][0]

    def next_is(self, symbol: bytes) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at][1] == symbol

    def advance(self) -> tuple[str, bytes, int]:
        if self.at >= len(self.tokens):
            raise _Refused
        token = self.tokens[self.at]
        if token[2] != self.line:  # one statement, one line: the line an error names
            raise _Refused
        self.at += 1
        return token

    def take(self, kind: str) -> bytes:
        token = self.advance()
        if token[0] != kind or (kind == "name" and token[1] in _KEYWORDS):
            raise _Refused
        return token[1]

    def expect(self, symbol: bytes) -> None:
        if self.advance()[1] != symbol:
            raise _Refused
