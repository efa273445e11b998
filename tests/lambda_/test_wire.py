"""The Invoke call on the wire, against loopback servers that answer as the Lambda API does: the
request krakenpy sends (compared with aiobotocore's), AWS error shapes and their statuses, and
botocore's standard retries (attempts, quota, transport failures)."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import orjson
import pytest
from aiobotocore.session import AioSession
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.build import build_service
from krakenpy.errors import BackendError
from krakenpy.lambda_.awserror import parse_error
from krakenpy.lambda_.invoker import TARGETS, Invoker, lambda_invoker
from krakenpy.lambda_.options import parse_options
from krakenpy.resources import Resources
from tests.conftest import make_config

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeLambda:
    """An aiohttp app on the Invoke route: records each request, answers from a list (last repeats)."""

    def __init__(self, *answers: Handler) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.raw_path, dict(request.headers), await request.read()))
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return await answer(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self.handle)
        return app


def error(status: int, body: Any, **headers: str) -> Handler:
    async def answer(_request: web.Request) -> web.Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, body=data, headers=headers, content_type="application/json")

    return answer


def ok(payload: bytes = b'{"ok":true}', **headers: str) -> Handler:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=200, body=payload, headers=headers, content_type="application/json")

    return answer


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """botocore's jittered backoff replaced by no wait; records the attempts it was asked about."""
    asked: list[int] = []

    def backoff(attempt: int) -> float:
        asked.append(attempt)
        return 0.0

    monkeypatch.setattr("krakenpy.lambda_.invoker.backoff", backoff)
    return asked


@pytest.fixture(params=["fast", "aiohttp"])
async def invoker_for(
    request: pytest.FixtureRequest, aws_env: None
) -> AsyncIterator[Callable[..., Awaitable[Invoker]]]:
    """``await invoker_for(url, **options)``: an invoker on the gateway's kind of client (both kinds)."""
    kind = FastClient if request.param == "fast" else AiohttpClient
    stack = AsyncExitStack()
    made: list[Resources] = []

    async def make(url: str, **options: Any) -> Invoker:
        ns = {"function_name": "f", "region": "us-east-1", "endpoint": url, **options}
        resources = Resources(service=build_service(make_config([])), http=kind(ClientOptions()), stack=stack)
        made.append(resources)
        return await lambda_invoker(parse_options(ns, method="POST", path="p"), resources, "p")

    make.resources = made  # type: ignore[attr-defined]
    yield make
    await stack.aclose()
    for resources in made:
        await resources.http.close()


async def _call(invoke: Invoker, name: str = "f", qualifier: str | None = None) -> Any:
    return await invoke(name, b'{"a":1}', invocation_type="RequestResponse", qualifier=qualifier)


async def test_lambda_invoker_request_matches_aiobotocore(backend, invoker_for) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(ok())
    url = await backend(fake.app())
    name, qualifier = "arn:aws:lambda:us-east-1:000000000000:function:my_fn-1:live", "$LATEST"
    invoke = await invoker_for(url)
    result = await _call(invoke, name, qualifier)
    assert (result.status, result.payload) == (200, b'{"ok":true}')
    async with AioSession().create_client("lambda", region_name="us-east-1", endpoint_url=url) as client:
        await client.invoke(
            FunctionName=name, Payload=b'{"a":1}', InvocationType="RequestResponse", LogType="None", Qualifier=qualifier
        )
    (ours_path, ours, ours_body), (boto_path, boto, boto_body) = fake.requests
    assert ours_path == boto_path  # quoting of ':' and '$' in the path and the query
    assert ours_body == boto_body == b'{"a":1}'
    for header in ("Host", "X-Amz-Invocation-Type", "X-Amz-Log-Type", "Content-Length"):
        assert ours[header] == boto[header]
    signed = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in ours["Authorization"].split(" ", 1)[1].split(", ")}
    signed_boto = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in boto["Authorization"].split(" ", 1)[1].split(", ")}
    assert (
        signed["SignedHeaders"]
        == signed_boto["SignedHeaders"]
        == "host;x-amz-date;x-amz-invocation-type;x-amz-log-type"
    )
    assert signed["Credential"].split("/", 2)[2] == signed_boto["Credential"].split("/", 2)[2]
    assert "X-Amz-Client-Context" not in ours  # nothing to propagate without telemetry context


