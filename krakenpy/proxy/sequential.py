"""Sequential backends (``proxy.sequential: true``, lura ``proxy/merging.go`` sequential merger).

Backend *i* may use ``{respN_field}`` (N < i) in its url_pattern; ``sequential_propagated_params``
copies response values into request params (``Resp0_a.b``) for later layers (Lua, Lambda).
Backend 0 failing fails the request; a later failure or incomplete part stops the chain and what
was merged so far is returned as incomplete.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import BackendError, PipelineError
from krakenpy.names import capitalize
from krakenpy.proxy.types import Proxy, Request, Response

__all__ = ["sequential_proxy", "stringify"]

_RESP_KEY = re.compile(r"^Resp(\d+)_(.+)$")
_RESP_RAW = re.compile(r"^[Rr]esp(\d+)$")


def stringify(value: Any) -> str:
    """A response value as a URL parameter (KrakenD's conversion rules)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # the JSON literal for decoded numbers (KrakenD keeps json.Number text)
    if isinstance(value, list):
        return ",".join(stringify(v) for v in value)
    return str(value)


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    value = data
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def _wanted(endpoint: EndpointConfig) -> list[list[tuple[int, str, str]]]:
    """Per backend: (source index, field path, param key) it needs before running."""
    propagated = endpoint.proxy.sequential_propagated_params
    wanted: list[list[tuple[int, str, str]]] = []
    for i, backend in enumerate(endpoint.backends):
        needs: list[tuple[int, str, str]] = []
        keys = list(backend.url_keys) + [capitalize(p) for p in propagated]
        for key in keys:
            match = _RESP_KEY.match(key)
            if match and int(match.group(1)) < i:
                needs.append((int(match.group(1)), match.group(2), key))
                continue
            raw = _RESP_RAW.match(key)
            if raw and int(raw.group(1)) < i:
                needs.append((int(raw.group(1)), "", capitalize(key)))
        wanted.append(needs)
    return wanted


def sequential_proxy(endpoint: EndpointConfig, proxies: Sequence[Proxy], *, timeout: float) -> Proxy:
    """Run ``proxies`` one after another, feeding earlier answers into later requests."""
    backends = tuple(proxies)
    wanted = _wanted(endpoint)

    async def sequential(request: Request) -> Response:
        parts: list[Response] = []
        data: dict[str, Any] = {}
        errors: list[BaseException] = []
        complete = True
        try:
            async with asyncio.timeout(timeout):
                for i, proxy in enumerate(backends):
                    sub = request.clone()
                    for source, path, key in wanted[i]:
                        part = parts[source]
                        if not path:
                            if part.body is not None:
                                sub.params[key] = part.body.decode("utf-8", "replace")
                            continue
                        found, value = _lookup(part.data, path)
                        if found:
                            sub.params[key] = stringify(value)
                    request.params.update(sub.params)
                    try:
                        part = await proxy(sub)
                    except PipelineError as exc:
                        if i == 0:
                            raise
                        errors.append(exc)
                        complete = False
                        break
                    parts.append(part)
                    data.update(part.data)
                    errors.extend(part.errors)
                    if not part.is_complete:
                        complete = False
                        break
        except TimeoutError:
            if not parts:
                raise BackendError("context deadline exceeded") from None
            errors.append(BackendError("context deadline exceeded"))
            complete = False
        return Response(data=data, is_complete=complete and not errors, errors=tuple(errors))

    return sequential
