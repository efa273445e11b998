"""``OTEL_BSP_*`` (otel-go's batch span processor, KrakenD's, reads them): the span exports of a real
gateway to the OTLP receiver on 127.0.0.1 follow the batch size, the queue bound and the delay the
environment sets; ``check`` names a value it cannot use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.components.telemetry.test_otel_propagation_rules import _otel
from tests.server.process import write_json


def _sizes(receiver: Receiver) -> list[int]:
    return [
        sum(len(ss["spans"]) for rs in export["resourceSpans"] for ss in rs["scopeSpans"])
        for export in list(receiver.traces)
    ]


async def test_span_exports_follow_the_batch_variables(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` spans, sent as soon as one is full (the delay, ten
    minutes, never runs out here); ``OTEL_BSP_MAX_QUEUE_SIZE`` bounds the spans waiting."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", " 2 ")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    base = await upstream(recording_app([]))
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": _otel(receiver_port)})
    )  # fmt: skip
    exporter = s.gateway.resources.state[EXPORTER]
    assert exporter.buffer.limit == 64
    for _ in range(3):
        assert (await s.client.get("/a")).status == 200
    for _ in range(200):  # the span loop woken by a full batch posts it (no flush here)
        if sum(_sizes(receiver)) >= 4:
            break
        await asyncio.sleep(0.05)
    sizes = _sizes(receiver)
    assert sizes and set(sizes) == {2}, sizes


def test_check_names_a_batch_variable_it_cannot_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": _otel(4318)}))
    done = check_config(config, env={"OTEL_BSP_SCHEDULE_DELAY": "5s", "OTEL_BSP_MAX_QUEUE_SIZE": "0"})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "OTEL_BSP_SCHEDULE_DELAY='5s' is not a whole number above 0: ignored" in out, out
    assert "OTEL_BSP_MAX_QUEUE_SIZE='0' is not a whole number above 0: ignored" in out, out
    quiet = check_config(config, env={"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_EXPORT_TIMEOUT": "2000"})
    assert "OTEL_BSP" not in quiet.stdout + quiet.stderr


@pytest.mark.parametrize("name", ["OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_EXPORTER_OTLP_TIMEOUT"])
def test_a_number_too_long_for_an_int64_is_ignored_with_a_warning(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    """5000 digits made Python's ``int`` raise (its 4300-digit limit): ``check`` and ``run`` ended in
    a traceback; 20 digits, past what otel-go's parser takes, was taken as it stood."""
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": _otel(4318)}))
    for value in ("9" * 5000, "9" * 20):
        done = check_config(config, env={name: value})
        out = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in out, out
        assert f"{name}='9999999999" in out and " above 0: ignored" in out, out
        assert len(out) < 1000, out  # the value is cut in the warning
    assert name not in check_config(config, env={name: str((1 << 63) - 1)}).stdout
