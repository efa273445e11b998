"""``telemetry/logging``: at the service, the application log's level, prefix, outputs (stdout, syslog
with facility) and format (KrakenD's default, logstash, or a custom go-logging pattern); on a backend,
KrakenD Enterprise's backend log, one line per upstream call (:mod:`krakenpy.telemetry.backendlog`)."""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.resources import Resources
from krakenpy.telemetry.backendlog import BackendCall, BackendLogOptions, compile_format, parse_backend_log
from krakenpy.telemetry.settings import LoggingOptions, parse_logging
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]

log = logging.getLogger("krakenpy.telemetry")


#: go-logging's formats; KrakenD's schema lists these, its runtime falls back to ``default`` for any other
_FORMATS: Final = ("default", "logstash", "custom")


def _parse(raw: Any, site: Site) -> LoggingOptions | BackendLogOptions:
    if site.level == "backend":
        return parse_backend_log(raw, site.path)
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if isinstance(fmt, str) and fmt and fmt not in _FORMATS:
        # a warning, not an error: KrakenD runs such a file (a corpus config sets "json"), with its
        # default pattern; --lint makes warnings errors, as KrakenD's schema lint would refuse it
        message = f"format {fmt!r} is not one of default, logstash, custom: the default format is used, as in KrakenD"
        site.notes.append(ConfigIssue(site.at("format"), message, "warning"))
    return parse_logging(raw, site.path)


async def _edge(options: Any, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub_for(resources)  # installs the handlers (undone when the gateway closes); nothing per request
    return None


async def _client(options: Any, site: Site, resources: Resources) -> ClientMiddleware | None:
    if not isinstance(options, BackendLogOptions):
        return None
    service = resources.options("", "telemetry/logging")
    if isinstance(service, LoggingOptions) and (options.level < service.level or not service.stdout):
        return None  # below the service's level, or no standard output: nothing per call
    hub = hub_for(resources)
    render, redactor, writer = compile_format(options), hub.redactor, hub.stdout()
    clock, wall = time.perf_counter, time.time
    failed = False

    def write(entry: BackendCall) -> None:
        # a log line never fails the (maybe paid) call it describes; said once, without the values
        nonlocal failed
        try:
            writer.write(render(entry, redactor))
        except Exception as exc:
            if not failed:
                failed = True
                log.error("telemetry/logging: a backend log line could not be written (%s)", type(exc).__name__)

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def logged(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
            start = clock()
            entry = BackendCall(0.0, 0.0, method, url, headers)
            try:
                response = await call(method, url, headers, body)
            except BaseException:
                entry.end, entry.latency = wall(), clock() - start  # a failed call: no status, no answer
                write(entry)
                raise
            entry.end, entry.latency = wall(), clock() - start
            entry.status, entry.response_headers, entry.body = response.status, response.headers, response.body
            write(entry)
            return response

        return logged

    return middleware


COMPONENT: Final = Component(
    namespace="telemetry/logging",
    levels=frozenset({"service", "backend"}),
    parse=_parse,
    summary="application log: level, prefix, stdout, syslog and facility, default/logstash/custom format; "
    "on a backend, EE's backend log line per upstream call",
    edge=_edge,
    client=_client,
    strict=False,
    ignored={
        **dict.fromkeys(
            ("access_log_format", "access_log_custom_format", "access_log_missing_key_marker"),
            "KrakenD Enterprise only: the access log's format is telemetry/access_log's",
        ),
        "backend": "KrakenD Enterprise only: set telemetry/logging on each backend instead",
    },
)
