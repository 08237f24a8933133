"""Benchmark: the full metric table on a 1,000-rep x 12-month sample org, against DuckDB.

Run by hand (``make bench`` or ``python benchmarks/bench_metrics.py``). It
generates the sample org once (Parquet, in a temporary folder), then runs each
contender in its own fresh Python process, one after the other in the same run,
so time and peak memory (max RSS) are measured the same way on the same
(shared, noisy) machine:

- ``duckdb``       : DuckDB SQL computing the core aggregates (counts and rates
                     per rep and month) straight from the Parquet files; the
                     named baseline.
- ``kpikit-core``  : kpikit loading and validating the same files and computing
                     the same core aggregates with its metric functions.
- ``kpikit-full``  : kpikit loading and computing the whole per-rep metric table
                     (every scalar KPI) for each of the 12 months.

It prints seconds and peak MB for each, and ratios against the DuckDB baseline.
Aims (issue 3): kpikit-core within 2x of DuckDB; kpikit-full under 30 s and 6 GB
on a 2-core machine.

``--breakdown`` adds, from one more fresh process, the seconds each scalar metric
takes for the 12 months, in registry order as ``metric_table`` computes them (so a
metric's first month includes the per-dataset caches it is the first to build: the
activity index, the funnel frames, ...), slowest first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORE_METRICS = [
    "calls_made",
    "emails_sent",
    "meetings_held",
    "deals_won",
    "deals_lost",
    "win_rate",
    "total_sales",
    "conv_lead_to_sql",
]

DUCKDB_SQL = """
WITH months AS (
  SELECT DISTINCT strftime(occurred_at, '%Y-%m') AS month FROM read_parquet('{d}/activities.parquet')
),
reps AS (SELECT rep_id FROM read_parquet('{d}/reps.parquet')),
grid AS (SELECT rep_id, month FROM reps CROSS JOIN months),
act AS (
  SELECT rep_id, strftime(occurred_at, '%Y-%m') AS month,
         count(*) FILTER (WHERE type = 'call'
                          AND coalesce(direction, 'outbound') = 'outbound') AS calls_made,
         count(*) FILTER (WHERE type = 'email'
                          AND coalesce(direction, 'outbound') = 'outbound') AS emails_sent,
         count(*) FILTER (WHERE type = 'meeting' AND outcome = 'held') AS meetings_held
  FROM read_parquet('{d}/activities.parquet') GROUP BY ALL
),
opp AS (
  SELECT rep_id, strftime(close_date, '%Y-%m') AS month,
         count(*) FILTER (WHERE status = 'won') AS deals_won,
         count(*) FILTER (WHERE status = 'lost') AS deals_lost,
         sum(amount) FILTER (WHERE status = 'won') AS total_sales
  FROM read_parquet('{d}/opportunities.parquet') WHERE close_date IS NOT NULL GROUP BY ALL
),
lead AS (
  SELECT rep_id, strftime(created_at, '%Y-%m') AS month,
         count(*) AS leads, count(qualified_at) AS qualified
  FROM read_parquet('{d}/leads.parquet') GROUP BY ALL
)
SELECT g.rep_id, g.month,
       coalesce(calls_made, 0) AS calls_made, coalesce(emails_sent, 0) AS emails_sent,
       coalesce(meetings_held, 0) AS meetings_held,
       coalesce(deals_won, 0) AS deals_won, coalesce(deals_lost, 0) AS deals_lost,
       deals_won / nullif(deals_won + deals_lost, 0) AS win_rate,
       coalesce(total_sales, 0) AS total_sales,
       qualified / nullif(leads, 0) AS conv_lead_to_sql
FROM grid g
LEFT JOIN act USING (rep_id, month) LEFT JOIN opp USING (rep_id, month) LEFT JOIN lead USING (rep_id, month)
ORDER BY g.rep_id, g.month
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _months(end: str, n: int) -> list[str]:
    from kpikit.periods import Period

    return [p.label for p in Period.parse(end).history(n)]


