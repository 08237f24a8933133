"""The analysts' team overview: every rep side by side, attainment, level benchmarks,
sales per channel, the management / account-executive / SDR views and trends.

For analysts and managers: rep names appear here (this is not a rep's private
report). Every number comes from :func:`kpikit.metrics.table.metric_table`, per
rep, team, level or org; a group's rate pools its reps' successes and cases
(never an average of the reps' rates).

The functions return small results holding numbers: fractions stay fractions,
amounts stay amounts, missing is NaN. Formatting for people happens only at the
edge, through the registry: a result's ``format()`` (a DataFrame of display
strings: percentages, "n/a") and its HTML in a notebook (the formatted table
plus what could not be shown). A metric the dataset cannot support is left out
and listed as "not available: needs ...", never a crash and never a 0.

Examples
--------
>>> ds = _example()
>>> reps_side_by_side(ds, "2026-10", metrics=["total_sales", "win_rate"]).format()
     Team Role Level Total sales (USD)               Win rate
Rep
Ann  East   AE   mid               100     50.0% (9–91%, n=2)
Bo   East   AE   mid               300  100.0% (21–100%, n=1)
Cy   West  SDR   mid                 0              n/a (n=0)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import kpikit.metrics  # noqa: F401  (registers every metric)
from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics._common import ORG_LABEL, as_period, count_by, group_map
from kpikit.metrics.registry import REGISTRY, MetricDef, get
from kpikit.metrics.table import metric_table
from kpikit.peers import MIN_GROUP, peer_stats
from kpikit.periods import Period

__all__ = [
    "AE_METRICS",
    "BENCHMARK_METRICS",
    "HEADLINE_METRICS",
    "LOCAL_METRICS",
    "MANAGEMENT_METRICS",
    "ROLE_METRICS",
    "SDR_METRICS",
    "SIDE_BY_SIDE_METRICS",
    "TREND_METRICS",
    "AttainmentSummary",
    "BenchmarkTable",
    "HeadlineTable",
    "Note",
    "RepTable",
    "RoleView",
    "TeamTable",
    "TrendTable",
    "attainment_chart",
    "attainment_summary",
    "channel_chart",
    "definitions",
    "headline",
    "key_numbers",
    "level_benchmarks",
    "opportunities_created",
    "rep_info",
    "reps_side_by_side",
    "role_view",
    "sales_per_channel",
    "trend_table",
]

#: The org's key numbers (headline section).
HEADLINE_METRICS: tuple[str, ...] = (
    "total_sales",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "quota_attainment",
    "pct_reps_meeting_quota",
    "pipeline_coverage",
    "calls_made",
    "meetings_held",
    "conv_lead_to_sql",
)
#: Every rep side by side.
SIDE_BY_SIDE_METRICS: tuple[str, ...] = (
    "total_sales",
    "quota_attainment",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "pipeline_coverage",
)
#: Management: team results (per team and for the whole org).
MANAGEMENT_METRICS: tuple[str, ...] = (
    "total_sales",
    "quota_attainment",
    "pct_reps_meeting_quota",
    "pipeline_coverage",
    "win_rate",
    "sales_cycle_days",
    "cost_of_sales_ratio",
    "cac",
)
#: Account executives: their funnel from opportunity to deal, and where it leaks.
AE_METRICS: tuple[str, ...] = (
    "opportunities_created",
    "meetings_held",
    "proposals_sent",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "leakage_stage",
)
#: SDRs: prospecting activity, speed and follow-up, and lead qualification.
SDR_METRICS: tuple[str, ...] = (
    "calls_made",
    "emails_sent",
    "prospects_approached",
    "appointments_set",
    "lead_response_time_h",
    "pct_leads_responded_1h",
    "pct_leads_followed_up",
    "conv_lead_to_sql",
)
#: The curated metric list of each role view (keys are the accepted ``role`` values).
ROLE_METRICS: dict[str, tuple[str, ...]] = {
    "management": MANAGEMENT_METRICS,
    "AE": AE_METRICS,
    "SDR": SDR_METRICS,
}
#: Benchmarks per level (account executives by default in the notebook).
BENCHMARK_METRICS: tuple[str, ...] = (
    "total_sales",
    "quota_attainment",
    "win_rate",
    "avg_deal_size",
    "meetings_held",
    "sales_cycle_days",
)
#: The org's numbers over the last periods.
TREND_METRICS: tuple[str, ...] = (
    "total_sales",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "quota_attainment",
    "pct_reps_meeting_quota",
    "calls_made",
    "conv_lead_to_sql",
)

_INFO_COLUMNS = ("name", "team", "role", "level")
_INTERVAL = ("n", "ci_low", "ci_high")
_NA = "n/a"


# ---------------------------------------------------------------------------- local metric


def opportunities_created(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Opportunities opened in the period: rows of ``opportunities`` with ``created_at`` in it.

    opportunities_created = count(opportunities | created_at in period), per group (0 for none).

    >>> opportunities_created(_example(), "2026-10").tolist()  # only o2 was opened in October
    [1, 0, 0]
    """
    p = as_period(period)
    opps = ds.table("opportunities")
    return count_by(opps[p.contains(opps["created_at"])], ds, by, name="opportunities_created")


