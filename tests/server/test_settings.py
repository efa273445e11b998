"""Service settings the process acts on: tls and plugin, checked for check, run and reloads; what a
reload cannot change. (Top-level fields with no effect: tests/config/test_ignored.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from krakenpy.config.build import build_service
from krakenpy.server.settings import RuntimeSettings, restart_changes, runtime_settings
from tests.server.certs import Authority


def _doc(**service: Any) -> dict[str, Any]:
    endpoint = {"endpoint": "/a", "backend": [{"host": ["h:80"], "url_pattern": "/"}]}
    return {"version": 3, "endpoints": [endpoint], **service}


def _check(doc: dict[str, Any], **kwargs: Any) -> tuple[RuntimeSettings | None, list[str], list[str]]:
    settings, errors, warnings = runtime_settings(build_service(doc), **kwargs)
    return settings, [str(e) for e in errors], [str(w) for w in warnings]


def test_settings_plugin_block_alone_warns() -> None:
    settings, errors, warnings = _check(_doc(plugin={"folder": "/opt/krakend/plugins/", "pattern": ".so"}))
    assert settings is not None and errors == []
    assert warnings == [
        "plugin: the folder is not read: nothing in this config needs it (no plugin/* namespace names a plugin)"
    ]


def test_settings_plugin_block_with_only_built_in_plugins_is_not_needed() -> None:
    extra = {
        "plugin/http-server": {"name": ["url-rewrite"], "url-rewrite": {"literal": {"/a": "/b"}}},
        "plugin/req-resp-modifier": {"name": []},
    }
    doc = _doc(plugin={"folder": "/p"}, extra_config=extra)
    doc["endpoints"][0]["backend"][0]["extra_config"] = {"plugin/http-client": {"name": "no-redirect"}}
    settings, errors, warnings = _check(doc)
    assert settings is not None and errors == []
    assert warnings == [
        "plugin: the folder is not read: nothing in this config needs it (krakenpy builds in no-redirect, url-rewrite)"
    ]


def test_settings_go_plugin_without_a_plugin_block_has_no_effect() -> None:
    """KrakenD loads no plugin without the block: the name does nothing there either (a warning)."""
    extra = {"plugin/http-server": {"name": ["custom", "ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"]}}}
    settings, errors, warnings = _check(_doc(extra_config=extra))
    assert settings is not None and errors == []
    assert warnings == [
        "extra_config.plugin/http-server: Go plugin(s) custom not built into krakenpy, and no plugin block loads "
        "them: no effect, as in KrakenD"
    ]


def test_settings_plugin_block_used_by_a_namespace_is_refused_unless_allowed() -> None:
    doc = _doc(plugin={"folder": "/p"}, extra_config={"plugin/http-server": {"name": ["auth-request"]}})
    settings, errors, _ = _check(doc)
    assert settings is None
    assert errors == [
        "plugin: Go plugins cannot be loaded by krakenpy, so what they do for extra_config.plugin/http-server "
        "(auth-request) would be skipped: refused (see --allow-unsupported)"
    ]
    settings, errors, warnings = _check(doc, allow_unsupported=True)
    assert settings is not None and errors == []
    assert warnings[0].endswith("(accepted by --allow-unsupported)")


def test_settings_tls_files_are_checked_unless_skipped(tmp_path: Path) -> None:
    doc = _doc(tls={"keys": [{"public_key": str(tmp_path / "x.crt"), "private_key": str(tmp_path / "x.key")}]})
    settings, errors, _ = _check(doc)
    assert settings is None
    assert errors == [
        f"tls.keys[0].public_key: cannot read {tmp_path / 'x.crt'}: No such file or directory",
        f"tls.keys[0].private_key: cannot read {tmp_path / 'x.key'}: No such file or directory",
    ]
    settings, errors, _ = _check(doc, files=False)  # check --skip-components
    assert errors == [] and settings is not None and settings.tls is not None
    assert _check(_doc(tls={}), files=False)[1] == [
        "tls: public key not defined: set keys[] (or disabled: true for plain HTTP)"
    ]


def test_settings_restart_changes_name_what_a_reload_cannot_apply(tmp_path: Path) -> None:
    pair = Authority(tmp_path).issue("a.test")
    tls = {"keys": [{"public_key": str(pair.cert), "private_key": str(pair.key)}]}
    base = _check(_doc(port=8080))[0]
    assert base is not None
    moved = _check(_doc(port=9090, listen_ip="127.0.0.1"))[0]
    assert moved is not None
    assert restart_changes(base, moved) == ["listen address *:8080 → 127.0.0.1:9090"]
    secure = _check(_doc(port=8080, tls=tls))[0]
    assert secure is not None
    assert restart_changes(base, secure) == ["TLS turned on"]
    curved = _check(_doc(port=8080, tls={**tls, "curve_preferences": [23]}))[0]
    assert curved is not None
    assert restart_changes(secure, curved) == ["tls.curve_preferences"]
    timeouts = _check(_doc(port=8080, read_timeout="1s", tls={**tls, "min_version": "TLS12"}))[0]
    assert timeouts is not None
    assert restart_changes(secure, timeouts) == []  # limits and the rest of tls are applied live
    assert _check(_doc(port=8080), port=7000)[0] == RuntimeSettings(base.limits, None, "", 7000)
