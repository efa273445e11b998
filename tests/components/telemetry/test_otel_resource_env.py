"""The OTLP resource and Prometheus' ``target_info`` from ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_SERVICE_NAME`` (OTel SDK environment specification) under what the configuration names: a
real gateway, the OTLP receiver and a scrape of its ``/metrics``, and the real ``check``."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.servers import PROM_LISTENERS
from tests.cli_gateway import check_config, gateway_process, stop
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.conftest import free_port
from tests.server.process import write_json


async def _resources(served: Any, upstream: Any, otel: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the resource of the spans the receiver got, ``target_info``'s labels) of one request."""
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    base = await upstream(recording_app([]))
    exporter = {"name": "local", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True}
    value = {**otel, "exporters": {"otlp": [exporter], "prometheus": [{"name": "p", "port": 0, "host": "127.0.0.1"}]}}
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}], name="gw-root",
            extra_config={"telemetry/opentelemetry": value})
    )  # fmt: skip
    assert (await s.client.get("/a")).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    [resource] = {orjson_key(rs["resource"]) for export in receiver.traces for rs in export["resourceSpans"]}
    port = s.gateway.resources.state[PROM_LISTENERS][0].bound_port
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        body = await resp.text()
    [info] = [f for f in text_string_to_metric_families(body) if f.name == "target_info"]
    return dict(resource), info.samples[0].labels


def orjson_key(resource: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attrs(resource).items()))


ENV = {
    "OTEL_RESOURCE_ATTRIBUTES": " deployment.environment = prod , service.namespace=shop%2Ceu%20west,"
    "service.version=9.9,service.name=from-attributes,team=caf%C3%A9,",
    "OTEL_SERVICE_NAME": "from-env",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


async def test_environment_resource_reaches_otlp_and_target_info(served, upstream, env) -> None:  # type: ignore[no-untyped-def]
    """Every ``OTEL_RESOURCE_ATTRIBUTES`` entry (values percent-decoded) is a resource attribute of the
    spans and a ``target_info`` label; ``OTEL_SERVICE_NAME`` wins over the entries' ``service.name``,
    and both over the service's ``name``; the environment's ``service.version`` over krakenpy's."""
    resource, labels = await _resources(served, upstream, {})
    assert resource["service.name"] == "from-env" and resource["service.version"] == "9.9"
    assert resource["deployment.environment"] == "prod" and resource["service.namespace"] == "shop,eu west"
    assert resource["team"] == "café" and resource["telemetry.sdk.name"] == "krakenpy"
    assert labels["service_name"] == "from-env" and labels["service_namespace"] == "shop,eu west"
    assert labels["deployment_environment"] == "prod" and labels["team"] == "café"
    assert "service_instance_id" not in labels  # the workers merged in a scrape


async def test_configured_names_win_over_the_environment(served, upstream, env) -> None:  # type: ignore[no-untyped-def]
    """What the ``telemetry/opentelemetry`` value names itself is the user's resource, which the
    specification puts over the environment's; the environment fills in the rest."""
    otel = {"service_name": "cfg", "service_version": "1.2", "deploy_env": "stage"}
    resource, labels = await _resources(served, upstream, otel)
    assert resource["service.name"] == "cfg" and resource["service.version"] == "1.2"
    assert resource["deployment.environment"] == "stage" and resource["service.namespace"] == "shop,eu west"
    assert labels["service_name"] == "cfg" and labels["deployment_environment"] == "stage"


async def test_the_sdk_attributes_are_krakenpys_whatever_the_environment_says(  # type: ignore[no-untyped-def]
    served, upstream, monkeypatch
) -> None:
    """``telemetry.sdk.name``, ``.language`` and ``.version`` (required from an SDK by the resource
    semantic conventions; krakenpy writes the OTLP itself) on the spans, the OTLP metrics and
    ``target_info``; ``OTEL_RESOURCE_ATTRIBUTES`` neither replaces nor removes them (as otel-go merges
    its SDK's over the environment's), its other entries still apply, and an entry whose label meets
    theirs in Prometheus is joined, not a second label."""
    from krakenpy import __version__

    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "telemetry.sdk.name=opentelemetry,telemetry.sdk.language=go,telemetry.sdk.version=1.0,"
        "telemetry_sdk_version=x,team=edge",
    )
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    sdk = {"telemetry.sdk.name": "krakenpy", "telemetry.sdk.language": "python", "telemetry.sdk.version": __version__}
    resource, labels = await _resources(served, upstream, {"service_version": "7"})
    assert {k: resource[k] for k in sdk} == sdk and resource["team"] == "edge"
    assert resource["service.version"] == "7"
    assert labels["telemetry_sdk_name"] == "krakenpy" and labels["telemetry_sdk_language"] == "python"
    assert labels["telemetry_sdk_version"] == f"{__version__};x" and labels["team"] == "edge"
    encoded = await _metrics_resource(served, upstream)
    assert {k: encoded[k] for k in sdk} == sdk and encoded["team"] == "edge"