def run_engine(engine: str, data: Path, end: str, months: int) -> dict[str, float]:
    """Run one contender in this process and return its timings."""
    t0 = time.perf_counter()
    if engine == "duckdb":
        import duckdb

        t_load = time.perf_counter()
        rows = duckdb.sql(DUCKDB_SQL.format(d=data)).df()
        out = {"load_s": 0.0, "compute_s": time.perf_counter() - t_load, "rows": len(rows)}
    else:
        import kpikit
        from kpikit.metrics.table import metric_table

        ds = kpikit.load(data)
        t_load = time.perf_counter()
        metrics = CORE_METRICS if engine == "kpikit-core" else None
        rows = 0
        for label in _months(end, months):
            rows += len(metric_table(ds, label, metrics=metrics).values)
        out = {"load_s": t_load - t0, "compute_s": time.perf_counter() - t_load, "rows": rows}
    out["total_s"] = time.perf_counter() - t0
    out["peak_mb"] = _peak_mb()
    return out


def run_breakdown(data: Path, end: str, months: int) -> dict[str, list[float]]:
    """Seconds per scalar metric: [first month, all months], computed in registry order."""
    import kpikit
    from kpikit.errors import MissingDataError
    from kpikit.metrics import REGISTRY
    from kpikit.metrics.table import scalar_metric_ids
    from kpikit.periods import Period

    ds = kpikit.load(data)
    periods = [Period.parse(label) for label in _months(end, months)]
    out: dict[str, list[float]] = {}
    for mid in scalar_metric_ids("rep"):
        func = REGISTRY[mid].func
        times = []
        for p in periods:
            t = time.perf_counter()
            with contextlib.suppress(MissingDataError):
                func(ds, p, by="rep")
            times.append(time.perf_counter() - t)
        out[mid] = [times[0], sum(times)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--end", default="2026-10")
    ap.add_argument("--data", type=Path, help="reuse a sample org written as Parquet")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each scalar metric (one more fresh process)")
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.engine == "breakdown":  # child process
        print(json.dumps(run_breakdown(args.data, args.end, args.months)))
        return
    if args.engine:  # child process
        print(json.dumps(run_engine(args.engine, args.data, args.end, args.months)))
        return

    with tempfile.TemporaryDirectory(prefix="kpikit-bench-") as tmp:
        data = args.data
        if data is None:
            from kpikit.synth import write_demo_data

            data = Path(tmp) / "org"
            t0 = time.perf_counter()
            write_demo_data(data, reps=args.reps, months=args.months, end=args.end, fmt="parquet")
            print(f"generated {args.reps} reps x {args.months} months in {time.perf_counter() - t0:.1f} s")
        import pandas as pd

        n_act = len(pd.read_parquet(Path(data) / "activities.parquet", columns=["activity_id"]))
        print(f"activities: {n_act:,} rows\n")
        results = {}
        for engine in ("duckdb", "kpikit-core", "kpikit-full"):
            cmd = [sys.executable, __file__, "--engine", engine, "--data", str(data),
                   "--end", args.end, "--months", str(args.months)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{engine} failed:\n{proc.stderr}")
                continue
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        base = results.get("duckdb")
        print(f"{'engine':<12} {'load s':>8} {'compute s':>10} {'total s':>8} {'peak MB':>8}  vs duckdb")
        for engine, r in results.items():
            ratio = f"{r['total_s'] / base['total_s']:.1f}x time" if base else ""
            print(f"{engine:<12} {r['load_s']:>8.2f} {r['compute_s']:>10.2f} {r['total_s']:>8.2f} "
                  f"{r['peak_mb']:>8.0f}  {ratio}")
        if base and "kpikit-core" in results:
            core = results["kpikit-core"]
            print(f"\nkpikit-core compute vs duckdb: {core['compute_s'] / base['compute_s']:.1f}x "
                  f"(aim <= 2x); end to end incl. load+validation: {core['total_s'] / base['total_s']:.1f}x")
        if "kpikit-full" in results:
            full = results["kpikit-full"]
            print(f"kpikit-full: {full['total_s']:.1f} s (aim < 30 s), {full['peak_mb'] / 1024:.1f} GB "
                  f"peak (aim < 6 GB)")
        if args.breakdown:
            cmd = [sys.executable, __file__, "--engine", "breakdown", "--data", str(data),
                   "--end", args.end, "--months", str(args.months)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"breakdown failed:\n{proc.stderr}")
                return
            times = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"\nper metric, {args.months} months (first month incl. the caches it builds):")
            print(f"{'metric':<34} {'first s':>8} {'total s':>8}")
            for mid, (first, total) in sorted(times.items(), key=lambda kv: -kv[1][1]):
                print(f"{mid:<34} {first:>8.3f} {total:>8.3f}")
            print(f"{'all':<34} {'':>8} {sum(v[1] for v in times.values()):>8.2f}")


if __name__ == "__main__":
    main()
