from __future__ import annotations

import copy

import pytest

from krakenpy.proxy.formatter import compile_formatter

DATA = {
    "id": 1,
    "user": {"name": "ann", "secret": "s", "address": {"city": "x", "zip": "1"}},
    "list": [{"a": 1, "b": 2}],
    "meta": {"page": 1},
}


def _run(**kwargs):
    formatter = compile_formatter(**kwargs)
    assert formatter is not None
    return formatter(copy.deepcopy(DATA))


def test_formatter_nothing_to_do_is_none() -> None:
    assert compile_formatter() is None


def test_formatter_target_extracts_nested_object() -> None:
    assert _run(target="user.address") == {"city": "x", "zip": "1"}


@pytest.mark.parametrize("target", ["missing", "id", "list", "user.missing"])
def test_formatter_target_missing_or_not_object_is_empty(target: str) -> None:
    assert _run(target=target) == {}


def test_formatter_allow_dot_paths() -> None:
    assert _run(allow=["id", "user.name", "user.address.city"]) == {
        "id": 1,
        "user": {"name": "ann", "address": {"city": "x"}},
    }


def test_formatter_allow_never_traverses_arrays() -> None:
    assert _run(allow=["list.a", "id"]) == {"id": 1}


def test_formatter_allow_nothing_left_is_empty() -> None:
    assert _run(allow=["nope", "user.nope"]) == {}


def test_formatter_allow_wins_over_deny() -> None:
    assert _run(allow=["id"], deny=["id"]) == {"id": 1}


def test_formatter_deny_dot_paths() -> None:
    assert _run(deny=["user.secret", "user.address.zip", "list", "nope.x"]) == {
        "id": 1,
        "user": {"name": "ann", "address": {"city": "x"}},
        "meta": {"page": 1},
    }


def test_formatter_mapping_renames_top_level_only() -> None:
    out = _run(allow=["id", "meta"], mapping={"id": "identifier", "meta": "m.x", "nope": "z"})
    assert out == {"identifier": 1, "m": {"page": 1}}


def test_formatter_group_wraps_last() -> None:
    out = _run(target="user", deny=["address"], mapping={"name": "n"}, group="g")
    assert out == {"g": {"n": "ann", "secret": "s"}}


def test_formatter_flatmap_replaces_allow_deny_mapping() -> None:
    out = _run(
        allow=["id"],
        mapping={"id": "x"},
        group="g",
        flatmap=[{"type": "move", "args": ["user.name", "name"]}, {"type": "del", "args": ["list", "meta", "user"]}],
    )
    assert out == {"g": {"id": 1, "name": "ann"}}
