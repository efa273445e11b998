"""The pipeline types: copies and pickles of a Request and a Response (their ``__init__`` is written
out, so mypyc compiles it natively: a copy must not call it without arguments)."""

from __future__ import annotations

import copy
import pickle
from dataclasses import fields

from krakenpy.proxy.types import Request, Response


def _full() -> tuple[Request, Response]:
    # every field away from its default, so that a field left out of __reduce__ shows in the repr
    request = Request(
        "GET", "/p", {"Id": "1"}, {"X-A": ["1"]}, {"q": ["2"]}, body=b"b", url="http://h/p", raw_query="q=2",
        client_ip="10.0.0.1", host="h", endpoint="/e", client_path="/c", context={"k": 1}, deadline=2.0,
        claims={"sub": "s"},
    )  # fmt: skip
    response = Response(
        data={"n": 1}, is_complete=False, status=201, headers={"X": ["y"]}, body=b"x", errors=(ValueError("e"),),
        override_status=202, override_headers={"Z": ["z"]}, content_type="text/plain", verbatim=True,
    )  # fmt: skip
    return request, response


def test_request_and_response_copy_and_pickle_with_every_field() -> None:
    request, response = _full()
    for original in (request, response):
        defaults = Response({}) if isinstance(original, Response) else Request("", "", {}, {}, {})
        for f in fields(original):
            # a timer holds a task and its loop: not copied by value (it stays None here)
            assert f.name == "timer" or getattr(original, f.name) != getattr(defaults, f.name), f.name
        for twin in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
            assert type(twin) is type(original)
            assert repr(twin) == repr(original)
    deep = copy.deepcopy(request)
    assert deep == request and deep.headers is not request.headers


def test_request_and_response_init_takes_every_field_in_order() -> None:
    # the hand-written __init__ (compiled natively: its signature reads (*args, **kwargs) there) must
    # follow the fields: __reduce__ passes them by position, dataclasses.replace by name
    for original in _full():
        cls, names = type(original), [f.name for f in fields(original)]
        values = [getattr(original, name) for name in names]
        for built in (cls(*values), cls(**dict(zip(names, values, strict=True)))):
            for name, value in zip(names, values, strict=True):
                assert getattr(built, name) == value, (cls.__name__, name)  # a compiled float is unboxed: not `is`
