"""A secret in a path parameter, on the paths the first round left out: endpoints that share one
router node under other parameter names, requests the router redirects (a trailing slash, another
case), and paths an edge plugin rewrites before routing (url-rewrite, virtualhost)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.proxy.request_builder import PathTemplate
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.pathmask import path_masks
from krakenpy.telemetry.redact import Redactor
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver

SECRET = "p4th-s3cr3t-77a9"


def test_templates_of_one_router_node_mask_what_any_of_them_names() -> None:
    """``GET /items/{id}`` and ``DELETE /items/{token}`` are one router node, whose route is the
    first template: a DELETE is routed as ``/items/{id}``, and its token is masked all the same."""
    masks = path_masks(["/items/{id}", "/items/{token}", "/users/{id}"], ["token"], (), "[X]", 4)
    assert masks is not None
    assert masks.mask("/items/{id}", "/items/abcdef", "/items/abcdef") == "/items/[X]"
    assert masks.mask("/items/{token}", "/items/abcdef", "/items/abcdef") == "/items/[X]"
    assert masks.mask("/users/{id}", "/users/abcdef", "/users/abcdef") == "/users/abcdef"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/reset/abcdef/", "/reset/[X]/"),  # gin's trailing-slash redirect
        ("/RESET/abcdef", "/RESET/[X]"),  # the fixed-path redirect: another case
        ("/Reset/abcdef/", "/Reset/[X]/"),
        ("/reset//abcdef", "/reset//[X]"),  # ... a doubled slash
        ("/reset/./abcdef", "/reset/./[X]"),
        ("/x/../reset/abcdef", "/x/../reset/[X]"),
        ("/reset/abcdef/more", "/reset/[X]/[X]"),  # below a sensitive endpoint (see the test below)
        ("/users/abcdef/", "/users/abcdef/"),
        ("/reset/", "/reset/"),
    ],
)
def test_a_path_without_a_route_near_a_sensitive_shape_is_masked(path: str, shown: str) -> None:
    masks = path_masks(["/reset/{token}", "/users/{id}"], ["token"], (), "[X]", 4)
    assert masks is not None
    assert masks.mask(None, path, path) == shown


def test_a_rewritten_path_masks_the_routed_value_anywhere_in_the_clients() -> None:
    masks = path_masks(["/reset/{token}"], ["token"], (), "[X]", 4)
    assert masks is not None
    # a regexp rewrite (``^/old-(.*)$`` → ``/reset/${1}``): the value is no whole segment of the client's path
    assert masks.mask("/reset/{token}", "/reset/abcdef", "/old-abcdef") == "/old-[X]"
    assert masks.mask("/reset/{token}", "/reset/abc", "/old-abc/abc") == "/old-abc/[X]"  # short: segments only
    redactor = Redactor()
    redactor.learn_routes(["/reset/{token}"])
    # the texts about the request: the value found in the path it was routed by, not only the client's
    secrets = redactor.request_secrets([], "", "/old-abcdef", "/reset/abcdef")
    assert redactor.text('Get "http://h/v1/abcdef": refused', secrets) == 'Get "http://h/v1/[REDACTED]": refused'


#: (case, method, path, headers, status)
CASES: list[tuple[str, str, str, dict[str, str], int]] = [
    ("trailing-slash", "GET", f"/reset/{SECRET}/", {}, 301),
    ("trailing-slash-post", "POST", f"/reset/{SECRET}/", {}, 404),
    ("encoded-slash", "GET", f"/reset/ab%2F{SECRET}", {}, 404),
    ("below", "GET", f"/reset/{SECRET}/more", {}, 404),
    ("other-case", "GET", f"/RESET/{SECRET}", {}, 301),
    ("shared-node", "DELETE", f"/items/{SECRET}", {}, 500),
    ("regexp-rewrite", "GET", f"/old-{SECRET}", {}, 500),
    ("segment-rewrite", "GET", f"/old/{SECRET}", {}, 500),
    ("virtualhost", "GET", f"/vh/{SECRET}", {"Host": "a.test"}, 500),
]


def _config(ok: str, dead: str, receiver_port: int, access: Path, audit: Path, kind: str) -> dict[str, Any]:
    otel: dict[str, Any] = {
        "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]},
        "layers": {"backend": {"traces": {"round_trip": True}}},
    }
    if kind == "general":  # the SERVER span's headers read before routing (before a rewrite)
        otel["layers"]["global"] = {"report_headers": True}
    extra: dict[str, Any] = {
        "router": {"return_error_msg": True},
        "plugin/http-server": {
            "name": ["url-rewrite", "virtualhost"],
            "url-rewrite": {"regexp": [["^/old-(.*)$", "/down/${1}"], ["^/old/(.*)$", "/down/${1}"]]},
            "virtualhost": {"hosts": ["a.test"]},
        },
    }
    if kind == "traced":
        extra["telemetry/opentelemetry"] = otel
    if kind == "general":
        extra.update(
            {
                "telemetry/logging": {"level": "DEBUG", "stdout": True},
                "telemetry/access_log": {"format": "json", "file": str(access)},
                "telemetry/audit": {"sink": "file", "path": str(audit), "sensitive": True},
                "telemetry/opentelemetry": otel,
            }
        )
    return {
        "version": 3,
        "extra_config": extra,
        "endpoints": [
            {"endpoint": "/reset/{token}", "backend": [{"host": [ok], "url_pattern": "/v1/reset/{token}"}]},
            {"endpoint": "/down/{token}", "backend": [{"host": [dead], "url_pattern": "/d/{token}"}]},
            {"endpoint": "/items/{id}", "backend": [{"host": [ok], "url_pattern": "/i/{id}"}]},
            {
                "endpoint": "/items/{token}",
                "method": "DELETE",
                "backend": [{"host": [dead], "url_pattern": "/i/{token}"}],
            },
            {"endpoint": "/__virtual/a.test/vh/{token}", "backend": [{"host": [dead], "url_pattern": "/vh/{token}"}]},
        ],
    }


@pytest.mark.parametrize("kind", ["lean", "traced", "general"])
@pytest.mark.parametrize("case", [c[0] for c in CASES])
async def test_a_path_secret_on_a_redirected_shared_or_rewritten_route_reaches_no_output(  # type: ignore[no-untyped-def]
    case: str, kind: str, served, upstream, capfd, tmp_path: Path, dead_port: int
) -> None:
    _, method, path, headers, status = next(c for c in CASES if c[0] == case)
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    access, audit = tmp_path / "access.log", tmp_path / "audit.log"
    s = await served(_config(ok, f"http://127.0.0.1:{dead_port}", receiver_port, access, audit, kind))
    resp = await s.client.request(method, path, headers=headers, allow_redirects=False)
    assert resp.status == status
    # a redirect's Location and body are the client's own path, sent back to it (as KrakenD does)
    body = b"" if status in (301, 307) else await resp.read()
    exporter = s.gateway.resources.state.get(EXPORTER)
    if exporter is not None:
        await exporter.flush()
    for handler in logging.getLogger("krakenpy").handlers:
        handler.flush()
    await s.gateway.close()
    captured = capfd.readouterr()
    outputs = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "access file": access.read_bytes() if access.exists() else b"",
        "audit file": audit.read_bytes() if audit.exists() else b"",
        "otlp": b"\n".join(receiver.bodies),
        "error body": body,
    }
    lines = outputs["access file"] if kind == "general" else outputs["stdout"]
    assert b"[REDACTED]" in lines  # the request was logged, masked
    if status == 500:
        assert b"[REDACTED]" in outputs["error body"]  # return_error_msg's text, masked
    if kind != "lean":
        assert outputs["otlp"]
    leaks = {name: data.count(SECRET.encode()) for name, data in outputs.items() if SECRET.encode() in data}
    assert leaks == {}


@pytest.mark.parametrize("value", ["ab'cd\"efgh", "user:pa=ss word", "(é)*!xyz"])
def test_a_value_is_masked_as_the_backend_url_escapes_it(value: str) -> None:
    """The backend's URL carries a value escaped as the request builder does it (``'``, ``(``, ``:``
    kept, ``"`` and a space escaped), which neither the value as decoded nor ``quote`` spell."""
    redactor = Redactor()
    redactor.learn_routes(["/x/{token}"])
    secrets = redactor.request_secrets([], "", f"/x/{value}")
    builder = backend_request_builder_urls(value)
    for url in builder:
        assert redactor.text(f'Get "{url}": refused', secrets) in (
            'Get "http://h/d/[REDACTED]": refused',
            'Get "http://h/d?t=[REDACTED]": refused',
        ), url


def backend_request_builder_urls(value: str) -> list[str]:
    """The URLs the request builder makes of ``value`` in a url_pattern's path and query."""
    return [
        "http://h" + PathTemplate("/d/{{.Token}}").render({"Token": value}),
        "http://h" + PathTemplate("/d?t={{.Token}}").render({"Token": value}),
    ]


def test_the_escapes_follow_the_request_builder() -> None:
    from krakenpy.proxy import request_builder
    from krakenpy.telemetry import pathmask

    assert pathmask._BACKEND_PATH_SAFE == request_builder._PATH_SAFE
    assert pathmask._BACKEND_QUERY_SAFE == request_builder._QUERY_SAFE


async def test_the_backend_log_masks_a_path_secret_in_every_part_of_the_url(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """``%{url}``, ``%{path}`` and ``%{query}`` of the backend log: a url_pattern may put the value in
    the backend's query under a key that is no sensitive one (``/d?t={token}``)."""
    ok = await upstream(recording_app([], {"ok": True}))
    log = {"custom_format": "URL=%{url} PATH=%{path} QUERY=%{query} HOST=%{host}\n"}
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/logging": {"level": "INFO", "stdout": True}},
            "endpoints": [
                {
                    "endpoint": "/x/{token}",
                    "backend": [
                        {
                            "host": [ok],
                            "url_pattern": "/d/{token}?t={token}",
                            "extra_config": {"telemetry/logging": log},
                        }
                    ],
                }
            ],
        }
    )
    resp = await s.client.get(f"/x/{SECRET}")
    assert resp.status == 200
    for handler in logging.getLogger("krakenpy").handlers:
        handler.flush()
    await s.gateway.close()
    out = capfd.readouterr().out
    assert "URL=http://127.0.0.1:" in out and "/d/[REDACTED]?t=[REDACTED]" in out
    assert "PATH=/d/[REDACTED] QUERY=t=[REDACTED] HOST=127.0.0.1:" in out
    assert SECRET not in out


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        # a value holding an encoded slash (a base64 token sent as ab%2Fcd): decoded, the router finds
        # no route (404), the path one segment longer than the endpoint's
        ("/reset/ab/cdefgh", "/reset/[X]/[X]"),
        ("/reset/ab/cd/ef", "/reset/[X]/[X]/[X]"),
        ("/reset/ab/cdef/confirm", "/reset/[X]/[X]/confirm"),
        ("/RESET/ab/cdef/", "/RESET/[X]/[X]/"),
        ("/reset/abcdef/more", "/reset/[X]/[X]"),  # below a sensitive one: masked from the parameter on
        ("/users/ab/cdef", "/users/ab/cdef"),  # no sensitive endpoint under that prefix
        ("/other/ab/cdef", "/other/ab/cdef"),
    ],
)
def test_a_longer_path_under_a_sensitive_prefix_is_masked(path: str, shown: str) -> None:
    masks = path_masks(["/reset/{token}", "/reset/{token}/confirm", "/users/{id}"], ["token"], (), "[X]", 4)
    assert masks is not None
    assert masks.mask(None, path, path) == shown


