"""Small naming rules shared by every layer (a leaf module: it imports nothing of krakenpy's but the version)."""

from __future__ import annotations

import re
from typing import Final

from krakenpy import PRODUCT, __version__

__all__ = [
    "USER_AGENT",
    "VERSION_HEADER",
    "canonical_header",
    "capitalize",
    "valid_header_name",
    "valid_header_value",
]

#: an HTTP header field name (an RFC 9110 token): what Go's httpguts.ValidHeaderFieldName accepts
_HEADER_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def valid_header_name(name: str) -> bool:
    """Whether Go's client would send a header of this name (it refuses a request with any other:
    "net/http: invalid header field name"). For names configuration sets, checked at start-up."""
    return _HEADER_TOKEN.fullmatch(name) is not None


#: what Go's client refuses in a header value (httpguts.ValidHeaderFieldValue): a control byte but HTAB, or DEL
_VALUE_CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def valid_header_value(value: str) -> bool:
    """Whether Go's client would send a header with this value (for values configuration sets)."""
    return _VALUE_CONTROL.search(value) is None


#: what krakenpy sends as ``User-Agent`` to backends (KrakenD: ``KrakenD Version x.y.z``)
USER_AGENT: Final = f"{PRODUCT} Version {__version__}"
#: the ``X-Krakend`` response header value
VERSION_HEADER: Final = f"Version {__version__}"


def capitalize(name: str) -> str:
    """KrakenD's parameter key rule: only the first character is upper-cased (``fn_name`` → ``Fn_name``)."""
    return name[:1].upper() + name[1:]


#: canonical names of the header names seen so far: the same few names arrive on every request, and
#: the join below costs ~1.5 µs a name (3+ names a request on endpoints that see every header). Only
#: short names are kept and at most 4096 of them, so hostile names cannot grow it: past the cap a
#: name is computed each time, as before.
_CANONICAL: dict[str, str] = {}


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``x-foo-bar`` → ``X-Foo-Bar``."""
    found = _CANONICAL.get(name)
    if found is None:
        found = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(name) <= 64 and len(_CANONICAL) < 4096:
            _CANONICAL[name] = found
    return found
