"""``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` and ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``: the string
values of span attributes cut to that many characters, as otel-go's SDK (KrakenD's) cuts them, the
span's variable over the general one. A real gateway, a backend and an OTLP receiver on 127.0.0.1,
and the real ``check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver, attrs, otlp_traces_exporter
from tests.server.process import write_json

AGENT = "agent-" + "a" * 94
NOTE = "note-" + "n" * 95


async def _spans(served: Any, upstream: Any) -> dict[str, dict[str, Any]]:
    """The attributes of one request's spans by span name (user agent and a backend static attribute
    of 100 characters each)."""
    receiver = Receiver()
    collector = await upstream(receiver.app())
    base = await upstream(recording_app([]))
    otel = {
        "exporters": {"otlp": [otlp_traces_exporter(collector)]},
        "layers": {"backend": {"traces": {"round_trip": True, "static_attributes": [{"key": "note", "value": NOTE}]}}},
    }
    endpoint = {"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}
    s = await served(doc([endpoint], extra_config={"telemetry/opentelemetry": otel}))
    assert (await s.client.get("/a", headers={"User-Agent": AGENT})).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    return {span["name"]: attrs(span) for span in receiver.spans()}


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", raising=False)
    monkeypatch.delenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", raising=False)


@pytest.mark.parametrize(
    ("env", "limit"),
    [
        ({"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "20", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "10"}, 20),
        ({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": " 10 "}, 10),
        ({"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "x", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "12"}, 12),
        ({"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "-1", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "12"}, None),
    ],
)
async def test_string_attribute_values_are_cut_to_the_limit(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], limit: int | None
) -> None:
    """Each string value (a client's user agent on the SERVER span, a configured static attribute on
    the backend spans) keeps its first ``limit`` characters; numbers, booleans and the spans' names
    are as without the variables; a negative value is otel-go's "no limit"."""
    _clear(monkeypatch)
    whole = await _spans(served, upstream)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cut = await _spans(served, upstream)
    assert set(cut) == set(whole) and len(whole) >= 3, whole
    for name, attributes in whole.items():
        assert set(cut[name]) == set(attributes), name
        for key, value in attributes.items():
            if limit is not None and isinstance(value, str):
                assert len(cut[name][key]) <= limit, (name, key)
            if key in ("url.full", "server.address", "http.request.id"):
                continue  # differ between the two requests (ports, ids)
            expected = value[:limit] if isinstance(value, str) and limit is not None else value
            if isinstance(value, float):  # durations differ between the two requests
                assert isinstance(cut[name][key], float), (name, key)
            else:
                assert cut[name][key] == expected, (name, key)
    [server] = [a for a in cut.values() if "user_agent.original" in a]
    assert server["user_agent.original"] == (AGENT[:limit] if limit is not None else AGENT)
    noted = [a["note"] for a in cut.values() if "note" in a]
    assert noted and all(n == (NOTE[:limit] if limit is not None else NOTE) for n in noted), noted


def test_check_warns_about_a_limit_that_is_no_number_and_not_that_it_is_unread(tmp_path: Path) -> None:
    otel = {"exporters": {"otlp": [{"name": "o", "host": "collector.example", "use_http": True}]}}
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": otel}))
    done = check_config(
        config, env={"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "1k", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64"}
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT='1k' is not a whole number of characters: ignored" in out, out
    assert "not read" not in out, out
    quiet = check_config(config, env={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64"})
    assert "LENGTH_LIMIT" not in quiet.stdout + quiet.stderr
