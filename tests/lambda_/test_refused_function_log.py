"""A Lambda backend's refused function (a name outside ``allowed_functions``) is logged once, as every
failure is (README, Application log and failures): one ERROR line in KrakenD's shape with the request
id, not a WARNING beside it. The function is never invoked, so no emulator is needed: the backend's
Lambda endpoint is a loopback port nobody listens on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli_gateway import gateway_process, stop
from tests.conftest import free_port


def test_a_refused_function_is_one_log_line(tmp_path: Path) -> None:
    port = free_port()
    backend = {
        "host": ["http://127.0.0.1:10"],
        "url_pattern": "/",
        "extra_config": {
            "backend/lambda": {
                "region": "us-east-1",
                "endpoint": f"http://127.0.0.1:{free_port()}",
                "max_retries": 0,
                "function_param_name": "Fn",
                "allowed_functions": ["hello"],
            }
        },
    }
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps({"version": 3, "port": port, "endpoints": [{"endpoint": "/call/{fn}", "backend": [backend]}]})
    )
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}
    with gateway_process(config, port=port, env=env) as proc:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/call/notlisted", timeout=10).read()
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 403
        out, err = stop(proc)
    lines = [line for line in (out + err).splitlines() if "notlisted" in line]
    failure = [line for line in lines if "[ENDPOINT: /call/{fn}]" in line]
    assert len(failure) == 1 and " ERROR: " in failure[0] and "request_id=" in failure[0], lines
    access = [line for line in lines if line.startswith("[GIN]") or line.startswith("Error #01")]
    assert sorted(lines) == sorted(failure + access), lines  # nothing else names the refused function
