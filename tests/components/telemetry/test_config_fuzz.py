"""Telemetry configs a fuzz run found mishandled: ``check`` and ``run`` refuse them with the JSON
path and exit 1, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli_gateway import check_config, gateway_process, stop
from tests.conftest import ROOT, free_port

_BACKEND = [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]


def _config(tmp_path: Path, extra: dict[str, Any], port: int = 8080) -> Path:
    config = tmp_path / "krakend.json"
    doc = {"version": 3, "port": port, "extra_config": extra, "endpoints": [{"endpoint": "/a", "backend": _BACKEND}]}
    config.write_text(json.dumps(doc))
    return config


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    """``krakenpy run`` on a config it must refuse (it ends by itself)."""
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config)],
        cwd=config.parent,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"telemetry/access_log": {"file": "a\u0000b.log"}}, "extra_config.telemetry/access_log.file"),
        ({"telemetry/audit": {"sink": "file", "path": "a\u0000b.log"}}, "extra_config.telemetry/audit.path"),
    ],
)
def test_a_nul_in_a_log_file_name_is_an_error_at_its_path(tmp_path: Path, extra: dict[str, Any], where: str) -> None:
    config = _config(tmp_path, extra)
    message = f"ERROR: {where}: cannot open 'a\\x00b.log': a NUL character in the name"
    for out in (check_config(config), _run(config)):
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert message in out.stderr, out.stderr


def _side_listener(service: str, side: int) -> dict[str, Any]:
    """The ``service``'s side listener on ``a..b``: an empty label, a name no resolver takes."""
    if service == "Metrics":
        return {"telemetry/metrics": {"listen_address": f"a..b:{side}"}}
    prometheus = [{"name": "p", "port": side, "host": "a..b"}]
    return {"telemetry/opentelemetry": {"exporters": {"prometheus": prometheus}}}


@pytest.mark.parametrize("service", ["Metrics", "OpenTelemetry"])
def test_a_side_listener_on_a_name_idna_refuses_is_logged_and_the_gateway_serves(tmp_path: Path, service: str) -> None:
    # as for a name that does not resolve (KrakenD too logs the listener's error and serves on);
    # getaddrinfo's UnicodeError killed the worker five times, then the gateway
    port, side = free_port(), free_port()
    config = _config(tmp_path, _side_listener(service, side), port)
    assert check_config(config).returncode == 0
    with gateway_process(config, port=port) as proc:
        out, err = stop(proc)
    assert proc.returncode == 0 and "Traceback" not in out + err, err
    assert f"[SERVICE: {service}] cannot listen on a..b:{side}: " in out + err, err


@pytest.mark.parametrize(
    ("namespace", "key", "target", "reason"),
    [
        ("telemetry/access_log", "file", ".", "cannot open {}: it is a directory"),
        ("telemetry/audit", "path", "no/a.log", "cannot create {}: no such directory {}/no"),
    ],
)
def test_run_refuses_a_log_file_it_cannot_open_in_checks_words(
    tmp_path: Path, namespace: str, key: str, target: str, reason: str
) -> None:
    # run said "Is a directory" / "No such file or directory" where check says why
    name = str(tmp_path / target)
    extra: dict[str, Any] = {namespace: {key: name, **({"sink": "file"} if namespace == "telemetry/audit" else {})}}
    config = _config(tmp_path, extra)
    message = f"ERROR: extra_config.{namespace}.{key}: " + reason.format(name, tmp_path)
    for out in (check_config(config), _run(config)):
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert message in out.stderr.splitlines(), out.stderr


def test_an_access_log_and_an_audit_file_both_wrong_are_both_reported(tmp_path: Path) -> None:
    # the first one opened stopped the build: a second run to learn of the other
    missing = str(tmp_path / "no" / "access.log")
    extra = {
        "telemetry/access_log": {"file": missing},
        "telemetry/audit": {"sink": "file", "path": str(tmp_path)},
    }
    config = _config(tmp_path, extra)
    expected = [
        f"ERROR: extra_config.telemetry/access_log.file: cannot create {missing}: no such directory {tmp_path}/no",
        f"ERROR: extra_config.telemetry/audit.path: cannot open {tmp_path}: it is a directory",
    ]
    for out in (check_config(config), _run(config)):
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")] == expected, out.stderr


def test_target_info_escapes_a_quote_and_a_newline_of_the_configured_resource(tmp_path: Path) -> None:
    # written raw, they cut target_info's line: the whole scrape refused by Prometheus
    port, prom = free_port(), free_port()
    otel = {
        "service_name": 'gw "a"\nb',
        "deploy_env": "x\\y",
        "exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]},
    }
    config = _config(tmp_path, {"telemetry/opentelemetry": otel}, port)
    with gateway_process(config, port=port):
        body = urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=10).read().decode()
    [info] = [f for f in text_string_to_metric_families(body) if f.name == "target_info"]
    labels = info.samples[0].labels
    assert labels["service_name"] == 'gw "a"\nb' and labels["deployment_environment"] == "x\\y", labels
