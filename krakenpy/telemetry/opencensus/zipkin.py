"""The ``zipkin`` exporter: spans as Zipkin v2 JSON (a list of span objects) POSTed to
``collector_url``, mapped as OpenCensus' Zipkin exporter does: attributes become string tags, a
status that is not OK adds ``error`` (the status name) and ``opencensus.status_description``."""

from __future__ import annotations

import ipaddress
from typing import Any, Final

import aiohttp
import orjson

from krakenpy.telemetry.answers import skim
from krakenpy.telemetry.opencensus.settings import ZipkinOptions
from krakenpy.telemetry.opencensus.spans import CLIENT, SERVER, STATUS_NAMES, OcSpan

__all__ = ["ZipkinSink", "local_endpoint", "zipkin_spans"]

_KIND: Final = {SERVER: "SERVER", CLIENT: "CLIENT"}
_TIMEOUT: Final = 10.0


def local_endpoint(options: ZipkinOptions) -> dict[str, Any]:
    """``localEndpoint``: the service name, ``ip`` as ``ipv4`` or ``ipv6``, ``port``."""
    out: dict[str, Any] = {}
    if options.service_name:
        out["serviceName"] = options.service_name
    try:
        ip = ipaddress.ip_address(options.ip) if options.ip else None
    except ValueError:
        ip = None
    if ip is not None:
        out["ipv4" if ip.version == 4 else "ipv6"] = str(ip)
    if options.port:
        out["port"] = options.port
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def zipkin_spans(spans: list[OcSpan], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON documents of ``spans``."""
    out: list[dict[str, Any]] = []
    for span in spans:
        doc: dict[str, Any] = {
            "traceId": span.trace_id,
            "id": span.span_id,
            "name": span.name,
            "timestamp": span.start_us,
            "duration": max(span.duration_us, 1),
        }
        if span.parent_id:
            doc["parentId"] = span.parent_id
        kind = _KIND.get(span.kind)
        if kind is not None:
            doc["kind"] = kind
        if endpoint:
            doc["localEndpoint"] = endpoint
        tags = {key: _text(value) for key, value in span.attributes.items()}
        if span.status_code:
            tags["error"] = STATUS_NAMES[span.status_code]
        if span.status_message and span.status_code:
            tags["opencensus.status_description"] = span.status_message
        if tags:
            doc["tags"] = tags
        out.append(doc)
    return out


class ZipkinSink:
    """POSTs batches to the collector (``/api/v2/spans``)."""

    name = "zipkin"
    batch = 100  # zipkin-go's HTTP reporter batch

    def __init__(self, options: ZipkinOptions) -> None:
        self.options = options
        self.endpoint = local_endpoint(options)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT))

    async def send(self, spans: list[OcSpan]) -> None:
        assert self._session is not None
        body = orjson.dumps(zipkin_spans(spans, self.endpoint))
        headers = {"Content-Type": "application/json"}
        async with self._session.post(self.options.collector_url, data=body, headers=headers) as response:
            await skim(response)
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
