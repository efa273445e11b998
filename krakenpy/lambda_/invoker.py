"""The Lambda ``Invoke`` call: an :class:`Invoker` protocol and its aiobotocore implementation.

Clients are created at startup, one per (region, endpoint, max_retries) — credentials come from the
one shared session's default chain — and reused by every request. AWS and transport exceptions are
turned into :class:`~krakenpy.errors.BackendError` here and nowhere else, each with its own status
and log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from krakenpy.errors import BackendError, ConfigError, ConfigIssue
from krakenpy.lambda_.options import InvocationType, LambdaOptions
from krakenpy.resources import Resources
from krakenpy.state import Key

if TYPE_CHECKING:
    from types_aiobotocore_lambda.client import LambdaClient

__all__ = ["InvokeResult", "Invoker", "aiobotocore_invoker", "map_client_error"]

log = logging.getLogger("krakenpy.lambda")

#: Lambda's longest run time (15 min) plus slack: the endpoint deadline is what really ends a call,
#: and a shorter read timeout would make botocore retry — i.e. run the function twice
READ_TIMEOUT = 905.0
CONNECT_TIMEOUT = 10.0
#: retry the credential chain at most this often when it found nothing (IMDS can be slow)
CREDENTIALS_RETRY = 30.0
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


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


def _retry_after(exc: ClientError) -> str:
    response = cast(dict[str, Any], exc.response)
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    value = headers.get("retry-after") or response.get("retryAfterSeconds")
    text = str(value).strip() if value is not None else ""
    return text if text.isdigit() else "1"


def map_client_error(exc: ClientError, function: str, *, dynamic: bool) -> BackendError:
    """An AWS API error as the backend error clients see (statuses documented in the README)."""
    error = cast(dict[str, Any], exc.response).get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or exc)
    text = f"aws lambda {function}: {code}: {message}"
    if code == "ResourceNotFoundException":
        # a name the client chose is the client's 404; a configured name that is gone is our fault
        log.warning("lambda %s: function not found (%s)", function, code)
        return BackendError(text, status=404 if dynamic else 502, name=code)
    if code == "TooManyRequestsException":
        retry = _retry_after(exc)
        log.warning("lambda %s: throttled (%s), Retry-After %s", function, code, retry)
        return BackendError(text, status=429, name=code, headers=(("Retry-After", retry),))
    if code in ("RequestTooLargeException", "SerializedRequestEntityTooLargeException"):
        log.warning("lambda %s: payload too large (%s)", function, code)
        return BackendError(text, status=413, name=code)
    if code in ("InvalidRequestContentException", "UnsupportedMediaTypeException"):
        log.warning("lambda %s: payload rejected (%s)", function, code)
        return BackendError(text, status=400, name=code)
    if code in _CREDENTIAL_CODES:
        log.error("lambda %s: credentials or permissions rejected (%s): %s", function, code, message)
        return BackendError(text, status=502, name=code)
    log.error("lambda %s: AWS error %s: %s", function, code, message)
    return BackendError(text, status=502, name=code)


def map_transport_error(exc: BaseException, function: str) -> BackendError:
    """A botocore/aiohttp failure that is not an AWS API answer."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        log.error("lambda %s: no usable AWS credentials: %s", function, exc)
        return BackendError(f"aws lambda {function}: credentials: {exc}", status=502, name="Credentials")
    if isinstance(exc, ParamValidationError):
        log.warning("lambda %s: request rejected by the SDK: %s", function, exc)
        return BackendError(f"aws lambda {function}: {exc}", status=400, name="ParamValidation")
    log.error("lambda %s: network error: %s", function, exc)
    return BackendError(f"aws lambda {function}: network: {exc}", status=502, name="Network")


