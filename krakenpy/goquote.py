"""Go's ``strconv.Quote`` (what ``%q`` and ``%#v`` print for a string): a leaf shared by the access
log (gin quotes the path) and the template engine (``printf "%q"``)."""

from __future__ import annotations

from typing import Final

__all__ = ["go_quote"]

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
