"""``backend/grpc`` (backend, KrakenD Enterprise field names): call a unary gRPC method instead of
an HTTP backend (executor layer). The method is ``url_pattern`` (``/package.Service/Method``), found
at start-up in the service's ``grpc`` catalog. The engine is :mod:`krakenpy.grpc`, imported by
``build`` only: grpcio and protobuf are loaded only by configurations that use gRPC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.grpc.options import parse_backend_options
from krakenpy.names import capitalize
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.grpc.options import BackendOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> BackendOptions:
    assert site.backend is not None
    options = parse_backend_options(raw, url_pattern=site.backend.url_pattern, path=site.path, owner=site.backend.path)
    backend = site.backend
    if backend.host_keys:
        raise ConfigError([ConfigIssue(f"{backend.path}.host", "a gRPC backend's hosts are fixed: no dynamic routing")])
    if backend.sd not in ("", "static"):
        raise ConfigError([ConfigIssue(f"{backend.path}.sd", "a gRPC backend takes its hosts as listed (sd: static)")])
    if "grpc" not in site.service.extra_config:
        raise ConfigError(
            [ConfigIssue(site.path, "a gRPC backend needs the service's grpc.catalog (extra_config.grpc)")]
        )
    return options


async def _executor(options: BackendOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.backends import backend_formatter
    from krakenpy.grpc.executor import grpc_executor

    assert site.backend is not None
    names = {capitalize(p): p for p in site.endpoint.params} if site.endpoint is not None else {}
    return await grpc_executor(options, site.backend, resources, backend_formatter(site.backend), names, site.path)


COMPONENT: Final = Component(
    namespace="backend/grpc",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="unary gRPC calls from the catalog's descriptors: message from params/query/body, JSON answer",
    edition="ee",
    executor=_executor,
)
