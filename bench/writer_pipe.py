"""What a batch of access-log lines costs to write to a pipe, per source tree, in process.

    nice .venv/bin/python bench/writer_pipe.py TREE [TREE ...] [--rounds 5] [--batches 2000]

Each round runs every tree once, in turn, in its own interpreter (``PYTHONPATH=TREE``), so trees
share the machine's drift; a tree's figure is its best round. A tree's :class:`LineWriter` flushes
``batches`` batches of ``lines`` lines of 120 bytes (160: 19,200 bytes, a busy worker's 20 ms; the
old one-write path took only batches under 28 KiB) into a pipe that a thread drains: µs per batch of
the flush (the writes, the cutting into pieces), the reader's time included as the machine shares
it. Written for the change from one write per batch (a pipe with room) to whole-line pieces of at
most ``PIPE_BUF`` bytes always (2026-12-06).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_ONE = r"""
import os, sys, threading, time
from krakenpy.telemetry.writer import LineWriter
batches = int(sys.argv[1])
count = int(sys.argv[2])
read_fd, write_fd = os.pipe()
def drain():
    while os.read(read_fd, 1 << 16):
        pass
reader = threading.Thread(target=drain, daemon=True)
reader.start()
writer = LineWriter(write_fd)
lines = [b"%04d %s\n" % (i, b"y" * 114) for i in range(count)]
flush = writer.flush
spent = 0.0
for _ in range(batches):
    writer._buffer = list(lines)  # a full batch queued, as write() leaves it
    writer._lines = count
    start = time.perf_counter()
    flush()
    spent += time.perf_counter() - start
os.close(write_fd)
reader.join()
print(f"{spent / batches * 1e6:.2f}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=160)
    args = parser.parse_args()
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for tree in args.trees:
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(
                [sys.executable, "-c", _ONE, str(args.batches), str(args.lines)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            figure = float(out.stdout.strip())
            best[tree] = min(best.get(tree, figure), figure)
    for tree in args.trees:
        per_line = best[tree] / args.lines * 1000
        print(f"{tree}: {best[tree]:.2f} µs per {args.lines}-line batch ({per_line:.0f} ns a line)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
