"""telemetry/opentelemetry-security (KrakenD Enterprise): a real OTLP/HTTP receiver on 127.0.0.1
gets the exporter's extra header; the secret never shows in repr, routes or check output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.telemetry.opentelemetry_security import COMPONENT
from krakenpy.errors import ConfigError
from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.qos.helpers import site_for
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import ROOT

SECRET = "nr-license-SECRET-7f3a"


class HeaderReceiver(Receiver):
    """The shared receiver, also keeping each export's request headers."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []

    async def _traces(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return await super()._traces(request)


def _config(base: str, receiver_port: int, security: dict[str, Any]) -> dict[str, Any]:
    otel = {
        "service_name": "gw",
        "exporters": {
            "otlp": [
                {"name": "newrelic", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True},
                {"name": "plain", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True},
            ]
        },
    }
    endpoints = [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}]
    return doc(endpoints, extra_config={"telemetry/opentelemetry": otel, "telemetry/opentelemetry-security": security})


async def test_opentelemetry_security_header_reaches_the_receiver(served: Any, upstream: Any) -> None:
    receiver = HeaderReceiver()
    port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    base = await upstream(recording_app([], {"a": 1}))
    security = {"otlp": [{"name": "newrelic", "headers": {"Api-Key": SECRET, "X-Team": "edge"}}]}
    s = await served(_config(base, port, security))
    assert (await s.client.get("/a")).status == 200
    exporter = s.gateway.resources.state[EXPORTER]
    await exporter.flush()
    keyed = [h for h in receiver.headers if h.get("api-key") == SECRET or h.get("Api-Key") == SECRET]
    assert len(keyed) == 1 and len(receiver.headers) == 2  # the named exporter only
    assert {k.lower(): v for k, v in keyed[0].items()}["x-team"] == "edge"
    assert receiver.spans()  # a real OTLP export, with the credential
    assert SECRET not in repr(exporter.targets) and SECRET not in repr(
        s.gateway.resources.options("", COMPONENT.namespace)
    )


def test_opentelemetry_security_bad_header_names_have_json_paths() -> None:
    value = {"otlp": [{"name": "nr", "headers": {"api key": SECRET}}, {"name": "b", "headers": {"k": "a\nb"}}]}
    site = site_for(COMPONENT.namespace, value, level="service")
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, site)
    paths = [i.path for i in info.value.issues]
    assert paths == [
        "extra_config.telemetry/opentelemetry-security.otlp[0].headers",
        "extra_config.telemetry/opentelemetry-security.otlp[1].headers.k",
    ]
    assert SECRET not in str(info.value)


def test_opentelemetry_security_check_and_routes_never_print_the_secret(tmp_path: Path) -> None:
    security = {"otlp": [{"name": "newrelic", "headers": {"api-key": SECRET}}, {"name": "gone", "headers": {"k": ""}}]}
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_config("http://127.0.0.1:9000", 4318, security)))
    checked = check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = checked.stdout + checked.stderr
    assert "otlp[1].name: no OTLP exporter named 'gone'" in out and "'gone' gets a header with an empty value" in out
    assert "KrakenD Enterprise namespace: not supported" not in out
    routes = subprocess.run(
        [sys.executable, "-m", "krakenpy", "routes", "-c", str(config), "--format", "json"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert routes.returncode == 0, routes.stderr
    assert "opentelemetry-security" in routes.stdout
    assert SECRET not in checked.stdout + checked.stderr + routes.stdout + routes.stderr


@pytest.mark.parametrize("value", [7312455901234, ["nr-license-LISTED-9c1d"]], ids=["number", "list"])
def test_opentelemetry_security_a_non_string_credential_is_never_printed(tmp_path: Path, value: Any) -> None:
    """The schema's message names the type, never the value: neither ``check`` nor ``run`` prints it."""
    security = {"otlp": [{"name": "newrelic", "headers": {"api-key": value}}]}
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_config("http://127.0.0.1:9000", 4318, security)))
    secret = str(value if isinstance(value, int) else value[0])
    checked = check_config(config)
    assert checked.returncode == 1 and "headers.api-key: expected a string" in checked.stdout + checked.stderr
    run = subprocess.run(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "expected a string" in run.stdout + run.stderr
    assert secret not in checked.stdout + checked.stderr + run.stdout + run.stderr


def test_opentelemetry_security_bin_names_and_non_ascii_values_have_json_paths() -> None:
    headers = {"auth-bin": "c2VjcmV0", "x-team": "équipe", "x-ok": "edge"}
    value = {"otlp": [{"name": "nr", "headers": headers}]}
    site = site_for(COMPONENT.namespace, value, level="service")
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, site)
    where = "extra_config.telemetry/opentelemetry-security.otlp[0].headers"
    assert [(i.path, i.message) for i in info.value.issues] == [
        (f"{where}.auth-bin", "a -bin name is binary gRPC metadata: not supported"),
        (f"{where}.x-team", "expected printable ASCII (no control characters)"),
    ]
    assert "c2VjcmV0" not in str(info.value) and "équipe" not in str(info.value)
