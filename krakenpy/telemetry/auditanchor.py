"""The audit trail's out-of-band anchors (``telemetry/audit`` ``anchor_interval``): the trail's head,
its destination, ``instance``, ``seq`` and ``hash``, written to the application log (never to the
trail), so that ``krakenpy verify-trail --anchors APP.LOG`` notices records cut from the trail's end
(a hash chain alone verifies any prefix of itself).

An anchor is logged at most once every ``anchor_interval`` while records are written (the first one
after a quiet spell at once), and when the trail stops (shutdown, a reload that swaps or removes it);
never when no record was written since the last one. The work is per batch the sink took, none per
request: a timer is armed by the first batch after an anchor, so an idle trail wakes nothing.

With the operator's fingerprint key (``fingerprint_key_env``) each anchor carries ``mac=``, an
HMAC-SHA256 of its fields under a key derived from it for anchors alone (:func:`anchor_key`): a
client whose text reaches the application log (a ``User-Agent`` in the access log, a Lua error
quoting a header) cannot spell an anchor ``verify-trail --key-env`` accepts. Without that key (a
random one per run, which nobody could verify with) the line has no MAC.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

import orjson

from krakenpy.telemetry.logfmt import NOTICE, PREMASKED

__all__ = [
    "ANCHOR_LINE",
    "Anchor",
    "Anchoring",
    "anchor_key",
    "anchor_message",
    "read_anchors",
    "shown_destination",
]

log = logging.getLogger("krakenpy.audit")

#: an anchor line, found anywhere in a line of the application log (any ``telemetry/logging`` format:
#: the default one, logstash's JSON, a custom pattern): the destination and instance are %-quoted, so
#: they hold no space, quote or backslash a format could add or escape. Groups: the fields the MAC
#: covers, as written; destination, instance, seq, hash; the MAC (None when the line has none)
#: A ``seq`` is a counter the gateway starts at 1: 20 digits at most (a 64-bit one), so a line spelling
#: one of thousands of digits is no anchor, never an integer of that size
ANCHOR_LINE: Final = re.compile(
    rb"audit anchor: (destination=([^\s\"\\]+) instance=([^\s\"\\]+) seq=([0-9]{1,20}) hash=([0-9a-f]{64}))"
    rb"(?: mac=([0-9a-f]{64}))?\b"
)
#: a whole line of the access log in the Common or Combined format (``telemetry/access_log``): its
#: quoted fields (a client's ``User-Agent``) can spell an anchor; no application log line is one. The
#: user is the verified subject, escaped as Apache does (quotes, backslashes, controls), spaces kept
#: (``john doe``): it runs to the first `` [date] "`` and never past a quote
_CLF_LINE: Final = re.compile(
    rb'\S+ - (?:[^"\\\r\n]|\\.)+? \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] '
    rb'"(?:[^"\\]|\\.)*" [0-9]{3} (?:[0-9]+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?\r?\n?'
)
#: a line of the access log in gin's format (KrakenD's default, ``telemetry/access_log`` ``gin``): its
#: target is the client's decoded path (a 404's too, no endpoint needed), Go-quoted; or gin's
#: ``Error #01:`` line after it, which quotes an error (a Lua ``error()`` repeating a header)
_GIN_LINE: Final = re.compile(
    rb"\[GIN\] [0-9]{4}/[0-9]{2}/[0-9]{2} - [0-9]{2}:[0-9]{2}:[0-9]{2} \| *[0-9]{3} \| *\S+ \| *\S* \| "
    rb'\S+ +"(?:[^"\\]|\\.)*"\r?\n?'
)
_GIN_ERROR: Final = re.compile(rb"Error #[0-9]{2}: ")
#: the fields that make a JSON line an access log record (``telemetry/access_log`` ``json``)
_ACCESS_KEYS: Final = frozenset({"time", "method", "status", "user_agent"})
#: the label of the anchors' key (:func:`anchor_key`): no other use of the fingerprint key shares it
_KEY_LABEL: Final = b"krakenpy audit anchor mac\0"
#: characters left as they are in the %-quoted destination and instance (an ``@`` is quoted: the
#: log's redactor masks from a ``://`` to the line's last ``@`` as user information, so an ``@`` in
#: the instance or a path would mangle the line; it is read back the same)
_SAFE: Final = "/:+,;=~!$&'()*[]"
#: the start of a URL's query or fragment
_QUERY: Final = re.compile(r"[?#]")


def shown_destination(destination: str) -> str:
    """``destination`` as its anchors name it: a URL's user information (a collector's password) and
    its query and fragment (a ``?token=``) left out, whatever they hold, so no credential of the
    destination reaches the application log (the %-quoting of ``?`` hid a query from the log's
    redactor). The user information runs to the URL's last ``@``, as :mod:`krakenpy.userinfo` reads
    it; a URL's path is named by a digest of it (``/~3f2a…``: a webhook's path is often its
    credential); a file's path is kept whole (``file:/a?b.log``)."""
    if destination.startswith("file:"):
        return destination
    scheme = destination.find("://")
    if scheme < 0:
        return destination
    start = scheme + 3
    rest = destination[start:]
    rest = rest[rest.rfind("@") + 1 :]
    query = _QUERY.search(rest)
    rest = rest if query is None else rest[: query.start()]
    host, slash, path = rest.partition("/")
    if path:
        # a webhook's path is often its credential (…/services/T0/B0/XyZ…): named by a digest, which
        # tells two collectors of one host apart and shows nothing of the path
        path = "~" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return destination[:start] + host + slash + path


