"""``backend/pubsub/publisher``: what ``check`` says about driver URLs, and the real CLI publishing and
subscribing over NATS."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from krakenpy.gateway import load as load_service
from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port, make_config
from tests.corpus import CORPUS, needs_corpus
from tests.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[4]


def _doc(host: str, topic_url: str, port: int = 8080, subscription_url: str = "") -> dict[str, Any]:
    return make_config(
        [
            {
                "endpoint": "/pub",
                "method": "POST",
                "backend": [
                    {
                        "host": [host],
                        "disable_host_sanitize": True,
                        "url_pattern": "/",
                        "extra_config": {"backend/pubsub/publisher": {"topic_url": topic_url}},
                    }
                ],
            },
            {
                "endpoint": "/sub",
                "timeout": "2s",
                "backend": [
                    {
                        "host": [host],
                        "disable_host_sanitize": True,
                        "url_pattern": "/",
                        "extra_config": {
                            "backend/pubsub/subscriber": {"subscription_url": subscription_url or topic_url}
                        },
                    }
                ],
            },
        ],
        port=port,
    )


def _check(tmp_path: Path, doc: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    return check_config(tmp_path / "krakend.json", *args)


def test_pubsub_check_accepts_built_in_drivers_without_warnings(tmp_path: Path) -> None:
    for host, topic, subscription in (
        ("mem://", "t", "t"),
        ("nats://", "orders", "orders?queue=q"),
        ("gcppubsub://", "projects/p/topics/t", "p/s"),
    ):
        done = _check(tmp_path, _doc(host, topic, subscription_url=subscription))
        assert done.returncode == 0, done.stderr
        assert "pubsub" not in done.stdout + done.stderr


def test_pubsub_check_warns_about_drivers_krakenpy_lacks(tmp_path: Path) -> None:
    done = _check(tmp_path, _doc("azuresb://", "events"))
    assert done.returncode == 0
    out = done.stderr + done.stdout
    assert (
        "endpoints[0].backend[0].extra_config.backend/pubsub/publisher.topic_url: krakenpy has no azuresb:// topic"
        in out
    )
    kafka = _check(tmp_path, _doc("kafka://", "events"))  # kafka: publishers only
    out = kafka.stderr + kafka.stdout
    assert "publisher" not in out
    assert "subscriber.subscription_url: krakenpy has no kafka:// subscription driver" in out
    linted = _check(tmp_path, _doc("azuresb://", "events"), "--lint")
    assert linted.returncode == 1


def test_pubsub_unknown_scheme_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "krakend.json").write_text(json.dumps(_doc("carrier-pigeon://", "x")))
    unknown = load_service(tmp_path / "krakend.json", use_env=False)
    assert any("unknown pub/sub driver carrier-pigeon://" in str(w) for w in unknown.warnings)


async def test_pubsub_bad_gcp_resource_name_fails_each_call(gateway: Any) -> None:
    client = await gateway(_doc("gcppubsub://", "only-one-part"))
    response = await client.post("/pub", json={})
    assert response.status == 500


def _publish(port: int, body: bytes) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/pub", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _next(port: int) -> Any:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sub", timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code


def test_pubsub_cli_run_publishes_and_subscribes_over_nats(tmp_path: Path, nats_server: NatsServer) -> None:
    port = free_port()
    (tmp_path / "krakend.json").write_text(json.dumps(_doc("nats://", "cli.events", port)))
    with gateway_process(tmp_path / "krakend.json", port=port):
        assert _publish(port, b'{"cli": true}') == {}
        assert _next(port) == {"cli": True}


def test_pubsub_cli_workers_share_a_nats_subscription(tmp_path: Path, nats_server: NatsServer) -> None:
    port = free_port()
    (tmp_path / "krakend.json").write_text(json.dumps(_doc("nats://", "cli.events", port)))
    with gateway_process(tmp_path / "krakend.json", port=port, workers=2):
        time.sleep(1)  # both workers subscribed
        assert _publish(port, b'{"once": 1}') == {}
        # new connections: both workers answer some; before the shared queue group, each worker
        # had its own copy of the message and two of these answered it
        answers = [_next(port) for _ in range(6)]
        assert answers.count({"once": 1}) <= 1
        assert all(a in (500, {"once": 1}) for a in answers)


@needs_corpus
def test_pubsub_corpus_publishers_check_without_pubsub_warnings() -> None:
    for name in ("027-velmuruganmp1210-krakend-lua.json", "028-vido-krakend-kafka-poc.json"):
        loaded = load_service(CORPUS / name, use_env=False)
        assert not [w for w in loaded.warnings if "pubsub" in str(w)], name
