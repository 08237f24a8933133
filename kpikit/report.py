"""The per-rep coaching report: what each section shows, as small frames.

Every function here returns the numbers of **one rep** and **anonymous peer
aggregates** only (medians and quartiles of groups of at least
:data:`MIN_GROUP` reps, pooled rates of at least that many other reps), never
another rep's name, id, deals or accounts: the report notebook displays them
and charts them as they are, so nothing else can leak into the rep's files.

The peer group is the rep's role in their team when it has at least five reps
with that role (AEs are compared with AEs, not with SDRs), else the role across
the org, else the whole org; the report says which.

Sections (``notebooks/rep_coaching.ipynb``): headline, activity against peers,
funnel and leakage, the plan for the rest of the period (or the next one),
trends, coaching focus, definitions.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics.registry import REGISTRY
from kpikit.metrics.table import MetricTable, metric_table
from kpikit.peers import MIN_GROUP, peer_stats
from kpikit.periods import Period

#: headline numbers, in display order
HEADLINE = (
    "total_sales",
    "quota_attainment",
    "quota_gap",
    "pipeline_coverage",
    "deals_won",
    "win_rate",
    "avg_deal_size",
)

#: an SDR's results are appointments and qualified leads, not revenue
SDR_HEADLINE = (
    "appointments_set",
    "conv_lead_to_sql",
    "prospects_approached",
    "pct_leads_responded_1h",
)


def headline_metrics(role: str) -> tuple[str, ...]:
    """The headline numbers of a role (revenue for AEs and AMs; appointments for SDRs)."""
    return SDR_HEADLINE if role == "SDR" else HEADLINE


#: leading indicators shown against peers, per role
LEADING = {
    "SDR": (
        "calls_made",
        "emails_sent",
        "linkedin_requests",
        "prospects_approached",
        "appointments_set",
        "pct_leads_followed_up",
        "follow_ups_per_contact",
        "lead_response_time_h",
        "pct_leads_responded_1h",
        "conv_lead_to_sql",
    ),
    "AE": (
        "calls_made",
        "emails_sent",
        "meetings_held",
        "proposals_sent",
        "pct_leads_followed_up",
        "pct_leads_responded_1h",
        "opps_per_1000_calls",
        "conv_lead_to_sql",
        "conv_sql_to_meeting",
        "conv_meeting_to_proposal",
        "conv_proposal_to_won",
        "win_rate",
    ),
    "AM": (
        "key_account_touches",
        "key_account_hours",
        "meetings_held",
        "proposals_sent",
        "conv_proposal_to_won",
        "win_rate",
        "retention_rate",
    ),
}
LEADING["Manager"] = LEADING["AE"]

#: trend lines per role (value per period, with the peer median)
TRENDS = {
    "SDR": ("calls_made", "appointments_set", "conv_lead_to_sql"),
    "AE": ("total_sales", "win_rate", "meetings_held"),
    "AM": ("total_sales", "key_account_touches", "win_rate"),
}
TRENDS["Manager"] = TRENDS["AE"]

_SUGGESTIONS = {
    "lead": "Qualify faster and harder: call new leads within the hour, use the team's "
    "qualification questions, and drop poor-fit leads early so time goes to the ones that convert.",
    "meeting": "Turn more qualified leads into a discovery meeting: propose two concrete times "
    "in the first conversation and confirm by calendar invite the same day.",
    "proposal": "Go deeper in discovery: agree the problem, budget and decision process in the "
    "meeting, and leave every meeting with a dated next step toward a proposal.",
    "won": "Work the proposals you send: walk the buyer through them live, follow up within two "
    "days, and bring in your manager on deals that stall.",
    "other": "Review the deals that stopped at this step with your manager and agree one change "
    "to how you move deals through it.",
}


@dataclass(frozen=True)
class PeerGroup:
    """Who the rep is compared with. ``members`` never leaves this module's frames."""

    label: str
    size: int
    members: tuple[str, ...] = field(repr=False)


@dataclass
class ReportContext:
    """Everything the report sections share for one rep and period."""

    ds: Dataset
    rep_id: str
    period: Period
    window: Period
    as_of: pd.Timestamp | None
    rep_name: str
    role: str
    team: str | None
    level: str | None
    peers: PeerGroup | None
    table: MetricTable
    previous: MetricTable
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.ds.config.currency

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)


_T = TypeVar("_T")


