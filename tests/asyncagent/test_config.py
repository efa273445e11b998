"""The async_agent list as lura builds it, the backoff strategies, and the warnings of `check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from krakenpy.asyncagent.backoff import backoff
from krakenpy.config.build import build_service
from krakenpy.gateway import load


def _doc(**agent: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "a",
        "consumer": {"topic": "#"},
        "backend": [{"host": ["http://127.0.0.1:8081"], "url_pattern": "/x"}],
        "extra_config": {"async/amqp": {"name": "q", "exchange": "e", "host": "amqp://127.0.0.1:5672/"}},
    }
    body.update(agent)
    return {"version": 3, "timeout": "3s", "endpoints": [], "async_agent": [body]}


def test_agent_config_applies_lura_defaults() -> None:
    doc = _doc(connection={"health_interval": "100ms"})
    del doc["async_agent"][0]["name"]
    agent = build_service(doc).agents[0]
    assert agent.name == "AsyncAgent-00" and agent.path == "async_agent[0]"
    assert (agent.workers, agent.timeout, agent.max_rate, agent.max_retries) == (1, 3.0, 0.0, 0)
    assert agent.health_interval == 1.0  # at least 1s
    backend = agent.endpoint.backends[0]
    assert (backend.method, backend.timeout, backend.path) == ("GET", 3.0, "async_agent[0].backend[0]")


def test_agent_config_consumer_timeout_is_the_backends_timeout() -> None:
    agent = build_service(_doc(consumer={"topic": "#", "timeout": "150ms", "workers": 4, "max_rate": 0.5})).agents[0]
    assert (agent.timeout, agent.endpoint.timeout, agent.endpoint.backends[0].timeout) == (0.15, 0.15, 0.15)
    assert (agent.workers, agent.max_rate) == (4, 0.5)


@pytest.mark.parametrize(
    ("strategy", "delays"),
    [
        ("linear", [0, 1, 2, 3]),
        ("exponential", [1, 2, 4, 8]),
        ("Exponential", [1, 2, 4, 8]),
        ("fallback", [1, 1, 1, 1]),
        ("", [1, 1, 1, 1]),
    ],
)
def test_agent_backoff_strategies(strategy: str, delays: list[float]) -> None:
    wait = backoff(strategy)
    assert [wait(i) for i in range(4)] == delays


@pytest.mark.parametrize(("strategy", "base"), [("linear-jitter", lambda i: i), ("exponential-jitter", lambda i: 2**i)])
def test_agent_backoff_jitter_stays_within_a_third(strategy: str, base: Any) -> None:
    wait = backoff(strategy)
    for i in range(1, 6):
        for _ in range(50):
            delay = wait(i)
            assert abs(delay - base(i)) <= base(i) / 3 + 0.002 and delay > 0


def test_agent_without_driver_is_not_started_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(_doc(extra_config={})))
    loaded = load(path)
    warnings = [str(w) for w in loaded.warnings]
    assert any("async_agent[0].extra_config" in w and "not started" in w for w in warnings)
    assert not any("not implemented" in w for w in warnings)


def test_agent_other_namespaces_are_not_read_at_agent_level(tmp_path: Path) -> None:
    extra = {**_doc()["async_agent"][0]["extra_config"], "validation/cel": [{"check_expr": "true"}]}
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(_doc(extra_config=extra)))
    warnings = [str(w) for w in load(path).warnings]
    assert any("async_agent[0].extra_config.validation/cel" in w and "agent level" in w for w in warnings)
