"""The Lambda emulator (ministack, own venv) for the whole session, and the test functions on it.

``make test`` installs the emulator and sets ``MINISTACK_BIN``; without it (and without the repo's
``.venv-ministack``) the emulator tests are skipped with the reason, listed by ``-ra``. A
``MINISTACK_BIN`` that is not an executable fails them. Functions are deployed once per session;
tests only invoke them. The Node.js functions need ``node`` (``make test`` installs ``nodejs``):
tests that call them fail without it.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession

from tests.conftest import ROOT, free_port, make_config

FUNCTIONS_DIR = Path(__file__).parent / "functions"
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda"
#: credentials and region for every AWS client of the session (the emulator accepts any key)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def ministack_bin() -> Path | None:
    """The emulator executable: ``MINISTACK_BIN`` or the repo's ``.venv-ministack``; None if absent.

    A ``MINISTACK_BIN`` that is set but not an executable fails the test: it is a broken setup.
    """
    configured = os.environ.get("MINISTACK_BIN")
    path = Path(configured) if configured else ROOT / ".venv-ministack" / "bin" / "ministack"
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if configured:
        pytest.fail(f"MINISTACK_BIN={configured!r} is not an executable file")
    return None


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, src in files.items():
            z.writestr(name, src)
    return buf.getvalue()


@dataclass(frozen=True)
class Function:
    """One function to deploy: ``source`` is a file in functions/, ``handler`` module.function."""

    name: str
    source: str
    handler: str
    runtime: str = "python3.12"
    timeout: int = 10
    env: dict[str, str] = field(default_factory=dict)
    #: publish version 1 (env TAG=v1), alias ``live`` → 1, then leave $LATEST with TAG=latest
    versions: bool = False
    #: reserved concurrency (0 = every invoke throttled)
    concurrency: int | None = None


FUNCTIONS = (
    Function("echo", "app.py", "app.echo", versions=True),
    Function("hello", "app.py", "app.hello"),
    Function("array", "app.py", "app.array"),
    Function("scalar", "app.py", "app.scalar"),
    Function("boom", "app.py", "app.boom"),
    Function("sleepy", "app.py", "app.sleepy", timeout=15),
    Function("apigw", "app.py", "app.apigw"),
    Function("throttled", "app.py", "app.echo", concurrency=0),
    Function("echo-js", "index.js", "index.echo", runtime="nodejs20.x"),
    Function("boom-js", "index.js", "index.boom", runtime="nodejs20.x"),
    Function("proxy-js", "index.js", "index.proxy", runtime="nodejs20.x"),
)


async def deploy(endpoint: str, functions: tuple[Function, ...]) -> None:
    """Create ``functions`` on the emulator at ``endpoint`` (control plane, used by tests and the demo)."""
    session = AioSession()
    async with session.create_client("lambda", region_name=REGION, endpoint_url=endpoint) as client:
        for fn in functions:
            code = make_zip({fn.source: (FUNCTIONS_DIR / fn.source).read_bytes()})
            env = {"TAG": "v1", **fn.env} if fn.versions else dict(fn.env)
            await client.create_function(
                FunctionName=fn.name,
                Runtime=fn.runtime,  # type: ignore[arg-type]
                Role=ROLE,
                Handler=fn.handler,
                Code={"ZipFile": code},
                Timeout=fn.timeout,
                Environment={"Variables": env},
                Publish=fn.versions,
            )
            if fn.versions:
                await client.create_alias(FunctionName=fn.name, Name="live", FunctionVersion="1")
                await client.update_function_configuration(
                    FunctionName=fn.name, Environment={"Variables": {**env, "TAG": "latest"}}
                )
            if fn.concurrency is not None:
                await client.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=fn.concurrency)


class Emulator:
    """A running ministack process on a free loopback port (stopped with :meth:`stop`)."""

    def __init__(self, binary: Path, services: str = "lambda", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="ministack-")
        run_env = dict(
            os.environ,
            GATEWAY_PORT=str(self.port),
            BIND_HOST="127.0.0.1",
            SERVICES=services,
            TMPDIR=self.tmp,
            LOG_LEVEL="WARNING",
            LAMBDA_ACCOUNT_CONCURRENCY="16",
            **env,
        )
        self.proc = subprocess.Popen(
            [str(binary)], env=run_env, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        for _ in range(200):  # bounded: 10 s
            try:
                with urllib.request.urlopen(self.url + "/_ministack/health", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("ministack did not become healthy")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_emulator(binary: Path, services: str = "lambda") -> Emulator:
    """An :class:`Emulator`, on another free port if the first one was taken before it could bind."""
    for _ in range(2):
        try:
            return Emulator(binary, services)
        except RuntimeError:
            pass
    return Emulator(binary, services)


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Test credentials and region in the environment (what the default chain reads), restored after."""
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def lambda_endpoint(aws_env: None) -> Iterator[str]:
    """The emulator URL, with :data:`FUNCTIONS` deployed."""
    binary = ministack_bin()
    if binary is None:
        pytest.skip("Lambda emulator not installed: run `make install-emulator` or set MINISTACK_BIN")
    emulator = start_emulator(binary)
    try:
        asyncio.run(deploy(emulator.url, FUNCTIONS))
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture
def needs_node() -> None:
    """The emulator runs Node.js handlers with ``node``: without it those tests fail, not skip."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the emulator runs Node handlers with it (make test installs nodejs)")


def lambda_config(endpoints: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    """:func:`tests.conftest.make_config` with a 30 s service timeout: the emulator starts a runtime
    on a function's first call, which a busy machine can stretch past KrakenD's 2 s default. Tests
    about timeouts set their endpoint's own."""
    return make_config(endpoints, **{"timeout": "30s", **service})


def lambda_backend(endpoint: str, **options: Any) -> dict[str, Any]:
    """A backend entry calling the emulator (dummy host/url_pattern, as KrakenD's docs require)."""
    ns: dict[str, Any] = {"region": REGION, "endpoint": endpoint, "max_retries": 0}
    ns.update(options)
    return {"host": ["http://127.0.0.1:10"], "url_pattern": "/", "extra_config": {"backend/lambda": ns}}
