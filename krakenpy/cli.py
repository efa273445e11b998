"""Command line: ``krakenpy run``, ``krakenpy check`` and :mod:`krakenpy.commands` (``version``, ``routes``,
``audit``; Flexible Configuration for every ``-c``); mirrors ``krakend``.

``check`` and ``run`` share one verdict: ``check`` exits non-zero for every configuration ``run``
would refuse, so a CI gate on ``check`` means a deploy that starts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from krakenpy import commands, startgc
from krakenpy.errors import ConfigError, ConfigIssue, one_line
from krakenpy.server import earlystop
from krakenpy.tasks import loop_ended

if TYPE_CHECKING:
    from krakenpy.config.model import ServiceConfig
    from krakenpy.gateway import Loaded
    from krakenpy.server.runner import Config, Served
    from krakenpy.telemetry.redact import Redactor

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
    run.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="event loop (auto: uvloop where it is installed, else asyncio)",
    )
    run.add_argument(
        "--log-level",
        type=_log_level,
        default="INFO",
        help=f"the application log's level without telemetry/logging: {', '.join(LOG_LEVELS)} (default INFO)",
    )
    run.add_argument(
        "--watch",
        action="store_true",
        help="reload when the configuration, a Lua source or a TLS file changes (SIGHUP always reloads)",
    )
    _allow_unsupported(run)
    check = sub.add_parser("check", aliases=["validate"], help="validate a configuration")
    check.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")
    check.add_argument(
        "-l",
        "--lint",
        action="store_true",
        help=(
            "also reject unknown keys and unknown namespaces (strict schema), values KrakenD's weak"
            ' decoding converts to another JSON type ("port": "8080", a lone host string), and values'
            " KrakenD runs degraded (no backend host, no usable JWK source)"
        ),
    )
    check.add_argument(
        "-n",
        "--lint-no-network",
        dest="lint",
        action="store_true",
        help="krakend's offline --lint: the same as --lint (krakenpy's schemas are bundled, never downloaded)",
    )
    check.add_argument("-d", "--debug", action="count", default=0, help="print the interpreted config")
    check.add_argument("-t", "--test-gin-routes", action="store_true", help="accepted for krakend compatibility")
    check.add_argument(
        "--skip-components",
        action="store_true",
        help=(
            "open no file the config names: skip the build (Lua sources, clients, the audit's syslog TLS files) and "
            "the listener's tls certificates and keys; every component's options are still checked"
        ),
    )
    _allow_unsupported(check)
    commands.register(sub)
    return parser


#: ``run --log-level`` values (any case): ``telemetry/logging``'s level names (KrakenD's NOTICE
#: included: :data:`krakenpy.telemetry.logfmt.LEVELS`), ``WARN`` for ``WARNING``
LOG_LEVELS = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: str) -> str:
    """A ``--log-level`` value upper-cased; an unknown name is a usage error (a typo such as ``debg``
    would otherwise log at INFO without a word)."""
    name = value.strip().upper()
    name = "WARNING" if name == "WARN" else name
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"unknown level {value!r} (choose from {', '.join(LOG_LEVELS)})")
    return name


def _allow_unsupported(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="accept access-control namespaces and Go plugins krakenpy does not implement (NOT applied)",
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
        shape, message, paths = one_line(shape), one_line(message), [one_line(p) for p in paths]
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
        print_issues(exc.warnings, label="WARNING")
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


def _runtime(service: object, *, files: bool, allow_unsupported: bool, port: int = 0) -> tuple[object | None, int]:
    """The listener settings (tls, limits, plugin...) and how many warnings were printed with them."""
    settings, errors, warned = _runtime_issues(service, files=files, allow_unsupported=allow_unsupported, port=port)
    if errors:
        print_errors(errors)
        print(f"{len(errors)} error(s) in {getattr(service, 'source', '')}", file=sys.stderr)
    return settings, warned


def _runtime_issues(
    service: object, *, files: bool, allow_unsupported: bool, port: int = 0
) -> tuple[object | None, list[ConfigIssue], int]:
    """The listener settings, their errors (unprinted) and how many warnings were printed."""
    from krakenpy.config.model import ServiceConfig
    from krakenpy.server.settings import runtime_settings

    assert isinstance(service, ServiceConfig)
    settings, errors, warnings = runtime_settings(service, files=files, allow_unsupported=allow_unsupported, port=port)
    print_issues(warnings, label="WARNING")
    return settings, list(errors), len(warnings)


class _Said(logging.Handler):
    """What the components log at WARNING or above while ``check`` builds them: said once, with the
    other warnings (without a handler, Python's last-resort one printed each line bare to stderr,
    besides the same text in the build's warnings). A line logged at ERROR or CRITICAL keeps its
    level in sight, ``(logged at ERROR) …``: ``run`` starts with it (the build went through), so it is
    no error of ``check``'s (those are the lines that make it exit 1), but ``run``'s log shows it at
    that level and ``check`` must not make it look milder."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        #: (message, as printed) of every record, in order
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: its text as written
            message = str(record.msg)
        shown = f"(logged at {record.levelname}) {message}" if record.levelno >= logging.ERROR else message
        self.lines.append((message, shown))


async def _compile_check(loaded: object, *, after_errors: bool = False) -> tuple[list[ConfigIssue], list[str]]:
    """The components' build (Lua sources, files, keys...): its errors and warnings (what it logged
    at WARNING or above among them, once). ``after_errors``: earlier checks found errors and the
    blocks they blame were left out; a build that then fails other than with a configuration error
    adds no error (a consequence of what was said, most likely), only a warning that what it had not
    reached is not checked."""
    from krakenpy.gateway import Loaded, build_gateway

    assert isinstance(loaded, Loaded)
    said = _Said()
    root = logging.getLogger()
    root.addHandler(said)
    try:
        gateway = await build_gateway(loaded.service, parsed=loaded.parsed, serving=False)
    except ConfigError as exc:
        return list(exc.issues), _once([w.message for w in exc.warnings], said.lines)
    except Exception as exc:
        if not after_errors:
            raise
        stopped = (
            f"the build stopped past the file's errors ({type(exc).__name__}): what it had not reached "
            "is not checked; check again once they are fixed"
        )
        return [], _once([stopped], said.lines)
    finally:
        root.removeHandler(said)
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    return [], _once(warnings, said.lines)


def _once(warnings: list[str], logged: list[tuple[str, str]]) -> list[str]:
    """The build's warnings, then the lines it logged that say something else, each once (``logged``:
    (message, as printed) pairs, :attr:`_Said.lines`)."""
    out = list(dict.fromkeys(warnings))
    known = set(out)
    out.extend(shown for message, shown in dict.fromkeys(logged) if message not in known)
    return out


def _check(args: argparse.Namespace) -> int:
    """Every check in one run: the schema's, the components', the listener's and the build's (Lua
    sources, files, keys) errors together, each check going on past the errors of the ones before
    (the blocks they blame left out), so a file is fixed in one pass rather than one stage a run."""
    from krakenpy.server.deferred_tls import import_aiohttp

    import_aiohttp()  # first: before anything imports aiohttp with its CA loading
    from krakenpy.config.keypath import within
    from krakenpy.gateway import load

    try:
        loaded = load(args.config, lint=args.lint, keep_going=True)
    except ConfigError as exc:  # not readable, or not buildable at all
        print_issues(exc.warnings, label="WARNING")
        print_errors(exc.issues)
        print(f"{len(exc.issues)} error(s) in {args.config}", file=sys.stderr)
        return 1
    print_issues(loaded.warnings, label="WARNING")
    warned = len(loaded.warnings)
    errors = list(loaded.errors)
    refused = bool(loaded.enforcing) and not args.allow_unsupported
    if refused:
        errors.extend(_refusals(loaded.enforcing))
    _, listener_errors, listener_warned = _runtime_issues(
        loaded.service, files=not args.skip_components, allow_unsupported=args.allow_unsupported
    )
    warned += listener_warned
    # the listener's errors inside a value the schema already refused (``tls: "yes"``, a list that is
    # no list) are that same error said again: left out, as the blocks the later steps skip
    refused_paths = [e.path for e in errors]
    errors.extend(e for e in listener_errors if not any(within(e.path, f) for f in refused_paths))
    if not args.skip_components:
        try:
            build_errors, warnings = asyncio.run(_compile_check(loaded, after_errors=bool(errors)))
        finally:
            loop_ended()
        warned += len(warnings)
        for warning in warnings:
            print(f"WARNING: {one_line(warning)}", file=sys.stderr)
        said = {(e.path, e.message) for e in errors}
        errors.extend(e for e in build_errors if (e.path, e.message) not in said)
    if errors:
        errors = list(dict.fromkeys(errors))  # one line per mistake (a value several places inherit)
        print_errors(errors)
        reason = (
            ": endpoints would be served without the protection their config asks for; pass "
            "--allow-unsupported to accept that"
            if refused and len(errors) == len(loaded.enforcing)
            else ""
        )
        print(f"{len(errors)} error(s) in {args.config}{reason}", file=sys.stderr)
        return 1
    if warned:  # the file's, the listener's and the components' warnings: every WARNING line above
        print(f"{warned} warning(s) in {args.config}", file=sys.stderr)
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


class _Source:
    """What the runner reloads: this file, with the same flags (``krakenpy.server.runner.ConfigSource``).
    With Flexible Configuration, ``template`` is the ``-c`` file, rendered again on every reload."""

    def __init__(self, path: str, *, debug: bool, allow_unsupported: bool, template: str | None = None) -> None:
        self.path = path
        self.debug = debug
        self.allow_unsupported = allow_unsupported
        self.template = template

    def load(self) -> Loaded:
        from krakenpy.gateway import load

        if self.template is None:
            loaded = load(self.path)
        else:
            from krakenpy.commands.flexible import FlexibleConfigError, from_env, render_file

            fc = from_env(os.environ)
            assert fc is not None
            try:
                rendered = render_file(self.template, fc)
            except FlexibleConfigError as exc:
                raise ConfigError([ConfigIssue("", m.strip()) for m in exc.messages], self.template) from None
            try:
                loaded = load(rendered.path)
            finally:
                rendered.cleanup()
        if loaded.enforcing and not self.allow_unsupported:
            raise ConfigError(_refusals(loaded.enforcing), self.path)
        return loaded

    async def build(self, config: Config, *, serving: bool) -> Served:
        from krakenpy.gateway import Loaded, build_gateway

        assert isinstance(config, Loaded)
        return await build_gateway(
            config.service, parsed=config.parsed, debug=self.debug, base_dir=Path.cwd(), serving=serving
        )

    def watched(self, config: Config) -> list[str]:
        """The file itself (or the template and the ``FC_*`` folders' files) and every Lua source it
        names (relative to the working directory, as Lua reads them)."""
        paths = [os.path.abspath(self.template or self.path)]
        if self.template is not None:
            for name in ("FC_SETTINGS", "FC_PARTIALS", "FC_TEMPLATES"):
                folder = Path(os.environ.get(name) or "/nonexistent")
                if folder.is_dir():
                    paths.extend(str(p.resolve()) for p in sorted(folder.iterdir()) if p.is_file())
        for source in _lua_sources(config.service.raw):
            paths.append(os.path.abspath(source))
        return paths

    def accepted(self, config: Config) -> None:
        from krakenpy.gateway import Loaded

        assert isinstance(config, Loaded)
        supervisor_redaction(config.parsed, config.service)


def _lua_sources(raw: object) -> list[str]:
    """``sources`` of every ``modifier/lua-*`` block, wherever it sits."""
    found: list[str] = []
    stack = [raw]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and key.startswith("modifier/lua") and isinstance(item, dict):
                    found.extend(s for s in item.get("sources") or [] if isinstance(s, str))
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _basic_logging(level_name: str) -> None:
    """lura's basic logger on standard output (``2026/11/30 16:00:00 KRAKEND INFO: …``), redacted and
    with request ids; ``telemetry/logging`` replaces it when configured."""
    from krakenpy.telemetry.applog import AppLogOptions, LineHandler, make_formatter
    from krakenpy.telemetry.logfmt import LEVELS
    from krakenpy.telemetry.writer import stdout_writer

    root = logging.getLogger()
    root.addHandler(LineHandler(stdout_writer(), make_formatter(AppLogOptions(format="basic"))))
    root.setLevel(LEVELS[level_name])


def _supervisor_logging(parsed: Mapping[str, Mapping[str, object]], service: ServiceConfig) -> None:
    """The supervisor's own lines (a worker died, draining) where the workers' application log goes:
    ``telemetry/logging``'s level, standard output (in the workers' format, so a ``logstash`` or
    custom stream stays one format) and syslog, or nowhere with both off; set once at start (a
    reload keeps it). GELF needs the workers' event loop: the supervisor sends it nothing. With or
    without ``telemetry/logging``, the lines mask with the configuration's redactor (its ``redact``
    lists, the secrets of its URL patterns), which the workers inherit until their gateway's takes
    over, and a reload's configuration replaces (:func:`supervisor_redaction`)."""
    from krakenpy.telemetry.applog import LineHandler, app_log_options, make_formatter
    from krakenpy.telemetry.settings import LoggingOptions

    top = parsed.get("", {})
    options, logstash = top.get("telemetry/logging"), bool(top.get("telemetry/logstash"))
    redactor = supervisor_redaction(parsed, service)
    if options is None and not logstash:
        return
    assert options is None or isinstance(options, LoggingOptions)
    root = logging.getLogger()
    app = app_log_options(options, logstash=logstash, level=root.level)
    for handler in list(root.handlers):
        if isinstance(handler, LineHandler):
            if app.stdout:
                handler.setFormatter(make_formatter(app, redactor))
            else:
                root.removeHandler(handler)
    if app.syslog:
        from krakenpy.telemetry.syslog import SyslogHandler

        root.addHandler(SyslogHandler(facility=app.syslog_facility, tag=app.prefix, redactor=redactor))
    if not root.handlers:  # not logging.lastResort on standard error either
        root.addHandler(logging.NullHandler())
    root.setLevel(app.level)


def supervisor_redaction(parsed: Mapping[str, Mapping[str, object]], service: ServiceConfig) -> Redactor:
    """Make the root logger's lines (the supervisor's) mask with the redactor ``service``'s text
    gives (``parsed``: its options): the supervisor builds no gateway, whose components would
    register more; returns it."""
    from krakenpy.telemetry.applog import root_redactor
    from krakenpy.telemetry.settings import AccessLogOptions
    from krakenpy.telemetry.setup import config_redactor

    access = parsed.get("", {}).get("telemetry/access_log")
    redactor = config_redactor(service, access if isinstance(access, AccessLogOptions) else None)
    root_redactor(redactor)
    return redactor


def _run(args: argparse.Namespace) -> int:
    from krakenpy.server.deferred_tls import import_aiohttp

    import_aiohttp()  # first: before anything imports aiohttp with its CA loading
    _basic_logging(str(args.log_level))
    from krakenpy.config.quickcheck import isolate
    from krakenpy.gateway import Loaded

    # the schema's quick check in a child process, at start and on every reload: neither the
    # supervisor nor the workers it forks hold jsonschema-rs's validator (~19 MiB resident each)
    isolate()
    from krakenpy.server.cpus import available_cpus
    from krakenpy.server.runner import ServeOptions, serve
    from krakenpy.server.settings import RuntimeSettings

    loaded = _load(args.config, lint=False, allow_unsupported=args.allow_unsupported)
    if not isinstance(loaded, Loaded):
        return 1
    _supervisor_logging(loaded.parsed, loaded.service)
    settings, _ = _runtime(loaded.service, files=True, allow_unsupported=args.allow_unsupported, port=args.port)
    if not isinstance(settings, RuntimeSettings):
        return 1
    options = ServeOptions(
        debug=bool(args.debug),
        workers=args.workers or available_cpus(),
        access_log=args.access_log,
        loop=args.loop,
        watch=args.watch,
        port_override=args.port,
        allow_unsupported=args.allow_unsupported,
    )
    source = _Source(
        args.config,
        debug=options.debug,
        allow_unsupported=args.allow_unsupported,
        template=getattr(args, "template", None),
    )
    return serve(loaded, settings, options, source)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 configuration or usage error)."""
    # no automatic collection while the command starts: ``run``'s supervisor resumes it once it has
    # forked the workers (their settle_gc turns it on again), any other command on its way out here
    startgc.pause()
    earlystop.install(sys.argv[1:] if argv is None else argv)  # done already by ``python -m krakenpy``
    try:
        parser = _parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            return 0 if exc.code == 0 else 1
        return commands.dispatch(args, lambda a: _builtin(parser, a))
    finally:
        earlystop.uninstall()
        startgc.resume()


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
