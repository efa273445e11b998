"""The pipeline types: copies and pickles of a Request and a Response (their ``__init__`` is written
out, so mypyc compiles it natively: a copy must not call it without arguments)."""

from __future__ import annotations

import copy
import pickle

from krakenpy.proxy.types import Request, Response


def test_request_and_response_copy_and_pickle_with_every_field() -> None:
    request = Request("GET", "/p", {"Id": "1"}, {"X-A": ["1"]}, {"q": ["2"]}, body=b"b", url="http://h/p", deadline=2.0)
    response = Response(data={"n": 1}, is_complete=False, status=201, headers={"X": ["y"]}, errors=(ValueError("e"),))
    for original in (request, response):
        for twin in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
            assert type(twin) is type(original)
            assert repr(twin) == repr(original)
    deep = copy.deepcopy(request)
    assert deep == request and deep.headers is not request.headers
