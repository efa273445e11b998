"""``python -m bench.gc_stats``: the cyclic garbage collector's work per 1,000 requests through the
worker's server (``bench.instructions``' server mode: one connection, the canned backend, the
worker's GC settings from ``settle_gc``), per configuration: collections of each generation, the
objects they examined and their time (``gc.callbacks``), and the container objects still tracked
after the run (``len(gc.get_objects())``). What the metrics row keeps alive between its folds shows
here as young collections that find survivors."""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from bench.instructions import CONFIGS, _run, _serve


class _Watch:
    """Counts the collections of each generation and sums their wall time."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.collected = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._start = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.perf_counter()
            return
        generation = info["generation"]
        self.collections[generation] += 1
        self.collected[generation] += info["collected"]
        self.seconds[generation] += time.perf_counter() - self._start


def measure(name: str, n: int, loop: str, young: int | None = None) -> tuple[_Watch, int]:
    """Collections over the ``n`` + 200 requests of ``name`` (counted from the worker's ``settle_gc``,
    the gateway started); ``young``: the young generation's threshold set after ``settle_gc``'s."""
    from krakenpy.server import worker

    watch = _Watch()
    settle = worker.settle_gc

    def settled() -> None:  # the start-up's full collection is not the requests'
        settle()
        if young is not None:
            gc.set_threshold(young, 10, 10)
        watch.on = True

    gc.callbacks.append(watch)
    worker.settle_gc = settled
    try:
        _run(_serve(name, n), loop)
    finally:
        watch.on = False
        worker.settle_gc = settle
        gc.callbacks.remove(watch)
    return watch, len(gc.get_objects())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="p1,p1-metrics", help="comma-separated configurations")
    parser.add_argument("-n", type=int, default=20_000, help="requests per configuration")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument("--young", type=int, help="the young threshold instead of the worker's (Python's default: 700)")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    for name in names:
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}")
    print("config        requests  gen0/1k  gen1/1k  gen2/1k  ms/1k (0,1,2)        freed/1k  tracked after")
    for name in names:
        watch, tracked = measure(name, args.n, args.loop, args.young)
        total = args.n + 200
        per = [c * 1000 / total for c in watch.collections]
        ms = [s * 1e6 / total for s in watch.seconds]
        freed = sum(watch.collected) * 1000 / total
        times = ", ".join(f"{m:.3f}" for m in ms)
        print(f"{name:13} {total:8}  {per[0]:7.2f}  {per[1]:7.2f}  {per[2]:7.2f}  {times:20}  {freed:8.1f}  {tracked}")


if __name__ == "__main__":
    main()
