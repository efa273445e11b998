"""Trace context for Lambda invocations through Invoke's ``ClientContext``
(``{"custom": {"traceparent": …, "tracestate": …, "x-request-id": …}}``, base64, ≤ 3583 bytes),
the channel OTel's AWS SDK instrumentation uses for direct invokes.

:func:`register_client_context` puts a provider into the gateway's Lambda invoker slot
(:data:`krakenpy.lambda_.context.CLIENT_CONTEXT`), so the Lambda executor itself is unchanged; the
invoker calls it once per invocation, in the invoking task, and it reads the request's exchange and
innermost span from context variables.
"""

from __future__ import annotations

import base64
from functools import partial
from typing import Any, Final

import orjson

from krakenpy.resources import Resources
from krakenpy.telemetry.exchange import CURRENT
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.record import exported_parent
from krakenpy.telemetry.trace.spans import SPAN

__all__ = ["client_context", "register_client_context"]

_LIMIT: Final = 3583
#: the fields left out, in this order, of a context over the limit
_OPTIONAL: Final = ("baggage", "tracestate")


def client_context(hub: Telemetry, existing: str | None = None) -> str | None:
    """The ``ClientContext`` value for the running request (merged into an existing one)."""
    exchange = CURRENT.get()
    tracer = hub.tracer
    if exchange is None:
        return None
    custom: dict[str, Any] = {}
    if tracer is not None and exchange.trace is not None:  # disable_propagation: incoming only
        # the Lambda CLIENT span, else (none recorded for a sampled call) the innermost exported span
        parent = exported_parent(exchange) if exchange.trace.sampled else SPAN.get()
        for name, value in tracer.headers(exchange.trace, parent.hex() if parent is not None else None):
            custom[name.lower()] = value
    if hub.forward_request_id and hub.request_id_header and exchange.request_id:
        custom[hub.request_id_header.lower()] = exchange.request_id
    if not custom:
        return None
    doc: dict[str, Any] = {}
    if existing:
        try:
            decoded = orjson.loads(base64.b64decode(existing))
            if isinstance(decoded, dict):
                doc = decoded
        except (ValueError, orjson.JSONDecodeError):
            doc = {}
    merged = dict(doc.get("custom") or {})
    merged.update(custom)
    doc["custom"] = merged
    value = base64.b64encode(orjson.dumps(doc)).decode()
    if len(value) > _LIMIT:
        # too long (a caller's large baggage or tracestate): those go first, the traceparent and the
        # request id stay (the over-long path only)
        for optional in _OPTIONAL:
            if optional in custom:
                del merged[optional]
                value = base64.b64encode(orjson.dumps(doc)).decode()
                if len(value) <= _LIMIT:
                    return value
        return existing
    return value


def register_client_context(hub: Telemetry, resources: Resources) -> None:
    """Make the gateway's Lambda invokers send :func:`client_context` (idempotent)."""
    # imported here: configs without a Lambda backend never load krakenpy.lambda_
    from krakenpy.lambda_.context import CLIENT_CONTEXT, ClientContextSlot

    slot = resources.state.setdefault(CLIENT_CONTEXT, ClientContextSlot)
    if slot.provide is None:
        slot.provide = partial(client_context, hub)
