"""``backend/lambda`` (backend): invoke an AWS Lambda function instead of an HTTP call (executor
layer). The engine is :mod:`krakenpy.lambda_`, imported by ``build`` only: aiobotocore is loaded only
by configs that use Lambda."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.lambda_.options import parse_options
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.lambda_.options import LambdaOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> LambdaOptions:
    assert site.backend is not None
    return parse_options(raw, method=site.backend.method, path=site.path)


async def _executor(options: LambdaOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.backends import backend_formatter
    from krakenpy.lambda_.backend import lambda_executor

    assert site.backend is not None
    return await lambda_executor(site.backend, resources, backend_formatter(site.backend), options=options)


COMPONENT: Final = Component(
    namespace="backend/lambda",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="AWS Lambda invocation: function by name or request parameter, payload modes, error statuses",
    executor=_executor,
)
