"""The audit trail's out-of-band anchors (``telemetry/audit`` ``anchor_interval``): the trail's head,
its destination, ``instance``, ``seq`` and ``hash``, written to the application log (never to the
trail), so that ``krakenpy verify-trail --anchors APP.LOG`` notices records cut from the trail's end
(a hash chain alone verifies any prefix of itself).

An anchor is logged at most once every ``anchor_interval`` while records are written (the first one
after a quiet spell at once), and when the trail stops (shutdown, a reload that swaps or removes it);
never when no record was written since the last one. The work is per batch the sink took, none per
request: a timer is armed by the first batch after an anchor, so an idle trail wakes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from krakenpy.telemetry.logfmt import NOTICE

__all__ = ["ANCHOR_LINE", "Anchor", "Anchoring", "anchor_message", "read_anchors", "shown_destination"]

log = logging.getLogger("krakenpy.audit")

#: an anchor line, found anywhere in a line of the application log (any ``telemetry/logging`` format:
#: the default one, logstash's JSON, a custom pattern): the destination and instance are %-quoted, so
#: they hold no space, quote or backslash a format could add or escape
ANCHOR_LINE: Final = re.compile(
    rb"audit anchor: destination=([^\s\"\\]+) instance=([^\s\"\\]+) seq=([0-9]+) hash=([0-9a-f]{64})\b"
)
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
    it; a file's path is kept whole (``file:/a?b.log``)."""
    if destination.startswith("file:"):
        return destination
    scheme = destination.find("://")
    if scheme < 0:
        return destination
    start = scheme + 3
    rest = destination[start:]
    rest = rest[rest.rfind("@") + 1 :]
    query = _QUERY.search(rest)
    return destination[:start] + (rest if query is None else rest[: query.start()])


def anchor_message(destination: str, instance: str, seq: int, digest: str) -> str:
    """The anchor's text (the application log's message; :data:`ANCHOR_LINE` reads it back)."""
    where, who = quote(destination, safe=_SAFE), quote(instance, safe=_SAFE)
    return f"audit anchor: destination={where} instance={who} seq={seq} hash={digest}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """One anchor read from an application log (or given on the command line: ``where`` says which)."""

    seq: int
    hash: str
    destination: str = ""
    instance: str = ""
    where: str = ""


def read_anchors(lines: Iterable[bytes], name: str) -> Iterator[Anchor]:
    """The anchors of an application log's ``lines``, each with its ``name:line``. A trail record is
    no anchor (the ``stdout`` sink shares the log's output, and a record quotes a client's
    ``User-Agent``, which could spell one)."""
    for number, line in enumerate(lines, 1):
        match = ANCHOR_LINE.search(line)
        if match is None or line.startswith(b'{"ts":'):
            continue
        destination, instance, seq, digest = (part.decode() for part in match.groups())
        yield Anchor(int(seq), digest, unquote(destination), unquote(instance), f"{name}:{number}")


class Anchoring:
    """A trail's anchors: :meth:`written` after each batch the sink took whole, :meth:`stop` once the
    trail has written its last record."""

    def __init__(self, interval: float, destination: str) -> None:
        self.interval = interval
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
        log.log(NOTICE, "%s", anchor_message(self.destination, *head))

    def stop(self) -> None:
        """The trail stopped: its head, unless already anchored; no timer left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._say()
