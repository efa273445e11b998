"""Which Python CEL library behaves like KrakenD's cel-go, and how fast: ``python -m bench.cel_fidelity``.

A benchmark and a decision record, not a test. Each case is an expression, the variables KrakenD would
bind (edge-security.md §9: ``req_params`` map(string,string), ``req_headers``/``req_querystring``
map(string,list(string)), ``resp_data``/``JWT`` map(string,dyn) with JSON numbers as doubles, ``now`` a
string) and what cel-go 0.26 does with KrakenD's environment (standard library only, no cross-type
numeric comparisons in the checker):

- ``True``/``False``: the check passes / aborts;
- ``"error"``: evaluation error (missing key, no overload at run time...), which aborts too;
- ``"check"``: the type check fails, so KrakenD silently skips the expression;
- ``"syntax"``: the parser fails, so KrakenD disables the whole CEL block.

Every library installed in the running interpreter is tried (``cel-expr-python``,
``common-expression-language``, ``cel-python``); the others are listed as missing. Install them in a
scratch venv to compare: ``pip install cel-expr-python common-expression-language cel-python``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

NOW = "2018-12-10T00:00:00Z"  # a Monday (getDayOfWeek() == 1), as in krakend-cel's rejecter test

REQ: dict[str, Any] = {
    "req_method": "POST",
    "req_path": "/users/42",
    "req_params": {"Id": "42", "Nick": "kpacha"},
    "req_headers": {"X-Tenant": ["acme"], "User-Agent": ["curl/8.5"], "Content-Type": ["application/json"]},
    "req_querystring": {"x": ["4"], "y": ["2", "3"]},
    "now": NOW,
}
RESP: dict[str, Any] = {
    "resp_completed": True,
    "resp_metadata_status": 200,
    "resp_metadata_headers": {"Content-Type": ["application/json"]},
    "resp_data": {
        "Id": "42",
        "price": 12.5,
        "count": 3.0,
        "flag": True,
        "nothing": None,
        "items": [{"id": 1.0}, {"id": 2.0}],
        "nested": {"a": {"b": "c"}},
    },
    "now": NOW,
}
JWT: dict[str, Any] = {
    "JWT": {
        "sub": "user-1",
        "roles": ["admin", "user"],
        "exp": 1735689600.0,
        "user_id": 1.0,
        "enabled_days": [1.0, 2.0, 3.0, 4.0, 5.0],
    },
    "now": NOW,
}

#: (expression, variables, cel-go outcome, what it shows)
CASES: list[tuple[str, dict[str, Any], object, str]] = [
    ("int(req_params.Id) % 2 == 0", REQ, True, "param string to int"),
    ("'2' in req_querystring.y", REQ, True, "list membership"),
    ("int(req_querystring.x[0]) % 2 == 0", REQ, True, "query value to int"),
    ("req_params.Nick in ['kpacha', 'alombarte']", REQ, True, "string in list literal"),
    ("req_params.Nick.matches('kpacha|alombarte')", REQ, True, "RE2 partial match"),
    ("req_params.Nick.matches('^(foo|bar)$')", REQ, False, "RE2 anchored mismatch"),
    ("req_method == 'POST' && req_path.startsWith('/users/')", REQ, True, "strings"),
    ("req_headers['X-Tenant'][0] == 'acme'", REQ, True, "header list index"),
    ("'X-Debug' in req_headers", REQ, False, "map key membership"),
    ("!has(req_headers.Authorization)", REQ, True, "has() on a map"),
    ("req_headers['User-Agent'][0].contains('curl')", REQ, True, "contains"),
    ("size(req_params) == 2", REQ, True, "size of a map"),
    ("req_params.Missing == 'x'", REQ, "error", "missing key"),
    ("req_querystring.x[5] == '1'", REQ, "error", "index out of range"),
    ("int(req_params.Nick) > 0", REQ, "error", "bad int conversion"),
    ("req_method", REQ, False, "non-bool result aborts"),
    ("req_method == 1", REQ, "check", "type check: string == int"),
    ("req_path.lowerAscii() == '/users/42'", REQ, "check", "no string extension"),
    ("2.0 > 1", REQ, "check", "no cross-type comparison in the checker"),
    ("1 == 1.0", REQ, "check", "literal int == double"),
    ("undeclared_var == 1", REQ, "check", "undeclared variable"),
    ("req_method == ", REQ, "syntax", "syntax error"),
    ("req_method == 'GET' &&", REQ, "syntax", "syntax error"),
    ("timestamp(now) > timestamp('2018-01-01T00:00:00Z')", REQ, True, "timestamp(now)"),
    ("timestamp(now).getDayOfWeek() == 1", REQ, True, "getDayOfWeek (UTC)"),
    ("timestamp(now).getHours('Europe/Madrid') == 1", REQ, True, "time zone"),
    ("timestamp(now) - timestamp('2018-12-09T23:00:00Z') == duration('1h')", REQ, True, "duration"),
    ("resp_completed && resp_metadata_status == 200", RESP, True, "bool and int"),
    ("int(resp_data.Id) % 2 == 0", RESP, True, "krakend-cel test: resp_data string to int"),
    ("resp_data.price > 10", RESP, True, "dyn double > int (run-time cross-type)"),
    ("resp_data.count == 3", RESP, True, "dyn double == int (heterogeneous equality)"),
    ("resp_data.count + 1 == 4.0", RESP, "check", "dyn + int is typed int by the checker"),
    ("resp_data.count + 1 > 0", RESP, "error", "double + int: no overload at run time"),
    ("double(resp_data.count) / 2.0 == 1.5", RESP, True, "double arithmetic"),
    ("type(resp_data.count) == double", RESP, True, "JSON numbers are doubles"),
    ("resp_data.flag == true && resp_data.nothing == null", RESP, True, "bool and null"),
    ("size(resp_data.items) == 2 && resp_data.items.exists(i, i.id == 2)", RESP, True, "list macros"),
    ("resp_data.items.all(i, i.id > 0)", RESP, True, "all() macro"),
    ("resp_data.nested.a.b == 'c'", RESP, True, "nested maps"),
    ("has(resp_data.missing)", RESP, False, "has() false"),
    ("string(resp_data.count) == '3'", RESP, True, "double to string"),
    ("'Content-Type' in resp_metadata_headers", RESP, True, "response headers"),
    (
        "has(JWT.user_id) && has(JWT.enabled_days) && (timestamp(now).getDayOfWeek() in JWT.enabled_days)",
        JWT,
        True,
        "krakend-cel rejecter test (int in list of doubles)",
    ),
    ("'admin' in JWT.roles", JWT, True, "role in claim list"),
    ("JWT.sub.startsWith('user-')", JWT, True, "claim string"),
    ("JWT.exp > 1000", JWT, True, "double claim > int"),
    ("timestamp(int(JWT.exp)) > timestamp(now)", JWT, True, "timestamp(int)"),
]

#: expressions for the speed table (request phase, the variables above)
SPEED = [
    "req_method == 'POST'",
    "int(req_params.Id) % 2 == 0",
    "req_headers['X-Tenant'][0] == 'acme' && 'y' in req_querystring",
    "req_params.Nick.matches('^[a-z]+$')",
]

TYPES = {
    "req_method": "string",
    "req_path": "string",
    "req_params": "map(string,string)",
    "req_headers": "map(string,list(string))",
    "req_querystring": "map(string,list(string))",
    "resp_completed": "bool",
    "resp_metadata_status": "int",
    "resp_metadata_headers": "map(string,list(string))",
    "resp_data": "map(string,dyn)",
    "JWT": "map(string,dyn)",
    "now": "string",
}


class Syntax(Exception):
    pass


class Check(Exception):
    pass


#: compile(expr) -> run(variables) -> value; raises Syntax / Check at compile time
Adapter = Callable[[str], Callable[[dict[str, Any]], Any]]


def cel_expr_python() -> Adapter:
    from cel_expr_python import cel  # type: ignore[import-not-found]

    t = cel.Type
    types = {
        "string": t.STRING,
        "bool": t.BOOL,
        "int": t.INT,
        "map(string,string)": t.Map(t.STRING, t.STRING),
        "map(string,list(string))": t.Map(t.STRING, t.List(t.STRING)),
        "map(string,dyn)": t.Map(t.STRING, t.DYN),
    }
    env = cel.NewEnv(variables={name: types[kind] for name, kind in TYPES.items()})

    def compile_(expr: str) -> Callable[[dict[str, Any]], Any]:
        try:
            env.compile(expr, disable_check=True)
        except RuntimeError as exc:
            raise Syntax(str(exc)) from None
        try:
            program = env.compile(expr)
        except RuntimeError as exc:
            raise Check(str(exc)) from None

        def run(variables: dict[str, Any]) -> Any:
            value = program.eval(data=variables)
            if value.type() == t.ERROR:
                raise RuntimeError(str(value.value()))
            return value.value()

        return run

    return compile_


def common_expression_language() -> Adapter:
    import cel  # type: ignore[import-not-found]

    def compile_(expr: str) -> Callable[[dict[str, Any]], Any]:
        try:
            program = cel.compile(expr)
        except ValueError as exc:
            raise Syntax(str(exc)) from None
        return lambda variables: program.execute(variables)

    return compile_


def cel_python() -> Adapter:
    import celpy  # type: ignore[import-not-found]

    env = celpy.Environment()

    def compile_(expr: str) -> Callable[[dict[str, Any]], Any]:
        try:
            program = env.program(env.compile(expr))
        except celpy.CELParseError as exc:
            raise Syntax(str(exc)) from None

        def run(variables: dict[str, Any]) -> Any:
            value = program.evaluate({k: celpy.json_to_cel(v) for k, v in variables.items()})
            if isinstance(value, celpy.CELEvalError):
                raise RuntimeError(str(value))
            return value if not isinstance(value, celpy.celtypes.BoolType) else bool(value)

        return run

    return compile_


LIBRARIES: dict[str, Callable[[], Adapter]] = {
    "cel-expr-python": cel_expr_python,
    "common-expression-language": common_expression_language,
    "cel-python": cel_python,
}


def outcome(adapter: Adapter, expr: str, variables: dict[str, Any]) -> object:
    """What KrakenD's rules make of the library's answer: True, False, error, check or syntax."""
    try:
        run = adapter(expr)
    except Syntax:
        return "syntax"
    except Check:
        return "check"
    try:
        value = run(variables)
    except Exception:  # every library has its own evaluation errors
        return "error"
    return value is True


def speed(adapter: Adapter, expr: str, rounds: int) -> float:
    """µs per evaluation, variables bound afresh each time (as per request)."""
    run = adapter(expr)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            run(dict(REQ))
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    adapters: dict[str, Adapter] = {}
    for name, make in LIBRARIES.items():
        try:
            adapters[name] = make()
        except ImportError:
            print(f"{name}: not installed")
    names = list(adapters)
    print("| expression | cel-go | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    score = dict.fromkeys(names, 0)
    for expr, variables, expected, _why in CASES:
        cells = []
        for name in names:
            got = outcome(adapters[name], expr, variables)
            score[name] += got == expected
            cells.append(str(got) if got == expected else f"**{got}**")
        print(f"| `{expr}` | {expected} | " + " | ".join(cells) + " |")
    print("| **same as cel-go** | " + f"{len(CASES)} | " + " | ".join(f"{score[n]}/{len(CASES)}" for n in names) + " |")
    print()
    print("| µs per evaluation | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for expr in SPEED:
        print(f"| `{expr}` | " + " | ".join(f"{speed(adapters[n], expr, args.rounds):.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
