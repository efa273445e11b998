"""Fixtures shared by the auth component tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import krakenpy.server.handler as handler_module
from krakenpy.proxy.types import Headers
from krakenpy.server.request import guard_headers
from tests.components.auth.gorpc_client import build_client


@pytest.fixture
def guard_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The header names each guard-path request read from the edge request."""
    calls: list[tuple[str, ...]] = []

    def spy(raw: Any, names: tuple[str, ...]) -> Headers:
        calls.append(names)
        return guard_headers(raw, names)

    monkeypatch.setattr(handler_module, "guard_headers", spy)
    return calls


@pytest.fixture(scope="session")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go net/rpc revocation client, compiled once per session."""
    return build_client(tmp_path_factory.mktemp("gorpc"))
