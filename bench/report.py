"""The markdown results (table, goals P1–P7, machine and versions) and the optional PNG plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.extras import LambdaResult, StartupResult, median
from bench.interleave import pair_stats
from bench.scenarios import Row

__all__ = ["markdown", "plot"]


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _peer(rows: list[Row], group: str, label: str) -> Row | None:
    for r in rows:
        if r.case.scenario == "peer" and r.case.group == group and r.case.label == label and r.runs:
            return r
    return None


def _ratio(row: Row, peer: Row | None, attr: str = "rps") -> float | None:
    """``row`` ÷ ``peer``: the median of the per-round ratios when both ran every round (rows of a round
    run back to back, so slow drift of a shared VM cancels within a pair; medians of the two rows
    apart let one slow round of each land on different sides), else the ratio of the medians."""
    if peer is None:
        return None
    pairs = [
        getattr(a, attr) / getattr(b, attr)
        for a, b in zip(row.runs, peer.runs, strict=False)
        if getattr(a, attr) is not None and getattr(b, attr)
    ]
    if pairs and len(row.runs) == len(peer.runs):
        return median(pairs)
    a, b = row.median(attr), peer.median(attr)
    return a / b if a is not None and b else None


def _share(row: Row, base: Row) -> float:
    """``row``'s rps as a share of ``base``'s: the median of the ratios to the baseline run measured
    right before each of the row's runs (``Row.pairs``), with ``--interleave`` the median of the slices'
    bracketed ratios (:mod:`bench.interleave`), else as :func:`_ratio`."""
    if row.interleaved:
        return pair_stats(row.interleaved, row.runs).median
    if row.pairs and len(row.pairs) == len(row.runs):
        return median([a.rps / b.rps for a, b in zip(row.runs, row.pairs, strict=True) if b.rps]) or 0.0
    return _ratio(row, base) or 0.0


def _extra_cpu(row: Row, base: Row) -> float:
    """CPU µs per request ``row`` adds over ``base`` (paired runs as in :func:`_share`)."""
    if row.interleaved:
        extra = pair_stats(row.interleaved, row.runs).cpu_extra
        if extra is not None:
            return extra
    if row.pairs and len(row.pairs) == len(row.runs):
        diffs = [
            a.cpu_us_per_req - b.cpu_us_per_req
            for a, b in zip(row.runs, row.pairs, strict=True)
            if a.cpu_us_per_req is not None and b.cpu_us_per_req is not None
        ]
        if diffs:
            return median(diffs) or 0.0
    return (row.median("cpu_us_per_req") or 0.0) - (base.median("cpu_us_per_req") or 0.0)


def _by_key(rows: list[Row]) -> dict[str, Row]:
    return {r.case.key: r for r in rows}


def _table(rows: list[Row]) -> list[str]:
    out = [
        "| scenario | system under test | conns | rps | p50 ms | p99 ms | timeouts | errors | µs/req "
        "| × Caddy | × nginx |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        scen = "–" if r.case.scenario == "peer" else r.case.scenario
        path = r.case.path if r.case.scenario == "peer" else ""
        label = f"{r.case.label} {path}".strip()
        if r.note:
            out.append(f"| {scen} | {label} | {r.case.connections} | {r.note} |||||||| ")
            continue
        caddy = _ratio(r, _peer(rows, r.case.group, "Caddy reverse_proxy"))
        nginx = _ratio(r, _peer(rows, r.case.group, "nginx proxy"))
        out.append(
            f"| {scen} | {label} | {r.case.connections} | {_fmt(r.median('rps'))} | {_fmt(r.median('p50_ms'), 2)} "
            f"| {_fmt(r.median('p99_ms'), 2)} | {sum(x.timeouts for x in r.runs)} | {sum(x.errors for x in r.runs)} "
            f"| {_fmt(r.median('cpu_us_per_req'), 1)} | {_fmt(caddy, 2)} | {_fmt(nginx, 2)} |"
        )
    return out


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _goals(rows: list[Row], primary: str, p4: LambdaResult | None, p7: StartupResult | None) -> list[str]:
    out = ["| goal | target | measured | |", "|---|---|---|---|"]
    keyed = _by_key(rows)

    def find(scenario: str, contains: str, conns: int = 50) -> Row | None:
        for r in rows:
            if r.case.scenario == scenario and contains in r.case.label and r.case.connections == conns and r.runs:
                if r.case.path not in ("/p1-large",):
                    return r
        return None

    for scen, target, need in (("P1", "≥ 1.2× Caddy rps", 1.2), ("P2", "≥ 0.75× Caddy rps", 0.75)):
        r = find(scen, f"[{primary}]")
        ratio = _ratio(r, _peer(rows, "small", "Caddy reverse_proxy")) if r else None
        ok = None if ratio is None else ratio >= need
        out.append(f"| {scen} | {target} | {_fmt(ratio, 2)}× ([{primary}] client) | {_mark(ok)} |")
    aio, p1_row = find("P1", ", asyncio]"), find("P1", f"[{primary}]")
    if aio and p1_row and _share(aio, p1_row):  # the asyncio row is paired with the default (uvloop) one
        out.append(f"| P1 | uvloop (the default) ÷ asyncio rps | {1 / _share(aio, p1_row):.2f}× | n/a |")
    r3 = find("P3", "lua")
    if r3 and r3.case.baseline and r3.case.baseline in keyed and keyed[r3.case.baseline].runs:
        base = keyed[r3.case.baseline]
        cost = 1 - _share(r3, base)
        out.append(f"| P3 | ≤ 10 % throughput cost of Lua pre+post | {cost * 100:.1f} % | {_mark(cost <= 0.10)} |")
    else:
        note = next((r.note for r in rows if r.case.scenario == "P3" and r.note), "not run")
        out.append(f"| P3 | ≤ 10 % throughput cost of Lua pre+post | {note} | n/a |")
    r8 = find("P8", "json-schema")
    base8 = keyed.get(r8.case.baseline or "") if r8 else None
    if r8 and base8 and base8.runs:
        added = _extra_cpu(r8, base8)
        cost = 1 - _share(r8, base8)
        shown = f"{added:+.1f} µs/req, {cost * 100:.1f} % rps"
        out.append(f"| P8 | cost of json-schema + CEL on a POST (no target) | {shown} | n/a |")
    else:
        note = next((r.note for r in rows if r.case.scenario == "P8" and r.note), "not run")
        out.append(f"| P8 | cost of json-schema + CEL on a POST (no target) | {note} | n/a |")
    cors = find("CORS", "CORS")
    if cors and cors.case.baseline and cors.case.baseline in keyed and keyed[cors.case.baseline].runs:
        base = keyed[cors.case.baseline]
        cost = 1 - _share(cors, base)
        extra = _extra_cpu(cors, base)
        shown = f"{cost * 100:.1f} % rps, {extra:+.1f} µs/req"
        out.append(f"| CORS | cost of security/cors on P1 (allowed Origin; no goal) | {shown} | n/a |")
    for alg, need in (("RS256", 0.85), ("HS256", 0.90)):
        rj = find("JWT", alg)
        basej = keyed.get(rj.case.baseline or "") if rj else None
        target = f"≥ {need * 100:.0f} % of P1 rps behind auth/validator {alg}"
        if rj and basej and basej.runs:
            share = _share(rj, basej)
            extra = _extra_cpu(rj, basej)
            out.append(f"| JWT | {target} | {share * 100:.1f} %, {extra:+.1f} µs/req | {_mark(share >= need)} |")
        else:
            note = next(
                (r.note for r in rows if r.case.scenario == "JWT" and alg in r.case.label and r.note), "not run"
            )
            out.append(f"| JWT | {target} | {note} | n/a |")
    base1 = find("P1", f"[{primary}]")
    for contains, target, need in (
        ("router rate limit", "≥ 95 % of P1 rps with a router rate limit that never trips", 0.95),
        ("HTTP cache hit", "a cache hit faster than P1 (> 100 % of P1 rps)", 1.0),
    ):
        rq = find("Q", contains)
        if rq and base1:
            share = _share(rq, base1)
            ok = share >= need if need < 1 else share > need
            out.append(f"| Q | {target} | {share * 100:.1f} % | {_mark(ok)} |")
        else:
            out.append(f"| Q | {target} | not run | n/a |")
    if p4 is None:
        out.append("| P4 | ≤ 0.3 ms p50 added over a direct aiobotocore invoke | not run | n/a |")
    else:
        added = p4.figures.get("added_p50_ms")
        shown = f"{added:.3f} ms added" if isinstance(added, int | float) else (p4.note or "see P4 section")
        ok = None if not isinstance(added, int | float) else added <= 0.3
        out.append(f"| P4 | ≤ 0.3 ms p50 added over a direct aiobotocore invoke | {shown} | {_mark(ok)} |")
    caddy5 = _peer(rows, "small-c200", "Caddy reverse_proxy")
    caddy_p99 = caddy5.median("p99_ms") if caddy5 else None
    for r in rows:
        if r.case.scenario == "P5" and r.runs:
            p99 = r.median("p99_ms") or 0.0
            timeouts = sum(x.timeouts for x in r.runs)
            ok = None if caddy_p99 is None else p99 <= caddy_p99 and timeouts == 0
            shown = f"{r.case.label}: p99 {p99:.1f} ms (Caddy {_fmt(caddy_p99, 1)} ms), {timeouts} timeouts"
            out.append(f"| P5 | c=200, 1 worker: p99 ≤ Caddy's, no timeouts | {shown} | {_mark(ok)} |")
    r6 = find("P6", "2 workers")
    base6 = keyed.get(r6.case.baseline or "") if r6 else None
    if r6 and base6 and base6.runs:
        scale = _share(r6, base6)
        # the 1.8× goal assumed a free second core; issue 17 restated it as the two rows below
        out.append(f"| P6 | 2 workers' rps ÷ 1 worker's (reported) | {scale:.2f}× | n/a |")
        # restated for a 2-core box whose second core also runs wrk and the backend (issue 17)
        cpu2, cpu1 = r6.median("cpu_us_per_req"), base6.median("cpu_us_per_req")
        if r6.pairs and len(r6.pairs) == len(r6.runs):
            cpu1 = median([b.cpu_us_per_req for b in r6.pairs if b.cpu_us_per_req is not None])
        if cpu2 and cpu1:
            added = _extra_cpu(r6, base6)
            extra = added / cpu1
            shown = f"{added:+.1f} µs/req over 1 worker's {cpu1:.1f} ({extra * 100:+.1f} %)"
            out.append(f"| P6 | 2 workers: CPU µs/req within 10 % of 1 worker's | {shown} | {_mark(extra <= 0.10)} |")
        spread = r6.median("spread")
        if spread is not None:
            shown = f"±{spread * 100:.1f} % (CPU time per worker)"
            out.append(f"| P6 | SO_REUSEPORT spreads the work within ±15 % | {shown} | {_mark(spread <= 0.15)} |")
    else:
        out.append("| P6 | 2 workers ≥ 1.8× 1 worker | not run | n/a |")
    for r in rows:  # telemetry on vs off in one run (issue 14)
        if r.case.scenario != "T" or not r.case.baseline or not r.runs:
            continue
        base_t = keyed.get(r.case.baseline)
        if base_t is None or not base_t.runs:
            continue
        cost = 1 - _share(r, base_t)
        budget = 0.15 if "traces" in r.case.label else 0.05
        shown = f"{r.case.label.split(', ', 1)[-1].rstrip(']')}: {cost * 100:.1f} % fewer rps than telemetry off"
        out.append(f"| T | telemetry cost ≤ {budget * 100:.0f} % of rps | {shown} | {_mark(cost <= budget)} |")
    if p7 is not None and p7.rss_mib:
        rss, start = median(p7.rss_mib) or 0.0, median(p7.startup_s) or 0.0
        out.append(f"| P7 | idle RSS ≤ 60 MB/worker, {p7.endpoints} endpoints | {rss:.1f} MiB | {_mark(rss <= 60)} |")
        out.append(f"| P7 | start-up (process start → first 200) ≤ 0.5 s | {start:.2f} s | {_mark(start <= 0.5)} |")
    else:
        out.append(f"| P7 | idle RSS and start-up | {p7.note if p7 else 'not run'} | n/a |")
    return out


def _interleaved(rows: list[Row]) -> list[str]:
    """The ``--interleave`` pairs: median of the per-slice ratios and their spread."""
    paired = [r for r in rows if r.interleaved]
    if not paired:
        return []
    out = [
        "## Interleaved pairs",
        "",
        "Each row against its baseline in alternating slices (A B A … B A, both servers running throughout); a "
        "slice's ratio is its rps ÷ the mean of the baseline slices just before and after it.",
        "",
        "| row | slices | median rps ratio | middle half | all slices | extra µs/req (median) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for r in paired:
        s = pair_stats(r.interleaved, r.runs)
        cpu = "–" if s.cpu_extra is None else f"{s.cpu_extra:+.1f}"
        out.append(
            f"| {r.case.scenario} {r.case.label} | {s.slices} | {s.median * 100:.1f} % | "
            f"{s.q1 * 100:.1f}–{s.q3 * 100:.1f} % | {s.low * 100:.1f}–{s.high * 100:.1f} % | {cpu} |"
        )
    return [*out, ""]


def markdown(
    rows: list[Row],
    info: dict[str, str],
    settings_text: str,
    primary: str,
    p4: LambdaResult | None,
    p7: StartupResult | None,
    notes: list[str],
    date: str,
) -> str:
    lines = [f"# krakenpy benchmark — {date}", "", settings_text, ""]
    lines += ["## Goals (performance.md)", "", *_goals(rows, primary, p4, p7), ""]
    lines += ["## Throughput and latency", "", *_table(rows), ""]
    lines += [
        "Ratios are rps ÷ the peer's rps for the same body and connection count, measured in this run "
        "(P2 and P3 are compared with the peers proxying the single ~200 B body). µs/req = SUT CPU "
        "(utime+stime of all its processes) ÷ requests. Timeouts and errors are summed over the runs.",
        "",
    ]
    lines += _interleaved(rows)
    if p7 is not None:
        lines += ["## P7: start-up and idle memory", ""]
        if p7.rss_mib:
            lines.append(
                f"{p7.endpoints}-endpoint config, 1 worker: start-up (process start → first 200) "
                f"{', '.join(f'{s:.2f}' for s in p7.startup_s)} s; idle RSS "
                f"{', '.join(f'{m:.1f}' for m in p7.rss_mib)} MiB."
            )
        else:
            lines.append(p7.note)
        lines.append("")
    if p4 is not None:
        lines += ["## P4: Lambda (bench/lambda_overhead.py)", ""]
        if p4.note:
            lines.append(p4.note)
        for k, v in p4.figures.items():
            lines.append(f"- {k}: {v}")
        if p4.output:
            lines += ["", "```", p4.output, "```"]
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Machine and versions", "", *[f"- {k}: {v}" for k, v in info.items()], ""]
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> str:
    """rps and p99 per row as a PNG; installs matplotlib into the venv on first use."""
    try:
        import matplotlib
    except ImportError:
        print("bench: pip install matplotlib (plot only; not a project dependency)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True, timeout=600)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if r.runs]
    labels = [
        f"{r.case.label} {r.case.path} c{r.case.connections}"
        if r.case.scenario == "peer"
        else f"{r.case.scenario} {r.case.label} c{r.case.connections}"
        for r in measured
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.45 * len(measured) + 1.5), sharey=True)
    ax1.barh(labels, [r.median("rps") or 0 for r in measured], color="#4477aa")
    ax1.set_xlabel("requests/s (median)")
    ax1.set_xscale("log")
    ax2.barh(labels, [r.median("p99_ms") or 0 for r in measured], color="#ee6677")
    ax2.set_xlabel("p99 latency, ms (median)")
    ax2.set_xscale("log")
    ax1.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