async def _metrics_resource(served: Any, upstream: Any) -> dict[str, Any]:
    """The resource of the first OTLP metrics export a gateway makes (every second) to the receiver."""
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    exporter = {
        "name": "m", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True, "disable_traces": True,
        "custom_metric_reporting_period": 1,
    }  # fmt: skip
    await served(doc([], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}}))
    for _ in range(100):
        if receiver.metrics:
            break
        await asyncio.sleep(0.05)
    return attrs(receiver.metrics[0]["resourceMetrics"][0]["resource"])


@pytest.mark.parametrize("value", ["a=1,broken,team=x", "a=1,=x", "a=%zz", "a=%C3%28"])
async def test_a_malformed_resource_variable_is_ignored_whole(served, upstream, monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    """An entry without ``=`` or a key, a bad escape, or bytes that are no UTF-8: the whole variable is
    discarded (the specification), the gateway starts and serves with its own resource."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", value)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    resource, labels = await _resources(served, upstream, {})
    assert "a" not in resource and "team" not in resource and resource["service.name"] == "gw-root"
    assert "a" not in labels


def test_check_warns_of_a_malformed_resource_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    otel = {"exporters": {"prometheus": [{"name": "p", "port": 9091}]}}
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": otel}))
    done = check_config(config, env={"OTEL_RESOURCE_ATTRIBUTES": "ok=1,nope,k=%zz"})
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert "OTEL_RESOURCE_ATTRIBUTES: entries 2, 3 are not key=value" in out, out
    quiet = check_config(config, env={"OTEL_RESOURCE_ATTRIBUTES": "ok=1,,b=%41"})
    assert "OTEL_RESOURCE_ATTRIBUTES" not in quiet.stdout + quiet.stderr


def test_target_labels_join_attributes_whose_names_meet() -> None:
    # two labels named alike make Prometheus refuse the whole scrape
    from krakenpy.telemetry.metrics.registry import target_labels

    assert target_labels({"a.b": "1", "a_b": "2", "c": 3}) == {"a_b": "1;2", "c": "3"}


def test_check_names_the_otel_variables_it_does_not_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An operator who sets a sampler or disables the SDK by variable is told it has no effect (the
    configuration decides, as in KrakenD), not left to find out from the traces."""
    otel = {"exporters": {"prometheus": [{"name": "p", "port": 9091}]}}
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": otel}))
    env = {
        "OTEL_SDK_DISABLED": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    done = check_config(config, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert (
        "OTEL_SDK_DISABLED, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG: not read (leave telemetry/opentelemetry "
        "out, or disable its exporters, to turn it off; KrakenD's SDK has no such switch either; trace_sample_rate "
        "decides the sampling, as in KrakenD)"
    ) in out, out
    quiet = check_config(config, env={"OTEL_SDK_DISABLED": " "})
    assert "not read" not in quiet.stdout + quiet.stderr


def test_run_starts_and_logs_a_malformed_resource_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port, prom = free_port(), free_port()
    otel = {"exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]}}
    config = write_json(tmp_path / "krakend.json", doc([], port=port, extra_config={"telemetry/opentelemetry": otel}))
    with gateway_process(config, port=port, env={"OTEL_RESOURCE_ATTRIBUTES": "team=a,%%%"}) as proc:
        body = urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=10).read().decode()
        out, err = stop(proc)
    assert "Traceback" not in err and "OTEL_RESOURCE_ATTRIBUTES: entry 2 is not key=value" in out + err, err
    [info] = [f for f in text_string_to_metric_families(body) if f.name == "target_info"]
    assert "team" not in info.samples[0].labels


def test_check_warns_of_raw_bytes_that_are_no_utf8_in_the_resource_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A raw ``\\xff`` (not percent-encoded) was taken as an attribute (sent as U+FFFD), where the
    rule is that a value that is no UTF-8 makes the whole variable ignored, with a warning."""
    otel = {"exporters": {"prometheus": [{"name": "p", "port": 9091}]}}
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": otel}))
    raw = b"ok=1,team=a\xffb".decode("utf-8", "surrogateescape")  # the bytes as the child's environment holds them
    done = check_config(config, env={"OTEL_RESOURCE_ATTRIBUTES": raw})
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert "OTEL_RESOURCE_ATTRIBUTES: entry 2 is not key=value" in out, out
