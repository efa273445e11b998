"""``krakenpy/compiled.py``: the hot modules mypyc compiles, and what a build says of them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import krakenpy
from krakenpy.compiled import HOT_MODULES, status

PACKAGE = Path(krakenpy.__file__).resolve().parent

#: the telemetry a default request (access log + request id) and the metrics row run per request
TELEMETRY = {
    "krakenpy.telemetry.ids",
    "krakenpy.telemetry.exchange",
    "krakenpy.telemetry.clientip",
    "krakenpy.telemetry.ginline",
    "krakenpy.telemetry.writer",
    "krakenpy.telemetry.layers.edge_lean",
    "krakenpy.telemetry.layers.edge_metered",
    "krakenpy.telemetry.layers.edge_traced",
    "krakenpy.telemetry.layers.endpoint",
    "krakenpy.telemetry.layers.backend",
    "krakenpy.telemetry.layers.client",
    "krakenpy.telemetry.layers.client_timing",
    "krakenpy.telemetry.layers.record",
    "krakenpy.telemetry.metrics.slots",
    "krakenpy.telemetry.metrics.client_slot",
    "krakenpy.telemetry.metrics.stats",
    "krakenpy.backends.conntiming",
}


def test_compiled_hot_modules_are_sources_of_the_package_named_once() -> None:
    assert len(set(HOT_MODULES)) == len(HOT_MODULES)
    for name in HOT_MODULES:
        parts = name.split(".")
        assert parts[0] == "krakenpy"
        assert PACKAGE.joinpath(*parts[1:]).with_suffix(".py").is_file(), name


def test_compiled_hot_modules_hold_the_default_and_metrics_rows_telemetry() -> None:
    # the per-request telemetry of the default and metrics rows runs compiled (one group: order does not matter)
    assert TELEMETRY <= set(HOT_MODULES)


def test_compiled_build_has_every_hot_module_compiled_or_none() -> None:
    compiled, stale = status()
    spec = importlib.util.find_spec("krakenpy.server.connection")
    assert spec is not None and spec.origin is not None
    if spec.origin.endswith(".py"):
        assert compiled == []
    else:  # a compiled build (make compile, a wheel): every listed module, none older than its source
        assert compiled == list(HOT_MODULES) and stale == []


def test_compiled_readme_example_counts_every_hot_module() -> None:
    """README's example start-up line (``compiled (mypyc, N of N hot modules)``) counts HOT_MODULES as
    they are: a module added to the list changes the line a user compares against."""
    readme = (Path(krakenpy.__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"compiled\s+\(mypyc,\s+(\d+)\s+of\s+(\d+)\s+hot\s+modules\)", readme)
    assert shown, "README shows no example of the compiled hot path's line"
    assert all(int(a) == int(b) == len(HOT_MODULES) for a, b in shown), (shown, len(HOT_MODULES))