def _memo(ds: Dataset, key: tuple, build: Callable[[], _T]) -> _T:
    """Memoise an org-wide result on the dataset (keyed on the identity of its tables).

    The org-wide inputs of a report (the period's metric tables for every rep, the
    leakage table, the data date) are the same for every rep, so a batch computes
    them once per dataset instead of once per rep. As in
    :func:`kpikit.metrics.funnel._cached`, the tables of a validated dataset are
    treated as read-only: replacing a table (or the config) makes a new key.
    """
    ident = (id(ds.config), *(id(ds.tables.get(t)) for t in sorted(ds.tables)))
    cache: dict[Any, Any] = ds.__dict__.setdefault("_report_cache", {})
    if cache.get("_ident") != ident:
        cache.clear()
        cache["_ident"] = ident
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _table(ds: Dataset, period: Period, metrics: list[str]) -> MetricTable:
    """``metric_table(ds, period, metrics=metrics)`` for every rep, computed once per dataset.

    A shallow copy is returned so a caller changing it never changes the cached table.
    """
    t = _memo(ds, ("table", period.label, tuple(metrics)), lambda: metric_table(ds, period, metrics=metrics))
    return MetricTable(
        t.period, t.by, t.values.copy(deep=False), dict(t.details), dict(t.unavailable)
    )


def _data_date(ds: Dataset) -> pd.Timestamp | None:
    return _memo(ds, ("data_date",), lambda: ds.date_range()[1])


def _peer_row(ds: Dataset, period: Period, metric: str, values: pd.Series, members: list[str]) -> pd.Series:
    """:func:`kpikit.peers.peer_stats` of one metric over a peer group (memoised: the reps of a
    group share it). ``values`` must be ``metric`` for ``period``, every rep."""
    return _memo(
        ds,
        ("peers", period.label, metric, tuple(members)),
        lambda: peer_stats(values.reindex(members), pd.Series("peers", index=members)).iloc[0],
    )


def _attr(ds: Dataset, rep_id: str, column: str) -> str | None:
    if not ds.has("reps", column):
        return None
    value = ds.rep_attribute(column).get(rep_id)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def peer_group(ds: Dataset, rep_id: str, *, min_group: int = MIN_GROUP) -> PeerGroup | None:
    """The rep's comparison group: role in team, else role in org, else the org (>= min_group)."""
    reps = ds.reps.drop_duplicates("rep_id").set_index("rep_id")
    role = reps["role"] if "role" in reps.columns else pd.Series("AE", index=reps.index)
    my_role = role.get(rep_id, "AE")
    plural = {"SDR": "SDRs", "AE": "account executives", "AM": "account managers", "Manager": "managers"}
    candidates = []
    if "team" in reps.columns and pd.notna(reps.at[rep_id, "team"]):
        team = reps.at[rep_id, "team"]
        members = reps.index[(reps["team"] == team) & (role == my_role)]
        candidates.append((f"{plural.get(my_role, my_role)} in team {team}", members))
    candidates.append((f"all {plural.get(my_role, my_role)}", reps.index[role == my_role]))
    candidates.append(("everyone in the org", reps.index))
    for label, members in candidates:
        if len(members) >= min_group:
            return PeerGroup(f"{label} ({len(members)} reps)", len(members), tuple(members))
    return None


def context(
    ds: Dataset,
    rep_id: str,
    period: Period | str,
    *,
    window: int = 6,
    as_of: pd.Timestamp | str | None = None,
) -> ReportContext:
    """Prepare a rep's report: the metric tables of the period and the one before, peers.

    ``window`` months ending with the period feed the funnel and leakage (a month's
    cohorts are too small to read a funnel from).
    """
    if rep_id not in set(ds.rep_ids):
        raise KpikitError(f"rep {rep_id!r} is not in the dataset's reps table")
    p = Period.parse(period)
    role = _attr(ds, rep_id, "role") or "AE"
    return ReportContext(
        ds=ds,
        rep_id=rep_id,
        period=p,
        window=Period.trailing(p, window * p.months if p.kind != "months" else window),
        as_of=pd.Timestamp(as_of) if as_of is not None else _data_date(ds),
        rep_name=_attr(ds, rep_id, "name") or rep_id,
        role=role,
        team=_attr(ds, rep_id, "team"),
        level=_attr(ds, rep_id, "level"),
        peers=peer_group(ds, rep_id),
        table=_table(ds, p, _table_metrics(ds, role)),
        previous=_table(ds, p.previous(), list(headline_metrics(role))),
    )


