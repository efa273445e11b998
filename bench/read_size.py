"""``python -m bench.read_size``: CPU µs of one small socket read with asyncio's read size (256 KiB)
against the 64 KiB the upstream client and the server ask for (a socketpair, send + recv of 300 B).

A read allocates a bytes object of the size asked for, then shrinks it: past glibc's mmap threshold
(128 KiB) that is an mmap, a page fault, an mremap and a munmap per read. Callgrind does not see the
kernel's share, so this is measured in CPU time; the best of the rounds is printed.
"""

from __future__ import annotations

import argparse
import socket
import time


def _per_read(size: int, n: int) -> float:
    a, b = socket.socketpair()
    message = b"x" * 300
    try:
        start = time.process_time()
        for _ in range(n):
            a.send(message)
            b.recv(size)
        return (time.process_time() - start) / n * 1e6
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best = {256: float("inf"), 64: float("inf")}
    for _ in range(args.rounds):
        for kib in best:
            best[kib] = min(best[kib], _per_read(kib * 1024, args.n))
    for kib, micros in best.items():
        print(f"send + recv of 300 B, {kib:3d} KiB asked: {micros:6.2f} µs CPU")


if __name__ == "__main__":
    main()
