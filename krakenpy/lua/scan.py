"""Which scripts can run without the instruction-count hook: a compile-time scan of the source.

The count hook makes the Lua VM trap on every instruction of a run (~5.6 k machine instructions of
the P3 pair's ~60 k). A *straight-line* script cannot loop: no ``for``/``while``/``repeat``/``goto``,
no ``function`` (so no recursion), and every name it uses is a keyword, one of its own ``local``
names, or a name of the KrakenD API whose calls are bounded (below; a call that converts data is
charged, which checks the budget without the hook). Such a script runs a number of VM
instructions bounded by its size, far below the budgets it may run under (:data:`MIN_BUDGET`), so
counting them cannot stop it; nor can it yield, so it runs directly, without a worker coroutine (see
prelude.lua's ``direct``). The scan is conservative: anything it does not recognise (a long
string or comment, any other name, such as ``string``, ``pcall`` or ``setmetatable``) keeps the hook.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_SOURCE", "MIN_BUDGET", "straight_line"]

#: the longest source scanned: its VM instructions stay far below MIN_BUDGET
MAX_SOURCE: Final = 4096
#: the smallest budget a run may skip the hook under (a smaller one is counted exactly)
MIN_BUDGET: Final = 1_000_000

#: what can repeat: loops, gotos, functions (recursion)
_LOOPS: Final = frozenset("function for while repeat until goto in".split())
_KEYWORDS: Final = frozenset("local if then else elseif end return and or not nil true false do break".split())
#: the API objects' globals, loaders and methods; helpers without loops of their own
_API: Final = frozenset(
    """request response ctx load luaTable luaList luaNil new json encode decode null base64
    custom_error exit tostring tonumber type
    method path url query params headers headerList body host
    isComplete statusCode error data
    get set len del keys keyExists""".split()
)
_TOKEN: Final = re.compile(
    r"""(?P<space>\s+)
    |(?P<long>--\[=*\[|\[=*\[)
    |(?P<comment>--[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<number>[0-9](?:[eEpP][+-]|[0-9A-Za-z_.])*)
    |(?P<symbol>\.\.\.|\.\.|[-+*/%^\#&~|<>=(){}\[\];:,.])
    """,
    re.VERBOSE | re.DOTALL,
)


def straight_line(source: str, globals_: frozenset[str]) -> bool:
    """True when ``source`` (a chunk that compiles) can only run straight through (see the module doc).

    ``globals_`` are the sandbox's global names: a script's local may not be named like one, so a
    name that is a local anywhere never reaches a global the scan did not allow (``local s = string``
    is refused for ``string``; ``local string = string`` for the declaration).
    """
    if len(source) > MAX_SOURCE or source.startswith("#"):
        return False
    names: list[str] = []
    locals_: set[str] = set()
    declaring = False
    pos, end = 0, len(source)
    while pos < end:
        m = _TOKEN.match(source, pos)
        if m is None or m.lastgroup == "long":
            return False
        pos = m.end()
        kind = m.lastgroup
        if kind == "space" or kind == "comment":
            continue
        text = m.group()
        if kind == "name":
            if text in _LOOPS:
                return False
            if declaring:
                if text in globals_ or text in _KEYWORDS or text in _API:
                    return False
                locals_.add(text)
            elif text == "local":
                declaring = True
            else:
                names.append(text)
            continue
        if text == "[":
            # indexing by a computed key reaches any field: ('')['rep'], s[k] for a string's methods
            # (string.find's Lua matcher trusts the hook to stop it), so a key must be a name
            return False
        # `local a, b = ...`: the names declared run up to the first symbol other than a comma
        declaring = declaring and text == ","
    return all(n in _KEYWORDS or n in _API or n in locals_ for n in names)
