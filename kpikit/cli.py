"""The ``kpikit`` command: a thin shell over the Python API.

Every command maps onto a function a user can also call from a notebook.
Errors a user can cause (bad data, bad arguments) are printed as one clear
message and exit with status 1 (data problems) or 2 (bad arguments); no
traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from kpikit._version import __version__
from kpikit.errors import DataError, KpikitError

app = typer.Typer(
    name="kpikit",
    help="Coach sales reps with KPIs: validate a sales dataset, compute metrics, "
    "plan activity from a revenue goal, and render per-rep coaching reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., object])


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn a :class:`KpikitError` into a message on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DataError as exc:
            _fail(str(exc), 1)
        except KpikitError as exc:
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"kpikit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """kpikit: KPIs, reverse-funnel plans and coaching reports for sales reps."""


DataArg = Annotated[
    Path,
    typer.Argument(
        help="The dataset: a folder of CSV/Parquet/xlsx tables (reps.csv, opportunities.csv, ...) "
        "or a DuckDB/SQLite database file.",
        show_default=False,
    ),
]


@app.command()
@friendly_errors
def validate(
    data: DataArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a dataset against the data contract and print a data-quality summary.

    Exits 1 when there are errors (each names the file, row, column, the bad
    value and what was expected); warnings alone exit 0. Input files are only read.
    """
    from kpikit.validation import validate_path

    _ds, report = validate_path(data)
    if as_json:
        import json

        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        typer.echo(report.render())
    if report.errors:
        raise typer.Exit(1)


