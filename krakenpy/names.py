"""Small naming rules shared by every layer (a leaf module: it imports nothing of krakenpy's but the version)."""

from __future__ import annotations

from typing import Final

from krakenpy import PRODUCT, __version__

__all__ = ["USER_AGENT", "VERSION_HEADER", "canonical_header", "capitalize"]

#: what krakenpy sends as ``User-Agent`` to backends (KrakenD: ``KrakenD Version x.y.z``)
USER_AGENT: Final = f"{PRODUCT} Version {__version__}"
#: the ``X-Krakend`` response header value
VERSION_HEADER: Final = f"Version {__version__}"


def capitalize(name: str) -> str:
    """KrakenD's parameter key rule: only the first character is upper-cased (``fn_name`` → ``Fn_name``)."""
    return name[:1].upper() + name[1:]


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``x-foo-bar`` → ``X-Foo-Bar``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
