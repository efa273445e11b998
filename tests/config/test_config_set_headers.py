"""What configuration puts on the wire is checked as Go's client would send it, as `check` errors at
the field's JSON path (never a request every call of which fails, nor a malformed one): a control
byte in a backend `url_pattern` (or a host the gateway does not sanitize), header names that are not
tokens and values with control bytes (`auth/api-keys.propagate_role` and the roles it carries,
`telemetry/audit.headers`). Values that may be secrets are never quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from krakenpy.errors import ConfigError
from krakenpy.gateway import load
from krakenpy.names import valid_header_value


def _errors(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as failed:
        load(path, use_env=False)
    return [str(issue) for issue in failed.value.issues]


def _loads(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    load(path, use_env=False)


def _doc(backend: dict[str, Any], **service: Any) -> dict[str, Any]:
    ok = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/ok"}
    return {
        "version": 3,
        "endpoints": [{"endpoint": "/ok", "backend": [ok]}, {"endpoint": "/b", "backend": [backend]}],
        **service,
    }


@pytest.mark.parametrize("byte", ["\x00", "\r", "\n", "\x1b", "\x7f", "\t"])
def test_a_control_byte_in_a_url_pattern_is_a_check_error(tmp_path: Path, byte: str) -> None:
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": f"/a?api_key=s3cret{byte}x"}
    errors = _errors(tmp_path, _doc(backend))
    assert errors == [
        f"endpoints[1].backend[0].url_pattern: control character {byte!r} at offset 17 not allowed in a backend URL"
    ]
    assert "s3cret" not in "".join(errors)


def test_a_control_byte_in_an_unsanitized_host_is_a_check_error(tmp_path: Path) -> None:
    backend = {"host": ["http://ada:pw\x00@127.0.0.1:8000"], "url_pattern": "/x", "disable_host_sanitize": True}
    errors = _errors(tmp_path, _doc(backend))
    assert errors == ["endpoints[1].backend[0].host[0]: control character '\\x00' not allowed in a backend host"]
    # a sanitized host is rebuilt from what lura's CleanHost pattern matches: the byte is not kept
    backend = {"host": ["http://127.0.0.1:8000\x00"], "url_pattern": "/x"}
    _loads(tmp_path, _doc(backend))


def test_printable_url_patterns_and_hosts_still_load(tmp_path: Path) -> None:
    backend = {
        "host": ["http://ada:pw@127.0.0.1:8000"],
        "url_pattern": "/a/é/{id}?q=%00",
        "disable_host_sanitize": True,
    }
    doc = _doc(backend)
    doc["endpoints"][1]["endpoint"] = "/b/{id}"
    _loads(tmp_path, doc)


def _api_keys(**service: Any) -> dict[str, Any]:
    keys = {"keys": [{"key": "k1", "roles": ["admin", "ops"]}], **service}
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/x"}
    endpoint = {"endpoint": "/a", "extra_config": {"auth/api-keys": {"roles": ["admin"]}}, "backend": [backend]}
    return {"version": 3, "extra_config": {"auth/api-keys": keys}, "endpoints": [endpoint]}


@pytest.mark.parametrize("name", ["X Role", "X-Role:", "X-Röle", "X-Role\r\nX-Injected"])
def test_api_keys_propagate_role_header_name_go_refuses_is_a_check_error(tmp_path: Path, name: str) -> None:
    errors = _errors(tmp_path, _api_keys(propagate_role=name))
    assert errors == [f"extra_config.auth/api-keys.propagate_role: invalid header field name {name!r}"]


def test_api_keys_roles_with_control_bytes_are_a_check_error_when_propagated(tmp_path: Path) -> None:
    doc = _api_keys(propagate_role="X-Role")
    doc["extra_config"]["auth/api-keys"]["keys"][0]["roles"] = ["admin", "o\nps"]
    errors = _errors(tmp_path, doc)
    assert errors == [
        "extra_config.auth/api-keys.keys[0].roles[1]: invalid header field value (propagate_role): "
        "control characters are not allowed"
    ]
    del doc["extra_config"]["auth/api-keys"]["propagate_role"]  # not sent anywhere: as before
    _loads(tmp_path, doc)
    _loads(tmp_path, _api_keys(propagate_role="X-Role"))


def test_audit_sink_header_names_and_values_are_checked(tmp_path: Path) -> None:
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/x"}
    audit = {
        "sink": "http",
        "url": "http://127.0.0.1:9/a",
        "headers": {"X Key": "v", "X-Token": "t0k\r\nen", "X-Ok": "1"},
    }
    doc = {
        "version": 3,
        "extra_config": {"telemetry/audit": audit},
        "endpoints": [{"endpoint": "/a", "backend": [backend]}],
    }
    errors = _errors(tmp_path, doc)
    assert errors == [
        "extra_config.telemetry/audit.headers: invalid header field name 'X Key'",
        "extra_config.telemetry/audit.headers.X-Token: invalid header field value: control characters are not allowed",
    ]
    audit["headers"] = {"X-Ok": "1", "Authorization": "Bearer a\tb"}
    _loads(tmp_path, doc)


def test_valid_header_value_is_go_s_rule() -> None:
    assert valid_header_value("a\tb") and valid_header_value("é") and valid_header_value("")
    for c in [*map(chr, range(0x20)), "\x7f"]:
        assert valid_header_value(c) == (c == "\t"), repr(c)