async def test_a_rewrite_keeps_the_routed_path_only_when_an_endpoint_has_a_path_secret() -> None:
    """The zero-cost rule: without a sensitive parameter the rewriting plugins do what they did."""
    from krakenpy.components.plugin.url_rewrite import UrlRewriteOptions, url_rewrite
    from krakenpy.components.plugin.virtualhost import VirtualHostOptions, virtualhost
    from krakenpy.edge import HttpRequest, HttpResponse
    from krakenpy.telemetry.exchange import EXCHANGE, Exchange

    async def answer(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200)

    for note in (False, True):
        for plugin, host, routed in (
            (url_rewrite(UrlRewriteOptions({"/a": "/b"}), note=note), "x", "/b"),
            (virtualhost(VirtualHostOptions(frozenset({"v.test"})), note=note), "v.test", "/__virtual/v.test/a"),
        ):
            request = HttpRequest("GET", "/a", host=host)
            exchange = request.context[EXCHANGE] = Exchange()
            await plugin(answer)(request)
            assert request.path == routed
            assert exchange.routed == (routed if note else "")


def test_a_static_endpoint_of_a_sensitive_shape_has_no_secret_in_its_texts() -> None:
    """``/reset/status`` next to ``/reset/{token}`` is its own route (static segments win): its
    path holds no value, and a failure text about it (``invalid status code 500``) stays readable."""
    redactor = Redactor()
    redactor.learn_routes(["/reset/{token}", "/reset/status"])
    assert redactor.request_secrets([], "", "/reset/status") == ()
    assert redactor.request_secrets([], "", "/reset/abcdef") != ()
    masks = redactor.paths
    assert masks is not None
    for path in ("/reset/status", "/reset/status/", "/reset//status"):  # a 405, redirects
        assert masks.mask(None, path, path) == path
    assert masks.mask(None, "/reset/abcdef/", "/reset/abcdef/") == "/reset/[REDACTED]/"


