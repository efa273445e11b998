"""CLI commands beyond ``run``/``check`` (``version``, ``routes``, ``openapi``, ``generate``,
``audit``, ``verify-trail``), and the Flexible Configuration step every command that reads ``-c`` goes through."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from krakenpy.commands import audit, generate, openapi, routes, trail, version

__all__ = ["dispatch", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's commands to the CLI's sub-parsers."""
    version.register(sub)
    routes.register(sub)
    openapi.register(sub)
    generate.register(sub)
    audit.register(sub)
    trail.register(sub)


def dispatch(args: argparse.Namespace, builtin: Callable[[argparse.Namespace], int]) -> int:
    """Run the chosen command (its own handler, else ``builtin``); with ``FC_ENABLE`` set, on the
    configuration rendered from the ``-c`` template."""
    handler: Callable[[argparse.Namespace], int] = getattr(args, "handler", None) or builtin
    config = getattr(args, "config", None)
    if not os.environ.get("FC_ENABLE") or not config:
        return handler(args)
    # the template engine is loaded only for Flexible Configuration
    from krakenpy.commands.flexible import FlexibleConfigError, from_env, render_file

    fc = from_env(os.environ)
    assert fc is not None
    try:
        rendered = render_file(config, fc)
    except FlexibleConfigError as exc:
        for message in exc.messages:
            print(message if message.startswith("  ") else f"ERROR: {message}", file=sys.stderr)
        print(f"flexible configuration: cannot render {config}", file=sys.stderr)
        return 1
    for warning in rendered.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    args.template = config  # what `run` renders again on every reload
    args.config = str(rendered.path)
    try:
        return handler(args)
    finally:
        rendered.cleanup()