class _DeferredCredentials:
    """Walks the default credential chain on the first signed request instead of at startup, so
    ``check`` and start-up never wait for (or call) the instance metadata service."""

    method = "krakenpy-deferred-chain"

    def __init__(self, resolve: Callable[[], Awaitable[Any]]) -> None:
        self._resolve = resolve
        self._credentials: Any = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def _get(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        async with self._lock:  # one chain walk at a time; waiters reuse its result
            now = asyncio.get_running_loop().time()
            current: Any = self._credentials  # another waiter may have resolved it meanwhile
            if current is None and now >= self._retry_at:
                found = await self._resolve()
                if found is None:
                    self._retry_at = now + CREDENTIALS_RETRY
                self._credentials = found
        return self._credentials

    async def get_frozen_credentials(self) -> Any:
        credentials = await self._get()
        if credentials is None:
            raise NoCredentialsError()
        return await credentials.get_frozen_credentials()

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        return lambda: getattr(self._credentials, name, None)

    def get_account_id(self) -> Any:
        return getattr(self._credentials, "account_id", None)


class _Session(AioSession):
    def __init__(self) -> None:
        super().__init__()
        self._deferred = _DeferredCredentials(super().get_credentials)

    async def get_credentials(self) -> Any:  # type: ignore[override]
        return self._deferred


#: one aiobotocore session per gateway (its credential chain is resolved once, lazily)
SESSION: Final = Key("lambda session", _Session)
#: clients by (region, endpoint, max_retries): every backend with the same three shares one
CLIENTS: Final = Key("lambda clients", dict)


def _session(resources: Resources) -> _Session:
    return resources.state.setdefault(SESSION, _Session)


async def _client(options: LambdaOptions, resources: Resources, path: str) -> LambdaClient | None:
    session = _session(resources)
    region = options.region or session.get_config_variable("region")
    if not region:
        # like KrakenD, a missing region fails the calls, not the start: CI runs `check` without the
        # AWS_REGION the production environment provides
        resources.warnings.append(f"{path}.region: no region here nor in AWS_REGION / the AWS profile: calls fail")
        return None
    clients: dict[tuple[str, str | None, int | None], Any] = resources.state.setdefault(CLIENTS, dict)
    key = (region, options.endpoint, options.max_retries)
    client = clients.get(key)
    if client is not None:
        return cast("LambdaClient", client)
    retries: dict[str, Any] = {"mode": "standard"}
    if options.max_retries is not None:
        retries["total_max_attempts"] = options.max_retries + 1
    pool = max(resources.service.max_idle_connections_per_host, 10)
    config = AioConfig(
        retries=retries,
        read_timeout=READ_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        max_pool_connections=pool,
    )
    try:
        context = session.create_client("lambda", region_name=region, endpoint_url=options.endpoint, config=config)
        client = await resources.stack.enter_async_context(context)
    except (NoRegionError, ValueError) as exc:
        raise ConfigError([ConfigIssue(f"{path}.region", str(exc))]) from None
    clients[key] = client
    return cast("LambdaClient", client)


async def _no_region(
    function_name: str, payload: bytes, *, invocation_type: InvocationType, qualifier: str | None
) -> InvokeResult:
    log.error("lambda %s: no AWS region configured", function_name)
    raise BackendError(f"aws lambda {function_name}: no AWS region configured", status=502, name="NoRegion")


async def aiobotocore_invoker(options: LambdaOptions, resources: Resources, path: str) -> Invoker:
    """An :class:`Invoker` over the shared aiobotocore client for these options (created now)."""
    client = await _client(options, resources, path)
    dynamic = options.function_param_name is not None
    if client is None:
        return _no_region

    async def invoke(
        function_name: str, payload: bytes, *, invocation_type: InvocationType, qualifier: str | None
    ) -> InvokeResult:
        try:
            if qualifier is None:
                response = await client.invoke(
                    FunctionName=function_name,
                    Payload=payload,
                    InvocationType=invocation_type,
                    LogType="None",
                )
            else:
                response = await client.invoke(
                    FunctionName=function_name,
                    Payload=payload,
                    InvocationType=invocation_type,
                    LogType="None",
                    Qualifier=qualifier,
                )
            body = await response["Payload"].read()
        except ClientError as exc:
            raise map_client_error(exc, function_name, dynamic=dynamic) from None
        except (BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise map_transport_error(exc, function_name) from None
        return InvokeResult(
            status=response["StatusCode"],
            payload=body,
            function_error=response.get("FunctionError"),
            executed_version=response.get("ExecutedVersion"),
        )

    return invoke
