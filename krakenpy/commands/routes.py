"""``krakenpy routes -c FILE [--format table|json|mermaid]``: what a configuration serves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from krakenpy.commands.common import add_config_argument, load_or_report

if TYPE_CHECKING:
    from krakenpy.commands.routes_model import Namespace, RouteMap

__all__ = ["register", "render_json", "render_mermaid", "render_table"]


def _names(items: tuple[Namespace, ...]) -> str:
    return ", ".join(n.label() for n in items)


def _dumps(value: Any, *, indent: bool = False) -> str:
    """JSON text of ``value``; an integer beyond 64 bits (TOML keeps them) as its digits, as the
    configuration has it (orjson refuses to write those: they go in as raw JSON fragments)."""
    option = orjson.OPT_INDENT_2 if indent else None
    try:
        return orjson.dumps(value, option=option).decode()
    except TypeError:
        return orjson.dumps(_big_ints(value), option=option).decode()


def _big_ints(value: Any) -> Any:
    """``value`` with every integer outside orjson's range as a fragment of its decimal digits."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return orjson.Fragment(str(value).encode())
    if isinstance(value, Mapping):
        return {k: _big_ints(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints(v) for v in value]
    return value


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return "{" + ", ".join(f"{k}→{v}" for k, v in value.items()) + "}"
    if isinstance(value, str | int | float):
        return str(value)
    return _dumps(value)


def _details(values: Mapping[str, Any]) -> str:
    return "  ".join(f"{k}={_value(v)}" for k, v in values.items())


def render_table(routes: RouteMap) -> str:
    """A plain-text tree: one line per endpoint, one per backend, namespaces where they sit."""
    where = f"{routes.listen_ip or '0.0.0.0'}:{routes.port}"
    lines = [f"{routes.name or '(unnamed service)'} on {where}: {len(routes.endpoints)} endpoint(s)"]
    if routes.namespaces:
        lines.append(f"service namespaces: {_names(routes.namespaces)}")
    width = max((len(e.method) for e in routes.endpoints), default=3)
    for e in routes.endpoints:
        lines.append("")
        head = f"{e.method:<{width}} {e.path}  → {e.output_encoding}, timeout {e.timeout}"
        if e.settings:
            head += "  " + _details(e.settings)
        lines.append(head)
        if e.namespaces:
            lines.append(f"{'':<{width}}   namespaces: {_names(e.namespaces)}")
        for i, b in enumerate(e.backends):
            branch = "└─" if i == len(e.backends) - 1 else "├─"
            cont = "  " if i == len(e.backends) - 1 else "│ "
            hosts = f" (+{len(b.hosts) - 1} host(s))" if len(b.hosts) > 1 else ""
            lines.append(f"{'':<{width}} {branch} {b.method} {b.target}{hosts}  [{b.encoding}]")
            if b.filters:
                lines.append(f"{'':<{width}} {cont}    {_details(b.filters)}")
            if b.namespaces:
                lines.append(f"{'':<{width}} {cont}    namespaces: {_names(b.namespaces)}")
    return "\n".join(lines) + "\n"


def render_json(routes: RouteMap) -> str:
    """The route map as indented JSON (stable key order)."""
    return _dumps(routes.as_dict(), indent=True) + "\n"


def _escape(text: str) -> str:
    """Characters Mermaid would read as syntax inside a quoted label, as entities."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _label(*lines: str, note: str = "") -> str:
    """A quoted Mermaid label: one line per part, the namespaces (``note``) in italics."""
    parts = [_escape(p) for p in lines if p]
    if note:
        parts.append(f"<i>{_escape(note)}</i>")
    return '"' + "<br/>".join(parts) + '"'


def render_mermaid(routes: RouteMap) -> str:
    """A ``flowchart LR`` for documentation: client → gateway → endpoints → backends (Lambda as
    parallelograms)."""
    lines = [
        "flowchart LR",
        '  client(["client"])',
        f"  gateway{{{{{_label(routes.name or 'krakenpy', f':{routes.port}', note=_names(routes.namespaces))}}}}}",
        "  client --> gateway",
    ]
    for i, e in enumerate(routes.endpoints):
        label = _label(f"{e.method} {e.path}", f"{e.output_encoding}, {e.timeout}", note=_names(e.namespaces))
        lines.append(f"  e{i}[{label}]")
        lines.append(f"  gateway --> e{i}")
        for j, b in enumerate(e.backends):
            opening, closing = ("[/", "/]") if b.target.startswith("lambda:") else ("[", "]")
            filters = ", ".join(f"{k}: {_value(v)}" for k, v in b.filters.items())
            label = _label(f"{b.method} {b.target}", b.encoding, filters, note=_names(b.namespaces))
            lines.append(f"  e{i}b{j}{opening}{label}{closing}")
            lines.append(f"  e{i} --> e{i}b{j}")
    return "\n".join(lines) + "\n"


_RENDERERS = {"table": render_table, "json": render_json, "mermaid": render_mermaid}


def _run(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    from krakenpy.commands.routes_model import route_map

    sys.stdout.write(_RENDERERS[args.format](route_map(loaded.service)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``routes`` to the CLI."""
    parser = sub.add_parser("routes", help="list every endpoint with its backends and active namespaces")
    add_config_argument(parser)
    parser.add_argument(
        "-f", "--format", choices=tuple(_RENDERERS), default="table", help="output format (default: table)"
    )
    parser.set_defaults(handler=_run)
