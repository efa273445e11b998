"""The secrets a backend's ``url_pattern`` query holds under a masked key are found once per build: the
telemetry's redactor learned them as literals, then the backend's build looked for them again for its
refusals (each backend's query read twice, both forms). A component that masks one more query key (the
``auth/api-keys`` ``query`` strategy) makes them be found again: a value under that key is one more."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from krakenpy.gateway import build_gateway, load
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.setup import hub_for, pattern_secrets
from tests.server.process import write_json


def _build(path: Path) -> Redactor:
    async def built() -> Redactor:
        loaded = load(str(path), lint=False)
        gateway = await build_gateway(loaded.service, parsed=loaded.parsed, base_dir=path.parent, serving=False)
        try:
            return hub_for(gateway.resources).redactor
        finally:
            await gateway.close()

    return asyncio.run(built())


def _backend(i: int) -> dict[str, Any]:
    return {"host": ["http://127.0.0.1:19"], "url_pattern": f"/b{i}?api_key=upstream-key-{i:04d}&page=1"}


def test_each_backends_pattern_secrets_are_found_once_per_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = [{"endpoint": f"/e{i}", "backend": [_backend(i)]} for i in range(5)]
    config = write_json(tmp_path / "krakend.json", {"version": 3, "endpoints": endpoints})
    read: Counter[str] = Counter()
    real = Redactor.pattern_secrets

    def counted(self: Redactor, url_pattern: str) -> tuple[str, ...]:
        read[url_pattern] += 1
        return real(self, url_pattern)

    monkeypatch.setattr(Redactor, "pattern_secrets", counted)  # the real method, counted
    redactor = _build(config)
    # each backend's pattern twice: as written and as the request line sends it; not twice more
    assert read == Counter({f"/b{i}?api_key=upstream-key-{i:04d}&page=1": 2 for i in range(5)}), read
    assert redactor.text("refused upstream-key-0003") == f"refused {redactor.mask}"


def test_a_query_key_a_component_masks_makes_its_pattern_value_a_secret(tmp_path: Path) -> None:
    endpoint = {
        "endpoint": "/e",
        "extra_config": {"auth/api-keys": {"roles": ["a"]}},
        "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/b?token_in=upstream-value-1234"}],
    }
    service = {
        "auth/api-keys": {
            "strategy": "query_string",
            "identifier": "token_in",
            "keys": [{"key": "k" * 20, "roles": ["a"]}],
        }
    }
    config = write_json(tmp_path / "krakend.json", {"version": 3, "extra_config": service, "endpoints": [endpoint]})
    redactor = _build(config)
    assert pattern_secrets(redactor, "/b?token_in=upstream-value-1234") == ("upstream-value-1234",)
