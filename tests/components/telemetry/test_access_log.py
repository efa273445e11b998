from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.errors import ConfigError
from krakenpy.telemetry.settings import parse_access_log
from krakenpy.telemetry.writer import stdout_writer
from tests.components.helpers import site
from tests.components.telemetry.conftest import doc, recording_app

GIN = re.compile(r'^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| (\d{3}) \| +\S+ \| +(\S+) \| (\w+) +"(.*)"$')
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _logged(capfd: Any) -> str:
    """Standard output so far, the writer's pending batch written first (a batch waits up to
    ``writer.INTERVAL`` after the previous one)."""
    stdout_writer().flush()
    return str(capfd.readouterr().out)


def _gin_lines(text: str) -> list[re.Match[str]]:
    return [m for m in (GIN.match(line) for line in text.splitlines()) if m]


async def test_access_log_on_by_default_in_gins_format_redacted(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    s = await served(
        doc(
            [
                {
                    "endpoint": "/items/{id}",
                    "input_query_strings": ["*"],
                    "backend": [{"host": [base], "url_pattern": "/i/{id}"}],
                }
            ]
        )
    )
    resp = await s.client.get("/items/7?sig=SECRET1&page=2")
    assert resp.status == 200
    await s.client.get("/nowhere")
    out = _logged(capfd)
    lines = _gin_lines(out)
    assert [(m.group(1), m.group(3), m.group(4)) for m in lines] == [
        ("200", "GET", "/items/7?sig=[REDACTED]&page=2"),
        ("404", "GET", "/nowhere"),
    ]
    assert lines[0].group(2) == "127.0.0.1"
    assert "SECRET1" not in out
    rid = resp.headers["X-Request-Id"]
    assert UUID.match(rid)
    assert seen[0].headers["X-Request-Id"] == rid  # forwarded to the backend


async def test_access_log_default_line_client_ip_from_forwarding_headers(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    # the peer's address unless a forwarding header came (gin's rules then: clientip.resolve_direct)
    base = await upstream(recording_app([]))
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}]))
    await s.client.get("/a")
    await s.client.get("/a", headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.2"})
    await s.client.get("/a", headers={"X-Real-Ip": "198.51.100.9"})
    await s.client.get("/a", headers={"X-Forwarded-For": "not-an-ip"})
    ips = [m.group(2) for m in _gin_lines(_logged(capfd))]
    assert ips == ["127.0.0.1", "203.0.113.7", "198.51.100.9", "127.0.0.1"]


async def test_access_log_request_id_honoured_or_replaced(served, upstream) -> None:  # type: ignore[no-untyped-def]
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}]))
    resp = await s.client.get("/a", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123" and seen[0].headers["X-Request-Id"] == "abc-123"
    bad = await s.client.get("/a", headers={"X-Request-Id": "evil\tvalue with spaces"})
    assert UUID.match(bad.headers["X-Request-Id"])


async def test_access_log_generated_ids_come_from_the_process_counter(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """The default edge layer draws its ids from the counter ``new_request_id`` reads (one iterator,
    asked with ``next()`` there): in call order, never one id twice, the one forwarded the one returned."""
    from krakenpy.telemetry.exchange import new_request_id

    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}]))
    ids = [new_request_id()]
    for _ in range(3):
        resp = await s.client.get("/a")
        ids.append(resp.headers["X-Request-Id"])
        ids.append(new_request_id())
    assert [r.headers["X-Request-Id"] for r in seen] == ids[1::2]
    # one prefix, the 48-bit counter's last group one further each time (no reseed in between)
    assert len({i[:24] for i in ids}) == 1
    counts = [int(i[24:], 16) for i in ids]
    assert counts == list(range(counts[0], counts[0] + len(ids)))


_METRICS = {"telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"}}


