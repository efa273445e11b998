"""Test doubles that are themselves :data:`~krakenpy.proxy.types.Proxy` callables.

Each double records the requests it received in ``.calls`` so a test can look at what reached it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from krakenpy.errors import BackendError, PipelineError
from krakenpy.proxy.types import Request, Response


class RecordingProxy:
    """Base double: keeps every request it is called with."""

    def __init__(self) -> None:
        self.calls: list[Request] = []
        self.cancelled = 0

    async def __call__(self, request: Request) -> Response:
        self.calls.append(request)
        try:
            return await self.respond(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def respond(self, request: Request) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError


class static_proxy(RecordingProxy):
    """Answers ``data`` (a fresh deep copy per call), after ``delay`` seconds."""

    def __init__(
        self,
        data: dict[str, Any],
        *,
        complete: bool = True,
        delay: float = 0.0,
        errors: Sequence[BaseException] = (),
        body: bytes | None = None,
        status: int = 200,
    ) -> None:
        super().__init__()
        self.data = data
        self.complete = complete
        self.delay = delay
        self.errors = tuple(errors)
        self.body = body
        self.status = status

    async def respond(self, request: Request) -> Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(
            data=copy.deepcopy(self.data),
            is_complete=self.complete,
            errors=self.errors,
            body=self.body,
            status=self.status,
        )


class failing_proxy(RecordingProxy):
    """Raises ``error`` (a :class:`BackendError` by default) after ``delay`` seconds."""

    def __init__(self, error: PipelineError | None = None, *, delay: float = 0.0) -> None:
        super().__init__()
        self.error = error or BackendError("backend failed")
        self.delay = delay

    async def respond(self, request: Request) -> Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        raise self.error


def slow_proxy(data: dict[str, Any], delay: float) -> static_proxy:
    """A double that answers ``data`` only after ``delay`` seconds."""
    return static_proxy(data, delay=delay)


class echo_proxy(RecordingProxy):
    """Answers with what it received: method, url, path, params, headers, query, body."""

    async def respond(self, request: Request) -> Response:
        return Response(
            data={
                "method": request.method,
                "url": request.url,
                "path": request.path,
                "raw_query": request.raw_query,
                "params": dict(request.params),
                "headers": {k: list(v) for k, v in request.headers.items()},
                "query": {k: list(v) for k, v in request.query.items()},
                "body": request.body.decode(),
            }
        )


class sequence_proxy(RecordingProxy):
    """Answers each call with the next item of ``outcomes`` (a Response, an exception to raise)."""

    def __init__(self, outcomes: Sequence[Response | BaseException]) -> None:
        super().__init__()
        self.outcomes = list(outcomes)

    async def respond(self, request: Request) -> Response:
        outcome = self.outcomes[min(len(self.calls) - 1, len(self.outcomes) - 1)]
        if isinstance(outcome, BaseException):
            raise outcome
        return copy.deepcopy(outcome)


def make_request(
    *,
    method: str = "GET",
    params: dict[str, str] | None = None,
    headers: dict[str, list[str]] | None = None,
    query: dict[str, list[str]] | None = None,
    body: bytes = b"",
) -> Request:
    return Request(
        method=method,
        path="/",
        params=dict(params or {}),
        headers=dict(headers or {}),
        query=dict(query or {}),
        body=body,
    )
