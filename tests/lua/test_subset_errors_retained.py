"""A subset ``custom_error`` whose status or content type is refused raises a new error per request:
one error object raised again and again collects a traceback that grows with every raise and keeps
each request's frames (and, in the pure build, the requests and their bodies) alive."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from krakenpy.errors import PipelineError
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.proxy.types import Request, Response
from tests.lua.test_setters import _script


async def _inner(request: Request) -> Response:
    return Response(data={}, headers={}, status=200)


async def test_subset_refused_custom_error_keeps_nothing_per_request() -> None:
    script = _script({"pre": "local r = request.load()\nif r:method() == 'GET' then custom_error('bad', 1000) end"})
    run = proxy_middleware(script)(_inner)
    messages: set[str] = set()

    async def once() -> None:
        request = Request(method="GET", path="/x", params={}, headers={}, query={}, url="/x", body=b"x" * 1000)
        with pytest.raises(PipelineError) as caught:
            await run(request)
        messages.add(str(caught.value))

    for _ in range(50):
        await once()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            await once()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # the refusal is the subset's error, the same each time
    assert len(messages) == 1 and "custom_error" in messages.pop()
    # one shared error object retained ~1.5 kB a request (pure) / ~2.1 kB (compiled): 1.5-2 MB here
    assert retained < 200_000, retained
