"""``verify-trail``'s anchors: ``--anchor SEQ:HASH`` and the anchor lines of application logs
(``--anchors LOGFILE``, ``telemetry/audit`` ``anchor_interval``), each a record the trail must hold:
what a hash chain alone cannot tell, records cut from its end."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from krakenpy.commands.boundedlines import MAX_LINE, LineTooLong, bounded_lines
from krakenpy.fingerprint import env_key
from krakenpy.telemetry.auditanchor import Anchor, anchor_key, read_anchors, shown_destination
from krakenpy.telemetry.trailcheck import TrailReport

__all__ = ["LoggedAnchors", "anchor_argument", "collect_anchors", "ignored_note", "key_from_env", "missing_anchors"]


@dataclass(frozen=True, slots=True)
class LoggedAnchors:
    """The anchors read from the application logs, and where the lines whose MAC did not verify are
    (``--key-env``: a forged line, or one the gateway wrote without the key or with another)."""

    anchors: list[Anchor] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def anchor_argument(value: str) -> Anchor:
    """``SEQ:HASH`` (``--anchor``): a record's ``seq`` and its 64 hex digit ``hash``."""
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise argparse.ArgumentTypeError("SEQ:HASH: a record's seq and its hash, 64 lowercase hex digits")
    return Anchor(int(seq), digest, where="--anchor")


def key_from_env(name: str) -> bytes | str:
    """``--key-env NAME``: the anchors' MAC key, derived from the fingerprint key the variable holds
    (the gateway's ``fingerprint_key_env``); a message when it is unset or empty."""
    value = env_key(name)
    if not value:
        return f"--key-env {name}: the variable is unset or empty (the key telemetry/audit's fingerprint_key_env names)"
    return anchor_key(value)


def collect_anchors(logs: Sequence[str], destination: str | None, key: bytes = b"") -> LoggedAnchors | str:
    """The anchors of the application ``logs`` (of ``destination``, as the lines spell it or as the
    configuration does, or of the one destination they name); with ``key``, only those whose MAC
    verifies (the others counted as ignored, whatever destination they name); a message when a log
    cannot be read or names several destinations."""
    found: list[Anchor] = []
    ignored: list[str] = []
    for path in logs:
        try:
            with open(path, "rb") as handle:
                for anchor in read_anchors(bounded_lines(handle), path, key):
                    if anchor.authentic:
                        found.append(anchor)
                    else:
                        ignored.append(anchor.where)
        except OSError as exc:
            return f"{path}: cannot read: {exc.strerror or exc}"
        except LineTooLong as exc:  # no line the gateway writes is that long: fail rather than skip it
            return f"{path}:{exc.number}: a line over {MAX_LINE >> 20} MiB: no application log line"
    if destination is not None:
        # as the lines spell it, or as configured: the gateway names a collector without its user
        # information, query and fragment, and its path by a digest (shown_destination)
        named_as = {destination, shown_destination(destination)}
        found = [anchor for anchor in found if anchor.destination in named_as]
    else:
        named = sorted({anchor.destination for anchor in found})
        if len(named) > 1:
            return f"the logs anchor {len(named)} trails ({', '.join(named)}): name this one's with --destination"
    return LoggedAnchors(found, ignored)


def ignored_note(ignored: Sequence[str]) -> str:
    """The anchor lines ``--key-env`` ignored: how many, and where (the first five)."""
    shown = ", ".join(ignored[:5]) + (", …" if len(ignored) > 5 else "")
    lines = f"{len(ignored):,} anchor line{'s' * (len(ignored) != 1)}"
    return f"{lines} ignored (no MAC the key verifies: forged, or written without the key or with another): {shown}"


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
