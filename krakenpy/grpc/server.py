"""``grpc.server``: unary gRPC methods answered by the gateway's pipeline.

A call arrives as an HTTP/2 stream (:mod:`krakenpy.grpc.server_h2`) turned into an ``HttpRequest``
that goes through the edge handler; :func:`grpc_middleware` takes the ones marked as gRPC calls and
answers them here: the request message is decoded with the catalog's descriptors and rendered as
JSON (field names as in the .proto, enums, timestamps and durations as strings), which is the body of
the method's backends; ``payload_params`` copy message fields (dot paths) into ``{parameters}`` and
``input_headers`` pass metadata on as headers. The merged data becomes the output message (unknown
fields dropped, as ``backend/grpc`` fills its requests). Every failure is a gRPC status in the
trailers, with a message that never names a backend.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import orjson
from multidict import CIMultiDict

from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue, PipelineError
from krakenpy.grpc.catalog import Catalog
from krakenpy.grpc.options import DEFAULT_MAX_RECV, BackendOptions
from krakenpy.grpc.request import InputError, _Filler
from krakenpy.grpc.response import Renderer, RenderError
from krakenpy.grpc.server_options import MethodOptions, ServerOptions
from krakenpy.names import canonical_header, capitalize
from krakenpy.proxy.types import Headers, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.server.request import user_agent

__all__ = ["GRPC_CALL", "Method", "build_server", "grpc_middleware", "is_grpc", "status_response"]

log = logging.getLogger("krakenpy.grpc")

#: ``HttpRequest.context`` key the HTTP/2 layer sets on a stream that is a gRPC call
GRPC_CALL: Final = "grpc.call"
OK, INVALID_ARGUMENT, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 0, 3, 4, 12, 13, 14
#: ``grpc-timeout``: at most 8 digits and a unit (gRPC over HTTP/2)
_TIMEOUT: Final = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNITS: Final = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
#: metadata that is the transport's, never a backend header
_TRANSPORT: Final = frozenset(
    {"te", "content-type", "content-length", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "host"}
)
#: the request message as JSON: readable forms for HTTP backends (``backend/grpc`` reads them back)
_AS_JSON: Final = BackendOptions("", "", enum_as_string=True, timestamp_as_string=True, duration_as_string=True)


def status_response(code: int, message: str = "", headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A Trailers-Only answer: ``grpc-status`` (and ``grpc-message``, percent-encoded) and no message."""
    out = CIMultiDict(headers or {})
    out["content-type"] = "application/grpc"
    out["grpc-status"] = str(code)
    if message:
        out["grpc-message"] = quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    return HttpResponse(200, out, b"")


def is_grpc(content_type: str) -> bool:
    """A gRPC call's content type: ``application/grpc`` or ``application/grpc+…`` (never ``grpc-web``)."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/grpc" or media.startswith("application/grpc+")


def _timeout(value: str | None) -> float | None:
    match = _TIMEOUT.match(value or "")
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _param(value: Any) -> str:
    """A field as a parameter: a string as it is, ``None`` as empty, anything else as its JSON text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _lookup(data: Any, path: str) -> Any:
    for name in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


