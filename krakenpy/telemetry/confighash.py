"""The configuration as the audit's ``config_hash`` is taken over: its secrets' values blanked (README,
Audit trail)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from krakenpy.config.schema import _SECRET_HOLDERS, _SECRET_KEY, _plain
from krakenpy.telemetry.redact import DEFAULT_HEADERS, DEFAULT_QUERY_KEYS

__all__ = ["without_secrets"]


def without_secrets(value: Any, inside: bool = False) -> Any:
    """``value`` (a configuration document) with every value a key names as a secret (the keys whose
    schema errors never quote a value: ``client_secret``, an API key's ``key``, ``auth/basic``'s
    ``users``, ``ai/llm``'s ``credentials``…) replaced by ``"[REDACTED]"``: what a digest published
    in every audit record may be taken over (an unkeyed digest of the file let a reader who knows
    the rest of it, a template in a repository, confirm a guessed secret). So are the credentials
    held under other names: a credential header's value (``"Authorization": …`` in a ``headers``
    map, the ``value`` of a ``{"name": "X-Api-Key", "value": …}`` pair: a martian modifier's), a
    URL's user-info and the values of its credential query keys (``?api_key=``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        named = value.get("name")
        pair = isinstance(named, str) and _credential_name(named)  # {"name": "Authorization", "value": …}
        for key, item in value.items():
            name = _plain(key) if isinstance(key, str) and "/" not in key else ""
            holder = inside or name in _SECRET_HOLDERS
            if (
                name
                and (
                    _SECRET_KEY.search(name) is not None
                    or name in _SECRET_HOLDERS
                    or key.lower() in _credential_headers()
                    or (pair and key == "value")
                )
                and not isinstance(item, Mapping | list)
            ):
                out[key] = "[REDACTED]"
            else:
                out[key] = without_secrets(item, holder)
        return out
    if isinstance(value, list):
        return [without_secrets(item, inside) for item in value]
    if inside and value is not None:
        return "[REDACTED]"
    if isinstance(value, str) and ("://" in value or "=" in value):
        return _url_without_secrets(value)
    return value


#: a URL's user-info (``scheme://user:password@``) and a query pair (``?key=value``, ``&key=value``)
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]+@")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")


@cache
def _credential_headers() -> frozenset[str]:
    return frozenset(DEFAULT_HEADERS)


@cache
def _credential_query_keys() -> frozenset[str]:
    return frozenset(k.lower() for k in DEFAULT_QUERY_KEYS)


def _credential_name(name: str) -> bool:
    """A header or query key whose value is a credential (the redactor's defaults, or a name ending
    in ``key``, ``token``, ``secret``, ``password``)."""
    lower = name.lower()
    return (
        lower in _credential_headers()
        or lower in _credential_query_keys()
        or _SECRET_KEY.search(_plain(name)) is not None
    )


def _url_without_secrets(text: str) -> str:
    if "@" in text:
        text = _USERINFO.sub("[REDACTED]@", text)
    if "=" in text:
        text = _QUERY_PAIR.sub(
            lambda m: f"{m[1]}{m[2]}=[REDACTED]" if _credential_name(m[2]) else m[0],
            text,
        )
    return text
