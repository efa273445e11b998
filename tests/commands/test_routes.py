"""``krakenpy routes``: the route map of real sample configs in table, JSON and Mermaid form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from krakenpy.commands.routes import render_json, render_mermaid, render_table
from krakenpy.commands.routes_model import format_duration, route_map
from krakenpy.gateway import load
from tests.conftest import ROOT

SAMPLES = ROOT / "sample-configs"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "routes", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_routes_json_lists_every_endpoint_backend_and_filter() -> None:
    routes = json.loads(render_json(route_map(load(SAMPLES / "krakend.json").service)))
    assert routes["name"] == "krakenpy tour (make run)"
    assert [n["name"] for n in routes["namespaces"]] == ["router"]
    by_path = {e["endpoint"]: e for e in routes["endpoints"]}
    assert len(by_path) == 7
    profile = by_path["/users/{id}/profile"]
    assert profile["method"] == "GET" and profile["timeout"] == "3s"
    first, second = profile["backends"]
    assert first["target"] == "http://127.0.0.1:8000/users/{id}"
    assert first["allow"] == ["name", "address.city"] and first["mapping"] == {"name": "full_name"}
    assert second["group"] == "activity"
    seq = by_path["/posts/{id}/with-author"]
    assert [n["name"] for n in seq["namespaces"]] == ["proxy"]
    assert seq["backends"][1]["target"] == "http://127.0.0.1:8000/users/{resp0_post.author_id}"


def test_routes_lambda_targets_name_the_function_or_parameter() -> None:
    routes = route_map(load(SAMPLES / "lambda.json").service)
    targets = {e.path: [b.target for b in e.backends] for e in routes.endpoints}
    assert targets["/hello/{first_name}/{last_name}"] == ["lambda:hello"]
    assert targets["/call/{fn}"] == ["lambda:{Fn} (allowed: hello, my-function)"]


def test_routes_marks_namespaces_krakenpy_ignores(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "extra_config": {"plugin/middleware": {"name": ["x"]}},
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"proxy": {"sequential": False}},
                "backend": [{"host": ["h:80"], "url_pattern": "/", "extra_config": {"modifier/response-headers": {}}}],
            }
        ],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    table = render_table(route_map(load(path).service))
    assert "service namespaces: plugin/middleware (ignored)" in table
    assert "namespaces: proxy\n" in table
    assert "modifier/response-headers (ignored)" in table


def test_routes_mermaid_is_a_flowchart_with_escaped_labels() -> None:
    chart = render_mermaid(route_map(load(SAMPLES / "aggregation.json").service))
    lines = chart.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  e0["GET /users/{id}/profile<br/>json, 3s"]' in lines
    assert "  gateway --> e0" in lines and "  e0 --> e0b1" in lines
    assert all('"' not in line.split('"', 1)[1].rsplit('"', 1)[0] for line in lines if '["' in line)


def test_routes_cli_formats_and_errors(tmp_path: Path) -> None:
    table = _cli("-c", str(SAMPLES / "minimal.json"))
    assert table.returncode == 0, table.stderr
    assert "GET /users/{id}" in table.stdout and "└─ GET http://127.0.0.1:8000/users/{id}  [json]" in table.stdout
    assert _cli("-c", str(SAMPLES / "minimal.json"), "--format", "mermaid").stdout.startswith("flowchart LR")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 2, "endpoints": []}')
    out = _cli("-c", str(bad))
    assert out.returncode == 1 and "version" in out.stderr and "Traceback" not in out.stderr


def test_routes_format_duration_uses_the_largest_whole_unit() -> None:
    assert [format_duration(s) for s in (3.0, 0.2, 90.0, 3600.0, 1.5)] == ["3s", "200ms", "90s", "1h", "1500ms"]


def test_routes_hide_the_password_of_a_backend_url() -> None:
    from krakenpy.config.build import build_service
    from tests.conftest import make_config

    amqp = {"name": "q", "exchange": "e", "routing_key": ["k"]}
    backend = {"host": ["amqp://user:br0ker-secret@mq:5672/"], "disable_host_sanitize": True, "url_pattern": "/"}
    doc = make_config(
        [{"endpoint": "/next", "backend": [{**backend, "extra_config": {"backend/amqp/consumer": amqp}}]}]
    )
    routes = route_map(build_service(doc))
    shown = render_json(routes) + render_table(routes) + render_mermaid(routes)
    assert "br0ker-secret" not in shown
    assert "amqp://user:[REDACTED]@mq:5672/" in render_json(routes)


def test_routes_print_integers_beyond_64_bits_as_the_config_has_them(tmp_path: Path) -> None:
    # TOML keeps such an integer (JSON and YAML read it as Go does, a float): orjson refused to write it
    config = tmp_path / "big.toml"
    config.write_text(
        'version = 3\n[[endpoints]]\nendpoint = "/a"\n[[endpoints.backend]]\nhost = ["http://127.0.0.1:8000"]\n'
        'url_pattern = "/x"\n[endpoints.backend.extra_config.proxy]\n'
        'flatmap_filter = [{type = "del", args = ["a"], n = 123456789012345678901234567890}]\n'
    )
    out = _cli("-c", str(config), "-f", "json")
    assert out.returncode == 0, out.stderr
    backend = json.loads(out.stdout)["endpoints"][0]["backends"][0]
    assert backend["flatmap_filter"][0]["n"] == 123456789012345678901234567890
    for fmt in ("table", "mermaid"):
        out = _cli("-c", str(config), "-f", fmt)
        assert out.returncode == 0 and '"n":123456789012345678901234567890' in out.stdout.replace("#quot;", '"')
