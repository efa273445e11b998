"""The Common/Combined access line's cost in process, for source trees compared in turn.

    nice .venv/bin/python bench/clf_line.py TREE [TREE ...] [--rounds 5] [--number 200000]
    nice .venv/bin/python bench/clf_line.py TREE [TREE ...] --instructions [--number 20000]

Each round runs every tree once, in order, in its own interpreter (``PYTHONPATH=TREE``: its
``krakenpy`` is the one measured), so trees alternate and share the machine's drift; a tree's figure is
its best round. Per tree: ns per ``formatter("combined")`` line for a bare entry (no user, referer nor
user agent), a realistic one (query string, JWT subject, referer, browser user agent) and one with a
field to escape (a ``"`` in the user agent). ``--instructions`` counts machine instructions per line
with valgrind's callgrind instead (a run of ``number`` lines and one of twice as many: the difference
over ``number``, start-up cancelled out), reproducible on a shared machine where times are not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

_ONE = r"""
import sys, time, timeit
from krakenpy.telemetry.accesslog import AccessEntry, formatter
number = int(sys.argv[1])
line = formatter("combined")
end = time.time()
bare = AccessEntry(end=end, status=200, latency=0.0012, client_ip="127.0.0.1", method="GET", target="/v2/user/profile")
agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
real = AccessEntry(
    end=end, status=200, latency=0.0012, client_ip="203.0.113.7", method="GET",
    target="/v2/user/profile?id=1234&page=2&sig=[REDACTED]", bytes_out=1534, user_agent=agent,
    referer="https://app.example.com/dashboard?tab=orders", subject="user-1234@example.com",
)
quoted = AccessEntry(
    end=end, status=200, latency=0.0012, client_ip="203.0.113.7", method="GET",
    target="/v2/user/profile?id=1234", bytes_out=1534, user_agent='curl/8.5.0 "probe"', referer="-",
)
if len(sys.argv) > 2:  # under callgrind: one entry's lines, nothing else
    entry = (bare, real, quoted)[int(sys.argv[2])]
    for _ in range(number):
        line(entry)
    sys.exit()
for entry in (bare, real, quoted):
    best = min(timeit.repeat(lambda: line(entry), number=number, repeat=3))
    print(f"{best / number * 1e9:.0f}", end=" ")
"""

_KINDS = ("bare", "realistic", "escaped")


def _instructions(tree: str, kind: int, number: int) -> float:
    """Instructions per line of one entry kind under callgrind (two runs: the difference over ``number``)."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    counts = []
    for lines in (number, 2 * number):
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", _ONE,
             str(lines), str(kind)],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        match = re.search(r"Collected : (\d+)", out.stderr)
        assert match is not None, out.stderr
        counts.append(int(match.group(1)))
    return (counts[1] - counts[0]) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--instructions", action="store_true", help="callgrind's instruction counts, not times")
    args = parser.parse_args()
    if args.instructions:
        print("| tree | " + " | ".join(f"instructions, {kind}" for kind in _KINDS) + " |")
        print("|---|" + "---|" * len(_KINDS))
        for tree in args.trees:
            counts = [_instructions(tree, kind, args.number) for kind in range(len(_KINDS))]
            print(f"| {tree} | " + " | ".join(f"{value:.0f}" for value in counts) + " |")
        return
    best: dict[str, list[float]] = {tree: [float("inf")] * len(_KINDS) for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
            out = subprocess.run(
                [sys.executable, "-c", _ONE, str(args.number)], env=env, check=True, capture_output=True, text=True
            ).stdout.split()
            best[tree] = [min(old, float(new)) for old, new in zip(best[tree], out, strict=True)]
    print("| tree | " + " | ".join(f"ns, {kind}" for kind in _KINDS) + " |")
    print("|---|" + "---|" * len(_KINDS))
    for tree, figures in best.items():
        print(f"| {tree} | " + " | ".join(f"{value:.0f}" for value in figures) + " |")


if __name__ == "__main__":
    main()