async def test_a_referer_from_a_sensitive_page_is_masked(served, upstream, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A browser on a page ``/reset/{token}`` sends its URL as ``Referer`` with the form it posts there
    and with every request the page makes: the Combined access log and the SERVER span's header
    attributes (``report_headers``) wrote it as sent."""
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    access = tmp_path / "access.log"
    otel = {
        "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]},
        "layers": {"global": {"report_headers": True}},
    }
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/access_log": {"format": "combined", "file": str(access)},
                "telemetry/opentelemetry": otel,
            },
            "endpoints": [
                {"endpoint": "/reset/{token}", "method": "POST", "backend": [{"host": [ok], "url_pattern": "/r"}]},
                {"endpoint": "/config", "backend": [{"host": [ok], "url_pattern": "/c"}]},
            ],
        }
    )
    other = "0th3r-p4ge-t0k3n"  # the page's URL is another app's (only the request's own value is known)
    for method, path, referer in (
        ("POST", f"/reset/{SECRET}", f"https://app.example/reset/{SECRET}?step=2"),
        ("GET", "/config", f"https://app.example/reset/{SECRET}"),
        ("POST", f"/reset/{other}", f"https://app.example/#/password/{other}"),
    ):
        resp = await s.client.request(method, path, headers={"Referer": referer})
        assert resp.status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.close()
    capfd.readouterr()
    lines = access.read_bytes()
    otlp = b"\n".join(receiver.bodies)
    assert b'"https://app.example/reset/[REDACTED]?step=2"' in lines
    assert b'"https://app.example/#/password/[REDACTED]"' in lines
    assert lines.count(b"https://app.example/reset/[REDACTED]") == 2
    assert b"https://app.example/reset/[REDACTED]" in otlp
    for data in (lines, otlp):
        assert SECRET.encode() not in data and other.encode() not in data


async def test_the_backend_log_masks_a_path_secret_in_a_header(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """``%{respHeader.Location}``: a backend that answers with the URL it was called by (its own path,
    no endpoint's shape) names the request's value."""

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers={"Location": f"{request.path}?done=1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    ok = await upstream(app)
    log = {"custom_format": "LOC=%{respHeader.Location} REF=%{reqHeader.Referer}\n"}
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/logging": {"level": "INFO", "stdout": True}},
            "endpoints": [
                {
                    "endpoint": "/x/{token}",
                    "input_headers": ["Referer"],
                    "backend": [
                        {"host": [ok], "url_pattern": "/v1/{token}", "extra_config": {"telemetry/logging": log}}
                    ],
                }
            ],
        }
    )
    resp = await s.client.get(f"/x/{SECRET}", headers={"Referer": f"https://app.example/#/r/{SECRET}"})
    assert resp.status == 200
    for handler in logging.getLogger("krakenpy").handlers:
        handler.flush()
    await s.gateway.close()
    out = capfd.readouterr().out
    assert "LOC=/v1/[REDACTED]?done=1 REF=https://app.example/#/r/[REDACTED]" in out
    assert SECRET not in out
