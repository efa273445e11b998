"""KrakenD's init rules and defaults (lura ``config.Init``) in :func:`build_service`."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.config.build import build_service, sanitize_host
from krakenpy.config.durations import parse_duration
from krakenpy.config.loader import apply_env_overrides, read_document
from krakenpy.errors import ConfigError
from krakenpy.names import capitalize


def _doc(endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"version": 3, "endpoints": endpoints, **extra}


def _backend(url: str = "/", **extra: Any) -> dict[str, Any]:
    return {"host": ["http://h:8080"], "url_pattern": url, **extra}


def _errors(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_service(doc)
    return [str(i) for i in info.value.issues]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3s", 3.0), ("200ms", 0.2), ("1m30s", 90.0), ("1.5h", 5400.0), ("30us", 30e-6), ("10µs", 10e-6), ("0", 0.0)],
)
def test_duration_parses_go_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["3", "3 s", "s", "", "1x", True])
def test_duration_rejects_garbage(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_model_defaults_follow_krakend() -> None:
    svc = build_service(_doc([{"endpoint": "/a", "backend": [_backend()]}]))
    assert svc.port == 8080
    assert svc.timeout == 2.0
    endpoint = svc.endpoints[0]
    assert endpoint.method == "GET"
    assert endpoint.timeout == 2.0
    assert endpoint.input_headers == ("Content-Type",)
    assert endpoint.input_query_strings == ()
    assert endpoint.output_encoding == "json"
    backend = endpoint.backends[0]
    assert backend.method == "GET"
    assert backend.encoding == "json"
    assert backend.timeout == 2.0


def test_model_endpoint_inherits_service_values_and_backend_gets_endpoint_timeout() -> None:
    doc = _doc(
        [{"endpoint": "/a", "method": "post", "timeout": "5s", "backend": [_backend(timeout="9s")]}],
        timeout="1s",
        cache_ttl="1m",
        host=["svc:9000"],
    )
    doc["endpoints"][0]["backend"][0].pop("host")
    svc = build_service(doc)
    endpoint = svc.endpoints[0]
    assert endpoint.method == "POST"
    assert endpoint.timeout == 5.0
    assert endpoint.cache_ttl == 60.0
    assert endpoint.backends[0].timeout == 5.0  # a backend timeout is overwritten, as in CE
    assert endpoint.backends[0].hosts == ("http://svc:9000",)
    assert endpoint.backends[0].method == "POST"


def test_model_url_pattern_keys_are_capitalised() -> None:
    svc = build_service(_doc([{"endpoint": "/u/{id}/{fn_name}", "backend": [_backend("/x/{id}?f={fn_name}")]}]))
    backend = svc.endpoints[0].backends[0]
    assert backend.url_pattern == "/x/{{.Id}}?f={{.Fn_name}}"
    assert backend.url_keys == ("Id", "Fn_name")
    assert capitalize("fnName") == "FnName"


def test_model_allows_sequential_and_jwt_placeholders() -> None:
    endpoint = {"endpoint": "/a", "backend": [_backend("/x"), _backend("/y/{resp0_id}/{JWT.sub}")]}
    svc = build_service(_doc([endpoint]))
    assert svc.endpoints[0].backends[1].url_keys == ("Resp0_id", "JWT.sub")


def test_model_reports_every_init_error_with_its_path() -> None:
    errors = _errors(
        _doc(
            [
                {"endpoint": "/a", "backend": [_backend("/b/{id}")]},
                {"endpoint": "/b", "backend": []},
                {"endpoint": "/__debug/x", "backend": [_backend()]},
                {"endpoint": "/c", "backend": [{"host": ["http://h/path"], "url_pattern": "/"}]},
                {"endpoint": "/d", "output_encoding": "no-op", "backend": [_backend(), _backend()]},
                {"endpoint": "/a", "backend": [_backend()]},
                {"endpoint": "/e", "method": "HEAD", "backend": [_backend()]},
            ],
            version=2,
        )
    )
    text = "\n".join(errors)
    assert "version: unsupported version: 2 (want: 3)" in text
    assert "endpoints[0].backend[0].url_pattern: undefined output param 'id'" in text
    assert "endpoints[1].backend: ignoring the 'GET /b' endpoint, since it has 0 backends defined" in text
    assert "endpoints[2].endpoint: ignoring the 'GET /__debug/x' endpoint, since it is invalid" in text
    assert "endpoints[3].backend[0].host[0]: host 'http://h/path' not valid: invalid host" in text
    assert "endpoints[4].output_encoding: can not use NoOp encoding" in text
    assert "endpoints[5].endpoint: duplicate endpoint 'GET /a'" in text
    assert "endpoints[6].method: unsupported method 'HEAD'" in text


def test_model_noop_output_forces_noop_backends() -> None:
    svc = build_service(_doc([{"endpoint": "/a", "output_encoding": "no-op", "backend": [_backend(encoding="json")]}]))
    assert svc.endpoints[0].backends[0].encoding == "no-op"


def test_model_same_path_other_param_names_conflicts_only_within_a_method() -> None:
    ok = _doc(
        [
            {"endpoint": "/a/{x}", "backend": [_backend("/{x}")]},
            {"endpoint": "/a/{y}", "method": "DELETE", "backend": [_backend("/{y}")]},
        ]
    )
    build_service(ok)
    bad = _doc(
        [
            {"endpoint": "/a/{x}", "backend": [_backend("/{x}")]},
            {"endpoint": "/a/{y}", "backend": [_backend("/{y}")]},
        ]
    )
    assert any("conflicts with '/a/{x}'" in e for e in _errors(bad))


@pytest.mark.parametrize(
    ("host", "clean"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("https://api.example.com/", "https://api.example.com"),
        ("http://10.0.0.1:80", "http://10.0.0.1:80"),
        ("http://h/path", None),
        ("http://[::1]:8080", None),
    ],
)
def test_model_sanitize_host_like_lura(host: str, clean: str | None) -> None:
    assert sanitize_host(host) == clean


def test_loader_env_overrides_convert_to_the_replaced_type() -> None:
    doc: dict[str, Any] = {"version": 3, "port": 8080, "name": "x"}
    changed = apply_env_overrides(doc, {"KRAKEND_PORT": "9000", "KRAKEND_NAME": "prod", "OTHER": "1"})
    assert doc["port"] == 9000
    assert doc["name"] == "prod"
    assert sorted(changed) == ["name", "port"]


def test_loader_reads_yaml_and_toml_by_extension(tmp_path) -> None:
    (tmp_path / "k.yaml").write_text("version: 3\nendpoints: []\n")
    (tmp_path / "k.toml").write_text("version = 3\nendpoints = []\n")
    assert read_document(tmp_path / "k.yaml") == {"version": 3, "endpoints": []}
    assert read_document(tmp_path / "k.toml") == {"version": 3, "endpoints": []}


def test_loader_rejects_non_object_and_bad_json_with_position(tmp_path) -> None:
    (tmp_path / "a.json").write_text("[1]")
    (tmp_path / "b.json").write_text('{\n  "version": 3,\n  x\n}')
    with pytest.raises(ConfigError, match="must be an object"):
        read_document(tmp_path / "a.json")
    with pytest.raises(ConfigError, match="line 3"):
        read_document(tmp_path / "b.json")


def test_model_server_timeouts_are_typed_fields() -> None:
    svc = build_service(
        _doc(
            [{"endpoint": "/a", "backend": [_backend()]}],
            read_timeout="5s",
            write_timeout="7s",
            read_header_timeout="2s",
            idle_timeout="1m",
            max_header_bytes=4096,
        )
    )
    assert (svc.read_timeout, svc.write_timeout, svc.read_header_timeout, svc.idle_timeout) == (5.0, 7.0, 2.0, 60.0)
    assert svc.max_header_bytes == 4096
    assert "read_timeout" in _errors(_doc([{"endpoint": "/a", "backend": [_backend()]}], read_timeout="soon"))[0]
