"""Command line: ``krakenpy run``, ``krakenpy check``, ``krakenpy version`` (mirrors ``krakend``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from krakenpy import __version__
from krakenpy.config import LoadedConfig, load_service
from krakenpy.errors import ConfigError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="krakenpy", description="KrakenD-compatible API gateway in Python")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="serve the gateway")
    run.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")
    run.add_argument("-p", "--port", type=int, default=0, help="listen port (overrides 'port')")
    run.add_argument("-d", "--debug", action="count", default=0, help="enable the /__debug/ endpoint")
    run.add_argument("-w", "--workers", type=int, default=0, help="worker processes (default: CPU count)")
    run.add_argument("--access-log", action="store_true", help="log every request")
    run.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    run.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="serve even when access-control namespaces krakenpy does not implement (auth/*, ...) are configured",
    )
    check = sub.add_parser("check", aliases=["validate"], help="validate a configuration")
    check.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")
    check.add_argument("-l", "--lint", action="store_true", help="also reject unknown keys (strict schema)")
    check.add_argument("-d", "--debug", action="count", default=0, help="print the interpreted config")
    check.add_argument("-t", "--test-gin-routes", action="store_true", help="accepted for krakend compatibility")
    check.add_argument(
        "--skip-components",
        action="store_true",
        help="do not compile components (Lua sources, Lambda options): check the config file alone, like krakend",
    )
    sub.add_parser("version", help="print the version")
    return parser


def _load(path: str, lint: bool) -> LoadedConfig | None:
    try:
        return load_service(path, lint=lint)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"ERROR: {issue}", file=sys.stderr)
        print(f"{len(exc.issues)} error(s) in {path}", file=sys.stderr)
        return None


async def _compile_check(loaded: LoadedConfig) -> list[str]:
    from krakenpy.server.app import build_gateway

    try:
        gateway = await build_gateway(loaded.service)
    except ConfigError as exc:
        return [str(i) for i in exc.issues]
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    return [f"warning: {w}" for w in warnings]


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args.config, args.lint)
    if loaded is None:
        return 1
    for warning in loaded.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    problems = [] if args.skip_components else asyncio.run(_compile_check(loaded))
    errors = [p for p in problems if not p.startswith("warning: ")]
    for p in problems:
        print(("ERROR: " if p in errors else "WARNING: ") + p.removeprefix("warning: "), file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s) in {args.config}", file=sys.stderr)
        return 1
    if args.debug:
        svc = loaded.service
        print(
            f"Service: {svc.name or '(unnamed)'} port={svc.port} timeout={svc.timeout}s endpoints={len(svc.endpoints)}"
        )
        for e in svc.endpoints:
            print(
                f"  {e.method} {e.endpoint} -> {len(e.backends)} backend(s), timeout {e.timeout}s, {e.output_encoding}"
            )
    print("Syntax OK!")
    return 0


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    loaded = _load(args.config, False)
    if loaded is None:
        return 1
    log = logging.getLogger("krakenpy")
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if loaded.enforcing and not args.allow_unsupported:
        for path in loaded.enforcing:
            print(f"ERROR: {path}: access-control namespace not implemented by krakenpy", file=sys.stderr)
        print(
            "refusing to serve endpoints without the protection their config asks for; "
            "pass --allow-unsupported to serve them anyway",
            file=sys.stderr,
        )
        return 1
    from krakenpy.server.runner import ServeOptions, serve

    service = loaded.service
    workers = args.workers or os.cpu_count() or 1
    options = ServeOptions(
        port=args.port or service.port,
        host=service.listen_ip,
        debug=bool(args.debug),
        workers=workers,
        access_log=args.access_log,
        loop=args.loop,
    )
    return serve(service, options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 configuration or usage error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 1
    if args.command == "version":
        print(f"krakenpy {__version__}")
        return 0
    if args.command in ("check", "validate"):
        return _check(args)
    if args.command == "run":
        try:
            return _run(args)
        except KeyboardInterrupt:
            return 0
    parser.print_help()
    return 1
