"""One gRPC backend compiled: the method found in the catalog, the message builder, the channels and
the renderer, all at start-up; per call: build, call with a deadline, render (or map the status)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import grpc
import orjson
from google.protobuf import message_factory
from google.protobuf.message import DecodeError
from grpc import aio

from krakenpy.config.model import BackendConfig
from krakenpy.errors import BackendError, ConfigError, ConfigIssue
from krakenpy.grpc.catalog import service_catalog
from krakenpy.grpc.channels import ChannelSpec, channel_spec, channels_of, target_of, unary
from krakenpy.grpc.options import BackendOptions
from krakenpy.grpc.request import InputError, message_builder
from krakenpy.grpc.response import Renderer, RenderError
from krakenpy.grpc.status import error_body, http_status
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Headers, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["grpc_executor", "metadata_of"]


#: HTTP headers that are not gRPC metadata (HTTP/2 connection-level or set by grpcio itself)
_NOT_METADATA: Final = frozenset(
    {"connection", "content-length", "content-type", "host", "keep-alive", "proxy-connection", "te"}
    | {"transfer-encoding", "upgrade", "user-agent", "accept-encoding"}
)
_JSON: Final = ["application/json"]
#: what gRPC allows in a metadata name (HTTP allows more: !#$%&'*+^`|~)
_KEY: Final = re.compile(r"[0-9a-z_.\-]+")


def metadata_of(headers: Headers, renames: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The request headers the endpoint lets through, as gRPC metadata: lower-case names,
    ``header_mapping`` renames, ``grpc*`` names (reserved) as ``in-grpc*``; values gRPC cannot
    carry (non-ASCII, binary ``-bin`` names) are left out."""
    out: list[tuple[str, str]] = []
    for name, values in headers.items():
        key = name.lower()
        key = renames.get(key, key)
        if key in _NOT_METADATA or key.endswith("-bin") or not _KEY.fullmatch(key):
            continue  # grpcio refuses the call over a name gRPC cannot carry: leave the header out
        if key.startswith("grpc"):
            key = "in-" + key
        out.extend((key, v) for v in values if v.isascii() and v.isprintable())
    return tuple(out)


def _made_here(error: aio.AioRpcError, channel: aio.Channel, deadline_passed: bool) -> bool:
    """Whether grpcio made the status itself rather than receiving it (grpcio does not say): the
    deadline passed, the channel is not connected, or the answer was over the size limit."""
    code = error.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return deadline_passed
    if code == grpc.StatusCode.UNAVAILABLE:
        state: grpc.ChannelConnectivity = channel.get_state()
        return state is not grpc.ChannelConnectivity.READY
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "larger than max" in (error.details() or "")
    return False


def _failure(error: aio.AioRpcError, backend: BackendConfig, path: str, noop: bool, local: bool) -> Response:
    """What a non-OK status becomes: the no-op answer, the error details, or a BackendError."""
    code = error.code()
    number, name = code.value[0], code.name
    status = http_status(number)
    details = error.details() or ""
    body = error_body(number, name, details)
    if noop:
        if local:  # no answer to pass on: a failed no-op HTTP backend (500, no body), not grpcio's text
            raise BackendError(f"grpc {name} [{path}]: {details}")
        return Response(data={}, is_complete=True, status=status, headers={"Content-Type": _JSON}, body=body)
    details_name = backend.http.return_error_details
    if details_name:
        detail = {"http_status_code": status, "http_body": body.decode(), "http_body_encoding": "application/json"}
        return Response(data={f"error_{details_name}": detail}, is_complete=False, status=status)
    if backend.http.return_error_code:
        raise BackendError(
            body.decode(), status=status, backend_status=status, backend_body=body, content_type="application/json"
        )
    raise BackendError(f"grpc {name} [{path}]: {details}", backend_status=status, backend_body=body)


def _find_method(options: BackendOptions, backend: BackendConfig, resources: Resources) -> Any:
    catalog = service_catalog(resources)
    where = f"{backend.path}.url_pattern"
    if catalog is None:
        raise ConfigError([ConfigIssue(where, "a gRPC backend needs the service's grpc.catalog")])
    try:
        method = catalog.method(options.service, options.method)
    except KeyError as exc:
        raise ConfigError([ConfigIssue(where, str(exc.args[0]))]) from None
    if method.client_streaming or method.server_streaming:
        raise ConfigError([ConfigIssue(where, f"{method.full_name} streams: only unary methods are supported")])
    return method


async def grpc_executor(
    options: BackendOptions,
    backend: BackendConfig,
    resources: Resources,
    formatter: Formatter | None,
    param_names: Mapping[str, str],
    path: str,
) -> Proxy:
    """The executor :data:`Proxy` of one ``backend/grpc`` backend."""
    method = _find_method(options, backend, resources)
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    build = message_builder(options, request_class, param_names)
    render = Renderer(options).message
    rpc_path = f"/{options.service}/{options.method}"
    answer_type = method.output_type.full_name
    targets = [target_of(host) for host in backend.hosts]
    if not targets:
        raise ConfigError([ConfigIssue(f"{backend.path}.host", "a gRPC backend needs a host")])
    channels = channels_of(resources)
    specs = {secure: channel_spec(options, secure, resources, path) for secure in {s for _, s in targets}}
    calls: dict[tuple[str, ChannelSpec], tuple[Callable[..., Any], aio.Channel]] = {}
    turn = itertools.cycle(range(len(targets)))
    noop = backend.encoding == "no-op"
    renames = options.header_mapping
    span = backend.timeout
    loop_time = asyncio.get_running_loop().time

    def callable_for(index: int) -> tuple[Callable[..., Any], aio.Channel]:
        target, secure = targets[index]
        spec = specs[secure]
        found = calls.get((target, spec))
        if found is None:
            channel = channels.get(target, spec)
            found = calls[(target, spec)] = (unary(channel, rpc_path), channel)
        return found

    async def call(request: Request) -> Response:
        try:
            message = build(request)
        except InputError as exc:
            raise BackendError(f"grpc {rpc_path}: {exc}", status=400) from None
        now = loop_time()
        left = request.deadline - now if request.deadline else span
        timeout = max(left, 0.001) if left else None
        invoke, channel = callable_for(next(turn))
        try:
            raw = await invoke(message, timeout=timeout, metadata=metadata_of(request.headers, renames))
        except aio.AioRpcError as exc:
            passed = timeout is not None and loop_time() >= now + timeout - 0.001
            return _failure(exc, backend, rpc_path, noop, _made_here(exc, channel, passed))
        try:
            # decoded here, not by grpcio: grpcio turns a decoding failure into a None answer
            if not isinstance(raw, bytes):
                raise DecodeError("no answer")
            data = render(response_class.FromString(raw))
        except (DecodeError, RenderError) as exc:
            raise BackendError(f"grpc {rpc_path}: the answer is not a valid {answer_type}: {exc}") from None
        if noop:
            return Response(
                data={}, is_complete=True, status=200, headers={"Content-Type": _JSON}, body=orjson.dumps(data)
            )
        return Response(data=formatter(data) if formatter is not None else data, is_complete=True, status=200)

    return call
