"""``python -m bench.corpus``: how many real KrakenD configs krakenpy runs with everything they ask for.

The measure of the project (60 public configs in ``../shared/corpus/krakend-configs``). Each config is
put through what ``krakenpy run`` does, without serving:

- **refused**: ``run`` would not start (an invalid config, an access-control namespace krakenpy does not
  implement, listener settings it cannot serve, a component that fails to build);
- **needs files**: valid, but files it reads (Lua sources, local JWK sets, templates, a gRPC catalog)
  are not part of the corpus, and nothing else stops it; every missing file is listed;
- **partial**: starts, but some of what it asks for is not implemented (a CE or EE namespace, a top-level
  ``plugin`` block, a field accepted without effect); what is missing is listed;
- **full**: starts and everything it asks for is implemented. Namespaces no KrakenD edition knows are
  ignored by KrakenD too; a config whose only extras are those counts as full and is flagged.

Beside it, the other count: ``krakenpy check --skip-components -c FILE`` exits 0 and names no unsupported
namespace (an unknown one is not unsupported). It reads no component file, so a config that only
needs files passes it; a field accepted without effect is not a namespace either.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from krakenpy.config.ignored import IGNORED
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, load
from krakenpy.server.settings import runtime_settings

ROOT = Path(__file__).resolve().parents[1]
#: the tests' rule (tests/corpus.py): $KRAKENPY_CORPUS, else the shared folder beside the repository
CORPUS = Path(os.environ.get("KRAKENPY_CORPUS") or ROOT.parent / "shared" / "corpus" / "krakend-configs")
#: top-level blocks krakenpy cannot honour (Go plugins, unless every one named is built in)
UNSUPPORTED_BLOCKS = ("plugin",)
#: the namespace warnings (krakenpy/config/namespaces.py); fields accepted without effect are not counted
_MISSING = ("namespace not implemented", "Enterprise namespace")
#: the warning of an exporter accepted without sending anything (telemetry/opencensus' datadog, xray…)
_NOT_SENT = "an exporter krakenpy does not implement"
#: a build issue about a file the corpus does not carry, and the file it names
_MISSING_FILE = re.compile(r"(?:unable to load required source|cannot read) (.+?): No such file or directory")


@dataclass
class Check:
    """``krakenpy check --skip-components -c FILE``: its exit code, the namespaces it names as unsupported
    (not implemented, Enterprise-only) and its first error."""

    code: int
    unsupported: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passes(self) -> bool:
        return self.code == 0 and not self.unsupported


@dataclass
class Verdict:
    name: str
    status: str
    reason: str = ""
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    #: namespaces at a level where KrakenD does not read them either (a service-level ``qos/ratelimit/router``)
    misplaced: list[str] = field(default_factory=list)
    check: Check | None = None


def _namespace(path: str) -> str:
    return path.rsplit(".extra_config.", 1)[-1] if ".extra_config." in path else path.removeprefix("extra_config.")


async def judge(path: Path) -> Verdict:
    name = path.name
    try:
        loaded = load(path, use_env=False)
    except ConfigError as exc:
        return Verdict(name, "refused", f"invalid: {exc.issues[0]}")
    if loaded.enforcing:
        refused = sorted({_namespace(p) for p in loaded.enforcing})
        return Verdict(name, "refused", "unimplemented access control: " + ", ".join(refused))
    missing = sorted({_namespace(w.path) for w in loaded.warnings if any(m in w.message for m in _MISSING)})
    # fields accepted without effect (a Revoke Server to register with, backend client TLS...): asked for, not done
    missing += sorted({_namespace(w.path) for w in loaded.warnings if w.message.startswith(IGNORED)})
    unknown = sorted({_namespace(w.path) for w in loaded.warnings if "unknown namespace" in w.message})
    misplaced = sorted({w.path for w in loaded.warnings if w.message.startswith("namespace not read at")})
    doc = orjson.loads(path.read_bytes())
    missing += [f"@{block}" for block in UNSUPPORTED_BLOCKS if doc.get(block)]
    _, errors, warnings = runtime_settings(loaded.service)  # the listener: tls, plugin
    if doc.get("plugin") and not any("cannot be loaded" in str(w) for w in warnings):
        missing.remove("@plugin")  # every plugin the config names is built in: the folder is not needed
    # Go plugins named without a plugin block: KrakenD loads none either, but the config asks for them
    missing += sorted({_namespace(w.path) for w in warnings if "not built into krakenpy" in w.message})
    if errors:
        return Verdict(name, "refused", f"invalid: {errors[0]}", missing, unknown, misplaced)
    try:
        gateway = await build_gateway(loaded.service, parsed=loaded.parsed, base_dir=path.parent, serving=False)
    except ConfigError as exc:
        issues = [str(issue) for issue in exc.issues]
        files = [_MISSING_FILE.search(issue) for issue in issues]
        # files the corpus does not carry (Lua sources, local JWK sets) are not the config's fault, when
        # they are all that stops it
        if all(files):
            listed = sorted({m.group(1) for m in files if m})
            return Verdict(name, "needs files", "missing: " + ", ".join(listed), missing, unknown, misplaced)
        first = next(issue for issue, found in zip(issues, files, strict=True) if not found)
        return Verdict(name, "refused", first, missing, unknown, misplaced)
    # exporters a namespace accepts without sending anything (telemetry/opencensus' datadog, xray…)
    missing += sorted(
        {w.split(": ", 1)[0].removeprefix("extra_config.") for w in gateway.resources.warnings if _NOT_SENT in w}
    )
    await gateway.close()
    if missing:
        return Verdict(name, "partial", "", missing, unknown, misplaced)
    return Verdict(name, "full", "", [], unknown, misplaced)


def check(path: Path) -> Check:
    """The real CLI's ``check --skip-components`` over one config, in process, its output parsed."""
    from krakenpy.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(["check", "--skip-components", "-c", str(path)])
    lines = err.getvalue().splitlines()
    unsupported = sorted(
        {
            _namespace(line.removeprefix("WARNING: ").split(": ", 1)[0].replace("[*]", ""))
            for line in lines
            if line.startswith("WARNING: ") and any(m in line for m in _MISSING)
        }
    )
    error = next((line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR: ")), "")
    return Check(code, unsupported, error)


def _check_cell(c: Check) -> str:
    if c.code != 0:
        return f"exit {c.code}: {c.error}" if c.error else f"exit {c.code}"
    return "ok" if c.passes else "ok, unsupported: " + ", ".join(c.unsupported)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.json configs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    files = sorted(args.corpus.glob("*.json"))
    if not files:
        print(f"no configs in {args.corpus}", file=sys.stderr)
        return 1
    verdicts = [asyncio.run(judge(p)) for p in files]
    for v, p in zip(verdicts, files, strict=True):
        v.check = check(p)
    counts = Counter(v.status for v in verdicts)
    wanted = Counter(ns for v in verdicts for ns in v.missing)
    checked = sum(1 for v in verdicts if v.check and v.check.passes)
    if args.json:
        configs = [
            {**v.__dict__, "check": v.check and {**v.check.__dict__, "passes": v.check.passes}} for v in verdicts
        ]
        print(orjson.dumps({"counts": counts, "check_passes": checked, "configs": configs}).decode())
        return 0
    print("| config | verdict | what is missing / why | `check --skip-components` |\n|---|---|---|---|")
    for v in verdicts:
        detail = "; ".join(filter(None, (v.reason, ", ".join(v.missing))))
        if v.unknown:
            detail += (" · " if detail else "") + "ignored (unknown to KrakenD too): " + ", ".join(v.unknown)
        if v.misplaced:
            detail += (" · " if detail else "") + "ignored (KrakenD reads it elsewhere): " + ", ".join(v.misplaced)
        print(f"| {v.name} | {v.status} | {detail} | {_check_cell(v.check) if v.check else ''} |")
    order = ("full", "partial", "needs files", "refused")
    print("\n" + " · ".join(f"**{counts.get(s, 0)} {s}**" for s in order) + f" (of {len(verdicts)})")
    print(
        f"\n`check --skip-components` exits 0 naming no unsupported namespace: **{checked}** of {len(verdicts)}"
        " (it reads no component file: a config that only needs files passes)"
    )
    print("\nmost wanted: " + ", ".join(f"{ns} ({n})" for ns, n in wanted.most_common(12)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
