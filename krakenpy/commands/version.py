"""``krakenpy version``: krakenpy, Python and the libraries that shape its behaviour (as ``krakend version``
prints KrakenD, Go and glibc)."""

from __future__ import annotations

import argparse
import sys

from krakenpy import __version__

__all__ = ["LIBRARIES", "register", "version_lines"]

#: distributions whose version changes what the gateway does (HTTP, Lambda, Lua, schemas, JSON)
LIBRARIES: tuple[str, ...] = (
    "aiohttp",
    "multidict",
    "yarl",
    "aiobotocore",
    "botocore",
    "lupa",
    "orjson",
    "jsonschema",
    "referencing",
    "PyYAML",
    "uvloop",
)


def _dist_version(name: str) -> str:
    from importlib import metadata  # here, not at import: every ``krakenpy run`` registers this command

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _lua_version() -> str:
    try:
        import lupa.lua54
    except ImportError:
        return "not available"
    major, minor = lupa.lua54.LUA_VERSION
    return f"{major}.{minor}"


def version_lines() -> list[str]:
    """One ``name version`` line per component, krakenpy first."""
    import platform

    from krakenpy.compiled import summary

    libc, libc_version = platform.libc_ver()
    runtime = f"{platform.python_implementation()}, {libc} {libc_version}" if libc else platform.python_implementation()
    lines = [
        f"krakenpy {__version__}",
        f"Python {platform.python_version()} ({runtime}, {platform.machine()})",
        f"Lua {_lua_version()} (lupa)",
        f"hot path: {summary()}",
    ]
    lines.extend(f"{name} {_dist_version(name)}" for name in LIBRARIES)
    return lines


def _run(_args: argparse.Namespace) -> int:
    sys.stdout.write("\n".join(version_lines()) + "\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``version`` to the CLI."""
    parser = sub.add_parser("version", help="print the versions of krakenpy, Python and the key libraries")
    parser.set_defaults(handler=_run)
