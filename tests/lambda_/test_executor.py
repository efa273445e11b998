"""Lambda backends end to end: a real gateway in front of real Python and Node handlers on the emulator."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from tests.lambda_.conftest import ACCOUNT, REGION, lambda_backend, lambda_config

pytestmark = pytest.mark.lambda_emulator


def endpoint(path: str, backend: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"endpoint": path, "backend": [backend], **extra}


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("echo", "latest"),
        ("echo:1", "v1"),
        ("echo:live", "v1"),
        ("echo:$LATEST", "latest"),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo", "latest"),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo:live", "v1"),
    ],
)
async def test_lambda_proxy_static_name_forms(gateway, lambda_endpoint, name, tag) -> None:
    client = await gateway(lambda_config([endpoint("/fn", lambda_backend(lambda_endpoint, function_name=name))]))
    resp = await client.get("/fn")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["function"] == "echo"
    assert body["tag"] == tag
    assert resp.headers["X-Krakend-Completed"] == "true"


async def test_lambda_proxy_qualifier_option(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="echo", qualifier="live")
    client = await gateway(lambda_config([endpoint("/fn", backend)]))
    assert (await (await client.get("/fn")).json())["tag"] == "v1"


async def test_lambda_proxy_name_from_path_param(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_param_name="Lambda")
    client = await gateway(lambda_config([endpoint("/call/{lambda}", backend)]))
    resp = await client.get("/call/echo:live")
    assert resp.status == 200
    body = await resp.json()
    # GET payload: the params with KrakenD's fully lower-cased keys, the name param included
    assert body["event"] == {"lambda": "echo:live"}
    assert body["tag"] == "v1"


async def test_lambda_proxy_params_payload_lowercases_keys(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="hello")
    backend["deny"] = ["foo"]
    client = await gateway(lambda_config([endpoint("/hello/{first_name}/{lastName}", backend)]))
    resp = await client.get("/hello/Ada/Lovelace?ignored=1")
    # lastName → LastName → lastname: camelCase is lost, exactly as in KrakenD
    assert await resp.json() == {"message": "Hello Ada !"}


async def test_lambda_proxy_post_sends_raw_body(gateway, lambda_endpoint, needs_node) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="echo-js")
    client = await gateway(lambda_config([endpoint("/js", backend, method="POST")]))
    resp = await client.post("/js", data=b'{"first": [1, 2], "x": null}')
    assert resp.status == 200
    body = await resp.json()
    assert body == {"event": {"first": [1, 2], "x": None}, "function": "echo-js", "runtime": "node"}


async def test_lambda_proxy_post_rejects_non_json_before_invoking(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="echo")
    client = await gateway(
        lambda_config([endpoint("/p", backend, method="POST")], extra_config={"router": {"return_error_msg": True}})
    )
    resp = await client.post("/p", data=b"first=ada")
    assert resp.status == 400
    assert "not JSON" in await resp.text()


async def test_lambda_proxy_formatter_and_non_object_results(gateway, lambda_endpoint) -> None:
    arr = lambda_backend(lambda_endpoint, function_name="array")
    arr["mapping"] = {"collection": "items"}
    scalar = lambda_backend(lambda_endpoint, function_name="scalar")
    scalar["group"] = "s"
    client = await gateway(lambda_config([endpoint("/a", arr), endpoint("/s", scalar)]))
    assert await (await client.get("/a")).json() == {"items": [{"id": 1}, {"id": 2}]}
    assert await (await client.get("/s")).json() == {"s": {"content": "plain text"}}


async def test_lambda_proxy_merges_with_http_backend(gateway, backend, lambda_endpoint) -> None:
    async def user(request: web.Request) -> web.Response:
        return web.json_response({"name": "Ada"})

    app = web.Application()
    app.router.add_get("/users/{id}", user)
    url = await backend(app)
    fn = {**lambda_backend(lambda_endpoint, function_name="hello"), "group": "greeting"}
    http = {"host": [url], "url_pattern": "/users/{first_name}"}
    client = await gateway(lambda_config([{"endpoint": "/both/{first_name}", "backend": [http, fn]}]))
    resp = await client.get("/both/Grace")
    assert resp.status == 200
    assert await resp.json() == {"name": "Ada", "greeting": {"message": "Hello Grace !", "foo": "hidden"}}
    assert resp.headers["X-Krakend-Completed"] == "true"


async def test_lambda_proxy_function_error_is_502(gateway, lambda_endpoint, needs_node) -> None:
    client = await gateway(
        lambda_config(
            [
                endpoint("/py", lambda_backend(lambda_endpoint, function_name="boom")),
                endpoint(
                    "/mapped",
                    lambda_backend(
                        lambda_endpoint, function_name="boom", error_type_status={"Runtime.HandlerError": 422}
                    ),
                ),
                endpoint("/js", lambda_backend(lambda_endpoint, function_name="boom-js", function_error_status=503)),
            ],
            extra_config={"router": {"return_error_msg": True}},
        )
    )
    resp = await client.get("/py")
    assert resp.status == 502
    assert "boom: x" in await resp.text()
    assert (await client.get("/mapped")).status == 422
    resp = await client.get("/js")
    assert resp.status == 503
    assert "boom: node" in await resp.text()


async def test_lambda_proxy_function_error_in_merge_is_partial(gateway, lambda_endpoint) -> None:
    ok = {**lambda_backend(lambda_endpoint, function_name="hello"), "group": "ok"}
    bad = {**lambda_backend(lambda_endpoint, function_name="boom"), "group": "bad"}
    client = await gateway(lambda_config([{"endpoint": "/m", "backend": [ok, bad]}]))
    resp = await client.get("/m")
    assert resp.status == 200
    assert resp.headers["X-Krakend-Completed"] == "false"
    assert set(await resp.json()) == {"ok"}


async def test_lambda_proxy_missing_function_status(gateway, lambda_endpoint) -> None:
    client = await gateway(
        lambda_config(
            [
                endpoint("/static", lambda_backend(lambda_endpoint, function_name="nope")),
                endpoint("/dyn/{fn}", lambda_backend(lambda_endpoint, function_param_name="Fn")),
            ]
        )
    )
    # a configured function that is gone is the gateway's problem; a name the client picked is a 404
    assert (await client.get("/static")).status == 502
    assert (await client.get("/dyn/nope")).status == 404
    assert (await client.get("/dyn/echo:nolabel")).status == 404


async def test_lambda_proxy_allow_list(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_param_name="Fn", allowed_functions=["echo", "hello:1"])
    client = await gateway(lambda_config([endpoint("/dyn/{fn}", backend)]))
    assert (await client.get("/dyn/echo")).status == 200
    assert (await client.get("/dyn/echo:live")).status == 200  # a bare entry allows its versions/aliases
    assert (await client.get("/dyn/boom")).status == 403
    assert (await client.get("/dyn/hello")).status == 403  # only hello:1 is allowed
    assert (await client.get("/dyn/bad%20name")).status == 400


async def test_lambda_proxy_throttled_is_429_with_retry_after(gateway, lambda_endpoint) -> None:
    client = await gateway(lambda_config([endpoint("/t", lambda_backend(lambda_endpoint, function_name="throttled"))]))
    resp = await client.get("/t")
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "1"


async def test_lambda_proxy_event_and_dry_run(gateway, lambda_endpoint) -> None:
    client = await gateway(
        lambda_config(
            [
                endpoint("/event", lambda_backend(lambda_endpoint, function_name="echo", invocation_type="Event")),
                endpoint("/dry", lambda_backend(lambda_endpoint, function_name="echo", invocation_type="DryRun")),
                endpoint(
                    "/event-raw",
                    lambda_backend(lambda_endpoint, function_name="echo", invocation_type="Event"),
                    output_encoding="no-op",
                ),
            ]
        )
    )
    resp = await client.get("/event")
    assert resp.status == 202
    assert await resp.json() == {}
    resp = await client.get("/dry")
    assert resp.status == 204
    assert await resp.read() == b""
    resp = await client.get("/event-raw")
    assert resp.status == 202
    assert await resp.read() == b""


async def test_lambda_proxy_option_timeout_is_504_and_cancels(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="sleepy", timeout="300ms")
    fast = lambda_backend(lambda_endpoint, function_name="echo")
    client = await gateway(lambda_config([endpoint("/slow", backend, timeout="3s"), endpoint("/fast", fast)]))
    resp = await client.get("/slow")
    assert resp.status == 504
    # the cancelled invoke left the shared client usable
    assert (await client.get("/fast")).status == 200


async def test_lambda_proxy_endpoint_timeout_ends_invoke(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="sleepy")
    client = await gateway(lambda_config([endpoint("/slow", backend, timeout="400ms")]))
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.get("/slow")
    assert resp.status == 500  # KrakenD: a backend that misses the deadline is a plain 500
    assert loop.time() - started < 5  # ended well before the function's own 10 s sleep


async def test_lambda_proxy_noop_passes_payload(gateway, lambda_endpoint) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="array")
    client = await gateway(lambda_config([endpoint("/raw", backend, output_encoding="no-op")]))
    resp = await client.get("/raw")
    assert resp.status == 200
    assert await resp.json() == [{"id": 1}, {"id": 2}]
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "X-Amz-Log-Result" not in resp.headers


async def test_a_function_not_allowed_leaves_one_audit_deny(gateway, lambda_endpoint, tmp_path) -> None:
    """``allowed_functions`` is an access decision (issue 14's list of rejecting components): its 403
    leaves one deny record, ``function_not_allowed``; an allowed call leaves none (no sensitive route)."""
    trail = tmp_path / "audit.log"
    backend = lambda_backend(lambda_endpoint, function_param_name="Fn", allowed_functions=["echo"])
    doc = lambda_config(
        [endpoint("/dyn/{fn}", backend)], extra_config={"telemetry/audit": {"sink": "file", "path": str(trail)}}
    )
    client = await gateway(doc, started=True)
    assert (await client.get("/dyn/echo")).status == 200
    assert (await client.get("/dyn/boom")).status == 403
    records: list[dict[str, Any]] = []
    for _ in range(100):
        if trail.exists() and trail.read_bytes().endswith(b"\n"):
            records = [json.loads(line) for line in trail.read_text().splitlines()]
            break
        await asyncio.sleep(0.02)
    assert [(r["decision"], r["reason"], r["policy"]["type"], r["response"]["status"]) for r in records] == [
        ("deny", "function_not_allowed", "backend/lambda", 403)
    ]
    assert records[0]["request"]["path"] == "/dyn/boom" and records[0]["event"] == "authz_fail"
