"""The C heap of a serving worker: glibc's malloc told to keep a few MiB it freed instead of returning
them to the kernel at once.

glibc gives the top of its heap back (``brk``) whenever more than ``M_TRIM_THRESHOLD`` is free there
(128 KiB, or twice the largest block it has mapped and unmapped since), and maps blocks above
``M_MMAP_THRESHOLD`` apart. A worker that builds and drops a large transient every few hundred
requests (the OTLP exporter's batch of 512 spans: their records, the body's parts and the body) then
gives the pages back after each batch and takes them again, zero-filled, one page fault each, for the
next: 1.8 faults a request at 100 % traces, in kernel time that callgrind's user-space counts do not see
(bench/README, "round 11: branch `gap`"). Kept below the thresholds here, the pages stay mapped between
batches; at most ``TRIM`` of free heap is held at its top above what the worker uses.

Set once the worker has started (after its start-up's garbage is freed, so idle memory is as before),
only on glibc, and never over the operator's own ``MALLOC_*_`` variables or ``glibc.malloc`` tunables.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["MMAP", "TRIM", "settle_heap"]

#: mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
#: blocks up to 32 MiB come from the heap: glibc's own ceiling for its sliding threshold (64-bit), which
#: a worker reaches anyway once it has freed one such block; setting a threshold stops the sliding, and a
#: lower fixed one (1 MiB was tried) maps and unmaps every larger transient (a 1.4 MiB join: 344 faults
#: each, against 9 with glibc's defaults: tests/server/test_heap.py)
MMAP: Final = 32 << 20
#: free heap kept at its top before it is given back: what glibc would keep after sliding to 4 MiB
#: blocks; well above a traces batch's transient (~0.7 MiB measured)
TRIM: Final = 8 << 20


def _operator_set() -> bool:
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return True
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def settle_heap() -> bool:
    """Set the worker's trim and mmap thresholds; True when set (glibc, and not the operator's own)."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    if not libc.startswith("glibc") or _operator_set():
        return False
    import ctypes  # the worker has it already (slots._die_with_parent)

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    # the mmap threshold first: setting either one freezes glibc's sliding thresholds
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM))
