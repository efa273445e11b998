"""``krakenpy audit -c FILE``: security recommendations, as ``krakend audit`` prints them.

Flags as in KrakenD: ``-i/--ignore`` rule ids (comma-separated), ``-I/--ignore-file`` (one id per
line), ``-s/--severity`` (``CRITICAL,HIGH,MEDIUM,LOW``), ``-f/--format`` (a Go template over
``.Recommendations``, each with ``.Rule .Severity .Message .Where``). Results go to stderr; the exit
code is 1 when anything is recommended or the configuration does not load, else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from krakenpy.commands.audit_facts import SEVERITIES
from krakenpy.commands.common import add_config_argument, load_or_report

if TYPE_CHECKING:
    from krakenpy.commands.audit_facts import Finding

__all__ = ["DEFAULT_FORMAT", "register", "render"]

DEFAULT_FORMAT = '{{ range .Recommendations }}{{ .Rule }}\t[{{ .Severity }}]   \t{{ .Message }}{{ if .Where }} (at {{ join ", " .Where }}){{ end }}\n{{ end }}'  # noqa: E501


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def render(findings: list[Finding], template: str) -> str:
    """Apply a Go template to the findings (``.Recommendations``; lower-case keys work too)."""
    from krakenpy.gotemplate import TemplateSet, go_json

    items = [
        {"Rule": f.rule, "Severity": f.severity, "Message": f.message, "Where": list(f.where), **f.as_dict()}
        for f in findings
    ]
    templates = TemplateSet({"marshal": go_json})
    templates.add("audit", template, "--format")
    output, _ = templates.render("audit", {"Recommendations": items, "recommendations": items, "Stats": {}})
    return output


def _run(args: argparse.Namespace) -> int:
    from krakenpy.commands.audit_rules import RULES, audit
    from krakenpy.gotemplate import TemplateError

    ignore = set(_split(args.ignore))
    if args.ignore_file:
        try:
            ignore.update(_split(Path(args.ignore_file).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"ERROR: cannot read the ignore file {args.ignore_file}: {exc}", file=sys.stderr)
            return 1
    severities = {s.upper() for s in _split(args.severity)}
    unknown = severities - set(SEVERITIES)
    if unknown:
        print(f"ERROR: unknown severity {', '.join(sorted(unknown))} (use {','.join(SEVERITIES)})", file=sys.stderr)
        return 1
    known = {rule.id for rule in RULES}
    for rule_id in sorted(ignore - known):
        print(f"WARNING: --ignore {rule_id}: no such rule", file=sys.stderr)
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    findings = audit(loaded, ignore=ignore, severities=severities)
    try:
        sys.stderr.write(render(findings, args.format))
    except TemplateError as exc:
        print(f"ERROR: --format: {exc}", file=sys.stderr)
        return 1
    return 1 if findings else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` to the CLI."""
    parser = sub.add_parser("audit", help="print security recommendations for a configuration")
    add_config_argument(parser)
    parser.add_argument("-i", "--ignore", default="", help="rule ids to ignore, comma-separated (e.g. 1.1.1,KP.3.1)")
    parser.add_argument("-I", "--ignore-file", default="", help="file with one rule id to ignore per line")
    parser.add_argument("-s", "--severity", default=",".join(SEVERITIES), help="severities to report (default: all)")
    parser.add_argument("-f", "--format", default=DEFAULT_FORMAT, help="Go template for the output")
    parser.set_defaults(handler=_run)
