"""Command line: ``krakenpy run``, ``krakenpy check`` and :mod:`krakenpy.commands` (``version``, ``routes``,
``audit``; Flexible Configuration for every ``-c``); mirrors ``krakend``.

``check`` and ``run`` share one verdict: ``check`` exits non-zero for every configuration ``run``
would refuse, so a CI gate on ``check`` means a deploy that starts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from krakenpy import commands
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["main"]

#: how many paths a grouped warning names before "and N more"
_SHOWN_PATHS = 3
_INDEX = re.compile(r"\[\d+\]")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="krakenpy", description="KrakenD-compatible API gateway in Python")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="serve the gateway")
    run.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")
    run.add_argument("-p", "--port", type=int, default=0, help="listen port (overrides 'port')")
    run.add_argument("-d", "--debug", action="count", default=0, help="enable the /__debug/ endpoint")
    run.add_argument("-w", "--workers", type=int, default=0, help="worker processes (default: usable CPUs)")
    run.add_argument(
        "--access-log",
        action="store_true",
        help="accepted for compatibility: the access log is on by default (router.disable_access_log turns it off)",
    )
    run.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    _allow_unsupported(run)
    check = sub.add_parser("check", aliases=["validate"], help="validate a configuration")
    check.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")
    check.add_argument(
        "-l", "--lint", action="store_true", help="also reject unknown keys and unknown namespaces (strict schema)"
    )
    check.add_argument("-d", "--debug", action="count", default=0, help="print the interpreted config")
    check.add_argument("-t", "--test-gin-routes", action="store_true", help="accepted for krakend compatibility")
    check.add_argument(
        "--skip-components",
        action="store_true",
        help="do not build components (Lua sources, Lambda clients): check the config file alone, like krakend",
    )
    _allow_unsupported(check)
    commands.register(sub)
    return parser


def _allow_unsupported(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="accept access-control namespaces krakenpy does not implement (their protection is NOT applied)",
    )


def _shape(path: str) -> str:
    return _INDEX.sub("[*]", path)


def print_errors(issues: Sequence[ConfigIssue]) -> None:
    """Every error, each at its JSON path (each must be fixed)."""
    for issue in issues:
        print(f"ERROR: {issue}", file=sys.stderr)


def print_issues(issues: Sequence[ConfigIssue], *, label: str) -> None:
    """Print warnings to stderr; repeated ones (same message, same path shape) become one line with a
    count and the first paths, so a config with hundreds of endpoints stays readable."""
    groups: dict[tuple[str, str], list[str]] = {}
    for issue in issues:
        groups.setdefault((_shape(issue.path), issue.message), []).append(issue.path or "(root)")
    for (shape, message), paths in groups.items():
        if len(paths) == 1:
            print(f"{label}: {paths[0]}: {message}", file=sys.stderr)
            continue
        shown = ", ".join(paths[:_SHOWN_PATHS])
        more = f" and {len(paths) - _SHOWN_PATHS} more" if len(paths) > _SHOWN_PATHS else ""
        print(f"{label}: {shape}: {message} ({len(paths)} places: {shown}{more})", file=sys.stderr)


def _refusals(enforcing: Sequence[str]) -> list[ConfigIssue]:
    return [
        ConfigIssue(path, "access-control namespace not implemented by krakenpy: refused (see --allow-unsupported)")
        for path in enforcing
    ]


def _load(path: str, *, lint: bool, allow_unsupported: bool) -> object | None:
    from krakenpy.gateway import load

    try:
        loaded = load(path, lint=lint)
    except ConfigError as exc:
        print_errors(exc.issues)
        print(f"{len(exc.issues)} error(s) in {path}", file=sys.stderr)
        return None
    print_issues(loaded.warnings, label="WARNING")
    if loaded.enforcing and not allow_unsupported:
        refusals = _refusals(loaded.enforcing)
        print_errors(refusals)
        print(
            f"{len(refusals)} error(s) in {path}: endpoints would be served without the protection "
            "their config asks for; pass --allow-unsupported to accept that",
            file=sys.stderr,
        )
        return None
    return loaded


async def _compile_check(loaded: object) -> tuple[list[ConfigIssue], list[str]]:
    from krakenpy.gateway import Loaded, build_gateway

    assert isinstance(loaded, Loaded)
    try:
        gateway = await build_gateway(loaded.service, parsed=loaded.parsed, serving=False)
    except ConfigError as exc:
        return list(exc.issues), []
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    return [], warnings


def _check(args: argparse.Namespace) -> int:
    from krakenpy.gateway import Loaded

    loaded = _load(args.config, lint=args.lint, allow_unsupported=args.allow_unsupported)
    if not isinstance(loaded, Loaded):
        return 1
    if not args.skip_components:
        errors, warnings = asyncio.run(_compile_check(loaded))
        for warning in warnings:
            print(f"WARNING: {warning}", file=sys.stderr)
        if errors:
            print_errors(errors)
            print(f"{len(errors)} error(s) in {args.config}", file=sys.stderr)
            return 1
    if loaded.warnings:
        print(f"{len(loaded.warnings)} warning(s) in {args.config}", file=sys.stderr)
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


def _basic_logging(level_name: str) -> None:
    """lura's basic logger on standard output (``2026/11/30 16:00:00 KRAKEND INFO: …``), redacted and
    with request ids; ``telemetry/logging`` replaces it when configured."""
    from krakenpy.telemetry.applog import AppLogOptions, LineHandler, make_formatter
    from krakenpy.telemetry.writer import stdout_writer

    root = logging.getLogger()
    root.addHandler(LineHandler(stdout_writer(), make_formatter(AppLogOptions(format="basic"))))
    root.setLevel(getattr(logging, level_name.upper(), logging.INFO))


def _run(args: argparse.Namespace) -> int:
    _basic_logging(str(args.log_level))
    from krakenpy.gateway import Gateway, Loaded, build_gateway
    from krakenpy.server.cpus import available_cpus
    from krakenpy.server.runner import ServeOptions, serve

    loaded = _load(args.config, lint=False, allow_unsupported=args.allow_unsupported)
    if not isinstance(loaded, Loaded):
        return 1
    service = loaded.service
    options = ServeOptions(
        port=args.port or service.port,
        host=service.listen_ip,
        debug=bool(args.debug),
        workers=args.workers or available_cpus(),
        access_log=args.access_log,
        loop=args.loop,
    )

    async def build() -> Gateway:
        return await build_gateway(service, parsed=loaded.parsed, debug=options.debug, base_dir=Path.cwd())

    return serve(service, options, build)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 configuration or usage error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 1
    return commands.dispatch(args, lambda a: _builtin(parser, a))


def _builtin(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command in ("check", "validate"):
        return _check(args)
    if args.command == "run":
        try:
            return _run(args)
        except KeyboardInterrupt:
            return 0
    parser.print_help()
    return 1