async def test_lambda_invoker_function_error_and_version_headers(backend, invoker_for) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(
        ok(b'{"errorMessage":"boom"}', **{"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "3"})
    )
    result = await _call(await invoker_for(await backend(fake.app())))
    assert (result.status, result.function_error, result.executed_version) == (200, "Unhandled", "3")
    assert result.payload == b'{"errorMessage":"boom"}'


async def test_lambda_invoker_throttle_retried_then_429_with_retry_after(
    backend, invoker_for, no_backoff, caplog
) -> None:  # type: ignore[no-untyped-def]
    body = {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}
    fake = FakeLambda(error(429, body, **{"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "7"}))
    invoke = await invoker_for(await backend(fake.app()), max_retries=2)
    with caplog.at_level(logging.WARNING, "krakenpy.lambda"), pytest.raises(BackendError) as info:
        await _call(invoke)
    assert (info.value.status, info.value.name, dict(info.value.headers)) == (
        429,
        "TooManyRequestsException",
        {"Retry-After": "7"},
    )
    assert len(fake.requests) == 3 and no_backoff == [1, 2]  # max_retries 2: three attempts
    assert "throttled" in caplog.text and "Rate Exceeded." in str(info.value)


async def test_lambda_invoker_not_found_code_from_header_not_retried(backend, invoker_for, no_backoff) -> None:  # type: ignore[no-untyped-def]
    header = "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awsgirapi/"
    fake = FakeLambda(
        error(404, {"Type": "User", "Message": "Function not found: arn"}, **{"x-amzn-ErrorType": header})
    )
    url = await backend(fake.app())
    with pytest.raises(BackendError) as info:
        await _call(await invoker_for(url))
    assert (info.value.status, info.value.name) == (502, "ResourceNotFoundException")  # a configured name
    assert "Function not found: arn" in str(info.value)
    dynamic = await invoker_for(url, function_name=None, function_param_name="Fn")
    with pytest.raises(BackendError) as info:
        await _call(dynamic)
    assert info.value.status == 404  # a name the client chose
    assert len(fake.requests) == 2 and no_backoff == []


async def test_lambda_invoker_5xx_retried_then_given_up(backend, invoker_for, no_backoff) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(
        error(500, {"Type": "Service", "message": "internal"}, **{"x-amzn-ErrorType": "ServiceException"})
    )
    with pytest.raises(BackendError) as info:
        await _call(await invoker_for(await backend(fake.app())))
    assert (info.value.status, info.value.name) == (502, "ServiceException")
    assert len(fake.requests) == 3  # botocore's default: 3 attempts


async def test_lambda_invoker_5xx_then_answer_succeeds_and_refills_quota(backend, invoker_for, no_backoff) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(error(503, b""), error(502, b"<html><body>Bad Gateway</body></html>"), ok())
    invoke = await invoker_for(await backend(fake.app()))
    target = next(iter(invoker_for.resources[-1].state[TARGETS].values()))
    result = await _call(invoke)
    assert result.status == 200 and len(fake.requests) == 3
    assert target.quota.available == 495  # two retries took 5 each; the answer gives back what the last took


async def test_lambda_invoker_quota_exhausted_stops_retrying(backend, invoker_for, no_backoff) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(error(500, {"message": "x"}, **{"x-amzn-ErrorType": "ServiceException"}))
    invoke = await invoker_for(await backend(fake.app()))
    target = next(iter(invoker_for.resources[-1].state[TARGETS].values()))
    target.quota.available = 7  # one retry's worth
    with pytest.raises(BackendError):
        await _call(invoke)
    assert len(fake.requests) == 2 and target.quota.available == 2


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "name"),
    [
        (
            403,
            {"message": "The security token included in the request is invalid."},
            {"x-amzn-ErrorType": "UnrecognizedClientException"},
            502,
            "UnrecognizedClientException",
        ),
        (
            403,
            {"__type": "com.amazon.coral#InvalidSignatureException", "message": "sig"},
            {},
            502,
            "InvalidSignatureException",
        ),
        (
            400,
            {"code": "InvalidRequestContentException", "message": "bad json"},
            {},
            400,
            "InvalidRequestContentException",
        ),
        (
            413,
            {"Type": "User", "message": "too big"},
            {"x-amzn-ErrorType": "RequestTooLargeException"},
            413,
            "RequestTooLargeException",
        ),
        (415, b"not json", {}, 502, "415"),
    ],
)
async def test_lambda_invoker_error_shapes_not_retried(
    backend, invoker_for, no_backoff, status, body, headers, expected, name
) -> None:  # type: ignore[no-untyped-def]
    fake = FakeLambda(error(status, body, **headers))
    with pytest.raises(BackendError) as info:
        await _call(await invoker_for(await backend(fake.app())))
    assert (info.value.status, info.value.name) == (expected, name)
    assert len(fake.requests) == 1


async def test_lambda_invoker_connection_closed_retried_as_botocore_does(
    backend, invoker_for, no_backoff, caplog
) -> None:  # type: ignore[no-untyped-def]
    async def hang_up(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()  # after the request was read: botocore retries this too
        await asyncio.sleep(0.05)
        return web.Response()

    fake = FakeLambda(hang_up, ok())
    result = await _call(await invoker_for(await backend(fake.app())))
    assert result.status == 200 and len(fake.requests) == 2
    fake.answers = [hang_up]
    with caplog.at_level(logging.ERROR, "krakenpy.lambda"), pytest.raises(BackendError) as info:
        await _call(await invoker_for(fake_url := await backend(fake.app()), max_retries=1))
    assert (info.value.status, info.value.name) == (502, "Network")
    assert "network error" in caplog.text and fake_url.split("//")[1] in caplog.text


async def test_lambda_invoker_body_cut_short_after_the_answer_is_not_sent_again(
    backend, invoker_for, no_backoff
) -> None:  # type: ignore[no-untyped-def]
    # Lambda answered 200 and the connection broke mid-body: the function ran, so no second Invoke
    # (botocore reads the payload after its retries)
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b'{"a":')
        assert request.transport is not None
        request.transport.close()
        return response

    fake = FakeLambda(cut)
    with pytest.raises(BackendError) as info:
        await _call(await invoker_for(await backend(fake.app())))
    assert (info.value.status, info.value.name) == (502, "Network")
    assert len(fake.requests) == 1


async def test_lambda_invoker_refused_credential_refresh_is_a_502(backend, invoker_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from aiobotocore.credentials import AioRefreshableCredentials
    from botocore.exceptions import ClientError

    async def refresh() -> dict[str, str]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")

    async def chain(_session: AioSession) -> AioRefreshableCredentials:
        expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        metadata = {"access_key": "A", "secret_key": "s", "token": "t", "expiry_time": expired.isoformat()}
        return AioRefreshableCredentials.create_from_metadata(metadata, refresh, "test")

    monkeypatch.setattr(AioSession, "get_credentials", chain)
    fake = FakeLambda(ok())
    with pytest.raises(BackendError) as info:
        await _call(await invoker_for(await backend(fake.app())))
    assert (info.value.status, info.value.name) == (502, "Credentials")
    assert fake.requests == []


def test_parse_error_keeps_the_start_of_a_huge_message() -> None:
    page = parse_error(403, (), b"<html>" + b"x" * 1_000_000)
    assert len(page.message) == 512 and page.message.startswith("<html>")


def test_parse_error_follows_botocore_precedence() -> None:
    both = parse_error(400, (("X-Amzn-ErrorType", "A:x"),), b'{"code":"B","__type":"ns#C","Message":"m"}')
    assert (both.code, both.message) == ("A", "m")
    assert parse_error(400, (), b'{"Code":"B","__type":"ns#C"}').code == "B"
    assert parse_error(400, (), b'{"__type":"ns#C:extra","message":"m"}').code == "C"
    assert parse_error(404, (), b"[1]").code == "404"
    generic = parse_error(503, (("Retry-After", "3"),), b"  <html>down</html>")
    assert (generic.code, generic.message, generic.retry_after) == ("503", "Service Unavailable", "3")


async def test_lambda_invoker_refreshable_credentials_keep_refreshing(backend, invoker_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from aiobotocore.credentials import AioRefreshableCredentials

    issued: list[str] = []

    async def refresh() -> dict[str, str]:
        issued.append(f"AKID{len(issued)}")
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)  # inside the refresh window
        return {"access_key": issued[-1], "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    async def chain(_session: AioSession) -> AioRefreshableCredentials:
        return AioRefreshableCredentials.create_from_metadata(await refresh(), refresh, "test")

    monkeypatch.setattr(AioSession, "get_credentials", chain)
    fake = FakeLambda(ok())
    invoke = await invoker_for(await backend(fake.app()))
    await _call(invoke)
    await _call(invoke)
    keys = [h["Authorization"].split("Credential=", 1)[1].split("/", 1)[0] for _, h, _ in fake.requests]
    assert keys[0] != keys[1] and set(keys) <= set(issued)  # each call asked for fresh credentials


async def test_lambda_invoker_deadline_cancels_and_never_reuses_the_connection(backend, invoker_for) -> None:  # type: ignore[no-untyped-def]
    peers: list[Any] = []
    started, gone = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        started.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client hangs up
            gone.set()
            raise
        return web.Response()

    async def quick(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return await ok()(request)

    fake = FakeLambda(slow, quick)
    invoke = await invoker_for(await backend(fake.app()))
    call = asyncio.ensure_future(_call(invoke))
    # the deadline passes once the Lambda runs the call: a fixed 0.2 s deadline passed before the
    # request was sent on a loaded host (nothing to cancel at the Lambda, `gone` never set)
    await asyncio.wait_for(started.wait(), 10)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):  # expired: cancels the call where it waits for the answer
            await call
    assert call.cancelled()
    await asyncio.wait_for(gone.wait(), 10)  # leaving the call closed its connection
    assert (await _call(invoke)).status == 200
    assert len(fake.requests) == 2 and peers[0] != peers[1]  # the second call came on a new connection


async def test_lambda_invoker_goes_through_the_proxy_of_the_environment(backend, invoker_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # as botocore: HTTP(S)_PROXY apply to Lambda calls; the endpoint's own name never resolves here
    fake = FakeLambda(ok())
    proxy = await backend(fake.app())  # answers the absolute-form request the proxy receives
    for name in ("http_proxy", "https_proxy", "no_proxy", "NO_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    result = await _call(await invoker_for("http://lambda.invalid:9"))
    assert result.status == 200 and len(fake.requests) == 1
    assert fake.requests[0][1]["Host"] == "lambda.invalid:9"  # signed for the endpoint, sent to the proxy


async def test_lambda_invoker_verifies_https_with_the_aws_ca_bundle(invoker_for, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ssl

    from tests.server.certs import Authority

    authority = Authority(tmp_path)
    pair = authority.issue("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    fake = FakeLambda(ok())
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"https://127.0.0.1:{port}"
        with pytest.raises(BackendError):  # a CA nobody trusts
            await _call(await invoker_for(url, max_retries=0))
        monkeypatch.setenv("AWS_CA_BUNDLE", str(authority.path))
        result = await _call(await invoker_for(url + "/"))  # another target: created with the bundle
        assert result.status == 200 and len(fake.requests) == 1
    finally:
        await runner.cleanup()