def first_ae(ds: Dataset) -> str:
    """The first account executive of the reps table (the notebook's default rep)."""
    reps = ds.reps
    aes = reps.loc[reps["role"] == "AE", "rep_id"] if "role" in reps.columns else reps["rep_id"]
    return str((aes if len(aes) else reps["rep_id"]).iloc[0])


def _table_metrics(ds: Dataset, role: str) -> list[str]:
    wanted = list(
        dict.fromkeys([*headline_metrics(role), *LEADING.get(role, LEADING["AE"]), "touches_to_close_median"])
    )
    return [m for m in wanted if m in REGISTRY]


# -- headline ----------------------------------------------------------------------------------


def headline(ctx: ReportContext) -> pd.DataFrame:
    """The rep's headline numbers this period and last: ``metric``, ``label``, ``value``, ``previous``."""
    rows = []
    for m in headline_metrics(ctx.role):
        if m not in ctx.table.values.columns:
            reason = ctx.table.unavailable.get(m)
            if reason:
                ctx.note("headline", reason)
            continue
        prev = ctx.previous.values[m].get(ctx.rep_id, np.nan) if m in ctx.previous.values else np.nan
        rows.append(
            {
                "metric": m,
                "label": REGISTRY[m].name,
                "value": ctx.table.values.at[ctx.rep_id, m],
                "previous": prev,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "label", "value", "previous"])


def headline_sentence(ctx: ReportContext, frame: pd.DataFrame) -> str:
    """One plain-language sentence about the period's result."""
    v = frame.set_index("metric")["value"] if len(frame) else pd.Series(dtype=object)
    fmt = _fmt(ctx)
    if ctx.role == "SDR":
        appts = v.get("appointments_set")
        conv = v.get("conv_lead_to_sql")
        parts = []
        if appts is not None and not pd.isna(appts):
            parts.append(f"In {ctx.period.label} you set {int(appts)} appointments")
        if conv is not None and not pd.isna(conv):
            parts.append(f"{fmt('conv_lead_to_sql', conv)} of your new leads became SQLs")
        return ("; ".join(parts) + ".") if parts else f"No results to report for {ctx.period.label}."
    won = v.get("deals_won")
    sales = v.get("total_sales")
    parts = []
    if won is not None and not pd.isna(won):
        deals = "deal" if won == 1 else "deals"
        parts.append(f"In {ctx.period.label} you closed {int(won)} {deals} worth {fmt('total_sales', sales)}")
    att = v.get("quota_attainment")
    if att is not None and not pd.isna(att):
        parts.append(f"that is {fmt('quota_attainment', att)} of your quota")
        gap = v.get("quota_gap")
        if gap is not None and not pd.isna(gap) and gap > 0:
            parts.append(f"{fmt('quota_gap', gap)} short of it")
    if not parts:
        return f"No results to report for {ctx.period.label}."
    return ", ".join(parts) + "."


