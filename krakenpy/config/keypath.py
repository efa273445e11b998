"""A key's place in a JSON path as the configuration checks spell it (``endpoints[0].extra_config.proxy``)."""

from __future__ import annotations

__all__ = ["EMPTY_KEY", "key_path", "within"]

#: how an empty key (``{"": …}``) is spelt in a path, as jq writes it (``.""``): a bare empty name left
#: the path ending on a dot (``extra_config.security/cors.``), or, at the top level, naming the root
EMPTY_KEY = '""'


def key_path(path: str, key: str) -> str:
    """``path.key`` (``key`` alone at the root), an empty key spelt :data:`EMPTY_KEY`."""
    name = key or EMPTY_KEY
    return f"{path}.{name}" if path else name


def within(path: str, place: str) -> bool:
    """Whether ``path`` is ``place`` or lies inside the value at it (``place.key``, ``place[0]``)."""
    return path == place or path.startswith((place + ".", place + "["))
