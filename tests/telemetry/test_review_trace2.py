"""The trace2 review's findings: a record a template cannot write never stops the exporter (nor
overflows the C stack, compiled), export failures log no collector credentials, ``Span.made`` keeps
its record's id and start time, and OpenCensus' sampler decides every request it replaced."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.export import OtlpExporter, OtlpTarget, _reason
from krakenpy.telemetry.opencensus.spans import OpenCensusSampler
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.context import compile_extract, extract
from krakenpy.telemetry.trace.spans import Record, Span, SpanBuffer, SpanShape
from krakenpy.telemetry.trace.templates import ClientTemplate, ServerTemplate
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.conftest import refusing_port

TRACE = "0af7651916cd43dd8448eb211c80319c"
CANARY = "s3cretCANARY"
ROOT = Path(__file__).resolve().parents[2]


class _Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text")


class _Text(str):
    """A str subclass: the templates' cleaning (``type(v) is str``) passes it by."""


def _server(i: int, status: Any = 0, target: Any = "/a", code: Any = 200) -> Record:
    template = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    values = ("GET", "/a", target, "gw", "ua", "10.0.0.1", None, "", code, 3)
    return (template, TRACE, f"{i:016x}", None, 1_700_000_000_000_000_000, 1_700_000_000_000_000_100,
            status, "", *values)  # fmt: skip


def _client(i: int, status: Any = 0, url: Any = "http://b/u") -> Record:
    template = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    values = (url, "b", 80, "GET", 0, 200, 3, None, 0)
    return (template, TRACE, f"{i:016x}", "b7ad6b7169203331", 1_700_000_000_000_000_000, 1_700_000_000_000_000_100,
            status, "", *values)  # fmt: skip


async def _exported_after_bad_records() -> None:
    """Ill-typed records (a status that is no int, targets orjson refuses: an int over 64 bits, an
    object, a str subclass holding a surrogate escape) among good ones: the exporter drops and
    counts what it cannot write, sends the rest, and its loop goes on to export the next good span."""
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    buffer = SpanBuffer()
    assert server.port is not None
    exporter = OtlpExporter((OtlpTarget("r", "127.0.0.1", server.port, use_http=True),), buffer, None, {})
    await exporter.start()
    try:
        for record in (
            _server(1, status="2"), _client(2, status=[2]), _server(3, target=1 << 70), _server(4, target=object()),
            _client(5, url=1 << 64), _server(6, code="200"), _server(10, target=_Text("/a\udcff")), _server(7),
        ):  # fmt: skip
            buffer.add(record)
        await exporter.flush()
        by_id = {sp["spanId"]: sp for sp in receiver.spans()}
        assert set(by_id) == {f"{i:016x}" for i in (3, 4, 5, 6, 7, 10)}
        assert attrs(by_id[f"{3:016x}"])["url.full"] == str(1 << 70)  # as text: an int64 field would be refused
        assert attrs(by_id[f"{10:016x}"])["url.full"] == "/a\ufffd"
        assert exporter.dropped_spans == 2 and exporter.exported_spans == 6
        buffer.add(_server(8, status="bad"))
        buffer._notify = None  # the loop's own clock, not a wake-up
        async with asyncio.timeout(10):  # the span loop's flush (every 0.5 s) met the bad record
            while exporter.dropped_spans < 3:
                await asyncio.sleep(0.05)
        buffer.add(_server(9))
        for _ in range(100):
            if f"{9:016x}" in {sp["spanId"] for sp in receiver.spans()}:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the span loop stopped exporting")
        assert exporter.dropped_spans == 3
    finally:
        await exporter.stop()
        await server.close()


async def test_unwritable_records_are_dropped_and_export_goes_on() -> None:
    await _exported_after_bad_records()


