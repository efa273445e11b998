"""``verify-trail``'s anchors: ``--anchor SEQ:HASH`` and the anchor lines of application logs
(``--anchors LOGFILE``, ``telemetry/audit`` ``anchor_interval``), each a record the trail must hold:
what a hash chain alone cannot tell, records cut from its end."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from krakenpy.telemetry.auditanchor import Anchor, read_anchors
from krakenpy.telemetry.trailcheck import TrailReport

__all__ = ["anchor_argument", "collect_anchors", "missing_anchors"]


def anchor_argument(value: str) -> Anchor:
    """``SEQ:HASH`` (``--anchor``): a record's ``seq`` and its 64 hex digit ``hash``."""
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise argparse.ArgumentTypeError("SEQ:HASH: a record's seq and its hash, 64 lowercase hex digits")
    return Anchor(int(seq), digest, where="--anchor")


def collect_anchors(logs: Sequence[str], destination: str | None) -> list[Anchor] | str:
    """The anchors of the application ``logs`` (of ``destination``, or of the one destination they
    name); a message when a log cannot be read or names several destinations."""
    found: list[Anchor] = []
    for path in logs:
        try:
            with open(path, "rb") as handle:
                found.extend(read_anchors(handle, path))
        except OSError as exc:
            return f"{path}: cannot read: {exc.strerror or exc}"
    if destination is not None:
        found = [anchor for anchor in found if anchor.destination == destination]
    else:
        named = sorted({anchor.destination for anchor in found})
        if len(named) > 1:
            return f"the logs anchor {len(named)} trails ({', '.join(named)}): name this one's with --destination"
    return found


def missing_anchors(anchors: Sequence[Anchor], report: TrailReport, where: Callable[[int], str]) -> list[str]:
    """One line per anchor the trail does not hold (its record cut, or rewritten); ``where`` names a
    line of the trail (``FILE:LINE``)."""
    lines = []
    for anchor in anchors:
        source = anchor.where + (f", instance {anchor.instance}" if anchor.instance else "")
        named = f"anchor seq {anchor.seq} hash {anchor.hash} ({source})"
        found = report.anchored.get(anchor.hash)
        if found is None:
            lines.append(f"{named}: no record of the trail has that hash: records were cut from its end, or rewritten")
        elif found[1] != anchor.seq:
            lines.append(f"{named}: the record with that hash ({where(found[0])}) has seq {found[1]}")
    return lines
