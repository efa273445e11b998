"""KrakenD's CEL variables: Go's time layout for ``now`` and JSON numbers as doubles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from krakenpy.cel.variables import REQUEST, RESPONSE, as_json_doubles, binder, now_string
from krakenpy.proxy.types import Request, Response


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2018, 12, 10, 0, 0, 0, tzinfo=UTC), "2018-12-10T00:00:00Z"),
        (datetime(2018, 12, 10, 1, 2, 3, 120000, tzinfo=UTC), "2018-12-10T01:02:03.12Z"),
        (datetime(2018, 12, 10, 1, 2, 3, 999999, tzinfo=UTC), "2018-12-10T01:02:03.999Z"),
        (datetime(2018, 12, 10, 1, 2, 3, 500, tzinfo=UTC), "2018-12-10T01:02:03Z"),
        (datetime(2018, 12, 10, 1, 2, 3, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2018-12-10T01:02:03+05:30"),
        (datetime(2018, 12, 10, 1, 2, 3, tzinfo=timezone(timedelta(hours=-3))), "2018-12-10T01:02:03-03:00"),
    ],
)
def test_variables_now_uses_go_layout(moment: datetime, text: str) -> None:
    assert now_string(moment) == text


def test_variables_now_defaults_to_local_time_with_offset() -> None:
    parsed = datetime.fromisoformat(now_string().replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5


def test_variables_json_numbers_become_doubles() -> None:
    value = {"n": 3, "b": True, "f": 1.5, "s": "1", "z": None, "l": [1, (2, 3)], "m": {4: {"k": 5}}}
    assert as_json_doubles(value) == {
        "n": 3.0,
        "b": True,
        "f": 1.5,
        "s": "1",
        "z": None,
        "l": [1.0, [2.0, 3.0]],
        "m": {"4": {"k": 5.0}},
    }
    assert type(as_json_doubles(value)["n"]) is float
    assert as_json_doubles(value)["b"] is True  # bool is an int in Python: kept a bool
    assert as_json_doubles({"x": b"raw"}) == {"x": "b'raw'"}  # never an unconvertible value


def test_variables_binder_builds_only_named_variables() -> None:
    request = Request(method="GET", path="/a", params={"Id": "1"}, headers={"X-A": ["1"]}, query={"q": ["x"]})
    bind = binder(REQUEST, ("req_params", "now"))
    assert bind(request, "NOW") == {"req_params": {"Id": "1"}, "now": "NOW"}
    bind_all = binder(REQUEST, tuple(REQUEST))
    assert bind_all(request, "")["req_querystring"] == {"q": ["x"]}


def test_variables_response_binding() -> None:
    response = Response(data={"a": 1}, is_complete=False, status=204, headers={"X-B": ["2"]})
    values = binder(RESPONSE, tuple(RESPONSE))(response, "")
    assert values == {
        "resp_completed": False,
        "resp_metadata_status": 204,
        "resp_metadata_headers": {"X-B": ["2"]},
        "resp_data": {"a": 1.0},
    }
