"""``python -m bench.corpus``: how many real KrakenD configs krakenpy runs with everything they ask for.

The measure of the project (60 public configs in ``../shared/corpus/krakend-configs``). Each config is
put through what ``krakenpy run`` does, without serving:

- **refused**: ``run`` would not start (an invalid config, an access-control namespace krakenpy does not
  implement, listener settings it cannot serve, a component that fails to build);
- **needs files**: valid, but files it reads (Lua sources, local JWK sets) are not part of the corpus;
- **partial**: starts, but some of what it asks for is not implemented (a CE or EE namespace, a top-level
  ``plugin`` block); the namespaces are listed;
- **full**: starts and everything it asks for is implemented. Namespaces no KrakenD edition knows are
  ignored by KrakenD too; a config whose only extras are those counts as full and is flagged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

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


@dataclass
class Verdict:
    name: str
    status: str
    reason: str = ""
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


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
    unknown = sorted({_namespace(w.path) for w in loaded.warnings if "unknown namespace" in w.message})
    doc = orjson.loads(path.read_bytes())
    missing += [f"@{block}" for block in UNSUPPORTED_BLOCKS if doc.get(block)]
    _, errors, warnings = runtime_settings(loaded.service)  # the listener: tls, plugin
    if doc.get("plugin") and not any("cannot be loaded" in str(w) for w in warnings):
        missing.remove("@plugin")  # every plugin the config names is built in: the folder is not needed
    # Go plugins named without a plugin block: KrakenD loads none either, but the config asks for them
    missing += sorted({_namespace(w.path) for w in warnings if "not built into krakenpy" in w.message})
    if errors:
        return Verdict(name, "refused", f"invalid: {errors[0]}", missing, unknown)
    try:
        gateway = await build_gateway(loaded.service, parsed=loaded.parsed, base_dir=path.parent, serving=False)
    except ConfigError as exc:
        first = str(exc.issues[0])
        # files the corpus does not carry (Lua sources, local JWK sets) are not the config's fault
        missing_file = "unable to load required source" in first or ("cannot read" in first and "No such file" in first)
        status = "needs files" if missing_file else "refused"
        return Verdict(name, status, first, missing, unknown)
    # exporters a namespace accepts without sending anything (telemetry/opencensus' datadog, xray…)
    missing += sorted(
        {w.split(": ", 1)[0].removeprefix("extra_config.") for w in gateway.resources.warnings if _NOT_SENT in w}
    )
    await gateway.close()
    if missing:
        return Verdict(name, "partial", "", missing, unknown)
    return Verdict(name, "full", "", [], unknown)


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
    counts = Counter(v.status for v in verdicts)
    wanted = Counter(ns for v in verdicts for ns in v.missing)
    if args.json:
        print(orjson.dumps({"counts": counts, "configs": [v.__dict__ for v in verdicts]}).decode())
        return 0
    print("| config | verdict | what is missing / why |\n|---|---|---|")
    for v in verdicts:
        detail = v.reason or ", ".join(v.missing)
        if v.unknown:
            detail += (" · " if detail else "") + "ignored (unknown to KrakenD too): " + ", ".join(v.unknown)
        print(f"| {v.name} | {v.status} | {detail} |")
    order = ("full", "partial", "needs files", "refused")
    print("\n" + " · ".join(f"**{counts.get(s, 0)} {s}**" for s in order) + f" (of {len(verdicts)})")
    print("\nmost wanted: " + ", ".join(f"{ns} ({n})" for ns, n in wanted.most_common(12)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
