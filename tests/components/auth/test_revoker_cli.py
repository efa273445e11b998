"""auth/revoker through the real CLI: ``check`` never touches a running gateway's store, and new
filter sizes (restart or hot reload with several workers) keep every revocation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.components.auth.gorpc_client import run_client
from tests.conftest import free_port
from tests.jose.helpers import claims, mint, new_key, public_jwk
from tests.server.process import Gateway, wait_http, write_json

ADMIN_KEY = "probe-admin-key"


def _config(tmp_path: Path, port: int, admin: int, ttl: int, capacity: int = 10000) -> dict[str, Any]:
    revoker = {"N": capacity, "P": 0.001, "TTL": ttl, "port": admin, "token_keys": ["jti", "sub"]}
    revoker |= {"admin_key_env": "PROBE_ADMIN_KEY", "store_path": str(tmp_path / "revoker.bin")}
    return {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        "extra_config": {"auth/revoker": revoker},
        "endpoints": [
            {
                "endpoint": "/private",
                "extra_config": {"auth/validator": {"alg": "HS256", "jwk_local_path": str(tmp_path / "jwk.json")}},
                "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/p", "allow": ["req_uri"]}],
            }
        ],
    }


def _status(port: int, token: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/private", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _statuses(port: int, token: str, count: int = 20) -> set[int]:
    """Fresh connections: with several workers, the kernel spreads them over every worker."""
    return {_status(port, token) for _ in range(count)}


def _revoke(admin: int, element: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{admin}/revoke",
        data=orjson.dumps({"elements": [element]}),
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _setup(tmp_path: Path) -> tuple[str, str]:
    key = new_key("HS256", "k1")
    (tmp_path / "jwk.json").write_bytes(orjson.dumps({"keys": [public_jwk(key)]}))
    return mint(key, claims(jti="abc"), alg="HS256"), mint(key, claims(jti="def"), alg="HS256")


def test_revoker_cli_check_leaves_the_running_store_alone_and_a_restart_keeps_it(tmp_path: Path) -> None:
    revoked, _ = _setup(tmp_path)
    port, admin = free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(tmp_path, port, admin, ttl=600))
    env = {"PROBE_ADMIN_KEY": ADMIN_KEY}
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert _status(port, revoked) == 200
        _revoke(admin, "jti-abc")
        assert _status(port, revoked) == 401
        store = (tmp_path / "revoker.bin").read_bytes()

        changed = write_json(tmp_path / "changed.json", _config(tmp_path, port, admin, ttl=601))
        out = subprocess.run(
            [sys.executable, "-m", "krakenpy", "check", "-c", str(changed)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, **env},
        )
        assert out.returncode == 0 and "Syntax OK" in out.stdout, out.stderr
        assert _status(port, revoked) == 401
        assert (tmp_path / "revoker.bin").read_bytes() == store and not (tmp_path / "revoker.bin.old").exists()
        assert "revoker.bin.old" in out.stderr  # it says what a start would do with the store
        assert gateway.stop() == 0
    finally:
        gateway.kill()

    gateway = Gateway(changed, "-w", "1", cwd=tmp_path, env=env)  # restarted with other filters
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert _status(port, revoked) == 401
        gateway.wait_log(r"revocation store .* filters changed .* stay checked from .*revoker\.bin\.old")
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_revoker_cli_hot_reloads_with_two_workers_keep_revocations(tmp_path: Path) -> None:
    revoked, later = _setup(tmp_path)
    port, admin = free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(tmp_path, port, admin, ttl=600))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"PROBE_ADMIN_KEY": ADMIN_KEY})
    try:
        gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{port}/__health")
        _revoke(admin, "jti-abc")
        assert _statuses(port, revoked) == {401}

        # same filters: both workers reopen the same file
        write_json(config, {**_config(tmp_path, port, admin, ttl=600), "name": "same"})
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        assert _statuses(port, revoked) == {401}

        # new filters: the old file is kept aside and still checked by every worker
        write_json(config, _config(tmp_path, port, admin, ttl=601, capacity=20000))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 2 applied by 2/2 workers")
        assert _statuses(port, revoked) == {401}
        assert _statuses(port, later) == {200}
        _revoke(admin, "jti-def")
        assert _statuses(port, later) == {401}

        # a second change while the first one's revocations live: refused, nothing lost
        write_json(config, _config(tmp_path, port, admin, ttl=602))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 3 refused")
        assert "may still hold live revocations" in gateway.log
        time.sleep(0.2)
        assert _statuses(port, revoked) == {401} and _statuses(port, later) == {401}
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_revoker_cli_go_rpc_client_revokes_in_a_running_gateway(tmp_path: Path, go_client: Path) -> None:
    client = go_client
    revoked, other = _setup(tmp_path)
    port, admin = free_port(), free_port()
    # no admin key in the environment: the port is bound to 127.0.0.1 and RPC is served
    config = write_json(tmp_path / "krakend.json", _config(tmp_path, port, admin, ttl=600))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert _statuses(port, revoked) == {200}
        assert run_client(client, admin, "add", "jti-abc", "--", "check", "jti-abc", "jti-def") == [
            {"count": 1},
            {"checks": [True, False]},
        ]
        assert _statuses(port, revoked) == {401}  # every worker: the filters are one shared file
        assert _statuses(port, other) == {200}
        assert gateway.stop() == 0
    finally:
        gateway.kill()
