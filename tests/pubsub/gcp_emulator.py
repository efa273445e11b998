"""A small Google Cloud Pub/Sub REST server for the tests (publish, pull, acknowledge), standing in
for Google's emulator (a Java program that cannot be installed here), and an OAuth2 token server
that checks a service account's signed assertion as Google's does."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Emulator:
    """``subscriptions``: subscription name → topic name (both ``projects/P/...``)."""

    subscriptions: dict[str, str]
    token: str = ""
    #: seconds the answer to ``acknowledge`` waits (applied at once, answered late)
    ack_delay: float = 0.0
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outstanding: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    authorizations: list[str] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> None:
        message: dict[str, Any] = {"data": base64.b64encode(data).decode(), "messageId": str(next(self.ids))}
        if attributes:
            message["attributes"] = attributes
        for subscription, subscribed in self.subscriptions.items():
            if subscribed == topic:
                self.queues.setdefault(subscription, []).append(message)

    def published(self, subscription: str) -> list[dict[str, Any]]:
        return self.queues.get(subscription, [])

    async def handle(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": {"status": "UNAUTHENTICATED", "message": "no token"}}, status=401)
        resource, _, verb = request.match_info["tail"].rpartition(":")
        body = await request.json()
        if verb == "publish":
            if resource not in self.subscriptions.values():
                return web.json_response({"error": {"status": "NOT_FOUND", "message": "Topic not found"}}, status=404)
            for message in body["messages"]:
                self.publish(resource, base64.b64decode(message.get("data", "")), message.get("attributes"))
            return web.json_response({"messageIds": ["1"]})
        if verb == "pull":
            queue = self.queues.get(resource, [])
            if not queue:
                return web.json_response({})
            message = queue.pop(0)
            ack_id = f"ack-{next(self.ids)}"
            self.outstanding[ack_id] = (resource, message)
            return web.json_response({"receivedMessages": [{"ackId": ack_id, "message": message}]})
        if verb == "acknowledge":
            for ack_id in body["ackIds"]:
                self.outstanding.pop(ack_id, None)
            await asyncio.sleep(self.ack_delay)
            return web.json_response({})
        return web.json_response({"error": {"status": "INVALID_ARGUMENT"}}, status=400)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/{tail:.+}", self.handle)
        return app


def token_app(public_pem: bytes, token: str) -> web.Application:
    """POST /token: a JWT-bearer grant signed by the service account's key → ``token``."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(public_pem)

    async def issue(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(str(form.get("assertion", "")), key).claims
        except ValueError:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if "pubsub" not in str(claims.get("scope", "")):
            return web.json_response({"error": "invalid_scope"}, status=400)
        return web.json_response({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    app = web.Application()
    app.router.add_post("/token", issue)
    return app