def anchor_key(fingerprint_key: bytes) -> bytes:
    """The anchors' MAC key, derived from the operator's ``fingerprint_key`` (never used raw: a MAC
    of an anchor is no credential's fingerprint, nor the reverse); empty without one.

    HKDF's extract step, the label as its salt: HMAC keyed with the label, over the fingerprint key.
    Never HMAC keyed with the fingerprint key over the label: that is a credential's fingerprint
    (:func:`krakenpy.fingerprint.fingerprint`), and a client presenting the label as its API key
    (``?key=...%00``) would read the key's first 64 bits in the trail's ``credential``."""
    return hmac.new(_KEY_LABEL, fingerprint_key, hashlib.sha256).digest() if fingerprint_key else b""


def _mac(key: bytes, fields: bytes) -> str:
    return hmac.new(key, fields, hashlib.sha256).hexdigest()


def anchor_message(
    destination: str, instance: str, seq: int, digest: str, key: bytes = b"", redact: Callable[[str], str] | None = None
) -> str:
    """The anchor's text (the application log's message; :data:`ANCHOR_LINE` reads it back), with
    its ``mac=`` under ``key`` (:func:`anchor_key`) when there is one. ``redact``: the application
    log's masking (its redactor's ``text``), applied to the destination and the instance as they are
    (a path segment ``code=7/`` or ``;token=x`` under a masked query key is written
    ``code=[REDACTED]``, a learned credential ``[REDACTED]`` whatever its characters), before their
    %-quoting and the MAC, so the MAC covers them as the log shows them. Never to the labels, ``seq``
    and ``hash``: the gateway's own, holding no secret, which a ``redact`` query key ``hash`` or a
    credential's hex digits would mask, unmaking the anchor; the line is logged as it is
    (:data:`~krakenpy.telemetry.logfmt.PREMASKED`)."""
    if redact is not None:
        destination, instance = redact(destination), redact(instance)
    where, who = quote(destination, safe=_SAFE), quote(instance, safe=_SAFE)
    fields = f"destination={where} instance={who} seq={seq} hash={digest}"
    return f"audit anchor: {fields} mac={_mac(key, fields.encode())}" if key else f"audit anchor: {fields}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """One anchor read from an application log (or given on the command line: ``where`` says which)."""

    seq: int
    hash: str
    destination: str = ""
    instance: str = ""
    where: str = ""
    #: its MAC verified under the key :func:`read_anchors` was given (always True without a key)
    authentic: bool = True
    #: the line carries a MAC (checked or not)
    signed: bool = False


def _json_object(line: bytes) -> dict[str, object] | None:
    """``line`` as the JSON object it is whole, else None (a line two writers joined is none)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _trail_record(line: bytes) -> bool:
    """``line`` is a whole record of the trail (the ``stdout`` sink shares the log's output)."""
    return line.startswith(b'{"ts":') and _json_object(line) is not None


