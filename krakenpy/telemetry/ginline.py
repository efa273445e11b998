"""gin's access-log line (KrakenD's default), byte for byte, rendered in batches:

``[GIN] 2006/01/02 - 15:04:05 | 200 |  143.655729ms |   83.33.197.234 | GET      "/v2/x"``
(``[GIN] <end> |␠<%3d>␠| <latency %13v> | <ip %15s> |␠<method %-7s>␠␠<Go-quoted path?query>``)
followed by gin's ``Error #01: …`` line. Colours are never written (gin writes them on a TTY only).

The edge queues a :data:`GinEntry` tuple per request on the :class:`~krakenpy.telemetry.writer.LineWriter`;
the renderer formats the whole batch when the writer flushes: one loop, one encode, the time text once
per second, and the usual latencies, statuses and methods from tables instead of format specs (each
``{x:3d}``-style spec costs ~1.5k machine instructions). Where the native extension ``_ginwire`` is
built (beside the mypyc hot path), a batch of usual entries is written by it into one bytes object,
the same bytes; any other batch, and every batch without it, is rendered here (the reference).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

from krakenpy.goquote import go_quote
from krakenpy.telemetry.gotime import go_duration

__all__ = ["GinEntry", "GinRender", "gin_renderer", "one_line"]

#: ``(end, status, latency_ns, client_ip, method, target, error)``: end in Unix nanoseconds, or in
#: ``perf_counter_ns`` for a renderer built with ``monotonic_ns=True``
GinEntry = tuple[int, int, int, str, str, str, "str | None"]
GinRender = Callable[[Sequence[GinEntry]], bytes]
#: ``lines(entries, locate, head, low, high)`` of ``_ginwire.c``: the batch's bytes, or None
NativeLines = Callable[[list[GinEntry], Callable[[int], tuple[bytes, int, int]], bytes, int, int], "bytes | None"]


def _native_lines() -> NativeLines | None:
    """The native batch writer (``_ginwire.c``) when it was built (a wheel built with a C compiler,
    ``make compile``), else None: the Python path."""
    try:
        from krakenpy.telemetry._ginwire import lines
    except ImportError:
        return None
    return lines


#: resolved once, at import
_NATIVE: Final = _native_lines()

_NUM: Final = tuple(str(i) for i in range(1000))
_STATUS: Final = tuple(f"{i:3d}" for i in range(1000))
_FRAC: Final = tuple(f"{i:03d}".rstrip("0") for i in range(1000))
# Duration.String() pieces: "µs" / ".45µs" after the whole microseconds; milliseconds in two groups
_US: Final = tuple(("." + f if f else "") + "µs" for f in _FRAC)
#: ``_US`` with "µ" as the two Latin-1 characters of its UTF-8 bytes (for a Latin-1 encode)
_US_LATIN: Final = tuple(u.replace("µ", "µ".encode().decode("latin-1")) for u in _US)
_MS: Final = tuple(("." + f if f else "") + "ms" for f in _FRAC)
_DOT3: Final = tuple(f".{i:03d}" for i in range(1000))
_FRAC_MS: Final = tuple(f + "ms" for f in _FRAC)
#: a line's seconds (``%S``): the time text is made once a minute, its seconds from here
_SECONDS: Final = tuple(f"{i:02d} | " for i in range(60))


def _padded(suffixes: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Per suffix: the whole numbers 0..999 right-aligned so that number + suffix fill gin's 13
    columns (one table per suffix width, shared): the latency text without a ``rjust`` per line."""
    by_width: dict[int, tuple[str, ...]] = {}
    for suffix in suffixes:
        width = 13 - len(suffix)
        if width not in by_width:
            by_width[width] = tuple(n.rjust(width) for n in _NUM)
    return tuple(by_width[13 - len(suffix)] for suffix in suffixes)


