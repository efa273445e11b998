"""Who this process is, for pushed metrics: OTel's ``service.instance.id`` and the Influx ``worker`` tag.

With ``run -w N`` every worker pushes its own cumulative counters (OTLP metrics, ``telemetry/influx``).
Under one resource or one tag set a collector would see a single series jumping between the
workers' counts; OTel's semantic conventions answer with ``service.instance.id``, unique per process,
so a backend sums the instances. Scrapes need none of this: the serving worker merges them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote

__all__ = ["INSTANCE_ID", "env_resource", "instance_id", "resource_from_env", "worker_tag"]

#: the resource attribute (OTel semantic conventions, ``service`` namespace)
INSTANCE_ID = "service.instance.id"

_MINE: tuple[int, str] | None = None


def instance_id(environ: Mapping[str, str] | None = None) -> str:
    """The operator's ``service.instance.id`` from ``OTEL_RESOURCE_ATTRIBUTES``, else a UUID made once
    per process: a forked worker makes its own (the pid it was made in is kept with it), a reload in
    the same worker keeps it, so its cumulative series continue."""
    global _MINE
    chosen = env_resource(os.environ if environ is None else environ).get(INSTANCE_ID)
    if chosen:
        return chosen
    pid = os.getpid()
    if _MINE is None or _MINE[0] != pid:
        _MINE = (pid, str(uuid.uuid4()))
    return _MINE[1]


#: a ``%`` that does not start an escape of two hex digits
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def resource_from_env(environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """``(attributes, problem)`` of ``OTEL_RESOURCE_ATTRIBUTES`` (OTel SDK environment specification):
    ``key=value`` entries, comma-separated, blanks around keys and values cut, values percent-decoded
    as UTF-8; an empty entry (a trailing comma) is skipped, an empty value sets nothing. An entry
    without ``=`` or a key, or a value that does not decode, makes the whole value ignored (the
    specification: on any error the entire value is discarded and the error reported; otel-go and
    otel-python keep the other entries) and ``problem`` numbers the entries (start-up warnings, never a
    crash). ``OTEL_SERVICE_NAME``, when not blank, is ``service.name`` over the entries' (the
    specification's precedence)."""
    found: dict[str, str] = {}
    bad: list[str] = []
    raw = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    for i, entry in enumerate(raw.split(",") if raw.strip() else (), 1):
        key, eq, value = entry.partition("=")
        key = key.strip()
        if not eq and not key:  # an empty entry
            continue
        if not eq or not key or _BAD_ESCAPE.search(value):
            bad.append(str(i))
            continue
        try:  # a raw byte that is no UTF-8 reaches os.environ as a lone surrogate: no UTF-8 either
            text = unquote(value.strip(), errors="strict")
            text.encode()
        except (UnicodeDecodeError, UnicodeEncodeError):
            bad.append(str(i))
            continue
        if text:
            found[key] = text
    problem = ""
    if bad:
        found = {}
        problem = (
            f"OTEL_RESOURCE_ATTRIBUTES: {'entries' if len(bad) > 1 else 'entry'} {', '.join(bad)} "
            f"{'are' if len(bad) > 1 else 'is'} not key=value with a percent-encoded UTF-8 "
            "value: the whole variable is ignored (the OpenTelemetry specification's rule)"
        )
    name = environ.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        found["service.name"] = name
    return found, problem


def env_resource(environ: Mapping[str, str]) -> dict[str, str]:
    """The resource attributes the environment gives (:func:`resource_from_env`, its problem aside)."""
    return resource_from_env(environ)[0]


def worker_tag() -> dict[str, str]:
    """The Influx tag telling the workers of ``run -w N`` (N > 1) apart: ``worker`` = the worker's
    slot (1…N; a restarted worker keeps its slot, so the tag's values stay few). Empty otherwise:
    a single process pushes KrakenD's tags only."""
    import sys

    if "krakenpy.server.rundir" not in sys.modules:
        return {}  # not even imported: no supervisor forked this process
    from krakenpy.server.rundir import current

    found = current()
    return {"worker": str(found.slot)} if found is not None and found.path is not None else {}
