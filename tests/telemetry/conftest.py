"""The served-gateway fixtures of the telemetry component tests, for the cross-cutting tests here."""

from tests.components.telemetry.conftest import served, upstream

__all__ = ["served", "upstream"]
