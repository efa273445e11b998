"""The Lambda backend executor: pick the function, build the event, invoke, decode.

Everything but those four steps is decided when the backend is compiled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from krakenpy.errors import BackendError
from krakenpy.lambda_.invoker import Invoker
from krakenpy.lambda_.options import LambdaOptions, base_function, valid_function_name
from krakenpy.lambda_.payload import PayloadBuilder
from krakenpy.lambda_.response import ResultDecoder
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.telemetry.audit import audit_decision

__all__ = ["function_chooser", "lambda_proxy"]

log = logging.getLogger("krakenpy.lambda")
#: the audit record's ``policy.type`` of a refused function
_POLICY = "backend/lambda"


def function_chooser(options: LambdaOptions) -> Callable[[Request], str]:
    """Return ``choose(request) -> function name``: the static name, or the request param
    (KrakenD key rules: ``{lambda}`` is read as ``Lambda``) checked against ``allowed_functions``."""
    static = options.function_name
    if static is not None:
        return lambda _request: static
    key = options.function_param_name or ""
    allowed = options.allowed_functions

    def choose(request: Request) -> str:
        name = request.params.get(key, "")
        if not name:
            raise BackendError(f"aws lambda: no function name in the request param {key!r}", status=400)
        if not valid_function_name(name):
            raise BackendError(f"aws lambda: {name!r} is not a function name", status=400)
        if allowed is not None and name not in allowed and base_function(name) not in allowed:
            # logged once, as every failure is: the BackendError's line at ERROR with the request id
            # (a WARNING before it made each refused name two lines). An access decision: the audit
            # trail's deny (one dict lookup when auditing is off)
            audit_decision(request.context, policy=_POLICY, decision="deny", reason="function_not_allowed",
                           detail=f"function {name!r} not in allowed_functions")  # fmt: skip
            raise BackendError(f"aws lambda: function {name!r} is not allowed here", status=403)
        return name

    return choose


def lambda_proxy(
    options: LambdaOptions,
    invoker: Invoker,
    build_payload: PayloadBuilder,
    decode: ResultDecoder,
) -> Proxy:
    """The executor :data:`Proxy` of one Lambda backend."""
    choose = function_chooser(options)
    invocation_type = options.invocation_type
    qualifier = options.qualifier
    timeout = options.timeout or None

    async def call(request: Request) -> Response:
        function = choose(request)
        payload = build_payload(request)
        if timeout is None:
            result = await invoker(function, payload, invocation_type=invocation_type, qualifier=qualifier)
            return decode(result, function)
        try:
            # leaving the block cancels the Invoke call (and closes its connection)
            async with asyncio.timeout(timeout):
                result = await invoker(function, payload, invocation_type=invocation_type, qualifier=qualifier)
        except TimeoutError:
            log.warning("lambda %s: no answer within %ss", function, timeout)
            raise BackendError(f"aws lambda {function}: no answer within {timeout}s", status=504) from None
        return decode(result, function)

    return call
