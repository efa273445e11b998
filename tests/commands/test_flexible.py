"""Flexible Configuration through the real CLI, on folders shaped like KrakenD's documented examples
(settings/*.json, partials/, templates/*.tmpl, a krakend.tmpl base)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from krakenpy.commands.flexible import FlexibleConfig, FlexibleConfigError, from_env, render_file
from tests.conftest import ROOT, free_port

BASE = """{
  "$schema": "https://www.krakend.io/schema/krakend.json",
  "version": 3,
  "name": "{{ env "SERVICE_NAME" }} ({{ .service.environment }})",
  "port": {{ .service.port }},
  "timeout": "{{ .service.timeout }}",
  "host": {{ marshal .service.default_hosts }},
  "extra_config": {{ marshal .service.extra_config }},
  "endpoints": [
    {{- range $idx, $endpoint := .endpoint.example_group }}
    {{- if $idx }},{{ end }}
    {
      "endpoint": "{{ $endpoint.endpoint }}",
      "backend": [
        {
          "url_pattern": "{{ $endpoint.backend }}",
          "extra_config": {{ include "backend_extra_config.json" }}
        }
      ]
    }
    {{- end }},
    {{ template "echo_endpoint.tmpl" . }}
  ]
}
"""
ECHO_TEMPLATE = """{
      "endpoint": "/echo",
      "backend": [{"host": ["http://127.0.0.1:{{ .service.port }}"], "url_pattern": "/__echo/x", "allow": ["req_uri"]}]
    }"""


def _project(tmp_path: Path, port: int = 8080) -> Path:
    (tmp_path / "settings").mkdir()
    (tmp_path / "partials").mkdir()
    (tmp_path / "templates").mkdir()
    service = {
        "port": port,
        "environment": "dev",
        "timeout": "3s",
        "default_hosts": ["http://127.0.0.1:8000"],
        "extra_config": {"router": {"return_error_msg": True}},
    }
    endpoints = {
        "example_group": [
            {"endpoint": "/users/{id}", "backend": "/v1/users?userId={id}"},
            {"endpoint": "/posts/{id}", "backend": "/posts?postId={id}"},
        ]
    }
    (tmp_path / "settings" / "service.json").write_text(json.dumps(service))
    (tmp_path / "settings" / "endpoint.json").write_text(json.dumps(endpoints))
    (tmp_path / "settings" / "README.txt").write_text("not a settings file: ignored")
    (tmp_path / "partials" / "backend_extra_config.json").write_text('{"proxy": {"shadow": false}}')
    (tmp_path / "templates" / "echo_endpoint.tmpl").write_text(ECHO_TEMPLATE)
    (tmp_path / "krakend.tmpl").write_text(BASE)
    return tmp_path


def _env(project: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
    env.update(
        FC_ENABLE="1",
        FC_SETTINGS=str(project / "settings"),
        FC_PARTIALS=str(project / "partials"),
        FC_TEMPLATES=str(project / "templates"),
        SERVICE_NAME="KrakenD API Gateway",
    )
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_flexible_from_env_needs_a_non_empty_fc_enable() -> None:
    assert from_env({}) is None
    assert from_env({"FC_ENABLE": ""}) is None
    fc = from_env({"FC_ENABLE": "0", "FC_SETTINGS": "s", "FC_OUT": "o.json"})
    assert fc == FlexibleConfig(settings=Path("s"), out=Path("o.json"))


def test_flexible_check_renders_settings_partials_and_templates(tmp_path: Path) -> None:
    project = _project(tmp_path)
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project, FC_OUT="out.json"), cwd=project)
    assert out.returncode == 0, out.stderr
    assert "Syntax OK!" in out.stdout
    rendered = json.loads((project / "out.json").read_text())
    assert rendered["name"] == "KrakenD API Gateway (dev)"
    assert rendered["port"] == 8080
    assert rendered["host"] == ["http://127.0.0.1:8000"]
    assert [e["endpoint"] for e in rendered["endpoints"]] == ["/users/{id}", "/posts/{id}", "/echo"]
    assert rendered["endpoints"][1]["backend"][0] == {
        "url_pattern": "/posts?postId={id}",
        "extra_config": {"proxy": {"shadow": False}},
    }


def test_flexible_routes_and_audit_read_the_rendered_file(tmp_path: Path) -> None:
    project = _project(tmp_path)
    scratch = tmp_path / "scratch"  # a private TMPDIR: other tests' renders cannot show up in it
    scratch.mkdir()
    env = {**_env(project), "TMPDIR": str(scratch)}
    routes = _cli("routes", "-c", "krakend.tmpl", "--format", "json", env=env, cwd=project)
    assert routes.returncode == 0, routes.stderr
    assert [e["endpoint"] for e in json.loads(routes.stdout)["endpoints"]] == ["/users/{id}", "/posts/{id}", "/echo"]
    audit = _cli("audit", "-c", "krakend.tmpl", "-s", "LOW", env=env, cwd=project)
    assert "KP.3.1" in audit.stderr
    assert not list(scratch.iterdir())


def test_flexible_run_serves_the_rendered_config(tmp_path: Path) -> None:
    port = free_port()
    project = _project(tmp_path, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", "krakend.tmpl", "-w", "1"],
        cwd=project,
        env=_env(project, KRAKEND_ECHO_ENDPOINT="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from tests.cli_gateway import wait_http

        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/echo", timeout=5) as resp:
            assert json.loads(resp.read()) == {"req_uri": "/__echo/x"}
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_flexible_template_error_names_file_and_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "templates" / "echo_endpoint.tmpl").write_text('{\n  "endpoint": "/x",\n  {{ if .service.port }}\n')
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project), cwd=project)
    assert out.returncode == 1
    assert "echo_endpoint.tmpl:4: unexpected end of input: missing {{end}}" in out.stderr
    assert "Traceback" not in out.stderr


def test_flexible_missing_partial_is_an_error_at_its_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "partials" / "backend_extra_config.json").unlink()
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project), cwd=project)
    assert out.returncode == 1
    assert "krakend.tmpl:17: at <include" in out.stderr
    assert "cannot read partial" in out.stderr


def test_flexible_bad_settings_file_is_reported_with_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "settings" / "endpoint.json").write_text('{\n  "example_group": [,]\n}')
    (project / "settings" / "list.json").write_text("[1, 2]")
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project), cwd=project)
    assert out.returncode == 1
    assert "endpoint.json: invalid JSON at line 2" in out.stderr
    assert "list.json: a settings file must hold a JSON object" in out.stderr


def test_flexible_no_value_output_is_reported_where_it_came_from(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "krakend.tmpl").write_text(BASE.replace(".service.port", ".service.prot"))
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project), cwd=project)
    assert out.returncode == 1
    assert "not valid JSON at line 5" in out.stderr
    assert "krakend.tmpl:5: <.service.prot> has no value" in out.stderr


def test_flexible_render_file_keeps_fc_out_and_removes_temporary_files(tmp_path: Path) -> None:
    project = _project(tmp_path)
    fc = FlexibleConfig(project / "settings", project / "partials", project / "templates")
    rendered = render_file(project / "krakend.tmpl", fc)
    assert rendered.path.name == "krakend.json" and rendered.path.is_file()
    rendered.cleanup()
    assert not rendered.path.exists()
    kept = render_file(project / "krakend.tmpl", dataclasses.replace(fc, out=project / "o.json"))
    kept.cleanup()
    assert (project / "o.json").is_file()


def test_flexible_missing_settings_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "krakend.tmpl").write_text("{}")
    with pytest.raises(FlexibleConfigError, match="FC_SETTINGS: cannot read folder"):
        render_file(tmp_path / "krakend.tmpl", FlexibleConfig(settings=tmp_path / "nope"))


def test_flexible_playground_sample_renders(tmp_path: Path) -> None:
    """The repository's FC sample (sample-configs/flexible) renders into a config that passes check."""
    sample = ROOT / "sample-configs" / "flexible"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
    env.update(FC_ENABLE="1", FC_SETTINGS="settings/dev", FC_PARTIALS="partials", FC_TEMPLATES="templates")
    out = _cli("check", "-c", "krakend.tmpl", env=env, cwd=sample)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_flexible_partial_that_is_not_a_regular_file_is_an_error(tmp_path: Path, kind: str) -> None:
    project = _project(tmp_path)
    partial = project / "partials" / "backend_extra_config.json"
    partial.unlink()
    if kind == "device":
        partial.symlink_to("/dev/zero")  # read whole, it would exhaust memory
    else:
        os.mkfifo(partial)  # nobody writes: opening it would wait for ever
    out = _cli("check", "-c", "krakend.tmpl", env=_env(project), cwd=project)
    assert out.returncode == 1
    assert "krakend.tmpl:17: at <include" in out.stderr
    assert "not a regular file" in out.stderr
    assert "Traceback" not in out.stderr
