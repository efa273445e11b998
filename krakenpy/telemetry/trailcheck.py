"""Checking an audit trail's hash chain record by record, with the reason and the line of the first
break (``krakenpy verify-trail``; :func:`krakenpy.telemetry.audit.verify_trail` is its yes/no).

A trail is what one or more processes appended: the workers of ``run -w N`` (each its own
``instance``, ``seq`` and chain) and the runs before a restart. A record with ``seq`` 1 starts a
process's chain, from the genesis hash or from a record earlier in the trail (the one last in the file
when that process started); every other record continues its instance's chain with a higher ``seq``.
A ``seq`` gap is a record the process dropped before chaining it (its queue was full): the chain is
whole, and the gap is counted. A record seen before (the same bytes, so the same hash) is a delivery
repeated by an HTTP collector's retry, not a new record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

__all__ = ["GENESIS", "Chain", "TrailReport", "check_trail", "chained"]

#: the ``prev_hash`` of a trail's very first record
GENESIS: Final = "0" * 64


def chained(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The record of a line whose ``hash`` is its own, else ``None`` and why not.

    The line must be byte for byte as the trail wrote it (its newline aside): one that parses to the
    chained record but reads otherwise (a duplicate key, which another JSON reader takes first, added
    spaces) was altered."""
    body = line[:-1] if line.endswith(b"\n") else line
    try:
        rec = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, "not JSON"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if orjson.dumps(rec) != body:
        return None, "not written as the trail writes records (spacing, key order or a repeated key)"
    digest = rec.pop("hash", None)
    prev = rec.get("prev_hash")
    if not isinstance(digest, str) or not isinstance(prev, str):
        return None, "no hash or prev_hash"
    if hashlib.sha256(prev.encode() + orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)).hexdigest() != digest:
        return None, "its hash does not match its content: the record was altered"
    rec["hash"] = digest
    return rec, ""


@dataclass
class Chain:
    """One instance's chain as read so far."""

    first_seq: int
    last_seq: int
    last_hash: str
    last_line: int
    records: int = 1
    #: records dropped before chaining (the ``seq`` gaps)
    dropped: int = 0
    #: the chain's starts (a process's ``seq`` 1: its first run and each restart)
    starts: int = 1


@dataclass
class TrailReport:
    """What :func:`check_trail` found: counts, each instance's chain, and the first break (``None``
    when the trail is whole)."""

    records: int = 0
    repeated: int = 0
    chains: dict[str, Chain] = field(default_factory=dict)
    #: ``(line number from 1, reason)`` of the first break
    broken: tuple[int, str] | None = None
    #: the anchored hashes found (``check_trail``'s ``anchors``): each with its record's line and ``seq``
    anchored: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def dropped(self) -> int:
        return sum(chain.dropped for chain in self.chains.values())


def check_trail(
    lines: Iterable[bytes], prev_hash: str = GENESIS, *, partial: bool = False, anchors: Collection[str] = ()
) -> TrailReport:
    """Check ``lines`` (one record each, in file order, as read from the file: with their newlines) and
    stop at the first break. Every record's hash is kept (a later chain start may name any of them):
    ~0.2 kB of memory a record.

    ``prev_hash`` is what the first chain starts from: another file's last hash when this one was
    started after it, or continued it (the file sink goes on in a new file when its file is moved
    away): a record naming it may then carry any ``seq``. ``partial``: the trail may begin anywhere
    (a file rotated away, a collector's window): each instance's first record is taken as it stands,
    its predecessor unchecked. ``anchors``: hashes whose records are looked for (``report.anchored``)."""
    report = TrailReport()
    known = {prev_hash}
    for number, line in enumerate(lines, 1):
        rec, why = chained(line)
        if rec is None:
            cut = " (a line with no newline: the file's last, cut short by an interrupted write?)"
            report.broken = (number, why + ("" if line.endswith(b"\n") else cut))
            return report
        digest: str = rec["hash"]
        if digest in known:  # a batch an HTTP collector got twice (its answer lost, then retried)
            report.repeated += 1
            continue
        seq = rec.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            report.broken = (number, "no sequence number (seq)")
            return report
        instance = str(rec.get("instance"))
        chain = report.chains.get(instance)
        problem = _link(rec, seq, instance, chain, known, partial or rec["prev_hash"] == prev_hash != GENESIS)
        if problem:
            report.broken = (number, problem)
            return report
        if chain is None:
            report.chains[instance] = Chain(seq, seq, digest, number)
        else:
            if seq == 1:
                chain.starts += 1
            else:
                chain.dropped += seq - chain.last_seq - 1
            chain.records += 1
            chain.last_seq, chain.last_hash, chain.last_line = seq, digest, number
        report.records += 1
        known.add(digest)
        if anchors and digest in anchors:
            report.anchored[digest] = (number, seq)
    return report


def _link(rec: dict[str, Any], seq: int, instance: str, chain: Chain | None, known: set[str], start: bool) -> str:
    """Why ``rec`` does not continue the trail ("" when it does); ``start``: a first record of its
    instance may start the trail as it stands."""
    prev = rec["prev_hash"]
    if chain is None and start:
        return ""
    if seq == 1:
        if prev in known:
            return ""
        return f"instance {instance}: a chain start (seq 1) whose prev_hash is no record before it"
    if chain is None:
        return (
            f"instance {instance}: its first record has seq {seq}, not 1: the records before it are missing "
            "(--prev-hash or --partial check a trail that starts mid-chain)"
        )
    if seq <= chain.last_seq:
        return f"instance {instance}: seq {seq} after seq {chain.last_seq} (line {chain.last_line}): out of order"
    if prev != chain.last_hash:
        return (
            f"instance {instance}: seq {seq} does not follow seq {chain.last_seq} (line {chain.last_line}): "
            "a record between them was removed, replaced or inserted"
        )
    return ""
