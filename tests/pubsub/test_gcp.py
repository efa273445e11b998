"""``gcppubsub://`` through the gateway against a Pub/Sub REST server on 127.0.0.1: the emulator
variable, and a service account's credentials through google-auth and a local token server."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import make_config
from tests.pubsub.gcp_emulator import Emulator, token_app

TOPIC = "projects/demo/topics/events"
SUBSCRIPTION = "projects/demo/subscriptions/events-sub"


def _config(
    topic_url: str = "projects/demo/topics/events", subscription_url: str = "demo/events-sub"
) -> dict[str, Any]:
    def backend(namespace: str, key: str, value: str) -> dict[str, Any]:
        return {
            "host": ["gcppubsub://"],
            "disable_host_sanitize": True,
            "url_pattern": "/",
            "extra_config": {namespace: {key: value}},
        }

    return make_config(
        [
            {
                "endpoint": "/pub",
                "method": "POST",
                "input_headers": ["X-Tenant"],
                "backend": [backend("backend/pubsub/publisher", "topic_url", topic_url)],
            },
            {
                "endpoint": "/sub",
                "timeout": "1s",
                "backend": [backend("backend/pubsub/subscriber", "subscription_url", subscription_url)],
            },
        ]
    )


async def test_gcp_emulator_publish_and_pull(gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC})
    base = await backend(emulator.app())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", base.removeprefix("http://"))
    client = await gateway(_config())
    response = await client.post("/pub", json={"order": 1}, headers={"X-Tenant": "acme"})
    assert (response.status, await response.json()) == (200, {})
    queued = emulator.published(SUBSCRIPTION)
    assert base64.b64decode(queued[0]["data"]) == b'{"order": 1}'
    assert queued[0]["attributes"]["X-Tenant"] == "acme"
    got = await client.get("/sub")
    assert (got.status, await got.json()) == (200, {"order": 1})
    for _ in range(50):  # acknowledged beside the answer
        if not emulator.outstanding:
            break
        await asyncio.sleep(0.02)
    assert emulator.outstanding == {}
    assert set(emulator.authorizations) == {""}  # no credentials towards an emulator


async def test_gcp_pull_waits_for_a_message(gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC})
    base = await backend(emulator.app())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", base.removeprefix("http://"))
    client = await gateway(_config())
    empty = await client.get("/sub")
    assert empty.status == 500  # nothing within the endpoint timeout
    emulator.publish(TOPIC, b'{"late": true}')
    assert await (await client.get("/sub")).json() == {"late": True}


async def test_gcp_undecodable_message_is_not_acknowledged(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC})
    base = await backend(emulator.app())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", base.removeprefix("http://"))
    client = await gateway(_config())
    emulator.publish(TOPIC, b"not json")
    assert (await client.get("/sub")).status == 500
    assert len(emulator.outstanding) == 1  # Pub/Sub delivers it again after the ack deadline


async def test_gcp_unknown_topic_fails_the_call(gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC})
    base = await backend(emulator.app())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", base.removeprefix("http://"))
    client = await gateway(_config(topic_url="demo/missing"))
    response = await client.post("/pub", json={})
    assert response.status == 500
    assert await response.read() == b""


async def test_gcp_service_account_token_reaches_pubsub_and_never_the_logs(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = "ya29.canary-token-5f1c"
    tokens = await backend(token_app(public, token))
    emulator = Emulator({SUBSCRIPTION: TOPIC}, token=token)
    base = await backend(emulator.app())
    account = {
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": "k1",
        "private_key": private.decode(),
        "client_email": "gw@demo.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{tokens}/token",
    }
    (tmp_path / "sa.json").write_text(json.dumps(account))
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    monkeypatch.setenv("KRAKENPY_PUBSUB_GCP_URL", base)
    client = await gateway(_config())
    for n in range(2):
        assert (await client.post("/pub", json={"n": n})).status == 200
    assert await (await client.get("/sub")).json() == {"n": 0}
    assert set(emulator.authorizations) == {f"Bearer {token}"}
    assert token not in caplog.text


async def test_gcp_bad_credentials_fail_calls_without_details(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC}, token="x")
    base = await backend(emulator.app())
    (tmp_path / "sa.json").write_text('{"type": "service_account"}')
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    monkeypatch.setenv("KRAKENPY_PUBSUB_GCP_URL", base)
    client = await gateway(_config())
    response = await client.post("/pub", json={})
    assert response.status == 500
    assert emulator.authorizations == []  # nothing was sent without a token


async def test_gcp_slow_acknowledgement_does_not_lose_the_message(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator({SUBSCRIPTION: TOPIC}, ack_delay=1.0)
    base = await backend(emulator.app())
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", base.removeprefix("http://"))
    doc = _config()
    doc["endpoints"][1]["timeout"] = "300ms"
    client = await gateway(doc)
    emulator.publish(TOPIC, b'{"kept": true}')
    got = await client.get("/sub")  # answered while the acknowledgement is still on its way
    assert (got.status, await got.json()) == (200, {"kept": True})
