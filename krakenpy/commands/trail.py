"""``krakenpy verify-trail FILE...``: check an audit trail's hash chain (``telemetry/audit``'s file
sink, or the records an HTTP or syslog collector stored, one per line) and say where it breaks.

Exit 0 when every record continues its chain, 1 at the first break (its file, line and reason), on a
file that cannot be read, on a trail with no record at all (a file truncated to nothing is the
simplest tampering; ``--allow-empty`` accepts one), with ``--strict`` when records were dropped
before chaining (``seq`` gaps: the trail's queue was full), and when an anchor's record is not in the
trail (``--anchor``, ``--anchors``: records cut from its end, which the chain alone cannot tell)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

from krakenpy.commands.boundedlines import MAX_LINE, LineTooLong, bounded_lines
from krakenpy.commands.trail_anchors import (
    anchor_argument,
    collect_anchors,
    ignored_note,
    key_from_env,
    missing_anchors,
)
from krakenpy.telemetry.trailcheck import GENESIS, TrailReport, check_trail

__all__ = ["MAX_LINE", "register"]


class _Lines:
    """The lines of the files in order, and which file each line number falls in."""

    def __init__(self, paths: list[str], strip: bool = False) -> None:
        self.paths = paths
        #: each line read from its first ``{`` (a syslog or SIEM export: a header before the record)
        self.strip = strip
        #: ``(path, number of its first line in the whole trail)``
        self.starts: list[tuple[str, int]] = []
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for path in self.paths:
            self.starts.append((path, self.read + 1))
            if path == "-":  # read, never closed: a second '-' reads what is left (nothing)
                yield from self._numbered(sys.stdin.buffer)
                continue
            with open(path, "rb") as handle:
                yield from self._numbered(handle)

    def _numbered(self, handle: BinaryIO) -> Iterator[bytes]:
        for line in bounded_lines(handle):
            self.read += 1
            if self.strip:
                start = line.find(b"{")
                line = line[start:] if start > 0 else line
            yield line

    def where(self, number: int) -> str:
        path, first = next((p, f) for p, f in reversed(self.starts) if f <= number)
        return f"{'<stdin>' if path == '-' else path}:{number - first + 1}"


def _summary(report: TrailReport) -> list[str]:
    lines = [
        f"{report.records:,} record{'s' * (report.records != 1)} in {len(report.chains)} "
        f"chain{'s' * (len(report.chains) != 1)}"
        + (f"; {report.repeated:,} repeated deliveries skipped" if report.repeated else "")
    ]
    for instance, chain in sorted(report.chains.items()):
        restarts = f", {chain.starts - 1} restart{'s' * (chain.starts != 2)}" if chain.starts > 1 else ""
        dropped = f", {chain.dropped:,} dropped before chaining (seq gaps)" if chain.dropped else ""
        seqs = f"seq {chain.first_seq}..{chain.last_seq}"
        lines.append(f"  {instance}: {seqs}, {chain.records:,} record{'s' * (chain.records != 1)}{restarts}{dropped}")
    return lines


def _continuing(records: int, *, trail: bool = False) -> str:
    """What a failure leaves standing: ``the 5 records before it continue their chains``, ``the record
    before it continues its chain``, ``no record before it`` (``trail``: ``the trail's 5 records …``)."""
    if records == 0:
        return "the trail holds no record" if trail else "no record before it"
    owner, where = ("the trail's", "") if trail else ("the", " before it")
    if records == 1:
        return f"{owner} record{where} continues its chain"
    return f"{owner} {records:,} records{where} continue their chains"


def _run(args: argparse.Namespace) -> int:
    key = key_from_env(args.key_env) if args.key_env is not None else b""
    if isinstance(key, str):
        print(f"ERROR: {key}", file=sys.stderr)
        return 1
    logged = collect_anchors(args.anchors or (), args.destination, key)
    if isinstance(logged, str):
        print(f"ERROR: {logged}", file=sys.stderr)
        return 1
    if logged.ignored:
        print(f"WARNING: {ignored_note(logged.ignored)}", file=sys.stderr)
    elif not key and any(anchor.signed for anchor in logged.anchors):
        print("NOTE: the anchors carry a MAC, unchecked: --key-env NAME (the gateway's fingerprint_key_env) checks "
              "it; without it, an anchor line a client forged counts", file=sys.stderr)  # fmt: skip
    anchors = [*(args.anchor or ()), *logged.anchors]
    if args.anchors and not logged.anchors and not args.allow_empty:
        # a gateway anchors what it wrote: no anchor at all is a log that lost them (its level), or none set
        logs = (f"of {args.destination} " if args.destination is not None else "") + "in " + ", ".join(args.anchors)
        if logged.ignored:  # a wrong key makes every anchor unauthenticated: no pass on lines it could not check
            ignored = f"{len(logged.ignored):,} anchor line{'s' * (len(logged.ignored) != 1)} ignored"
            print(f"ERROR: no authenticated audit anchor {logs} ({ignored}; "
                  f"is {args.key_env} the gateway's fingerprint_key_env?); --allow-empty accepts that",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"ERROR: no audit anchor {logs} (telemetry/audit's anchor_interval set? the log's level NOTICE "
              "or lower?); --allow-empty accepts that", file=sys.stderr)  # fmt: skip
        return 1
    files = _Lines(list(args.files), strip=args.strip_prefix)
    try:
        report = check_trail(
            files, args.prev_hash or GENESIS, partial=args.partial, anchors={anchor.hash for anchor in anchors}
        )
    except OSError as exc:  # opening the file (no line yet), or reading it (the line after the last read)
        where = exc.filename if exc.filename is not None or not files.starts else files.where(files.read + 1)
        print(f"ERROR: {where}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except LineTooLong:  # the line after the last read
        print(f"ERROR: {files.where(files.read + 1)}: a line over {MAX_LINE >> 20} MiB: no record", file=sys.stderr)
        return 1
    if report.broken is not None:
        number, reason = report.broken
        print(f"ERROR: {files.where(number)}: {reason}", file=sys.stderr)
        print(_continuing(report.records), file=sys.stderr)
        return 1
    if not report.records and not args.allow_empty:
        print("ERROR: no records: the trail is empty (truncated?); --allow-empty accepts that", file=sys.stderr)
        return 1
    missing = missing_anchors(anchors, report, files.where)
    if missing:
        for line in missing:
            print(f"ERROR: {line}", file=sys.stderr)
        print(_continuing(report.records, trail=True), file=sys.stderr)
        return 1
    summary = _summary(report)
    if anchors:
        authenticated = "authenticated " if key else ""
        summary[0] += f"; {len(anchors):,} {authenticated}anchor{'s' * (len(anchors) != 1)} found in it"
    if logged.ignored:
        summary[0] += f" ({len(logged.ignored):,} anchor line{'s' * (len(logged.ignored) != 1)} ignored: no valid MAC)"
    try:
        print("intact: " + "\n".join(summary), flush=True)
    except BrokenPipeError:  # the reader went away (``| head``): the exit status still tells the result
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit finds somewhere to write
        os.close(devnull)
    if report.dropped and args.strict:
        dropped = f"{report.dropped:,} record{' was' if report.dropped == 1 else 's were'}"
        print(f"ERROR: {dropped} dropped before chaining (--strict)", file=sys.stderr)
        return 1
    return 0


def _hash(value: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError("a record's hash: 64 lowercase hex digits")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify-trail`` to the CLI."""
    parser = sub.add_parser(
        "verify-trail",
        help="check an audit trail's hash chain (telemetry/audit) and say where it breaks",
        description="Check the hash chain of an audit trail (telemetry/audit's file sink, or the records an HTTP or "
        "syslog collector stored, one per line). Exit 0 when every record continues its chain; 1 at the first break "
        "(its file, line and reason), on a file that cannot be read, on a trail with no record (unless --allow-empty), "
        "with --strict when records were dropped before chaining, and when an anchor (--anchor, --anchors) names a "
        "record the trail does not hold.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="trail files in the order written ('-': stdin)")
    parser.add_argument(
        "--prev-hash",
        type=_hash,
        help="the hash the first record continues (the last record of the file before, when that one is gone)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="the trail may start mid-chain: each instance's first record is taken as it stands",
    )
    parser.add_argument("--strict", action="store_true", help="fail when records were dropped before chaining")
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="an empty trail (no record) passes; without it, it fails: a file truncated to nothing reads so",
    )
    parser.add_argument(
        "--strip-prefix",
        action="store_true",
        help="read each line from its first '{' (a syslog daemon's or SIEM's export: the record after a header)",
    )
    parser.add_argument(
        "--anchor",
        action="append",
        type=anchor_argument,
        metavar="SEQ:HASH",
        help="a record the trail must hold (an anchor the gateway logged; repeatable): fails when it was cut or "
        "rewritten",
    )
    parser.add_argument(
        "--anchors",
        action="append",
        metavar="LOGFILE",
        help="an application log whose audit anchor lines (telemetry/audit anchor_interval) name records the trail "
        "must hold (repeatable); a log with none fails (unless --allow-empty)",
    )
    parser.add_argument(
        "--destination",
        metavar="DEST",
        help="with --anchors: only the anchors of this trail (as configured, file:/abs/path, http:URL..., or as the "
        "lines name it); needed when the logs anchor several",
    )
    parser.add_argument(
        "--key-env",
        metavar="NAME",
        help="with --anchors: the environment variable holding the gateway's fingerprint key (telemetry/audit "
        "fingerprint_key_env): only anchor lines whose MAC verifies count; the others are ignored and counted; "
        "none verifying fails (unless --allow-empty)",
    )
    parser.set_defaults(handler=_run)
