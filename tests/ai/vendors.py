"""Loopback servers playing each LLM vendor's HTTP API: they record what they receive and answer in
the vendor's documented shape (or with an error, or slowly)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: the credential every test configures: it must reach the vendor and appear in no other output
CANARY = "sk-c4n4ry-9d1e7b"


@dataclass
class Seen:
    """One request a fake vendor received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def openai_answer(text: str, tokens: int = 42) -> dict[str, Any]:
    """A Responses API answer (``POST /v1/responses``)."""
    return {
        "id": "resp_1",
        "object": "response",
        "output": [
            {"type": "reasoning", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            },
        ],
        "usage": {"input_tokens": 10, "output_tokens": tokens - 10, "total_tokens": tokens},
    }


def anthropic_answer(text: str) -> dict[str, Any]:
    """A Messages API answer (``POST /v1/messages``)."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 30},
    }


def gemini_answer(*texts: str) -> dict[str, Any]:
    """A generateContent answer, one candidate per text."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": t}]}, "finishReason": "STOP", "index": i}
            for i, t in enumerate(texts)
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12},
    }


def mistral_answer(*texts: str) -> dict[str, Any]:
    """A chat completions answer, one choice per text."""
    return {
        "id": "cmpl-1",
        "choices": [{"index": i, "message": {"role": "assistant", "content": t}} for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


@dataclass
class Vendor:
    """A fake vendor: ``seen`` fills as requests arrive; ``status``/``answer``/``delay`` shape the reply."""

    answer: Any
    status: int = 200
    delay: float = 0.0
    #: answer as a real vendor rejecting a key does: quoting the credential it received
    echo_key: bool = False
    seen: list[Seen] = field(default_factory=list)

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body: Any = await request.json() if raw else None
            except ValueError:
                body = raw
            self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
            if self.delay:
                await asyncio.sleep(self.delay)
            answer = self.answer
            if self.echo_key:
                key = request.headers.get("Authorization") or request.headers.get("x-api-key") or ""
                answer = {"error": {"message": f"Incorrect API key provided: {key}", "code": "invalid_api_key"}}
            return web.json_response(answer, status=self.status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app
