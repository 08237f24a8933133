"""The demo: generate the built-in sample org, validate it and show what kpikit makes of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from kpikit.dataset import Dataset

HEADLINE_METRICS = (
    "total_sales",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "quota_attainment",
    "calls_made",
    "meetings_held",
    "conv_lead_to_sql",
)


def headline(ds: Dataset, period: str) -> str:
    """Org and team headline numbers for a period, formatted for the terminal."""
    from kpikit.metrics.table import metric_table

    blocks = []
    for by in ("org", "team"):
        table = metric_table(ds, period, by=by, metrics=list(HEADLINE_METRICS))
        shown = table.format(ds.config.currency)
        blocks.append(shown.T.to_string())
    pct = metric_table(ds, period, by="org", metrics=["pct_reps_meeting_quota"])
    share = pct.details.get("pct_reps_meeting_quota")
    if isinstance(share, pd.DataFrame) and len(share):
        row = share.iloc[0]
        blocks.append(
            f"reps at quota: {int(row['successes'])} of {int(row['n'])} with a quota "
            f"({pct.format().iloc[0, 0]})"
        )
    return f"Headline numbers for {period}\n\n" + "\n\n".join(blocks) + "\n"


def run_demo(
    out: str | Path,
    *,
    reps: int = 25,
    months: int = 12,
    end: str = "2026-10",
    seed: int = 7,
    echo: Callable[[str], None] = print,
) -> Dataset:
    """Write the sample org to ``out/data``, validate it and print its headline numbers."""
    from kpikit.synth import write_demo_data
    from kpikit.validation import validate_path

    out = Path(out)
    data = out / "data"
    write_demo_data(data, reps=reps, months=months, end=end, seed=seed, overwrite=True)
    echo(f"Sample org: {reps} reps x {months} months to {end} (seed {seed}) in {data}\n")
    ds, report = validate_path(data)
    echo(report.render())
    if ds is None:  # pragma: no cover - the generator's own tests make this unreachable
        raise RuntimeError("the sample org did not validate")
    echo(headline(ds, end))
    return ds


def sample_dataset(*, reps: int = 25, months: int = 12, end: str = "2026-10", seed: int = 7) -> Dataset:
    """The built-in sample org as a validated :class:`Dataset`, straight from memory.

    Deterministic for a seed: notebooks fall back to it when no ``data`` path is
    given, so they run anywhere (and nbval can check their numbers).

    >>> ds = sample_dataset(reps=6, months=2)
    >>> len(ds.reps)
    6
    """
    from kpikit.synth import generate

    return generate(reps=reps, months=months, end=end, seed=seed).to_dataset()


#: Datasets a batch worker kernel shares between the reports it renders, by the ``data``
#: string the notebooks pass: ``(still_valid, dataset)``. Filled only by
#: :mod:`kpikit.batch` inside its worker kernels; empty everywhere else.
SHARED_DATASETS: dict[str, tuple[Callable[[], bool], Dataset]] = {}


def open_dataset(data: str | Path | None, **sample: object) -> Dataset:
    """``kpikit.load(data)``, or the built-in sample org when ``data`` is None or empty.

    In a :mod:`kpikit.batch` worker kernel the dataset loaded once for the batch is
    returned while its files are unchanged (see :data:`SHARED_DATASETS`).
    """
    from kpikit.dataset import load

    key = "" if data is None else str(data).strip()
    shared = SHARED_DATASETS.get(key) if not sample else None
    if shared is not None and shared[0]():
        return shared[1]
    if key == "":
        return sample_dataset(**sample)  # type: ignore[arg-type]
    return load(data)  # type: ignore[arg-type]
