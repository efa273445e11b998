"""``check`` going on past the schema's errors: a component block whose parse then fails in a way no
parse is written to fail (a consequence of those errors, most likely) is left out, and said at its
JSON path as a warning; it used to be left out without a word.

No component's parse fails so today (the parses are written to raise ConfigError, and the fuzzing of
every namespace found none), so the real CLI runs in this process with one real component's parse
replaced by one that raises KeyError: the only stand-in, the rest is the real load and output."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import krakenpy.gateway
from krakenpy.cli import main
from krakenpy.components import registry
from krakenpy.components.base import Site

NAMESPACE = "security/cors"
WHERE = "endpoints[0].extra_config.security/cors"


def _broken(raw: Any, site: Site) -> Any:
    raise KeyError("allow_origins")


@pytest.fixture
def broken_cors(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.component

    def component(namespace: str) -> registry.AnyComponent:
        found = real(namespace)
        return replace(found, parse=_broken) if namespace == NAMESPACE else found

    monkeypatch.setattr(registry, "component", component)


def _config(tmp_path: Path, port: object) -> str:
    doc = {
        "version": 3,
        "port": port,
        "endpoints": [{
            "endpoint": "/a",
            "extra_config": {NAMESPACE: {"allow_origins": ["https://a.example"]}},
            "backend": [{"url_pattern": "/", "host": ["http://127.0.0.1:8000"]}],
        }],
    }  # fmt: skip
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("lint", [False, True])
def test_a_block_left_unchecked_past_the_errors_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken_cors: None, lint: bool
) -> None:
    code = main(["check", *(["--lint"] if lint else []), "--skip-components", "-c", _config(tmp_path, "x")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"WARNING: {WHERE}: not checked further: reading it failed past the file's errors (KeyError)" in err
    assert "ERROR: port: 'x' is not of type 'integer'" in err and "1 error(s)" in err, err


def test_without_other_errors_the_failure_is_not_hidden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken_cors: None
) -> None:
    """With nothing else wrong, such a failure is a bug of krakenpy's: raised, not turned into a line."""
    with pytest.raises(KeyError):
        main(["check", "--skip-components", "-c", _config(tmp_path, 8080)])


@pytest.fixture
def broken_build(monkeypatch: pytest.MonkeyPatch) -> None:
    async def build(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("pools")

    monkeypatch.setattr(krakenpy.gateway, "build_gateway", build)


def test_a_build_stopped_past_the_errors_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken_build: None
) -> None:
    """The same for the build (Lua sources, files, clients): stopped by an unexpected failure past the
    file's errors, it used to add nothing; what it had not reached is now said to be unchecked."""
    code = main(["check", "-c", _config(tmp_path, "x")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "WARNING: the build stopped past the file's errors (KeyError): what it had not reached" in err, err
    assert "1 error(s)" in err, err
