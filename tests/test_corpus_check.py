"""``check`` over the public corpus of real KrakenD configs (see :mod:`tests.corpus`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakenpy.errors import ConfigError
from krakenpy.gateway import load as load_service
from tests.corpus import CORPUS, FILES, needs_corpus

#: configs KrakenD itself would not run, with the reason krakenpy must give
EXPECTED_FAILURES = {
    "030-boerenboodschap-gateway-root.json": "duplicate endpoint 'GET /products'",
}
#: configs KrakenD starts and then fails some endpoints of: krakenpy starts them too, with these warnings
#: (`check --lint` refuses them)
DEGRADED = {
    # backends without any host: 500 ('no hosts available') on every request of those endpoints
    "043-gzeu-trusthire.json": "endpoints[0].backend[0].host: no host",
    "053-ahmadkashif-systemdesign-notifications.json": "endpoints[1].backend[0].host: no host",
    # JWT validators without a usable key source: 401 on every request of the endpoint
    "037-ciri2-gateway-template.json": "not an http(s) URL: '$JWK_URL'",
    "051-rendiffdev-ffmpeg-api.json": "no key source: set jwk_url or jwk_local_path",
}
#: configs KrakenD's `check` passes but its `run` refuses; `check` refuses them too (the listener settings)
RUNTIME_FAILURES = {
    "025-timkuijpers2002-medix-hub-gateway.json": "tls: public key not defined",  # "tls": {} turns TLS on
}


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_config_check_accepts_ce_valid_configs(path: Path) -> None:
    expected = EXPECTED_FAILURES.get(path.name)
    if expected is None:
        loaded = load_service(path, use_env=False)
        if path.name in DEGRADED:
            assert any(DEGRADED[path.name] in str(w) for w in loaded.warnings)
            with pytest.raises(ConfigError):  # (some fail --lint earlier, on unknown keys)
                load_service(path, use_env=False, lint=True)
        return
    with pytest.raises(ConfigError) as info:
        load_service(path, use_env=False)
    assert expected in str(info.value)


@needs_corpus
@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("002-krakend-playground-enterprise.json", "revoke_server_ping_url"),
    ],
)
def test_corpus_config_check_names_unsupported_namespaces(name: str, namespace: str) -> None:
    loaded = load_service(CORPUS / name, use_env=False)
    assert any(namespace in str(w) for w in loaded.warnings)


@needs_corpus
def test_corpus_config_check_parses_the_grpc_server_methods() -> None:
    """014's grpc.server is served: no warning; its method and payload_params are parsed."""
    loaded = load_service(CORPUS / "014-krakend-examples-grpc.json", use_env=False)
    assert not [w for w in loaded.warnings if "grpc" in w.path]
    (method,) = loaded.parsed[""]["grpc"].server.methods
    assert method.route == "/flight_finder.Flights/FindFlight" and method.payload_params == {"page.cursor": "cursor"}
    assert method.input_headers == ("x-my-custom-header",)


@needs_corpus
@pytest.mark.parametrize("name", ["017-krakend-examples-ai-mcp.json", "002-krakend-playground-enterprise.json"])
def test_corpus_config_check_parses_mcp_servers_and_their_workflows(name: str) -> None:
    """ai/mcp is served: no namespace warning for it; 017's workflows are parsed, the EE
    modifier/jmespath inside them too (no warning: it is implemented)."""
    loaded = load_service(CORPUS / name, use_env=False)
    assert not any(w.path.endswith("extra_config.ai/mcp") for w in loaded.warnings)
    assert "ai/mcp" in loaded.parsed.get("", {})
    if name.startswith("017"):
        assert not [w for w in loaded.warnings if "jmespath" in w.path]


@needs_corpus
def test_corpus_cli_check_skip_components_accepts_every_ce_valid_config(capsys: pytest.CaptureFixture[str]) -> None:
    from krakenpy.cli import main

    failed = {}
    for path in FILES:
        code = main(["check", "--skip-components", "--allow-unsupported", "-c", str(path)])
        out = capsys.readouterr()
        if code != 0:
            failed[path.name] = out.err
        else:
            assert "Syntax OK!" in out.out
    assert sorted(failed) == sorted(EXPECTED_FAILURES | RUNTIME_FAILURES)
    for name, reason in RUNTIME_FAILURES.items():
        assert reason in failed[name]


@needs_corpus
def test_corpus_check_refuses_exactly_what_run_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    from krakenpy.cli import main
    from krakenpy.server.settings import runtime_settings

    for path in FILES:
        if path.name in EXPECTED_FAILURES or path.name in RUNTIME_FAILURES:
            continue
        loaded = load_service(path, use_env=False)
        # unimplemented access control, or Go plugins that namespaces use (their work would be skipped)
        refused_by_run = bool(loaded.enforcing) or bool(runtime_settings(loaded.service, files=False)[1])
        code = main(["check", "--skip-components", "-c", str(path)])
        err = capsys.readouterr().err
        assert (code != 0) == refused_by_run, (path.name, err)
        if refused_by_run:
            assert "--allow-unsupported" in err


@needs_corpus
@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("013-krakend-examples-ratelimit-tiers.json", "endpoints[0].extra_config.qos/ratelimit/tiered"),
        ("047-squee72564-retail-ready.json", "extra_config.qos/ratelimit/service"),
        ("048-birddevelper-kerakend.json", "extra_config.qos/ratelimit/service"),
    ],
)
def test_corpus_enterprise_rate_limits_are_served(name: str, namespace: str) -> None:
    """The EE service and tiered limits are implemented: run no longer refuses these configs."""
    loaded = load_service(CORPUS / name, use_env=False)
    assert loaded.enforcing == ()
    assert not [w for w in loaded.warnings if w.path == namespace]
    owner = namespace.rpartition(".extra_config.")[0] if ".extra_config." in namespace else ""
    assert namespace.rsplit("extra_config.", 1)[1] in loaded.parsed[owner]


@needs_corpus
def test_corpus_enterprise_dynamic_routing_is_accepted() -> None:
    """002's EE dynamic routing parses; its EE security/policies are implemented: nothing is refused."""
    loaded = load_service(CORPUS / "002-krakend-playground-enterprise.json", use_env=False)
    keys = {key for endpoint in loaded.service.endpoints for b in endpoint.backends for key in b.url_keys}
    assert {"Input_headers.x-route", "Input_query_strings.route"} <= keys
    assert loaded.enforcing == ()
    assert "security/policies" in loaded.parsed["endpoints[10]"]
    assert "security/policies" in loaded.parsed["endpoints[36]"]
