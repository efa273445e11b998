"""``krakenpy audit``: KrakenD's rule ids and severities, krakenpy's own rules, flags and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from krakenpy.commands.audit import DEFAULT_FORMAT, render
from krakenpy.commands.audit_rules import RULES, SEVERITIES, audit
from krakenpy.gateway import load
from tests.conftest import ROOT

#: a configuration that follows every recommendation krakenpy can see
HARDENED: dict[str, Any] = {
    "version": 3,
    "name": "hardened",
    "listen_ip": "127.0.0.1",
    "tls": {"keys": [{"public_key": "cert.pem", "private_key": "key.pem"}]},
    "extra_config": {
        "router": {"hide_version_header": True},
        "security/http": {"frame_deny": True},
        "security/cors": {"allow_origins": ["https://app.example"]},
        "security/bot-detector": {"empty_user_agent_is_bot": True},
        "telemetry/logging": {"level": "INFO"},
        "telemetry/opentelemetry": {"exporters": {"otlp": [{"name": "o", "host": "collector"}]}},
    },
    "endpoints": [
        {
            "endpoint": "/a/{id}",
            "timeout": "2s",
            "extra_config": {
                "auth/validator": {"alg": "RS256", "jwk_url": "https://idp.example/jwks"},
                "qos/ratelimit/router": {"max_rate": 10},
            },
            "backend": [
                {"host": ["h:80"], "url_pattern": "/a/{id}", "extra_config": {"qos/circuit-breaker": {"interval": 5}}},
                {"host": ["h:80"], "url_pattern": "/b/{id}"},
            ],
        }
    ],
}


def _load(tmp_path: Path, doc: dict[str, Any]) -> Any:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return load(path)


def _ids(tmp_path: Path, doc: dict[str, Any], **kw: Any) -> list[str]:
    loaded = _load(tmp_path, doc)
    return [f.rule for f in audit(loaded, ignore=kw.get("ignore", set()), severities=set(SEVERITIES))]


def test_audit_rules_have_unique_ids_and_known_severities() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {r.severity for r in RULES} <= set(SEVERITIES)
    krakend = {
        "1.1.1": "HIGH",
        "1.2.1": "HIGH",
        "2.1.3": "CRITICAL",
        "3.1.2": "HIGH",
        "3.3.4": "CRITICAL",
        "5.1.2": "LOW",
    }
    assert {r.id: r.severity for r in RULES if r.id in krakend} == krakend


def test_audit_hardened_config_only_gets_the_unavoidable(tmp_path: Path) -> None:
    # auth/validator is not implemented by krakenpy at this commit: KP.1.1 says so
    assert set(_ids(tmp_path, HARDENED)) <= {"KP.1.1"}


def test_audit_minimal_config_gets_krakends_baseline(tmp_path: Path) -> None:
    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}]}
    ids = _ids(tmp_path, doc)
    for rule in ("1.2.1", "2.1.2", "2.1.7", "2.2.1", "2.2.2", "3.1.1", "3.1.2", "3.1.3", "4.1.1", "4.1.2", "4.2.1",
                 "4.3.1", "5.2.2", "KP.3.1"):  # fmt: skip
        assert rule in ids, rule
    assert "5.1.2" not in ids and "3.3.1" not in ids


def test_audit_krakend_rules_fire_on_their_settings(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HARDENED))
    doc.update(debug_endpoint=True, echo_endpoint=True, disable_rest=True, use_h2c=True)
    doc["tls"]["disabled"] = True
    endpoint = doc["endpoints"][0]
    endpoint.update(timeout="61s", input_headers=["*"], input_query_strings=["*"])
    endpoint["extra_config"]["proxy"] = {"sequential": True}
    endpoint["backend"][0]["method"] = "POST"
    endpoint["backend"][1]["method"] = "PUT"
    endpoint["backend"][1]["extra_config"] = {"qos/http-cache": {"shared": True}}
    doc["extra_config"]["telemetry/metrics"] = {"collection_time": "60s"}
    ids = set(_ids(tmp_path, doc))
    expected = {"2.1.3", "2.1.8", "2.2.3", "2.2.4", "2.3.1", "3.3.1", "3.3.2", "3.3.3", "3.3.4", "4.1.3", "5.1.1",
                "5.1.2", "5.1.3", "5.1.6", "5.1.7"}  # fmt: skip
    assert expected <= ids


def test_audit_krakenpy_rules_name_where(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HARDENED))
    doc["echo_endpoint"] = True
    del doc["listen_ip"]
    doc["extra_config"]["security/cors"] = {"allow_origins": ["*"], "allow_credentials": True}
    endpoint = doc["endpoints"][0]
    # krakenpy refuses an http jwk_url unless disable_jwk_security says so: both are findings
    endpoint["extra_config"]["auth/validator"].update(jwk_url="http://idp.example/jwks", disable_jwk_security=True)
    del endpoint["extra_config"]["qos/ratelimit/router"]
    endpoint["extra_config"]["modifier/lua-proxy"] = {"pre": "local x = 1", "allow_open_libs": True, "live": True}
    endpoint["backend"][1]["extra_config"] = {"backend/lambda": {"function_param_name": "Id"}}
    loaded = _load(tmp_path, doc)
    found = {f.rule: f.where for f in audit(loaded, ignore=set(), severities=set(SEVERITIES))}
    assert found["KP.1.2"] == ("endpoints[0].extra_config.modifier/lua-proxy",)
    assert found["KP.1.3"] == ("endpoints[0].backend[1].extra_config.backend/lambda",)
    assert found["KP.1.4"] == ("endpoints[0].extra_config.auth/validator",)
    assert found["KP.1.5"] == ("endpoints[0].extra_config.auth/validator",)
    assert found["KP.2.1"] == ("endpoints[0].extra_config",)
    assert found["KP.2.2"] == ("extra_config.security/cors",)
    assert found["KP.3.2"] == ("echo_endpoint",)
    assert found["KP.3.3"] == ("endpoints[0].extra_config.modifier/lua-proxy",)
    assert "KP.3.1" in found


def test_audit_default_format_matches_krakend_layout() -> None:
    from krakenpy.commands.audit_rules import Finding

    text = render([Finding("2.1.2", "HIGH", "No TLS."), Finding("KP.1.2", "HIGH", "Lua.", ("a.b",))], DEFAULT_FORMAT)
    assert text == "2.1.2\t[HIGH]   \tNo TLS.\nKP.1.2\t[HIGH]   \tLua. (at a.b)\n"


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "audit", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_audit_cli_flags_and_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(HARDENED))
    assert _cli("-c", str(path), "-i", "KP.1.1").returncode == 0
    (tmp_path / ".audit_ignore").write_text("KP.1.1\n\n")
    clean = _cli("-c", str(path), "--ignore-file", str(tmp_path / ".audit_ignore"))
    assert clean.returncode == 0 and clean.stderr == ""
    sample = str(ROOT / "sample-configs" / "krakend.json")
    everything = _cli("-c", sample)
    assert everything.returncode == 1
    assert "5.1.3\t[LOW]   \t" in everything.stderr and "2.1.2\t[HIGH]" in everything.stderr
    high = _cli("-c", sample, "-s", "CRITICAL,HIGH", "-i", "2.1.2,KP.9.9")
    assert "[LOW]" not in high.stderr and "2.1.2" not in high.stderr.replace("KP.9.9", "")
    assert "--ignore KP.9.9: no such rule" in high.stderr
    custom = _cli("-c", sample, "-s", "LOW", "-f", "{{ range .recommendations }}{{ .rule }};{{ end }}")
    assert custom.stderr.startswith("3.1.1;5.1.2;5.1.3;")
    assert _cli("-c", sample, "-s", "SEVERE").returncode == 1
    missing = _cli("-c", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
