"""The Lambda ``Invoke`` call: an :class:`Invoker` protocol and krakenpy's own implementation of it.

botocore's per-call machinery (event hooks, parameter validation, serializer, endpoint rules,
signer, retry handler, parser, aiohttp session wrapping) cost several hundred µs of CPU per invoke
in the gateway's one event loop. So botocore does only what is done once: at start-up an
aiobotocore client of the shared session resolves the endpoint URL and signing region (partitions,
``endpoint``, FIPS/dual-stack settings) and is closed again; credentials come from the session's
deferred default chain (:mod:`.credentials`). Each call is one ``POST
/2015-03-31/functions/{name}/invocations``, signed by :mod:`.sigv4` and sent by krakenpy's upstream
HTTP client (its fast client over http, aiohttp over https), retried as botocore's ``standard``
mode retries (:mod:`.retry`), its errors read and mapped by :mod:`.awserror`. Leaving the call (a
deadline) cancels it and closes its connection.

Targets are created at startup, one per (region, endpoint, max_retries), and shared by every
backend with the same three.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import quote, urlsplit
from urllib.request import getproxies

from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from krakenpy.backends.client import AiohttpClient, ClientOptions, UpstreamClient
from krakenpy.backends.fastclient import FastClient
from krakenpy.errors import BackendError, ConfigError, ConfigIssue, UpstreamBodyError
from krakenpy.lambda_.awserror import map_client_error, map_transport_error, parse_error
from krakenpy.lambda_.context import CLIENT_CONTEXT, ClientContextSlot
from krakenpy.lambda_.credentials import DeferredCredentials, session
from krakenpy.lambda_.options import InvocationType, LambdaOptions
from krakenpy.lambda_.retry import DEFAULT_MAX_ATTEMPTS, RetryQuota, backoff, retryable_answer
from krakenpy.lambda_.sigv4 import Signer, canonical_host
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["TARGETS", "InvokeResult", "Invoker", "Target", "lambda_invoker"]

log = logging.getLogger("krakenpy.lambda")

CONNECT_TIMEOUT = 10.0
#: aiobotocore's default: shorter than the idle timeouts of AWS endpoints, so a kept-alive
#: connection is rarely found closed (a POST on one is not resent without a retry)
KEEPALIVE_TIMEOUT = 12.0
_USER_AGENT: Final = "krakenpy"
#: function names whose request path is kept per target (dynamic names beyond it are quoted per call)
_PATH_CACHE = 1024


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """What Lambda answered, without the log tail or request id."""

    status: int
    payload: bytes
    function_error: str | None = None
    executed_version: str | None = None


class Invoker(Protocol):
    """Call a function once; raise :class:`BackendError` for everything that is not a function result."""

    async def __call__(
        self, function_name: str, payload: bytes, *, invocation_type: InvocationType, qualifier: str | None
    ) -> InvokeResult: ...


class Target:
    """One Lambda API endpoint as the invoker calls it: URL, signer, HTTP client and retry quota."""

    def __init__(self, endpoint_url: str, region: str, service: str, http: UpstreamClient, max_attempts: int) -> None:
        parts = urlsplit(endpoint_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        #: a path in the endpoint URL is kept before the API path, as botocore joins them
        self.prefix = parts.path[:-1] if parts.path.endswith("/") else parts.path
        self.host = canonical_host(endpoint_url)
        self.region = region
        self.signer = Signer(region, service)
        self.http = http
        self.max_attempts = max_attempts
        self.quota = RetryQuota()
        self._paths: dict[str, str] = {}

    def path(self, function_name: str) -> str:
        """The request path for ``function_name``, percent-encoded as botocore encodes a URI label."""
        path = self._paths.get(function_name)
        if path is None:
            path = f"{self.prefix}/2015-03-31/functions/{quote(function_name, safe='-_.~')}/invocations"
            if len(self._paths) < _PATH_CACHE:
                self._paths[function_name] = path
        return path


#: targets by (region, endpoint, max_retries): every backend with the same three shares one
TARGETS: Final = Key("lambda targets", dict)


def _http_client(resources: Resources, ca_bundle: str | None) -> UpstreamClient:
    # the gateway's kind of client, with Lambda's own settings: a pool the size aiobotocore's had,
    # its connect timeout, and no read timeout (only the deadline ends a slow function: a read
    # timeout would retry, i.e. run the function again). As botocore, the proxy environment variables
    # and a CA bundle (AWS_CA_BUNDLE, the profile's ca_bundle) apply: then aiohttp's client, which
    # knows both
    proxied = bool(getproxies())
    pool = max(resources.service.max_idle_connections_per_host, 10)
    options = ClientOptions(
        limit_per_host=pool,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        trust_env=proxied,
        ca_bundle=ca_bundle,
    )
    aiohttp_kind = proxied or ca_bundle is not None or isinstance(resources.http, AiohttpClient)
    client: UpstreamClient = AiohttpClient(options) if aiohttp_kind else FastClient(options)
    resources.stack.push_async_callback(client.close)
    return client


async def _target(options: LambdaOptions, resources: Resources, path: str) -> Target | None:
    aws = session(resources)
    region = options.region or aws.get_config_variable("region")
    if not region:
        # like KrakenD, a missing region fails the calls, not the start: CI runs `check` without the
        # AWS_REGION the production environment provides
        resources.warnings.append(f"{path}.region: no region here nor in AWS_REGION / the AWS profile: calls fail")
        return None
    targets: dict[tuple[str, str | None, int | None], Target] = resources.state.setdefault(TARGETS, dict)
    key = (region, options.endpoint, options.max_retries)
    target = targets.get(key)
    if target is not None:
        return target
    try:
        # botocore resolves the endpoint once (partition, endpoint override, FIPS/dual-stack); the
        # client is closed again without having made a call
        config = AioConfig(retries={"mode": "standard"})
        async with aws.create_client("lambda", region_name=region, endpoint_url=options.endpoint, config=config) as c:
            endpoint_url, signing_region = c.meta.endpoint_url, c.meta.region_name
            service = c.meta.service_model.signing_name or "lambda"
    except (NoRegionError, ValueError) as exc:
        raise ConfigError([ConfigIssue(f"{path}.region", str(exc))]) from None
    if options.max_retries is not None:
        attempts = options.max_retries + 1
    else:  # botocore's own setting (AWS_MAX_ATTEMPTS, the profile's max_attempts) applies
        attempts = int(aws.get_config_variable("max_attempts") or DEFAULT_MAX_ATTEMPTS)
    ca_bundle = aws.get_config_variable("ca_bundle") or None
    http = _http_client(resources, str(ca_bundle) if ca_bundle else None)
    target = targets[key] = Target(endpoint_url, signing_region, service, http, max(1, attempts))
    return target


async def _no_region(
    function_name: str, payload: bytes, *, invocation_type: InvocationType, qualifier: str | None
) -> InvokeResult:
    log.error("lambda %s: no AWS region configured", function_name)
    raise BackendError(f"aws lambda {function_name}: no AWS region configured", status=502, name="NoRegion")


def _result(status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> InvokeResult:
    function_error = executed_version = None
    for name, value in headers:
        lower = name.lower()
        if lower == "x-amz-function-error":
            function_error = value
        elif lower == "x-amz-executed-version":
            executed_version = value
    return InvokeResult(status, body, function_error, executed_version)


async def lambda_invoker(options: LambdaOptions, resources: Resources, path: str) -> Invoker:
    """An :class:`Invoker` over the shared target for these options (created now)."""
    target = await _target(options, resources, path)
    if target is None:
        return _no_region
    dynamic = options.function_param_name is not None
    credentials: DeferredCredentials = session(resources).credentials
    slot: ClientContextSlot = resources.state.setdefault(CLIENT_CONTEXT, ClientContextSlot)
    signer, http, quota, max_attempts = target.signer, target.http, target.quota, target.max_attempts
    origin, host = target.origin, target.host

    async def invoke(
        function_name: str, payload: bytes, *, invocation_type: InvocationType, qualifier: str | None
    ) -> InvokeResult:
        url_path = target.path(function_name)
        query = f"Qualifier={quote(qualifier, safe='-_.~')}" if qualifier is not None else ""
        url = f"{origin}{url_path}?{query}" if query else origin + url_path
        headers = [("Host", host), ("X-Amz-Invocation-Type", invocation_type), ("X-Amz-Log-Type", "None")]
        provide = slot.provide
        context = provide() if provide is not None else None
        if context is not None:
            headers.append(("X-Amz-Client-Context", context))
        attempt, cost = 1, 0
        while True:
            try:
                frozen = await credentials.get_frozen_credentials()
            except (BotoCoreError, ClientError) as exc:  # ClientError: a refresh's STS/SSO call was refused
                raise map_transport_error(exc, function_name, credentials=True) from None
            signed = signer.sign("POST", url_path, query, headers, payload, frozen)
            signed.append(("User-Agent", _USER_AGENT))
            try:
                answer = await http.request("POST", url, signed, payload, follow_redirects=False)
            except BackendError as exc:
                cause = exc.__cause__
                # the client's own refusals (closed, body too large) are not transient; a body that
                # failed after Lambda answered means the function ran: botocore reads the payload
                # after its retries, so it never runs it again for that either
                if cause is None or isinstance(exc, UpstreamBodyError):
                    raise map_transport_error(exc, function_name) from None
                cost = RetryQuota.TIMEOUT_COST if isinstance(cause, TimeoutError) else RetryQuota.RETRY_COST
                if attempt >= max_attempts or not quota.acquire(cost):
                    raise map_transport_error(exc, function_name) from None
                log.debug("lambda %s: attempt %d failed (%s), retrying", function_name, attempt, cause)
            else:
                status = answer.status
                if status < 301:  # botocore's parser reads 300 as an answer too
                    if status < 300:  # and gives quota back for a 2xx only
                        quota.release(cost or RetryQuota.NO_RETRY_INCREMENT)
                    return _result(status, answer.headers, answer.body)
                error = parse_error(status, answer.headers, answer.body)
                if attempt >= max_attempts or not retryable_answer(status, error.code):
                    raise map_client_error(error, function_name, dynamic=dynamic)
                cost = RetryQuota.RETRY_COST
                if not quota.acquire(cost):
                    raise map_client_error(error, function_name, dynamic=dynamic)
                log.debug("lambda %s: attempt %d answered %s, retrying", function_name, attempt, error.code)
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    return invoke
