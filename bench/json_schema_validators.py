"""``jsonschema`` or ``jsonschema-rs`` for ``validation/json-schema``? ``python -m bench.json_schema_validators``.

A benchmark and a decision record, not a test: µs per request body (parse + validate, as the
component does it) for a valid and an invalid body, a small and a ~10 KB one, with each library's
validator compiled once. Both libraries must be installed in the running interpreter.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email", "age", "tags"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 500},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
SMALL = orjson.dumps(
    {"name": "Ada", "email": "ada@example.com", "age": 36, "tags": ["a", "b"], "address": {"city": "X", "zip": "12345"}}
)
LARGE = orjson.dumps(
    {"name": "Ada", "email": "ada@example.com", "age": 36, "tags": [f"tag-{i:04d}" for i in range(450)]}
)
INVALID = orjson.dumps({"name": "", "email": "nope", "age": -1, "tags": [1], "extra": True})

Check = Callable[[bytes], bool]


def python_jsonschema() -> Check:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SCHEMA)

    def check(body: bytes) -> bool:
        doc = orjson.loads(body)
        error = next(validator.iter_errors(doc), None)  # the first error is what a 400 needs
        return error is None

    return check


def rust_jsonschema() -> Check:
    import jsonschema_rs  # type: ignore[import-not-found, unused-ignore]

    validator = jsonschema_rs.validator_for(SCHEMA)

    def check(body: bytes) -> bool:
        doc = orjson.loads(body)
        if validator.is_valid(doc):
            return True
        next(iter(validator.iter_errors(doc)))  # the message of a 400
        return False

    return check


def measure(check: Check, body: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            check(body)
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    libs = {"jsonschema": python_jsonschema(), "jsonschema-rs": rust_jsonschema()}
    bodies = {"small valid (130 B)": SMALL, f"large valid ({len(LARGE) // 1024} KB)": LARGE, "invalid": INVALID}
    print("| body | " + " | ".join(f"{n} µs" for n in libs) + " | ratio |")
    print("|---|" + "---|" * (len(libs) + 1))
    for label, body in bodies.items():
        times = [measure(check, body, args.rounds) for check in libs.values()]
        print(f"| {label} | " + " | ".join(f"{t:.1f}" for t in times) + f" | {times[0] / times[1]:.0f}× |")


if __name__ == "__main__":
    main()