def format_headline(ctx: ReportContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Display strings for the headline table (percentages, currency, "n/a")."""
    fmt = _fmt(ctx)
    return pd.DataFrame(
        {
            ctx.period.label: [fmt(m, v) for m, v in zip(frame["metric"], frame["value"], strict=True)],
            ctx.period.previous().label: [
                fmt(m, v) for m, v in zip(frame["metric"], frame["previous"], strict=True)
            ],
        },
        index=pd.Index(frame["label"], name=""),
    )


def _fmt(ctx: ReportContext):
    def f(metric: str, value: object) -> str:
        return REGISTRY[metric].format(value, ctx.currency)

    return f


# -- activity against peers --------------------------------------------------------------------


def activity_vs_peers(ctx: ReportContext) -> pd.DataFrame:
    """The rep's leading indicators beside the peer group's median and interquartile range.

    Columns: ``metric``, ``label``, ``unit``, ``value``, ``ci_low``, ``ci_high``, ``n``
    (rates), ``peer_median``, ``peer_p25``, ``peer_p75``, ``peer_top`` (top quartile),
    ``peer_n`` (reps behind the benchmark; NaN benchmarks when under the minimum group).
    """
    rows = []
    members = list(ctx.peers.members) if ctx.peers else []
    for m in LEADING.get(ctx.role, LEADING["AE"]):
        if m not in ctx.table.values.columns:
            reason = ctx.table.unavailable.get(m)
            if reason:
                ctx.note("activity", reason)
            continue
        d = REGISTRY[m]
        values = pd.to_numeric(ctx.table.values[m], errors="coerce")
        det = ctx.table.details.get(m)
        row = {
            "metric": m,
            "label": d.name,
            "unit": d.unit,
            "value": values.get(ctx.rep_id, np.nan),
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n": np.nan,
        }
        if isinstance(det, pd.DataFrame) and "n" in det.columns:
            row.update(
                ci_low=det.at[ctx.rep_id, "ci_low"],
                ci_high=det.at[ctx.rep_id, "ci_high"],
                n=det.at[ctx.rep_id, "n"],
            )
        if members:
            st = _peer_row(ctx.ds, ctx.period, m, values, members)
            higher = d.higher_is_better is not False
            row.update(
                peer_median=st["median"],
                peer_p25=st["p25"],
                peer_p75=st["p75"],
                peer_top=st["p75"] if higher else st["p25"],
                peer_n=int(st["n_reps"]) if not st["suppressed"] else np.nan,
            )
        else:
            row.update(peer_median=np.nan, peer_p25=np.nan, peer_p75=np.nan, peer_top=np.nan, peer_n=np.nan)
        rows.append(row)
    if ctx.peers is None:
        ctx.note("activity", "no peer benchmark: fewer than 5 reps to compare with")
    columns = [
        "metric",
        "label",
        "unit",
        "value",
        "ci_low",
        "ci_high",
        "n",
        "peer_median",
        "peer_p25",
        "peer_p75",
        "peer_top",
        "peer_n",
    ]
    return pd.DataFrame(rows, columns=columns)


def format_activity(ctx: ReportContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Display table: you (with the 95% interval and n for rates), peer median and top quartile."""
    fmt = _fmt(ctx)
    you = []
    for r in frame.itertuples():
        text = fmt(r.metric, r.value)
        if not pd.isna(r.ci_low) and not pd.isna(r.ci_high):
            text += f" ({fmt(r.metric, r.ci_low)} to {fmt(r.metric, r.ci_high)}, n={int(r.n)})"
        elif not pd.isna(r.n):
            text += f" (n={int(r.n)})"
        you.append(text)
    return pd.DataFrame(
        {
            "You": you,
            "Peer median": [fmt(m, v) for m, v in zip(frame["metric"], frame["peer_median"], strict=True)],
            "Top quartile": [fmt(m, v) for m, v in zip(frame["metric"], frame["peer_top"], strict=True)],
        },
        index=pd.Index(frame["label"], name=""),
    )


# -- funnel and leakage ------------------------------------------------------------------------


def leakage_detail(ctx: ReportContext) -> pd.DataFrame:
    """The rep's conversion at each funnel step over the window, against the benchmark.

    From :func:`kpikit.metrics.conversion.leakage_by_transition` (leave-one-out team
    benchmark of at least 5 other reps, else the org), only this rep's rows and the
    pooled benchmark rate.
    """
    from kpikit.metrics.conversion import leakage_by_transition

    try:
        detail = _memo(
            ctx.ds,
            ("leakage", ctx.window.label),
            lambda: leakage_by_transition(ctx.ds, ctx.window, min_group=MIN_GROUP + 1),
        )
    except MissingDataError as exc:
        ctx.note("funnel", str(exc))
        return pd.DataFrame()
    mine = detail.loc[ctx.rep_id].reset_index()
    keep = [
        "transition",
        "from_stage",
        "to_stage",
        "rep_successes",
        "rep_n",
        "rep_rate",
        "benchmark_rate",
        "benchmark_basis",
        "shortfall",
        "p_value",
        "measurable",
        "extra_deals",
        "extra_revenue",
    ]
    return mine[keep]


def funnel_frame(ctx: ReportContext, detail: pd.DataFrame) -> pd.DataFrame:
    """Stage counts for the funnel chart: ``stage``, ``count``, ``rate_to_next``, ``is_leak``."""
    if detail.empty:
        return pd.DataFrame(columns=["stage", "count", "rate_to_next", "is_leak"])
    leak = leak_step(detail)
    rows = [
        {
            "stage": r.from_stage,
            "count": int(r.rep_n),
            "rate_to_next": r.rep_rate,
            "is_leak": leak is not None and r.transition == leak,
        }
        for r in detail.itertuples()
    ]
    last = detail.iloc[-1]
    rows.append(
        {
            "stage": last["to_stage"],
            "count": int(last["rep_successes"]),
            "rate_to_next": np.nan,
            "is_leak": False,
        }
    )
    return pd.DataFrame(rows)


def leak_step(detail: pd.DataFrame) -> str | None:
    """The measurable step losing the most revenue against the benchmark (None if none)."""
    cand = detail[detail["measurable"].astype(bool) & (detail["shortfall"] > 0)]
    if cand.empty:
        return None
    cand = cand.sort_values(
        ["extra_revenue", "extra_deals", "shortfall"], ascending=False, na_position="last"
    )
    return str(cand.iloc[0]["transition"])


def format_leakage(ctx: ReportContext, detail: pd.DataFrame) -> pd.DataFrame:
    """Display table of the funnel steps: your rate (n), benchmark, gap, p-value, value of closing it."""
    rows = []
    for r in detail.itertuples():
        rows.append(
            {
                "Step": r.transition,
                "You": "n/a" if pd.isna(r.rep_rate) else f"{r.rep_rate:.0%} ({r.rep_successes} of {r.rep_n})",
                "Benchmark": "n/a"
                if pd.isna(r.benchmark_rate)
                else f"{r.benchmark_rate:.0%} ({r.benchmark_basis})",
                "Gap": "n/a" if pd.isna(r.shortfall) else f"{-r.shortfall:+.0%}".replace("+-", "-"),
                "Chance it is luck": ""
                if pd.isna(r.p_value) or pd.isna(r.shortfall) or r.shortfall <= 0
                else f"{r.p_value:.0%}",
                "Worth if closed": ""
                if pd.isna(r.extra_revenue) or r.extra_revenue <= 0
                else f"{r.extra_deals:.1f} deals, {_money(ctx, r.extra_revenue)}",
            }
        )
    return pd.DataFrame(rows).set_index("Step") if rows else pd.DataFrame()


# -- plan ----------------------------------------------------------------------------------------


@dataclass
class PlanSection:
    """The plan shown in the report, or why there is none."""

    plan: object | None
    period: Period
    message: str
    #: when the pipeline covers the goal: the rhythm that refills one period's worth of it
    steady: object | None = None


def plan_section(ctx: ReportContext) -> PlanSection:
    """The reverse-funnel plan for the rest of the period, or the next period when it is over."""
    from kpikit.planner import PlanError
    from kpikit.planning import plan_for_rep, working_days_left

    target = ctx.period
    if ctx.as_of is not None and working_days_left(ctx.ds, target, ctx.as_of) == 0:
        target = ctx.period.shift(1)
        intro = f"{ctx.period.label} is over, so this is the plan for {target.label}."
    else:
        intro = f"The plan for the rest of {target.label}."
    try:
        result = plan_for_rep(ctx.ds, ctx.rep_id, target, as_of=ctx.as_of, fill_from_team=True)
    except (PlanError, MissingDataError) as exc:
        text = str(exc)
        if "no quota" in text:
            return PlanSection(
                None, target,
                f"{intro} There is no revenue quota for you in {target.label}, so there is no goal "
                f"to walk back up the funnel; the self-coaching planner lets you set one.",
            )
        return PlanSection(None, target, f"{intro} No plan: {markdown_text(text)}")
    if result.covered:
        steady = plan_for_rep(
            ctx.ds, ctx.rep_id, target, as_of=ctx.as_of, fill_from_team=True, pipeline_aware=False
        )
        return PlanSection(
            result,
            target,
            f"{intro} Revenue already won and your weighted pipeline cover the goal "
            f"({_money(ctx, result.won_so_far + result.weighted_pipeline)} expected against "
            f"{_money(ctx, result.goal)}). To refill the pipeline for the periods after, keep this "
            f"rhythm: {steady.summary()}.",
            steady,
        )
    summary = result.summary()
    return PlanSection(result, target, f"{intro} {summary[0].upper()}{summary[1:]}.")


def plan_display(ctx: ReportContext, ps: PlanSection, *, static: bool = True) -> list:
    """What the plan section shows after its message: the plan table and chart, then the
    open pipeline against the gap (each only when there is something to show)."""
    from kpikit import plots

    parts: list = []
    table = format_plan(ps)
    if table is not None:
        parts.append(table)
        parts.append(plots.show(plots.plan_chart(shown_plan(ps).to_frame()), static=static))
    pipeline, gap = pipeline_frame(ctx, ps.period)
    if len(pipeline):
        parts.append(plots.show(plots.pipeline_chart(pipeline, quota_gap=gap), static=static))
    return parts


def _money(ctx: ReportContext, value: float | None) -> str:
    return REGISTRY["total_sales"].format(value, ctx.currency)


def shown_plan(ps: PlanSection):
    """The plan whose numbers the section shows (the steady rhythm when the goal is covered)."""
    return ps.steady if ps.steady is not None else ps.plan


def format_plan(ps: PlanSection) -> pd.DataFrame | None:
    """The plan as a table a rep can check: required, range, per day / week, rate and source."""
    plan = shown_plan(ps)
    if plan is None or plan.covered:
        return None
    f = plan.to_frame()
    return pd.DataFrame(
        {
            "Needed": f["required"].map("{:,}".format).to_numpy(),
            "Likely range": [
                "" if pd.isna(a) else f"{int(a):,} to {int(b):,}"
                for a, b in zip(f["p10"], f["p90"], strict=True)
            ],
            "Per day": f["per_day"].map("{:.1f}".format).to_numpy(),
            "Per week": f["per_week"].map("{:.1f}".format).to_numpy(),
            "Rate used": ["" if pd.isna(r) else f"{r:.1%}" for r in f["rate"]],
            "From": f["rate_source"].fillna("").map(_SOURCE_WORDS).fillna("").to_numpy(),
        },
        index=pd.Index([_STAGE_WORDS.get(s, s) for s in f["stage"]], name=""),
    )


_STAGE_WORDS = {
    "deals": "Deals",
    "proposals": "Proposals",
    "meetings": "Meetings",
    "sqls": "SQLs",
    "leads": "Leads",
    "touches": "Outreach touches",
}
_SOURCE_WORDS = {
    "rep": "your history",
    "shrunk": "your history, steadied toward the team",
    "team": "your team's history",
    "manual": "typed in",
    "": "",
}


def notes_markdown(ctx: ReportContext, section: str) -> str:
    """What a section could not show and why ("not available: needs activities")."""
    notes = list(dict.fromkeys(ctx.notes.get(section, [])))
    if not notes:
        return ""
    return "\n".join(f"- *{markdown_text(n)}*" for n in notes)


def pipeline_frame(ctx: ReportContext, period: Period | None = None) -> tuple[pd.DataFrame, float | None]:
    """The rep's open pipeline by stage and close month, and ``period``'s quota gap (default:
    the report's period; the report passes the planned period)."""
    from kpikit.metrics.pipeline import pipeline_by_stage, quota_gap

    period = period or ctx.period
    try:
        pipe = pipeline_by_stage(ctx.ds, period, by="rep").loc[ctx.rep_id].reset_index()
    except MissingDataError as exc:
        ctx.note("plan", str(exc))
        return pd.DataFrame(columns=["close_month", "stage", "amount"]), None
    pipe = pipe[pipe["amount"] > 0][["close_month", "stage", "amount"]]
    gap = None
    try:
        g = quota_gap(ctx.ds, period, by="rep").get(ctx.rep_id, np.nan)
        gap = None if pd.isna(g) else float(g)
    except MissingDataError:
        pass
    return pipe.reset_index(drop=True), gap


# -- trends --------------------------------------------------------------------------------------


def trends(ctx: ReportContext, *, periods: int = 6) -> pd.DataFrame:
    """The rep's key numbers over the last ``periods`` periods with the peer median.

    Columns ``period``, ``metric`` (display name), ``unit``, ``value``, ``peer_median``.
    """
    wanted = [m for m in TRENDS.get(ctx.role, TRENDS["AE"]) if m in REGISTRY]
    members = list(ctx.peers.members) if ctx.peers else []
    rows = []
    for p in ctx.period.history(periods):
        t = _table(ctx.ds, p, wanted)
        for m in wanted:
            if m not in t.values.columns:
                continue
            values = pd.to_numeric(t.values[m], errors="coerce")
            med = np.nan
            if members:
                med = _peer_row(ctx.ds, p, m, values, members)["median"]
            rows.append(
                {
                    "period": p.label,
                    "metric": REGISTRY[m].name,
                    "unit": REGISTRY[m].unit,
                    "value": values.get(ctx.rep_id, np.nan),
                    "peer_median": med,
                }
            )
    return pd.DataFrame(rows, columns=["period", "metric", "unit", "value", "peer_median"])


# -- coaching focus ------------------------------------------------------------------------------


#: a funnel gap more likely than this to be chance is not a coaching priority (unless worth a deal)
FOCUS_MAX_P = 0.35


@dataclass(frozen=True)
class FocusItem:
    """One coaching priority: what, the numbers behind it, what it is worth, what to do."""

    title: str
    evidence: str
    impact_revenue: float
    impact_deals: float
    suggestion: str


def _step_kind(ctx: ReportContext, to_stage: str) -> str:
    st = ctx.ds.config.stages
    if to_stage == st.sql:
        return "lead"
    if to_stage == st.meeting:
        return "meeting"
    if to_stage == st.proposal:
        return "proposal"
    if to_stage in st.won:
        return "won"
    return "other"


def coaching_focus(
    ctx: ReportContext, detail: pd.DataFrame, activity: pd.DataFrame, *, k: int = 3
) -> list[FocusItem]:
    """The two or three gaps that matter most, ranked by what closing them is worth.

    Candidates: every measurable funnel step below the benchmark that is unlikely to be
    luck (one-sided p-value under :data:`FOCUS_MAX_P`) or worth at least one deal (worth:
    extra deals x average deal at the rep's volume); then leading indicators below the
    peer median (speed to lead, follow-up, calls), which cannot be priced and come after
    the priced ones.
    """
    items: list[FocusItem] = []
    if not detail.empty:
        cand = detail[detail["measurable"].astype(bool) & (detail["shortfall"] > 0)]
        cand = cand[(cand["p_value"] < FOCUS_MAX_P) | (cand["extra_deals"] >= 1)]
        for r in cand.itertuples():
            items.append(
                FocusItem(
                    title=f"Convert more at {r.transition}",
                    evidence=(
                        f"{r.rep_rate:.0%} of {r.rep_n} ({r.rep_successes}) over {ctx.window.label} against "
                        f"{r.benchmark_rate:.0%} for the benchmark ({r.benchmark_basis}); a gap this size "
                        f"happens by chance {r.p_value:.0%} of the time"
                    ),
                    impact_revenue=float(r.extra_revenue) if not pd.isna(r.extra_revenue) else np.nan,
                    impact_deals=float(r.extra_deals) if not pd.isna(r.extra_deals) else np.nan,
                    suggestion=_SUGGESTIONS[_step_kind(ctx, r.to_stage)],
                )
            )
    act = activity.set_index("metric") if len(activity) else pd.DataFrame()
    fmt = _fmt(ctx)
    for m, title, suggestion in (
        (
            "pct_leads_responded_1h",
            "Answer new leads faster",
            "Block time for new leads and answer each within the hour: the articles find a first "
            "reply within an hour is seven times likelier to reach a decision maker.",
        ),
        (
            "pct_leads_followed_up",
            "Follow up every contact",
            "Plan a second touch for every lead you contact: about half of reps never follow up a "
            "second time, and most sales close between the 5th and 12th contact.",
        ),
        (
            "calls_made",
            "Make more calls",
            "Protect a daily calling block at your best connect hours and prepare the call list the "
            "day before.",
        ),
    ):
        if m not in act.index:
            continue
        r = act.loc[m]
        if pd.isna(r["value"]) or pd.isna(r["peer_median"]) or r["value"] >= r["peer_median"]:
            continue
        items.append(
            FocusItem(
                title=title,
                evidence=f"{REGISTRY[m].name}: {fmt(m, r['value'])} against a peer median of "
                f"{fmt(m, r['peer_median'])}",
                impact_revenue=np.nan,
                impact_deals=np.nan,
                suggestion=suggestion,
            )
        )
    items.sort(key=lambda i: -i.impact_revenue if not math.isnan(i.impact_revenue) else math.inf)
    if not items:
        return []
    return items[:k]


def format_focus(ctx: ReportContext, items: list[FocusItem]) -> str:
    """The coaching focus as Markdown (numbered, with the numbers and the suggestion)."""
    if not items:
        return (
            "Nothing stands out against your peers this period: keep your current rhythm and "
            "look at the trends below."
        )
    lines = []
    for i, it in enumerate(items, 1):
        worth = ""
        if not math.isnan(it.impact_revenue) and it.impact_revenue > 0:
            worth = (
                f" Closing this gap is worth about {it.impact_deals:.1f} deals, "
                f"{_money(ctx, it.impact_revenue)}, at your current volume."
            )
        lines.append(
            f"{i}. **{markdown_text(it.title)}.** {markdown_text(it.evidence)}.{worth} *{it.suggestion}*"
        )
    return "\n".join(lines)


# -- definitions & key numbers ---------------------------------------------------------------


def definitions(metrics: list[str]) -> pd.DataFrame:
    """The registry definitions of the metrics a report used (for its footer)."""
    rows = []
    for m in dict.fromkeys(metrics):
        if m not in REGISTRY:
            continue
        d = REGISTRY[m]
        rows.append(
            {
                "Metric": d.name,
                "Id": m,
                "Formula": d.formula,
                "Kind": d.indicator,
                "Needs": ", ".join(d.needs),
            }
        )
    return pd.DataFrame(rows).set_index("Metric") if rows else pd.DataFrame()


def used_metrics(ctx: ReportContext) -> list[str]:
    return list(
        dict.fromkeys(
            [
                *headline_metrics(ctx.role),
                *LEADING.get(ctx.role, LEADING["AE"]),
                *TRENDS.get(ctx.role, TRENDS["AE"]),
                "leakage_stage",
            ]
        )
    )


def key_numbers(ctx: ReportContext) -> str:
    """A few plain-text numbers for nbval to check (stable on the sample org)."""
    v = ctx.table.values.loc[ctx.rep_id]
    out = [f"rep {ctx.rep_id} ({ctx.role}), period {ctx.period.label}"]
    for m in ("total_sales", "deals_won", "win_rate", "quota_attainment", "calls_made"):
        if m in v.index:
            out.append(f"{m} = {REGISTRY[m].format(v[m], ctx.currency)}")
    return "\n".join(out)


def report_metadata(ctx: ReportContext) -> dict[str, str]:
    """The report header's fields (``nb.metadata["kpikit"]``)."""
    return _header(ctx.rep_name, ctx.period, ctx.as_of)


def header_metadata(
    ds: Dataset, rep_id: str, period: Period | str, *, as_of: pd.Timestamp | str | None = None
) -> dict[str, str]:
    """The same header fields as :func:`report_metadata`, without preparing the whole report.

    >>> ds = Dataset.from_frames(reps=pd.DataFrame({"rep_id": ["r1"], "name": ["Ana"]}),
    ...     opportunities=pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
    ...         "created_at": ["2026-10-05"], "stage": ["Lead"], "amount": [10.0]}))
    >>> header_metadata(ds, "r1", "2026-10")["rep_name"], header_metadata(ds, "r1", "2026-10")["data_date"]
    ('Ana', '2026-10-05')
    """
    if rep_id not in set(ds.rep_ids):
        raise KpikitError(f"rep {rep_id!r} is not in the dataset's reps table")
    return _header(
        _attr(ds, rep_id, "name") or rep_id,
        Period.parse(period),
        pd.Timestamp(as_of) if as_of is not None else _data_date(ds),
    )


def _header(rep_name: str, period: Period, as_of: pd.Timestamp | None) -> dict[str, str]:
    from kpikit._version import __version__

    return {
        "title": "Coaching report",
        "rep_name": rep_name,
        "period": period.label,
        "data_date": f"{as_of:%Y-%m-%d}" if as_of is not None else "",
        "kpikit_version": __version__,
    }


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown: HTML escaped and Markdown punctuation backslash-escaped.

    Names come from the data (a rep called ``<script>`` or ``*Ana*``): shown in a
    Markdown cell they must read as typed, never as markup.

    >>> print(markdown_text("<b>Ann_Lee</b>"))
    &lt;b&gt;Ann\\_Lee&lt;/b&gt;
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def intro(ctx: ReportContext) -> str:
    """The line under the title: who, which period, compared with whom, data as of."""
    parts = (ctx.rep_name, ctx.role, ctx.team and f"team {ctx.team}")
    who = " · ".join(markdown_text(x) for x in parts if x)
    peers = f"compared with {markdown_text(ctx.peers.label)}" if ctx.peers else "no peer group of 5 or more"
    asof = f" · data as of {ctx.as_of:%d %b %Y}" if ctx.as_of is not None else ""
    return f"**{who}** · {ctx.period.label} · {peers}{asof}"
