"""Who this process is, for pushed metrics: OTel's ``service.instance.id`` and the Influx ``worker`` tag.

With ``run -w N`` every worker pushes its own cumulative counters (OTLP metrics, ``telemetry/influx``).
Under one resource or one tag set a collector would see a single series jumping between the
workers' counts; OTel's semantic conventions answer with ``service.instance.id``, unique per process,
so a backend sums the instances. Scrapes need none of this: the serving worker merges them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from urllib.parse import unquote

__all__ = ["INSTANCE_ID", "env_resource", "instance_id", "worker_tag"]

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


def env_resource(environ: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: ``key=value`` pairs, comma-separated, values percent-encoded
    (OTel SDK environment specification); a pair without ``=`` is skipped, as the SDKs do."""
    found: dict[str, str] = {}
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, eq, value = pair.partition("=")
        if eq and key.strip():
            found[key.strip()] = unquote(value.strip())
    return found


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
