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
    render: bool = True,
    progress: bool = True,
) -> Dataset:
    """The main job on the sample org: write it to ``out/data``, validate it, print its
    headline numbers, render every rep's coaching report into ``out/reports`` (with
    ``index.html``) and the team overview into ``out/team_overview.html``."""
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
    if render:
        from kpikit.batch import run_batch

        result = run_batch(data, end, out / "reports", progress=progress)
        echo(result.summary())
        team = render_team_overview(data, end, out / "team_overview.html")
        echo(f"team overview: {team}")
        if not result.ok:
            raise RuntimeError("some sample reports failed; see the summary above")
    return ds


def render_team_overview(data: str | Path, period: str, out_html: str | Path) -> Path:
    """Execute ``notebooks/team_overview.ipynb`` for a dataset and export it as a report."""
    import tempfile

    import nbformat
    import papermill as pm

    from kpikit._version import __version__
    from kpikit.render import export_html
    from kpikit.reports import NOTEBOOKS_DIR, notebook_path

    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / "team_overview.ipynb"
        pm.execute_notebook(
            str(notebook_path("team_overview.ipynb")), str(executed),
            parameters={"data": str(Path(data).resolve()), "period": period, "static": True},
            progress_bar=False, kernel_name="python3", cwd=str(NOTEBOOKS_DIR),
        )
        nb = nbformat.read(executed, as_version=4)
    export_html(nb, out_html, metadata={"title": "Team overview", "period": period,
                                        "kpikit_version": __version__})
    return out_html


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
