"""AWS Lambda backends (``backend/lambda``)."""

from __future__ import annotations

from krakenpy.config.model import BackendConfig
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

__all__ = ["NAMESPACE", "lambda_executor"]

NAMESPACE = "backend/lambda"


async def lambda_executor(backend: BackendConfig, resources: Resources, formatter: Formatter | None) -> Proxy | None:
    """The executor for a backend with ``backend/lambda``; ``None`` when the namespace is absent."""
    if NAMESPACE not in backend.extra_config:
        return None
    raise ValueError("backend/lambda is not available in this build")