_US_PAD: Final = _padded(_US)
_MS_PAD: Final = _padded(_MS)
#: for "<ms>.<k><tail>ms": the suffix is 4 characters (".ddd") + the tail's
_TAIL_PAD: Final = _padded(tuple("...." + f for f in _FRAC_MS))
_METHOD: Final = {m: f"{m:<7}" for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT")}
#: how far inside a second's ends a monotonic reading is taken as in it without the float formula (ns)
_MARGIN: Final = 10_000
#: client addresses whose padded form is kept (a bounded cache: the same clients come back)
_IP_CACHE: Final = 1024


def took_text(ns: int) -> str:
    """gin's latency: ``Duration.String()``, truncated to whole seconds above a minute."""
    if 1_000 <= ns < 1_000_000:
        us = ns // 1_000
        return _NUM[us] + _US[ns - us * 1_000]
    if 1_000_000 <= ns < 1_000_000_000:
        ms = ns // 1_000_000
        rest = ns - ms * 1_000_000
        k = rest // 1_000
        tail = rest - k * 1_000
        return _NUM[ms] + (_DOT3[k] + _FRAC_MS[tail] if tail else _MS[k])
    if ns > 60_000_000_000:
        ns -= ns % 1_000_000_000
    return go_duration(ns)


def _minute_of(
    second: int, layout: str, localtime: Callable[[float], time.struct_time], strftime: Callable[..., str]
) -> tuple[str, int, str]:
    """The time text of the Unix ``second`` (``[GIN] 2006/01/02 - 15:04:05 | ``), and its local
    minute's start and text when the minute's other seconds follow it plainly (its first and last
    seconds read as the same minute's 0th and 59th: no UTC offset change nor leap second inside),
    else 0 and "": the renderer then makes the text of the minute's seconds from its start and
    :data:`_SECONDS`, one ``localtime`` and ``strftime`` a minute instead of one a second (under
    valgrind, where a second holds a dozen requests, ~0.5 k instructions a line, 2026-12-02)."""
    now = localtime(second)
    text = f"[GIN] {strftime(layout, now)}"
    head = f"{text}{now.tm_sec:02d} | "
    if now.tm_sec > 59:
        return head, 0, ""
    start = second - now.tm_sec
    for at, sec in ((start, 0), (start + 59, 59)):
        end = localtime(at)
        if end.tm_sec != sec or f"[GIN] {strftime(layout, end)}" != text:
            return head, 0, ""
    return head, start, text


def _window(second: int, offset: float) -> tuple[int, int]:
    """The ``perf_counter_ns`` readings that certainly fall in the Unix ``second`` with ``offset``
    between the clocks: :data:`_MARGIN` inside its two ends by the float formula (whose rounding is
    ~0.25 µs at today's Unix times), so a reading between the window and an end is computed anew."""
    return int((second - offset) * 1e9) + _MARGIN, int((second + 1 - offset) * 1e9) - _MARGIN


def one_line(text: str) -> str:
    """An error's text as one line: CR and LF written ``\\r``, ``\\n`` (a Lua ``error()`` with a client's
    decoded ``%0D%0A`` forged log lines after gin's ``Error #01:``)."""
    return text.replace("\r", "\\r").replace("\n", "\\n") if "\r" in text or "\n" in text else text


def gin_renderer(*, monotonic_ns: bool = False, native: bool = True, writer: NativeLines | None = None) -> GinRender:
    """A renderer of gin lines (it keeps the current second's time text between batches). The
    entries' end is in nanoseconds: Unix time (``time.time_ns()``), or with ``monotonic_ns`` a
    ``perf_counter_ns`` reading (the edge's own clock: no wall clock read per request), turned into
    Unix time with the offset between the clocks read once per batch, i.e. within the loop tick of the
    request, so a clock step never skews more than a batch. A line's second is found by comparing its
    end with the current second's range as integers: no float made per line (~0.5 k instructions a
    line, compiled, 2026-12-02). ``native``: a batch of usual entries through ``_ginwire`` when it is
    built (``False``: always the Python path, the reference the tests compare it with); ``writer``: the
    native writer to use instead of the module's (the tests' spy)."""
    minute_layout = "%Y/%m/%d - %H:%M:"
    current = -1  # the Unix second whose text is in ``head``
    head = ""
    head_bytes = b""  # ``head`` encoded (the native writer's)
    # the batch's offset between the clocks (with ``monotonic_ns``), for :func:`locate`
    batch_offset = 0.0
    write = (writer or _NATIVE) if native else None
    # the Unix second at which the local minute of ``minute_head`` ("[GIN] 2006/01/02 - 15:04:")
    # starts; "": none (the next second through ``localtime``)
    minute = 0
    minute_head = ""
    localtime = time.localtime
    strftime = time.strftime
    ips: dict[str, str] = {}
    # the last plain line's client, method and target, and its text from the address on (the method
    # first a line end, which no request's method holds: nothing matches before a line was kept)
    last_ip = last_target = last_fixed = ""
    last_method = "\n"
    # the last batch had a target that needed Go's quoting: the next starts without the plain
    # assumption (a batch that gave it up midway was rendered twice)
    quoted = False

    def advance(second: int) -> None:
        """``head`` (and the minute's texts) for the Unix ``second``, made ``current``."""
        nonlocal current, head, head_bytes, minute, minute_head
        if minute_head and 0 <= second - minute < 60:
            head = minute_head + _SECONDS[second - minute]
        else:
            head, minute, minute_head = _minute_of(second, minute_layout, localtime, strftime)
        current = second
        head_bytes = head.encode("utf-8", "surrogateescape")

    def within(second: int, offset: float) -> tuple[int, int]:
        """[low, high): the ends that fall in the Unix ``second`` with the batch's ``offset`` (none
        before the first second is known)."""
        if second < 0:
            return 1, 0
        if monotonic_ns:
            return _window(second, offset)
        return second * 1_000_000_000, (second + 1) * 1_000_000_000

    def find(clock: int, offset: float) -> tuple[int, int]:
        """The second of an end outside the current range made ``current``, and its range."""
        second = int(clock * 1e-9 + offset) if monotonic_ns else clock // 1_000_000_000
        if second != current:
            advance(second)
        return within(second, offset)

    def locate(clock: int) -> tuple[bytes, int, int]:
        """The native writer's question for an end outside its range: the time text of the end's
        second and that second's range (as :func:`lines` finds them, with the batch's offset)."""
        low, high = find(clock, batch_offset)
        return head_bytes, low, high

    def lines(entries: list[GinEntry], plain: bool, micro: tuple[str, ...]) -> list[str] | None:
        """The batch's lines; with ``plain`` (every field ASCII, every target written between plain
        quotes) ``None`` as soon as a field is not so (the caller then renders again without that
        assumption)."""
        nonlocal last_ip, last_method, last_target, last_fixed, quoted
        out: list[str] = []
        offset = time.time() - time.perf_counter_ns() * 1e-9 if monotonic_ns else 0.0
        low, high = within(current, offset)
        lead = ""
        lead_status = 0
        lead_of: str | None = None  # the ``head`` of ``lead`` (none yet)
        for clock, status, ns, ip, method, target, error in entries:
            if not low <= clock < high:
                low, high = find(clock, offset)
            # took_text's usual cases inline, already padded to 13 columns: no call per line; its
            # pieces go into the line's f-string as they are (each ``+`` was a string made per line)
            if 1_000 <= ns < 1_000_000:
                us = ns // 1_000
                frac = ns - us * 1_000
                took, unit, tail_ms = _US_PAD[frac][us], micro[frac], ""
            elif 1_000_000 <= ns < 1_000_000_000:
                ms = ns // 1_000_000
                rest = ns - ms * 1_000_000
                k = rest // 1_000
                tail = rest - k * 1_000
                if tail:
                    took, unit, tail_ms = _TAIL_PAD[tail][ms], _DOT3[k], _FRAC_MS[tail]
                else:
                    took, unit, tail_ms = _MS_PAD[k][ms], _MS[k], ""
            else:
                took, unit, tail_ms = took_text(ns).rjust(13), "", ""  # (no "µ" outside the microsecond range)
            if status != lead_status or head is not lead_of:
                # the line's head, status and bar, kept while the second and status repeat (two pieces
                # fewer in the line's string)
                code = _STATUS[status] if 0 <= status < 1000 else f"{status:3d}"
                lead = f"{head}{code} | "
                lead_status, lead_of = status, head
            if plain and target == last_target and ip == last_ip and method == last_method:
                # the line's fixed part (padded address, method, quoted target) while the client and
                # route repeat: no address or method lookup and a shorter line (item 3 of acclog2)
                fixed = last_fixed
            else:
                padded = ips.get(ip)
                if padded is None:
                    if not ip.isascii():
                        if plain:
                            return None
                        padded = f"{ip:>15}"
                    else:
                        padded = f"{ip:>15}"
                        if len(ips) < _IP_CACHE:
                            ips[ip] = padded
                verb = _METHOD.get(method)
                if verb is None:
                    if plain and not method.isascii():
                        return None
                    verb = f"{method:<7}"
                # a target that needs no Go quoting (the usual one) between plain quotes; checked here,
                # where the line's fixed part is made (not once per line: a repeated one is kept)
                if target.isascii() and target.isprintable() and '"' not in target and "\\" not in target:
                    fixed = f' | {padded} | {verb}  "{target}"\n'
                elif plain:
                    return None
                else:
                    fixed = f" | {padded} | {verb}  {go_quote(target)}\n"
                    quoted = True
                if plain:  # kept from a plain batch only: every field of it ASCII, as a plain batch's must be
                    last_ip, last_method, last_target, last_fixed = ip, method, target, fixed
            # the line's pieces, joined with the batch's (a string built per line, ~0.6 k instructions,
            # cost more than the appends and the longer join)
            out.append(lead)
            out.append(took)
            out.append(unit)
            if tail_ms:
                out.append(tail_ms)
            out.append(fixed)
            if error is not None:
                if plain and not error.isascii():
                    return None
                out.append(f"Error #01: {one_line(error)}\n")
        return out

    def render(entries: Sequence[GinEntry]) -> bytes:
        # the usual batch first: every field ASCII and every target plain (checked where a line's
        # fixed part is made, once per client and route in a row: no scan of the batch's targets,
        # ~0.5 k instructions a line for their list, join and scans, acclog7)
        nonlocal quoted, batch_offset
        # a list (the writer's runs are): compiled, the loop reads it by index, where a sequence is
        # iterated through ``PyIter_Next``
        batch = entries if isinstance(entries, list) else list(entries)
        if not quoted:
            if write is not None:
                # the usual batch written natively (~0.5 k machine instructions a line against ~1.3 k
                # here); None for one it does not write (then the paths below, from the same state)
                batch_offset = time.time() - time.perf_counter_ns() * 1e-9 if monotonic_ns else 0.0
                low, high = within(current, batch_offset)
                data = write(batch, locate, head_bytes, low, high)
                if data is not None:
                    return data
            out = lines(batch, True, _US_LATIN)
            if out is not None:
                # ASCII but for the "µ" written as its two UTF-8 bytes: Latin-1 is a plain copy,
                # where a UTF-8 encode of a text with one non-ASCII letter goes character by character
                return "".join(out).encode("latin-1")
        # a client's bytes written back as received (Go), as surrogate escapes in the text
        quoted = False  # set again by a target quoted in this batch
        return "".join(lines(batch, False, _US) or ()).encode("utf-8", "surrogateescape")

    return render
