"""The forms a credential takes once a JSON encoder has written it inside a string: what the literal
masking of a refusal and of a logged body looks for, besides the credential as it is (stdlib and
orjson only: the backends' refusal layer and the telemetry's redactor share it)."""

from __future__ import annotations

from functools import lru_cache

import orjson

__all__ = ["json_forms"]

#: what Go's encoding/json writes for the HTML-sensitive characters (its default ``SetEscapeHTML``)
_GO_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@lru_cache(maxsize=1024)
def json_forms(text: str) -> frozenset[str]:
    """``text`` as the usual JSON encoders write it inside a string, ``text`` itself left out: the
    minimal escapes (a ``"``, a ``\\`` or a control character: orjson, Go, Rust), every non-ASCII
    character as ``\\uXXXX`` (Python's ``ensure_ascii``, PHP's default, in lower and upper case), ``/``
    as ``\\/`` (PHP's default) and ``<``, ``>``, ``&`` as ``\\u003c``... (Go's default). A client
    decoding the JSON reads the credential in each of them."""
    minimal = orjson.dumps(text).decode()[1:-1]
    ascii_only = "".join(_ascii(char) for char in minimal)
    forms = {minimal, ascii_only, _upper_escapes(ascii_only)}
    forms |= {form.replace("/", "\\/") for form in forms}
    go = minimal
    for char, escape in _GO_HTML.items():
        go = go.replace(char, escape)
    forms.add(go)
    forms.discard(text)
    return frozenset(forms)


def _ascii(char: str) -> str:
    """One character of a JSON string as an ASCII-only encoder writes it (UTF-16 pairs past U+FFFF)."""
    code = ord(char)
    if code < 0x80:
        return char
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _upper_escapes(form: str) -> str:
    """``\\u00e9`` written ``\\u00E9`` (Jackson, .NET), the rest as it is."""
    parts = form.split("\\u")
    return parts[0] + "".join("\\u" + p[:4].upper() + p[4:] for p in parts[1:])