#: Metrics of the team views that are not (yet) in the registry, defined like registry entries.
LOCAL_METRICS: dict[str, MetricDef] = {
    "opportunities_created": MetricDef(
        id="opportunities_created",
        name="Opportunities created",
        theme="pipeline",
        indicator="leading",
        unit="count",
        formula="count of opportunities with created_at in the period",
        needs=("opportunities",),
        func=opportunities_created,
    )
}


def _definition(metric: str) -> MetricDef:
    """The registry entry of ``metric`` (or its :data:`LOCAL_METRICS` entry)."""
    if metric in LOCAL_METRICS:
        return LOCAL_METRICS[metric]
    return get(metric)


# ---------------------------------------------------------------------------- computing


def _compute(
    ds: Dataset, period: Period | str, by: str, metrics: Iterable[str]
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Values (``<id>_n``, ``_ci_low``, ``_ci_high`` beside each rate), ids shown, unavailable."""
    ids = list(dict.fromkeys(metrics))
    for m in ids:
        _definition(m)  # unknown id: a clear KeyError with suggestions
    table = metric_table(ds, period, by=by, metrics=[m for m in ids if m not in LOCAL_METRICS])
    wide = table.with_intervals()
    unavailable = dict(table.unavailable)
    for m in ids:
        if m in LOCAL_METRICS:
            try:
                wide[m] = LOCAL_METRICS[m].func(ds, period, by=by).reindex(wide.index)
            except MissingDataError as exc:
                unavailable[m] = str(exc)
    shown = [m for m in ids if m in wide.columns]
    columns = [c for m in shown for c in (m, *(f"{m}_{x}" for x in _INTERVAL)) if c in wide.columns]
    return wide[columns], shown, unavailable


def rep_info(ds: Dataset) -> pd.DataFrame:
    """Who each rep is: ``name``, ``team``, ``role``, ``level`` (those present), indexed by rep_id.

    >>> rep_info(_example())
           name  team role level
    rep_id
    r1      Ann  East   AE   mid
    r2       Bo  East   AE   mid
    r3       Cy  West  SDR   mid
    """
    reps = ds.reps
    columns = [c for c in _INFO_COLUMNS if c in reps.columns]
    return reps.set_index("rep_id")[columns]


def _has_role(ds: Dataset, role: str | None) -> pd.Series | None:
    """Boolean per rep_id: the rep has ``role`` (case-insensitive); None when no filter."""
    if role is None:
        return None
    reps = ds.reps.set_index("rep_id")
    roles = reps["role"] if "role" in reps.columns else pd.Series("AE", index=reps.index)
    return roles.fillna("AE").astype(str).str.upper() == role.upper()


# ---------------------------------------------------------------------------- formatting


def _fmt(metric: str, value: object, currency: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return _NA
    return _definition(metric).format(value, currency)


def _range_text(lo: float, hi: float) -> str:
    """A Wilson interval in percent: "30–61%" (one decimal when it stays under 10%)."""
    if pd.isna(lo) or pd.isna(hi):
        return ""
    digits = 1 if hi < 0.1 else 0
    return f"{lo * 100:.{digits}f}–{hi * 100:.{digits}f}%"


def _header(metric: str, currency: str) -> str:
    d = _definition(metric)
    if currency and d.unit in ("currency", "currency_per_day"):
        return f"{d.name} ({currency})"
    return d.name


def _text(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return _NA
    return str(value)


def _reason(metric: str, message: str) -> str:
    """The "not available: needs ..." part of a metric_table message."""
    at = message.find("not available")
    if at >= 0:
        return message[at:]
    prefix = f"{metric}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _missing_lines(unavailable: dict[str, str]) -> list[str]:
    """One line per reason: "Calls made, Emails sent: not available: needs activities"."""
    by_reason: dict[str, list[str]] = {}
    for metric, message in unavailable.items():
        try:
            name = _definition(metric).name
        except KeyError:
            name = metric
        by_reason.setdefault(_reason(metric, message), []).append(name)
    return [f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()]


def _notes_html(lines: Sequence[str]) -> str:
    return "".join(f'<p class="kp-note"><em>{html.escape(line)}</em></p>' for line in lines)


@dataclass(frozen=True)
class Note:
    """A sentence shown in place of a section that cannot be drawn (what it needs)."""

    text: str

    def _repr_html_(self) -> str:
        return _notes_html([self.text])

    def __repr__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------- results

#: A display cell: the value, a detail (interval and n, or a reason) shown beside or under
#: it, and whether it is a number (right-aligned in the report) rather than text.
Cell = tuple[str, str, bool]


def _text_cell(value: object) -> Cell:
    return (_text(value), "", False)


def _metric_cell(metric: str, value: object, detail: str = "", currency: str = "") -> Cell:
    return (_fmt(metric, value, currency), detail, _definition(metric).unit != "text")


def _plain(cell: Cell) -> str:
    main, detail, _ = cell
    return f"{main} ({detail})" if detail else main


def _html_cell(cell: Cell) -> str:
    main, detail, number = cell
    shown = html.escape(main)
    if detail:
        return f"{shown}<br><small>{html.escape(detail)}</small>"
    # markup inside the cell keeps kpikit.render from marking it as (left-aligned) text
    return f'<span class="kp-num">{shown}</span>' if number else shown


def _html_label(label: object) -> str:
    """An escaped header; one of several words goes on two lines split near its middle
    (narrow columns, so a view with many metrics fits the page)."""
    text = str(label)
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if len(text) <= 9 or not spaces:
        return html.escape(text)
    cut = min(spaces, key=lambda i: max(i, len(text) - i - 1))
    return f"{html.escape(text[:cut])}<br>{html.escape(text[cut + 1:])}"


def _detail(lo: float, hi: float, n: float) -> str:
    """"30–61%, n=20": a rate's Wilson 95% interval and sample size."""
    n_text = "n=?" if pd.isna(n) else f"n={int(n):,}"
    interval = _range_text(lo, hi)
    return f"{interval}, {n_text}" if interval else n_text


@dataclass(repr=False)
class TeamTable:
    """Numbers for one section of the overview, shown formatted for people.

    ``frame`` holds the numbers (fractions, amounts, NaN for missing), ``metrics``
    the ids shown in order, ``unavailable`` the metrics the dataset cannot support
    with their reason, ``notes`` anything else the reader should know.
    :meth:`format` gives display strings; in a notebook the table shows itself as
    HTML followed by the notes and what is not available.
    """

    frame: pd.DataFrame
    metrics: list[str]
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    currency: str = ""

    def _cells(self) -> pd.DataFrame:
        """Display cells ``(value, detail)`` with labels for people (subclasses)."""
        raise NotImplementedError

    def format(self) -> pd.DataFrame:
        """Display strings (percentages, amounts, "n/a"), columns and rows named for people."""
        return self._cells().map(_plain)

    def messages(self) -> list[str]:
        """The notes, then one line per reason metrics are not available."""
        return [*self.notes, *_missing_lines(self.unavailable)]

    def _shown(self) -> bool:
        return bool(len(self.frame) and self.metrics)

    def _repr_html_(self) -> str:
        table = ""
        if self._shown():
            cells = self._cells()
            shown = cells.map(_html_cell)
            shown.columns = [_html_label(c) for c in cells.columns]
            shown.index = [html.escape(str(i)) for i in cells.index]
            shown.columns.name = html.escape(str(cells.index.name or ""))  # corner label
            table = shown.to_html(escape=False)
        return table + _notes_html(self.messages())

    def __repr__(self) -> str:
        parts = [self.format().to_string()] if self._shown() else []
        return "\n".join([*parts, *self.messages()])


def _row_labels(frame: pd.DataFrame) -> list[str]:
    """Rep names (``"name (rep_id)"`` when a name repeats), else the index labels."""
    ids = [_text(i) for i in frame.index]
    if "name" not in frame.columns:
        return ids
    names = [_text(v) for v in frame["name"]]
    repeated = pd.Series(names).duplicated(keep=False).to_numpy()
    return [f"{n} ({i})" if r else n for n, i, r in zip(names, ids, repeated, strict=True)]


@dataclass(repr=False)
class RepTable(TeamTable):
    """Rows are reps (or teams and the org), columns who they are and then one per metric.

    A rate column ``<id>`` comes with ``<id>_n``, ``<id>_ci_low`` and
    ``<id>_ci_high`` (its sample size and Wilson 95% interval), shown with it:
    "45.0% (30–61%, n=20)". With ``metrics_as_rows`` the display is transposed
    (one column per row of ``frame``: teams read best that way).
    """

    metrics_as_rows: bool = False

    def _cells(self) -> pd.DataFrame:
        f = self.frame
        extra = {f"{m}_{x}" for m in self.metrics for x in _INTERVAL}
        columns: dict[str, list[Cell]] = {}
        for column in f.columns:
            if column in self.metrics or column in extra or column == "name":
                continue
            if column == "reps":
                columns["Reps"] = [(f"{int(v):,}", "", True) for v in f[column]]
            else:
                columns[column.capitalize()] = [_text_cell(v) for v in f[column]]
        for m in self.metrics:
            if f"{m}_n" in f.columns:
                details = [
                    _detail(lo, hi, n)
                    for lo, hi, n in zip(
                        f[f"{m}_ci_low"], f[f"{m}_ci_high"], f[f"{m}_n"], strict=True
                    )
                ]
            else:
                details = [""] * len(f)
            columns[_header(m, self.currency)] = [
                _metric_cell(m, v, d) for v, d in zip(f[m], details, strict=True)
            ]
        name = "Rep" if f.index.name == "rep_id" else str(f.index.name or "").capitalize()
        out = pd.DataFrame(columns, index=pd.Index(_row_labels(f), name=name), dtype=object)
        if self.metrics_as_rows:
            out = out.T
            out.index.name = "Metric"
            out.columns.name = None
        return out


@dataclass(repr=False)
class RoleView(RepTable):
    """One role's view: ``management`` (teams and org), ``AE`` or ``SDR`` (their reps)."""

    role: str = ""


@dataclass(repr=False)
class HeadlineTable(TeamTable):
    """One row per metric: ``value`` and, for rates, ``n``, ``ci_low``, ``ci_high``."""

    def _cells(self) -> pd.DataFrame:
        f = self.frame
        rates = f["n"].notna()
        out = pd.DataFrame(
            {
                "Value": [
                    _metric_cell(m, v, currency=self.currency) for m, v in f["value"].items()
                ],
                "Likely range (95%)": [
                    (_range_text(lo, hi), "", True)
                    for lo, hi in zip(f["ci_low"], f["ci_high"], strict=True)
                ],
                "Based on": [
                    (f"{int(n):,}" if r else "", "", True)
                    for n, r in zip(f["n"], rates, strict=True)
                ],
            },
            index=pd.Index([_definition(m).name for m in f.index], name="Metric"),
            dtype=object,
        )
        return out


@dataclass(repr=False)
class TrendTable(TeamTable):
    """One row per metric, one column per period (oldest first), the org's values."""

    def _cells(self) -> pd.DataFrame:
        return pd.DataFrame(
            [[_metric_cell(m, v) for v in self.frame.loc[m]] for m in self.metrics],
            index=pd.Index([_header(m, self.currency) for m in self.metrics], name="Metric"),
            columns=list(self.frame.columns),
            dtype=object,
        )


@dataclass(repr=False)
class BenchmarkTable(TeamTable):
    """Per metric and level: ``n_reps``, ``median``, ``p25``, ``p75``, ``suppressed``.

    Groups with fewer than ``min_group`` reps with a value are suppressed (NaN)
    and shown as "not shown (fewer than 5 reps: 2)".
    """

    min_group: int = MIN_GROUP

    def _cells(self) -> pd.DataFrame:
        f = self.frame
        levels = list(pd.unique(f.index.get_level_values("level")))
        rows = []
        for m in self.metrics:
            row: list[Cell] = []
            for level in levels:
                if (m, level) not in f.index:
                    row.append((_NA, "", True))
                    continue
                st = f.loc[(m, level)]
                n = int(st["n_reps"])
                if st["suppressed"]:
                    row.append(("not shown", f"fewer than {self.min_group} reps: {n}", True))
                else:
                    spread = f"{_fmt(m, st['p25'])} to {_fmt(m, st['p75'])}, n={n}"
                    row.append(_metric_cell(m, st["median"], spread))
            rows.append(row)
        return pd.DataFrame(
            rows,
            index=pd.Index([_header(m, self.currency) for m in self.metrics], name="Metric"),
            columns=[str(c).capitalize() for c in levels],
            dtype=object,
        )


# ---------------------------------------------------------------------------- sections


def headline(
    ds: Dataset, period: Period | str, metrics: Iterable[str] = HEADLINE_METRICS
) -> HeadlineTable:
    """The org's key numbers: one row per metric with its value (and n, interval for rates).

    >>> headline(_example(), "2026-10", ["total_sales", "win_rate"]).frame.round(3)
                 value  n  ci_low  ci_high
    metric
    total_sales  400.0  NaN     NaN      NaN
    win_rate       0.667  3.0   0.208    0.939
    """
    values, shown, unavailable = _compute(ds, period, "org", metrics)
    row = values.iloc[0] if len(values) else pd.Series(dtype=object)
    frame = pd.DataFrame(
        {
            "value": [row[m] for m in shown],
            **{x: [row.get(f"{m}_{x}", np.nan) for m in shown] for x in _INTERVAL},
        },
        index=pd.Index(shown, name="metric"),
    )
    for x in _INTERVAL:
        frame[x] = frame[x].astype(float)
    return HeadlineTable(frame, shown, unavailable, currency=ds.config.currency)


def reps_side_by_side(
    ds: Dataset,
    period: Period | str,
    *,
    metrics: Iterable[str] = SIDE_BY_SIDE_METRICS,
    role: str | None = None,
) -> RepTable:
    """Every rep (or every rep of ``role``) with who they are and their metrics for the period.

    Columns: ``name``, ``team``, ``role``, ``level`` (those in the reps table), then
    each metric; a rate comes with ``<id>_n``, ``<id>_ci_low``, ``<id>_ci_high``
    (sample size and Wilson 95% interval). Metrics the dataset cannot support are
    listed in ``unavailable``.

    >>> t = reps_side_by_side(_example(), "2026-10", metrics=["win_rate", "calls_made"])
    >>> t.frame[["name", "win_rate", "win_rate_n"]]
           name  win_rate  win_rate_n
    rep_id
    r1      Ann       0.5           2
    r2       Bo       1.0           1
    r3       Cy       NaN           0
    >>> t.unavailable
    {'calls_made': 'calls_made: not available: needs activities'}
    """
    values, shown, unavailable = _compute(ds, period, "rep", metrics)
    frame = rep_info(ds).join(values)
    keep = _has_role(ds, role)
    if keep is not None:
        frame = frame[keep.reindex(frame.index, fill_value=False).to_numpy()]
    return RepTable(frame, shown, unavailable, currency=ds.config.currency)


def _role_key(role: str) -> str:
    for key in ROLE_METRICS:
        if str(role).strip().lower() == key.lower():
            return key
    raise KpikitError(
        f"role_view(role={role!r}): unknown role view; use one of {', '.join(ROLE_METRICS)}"
    )


def _management(ds: Dataset, period: Period | str, metrics: Sequence[str]) -> RoleView:
    org, shown, unavailable = _compute(ds, period, "org", metrics)
    org.insert(0, "reps", len(ds.reps))
    notes = []
    if ds.has("reps", "team"):
        teams, _, _ = _compute(ds, period, "team", [m for m in shown if "team" in _groupings(m)])
        sizes = group_map(ds, "team").value_counts(sort=False)
        teams.insert(0, "reps", sizes.reindex(teams.index).to_numpy())
        frame = pd.concat([teams, org.rename(index={ORG_LABEL: "All reps"})])[org.columns]
        frame.index.name = "team"
        org_only = [m for m in shown if "team" not in _groupings(m)]
        if org_only:
            names = ", ".join(_definition(m).name for m in org_only)
            notes.append(f"{names}: for the whole org only (not split by team)")
    else:
        frame = org.rename(index={ORG_LABEL: "All reps"})
        frame.index.name = "team"
        notes.append("Rows per team: not available: needs reps.team")
    return RoleView(
        frame, shown, unavailable, notes, ds.config.currency,
        metrics_as_rows=True, role="management",
    )


def _groupings(metric: str) -> tuple[str, ...]:
    """The groupings a metric can be computed for (mostly rep, team, level and org)."""
    return _definition(metric).groupings


def role_view(ds: Dataset, period: Period | str, role: str) -> RoleView:
    """The view of one role, with its curated metrics (:data:`ROLE_METRICS`).

    - ``"management"``: team results, one row per team and one for the whole org
      (``"All reps"``), with a ``reps`` count: total sales, attainment, % of reps at
      quota, pipeline coverage, win rate, sales cycle, cost of sales ratio and CAC
      (the last two org-wide, when costs exist);
    - ``"AE"``: the account executives side by side: opportunities created,
      meetings, proposals, win rate, average deal size, sales cycle, leakage stage;
    - ``"SDR"``: the SDRs side by side: calls, emails, prospects approached,
      appointments set, lead response time, % answered within 1 hour, % followed
      up, lead-to-SQL conversion.

    Metrics the dataset cannot support are listed in ``unavailable`` ("not
    available: needs activities"), never computed as 0.

    >>> v = role_view(_example(), "2026-10", "SDR")
    >>> list(v.frame.index), v.metrics
    (['r3'], [])
    >>> v.messages()[0].split(": ", 1)[1]
    'not available: needs activities'
    """
    key = _role_key(role)
    metrics = ROLE_METRICS[key]
    if key == "management":
        return _management(ds, period, metrics)
    table = reps_side_by_side(ds, period, metrics=metrics, role=key)
    frame = table.frame.drop(columns=["role", "level"], errors="ignore")
    notes = [] if len(frame) else [f"No reps with role {key} in this dataset (reps.role)"]
    return RoleView(frame, table.metrics, table.unavailable, notes, table.currency, role=key)


@dataclass(repr=False)
class AttainmentSummary:
    """Quota attainment across reps: the distribution and the share of reps at quota.

    ``distribution`` has one row per rep with a quota above 0 (index rep_id):
    ``label`` (name), ``team``, ``role``, ``level`` (those present),
    ``attainment`` (fraction), ``revenue`` and ``quota``; highest attainment
    first. ``at_quota`` of ``n`` reps reached their quota (``share``, with its
    Wilson 95% interval). ``unavailable`` says what is missing when attainment
    cannot be computed.
    """

    period: Period
    distribution: pd.DataFrame
    at_quota: int
    n: int
    share: float
    ci_low: float
    ci_high: float
    unavailable: str | None = None

    @property
    def metrics(self) -> list[str]:
        return [] if self.unavailable else ["quota_attainment", "pct_reps_meeting_quota"]

    def text(self) -> str:
        """One sentence: "10 of 20 reps with a quota reached it (50.0%)"."""
        if self.unavailable:
            return self.unavailable
        if self.n == 0:
            return f"No rep has a quota above 0 for {self.period}"
        return (
            f"{self.at_quota} of {self.n} reps with a quota reached it in {self.period} "
            f"({_fmt('pct_reps_meeting_quota', self.share)}, likely range "
            f"{_range_text(self.ci_low, self.ci_high)})"
        )

    def _repr_html_(self) -> str:
        return _notes_html([self.text()])

    def __repr__(self) -> str:
        return self.text()


def attainment_summary(ds: Dataset, period: Period | str) -> AttainmentSummary:
    """Each rep's quota attainment and the share of reps at or above quota.

    attainment = won revenue / quota; at quota = revenue >= quota, among the reps
    with a quota above 0 (``pct_reps_meeting_quota`` for the org).

    >>> s = attainment_summary(_example(), "2026-10")
    >>> s.distribution[["label", "attainment"]]
           label  attainment
    rep_id
    r2        Bo         1.0
    r1       Ann         0.5
    >>> s.text()
    '1 of 2 reps with a quota reached it in 2026-10 (50.0%, likely range 9–91%)'
    """
    p = as_period(period)
    reps = metric_table(ds, p, by="rep", metrics=["quota_attainment"])
    org = metric_table(ds, p, by="org", metrics=["pct_reps_meeting_quota"])
    missing = {**reps.unavailable, **org.unavailable}
    if missing:
        empty = pd.DataFrame(
            {"label": pd.Series(dtype=str), "attainment": pd.Series(dtype=float)},
            index=pd.Index([], name="rep_id", dtype=str),
        )
        line = _missing_lines({"quota_attainment": next(iter(missing.values()))})[0]
        return AttainmentSummary(p, empty, 0, 0, np.nan, np.nan, np.nan, unavailable=line)
    ratio = reps.details["quota_attainment"]
    info = rep_info(ds).rename(columns={"name": "label"})
    dist = info.join(
        pd.DataFrame(
            {
                "attainment": ratio["value"],
                "revenue": ratio["numerator"],
                "quota": ratio["denominator"],
            }
        )
    )
    dist = dist[dist["quota"] > 0].sort_values("attainment", ascending=False, kind="stable")
    share = org.details["pct_reps_meeting_quota"].iloc[0]
    return AttainmentSummary(
        p,
        dist,
        int(share["successes"]),
        int(share["n"]),
        float(share["value"]),
        float(share["ci_low"]),
        float(share["ci_high"]),
    )


def attainment_chart(summary: AttainmentSummary, *, static: bool) -> Any:
    """The strip chart of :func:`kpikit.plots.attainment_distribution`, or a :class:`Note`."""
    from kpikit import plots

    if summary.unavailable:
        return Note(summary.unavailable)
    chart = plots.attainment_distribution(summary.distribution[["attainment", "label"]])
    return plots.show(chart.properties(width=560), static=static)


def level_benchmarks(
    ds: Dataset,
    period: Period | str,
    metrics: Iterable[str] = BENCHMARK_METRICS,
    *,
    role: str | None = None,
    min_group: int = MIN_GROUP,
) -> BenchmarkTable:
    """Median, 25th and 75th percentile of the reps' values per level (and ``role``).

    Uses :func:`kpikit.peers.peer_stats`: reps without a value (NaN) do not count;
    a level with fewer than ``min_group`` reps with a value is suppressed (NaN,
    ``suppressed=True``). ``frame`` is indexed by (metric, level). Text metrics
    have no benchmark and are listed in ``unavailable``.

    >>> b = level_benchmarks(_example(), "2026-10", ["total_sales"], min_group=2)
    >>> b.frame[["n_reps", "median", "suppressed"]]
                       n_reps  median  suppressed
    metric      level
    total_sales mid         3   100.0       False
    """
    ids = list(metrics)
    if not ds.has("reps", "level"):
        empty = pd.DataFrame(
            columns=["n_reps", "median", "p25", "p75", "suppressed"],
            index=pd.MultiIndex.from_tuples([], names=["metric", "level"]),
        )
        note = "Benchmarks per level: not available: needs reps.level"
        return BenchmarkTable(empty, [], notes=[note], currency=ds.config.currency)
    values, shown, unavailable = _compute(ds, period, "rep", ids)
    keep = _has_role(ds, role)
    if keep is not None:
        values = values[keep.reindex(values.index, fill_value=False).to_numpy()]
    levels = group_map(ds, "level")
    parts, numeric = {}, []
    for m in shown:
        if _definition(m).unit == "text":
            unavailable[m] = f"{m}: no benchmark for a text metric"
            continue
        stats = peer_stats(pd.to_numeric(values[m], errors="coerce"), levels, min_group=min_group)
        parts[m] = stats.rename_axis("level")
        numeric.append(m)
    if parts:
        order = pd.unique(levels.to_numpy())  # levels in first-seen order of the reps table
        frame = pd.concat(parts, names=["metric"])
        frame = frame.reindex(
            [(m, lv) for m in parts for lv in order if (m, lv) in frame.index]
        )
    else:
        frame = pd.DataFrame(
            columns=["n_reps", "median", "p25", "p75", "suppressed"],
            index=pd.MultiIndex.from_tuples([], names=["metric", "level"]),
        )
    notes = [] if len(values) else [f"No reps with role {role} in this dataset (reps.role)"]
    return BenchmarkTable(
        frame, numeric, unavailable, notes, ds.config.currency, min_group=min_group
    )


def sales_per_channel(ds: Dataset, period: Period | str) -> pd.DataFrame:
    """Won revenue of the period per channel (opportunity source), for the whole org.

    From the ``sales_by_channel`` breakdown metric: ``channel``, ``revenue``,
    ``deals``, ``share`` (of the org's won revenue; NaN when nothing was won),
    largest revenue first. Every channel seen in the opportunities is listed, with
    0 when it won nothing. Raises :class:`~kpikit.errors.MissingDataError` without
    ``opportunities.source``.

    >>> sales_per_channel(_example(), "2026-10")
        channel  revenue  deals  share
    0  outbound    300.0      1   0.75
    1  referral    100.0      1   0.25
    """
    result = REGISTRY["sales_by_channel"].func(ds, period, by="org")
    out = result.droplevel(0).rename_axis("channel").reset_index()
    out = out.sort_values(["revenue", "channel"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)[["channel", "revenue", "deals", "share"]]


def channel_chart(ds: Dataset, period: Period | str, *, static: bool) -> Any:
    """The bars of :func:`kpikit.plots.channel_bars`, or a :class:`Note` of what is needed."""
    from kpikit import plots

    try:
        frame = sales_per_channel(ds, period)
    except MissingDataError as exc:
        return Note(_missing_lines({"sales_by_channel": str(exc)})[0])
    return plots.show(plots.channel_bars(frame), static=static)


def trend_table(
    ds: Dataset, period: Period | str, *, n: int = 6, metrics: Iterable[str] = TREND_METRICS
) -> TrendTable:
    """The org's key numbers over the ``n`` periods ending with ``period`` (oldest first).

    ``frame``: one row per metric id, one column per period label; rates pooled
    over the org for each period.

    >>> trend_table(_example(), "2026-10", n=2, metrics=["total_sales", "deals_won"]).frame
                 2026-09  2026-10
    metric
    total_sales      0.0    400.0
    deals_won        0.0      2.0
    """
    if n < 1:
        raise KpikitError(f"trend_table(n={n}): n is the number of periods to show; use 1 or more")
    ids = list(metrics)
    columns, unavailable, shown = {}, {}, ids
    for p in as_period(period).history(n):
        values, shown_p, missing = _compute(ds, p, "org", ids)
        unavailable.update(missing)
        shown = [m for m in shown if m in shown_p]
        columns[p.label] = values.iloc[0]
    frame = pd.DataFrame(columns).loc[shown]
    frame = frame.astype(float) if all(_definition(m).unit != "text" for m in shown) else frame
    frame.index.name = "metric"
    return TrendTable(frame, shown, unavailable, currency=ds.config.currency)


def definitions(*items: TeamTable | AttainmentSummary | str) -> pd.DataFrame:
    """The registry definitions of the metrics shown, for a definitions footer.

    One row per metric (index ``Metric``, the display name) with its ``Id``,
    ``Formula``, ``Kind`` (leading / lagging) and ``Needs`` (the data it reads),
    as in the rep coaching report. ``items`` are results of this module or metric
    ids; metrics are listed once, in the order first shown.

    >>> definitions("total_sales", "win_rate")[["Id", "Kind"]]
                          Id     Kind
    Metric
    Total sales  total_sales  lagging
    Win rate        win_rate  lagging
    """
    ids: list[str] = []
    for item in items:
        ids.extend([item] if isinstance(item, str) else item.metrics)
    rows = [_definition(m) for m in dict.fromkeys(ids)]
    return pd.DataFrame(
        {
            "Id": [d.id for d in rows],
            "Formula": [d.formula for d in rows],
            "Kind": [d.indicator for d in rows],
            "Needs": [", ".join(d.needs) for d in rows],
        },
        index=pd.Index([d.name for d in rows], name="Metric"),
    )


def key_numbers(ds: Dataset, period: Period | str) -> str:
    """Plain-text key numbers of the overview (for the notebook's checked output).

    >>> print(key_numbers(_example(), "2026-10"))
    Period: 2026-10
    Reps shown: 3 (AE 2, SDR 1)
    Total sales (org): 400 USD
    Reps at quota: 1 of 2 with a quota (50.0%)
    """
    p = as_period(period)
    info = rep_info(ds)
    lines = [f"Period: {p.label}"]
    roles = ""
    if "role" in info.columns:
        counts = info["role"].value_counts().sort_index()
        roles = " (" + ", ".join(f"{r} {c}" for r, c in counts.items()) + ")"
    lines.append(f"Reps shown: {len(info)}{roles}")
    sales = headline(ds, p, ["total_sales"])
    if len(sales.frame):
        value = _fmt("total_sales", sales.frame.loc["total_sales", "value"], ds.config.currency)
        lines.append(f"Total sales (org): {value}")
    else:
        lines.extend(_missing_lines(sales.unavailable))
    att = attainment_summary(ds, p)
    if att.unavailable:
        lines.append(att.unavailable)
    else:
        share = _fmt("pct_reps_meeting_quota", att.share)
        lines.append(f"Reps at quota: {att.at_quota} of {att.n} with a quota ({share})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- doctest data


def _example() -> Dataset:
    """Three reps of the doctests, October 2026.

    Ann (r1, East, AE, mid): o1 won 100 (created 09-20, closed 10-05), o2 lost 50
    (created 10-01, closed 10-06); quota 200. Bo (r2, East, AE, mid): o3 won 300
    (created 09-10, closed 10-20); quota 300. Cy (r3, West, SDR, mid): no deals, no
    quota.
    """
    return Dataset.from_frames(
        reps=pd.DataFrame(
            {
                "rep_id": ["r1", "r2", "r3"],
                "name": ["Ann", "Bo", "Cy"],
                "team": ["East", "East", "West"],
                "role": ["AE", "AE", "SDR"],
                "level": ["mid", "mid", "mid"],
            }
        ),
        opportunities=pd.DataFrame(
            {
                "opportunity_id": ["o1", "o2", "o3"],
                "rep_id": ["r1", "r1", "r2"],
                "created_at": ["2026-09-20", "2026-10-01", "2026-09-10"],
                "stage": ["Won", "Lost", "Won"],
                "amount": [100.0, 50.0, 300.0],
                "close_date": ["2026-10-05", "2026-10-06", "2026-10-20"],
                "source": ["referral", "outbound", "outbound"],
            }
        ),
        quotas=pd.DataFrame(
            {"rep_id": ["r1", "r2"], "period": ["2026-10", "2026-10"], "quota": [200.0, 300.0]}
        ),
    )
