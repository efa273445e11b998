"""Compile a ``validation/json-schema`` value once, with ``jsonschema-rs``.

Why ``jsonschema-rs`` and not the pure-Python ``jsonschema`` krakenpy already uses for its config:
about 58× faster on a small valid body and 135× on a 4 KB one (``bench/json_schema_validators.py``).

Choices that mirror KrakenD (santhosh-tekuri/jsonschema v6):

- the draft comes from ``$schema`` (4, 6, 7, 2019-09, 2020-12), 2020-12 without it;
- ``format`` is asserted for drafts 4/6/7 and an annotation for 2019-09 and 2020-12;
- ``pattern`` uses a linear-time regex engine (RE2-like, as Go's ``regexp``): no look-around nor
  back-references, and no catastrophic backtracking on client input;
- nothing is fetched: a ``$ref`` to another document is an error (v6 loads only local files).

Difference: a schema that does not compile is a configuration error located inside the schema
(KrakenD logs it and serves the endpoint without validation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from krakenpy.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:  # jsonschema-rs is imported when a schema is compiled: only configs with one load it
    from jsonschema_rs import Validator

__all__ = ["Validator", "compile_schema", "json_pointer"]


def json_pointer(parts: Sequence[str | int]) -> str:
    """``["tags", 0]`` → ``/tags/0`` (RFC 6901 escapes); ``""`` is the whole document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def compile_schema(schema: Any, at: Callable[..., str]) -> Validator:
    """The validator for ``schema``; ``at(*keys)`` gives the JSON path of a place inside it.

    Raises :class:`ConfigError` at the failing keyword (``...validation/json-schema.properties.age.minimum``).
    """
    import jsonschema_rs

    try:
        return jsonschema_rs.validator_for(schema, offline=True, pattern_options=jsonschema_rs.RegexOptions())
    except jsonschema_rs.ValidationError as exc:
        message = exc.message.split("\n", 1)[0]
        where = list(exc.instance_path)
        if not where and message.startswith("Unknown meta-schema"):
            where = ["$schema"]
        raise ConfigError([ConfigIssue(at(*where), f"invalid JSON Schema: {message}")]) from None
    except (ValueError, TypeError) as exc:  # a value jsonschema-rs cannot take at all
        raise ConfigError([ConfigIssue(at(), f"invalid JSON Schema: {exc}")]) from None
