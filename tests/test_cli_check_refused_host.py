"""``check`` goes on past the model's errors (the service built despite them): a backend host the
model refused (not a valid host, at the backend or in the service's ``host`` it inherits) was then
also said to be missing, a warning (an error with ``--lint``) about the same mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import _cli, _write

BAD_HOST = "ftp://127.0.0.1:8000"


@pytest.mark.parametrize("where", ["backend", "service"])
@pytest.mark.parametrize("lint", [False, True])
def test_a_refused_host_is_not_also_said_to_be_missing(tmp_path: Path, where: str, lint: bool) -> None:
    backend: dict[str, Any] = {"url_pattern": "/"}
    doc: dict[str, Any] = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]}
    (backend if where == "backend" else doc)["host"] = [BAD_HOST]
    out = _cli("check", *(["--lint"] if lint else []), "-c", _write(tmp_path, doc))
    lines = out.stderr.splitlines()
    assert out.returncode == 1, out.stderr
    assert any("not valid: invalid host" in line for line in lines if line.startswith("ERROR: ")), out.stderr
    assert not any("no host here" in line for line in lines), out.stderr


def test_a_backend_without_any_host_is_still_said(tmp_path: Path) -> None:
    """The warning stays for a backend with no host at all, beside another backend's refused one."""
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/a", "backend": [{"url_pattern": "/", "host": [BAD_HOST]}]},
            {"endpoint": "/b", "backend": [{"url_pattern": "/"}]},
        ],
    }
    out = _cli("check", "-c", _write(tmp_path, doc))
    assert out.returncode == 1, out.stderr
    assert "WARNING: endpoints[1].backend[0].host: no host here" in out.stderr, out.stderr
    assert "endpoints[0].backend[0].host: no host" not in out.stderr, out.stderr
