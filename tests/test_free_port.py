"""The suite's own port helper: a port handed out once is never handed out again in the process."""

from __future__ import annotations

import random
import socket

import pytest

from tests import conftest
from tests.conftest import free_port


def _unbound() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_free_port_never_hands_out_a_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # the draw repeats itself (as a random draw may): free both times, the port is given once
    port = other = _unbound()
    while other == port:
        other = _unbound()
    drawn = iter([port, port, other])
    monkeypatch.setattr(conftest._DRAW, "randrange", lambda *_: next(drawn))
    assert [free_port(), free_port()] == [port, other]


def test_free_port_draws_apart_from_the_global_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that seeds ``random`` (a fixed sequence it needs) leaves the ports' draws alone: two
    suites on one machine seeded alike drew the same ports in the same order."""
    drawn = []
    for _ in range(2):  # as two suites would, each with nothing handed out yet
        monkeypatch.setattr(conftest, "_HANDED_OUT", set())
        random.seed(11)
        drawn.append([free_port() for _ in range(5)])
    assert drawn[0] != drawn[1]
