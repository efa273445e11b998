"""What the read-only commands share: load a configuration and report its problems like ``check``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from krakenpy.errors import ConfigError

if TYPE_CHECKING:
    from krakenpy.gateway import Loaded

__all__ = ["add_config_argument", "load_or_report"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``-c/--config``, as every krakend command spells it."""
    parser.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")


def load_or_report(path: str) -> Loaded | None:
    """The loaded configuration (every component's options parsed), or ``None`` after printing every
    error to stderr as ``check`` does."""
    from krakenpy.cli import print_issues
    from krakenpy.gateway import load

    try:
        return load(path)
    except ConfigError as exc:
        print_issues(exc.issues, label="ERROR")
        print(f"{len(exc.issues)} error(s) in {path}", file=sys.stderr)
        return None
