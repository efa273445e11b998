"""Choosing the workers' event loop (``--loop``): uvloop where it imports, asyncio otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from krakenpy.server.loops import LoopUnavailable, loop_name, resolve_loop, run_on


def test_loops_auto_is_uvloop_where_it_imports() -> None:
    assert resolve_loop("auto") == "uvloop"
    assert resolve_loop("uvloop") == "uvloop"
    assert resolve_loop("asyncio") == "asyncio"
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        resolve_loop("trio")


def test_loops_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an import of a missing module does
    assert resolve_loop("auto") == "asyncio"
    with pytest.raises(LoopUnavailable, match=r"^--loop uvloop: uvloop cannot be imported \(.*\); use --loop asyncio$"):
        resolve_loop("uvloop")
    assert run_on("auto", _which()) == 0


async def _which() -> int:
    return ["asyncio", "uvloop"].index(loop_name(asyncio.get_running_loop()))


def test_loops_run_on_each_kind() -> None:
    assert [run_on(kind, _which()) for kind in ("asyncio", "uvloop", "auto")] == [0, 1, 1]
