"""Go's ``strconv.Quote`` (what ``%q`` and ``%#v`` print for a string): a leaf shared by the access
log (gin quotes the path) and the template engine (``printf "%q"``); and the escape the log lines
write for a control character a client's value carries (:func:`control_escape`)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["control_escape", "go_quote"]

_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def go_quote(text: str, quote: str = '"') -> str:
    """``text`` between ``quote`` s with Go's escapes; printable Unicode stays as it is, and a byte that
    was not UTF-8 (kept as a surrogate escape) prints as ``\\xNN``, as Go prints the raw byte."""
    if text.isascii() and text.isprintable() and quote not in text and "\\" not in text:
        return f"{quote}{text}{quote}"  # the common case: nothing to escape
    out = [quote]
    for ch in text:
        if ch == quote:
            out.append("\\" + ch)
            continue
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:
                out.append(f"\\x{code - 0xDC00:02x}")
            elif code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)


def control_escape(match: re.Match[str]) -> str:
    """The matched control character as a log line writes it (a ``re.sub`` replacement): CR and LF as
    ``\\r`` and ``\\n``, another as ``\\xNN`` below U+0080, else ``\\uNNNN`` (C1, U+2028, U+2029)."""
    char = match.group()
    if char == "\r":
        return "\\r"
    if char == "\n":
        return "\\n"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"
