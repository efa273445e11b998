"""What audit rules are made of: findings, rules, and the questions they ask of a configuration."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from krakenpy.gateway import Loaded

__all__ = ["SEVERITIES", "Check", "Facts", "Finding", "Rule"]

SEVERITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str
    message: str
    #: JSON paths of what triggered a krakenpy rule (empty for KrakenD's service-wide rules)
    where: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "where": list(self.where)}


class Facts:
    """Read-only questions the rules ask of one configuration."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.service = loaded.service
        self.raw: Mapping[str, Any] = loaded.service.raw
        self.svc: Mapping[str, Any] = loaded.service.extra_config

    def extras(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(level, JSON path, extra_config) at service, endpoint and backend level."""
        yield "service", "extra_config", self.svc
        for e in self.service.endpoints:
            yield "endpoint", f"{e.path}.extra_config", e.extra_config
            for b in e.backends:
                yield "backend", f"{b.path}.extra_config", b.extra_config

    def find(self, namespace: str, levels: tuple[str, ...] = ("service", "endpoint", "backend")) -> list[str]:
        return [f"{p}.{namespace}" for level, p, extra in self.extras() if level in levels and namespace in extra]

    def values(self, namespace: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for _level, path, extra in self.extras():
            value = extra.get(namespace)
            if isinstance(value, Mapping):
                yield f"{path}.{namespace}", value

    def plugin_names(self, namespace: str, levels: tuple[str, ...]) -> set[str]:
        names: set[str] = set()
        for level, _path, extra in self.extras():
            value = extra.get(namespace)
            if level in levels and isinstance(value, Mapping):
                name = value.get("name")
                names.update([name] if isinstance(name, str) else [n for n in name or [] if isinstance(n, str)])
        return names

    def tls(self) -> Mapping[str, Any] | None:
        tls = self.raw.get("tls")
        return tls if isinstance(tls, Mapping) else None

    def otel(self) -> tuple[int, int]:
        """(metric exporters, trace exporters) of ``telemetry/opentelemetry``."""
        otel = self.svc.get("telemetry/opentelemetry")
        exporters = otel.get("exporters") if isinstance(otel, Mapping) else None
        if not isinstance(exporters, Mapping):
            return 0, 0
        otlp = [o for o in exporters.get("otlp") or [] if isinstance(o, Mapping)]
        prom = [p for p in exporters.get("prometheus") or [] if isinstance(p, Mapping)]
        metrics = sum(not o.get("disable_metrics") for o in otlp) + sum(not p.get("disable_metrics") for p in prom)
        return metrics, sum(not o.get("disable_traces") for o in otlp)


Check = Callable[[Facts], bool | list[str]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: str
    message: str
    check: Check
