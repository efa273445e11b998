"""Fields krakenpy accepts and does not act on, reported as warnings at their JSON paths.

Each component lists its own (``Component.ignored``: field → why); the service root and the backend
objects have theirs here. A field is reported when it is present with a value other than ``false``,
``0``, ``""``, ``[]``, ``{}`` or ``null`` (those ask for nothing krakenpy fails to do). Field syntax:
``a.b`` for nested keys, ``name[]`` for every item of a list (``[]`` alone: the value itself is the
list), and ``name=value`` to report only that value (``sd=dns``). Every schema property described as
"Accepted; no effect in krakenpy (<why>)" is in exactly one list, with the same why
(``tests/components/test_registry.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from krakenpy.errors import ConfigIssue

__all__ = ["AS_KRAKEND", "BACKEND_IGNORED", "IGNORED", "INERT", "ROOT_IGNORED", "document_ignored", "ignored_issues"]

#: how the warning and the schema description start (the schema capitalises it)
IGNORED: Final = "accepted; no effect in krakenpy"
#: a why starting so names a field KrakenD accepts and does not act on either: the warning then
#: says so (krakenpy behaves as KrakenD there; the schema description keeps the why as it is)
AS_KRAKEND: Final = "as in KrakenD: "
INERT: Final = "accepted; no effect, as in KrakenD"

#: ``krakend.json`` top-level fields
ROOT_IGNORED: Final[Mapping[str, str]] = {
    "use_h2c": "clients get HTTP/1.1; HTTP/2 is served only by a gateway with a grpc.server, as cleartext "
    "with prior knowledge, whatever this field says",
    "async_agent[].connection.health_interval": "agents are not listed in /__health",
    "async_agent[].encoding": "the body of each message reaches the backends as it is, as with KrakenD's AMQP driver",
    "client_tls": "backend TLS settings are not applied: backends are verified against the system CA pool, "
    "without client certificates",
    "allow_insecure_connections": "backend certificates are always verified",
    "expect_continue_timeout": "the upstream client never sends Expect: 100-continue",
    "dialer_fallback_delay": "a setting of Go's dialer, for RFC 6555 fast fallback",
    "dialer_keep_alive": "a setting of Go's dialer: backend connections use the system's TCP keep-alive settings",
    "tls.prefer_server_cipher_suites": "the server's cipher order always wins, as in Go since 1.18",
}

#: fields of every ``backend`` object (none left: ``sd: dns`` and ``sd_scheme`` are served, krakenpy.sd)
BACKEND_IGNORED: Final[Mapping[str, str]] = {}


def _inert(value: Any) -> bool:
    return value is None or value is False or (value is not True and value in (0, "", [], {}))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _find(value: Any, parts: list[str], path: str) -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of every place ``parts`` names inside ``value``."""
    if not parts:
        yield path, value
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        key = head[:-2]
        if key:
            items, where = (value.get(key) if isinstance(value, Mapping) else None), _join(path, key)
        else:
            items, where = value, path
        if isinstance(items, list):
            for i, item in enumerate(items):
                yield from _find(item, rest, f"{where}[{i}]")
    elif isinstance(value, Mapping) and head in value:
        yield from _find(value[head], rest, _join(path, head))


def _message(why: str) -> str:
    if why.startswith(AS_KRAKEND):
        return f"{INERT} ({why.removeprefix(AS_KRAKEND)})"
    return f"{IGNORED} ({why})"


def ignored_issues(value: Any, path: str, fields: Mapping[str, str]) -> list[ConfigIssue]:
    """One warning per ignored field set in ``value`` (the object at ``path``)."""
    issues: list[ConfigIssue] = []
    for spec, why in fields.items():
        name, _, only = spec.partition("=")
        for where, found in _find(value, name.split("."), path):
            if _inert(found) or (only and found != only):
                continue
            issues.append(ConfigIssue(where, _message(why), "warning"))
    return issues


def document_ignored(doc: Mapping[str, Any]) -> list[ConfigIssue]:
    """The ignored fields of the service root and of every backend object."""
    issues = ignored_issues(doc, "", ROOT_IGNORED)
    endpoints = doc.get("endpoints")
    for i, endpoint in enumerate(endpoints if isinstance(endpoints, list) else []):
        backends = endpoint.get("backend") if isinstance(endpoint, Mapping) else None
        for j, backend in enumerate(backends if isinstance(backends, list) else []):
            issues.extend(ignored_issues(backend, f"endpoints[{i}].backend[{j}]", BACKEND_IGNORED))
    return issues
