"""One Lambda backend compiled: options, client, event builder and answer decoder (see the package)."""

from __future__ import annotations

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.lambda_.executor import lambda_proxy
from krakenpy.lambda_.invoker import Invoker, lambda_invoker
from krakenpy.lambda_.options import LambdaOptions, parse_options
from krakenpy.lambda_.payload import payload_builder
from krakenpy.lambda_.response import result_decoder
from krakenpy.names import capitalize
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

__all__ = ["NAMESPACE", "lambda_executor"]

NAMESPACE = "backend/lambda"


def _endpoint_of(backend: BackendConfig, resources: Resources) -> EndpointConfig | None:
    owner = backend.path.rpartition(".backend[")[0]
    return next((e for e in resources.service.endpoints if e.path == owner), None)


async def lambda_executor(
    backend: BackendConfig,
    resources: Resources,
    formatter: Formatter | None,
    *,
    invoker: Invoker | None = None,
    options: LambdaOptions | None = None,
) -> Proxy | None:
    """The executor for a backend with ``backend/lambda``; ``None`` when the namespace is absent.

    ``invoker`` replaces the Invoke call (unit tests of what the emulator cannot produce).
    """
    if NAMESPACE not in backend.extra_config:
        return None
    path = f"{backend.path}.extra_config.{NAMESPACE}"
    if options is None:
        options = parse_options(backend.extra_config[NAMESPACE], method=backend.method, path=path)
    endpoint = _endpoint_of(backend, resources)
    method = endpoint.method if endpoint is not None else backend.method
    names = {capitalize(p): p for p in endpoint.params} if endpoint is not None else {}
    if invoker is None:
        invoker = await lambda_invoker(options, resources, path)
    return lambda_proxy(
        options,
        invoker,
        payload_builder(options.payload, method=method, param_names=names),
        result_decoder(options, formatter, noop=backend.encoding == "no-op"),
    )
