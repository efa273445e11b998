"""``async/amqp``: parsed at the agent's JSON path, built as the agent's driver; aiormq only then."""

from __future__ import annotations

import subprocess
import sys

import pytest

from krakenpy.amqp.options import redact
from krakenpy.components.async_.amqp import COMPONENT
from krakenpy.components.base import Site
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, parse_components

DOC = {
    "version": 3,
    "endpoints": [],
    "async_agent": [
        {
            "name": "a",
            "consumer": {"topic": "#"},
            "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}],
            "extra_config": {"async/amqp": {"name": "q", "exchange": "e", "host": "amqp://u:pw@127.0.0.1:19/"}},
        }
    ],
}


def _site() -> Site:
    service = build_service(DOC)
    agent = service.agents[0]
    return Site("agent", f"{agent.path}.extra_config.async/amqp", service, agent.endpoint)


def test_amqp_component_is_an_agent_driver() -> None:
    assert COMPONENT.layers == ("agent",) and COMPONENT.levels == frozenset({"agent"})


def test_amqp_parse_keeps_the_queue_options() -> None:
    options = COMPONENT.parse({"name": "q", "exchange": "e", "host": "amqp://h/", "prefetch_count": 5}, _site())
    assert (options.name, options.exchange, options.prefetch_count, options.auto_ack) == ("q", "e", 5, False)


def test_amqp_parse_rejects_a_non_amqp_host_without_showing_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"name": "q", "exchange": "e", "host": "http://user:hunter2@h/"}, _site())
    issue = info.value.issues[0]
    assert issue.path == "async_agent[0].extra_config.async/amqp.host"
    assert "hunter2" not in issue.message and "user:[REDACTED]@h" in issue.message


@pytest.mark.parametrize("host", ["user:hunter2@h:5672", "//user:hunter2@h/", "ftp:/user:hunter2@h/"])
def test_amqp_parse_rejects_a_host_without_scheme_slashes_without_showing_its_password(host: str) -> None:
    """Without ``scheme://`` the message's mask found no user information (the message's own
    ``amqp://`` is followed by a space): ``check`` printed the password."""
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"name": "q", "exchange": "e", "host": host}, _site())
    message = info.value.issues[0].message
    assert "hunter2" not in message and ":[REDACTED]@h" in message, message
    assert "hunter2" not in redact(host) and "hunter2" not in redact(host.replace("ftp:", "amqp:"))


def test_amqp_redact_hides_only_the_password() -> None:
    assert redact("amqp://guest:guest@rabbit:5672/vh") == "amqp://guest:[REDACTED]@rabbit:5672/vh"
    assert redact("amqp://rabbit/") == "amqp://rabbit/"


def test_amqp_agent_options_are_parsed_at_the_agent_path() -> None:
    parsed, issues = parse_components(build_service(DOC))
    assert issues == []
    assert parsed["async_agent[0]"]["async/amqp"].host == "amqp://u:pw@127.0.0.1:19/"


async def test_amqp_build_returns_a_driver_and_check_connects_nowhere() -> None:
    gw = await build_gateway(build_service(DOC), serving=False)
    try:
        assert len(gw.resources.agents) == 1  # built, started only by Gateway.start
    finally:
        await gw.close()


def test_amqp_engine_is_imported_only_by_configs_that_use_it() -> None:
    script = (
        "import sys; import krakenpy.gateway, krakenpy.cli, krakenpy.components.async_.amqp; "
        "print(sorted(m for m in ('aiormq', 'pamqp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