@pytest.mark.parametrize("configured", ["X-Request-ID", "x-request-id", "X-REQUEST-ID"])
@pytest.mark.parametrize("sent", ["X-Request-Id", "x-request-id"])
@pytest.mark.parametrize("extra", [{}, _METRICS], ids=["lean", "metered"])
async def test_access_log_request_id_forwarded_once_whatever_the_header_case(  # type: ignore[no-untyped-def]
    served, upstream, configured: str, sent: str, extra: dict[str, Any]
) -> None:
    # with every input header forwarded, a refused client id went to the backend beside the gateway's
    # when the configured name was not in Go's canonical spelling (the key of the backend header map)
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    s = await served(
        doc(
            [{"endpoint": "/a", "input_headers": ["*"], "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/access_log": {"request_id_header": configured}, **extra},
        )
    )
    resp = await s.client.get("/a", headers={sent: "bad value " + "x" * 300})
    rid = resp.headers.getall(configured)
    assert resp.status == 200 and len(rid) == 1 and UUID.match(rid[0])
    assert seen[0].headers.getall("X-Request-Id") == rid
    honoured = await s.client.get("/a", headers={sent: "abc-123"})
    assert honoured.headers.getall("X-Request-Id") == ["abc-123"] == seen[1].headers.getall("X-Request-Id")


def test_access_log_request_id_header_not_a_token_is_a_config_error() -> None:
    from krakenpy.components.registry import catalog
    from krakenpy.config.schema import validate_document

    def errors(name: str) -> list[str]:
        extra = {"telemetry/access_log": {"request_id_header": name}}
        doc = {"version": 3, "extra_config": extra, "endpoints": []}
        return [i.path for i in validate_document(doc, lint=False, catalog=catalog()) if i.severity == "error"]

    assert errors("x-request-ID") == [] and errors("") == []
    assert errors("X-Request Id") != [] and errors("X-Id:") != []


async def test_access_log_json_file_with_latency_split(served, upstream, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.json_response({"a": 1})

    app = web.Application()
    app.router.add_get("/{tail:.*}", slow)
    base = await upstream(app)
    path = tmp_path / "access.log"
    s = await served(
        doc(
            [{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
            extra_config={"telemetry/access_log": {"format": "json", "stdout": False, "file": str(path)}},
        )
    )
    await s.client.get("/users/3?token=T0K", headers={"User-Agent": "ua/1"})
    await s.gateway.close()
    record = orjson.loads(path.read_bytes().splitlines()[0])
    assert record["route"] == "/users/{id}" and record["path"] == "/users/3?token=[REDACTED]"
    assert record["status"] == 200 and record["user_agent"] == "ua/1" and record["bytes_out"] == len(b'{"a":1}')
    assert record["upstream_ms"] >= 45 and record["latency_ms"] >= record["upstream_ms"]
    assert record["gateway_ms"] == pytest.approx(record["latency_ms"] - record["upstream_ms"], abs=0.01)
    assert UUID.match(record["request_id"])


async def test_access_log_disabled_and_skip_paths(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([]))
    eps = [
        {"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]},
        {"endpoint": "/b", "backend": [{"host": [base], "url_pattern": "/"}]},
    ]
    s = await served(doc(eps, extra_config={"router": {"logger_skip_paths": ["/a"]}}))
    await s.client.get("/a")
    await s.client.get("/b")
    assert [m.group(4) for m in _gin_lines(_logged(capfd))] == ["/b"]
    off = await served(doc(eps, extra_config={"router": {"disable_access_log": True}}))
    await off.client.get("/b")
    assert _gin_lines(_logged(capfd)) == []


async def test_failures_are_logged_once_with_prefix_and_request_id(served, upstream, capfd, caplog, dead_port) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{dead_port}"
    base = await upstream(recording_app([], status=500))
    good = await upstream(recording_app([]))
    s = await served(
        doc(
            [
                {"endpoint": "/down", "backend": [{"host": [dead], "url_pattern": "/x?sig=S"}]},
                {"endpoint": "/err", "backend": [{"host": [base], "url_pattern": "/e"}]},
                {
                    "endpoint": "/lua",
                    "extra_config": {"modifier/lua-proxy": {"pre": "local x = nil; x.y = 1"}},
                    "backend": [{"host": [base], "url_pattern": "/e"}],
                },
                {
                    "endpoint": "/merge",
                    "backend": [
                        {"host": [good], "url_pattern": "/e", "group": "a"},
                        {"host": [dead], "url_pattern": "/d", "group": "b"},
                    ],
                },
            ]  # fmt: skip
        )
    )
    caplog.set_level(logging.ERROR, logger="krakenpy")
    # KrakenD's answers: a failed single backend is an empty 500, a partial merge a 200 with what came
    expected = {"/down": (500, b""), "/err": (500, b""), "/lua": (500, b""), "/merge": (200, b'{"a":{"ok":true}}')}
    for path, answer in expected.items():
        resp = await s.client.get(path, headers={"X-Request-Id": f"rid{path[1:]}"})
        assert (resp.status, await resp.read()) == answer, path
        assert resp.headers["X-Krakend-Completed"] == "false"
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("krakenpy")]
    down = [m for m in messages if m.startswith("[ENDPOINT: /down][BACKEND: /x?sig=[REDACTED]]")]
    assert len(down) == 1 and "sig=S " not in down[0]
    assert sum(m.startswith("[ENDPOINT: /err][BACKEND: /e] invalid status code 500") for m in messages) == 1
    assert sum(m.startswith("[ENDPOINT: /lua] [Lua]") for m in messages) == 1
    assert sum(m.startswith("[ENDPOINT: /merge][BACKEND: /d]") for m in messages) == 1
    assert not any(m.startswith("[ENDPOINT: /merge][BACKEND: /e]") for m in messages)
    assert not any(m.startswith("[ENDPOINT: /merge] ") for m in messages)  # logged once, at the backend
    assert not any(m.startswith("[ENDPOINT: /down] ") for m in messages)
    # gin's error lines follow the access line, as KrakenD's handler adds c.Error(err)
    out = _logged(capfd)
    assert re.search(
        r'\| GET      "/err"\nError #01: \[ENDPOINT: /err\]|\| GET      "/err"\nError #01: invalid status code 500', out
    )


async def test_failure_records_carry_the_request_id(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    from krakenpy.telemetry.applog import AppLogOptions, LineHandler, install_handlers, make_formatter

    base = await upstream(recording_app([], status=503))
    s = await served(doc([{"endpoint": "/err", "backend": [{"host": [base], "url_pattern": "/e"}]}]))
    undo = install_handlers([LineHandler(stdout_writer(), make_formatter(AppLogOptions(format="basic")))], logging.INFO)
    try:
        await s.client.get("/err", headers={"X-Request-Id": "req-42"})
    finally:
        undo()
    out = _logged(capfd)
    assert re.search(
        r"KRAKEND ERROR: \[ENDPOINT: /err\]\[BACKEND: /e\] invalid status code 503 .* request_id=req-42", out
    )


async def test_error_text_shown_to_clients_is_redacted(served, dead_port: int) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{dead_port}"
    s = await served(
        doc(
            [{"endpoint": "/x", "input_query_strings": ["*"], "backend": [{"host": [dead], "url_pattern": "/y"}]}],
            extra_config={"router": {"return_error_msg": True}},
        )
    )
    body = await (await s.client.get("/x?sig=CANARY9")).text()
    assert body and "CANARY9" not in body and "sig=[REDACTED]" in body


def test_parse_access_log_defaults_and_bad_selector() -> None:
    options = parse_access_log({}, "extra_config.telemetry/access_log")
    assert options.format == "gin" and options.request_id_header == "X-Request-Id" and options.stdout
    with pytest.raises(ConfigError) as err:
        parse_access_log({"redact": {"body_paths": ["$.ok", "$.a["]}}, "p")
    assert err.value.issues[0].path == "p.redact.body_paths[1]"


def test_access_log_site_helper_is_service_level() -> None:
    s: Any = site("telemetry/access_log", "service")
    assert s.path == "extra_config.telemetry/access_log"


def test_access_log_real_cli_writes_gin_and_krakend_lines(tmp_path: Path, dead_port: int) -> None:
    import signal
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.conftest import ROOT, free_port

    port = free_port()
    config = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/logging": {"level": "INFO", "prefix": "[KRAKEND]", "stdout": True}},
        "endpoints": [{"endpoint": "/down", "backend": [{"host": [f"127.0.0.1:{dead_port}"], "url_pattern": "/d"}]}],
    }
    path = tmp_path / "krakend.json"
    path.write_bytes(orjson.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(path), "-w", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
                time.sleep(0.05)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/down?sig=CLISECRET", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    gin = [m.group(4) for m in _gin_lines(out)]
    assert gin == ["/__health", "/down?sig=[REDACTED]"]
    krakend = [line for line in out.splitlines() if line.startswith("[KRAKEND] ")]
    assert any("▶ ERROR\x1b[0m [ENDPOINT: /down][BACKEND: /d]" in line and "request_id=" in line for line in krakend)
    assert any("▶ INFO\x1b[0m krakenpy" in line and "listening" in line for line in krakend)
    assert "CLISECRET" not in out + err


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1)
    return web.json_response({"s": 1})


@pytest.mark.parametrize("handler", ["default", "metered", "general"])
async def test_access_log_client_gone_logged_as_gin_does(served, upstream, capfd, tmp_path: Path, handler: str) -> None:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_get("/slow", _slow)
    base = await upstream(app)
    extra: dict[str, Any] = {}
    if handler != "default":
        extra["telemetry/metrics"] = {"listen_address": "127.0.0.1:0", "collection_time": "1h"}
    if handler == "general":  # an audit trail takes the general edge handler
        extra["telemetry/audit"] = {"sink": "file", "path": str(tmp_path / "audit.log")}
    s = await served(
        doc([{"endpoint": "/one", "backend": [{"host": [base], "url_pattern": "/slow"}]}], extra_config=extra)
    )
    url = s.client.make_url("/one")
    _, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()  # before the answer: the request is canceled
    # its line is written when the canceled request's task ends: read until it is there, up to 10 s
    # (a fixed 0.2 s was a bet on the loaded host's scheduling; the backend answers after 1 s)
    out = ""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        out += _logged(capfd)
        if _gin_lines(out) and "Error #01" in out:
            break
        await asyncio.sleep(0.02)
    # gin's logger writes every request: lura answers a canceled context with 500
    assert [(m.group(1), m.group(4)) for m in _gin_lines(out)] == [("500", "/one")]
    assert "Error #01: context canceled" in out


@pytest.mark.parametrize("gelf", [False, True])
async def test_lua_error_text_from_the_client_cannot_forge_a_gin_line(served, upstream, capfd, gelf) -> None:  # type: ignore[no-untyped-def]
    # a pre script's error(value) with a decoded %0D%0A path parameter reached gin's "Error #01:"
    # line as is: a second line, here a forged access line of the attacker's choosing
    base = await upstream(recording_app([]))
    lua = {"modifier/lua-proxy": {"pre": "local r = request.load()\nerror(r:params('Id'))"}}
    service: dict[str, Any] = {}
    if gelf:  # GELF takes each line at once: the renderer called per line, not in the writer's batch
        service["extra_config"] = {"telemetry/gelf": {"address": "127.0.0.1:9", "enable_tcp": False}}
    endpoint = {"endpoint": "/lua/{id}", "extra_config": lua, "backend": [{"host": [base], "url_pattern": "/"}]}
    s = await served(doc([endpoint], **service))
    resp = await s.client.get("/lua/x%0D%0AKRAKEND%20ERROR:%20forged")
    assert resp.status == 500
    out = _logged(capfd)
    assert len(_gin_lines(out)) == 1, out
    lines = out.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("Error #01:")]
    assert len(at) == 1 and lines[at[0]] == "Error #01: [Lua] x\\r\\nKRAKEND ERROR: forged (pre-script:L2)", out
    # (the application log's own ERROR line is escaped by its formatter, not here)
    assert not lines[at[0] + 1 :] or not lines[at[0] + 1].startswith("KRAKEND ERROR: forged"), out
