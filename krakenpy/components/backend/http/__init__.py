"""``backend/http`` (backend): how a failing HTTP backend's status and body reach the client
(``return_error_code``, ``return_error_details``). Read by the core
(:class:`~krakenpy.config.options.HttpBackendOptions`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.config.options import HttpBackendOptions, parse_http_backend

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> HttpBackendOptions:
    return parse_http_backend(raw, site.path)


COMPONENT: Final = Component(
    namespace="backend/http",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="backend error details: the backend's status (return_error_code) or body (return_error_details)",
    core=True,
    strict=False,
)
