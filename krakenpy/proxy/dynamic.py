"""Dynamic routing (KrakenD Enterprise's field syntax): ``{input_headers.X-Route}`` and
``{input_query_strings.route}`` in a backend's ``url_pattern`` or ``host`` take the value the client sent.

The values are read at the endpoint layer, before the ``input_headers`` / ``input_query_strings``
filters (as EE does: the header need not be forwarded to be used), from the first value of the header
or query parameter. A request without one of them is answered 400, as EE does ("the final URL can't be
generated"). Values are percent-encoded into the path like every parameter; in a host they must be
host-name characters, else 400 (checked by :class:`~krakenpy.proxy.request_builder.HostTemplate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import PipelineError
from krakenpy.names import canonical_header
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["HEADER_PREFIX", "QUERY_PREFIX", "dynamic_routing_middleware", "is_dynamic_key"]

#: template keys (after KrakenD's first-letter capitalisation) and where their values come from
HEADER_PREFIX: Final = "Input_headers."
QUERY_PREFIX: Final = "Input_query_strings."
#: a value that may go into a host: DNS labels (letters, digits, ``-``), dots between them
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
HOST_VALUE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class MissingRoutingInput(PipelineError):
    """A header or query parameter the backend URL is built from is absent or unusable: 400."""

    status = 400


def is_dynamic_key(key: str) -> bool:
    """True for an ``input_headers.*`` / ``input_query_strings.*`` template key (capitalised)."""
    return (key.startswith(HEADER_PREFIX) and len(key) > len(HEADER_PREFIX)) or (
        key.startswith(QUERY_PREFIX) and len(key) > len(QUERY_PREFIX)
    )


def _sources(keys: Iterable[str]) -> tuple[tuple[str, bool, str], ...]:
    """(key, from a header, header name or query name) per distinct dynamic key."""
    found: dict[str, tuple[str, bool, str]] = {}
    for key in keys:
        if key in found or not is_dynamic_key(key):
            continue
        if key.startswith(HEADER_PREFIX):
            found[key] = (key, True, canonical_header(key[len(HEADER_PREFIX) :]))
        else:
            found[key] = (key, False, key[len(QUERY_PREFIX) :])
    return tuple(found.values())


def dynamic_routing_middleware(endpoint: EndpointConfig) -> Middleware | None:
    """The endpoint-layer step filling the dynamic keys the endpoint's backends use; None without any."""
    sources = _sources(key for backend in endpoint.backends for key in (*backend.url_keys, *backend.host_keys))
    if not sources:
        return None

    def middleware(next_proxy: Proxy) -> Proxy:
        async def routed(request: Request) -> Response:
            params = request.params
            for key, from_header, name in sources:
                values = request.headers.get(name) if from_header else request.query.get(name)
                value = values[0] if values else None
                if value is None:
                    kind = "header" if from_header else "query string"
                    raise MissingRoutingInput(f"missing {kind} {name!r} for the backend URL")
                params[key] = value
            return await next_proxy(request)

        return routed

    return middleware
