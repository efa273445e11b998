"""Fixtures shared by the auth component tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakenpy.proxy.guard import Guard, GuardCheck
from krakenpy.proxy.types import Headers, Request
from krakenpy.server.request import guard_names
from tests.components.auth.gorpc_client import build_client


@pytest.fixture
def guard_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The header names each guard-path request read from the edge request.

    Observed where the handler hands them over (each guard's ``check_filtered``), not by patching a
    name in the handler's module: a compiled handler calls its imports natively."""
    calls: list[tuple[str, ...]] = []
    init = Guard.__init__

    def spying_init(guard: Guard, reads: tuple[str, ...], check: GuardCheck, filtered: GuardCheck | None) -> None:
        if filtered is not None:
            names, inner = guard_names(reads), filtered

            async def spy(request: Request, seen: Headers) -> None:
                assert set(seen) <= set(names)  # only the headers the guard reads
                calls.append(names)
                await inner(request, seen)

            filtered = spy
        init(guard, reads, check, filtered)

    monkeypatch.setattr(Guard, "__init__", spying_init)
    return calls


@pytest.fixture(scope="session")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go net/rpc revocation client, compiled once per session."""
    return build_client(tmp_path_factory.mktemp("gorpc"))
