"""Build the ``async_agent`` list (lura ``initAsyncAgents``): each agent's defaults and its backends,
which become a pipe named after the agent with the consumer's timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from krakenpy.config.build import _build_backend, _Collector
from krakenpy.config.model import AgentConfig, BackendConfig, EndpointConfig

__all__ = ["build_agents"]

#: KrakenD's minimum (and default) health interval
_MIN_HEALTH = 1.0


def _object(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _build_agent(raw: Mapping[str, Any], index: int, defaults: Mapping[str, Any], c: _Collector) -> AgentConfig:
    path = f"async_agent[{index}]"
    name = str(raw.get("name") or f"AsyncAgent-{index:02d}")  # lura's name for an unnamed agent
    consumer, connection = _object(raw, "consumer"), _object(raw, "connection")
    cpath, npath = f"{path}.consumer", f"{path}.connection"
    timeout = c.duration(consumer, "timeout", cpath) or defaults["timeout"]
    max_rate = consumer.get("max_rate", 0)
    if isinstance(max_rate, bool) or not isinstance(max_rate, int | float):
        c.error(f"{cpath}.max_rate", f"expected a number, got {max_rate!r}")
        max_rate = 0
    backends_raw = raw.get("backend")
    if not isinstance(backends_raw, list) or not backends_raw:
        c.error(f"{path}.backend", f"the async agent '{name}' has 0 backends defined")
        backends_raw = []
    backends: list[BackendConfig] = []
    for i, b in enumerate(backends_raw):
        bpath = f"{path}.backend[{i}]"
        if not isinstance(b, Mapping):
            c.error(bpath, "expected an object")
            continue
        # no endpoint method to inherit: lura's default GET; the agent has no parameters
        backends.append(
            _build_backend(
                b,
                index=i,
                path=bpath,
                endpoint_raw={},
                inputs=[],
                service_hosts=defaults["hosts"],
                timeout=timeout,
                concurrent=1,
                noop_output=False,
                c=c,
            )
        )
    extra = _object(raw, "extra_config")
    endpoint = EndpointConfig(
        endpoint=name,
        method="POST",
        backends=tuple(backends),
        timeout=timeout,
        cache_ttl=0.0,
        concurrent_calls=1,
        input_query_strings=(),
        input_headers=(),
        output_encoding="json",
        extra_config={},
        params=(),
        index=index,
        path=path,
    )
    return AgentConfig(
        name=name,
        index=index,
        path=path,
        endpoint=endpoint,
        topic=str(consumer.get("topic") or ""),
        workers=max(1, c.integer(consumer, "workers", cpath, 1)),
        timeout=timeout,
        max_rate=float(max_rate) if max_rate > 0 else 0.0,
        max_retries=c.integer(connection, "max_retries", npath, 0),
        backoff_strategy=str(connection.get("backoff_strategy") or ""),
        health_interval=max(_MIN_HEALTH, c.duration(connection, "health_interval", npath)),
        extra_config=dict(extra),
    )


def build_agents(doc: Mapping[str, Any], defaults: Mapping[str, Any], c: _Collector) -> tuple[AgentConfig, ...]:
    """Every agent of ``doc['async_agent']``, with KrakenD's defaults; problems go to ``c``."""
    raw_agents = doc.get("async_agent")
    if raw_agents is None:
        return ()
    if not isinstance(raw_agents, list):
        c.error("async_agent", "expected a list")
        return ()
    agents: list[AgentConfig] = []
    for i, raw in enumerate(raw_agents):
        if not isinstance(raw, Mapping):
            c.error(f"async_agent[{i}]", "expected an object")
            continue
        agents.append(_build_agent(raw, i, defaults, c))
    return tuple(agents)
