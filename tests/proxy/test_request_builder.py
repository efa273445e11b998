from __future__ import annotations

from typing import Any

import pytest

from krakenpy.names import canonical_header
from krakenpy.proxy.request_builder import PathTemplate, backend_request_middleware, encode_query
from tests.doubles import echo_proxy, make_request
from tests.proxy.helpers import endpoint_config


async def _build(backend: dict[str, Any], endpoint: str = "/e/{id}", **request: Any) -> dict[str, Any]:
    backend = {"host": ["http://127.0.0.1:10"], **backend}
    cfg = endpoint_config({"endpoint": endpoint, "backend": [backend]}).backends[0]
    response = await backend_request_middleware(cfg)(echo_proxy())(make_request(**request))
    return response.data


async def test_request_builder_substitutes_capitalised_params() -> None:
    out = await _build({"url_pattern": "/u/{id}/{fn_name}"}, "/e/{id}/{fn_name}", params={"Id": "7", "Fn_name": "f"})
    assert out["url"] == "http://127.0.0.1:10/u/7/f"
    assert out["path"] == "/u/7/f"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("a/b", "/u/a%2Fb/x"),
        ("..", "/u/%2E%2E/x"),
        (".", "/u/%2E/x"),
        ("a?admin=1", "/u/a%3Fadmin=1/x"),
        ("a#frag", "/u/a%23frag/x"),
        ("a\r\nX-Injected: 1", "/u/a%0D%0AX-Injected:%201/x"),
        ("50%", "/u/50%25/x"),
        ("ünï", "/u/%C3%BCn%C3%AF/x"),
        ("a-b_c.d~e", "/u/a-b_c.d~e/x"),
    ],
)
async def test_request_builder_param_cannot_change_url_structure(value: str, path: str) -> None:
    out = await _build({"url_pattern": "/u/{id}/x"}, params={"Id": value})
    assert out["path"] == path
    assert out["raw_query"] == ""
    assert out["url"] == "http://127.0.0.1:10" + path


async def test_request_builder_param_in_hardcoded_query_cannot_inject_query() -> None:
    out = await _build({"url_pattern": "/u?id={id}&x=1"}, params={"Id": "1&admin=true"})
    assert out["raw_query"] == "id=1%26admin%3Dtrue&x=1"


async def test_request_builder_unknown_key_left_literal() -> None:
    template = PathTemplate("/u/{{.Nope}}")
    assert template.render({}) == "/u/%7B%7B.Nope%7D%7D"


async def test_request_builder_hardcoded_and_forwarded_query_concatenated_sorted() -> None:
    out = await _build(
        {"url_pattern": "/u?channel=x&b=1"}, query={"limit": ["10"], "a b": ["1 2", "3"], "channel": ["y"]}
    )
    assert out["raw_query"] == "channel=x&b=1&a+b=1+2&a+b=3&channel=y&limit=10"
    assert out["url"].endswith("/u?channel=x&b=1&a+b=1+2&a+b=3&channel=y&limit=10")


async def test_request_builder_backend_query_allow_list() -> None:
    out = await _build({"url_pattern": "/u", "input_query_strings": ["b"]}, query={"a": ["1"], "b": ["2"]})
    assert out["raw_query"] == "b=2"
    out = await _build({"url_pattern": "/u", "input_query_strings": ["*"]}, query={"a": ["1"], "b": ["2"]})
    assert out["raw_query"] == "a=1&b=2"
    out = await _build({"url_pattern": "/u", "input_query_strings": [""]}, query={"a": ["1"]})
    assert out["raw_query"] == ""


HEADERS = {"Content-Type": ["x"], "X-Forwarded-For": ["1.2.3.4"], "User-Agent": ["ua"], "X-Foo": ["f"]}


async def test_request_builder_backend_header_allow_list() -> None:
    out = await _build({"url_pattern": "/u", "input_headers": ["x-foo"]}, headers=dict(HEADERS))
    assert out["headers"] == {"X-Foo": ["f"]}
    out = await _build({"url_pattern": "/u", "input_headers": [""]}, headers=dict(HEADERS))
    assert out["headers"] == {}
    out = await _build({"url_pattern": "/u", "input_headers": ["*"]}, headers=dict(HEADERS))
    assert out["headers"] == HEADERS
    out = await _build({"url_pattern": "/u"}, headers=dict(HEADERS))
    assert out["headers"] == HEADERS


async def test_request_builder_backend_method_and_host_balancing() -> None:
    hosts = ["http://127.0.0.1:10", "http://127.0.0.1:11"]
    cfg = endpoint_config(
        {"endpoint": "/e", "method": "POST", "backend": [{"host": hosts, "url_pattern": "/u", "method": "put"}]}
    ).backends[0]
    proxy = backend_request_middleware(cfg)(echo_proxy())
    seen = set()
    for _ in range(200):
        out = (await proxy(make_request(method="POST"))).data
        assert out["method"] == "PUT"
        seen.add(out["url"])
        if len(seen) == 2:
            break
    assert seen == {h + "/u" for h in hosts}


def test_request_builder_go_style_helpers() -> None:
    assert canonical_header("x-foo-BAR") == "X-Foo-Bar"
    assert canonical_header("content-type") == "Content-Type"
    assert encode_query({"z": ["1"], "a": ["é", "&"]}) == "a=%C3%A9&a=%26&z=1"
