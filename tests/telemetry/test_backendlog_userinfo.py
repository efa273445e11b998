"""The backend log's ``%{url}`` and ``%{host}`` for a backend whose host carries a password
(``http://ada:pw@h``, as the canary's backend): the URL's user information is masked as the redactor
masks it everywhere else (``REDACTED:REDACTED@``), and ``%{host}`` is Go's ``URL.Host`` (host and
port, no user information); both wrote the password as sent."""

from __future__ import annotations

from aiohttp import web

from krakenpy.telemetry.backendlog import BackendCall, BackendLogOptions, compile_format
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.writer import flush_stdout
from tests.conftest import make_config

CANARY = "c4n4ry-0d5e2f71"


def test_url_and_host_never_carry_the_password() -> None:
    render = compile_format(BackendLogOptions(custom_format="%{url} | %{host} | %{path}"))
    masked = "http://REDACTED:REDACTED@127.0.0.1:8080"
    for url, line in [
        (f"http://ada:{CANARY}@127.0.0.1:8080/p?sig=z&a=1", f"{masked}/p?sig=[REDACTED]&a=1 | 127.0.0.1:8080 | /p\n"),
        (f"http://ada:{CANARY}/x?y#z@127.0.0.1:8080/p", f"{masked}/p | 127.0.0.1:8080 | /p\n"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p | [::1]:8080 | /p\n"),
    ]:
        assert render(BackendCall(0.0, 0.0, "GET", url, []), Redactor()).decode() == line


async def test_a_backend_host_with_a_password_is_logged_without_it(gateway, backend, capfd) -> None:  # type: ignore[no-untyped-def]
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    base = await backend(app)
    host = base.replace("http://", f"http://ada:{CANARY}@")
    extra = {"telemetry/logging": {"custom_format": "BL %{url} %{host}"}}
    endpoint = {
        "endpoint": "/u",
        "backend": [{"host": [host], "url_pattern": "/x", "disable_host_sanitize": True, "extra_config": extra}],
    }
    service_log = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    client = await gateway(make_config([endpoint], extra_config=service_log))
    r = await client.get("/u")
    assert r.status == 200
    flush_stdout()
    out, _ = capfd.readouterr()
    port = base.rsplit(":", 1)[1]
    lines = [line for line in out.splitlines() if line.startswith("BL ")]
    assert lines == [f"BL http://REDACTED:REDACTED@127.0.0.1:{port}/x 127.0.0.1:{port}"], out
    assert CANARY not in out
