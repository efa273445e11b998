"""``modifier/body-generator`` (KrakenD Enterprise's first name of ``modifier/request-body-generator``):
the same options and behaviour (:mod:`krakenpy.components.modifier.request_body_generator`)."""

from __future__ import annotations

from typing import Final

from krakenpy.components.base import Component
from krakenpy.components.modifier.request_body_generator import build_backend, build_proxy, parse

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "modifier/body-generator"

COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=parse,
    summary="modifier/request-body-generator's first name: a Go template writes the request body",
    proxy=build_proxy,
    backend=build_backend,
    edition="ee",
)