def test_unwritable_records_never_crash_the_worker() -> None:
    """The same in a fresh interpreter (compiled, the old recursion was a SIGSEGV, not an exception)."""
    code = (
        "import asyncio\n"
        "from tests.telemetry.test_review_trace2 import _exported_after_bad_records\n"
        "asyncio.run(_exported_after_bad_records())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


@pytest.mark.parametrize("tls", [False, True])
async def test_export_failure_logs_no_collector_credentials(tls: bool, caplog: pytest.LogCaptureFixture) -> None:
    with refusing_port() as port:
        target = OtlpTarget("c", f"user:{CANARY}@127.0.0.1", port, use_http=True, tls=tls)
        buffer = SpanBuffer()
        exporter = OtlpExporter((target,), buffer, None, {})
        await exporter.start()
        try:
            buffer.add(_server(1))
            with caplog.at_level(logging.WARNING, logger="krakenpy.telemetry"):
                await exporter.flush()
        finally:
            await exporter.stop()
    logged = [r.getMessage() for r in caplog.records]
    assert any("traces export to c failed: " in m for m in logged), logged
    assert CANARY not in caplog.text


def test_export_failure_reason_is_never_empty() -> None:
    target = OtlpTarget("c", f"u:{CANARY}@collector", 4318, use_http=True)
    assert _reason(TimeoutError(), target, Redactor()) == "TimeoutError: no answer within 10 s"
    said = _reason(OSError(f"cannot reach u:{CANARY}@collector:4318"), target, Redactor())
    assert said == "OSError: cannot reach REDACTED:REDACTED@collector:4318"


def test_span_made_keeps_the_records_id_and_start() -> None:
    span = Span.made((None, TRACE, "", None, 0, 5, 0, ""), "n", 1, {}, None)
    assert span.span_id == "" and span.start_ns == 0 and span.end_ns == 5
    drawn = Span(TRACE, None, "n", 1, {})
    assert drawn.span_id and drawn.start_ns > 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"},
        {"traceparent": f"00-{TRACE}-b7ad6b7169203331-00"},
        {"x-b3-traceid": TRACE, "x-b3-spanid": "b7ad6b7169203331", "x-b3-sampled": "1"},
        {"b3": f"{TRACE}-b7ad6b7169203331-0"},
    ],
)
@pytest.mark.parametrize("percent", [0, 1, 50, 100])
def test_opencensus_sampler_decides_the_compiled_extract_as_extract(headers: dict[str, str], percent: int) -> None:
    sampler = OpenCensusSampler(percent)
    propagators = ("tracecontext", "b3multi", "b3")

    def get(name: str) -> str | None:  # as a request's headers: case-insensitive
        return headers.get(name.lower())

    got = compile_extract(propagators, sampler)(get)
    want = extract(get, propagators, sampler)
    assert got.sampled == sampler.sample(got.trace_id, _flag(headers))
    if headers:
        assert (got.trace_id, got.sampled) == (want.trace_id, want.sampled)
    if percent == 0:
        assert not got.sampled


def _flag(headers: dict[str, str]) -> bool | None:
    if "traceparent" in headers:
        return headers["traceparent"].endswith("-01")
    if "x-b3-sampled" in headers:
        return headers["x-b3-sampled"] == "1"
    if "b3" in headers:
        return headers["b3"].endswith("-1")
    return None


async def test_a_batch_of_unwritable_records_leaves_no_client_text_behind() -> None:
    """tracecut review: when every record of a batch is dropped, the trial writes' cached client texts
    (URL, host, user agent, client address) are forgotten too, not kept until the next batch."""
    from krakenpy.telemetry.trace import templates

    buffer = SpanBuffer()
    exporter = OtlpExporter((OtlpTarget("r", "127.0.0.1", refusing_port(), use_http=True),), buffer, None, {})
    buffer.add(_client(1, status=[2], url="http://b/pay?card=4111"))
    buffer.add(_server(2, target="/pay?card=4111", code=_Unprintable()))  # fails after its client texts
    await exporter.flush()
    assert exporter.exported_spans == 0 and exporter.dropped_spans == 2
    assert templates._BATCH == {}
