"""Fields accepted and not acted on: a warning at each one's JSON path, from ``check`` (with or without
``--skip-components``), ``run`` and reloads (krakenpy/config/ignored.py, ``Component.ignored``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from krakenpy.config.ignored import INERT, document_ignored, ignored_issues
from krakenpy.gateway import load
from tests.conftest import ROOT, free_port
from tests.server.process import Gateway

WHY = "accepted; no effect in krakenpy"


def _paths(issues: Any) -> list[str]:
    return [issue.path for issue in issues]


def test_ignored_field_syntax_nested_lists_and_values() -> None:
    value = {
        "a": True,
        "off": False,
        "zero": 0,
        "empty": [],
        "list": [{"x": 1}, {"y": 1}, {"x": "on"}],
        "obj": {"deep": {"leaf": "v"}},
        "sd": "static",
        "kind": "dns",
    }
    fields = {
        "a": "why a",
        "off": "-",
        "zero": "-",
        "empty": "-",
        "missing": "-",
        "list[].x": "why x",
        "obj.deep.leaf": "why leaf",
        "sd=dns": "-",
        "kind=dns": "why kind",
    }
    issues = ignored_issues(value, "extra_config.ns", fields)
    assert [str(i) for i in issues] == [
        f"extra_config.ns.a: {WHY} (why a)",
        f"extra_config.ns.list[0].x: {WHY} (why x)",
        f"extra_config.ns.list[2].x: {WHY} (why x)",
        f"extra_config.ns.obj.deep.leaf: {WHY} (why leaf)",
        f"extra_config.ns.kind: {WHY} (why kind)",
    ]
    assert all(i.severity == "warning" for i in issues)
    # "[]" alone: the value itself is the list (validation/cel)
    assert _paths(ignored_issues([{}, {"m": "x"}], "p", {"[].m": "w"})) == ["p[1].m"]
    assert ignored_issues("not an object", "p", {"a.b": "w", "[].c": "w"}) == []


def test_ignored_document_root_and_backend_fields() -> None:
    backend = {"url_pattern": "/", "sd": "dns", "sd_scheme": "https"}
    doc = {
        "version": 3,
        "use_h2c": True,
        "dns_cache_ttl": "30s",
        "client_tls": {"allow_insecure_connections": True},
        # agents are served: only the field without effect is reported
        "async_agent": [{"name": "a", "connection": {"health_interval": "5s"}}],
        "dialer_fallback_delay": "300ms",
        "tls": {"prefer_server_cipher_suites": True},
        "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/", "sd": "static"}, backend]}],
    }
    # DNS SRV discovery is served (krakenpy.sd): sd, sd_scheme and dns_cache_ttl are no longer reported
    assert _paths(document_ignored(doc)) == [
        "use_h2c",
        "async_agent[0].connection.health_interval",
        "client_tls",
        "dialer_fallback_delay",
        "tls.prefer_server_cipher_suites",
    ]


def _config(tmp_path: Path, port: int = 0) -> Path:
    limit = {"client_max_rate": 1, "strategy": "ip", "num_shards": 8}
    doc = {
        "version": 3,
        "port": port or free_port(),
        "listen_ip": "127.0.0.1",
        "expect_continue_timeout": "1s",
        "extra_config": {
            "router": {"app_engine": True, "use_h2c": False, "return_error_msg": True},
            "security/http": {"hpkp_public_key": "pin-sha256=x"},
            "qos/ratelimit/tiered": {"tier_key": "X-Tier", "tiers": [{"tier_value_as": "*", "ratelimit": limit}]},
        },
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {
                    "proxy": {"combiner": "mine"},
                    "validation/cel": [{"check_expr": "true", "mod_expr": "x"}],
                },
                "backend": [
                    {
                        "host": ["http://127.0.0.1:19"],
                        "url_pattern": "/x",
                        "extra_config": {"backend/http/client": {"client_tls": {"allow_insecure_connections": True}}},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return path


EXPECTED = [
    "expect_continue_timeout",
    "extra_config.router.app_engine",
    "extra_config.security/http.hpkp_public_key",
    "extra_config.qos/ratelimit/tiered.tiers[0].ratelimit.num_shards",
    "endpoints[0].extra_config.proxy.combiner",
    "endpoints[0].extra_config.validation/cel[0].mod_expr",
    "endpoints[0].backend[0].extra_config.backend/http/client.client_tls",
]


def test_ignored_component_and_core_fields_are_load_warnings(tmp_path: Path) -> None:
    loaded = load(_config(tmp_path))
    ignored = [w for w in loaded.warnings if w.message.startswith((WHY, INERT))]
    assert _paths(ignored) == EXPECTED


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def _warned(text: str) -> list[str]:
    return [line.split(": ")[1] for line in text.splitlines() if f": {WHY} (" in line or f": {INERT} (" in line]


def test_ignored_check_prints_each_path_with_and_without_skip_components(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    for args in (["check", "-c", config], ["check", "--skip-components", "-c", config]):
        out = _cli(*args)
        assert out.returncode == 0, out.stderr
        assert sorted(_warned(out.stderr)) == sorted(EXPECTED)
        assert "Syntax OK!" in out.stdout


def test_ignored_run_prints_each_path(tmp_path: Path) -> None:
    gateway = Gateway(_config(tmp_path), "-w", "1", cwd=tmp_path)
    try:
        gateway.wait_log(r"listening on ")
        assert sorted(_warned(gateway.log)) == sorted(EXPECTED)
    finally:
        assert gateway.stop() == 0


def test_ignored_fields_krakend_ignores_too_say_so() -> None:
    """A why starting "as in KrakenD: " names a field KrakenD does not act on either: the warning says
    krakenpy behaves as KrakenD there, not that krakenpy lacks something."""
    issues = ignored_issues({"a": 1, "b": 2}, "x", {"a": "as in KrakenD: it reads a as 0", "b": "not built"})
    assert [str(i) for i in issues] == [
        "x.a: accepted; no effect, as in KrakenD (it reads a as 0)",
        f"x.b: {WHY} (not built)",
    ]
