"""Benchmark: coaching reports per minute for a 100-rep sample org, against the naive loop.

Run by hand (``python benchmarks/bench_reports.py``; ``--help`` for options). It
generates the sample org once (100 reps x 12 months, CSV, in a temporary folder), then
times, one after the other in the same run on the same machine:

- ``naive loop``    : what a user would write: for each rep, the ``papermill`` CLI (a fresh
                      kernel, the notebook executed), then the ``jupyter nbconvert`` CLI with
                      kpikit's report template. Timed on a subset of reps (default 6, spread
                      over the reps table so every role is in it) and **extrapolated** to
                      all reps (time per rep x reps): running it for 100 reps would take
                      about half an hour.
- ``fresh kernels`` : ``kpikit.reports.render_rep_report`` per rep (papermill in-process,
                      a fresh kernel per rep, in-process HTML export), on the same subset,
                      also extrapolated: what kernel reuse adds on top of that.
- ``kpikit batch``  : ``kpikit reports DATA --period P --out DIR`` for **every** rep (the
                      whole command, a fresh process: imports, loading the data, starting
                      the worker kernels, the index and the manifest included).

It prints seconds, reports per minute and the ratio to the naive loop, and the CPU seconds
per report of every process involved (kernels included), which other work on the machine
does not change. Aims (issue 6): at least 10x the naive loop and 60 reports a minute on a
2-core machine; 200 a minute long-term. The machine's load average is printed before and
after: other jobs slow the parallel batch more than the one-CPU naive loop.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PERIOD = "2026-10"


CPU = [0.0]  # CPU seconds of every process run (kernels included), added up by _run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], **kw) -> float:
    """Run a command; return its wall time, add its CPU time (and its children's) to CPU."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    CPU[0] += _children_cpu() - cpu
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def _timed(func, *args) -> tuple[float, float]:
    CPU[0] = 0.0
    wall = func(*args)
    return wall, CPU[0]


def _subset(rep_ids: list[str], k: int) -> list[str]:
    step = max(1, len(rep_ids) // k)
    return rep_ids[::step][:k]


def naive_loop(data: Path, reps: list[str], out: Path) -> float:
    """papermill CLI then jupyter nbconvert CLI, one rep after the other."""
    from kpikit.render import TEMPLATE_NAME, TEMPLATES_DIR

    out.mkdir(parents=True)
    notebook = ROOT / "notebooks" / "rep_coaching.ipynb"
    total = 0.0
    for rep in reps:
        executed = out / f"{rep}.ipynb"
        total += _run(
            [str(BIN / "papermill"), str(notebook), str(executed), "-p", "data", str(data),
             "-p", "rep_id", rep, "-p", "period", PERIOD, "-p", "static", "True",
             "--cwd", str(notebook.parent), "--no-progress-bar"]
        )
        total += _run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input",
             f"--TemplateExporter.extra_template_basedirs={TEMPLATES_DIR}",
             "--template", TEMPLATE_NAME, str(executed)]
        )
    return total


def fresh_kernels(data: Path, reps: list[str], out: Path) -> float:
    """kpikit.reports.render_rep_report per rep, in a fresh process (imports included)."""
    code = (
        "import sys, json\n"
        "from kpikit.reports import render_rep_report\n"
        "for rep in json.loads(sys.argv[1]):\n"
        f"    render_rep_report({str(data)!r}, rep, {PERIOD!r}, {str(out)!r})\n"
    )
    return _run([sys.executable, "-c", code, json.dumps(reps)])