def _access_line(line: bytes) -> bool:
    """``line`` is a line of the access log (gin's, Common, Combined, JSON), which shares standard output
    with the application log and quotes what a client sent: never an anchor."""
    if line.startswith(b"[GIN] "):
        return _GIN_LINE.fullmatch(line) is not None
    if _GIN_ERROR.match(line) or _CLF_LINE.fullmatch(line):
        return True
    if not line.startswith(b'{"time":'):
        return False
    record = _json_object(line)
    return record is not None and _ACCESS_KEYS <= record.keys()


def _unquoted(field: bytes) -> str:
    """A %-quoted ``destination`` or ``instance`` as read: a byte that is not UTF-8 (raw, or %-quoted)
    kept as the surrogate Python gives it in a command line's ``--destination``, never an error."""
    return unquote(field.decode("utf-8", "surrogateescape"), errors="surrogateescape")


def read_anchors(lines: Iterable[bytes], name: str, key: bytes = b"") -> Iterator[Anchor]:
    """The anchors of an application log's ``lines``, each with its ``name:line``; with ``key`` (the
    anchors' one, :func:`anchor_key`), each says whether its MAC verifies (a line without one does
    not). A trail record is no anchor (the ``stdout`` sink shares the log's output, and a record
    quotes a client's ``User-Agent``, which could spell one), nor is a line of the access log: each
    recognised whole, so a line two writers joined (a record cut by an anchor line) is still read.
    With ``key``, such a line's anchors whose MAC verifies are the gateway's all the same (gin's
    ``Error #01:`` line is recognised by its start alone: another worker's anchor can land in it,
    when its long text is written in two parts), and count; the others are skipped, never counted
    as ignored."""
    for number, line in enumerate(lines, 1):
        if b"audit anchor: " not in line:
            continue
        quoting = _trail_record(line) or _access_line(line)  # a client's text, which can spell an anchor
        if quoting and not key:
            continue
        # every anchor of the line, not its first only: two writers on one output (workers, the access
        # log) can join a client's text spelling one and the gateway's into a line, the forged first
        for match in ANCHOR_LINE.finditer(line):
            fields, destination, instance, seq, digest, mac = match.groups()
            authentic = not key or (mac is not None and hmac.compare_digest(mac.decode(), _mac(key, fields)))
            if quoting and not authentic:
                continue
            yield Anchor(
                int(seq), digest.decode(), _unquoted(destination), _unquoted(instance),
                f"{name}:{number}", authentic, mac is not None,
            )  # fmt: skip


class Anchoring:
    """A trail's anchors: :meth:`written` after each batch the sink took whole, :meth:`stop` once the
    trail has written its last record."""

    def __init__(
        self, interval: float, destination: str, key: bytes = b"", redact: Callable[[str], str] | None = None
    ) -> None:
        self.interval = interval
        #: the anchors' MAC key (:func:`anchor_key`; empty: no MAC)
        self.key = key
        #: the application log's masking of the destination and instance (:func:`anchor_message`); the
        #: line is then logged as it is, never masked again (None: masked as every line of the log is)
        self.redact = redact
        self._extra: Final = {PREMASKED: True} if redact is not None else None
        #: as the anchors name it (:func:`shown_destination`), computed once
        self.destination = shown_destination(destination) or "unknown:"
        #: ``(instance, seq, hash)`` of the last record the sink took
        self._head: tuple[str, int, str] | None = None
        self._anchored: tuple[str, int, str] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = -float("inf")

    def written(self, instance: str, seq: int, digest: str) -> None:
        """The sink took a batch whose last record is ``seq``/``digest``: an anchor within the interval."""
        self._head = (instance, seq, digest)
        if self._timer is None:
            delay = max(0.0, self._last + self.interval - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._say)

    def _say(self) -> None:
        self._timer = None
        head = self._head
        if head is None or head == self._anchored:
            return
        self._anchored = head
        self._last = time.monotonic()
        message = anchor_message(self.destination, *head, key=self.key, redact=self.redact)
        log.log(NOTICE, "%s", message, extra=self._extra)

    def stop(self) -> None:
        """The trail stopped: its head, unless already anchored; no timer left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._say()
