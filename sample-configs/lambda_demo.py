"""Serve sample-configs/lambda.json offline: start the Lambda emulator on 127.0.0.1:4566, deploy the
demo functions from sample-configs/lambda/, then run the gateway on :8080 until Ctrl-C.

    make install install-emulator && .venv/bin/python sample-configs/lambda_demo.py

The emulator is ministack (own venv ``.venv-ministack``, or ``MINISTACK_BIN``); it needs no Docker and
accepts any credentials, so test ones are set for the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

from aiobotocore.session import AioSession

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FUNCTIONS = HERE / "lambda"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _zip(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(FUNCTIONS / name, name)
    return buf.getvalue()


async def deploy_demo(endpoint: str) -> None:
    """Create the demo functions on the emulator at ``endpoint`` (also used by the tests)."""
    session = AioSession()
    async with session.create_client("lambda", region_name=REGION, endpoint_url=endpoint) as client:
        for name, source, handler, runtime in (
            ("hello", "hello.py", "hello.handler", "python3.12"),
            ("api", "api.py", "api.handler", "python3.12"),
            ("orders", "orders.js", "orders.handler", "nodejs20.x"),
        ):
            await client.create_function(
                FunctionName=name,
                Runtime=runtime,  # type: ignore[arg-type]
                Role=ROLE,
                Handler=handler,
                Code={"ZipFile": _zip(source)},
            )
        # my-function: versions 1-3 (3 is the canary), alias live → 2, $LATEST labelled "stable"
        await client.create_function(
            FunctionName="my-function",
            Runtime="python3.12",
            Role=ROLE,
            Handler="release.handler",
            Code={"ZipFile": _zip("release.py")},
            Environment={"Variables": {"RELEASE": "v1"}},
            Publish=True,
        )
        for release in ("v2", "canary"):
            await client.update_function_configuration(
                FunctionName="my-function", Environment={"Variables": {"RELEASE": release}}
            )
            await client.publish_version(FunctionName="my-function")
        await client.create_alias(FunctionName="my-function", Name="live", FunctionVersion="2")
        await client.update_function_configuration(
            FunctionName="my-function", Environment={"Variables": {"RELEASE": "stable"}}
        )


def _ministack() -> Path | None:
    configured = os.environ.get("MINISTACK_BIN")
    path = Path(configured) if configured else ROOT / ".venv-ministack" / "bin" / "ministack"
    return path if path.is_file() else None


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    for _ in range(200):  # 10 s at most
        try:
            with urllib.request.urlopen(url + "/_ministack/health", timeout=1):
                return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="gateway port")
    parser.add_argument("--host", default="127.0.0.1", help="gateway listen address (0.0.0.0: every interface)")
    parser.add_argument("--emulator-port", type=int, default=4566, help="emulator port (the config says 4566)")
    args = parser.parse_args()
    binary = _ministack()
    if binary is None:
        print("the Lambda emulator is not installed: run `make install-emulator` first", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="ministack-demo-")
    url = f"http://127.0.0.1:{args.emulator_port}"
    env = dict(os.environ, GATEWAY_PORT=str(args.emulator_port), BIND_HOST="127.0.0.1", SERVICES="lambda")
    env.update(TMPDIR=tmp, LOG_LEVEL="WARNING", LAMBDA_ACCOUNT_CONCURRENCY="16")
    emulator = subprocess.Popen([str(binary)], env=env, cwd=tmp)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        if not _wait_healthy(url, emulator):
            print(f"the emulator did not start on {url}", file=sys.stderr)
            return 1
        os.environ.update(AWS_ENV)
        asyncio.run(deploy_demo(url))
        shown = "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host
        shown = f"[{shown}]" if ":" in shown else shown
        print(f"Lambda emulator on {url}; gateway on http://{shown}:{args.port} (Ctrl-C stops both). Try:")
        for example in (
            "/hello/Ada/Lovelace",
            "/call/hello",
            "/items/1 -H 'X-Tenant: acme'",
            "/dashboard/Grace",
            "/release",
            '/orders -d \'{"customer": "ada", "lines": [{"qty": 2, "price": 3.5}]}\'',
        ):
            print(f"  curl -si http://{shown}:{args.port}{example}")
        config = HERE / "lambda.json"
        if args.emulator_port != 4566:
            moved = Path(tmp) / "lambda.json"
            moved.write_text(config.read_text().replace("127.0.0.1:4566", f"127.0.0.1:{args.emulator_port}"))
            config = moved
        gateway = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-p", str(args.port)] + ["--workers", "1"],
            cwd=ROOT,
            env=dict(os.environ, **AWS_ENV, KRAKEND_LISTEN_IP=args.host),  # loopback only unless told
        )
        running = gateway

        def stop(signum: int, _frame: object) -> None:
            running.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return gateway.wait()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.terminate()
            gateway.wait(timeout=10)
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
