from __future__ import annotations

import pytest

from krakenpy.proxy.flatmap import compile_flatmap


def _data():
    return {
        "items": [{"id": 1, "tmp": "a", "n": {"x": 1}}, {"id": 2, "tmp": "b", "n": {"x": 2}}],
        "other": [9],
        "obj": {"k1": {"v": 1}, "k2": {"v": 2}},
    }


def test_flatmap_move_renames_inside_every_item() -> None:
    out = compile_flatmap([{"type": "move", "args": ["items.*.id", "items.*.ident"]}])(_data())
    assert [sorted(i) for i in out["items"]] == [["ident", "n", "tmp"], ["ident", "n", "tmp"]]
    assert out["items"][1]["ident"] == 2


def test_flatmap_move_to_top_level() -> None:
    out = compile_flatmap([{"type": "move", "args": ["items.0.n", "first"]}])(_data())
    assert out["first"] == {"x": 1}
    assert "n" not in out["items"][0]


def test_flatmap_move_wildcard_over_object_keys() -> None:
    out = compile_flatmap([{"type": "move", "args": ["obj.*.v", "obj.*.value"]}])(_data())
    assert out["obj"] == {"k1": {"value": 1}, "k2": {"value": 2}}


def test_flatmap_del_with_wildcard_and_index() -> None:
    out = compile_flatmap([{"type": "del", "args": ["items.*.tmp", "other.0"]}])(_data())
    assert out["items"] == [{"id": 1, "n": {"x": 1}}, {"id": 2, "n": {"x": 2}}]
    assert out["other"] == []


def test_flatmap_del_every_item_of_list() -> None:
    out = compile_flatmap([{"type": "del", "args": ["items.*"]}])(_data())
    assert out["items"] == []


def test_flatmap_append_lists() -> None:
    out = compile_flatmap([{"type": "append", "args": ["other", "all"]}, {"type": "append", "args": ["items", "all"]}])(
        _data()
    )
    assert out["all"][0] == 9
    assert [i["id"] for i in out["all"][1:]] == [1, 2]
    assert "other" not in out and "items" not in out


def test_flatmap_missing_paths_change_nothing() -> None:
    data = _data()
    out = compile_flatmap([{"type": "move", "args": ["nope.x", "y"]}, {"type": "del", "args": ["a.b.c"]}])(_data())
    assert out == data


def test_flatmap_unknown_operation_is_rejected() -> None:
    with pytest.raises(ValueError, match="flatmap"):
        compile_flatmap([{"type": "explode", "args": []}])
    with pytest.raises(ValueError, match="flatmap"):
        compile_flatmap([{"type": "move", "args": ["only-one"]}])