@app.command("demo-data")
@friendly_errors
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the sample org into.", show_default=False)],
    reps: Annotated[int, typer.Option(help="Number of reps.", min=1)] = 25,
    months: Annotated[int, typer.Option(help="Number of months of history.", min=1, max=60)] = 12,
    end: Annotated[str, typer.Option(help="Last month of history, YYYY-MM.")] = "2026-10",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same org.")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="File format: csv or parquet.")] = "csv",
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset already in OUT.")] = False,
) -> None:
    """Write the built-in synthetic sample org (and its hidden truth, truth.json) to OUT."""
    from kpikit.synth import write_demo_data

    path = write_demo_data(
        out, reps=reps, months=months, end=end, seed=seed, fmt=fmt, overwrite=overwrite
    )
    typer.echo(f"wrote the sample org ({reps} reps x {months} months to {end}) to {path}")


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Argument(help="Folder for the sample org and its outputs.")] = Path(
        "demo-output"
    ),
    reps: Annotated[int, typer.Option(help="Number of reps.", min=1)] = 25,
    months: Annotated[int, typer.Option(help="Months of history.", min=1, max=60)] = 12,
    end: Annotated[str, typer.Option(help="Last month of history, YYYY-MM.")] = "2026-10",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate the built-in sample org into OUT/data, validate it and run the main job on it."""
    from kpikit.demo import run_demo

    run_demo(out, reps=reps, months=months, end=end, seed=seed, echo=typer.echo)


@app.command()
@friendly_errors
def metrics(
    data: DataArg,
    period: Annotated[str, typer.Option(help="Period: YYYY-MM, YYYY-Qn or YYYY.", show_default=False)],
    by: Annotated[str, typer.Option(help="Grouping: rep, team, level or org.")] = "rep",
    fmt: Annotated[str, typer.Option("--format", help="Output: table, csv or json.")] = "table",
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Only these metric ids (repeatable). Default: all."),
    ] = None,
    intervals: Annotated[
        bool, typer.Option(help="Add <id>_n, <id>_ci_low, <id>_ci_high beside each rate.")
    ] = False,
) -> None:
    """Compute the KPI catalogue for a period, per rep (or team, level, org).

    CSV and JSON columns are the metric ids plus the grouping key (rep_id for
    --by rep); rates are fractions; a missing value is empty in CSV and null in
    JSON. Metrics whose inputs the dataset lacks are listed on stderr with what
    they need.
    """
    import kpikit
    from kpikit.metrics.table import metric_table
    from kpikit.output import render_metric_table

    if fmt not in ("table", "csv", "json"):
        raise KpikitError(f"--format {fmt!r} is not supported; use table, csv or json")
    ds = kpikit.load(data)
    table = metric_table(ds, period, by=by, metrics=metric or None)
    typer.echo(render_metric_table(table, fmt=fmt, intervals=intervals, currency=ds.config.currency),
               nl=False)
    for reason in table.unavailable.values():
        typer.echo(f"note: {reason}", err=True)


@app.command()
@friendly_errors
def plan(
    data: Annotated[
        Path | None,
        typer.Argument(help="Dataset to take the rep's rates, quota and pipeline from (optional).",
                       show_default=False),
    ] = None,
    rep: Annotated[str | None, typer.Option(help="Rep id (with DATA).", show_default=False)] = None,
    period: Annotated[
        str | None, typer.Option(help="Period to plan: YYYY-MM, YYYY-Qn or YYYY.", show_default=False)
    ] = None,
    goal: Annotated[
        float | None, typer.Option(help="Revenue goal (default with DATA: the rep's quota).",
                                   show_default=False)
    ] = None,
    deals: Annotated[int | None, typer.Option(help="Plan for this many deals instead of a goal.",
                                              show_default=False)] = None,
    avg_deal: Annotated[
        float | None, typer.Option(help="Average deal size (default with DATA: the rep's history).",
                                   show_default=False)
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE (0.2 or 20%), repeatable: lead_to_sql, sql_to_meeting, "
                     "meeting_to_proposal, proposal_to_won, lead_to_customer, outreach_to_lead. "
                     "Overrides the history.", show_default=False),
    ] = None,
    working_days: Annotated[
        int | None, typer.Option(help="Working days to spread the work over (default: the "
                                 "period's working days left).", show_default=False)
    ] = None,
    team_rates: Annotated[bool, typer.Option(help="Use the team's rates instead of the rep's.")] = False,
    window: Annotated[int, typer.Option(help="Months of history behind the rates.", min=1)] = 6,
    pipeline: Annotated[
        bool, typer.Option(help="Subtract won revenue and the weighted open pipeline from the goal.")
    ] = True,
    fmt: Annotated[str, typer.Option("--format", help="Output: table or json.")] = "table",
) -> None:
    """Walk a revenue goal back up the funnel to the activity that reaches it.

    deals = ceil(goal / avg deal), then each stage = ceil(next stage / rate):
    proposals, meetings, SQLs, leads, outreach touches; spread over the working
    days and weeks, with a P10-P90 range from the rates' sample sizes. With DATA,
    --rep and --period, the rates, quota, won revenue and pipeline come from the
    rep's history (the output says where each number came from); without DATA,
    give --goal/--deals, --avg-deal, --rate and --working-days (or --period).
    """
    import json

    from kpikit.output import render_plan
    from kpikit.periods import Period
    from kpikit.planner import PlanError, parse_rate_args
    from kpikit.planner import plan as make_plan

    if fmt not in ("table", "json"):
        raise KpikitError(f"--format {fmt!r} is not supported; use table or json")
    manual = parse_rate_args(rate or [])
    if data is not None:
        import kpikit
        from kpikit.planning import plan_for_rep

        if not rep or not period:
            raise PlanError("with DATA, give --rep R and --period P (e.g. --period 2026-11)")
        ds = kpikit.load(data)
        result = plan_for_rep(
            ds, rep, period, goal=goal, deals=deals, avg_deal=avg_deal, rates=manual,
            rate_source="team" if team_rates else "rep", window=window,
            working_days=working_days, pipeline_aware=pipeline,
        )
        title = f"Plan for {rep}, {Period.parse(period).label}"
    else:
        if rep:
            raise PlanError("--rep needs DATA (the dataset to read the rep's history from)")
        if working_days is None:
            if period is None:
                raise PlanError("give --working-days N (or --period P to count its working days)")
            working_days = Period.parse(period).working_days()
        result = make_plan(goal=goal, deals=deals, avg_deal=avg_deal, rates=manual,
                           working_days=working_days, period=period)
        title = "Plan" + (f" for {Period.parse(period).label}" if period else "")
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        typer.echo(render_plan(result, title=title), nl=False)


@app.command()
@friendly_errors
def reports(
    data: DataArg,
    period: Annotated[str, typer.Option(help="Period: YYYY-MM, YYYY-Qn or YYYY.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Folder to write the reports into.", show_default=False)],
    rep: Annotated[
        list[str] | None,
        typer.Option(help="Only this rep id (repeatable). Default: every rep.", show_default=False),
    ] = None,
    team: Annotated[str | None, typer.Option(help="Only the reps of this team.", show_default=False)] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Reports rendered in parallel (default: one per CPU).", min=1, show_default=False),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Redo only the reports that failed or are missing in OUT.")
    ] = False,
    timeout: Annotated[int, typer.Option(help="Seconds one report may take.", min=1)] = 600,
    fmt: Annotated[
        str, typer.Option("--format", help="Any of html, ipynb, pdf, separated by commas.")
    ] = "html,ipynb",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Render every rep's coaching report into OUT, with OUT/index.html and OUT/manifest.json.

    Each rep gets OUT/<rep>.html (self-contained, opens offline) and the executed
    OUT/<rep>.ipynb (and OUT/<rep>.pdf with --format pdf, printed offline by headless
    Chromium). A rep whose report fails is recorded with its reason in the manifest and
    the index, its notebook kept as OUT/<rep>.failed.ipynb, and the others still render;
    the command then exits 1. --resume redoes only what failed or is missing.
    """
    from kpikit.batch import run_batch

    result = run_batch(
        data,
        period,
        out,
        reps=rep or None,
        team=team,
        workers=workers,
        resume=resume,
        timeout=timeout,
        formats=fmt,
        progress=progress,
    )
    typer.echo(result.summary())
    if not result.ok:
        raise typer.Exit(1)


@app.command("import")
@friendly_errors
def import_(
    source: Annotated[
        str, typer.Argument(help="hubspot, salesforce, pipedrive, maven or generic.", show_default=False)
    ],
    files: Annotated[
        list[Path], typer.Argument(help="The CRM's export files (CSV or .xlsx).", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset into.", show_default=False)],
    mapping: Annotated[
        Path | None,
        typer.Option("--map", help="Mapping file (TOML): required for generic; overrides for the others."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset already in OUT.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a canonical dataset from a CRM's exports, then validate it.

    Every imported row keeps its provenance (_source_file, _source_row), so a
    validation error points back into the export. What the export lacks is
    listed per metric as "not available in this export". Input files are only read.
    """
    import json

    from kpikit.importers import import_crm

    result = import_crm(source, files, out, mapping=mapping, overwrite=overwrite)
    typer.echo(json.dumps(result.to_dict(), indent=2, default=str) if as_json else result.render())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the data contract (tables, columns, types) as Markdown."""
    from kpikit.schema import data_model_markdown

    typer.echo(data_model_markdown(), nl=False)


def main() -> None:
    """Entry point of the ``kpikit`` console script."""
    try:
        app()
    except BrokenPipeError:  # e.g. `kpikit metrics ... | head`
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
