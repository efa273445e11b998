from __future__ import annotations

import pytest

from krakenpy.errors import BackendError
from krakenpy.proxy.sequential import sequential_proxy, stringify
from krakenpy.proxy.types import Request, Response
from tests.doubles import RecordingProxy, failing_proxy, make_request, slow_proxy, static_proxy
from tests.proxy.helpers import endpoint_config


def _endpoint(patterns: list[str], path: str = "/x", **proxy_opts: object):
    return endpoint_config(
        {
            "endpoint": path,
            "backend": [{"url_pattern": p} for p in patterns],
            "extra_config": {"proxy": {"sequential": True, **proxy_opts}},
        }
    )


class _params_proxy(RecordingProxy):
    async def respond(self, request: Request) -> Response:
        return Response(data={"seen": dict(request.params)})


async def test_sequential_resp_field_feeds_next_backend() -> None:
    ep = _endpoint(["/a", "/b/{resp0_id}/{resp0_user.name}"])
    second = _params_proxy()
    proxy = sequential_proxy(ep, [static_proxy({"id": 7, "user": {"name": "ann"}}), second], timeout=1.0)
    response = await proxy(make_request())
    assert second.calls[0].params["Resp0_id"] == "7"
    assert second.calls[0].params["Resp0_user.name"] == "ann"
    assert response.data["id"] == 7
    assert response.is_complete


async def test_sequential_missing_field_leaves_param_unset() -> None:
    ep = _endpoint(["/a", "/b/{resp0_id}/{resp0_nope}"])
    second = _params_proxy()
    await sequential_proxy(ep, [static_proxy({"id": 1}), second], timeout=1.0)(make_request())
    assert second.calls[0].params["Resp0_id"] == "1"  # the field that exists is propagated
    assert "Resp0_nope" not in second.calls[0].params


async def test_sequential_propagated_params() -> None:
    ep = _endpoint(["/a", "/b"], sequential_propagated_params=["resp0_first.foo"])
    second = _params_proxy()
    await sequential_proxy(ep, [static_proxy({"first": {"foo": "bar"}}), second], timeout=1.0)(make_request())
    assert second.calls[0].params["Resp0_first.foo"] == "bar"


async def test_sequential_first_backend_failure_raises() -> None:
    ep = _endpoint(["/a", "/b"])
    second = static_proxy({"b": 1})
    with pytest.raises(BackendError, match="boom"):
        await sequential_proxy(ep, [failing_proxy(BackendError("boom")), second], timeout=1.0)(make_request())
    assert second.calls == []


async def test_sequential_later_failure_is_partial() -> None:
    ep = _endpoint(["/a", "/b", "/c"])
    third = static_proxy({"c": 1})
    proxy = sequential_proxy(ep, [static_proxy({"a": 1}), failing_proxy(), third], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert not response.is_complete
    assert len(response.errors) == 1
    assert third.calls == []


async def test_sequential_incomplete_part_stops_chain() -> None:
    ep = _endpoint(["/a", "/b", "/c"])
    third = static_proxy({"c": 1})
    proxy = sequential_proxy(ep, [static_proxy({"a": 1}), static_proxy({"b": 1}, complete=False), third], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 1}
    assert not response.is_complete
    assert third.calls == []


async def test_sequential_later_backend_overwrites_keys() -> None:
    ep = _endpoint(["/a", "/b"])
    response = await sequential_proxy(ep, [static_proxy({"k": 1}), static_proxy({"k": 2})], timeout=1.0)(make_request())
    assert response.data == {"k": 2}


async def test_sequential_timeout_in_later_backend_is_partial() -> None:
    ep = _endpoint(["/a", "/b"])
    response = await sequential_proxy(ep, [static_proxy({"a": 1}), slow_proxy({"b": 1}, 5.0)], timeout=0.1)(
        make_request()
    )
    assert response.data == {"a": 1}
    assert not response.is_complete


async def test_sequential_timeout_in_first_backend_raises() -> None:
    ep = _endpoint(["/a", "/b"])
    with pytest.raises(BackendError, match="deadline"):
        await sequential_proxy(ep, [slow_proxy({"a": 1}, 5.0), static_proxy({})], timeout=0.05)(make_request())


async def test_sequential_raw_body_of_noop_backend() -> None:
    ep = _endpoint(["/a", "/b"], sequential_propagated_params=["resp0"])
    second = _params_proxy()
    await sequential_proxy(ep, [static_proxy({}, body=b"raw-text"), second], timeout=1.0)(make_request())
    assert second.calls[0].params["Resp0"] == "raw-text"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (42, "42"),
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        ([1, "a"], "1,a"),
        (4.5, "4.5"),
        (42.0, "42.0"),
    ],
)
def test_sequential_stringify(value: object, text: str) -> None:
    assert stringify(value) == text