@dataclass
class Method:
    """One published method, compiled: its message classes and its workflow's proxy."""

    options: MethodOptions
    proxy: Proxy
    input_class: Any
    output_class: Any
    max_recv: int = DEFAULT_MAX_RECV

    def __post_init__(self) -> None:
        self._renderer = Renderer(_AS_JSON)
        self._filler = _Filler(assume_bytes=False)

    def _decode(self, body: bytes) -> Any:
        """The one length-prefixed message of a unary call; ``ValueError`` saying what is wrong."""
        if len(body) < 5:
            raise ValueError("a unary call carries one length-prefixed message")
        compressed, size = body[0], int.from_bytes(body[1:5], "big")
        if compressed:
            raise ValueError("compressed messages are not accepted (grpc-encoding identity only)")
        if len(body) != 5 + size:
            raise ValueError("a unary call carries exactly one message")
        from google.protobuf.message import DecodeError

        try:
            return self.input_class.FromString(body[5:])
        except (DecodeError, RuntimeError) as exc:
            raise ValueError(f"not a {self.input_class.DESCRIPTOR.full_name}: {exc}") from None

    def _headers(self, request: HttpRequest) -> Headers:
        allowed = self.options.input_headers
        headers: Headers = {}
        if allowed:
            everything = allowed == ("*",)
            for name, value in request.headers.items():
                lower = name.lower()
                if lower in _TRANSPORT or lower.startswith(":") or lower.endswith("-bin"):
                    continue
                if everything or lower in allowed:
                    headers.setdefault(canonical_header(lower), []).append(value)
        headers["Content-Type"] = ["application/json"]
        user_agent(headers)
        return headers

    def _request(self, request: HttpRequest, data: dict[str, Any], body: bytes) -> Request:
        workflow = self.options.workflow
        params = {capitalize(p): "" for p in workflow.params}
        for field, param in self.options.payload_params.items():
            params[capitalize(param)] = _param(_lookup(data, field))
        path = workflow.endpoint
        for name in workflow.params:
            path = path.replace("{" + name + "}", params[capitalize(name)])
        loop = asyncio.get_running_loop()
        seconds = workflow.timeout
        client = _timeout(request.headers.get("grpc-timeout"))
        if client is not None and (not seconds or client < seconds):  # the client only shortens it
            seconds = client
        return Request(
            method="POST",
            path=path,
            params=params,
            headers=self._headers(request),
            query={},
            body=body,
            client_ip=request.remote,
            host=request.host,
            endpoint=workflow.endpoint,
            client_path=request.path,
            deadline=loop.time() + seconds if seconds else 0.0,
        )

    def _reply(self, response: Response) -> HttpResponse:
        data = response.data
        if response.errors and not data:
            return status_response(UNAVAILABLE, "the backends failed")
        message = self.output_class()
        try:
            self._filler.json(message, data)
        except InputError as exc:
            return status_response(INTERNAL, f"the backends' answer does not fit the reply message: {exc}")
        payload = message.SerializeToString()
        headers = CIMultiDict({"content-type": "application/grpc", "grpc-status": "0"})
        if not response.is_complete:  # some backend failed: the data is partial (KrakenD's X-KrakenD-Completed)
            headers["x-krakend-completed"] = "false"
        return HttpResponse(200, headers, b"\x00" + len(payload).to_bytes(4, "big") + payload)

    async def call(self, request: HttpRequest) -> HttpResponse:
        """Answer one call: decode, run the workflow, encode (every failure a status)."""
        if _timeout(request.headers.get("grpc-timeout")) == 0:  # a deadline already past: not started
            return status_response(DEADLINE_EXCEEDED, "the deadline passed before the call started")
        raw = await request.body(self.max_recv + 5)
        if raw is None:
            return status_response(8, f"the message is larger than {self.max_recv} bytes")  # RESOURCE_EXHAUSTED
        try:
            data = self._renderer.message(self._decode(raw))
            body = orjson.dumps(data)
        except (ValueError, RenderError, orjson.JSONEncodeError, RecursionError) as exc:
            return status_response(INVALID_ARGUMENT, str(exc)[:256])
        proxy_request = self._request(request, data, body)
        try:
            response = await self.proxy(proxy_request)
        except PipelineError:
            response = Response({}, is_complete=False, errors=(PipelineError("failed"),))
        deadline = proxy_request.deadline
        if response.errors and not response.data and deadline and asyncio.get_running_loop().time() >= deadline:
            return status_response(DEADLINE_EXCEEDED, "the deadline passed before the backends answered")
        return self._reply(response)


def grpc_middleware(methods: Mapping[str, Method]) -> EdgeMiddleware:
    """The edge middleware answering the gRPC calls (``methods`` by ``/package.Service/Method``)."""

    def middleware(handler: EdgeHandler) -> EdgeHandler:
        async def serve(request: HttpRequest) -> HttpResponse:
            if GRPC_CALL not in request.context:
                return await handler(request)
            method = methods.get(request.path)
            if method is None:
                return status_response(UNIMPLEMENTED, f"unknown method {request.path[:256]}")
            try:
                return await method.call(request)
            except Exception:  # a bug: one logged line, the client gets INTERNAL (never a traceback)
                log.exception("grpc.server: unexpected error in %s", request.path)
                return status_response(INTERNAL, "internal error")

        return serve

    return middleware


async def build_server(server: ServerOptions, catalog: Catalog, resources: Resources) -> EdgeMiddleware:
    """Compile every published method (its catalog entry, message classes and workflow) once."""
    from google.protobuf import message_factory

    issues: list[ConfigIssue] = []
    methods: dict[str, Method] = {}
    assert resources.workflow is not None
    for options in server.methods:
        try:
            found = catalog.method(options.service, options.method)
        except KeyError as exc:
            issues.append(ConfigIssue(f"{options.path}.name", str(exc.args[0])))
            continue
        if found.client_streaming or found.server_streaming:
            issues.append(
                ConfigIssue(f"{options.path}.name", f"{found.full_name} streams: only unary methods are served")
            )
            continue
        proxy = await resources.workflow(options.workflow)
        if proxy is None:  # its errors are collected by the gateway
            continue
        input_class = message_factory.GetMessageClass(found.input_type)
        output_class = message_factory.GetMessageClass(found.output_type)
        methods[options.route] = Method(options, proxy, input_class, output_class)
    if issues:
        raise ConfigError(issues)
    from krakenpy.grpc.server_h2 import serve_h2
    from krakenpy.server.takeover import H2_TAKEOVER

    resources.state.set(H2_TAKEOVER, serve_h2)  # the listeners take HTTP/2 prior knowledge
    return grpc_middleware(methods)
