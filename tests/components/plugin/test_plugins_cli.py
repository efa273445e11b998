"""The built-in plugins through the real CLI: ``check`` errors at JSON paths, Go plugins refused, and
``run`` serving ip-filter and url-rewrite."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _check(tmp_path: Path, doc: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    return check_config(Path(_write(tmp_path, doc)), *extra)


def _doc(plugins: dict[str, Any], **service: Any) -> dict[str, Any]:
    endpoint = {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:8000"], "url_pattern": "/"}]}
    return {"version": 3, "endpoints": [endpoint], "extra_config": {"plugin/http-server": plugins}, **service}


def test_plugins_cli_check_bad_plugin_config_names_the_json_path(tmp_path: Path) -> None:
    bad = {
        "name": ["ip-filter", "url-rewrite"],
        "ip-filter": {"CIDR": ["300.1.1.1"]},
        "url-rewrite": {"regexp": [["(", "/x"]]},
    }
    out = _check(tmp_path, _doc(bad))
    assert out.returncode == 1
    assert "extra_config.plugin/http-server.ip-filter.CIDR[0]: '300.1.1.1' is not an IP address or CIDR" in out.stderr
    assert "extra_config.plugin/http-server.url-rewrite.regexp[0][0]: invalid regular expression" in out.stderr
    schema = _check(tmp_path, _doc({"name": ["ip-filter"], "ip-filter": {"allow": True}}))
    assert schema.returncode == 1 and "extra_config.plugin/http-server.ip-filter" in schema.stderr
    assert "Traceback" not in out.stderr + schema.stderr


def test_plugins_cli_check_refuses_a_go_plugin_the_plugin_block_would_load(tmp_path: Path) -> None:
    doc = _doc({"name": ["custom", "ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"]}}, plugin={"folder": "/p"})
    out = _check(tmp_path, doc)
    assert out.returncode == 1
    assert "extra_config.plugin/http-server (custom) would be skipped: refused (see --allow-unsupported)" in out.stderr
    assert _check(tmp_path, doc, "--allow-unsupported").returncode == 0
    doc["extra_config"]["plugin/http-server"]["name"] = ["ip-filter"]
    built_in = _check(tmp_path, doc)
    assert built_in.returncode == 0, built_in.stderr
    assert (
        "plugin: the folder is not read: nothing in this config needs it (krakenpy builds in ip-filter)"
        in built_in.stderr
    )


def test_plugins_cli_run_serves_ip_filter_and_url_rewrite(tmp_path: Path) -> None:
    port = free_port()
    plugins = {
        "name": ["ip-filter", "url-rewrite"],
        "ip-filter": {"CIDR": ["10.0.0.0/8"], "allow": False, "client_ip_headers": ["X-Real-IP"]},
        "url-rewrite": {"literal": {"/alias": "/__echo/aliased"}},
    }
    _write(tmp_path, _doc(plugins, port=port, echo_endpoint=True))
    with gateway_process(tmp_path / "krakend.json", port=port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/alias?q=1", timeout=5) as resp:
            echoed = json.loads(resp.read())
        assert echoed["req_uri"] == "/__echo/aliased?q=1"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/alias", headers={"X-Real-IP": "10.2.3.4"})
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("not filtered")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403 and exc.read() == b""


def test_plugins_cli_run_ip_filter_on_a_dual_stack_listener_trusts_its_ipv4_proxy(tmp_path: Path) -> None:
    """``listen_ip: "::"``: an IPv4 peer arrives as ::ffff:127.0.0.1 and is still the trusted proxy."""
    port = free_port()
    filt = {"CIDR": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1"], "client_ip_headers": ["X-Real-IP"]}
    _write(tmp_path, _doc({"name": ["ip-filter"], "ip-filter": filt}, port=port, listen_ip="::", echo_endpoint=True))
    with gateway_process(tmp_path / "krakend.json", port=port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__echo/x", timeout=5) as resp:
            assert resp.status == 200
        denied = urllib.request.Request(f"http://127.0.0.1:{port}/__echo/x", headers={"X-Real-IP": "10.2.3.4"})
        try:
            urllib.request.urlopen(denied, timeout=5)
            raise AssertionError("the balancer's X-Real-IP was ignored: the deny list was bypassed")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
