"""The Lambda invoker: one target per (region, endpoint, retries), and every failure mapped to a
distinct backend error (emulator, closed ports, missing credentials; a fake invoker only for
answers the emulator cannot give)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiobotocore.session import AioSession
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.errors import BackendError
from krakenpy.lambda_.awserror import AwsError, map_client_error
from krakenpy.lambda_.backend import lambda_executor
from krakenpy.lambda_.invoker import TARGETS, InvokeResult, lambda_invoker
from krakenpy.lambda_.options import parse_options
from krakenpy.proxy.types import Request
from krakenpy.resources import Resources
from tests.conftest import make_config
from tests.lambda_.conftest import lambda_backend


def _request(**params: str) -> Request:
    return Request(method="GET", path="/", params=dict(params), headers={}, query={})


async def _resources(doc: dict[str, Any]) -> Resources:
    service = build_service(doc)
    return Resources(service=service, http=AiohttpClient(ClientOptions()), stack=AsyncExitStack())


@pytest.mark.lambda_emulator
async def test_lambda_invoker_shares_one_target(lambda_endpoint) -> None:
    backends = [lambda_backend(lambda_endpoint, function_name=n) for n in ("echo", "hello", "array")]
    backends[2]["extra_config"]["backend/lambda"]["max_retries"] = 2
    resources = await _resources(make_config([{"endpoint": "/x", "backend": backends}]))
    try:
        for b in resources.service.endpoints[0].backends:
            proxy = await lambda_executor(b, resources, None)
            assert proxy is not None
            assert (await proxy(_request())).is_complete
        targets = resources.state[TARGETS]
        assert len(targets) == 2  # echo and hello share one; other retries need their own
    finally:
        await resources.stack.aclose()
        await resources.http.close()


async def test_lambda_invoker_network_error_is_502(aws_env, caplog, dead_port) -> None:
    dead = f"http://127.0.0.1:{dead_port}"
    backend = lambda_backend(dead, function_name="echo")
    resources = await _resources(make_config([{"endpoint": "/x", "backend": [backend]}]))
    try:
        proxy = await lambda_executor(resources.service.endpoints[0].backends[0], resources, None)
        assert proxy is not None
        with caplog.at_level(logging.ERROR, "krakenpy.lambda"), pytest.raises(BackendError) as info:
            await proxy(_request())
        assert info.value.status == 502
        assert info.value.name == "Network"
        assert "network error" in caplog.text
    finally:
        await resources.stack.aclose()
        await resources.http.close()


async def test_lambda_invoker_without_credentials_is_502(tmp_path, monkeypatch, caplog, dead_port) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    walks: list[int] = []
    chain = AioSession.get_credentials

    async def counting(self: AioSession) -> Any:
        walks.append(1)
        return await chain(self)

    monkeypatch.setattr(AioSession, "get_credentials", counting)
    options = parse_options(
        {"function_name": "f", "region": "us-east-1", "endpoint": f"http://127.0.0.1:{dead_port}"},
        method="GET",
        path="p",
    )
    resources = await _resources(make_config([]))
    try:
        invoke = await lambda_invoker(options, resources, "p")
        assert walks == []  # startup never walks the credential chain (no metadata service call)
        for _ in range(2):
            with caplog.at_level(logging.ERROR, "krakenpy.lambda"), pytest.raises(BackendError) as info:
                await invoke("f", b"{}", invocation_type="RequestResponse", qualifier=None)
            assert info.value.status == 502
            assert info.value.name == "Credentials"
        assert "no usable AWS credentials" in caplog.text
        assert walks == [1]  # an empty chain is not walked again on every request
    finally:
        await resources.stack.aclose()
        await resources.http.close()


@pytest.mark.parametrize(
    ("code", "status", "headers", "expected", "retry_after"),
    [
        ("ResourceNotFoundException", 404, {}, 502, None),
        ("TooManyRequestsException", 429, {"retry-after": "7"}, 429, "7"),
        ("TooManyRequestsException", 429, {}, 429, "1"),
        ("RequestTooLargeException", 413, {}, 413, None),
        ("InvalidRequestContentException", 400, {}, 400, None),
        ("UnrecognizedClientException", 403, {}, 502, None),
        ("ServiceException", 500, {}, 502, None),
    ],
)
def test_map_client_error_statuses(code, status, headers, expected, retry_after) -> None:
    error = map_client_error(AwsError(status, code, "m", (headers or {}).get("retry-after")), "fn", dynamic=False)
    assert error.status == expected
    assert error.name == code
    assert dict(error.headers).get("Retry-After") == retry_after


class FakeInvoker:
    """Stands in for Lambda where the emulator cannot answer (partial ARNs); records calls."""

    def __init__(self, result: InvokeResult | BackendError) -> None:
        self.result = result
        self.calls: list[tuple[str, bytes, str, str | None]] = []

    async def __call__(self, function_name: str, payload: bytes, *, invocation_type: Any, qualifier: Any):  # type: ignore[no-untyped-def]
        self.calls.append((function_name, payload, invocation_type, qualifier))
        if isinstance(self.result, BackendError):
            raise self.result
        return self.result


async def _fake_proxy(ns: dict[str, Any], invoker: FakeInvoker, endpoint: str = "/x"):  # type: ignore[no-untyped-def]
    backend = {"host": ["http://127.0.0.1:10"], "url_pattern": "/", "extra_config": {"backend/lambda": ns}}
    resources = await _resources(make_config([{"endpoint": endpoint, "backend": [backend]}]))
    proxy = await lambda_executor(resources.service.endpoints[0].backends[0], resources, None, invoker=invoker)
    await resources.http.close()
    return proxy


async def test_lambda_executor_partial_arn_sent_verbatim() -> None:
    fake = FakeInvoker(InvokeResult(200, b'{"ok": true}'))
    proxy = await _fake_proxy({"function_param_name": "Fn", "region": "us-east-1"}, fake, "/f/{fn}")
    response = await proxy(_request(Fn="123456789012:function:fn:2"))
    assert response.data == {"ok": True}
    name = "123456789012:function:fn:2"
    assert fake.calls == [(name, b'{"fn":"' + name.encode() + b'"}\n', "RequestResponse", None)]


async def test_lambda_invoker_request_too_large_is_413(aws_env, backend, caplog) -> None:
    # the emulator accepts any size: a loopback server answers as Lambda does to an oversized payload
    seen: list[tuple[str, bytes]] = []

    async def invoke(request: web.Request) -> web.Response:
        seen.append((request.match_info["name"], await request.read()))
        body = {
            "Type": "User",
            "message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        }
        headers = {"x-amzn-ErrorType": "RequestTooLargeException", "x-amzn-RequestId": "r-1"}
        return web.json_response(body, status=413, headers=headers)

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    lambda_like = await backend(app)
    resources = await _resources(
        make_config([{"endpoint": "/x", "backend": [lambda_backend(lambda_like, function_name="f")]}])
    )
    try:
        proxy = await lambda_executor(resources.service.endpoints[0].backends[0], resources, None)
        assert proxy is not None
        with caplog.at_level(logging.WARNING, "krakenpy.lambda"), pytest.raises(BackendError) as info:
            await proxy(_request(Id="7"))
        assert (info.value.status, info.value.name) == (413, "RequestTooLargeException")
        assert "payload too large" in caplog.text
        assert seen == [("f", b'{"id":"7"}\n')]  # one call, not retried
    finally:
        await resources.stack.aclose()
        await resources.http.close()


async def test_lambda_executor_missing_param_never_invokes() -> None:
    fake = FakeInvoker(InvokeResult(200, b"{}"))
    proxy = await _fake_proxy({"function_param_name": "Function", "region": "us-east-1"}, fake)
    with pytest.raises(BackendError) as info:
        await proxy(_request(Other="x"))
    assert info.value.status == 400
    assert fake.calls == []