def kpikit_batch(data: Path, out: Path, workers: int | None) -> float:
    cmd = [str(BIN / "kpikit"), "reports", str(data), "--period", PERIOD, "--out", str(out),
           "--no-progress"]
    if workers:
        cmd += ["--workers", str(workers)]
    return _run(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=100, help="reps in the sample org (100)")
    parser.add_argument("--naive-reps", type=int, default=6, help="reps the naive loop runs (6)")
    parser.add_argument("--workers", type=int, default=None, help="kpikit workers (default: CPUs)")
    parser.add_argument("--skip-fresh", action="store_true", help="leave out the fresh-kernel loop")
    args = parser.parse_args()

    from kpikit.synth import write_demo_data

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    with tempfile.TemporaryDirectory(prefix="kpikit-bench-reports-") as tmp:
        tmp_path = Path(tmp)
        data = write_demo_data(tmp_path / "data", reps=args.reps, months=12, end=PERIOD, seed=7)
        import pandas as pd

        rep_ids = list(pd.read_csv(data / "reps.csv", dtype=str)["rep_id"])
        subset = _subset(rep_ids, args.naive_reps)
        print(f"sample org: {len(rep_ids)} reps x 12 months; naive subset: {', '.join(subset)}\n")

        rows = []
        naive, naive_cpu = _timed(naive_loop, data, subset, tmp_path / "naive")
        per_rep = naive / len(subset)
        rows.append(("naive loop (papermill + nbconvert CLIs)", len(subset), naive, naive_cpu, True))
        if not args.skip_fresh:
            fresh, fresh_cpu = _timed(fresh_kernels, data, subset, tmp_path / "fresh")
            rows.append(("fresh kernels (render_rep_report)", len(subset), fresh, fresh_cpu, True))
        batch_out = tmp_path / "batch"
        elapsed, batch_cpu = _timed(kpikit_batch, data, batch_out, args.workers)
        manifest = json.loads((batch_out / "manifest.json").read_text())
        done = manifest["counts"]["ok"]
        if done != len(rep_ids):
            sys.exit(f"kpikit batch rendered {done} of {len(rep_ids)} reports")
        workers = manifest["runs"][-1]["workers"]
        rows.append((f"kpikit batch ({workers} workers)", len(rep_ids), elapsed, batch_cpu, False))

        naive_rpm = 60 / per_rep
        naive_cpu_each = naive_cpu / len(subset)
        print(f"{'contender':<42}{'reps':>5}{'seconds':>9}{'s/report':>10}{'per minute':>12}"
              f"{'x naive':>9}{'CPU s/report':>14}{'x naive':>9}")
        for name, n, secs, cpu, extrapolated in rows:
            each = secs / n
            rpm = 60 / each
            note = ""
            if extrapolated:
                note = f"  (extrapolated to {len(rep_ids)} reps: {each * len(rep_ids):.0f} s)"
            print(f"{name:<42}{n:>5}{secs:>9.1f}{each:>10.2f}{rpm:>12.1f}{rpm / naive_rpm:>9.1f}"
                  f"{cpu / n:>14.2f}{naive_cpu_each / (cpu / n):>9.1f}{note}")
        batch_rpm = 60 * len(rep_ids) / elapsed
        print(
            f"\naims: >= 10x the naive loop: {'met' if batch_rpm >= 10 * naive_rpm else 'NOT met'} "
            f"({batch_rpm / naive_rpm:.1f}x); >= 60 a minute: "
            f"{'met' if batch_rpm >= 60 else 'NOT met'} ({batch_rpm:.0f}); "
            f"long-term 200 a minute: {'met' if batch_rpm >= 200 else 'not yet'}"
        )
        print(
            f"CPU time (all processes, kernels included; other jobs on the machine do not count): "
            f"naive {naive_cpu_each:.2f} s a report, kpikit batch {batch_cpu / len(rep_ids):.2f} s "
            f"a report ({naive_cpu_each / (batch_cpu / len(rep_ids)):.1f}x less); on an idle "
            f"{os.cpu_count()}-CPU machine the batch would take about "
            f"{batch_cpu / (os.cpu_count() or 1):.0f} s "
            f"({60 * len(rep_ids) / (batch_cpu / (os.cpu_count() or 1)):.0f} a minute) if its "
            "workers kept every CPU busy"
        )
        print(f"load average after the run: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
