"""Planning from data: a rep's (or team's) rates, quota, won revenue and pipeline -> a plan.

:func:`kpikit.planner.plan` does the reverse-funnel math on given numbers; this
module fetches those numbers from a dataset:

- **rates** (:func:`rates_from_history`): the rep's cohort conversion rates
  (``docs/funnel.md``) pooled over a window of completed months before the
  period (default the 6 months before last month: the most recent month's cohorts
  have not had time to convert). With fewer than :data:`SHRINK_BELOW` cases the
  empirical-Bayes estimate shrunk toward the team (:mod:`kpikit.peers`) is used
  instead, and the plan says so. ``source="team"`` pools the rep's whole team.
- **goal**: the rep's quota for the period (``quotas``), unless given.
- **won so far** and the **weighted pipeline**: revenue already won in the period,
  and the open pipeline (as of the data date) with an expected close date inside
  the period, weighted by each stage's historical win probability.
- **working days**: the working days left in the period after the data date
  (the whole period when it has not started), from ``dataset.toml``'s
  ``working_days_per_month`` or the Monday-Friday count less ``holidays``.
- **median cycle**: median days from lead created to won (from SQL when there are
  no leads), for "leads created after 14 Nov are unlikely to close this period".
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics import conversion
from kpikit.metrics._common import group_map
from kpikit.metrics.funnel import lead_funnel, stage_win_probability
from kpikit.metrics.pipeline import open_pipeline
from kpikit.metrics.results import closed_in, quota_for
from kpikit.peers import fit_beta_prior
from kpikit.periods import Period
from kpikit.planner import Plan, PlanError, Rate, plan

#: below this many cases a rep's own rate is replaced by its shrunk estimate
SHRINK_BELOW = 30

_CONV = {
    "lead_to_sql": conversion.conv_lead_to_sql,
    "sql_to_meeting": conversion.conv_sql_to_meeting,
    "meeting_to_proposal": conversion.conv_meeting_to_proposal,
    "proposal_to_won": conversion.conv_proposal_to_won,
    "lead_to_customer": conversion.conv_lead_to_customer,
}
_OUTREACH_TYPES = ("call", "email", "linkedin", "social")


def history_window(period: Period | str, *, window: int = 6, lag: int = 1) -> Period:
    """The ``window`` months (a ``YYYY-MM..YYYY-MM`` period) ending ``lag`` months before ``period``.

    >>> history_window("2026-11").label
    '2026-04..2026-09'
    >>> history_window("2026-Q4", window=3, lag=0).label
    '2026-07..2026-09'
    """
    p = Period.parse(period)
    if window < 1 or lag < 0:
        raise PlanError(f"window must be >= 1 month and lag >= 0, got window={window}, lag={lag}")
    last = Period(p.start, "month").shift(-(lag + 1))
    return Period.trailing(last, window)


def _org_memo(ds: Dataset, key: tuple, build):
    """Memoise org-wide counts on the dataset, keyed on its tables' identity (as
    :func:`kpikit.metrics.funnel._cached`): every rep's plan reads the same counts, so a
    batch of reports computes them once. A shallow copy is returned (copy-on-write)."""
    ident = (id(ds.config), *(id(v) for v in ds.tables.values()))
    cache = ds.__dict__.setdefault("_planning_cache", {})
    if cache.get("_ident") != ident:
        cache.clear()
        cache["_ident"] = ident
    if key not in cache:
        cache[key] = build()
    return cache[key].copy(deep=False)


def _pooled(ds: Dataset, func, hw: Period, by: str) -> pd.DataFrame:
    """successes and n of a rate metric over the window, per group."""
    return _org_memo(
        ds,
        ("pooled", func.__module__, func.__name__, hw.label, by),
        lambda: func(ds, hw, by=by)[["successes", "n"]].astype("int64"),
    )


def _outreach_counts(ds: Dataset, hw: Period, by: str) -> pd.DataFrame:
    """New leads (outbound-sourced when sources say so) per outbound touch, per group."""
    return _org_memo(ds, ("outreach", hw.label, by), lambda: _count_outreach(ds, hw, by))


def _count_outreach(ds: Dataset, hw: Period, by: str) -> pd.DataFrame:
    ds.require("activities", "leads", what="outreach_to_lead")
    act = ds.activities
    touch = act[
        act["type"].isin(_OUTREACH_TYPES)
        & (act["direction"] == "outbound")
        & (act["occurred_at"] >= hw.start)
        & (act["occurred_at"] < hw.end)
    ]
    leads = ds.leads
    leads = leads[(leads["created_at"] >= hw.start) & (leads["created_at"] < hw.end)]
    if "source" in leads.columns:
        outbound = leads["source"].astype("string").str.lower().eq("outbound").fillna(False)
        if outbound.any():
            leads = leads[outbound.to_numpy()]
    gm = group_map(ds, by)
    n = touch["rep_id"].map(gm).value_counts()
    s = leads["rep_id"].map(gm).value_counts()
    idx = pd.Index(pd.unique(gm.to_numpy()))
    return pd.DataFrame(
        {"successes": s.reindex(idx, fill_value=0), "n": n.reindex(idx, fill_value=0)}
    ).astype("int64")


def rates_from_history(
    ds: Dataset,
    *,
    rep_id: str,
    period: Period | str,
    window: int = 6,
    lag: int = 1,
    source: str = "rep",
    shrink_below: int = SHRINK_BELOW,
) -> dict[str, Rate]:
    """The rep's (``source="rep"``) or its team's (``"team"``) conversion rates.

    Each rate is ``Rate(successes / n)`` pooled over :func:`history_window`; a rep
    rate measured on fewer than ``shrink_below`` cases is replaced by its
    empirical-Bayes estimate shrunk toward the team (``source="shrunk"``). A rate
    whose inputs the dataset lacks is left out (the plan then stops below it); a
    rate with no cases is NaN, which :func:`kpikit.planner.plan` refuses by name.
    """
    if source not in ("rep", "team"):
        raise PlanError(f"rate source {source!r} is not known; use rep or team")
    _check_rep(ds, rep_id)
    hw = history_window(period, window=window, lag=lag)
    by = "rep"
    key = rep_id
    if source == "team":
        if not ds.has("reps", "team"):
            raise MissingDataError("reps.team", what="team rates")
        team = group_map(ds, "team")
        by, key = "team", team[rep_id]
        if (team == key).sum() < 5:  # too small to be an anonymous aggregate: the org instead
            by, key = "org", group_map(ds, "org")[rep_id]
    team_of = group_map(ds, "team") if ds.has("reps", "team") else group_map(ds, "org")
    rates: dict[str, Rate] = {}
    counts: dict[str, pd.DataFrame] = {}
    for name, func in _CONV.items():
        try:
            counts[name] = _pooled(ds, func, hw, by)
        except MissingDataError:
            continue
    with contextlib.suppress(MissingDataError):
        counts["outreach_to_lead"] = _outreach_counts(ds, hw, by)
    for name, c in counts.items():
        s, n = int(c.loc[key, "successes"]), int(c.loc[key, "n"])
        if name == "outreach_to_lead" and s > n:
            continue  # more new leads than touches: inbound-driven, not an outreach rate
        rate = Rate.from_counts(s, n, source=source, window=hw.label)
        if source == "rep" and 0 < n < shrink_below:
            team_ids = team_of.index[team_of == team_of[rep_id]]
            peers = c.reindex(team_ids).dropna()
            if (peers["n"] > 0).sum() < 5:
                peers = c
            a, b = fit_beta_prior(peers["successes"], peers["n"])
            if not (math.isnan(a) or math.isnan(b)):
                rate = Rate((s + a) / (n + a + b), s, n, "shrunk", hw.label)
        rates[name] = rate
    return rates


def _check_rep(ds: Dataset, rep_id: str) -> None:
    if rep_id not in set(ds.rep_ids):
        sample = ", ".join(list(ds.rep_ids[:5]))
        raise KpikitError(f"rep {rep_id!r} is not in reps (rep ids look like: {sample}, ...)")


def data_date(ds: Dataset) -> pd.Timestamp | None:
    """The as-of date of a dataset: its latest event timestamp."""
    return ds.date_range()[1]


def working_days_left(ds: Dataset, period: Period, as_of: pd.Timestamp | None) -> int:
    """Working days of ``period`` after ``as_of`` (the whole period if it has not started)."""
    cfg = ds.config
    start = period.start
    if as_of is not None and as_of >= period.start:
        start = (pd.Timestamp(as_of) + pd.Timedelta(days=1)).normalize()
    if start >= period.end:
        return 0
    if cfg.working_days_per_month:
        total = cfg.working_days_per_month * period.months
        full = period.working_days(cfg.holidays) or 1
        left = period.working_days_between(start, cfg.holidays)
        return int(round(total * left / full))
    return period.working_days_between(start, cfg.holidays)


def median_cycle_days(ds: Dataset, hw: Period, rep_id: str | None = None) -> float | None:
    """Median days from lead created to won over the window (from SQL without leads)."""
    if ds.has("leads"):
        lf = lead_funnel(ds)
        won = lf[lf["won"] & (lf["won_at"] >= hw.start) & (lf["won_at"] < hw.end)]
        if rep_id is not None and (won["rep_id"] == rep_id).sum() >= 5:
            won = won[won["rep_id"] == rep_id]
        days = (won["won_at"] - won["created_at"]).dt.total_seconds() / 86400
    else:
        opps = ds.opportunities
        won = opps[
            (opps["status"] == "won") & (opps["close_date"] >= hw.start) & (opps["close_date"] < hw.end)
        ]
        days = (won["close_date"] - won["created_at"]).dt.total_seconds() / 86400
    days = days.dropna()
    return float(days.median()) if len(days) else None


def expected_from_pipeline(ds: Dataset, rep_id: str, period: Period, as_of: pd.Timestamp) -> float:
    """Open pipeline at the end of day ``as_of`` expected to close inside ``period``,
    weighted by each stage's historical win probability (org-wide, deals closed by then)."""
    as_of = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    pipe = open_pipeline(ds, as_of)
    pipe = pipe[(pipe["rep_id"] == rep_id) & period.contains(pipe["close_date"])]
    if pipe.empty:
        return 0.0
    prob = stage_win_probability(ds, as_of=as_of, by="org")["value"].droplevel(0)
    entry = prob.iloc[0] if len(prob) else np.nan
    weight = pipe["stage_at"].map(prob).where(pipe["stage_at"].isin(prob.index), entry)
    value = float((pipe["amount"] * weight.astype(float)).sum())
    return 0.0 if math.isnan(value) else value


def plan_for_rep(
    ds: Dataset,
    rep_id: str,
    period: Period | str,
    *,
    goal: float | None = None,
    deals: int | None = None,
    avg_deal: float | None = None,
    rates: Mapping[str, float | Rate] | None = None,
    rate_source: str = "rep",
    window: int = 6,
    working_days: int | None = None,
    as_of: pd.Timestamp | str | None = None,
    pipeline_aware: bool = True,
    seed: int = 0,
    fill_from_team: bool = False,
) -> Plan:
    """Plan a rep's activity for ``period`` from their data; explicit arguments win.

    ``goal`` defaults to the rep's quota; ``avg_deal`` to the rep's average won
    deal over the window (the team's when the rep won none); ``rates`` given by
    hand override the ones from history; won revenue and the weighted pipeline
    are subtracted unless ``pipeline_aware=False``. The team's rates are offered
    when a rep rate is 0 or has no history; with ``fill_from_team=True`` (reports)
    such a rate is replaced by the team's, and the plan's notes say so.
    """
    p = Period.parse(period)
    _check_rep(ds, rep_id)
    hw = history_window(p, window=window)
    when = pd.Timestamp(as_of) if as_of is not None else data_date(ds)
    notes: list[str] = []

    merged: dict[str, float | Rate] = dict(
        rates_from_history(ds, rep_id=rep_id, period=p, window=window, source=rate_source)
    )
    merged.update(rates or {})
    fallback = None
    if rate_source == "rep" and ds.has("reps", "team"):
        try:
            fallback = rates_from_history(ds, rep_id=rep_id, period=p, window=window, source="team")
        except MissingDataError:
            fallback = None

    if fill_from_team and fallback:
        for name, r in list(merged.items()):
            if isinstance(r, Rate) and (math.isnan(r.value) or r.value == 0) and name in fallback:
                team = fallback[name]
                if not math.isnan(team.value) and team.value > 0:
                    merged[name] = team
                    notes.append(f"{name}: no usable history of your own, the team's rate is used")
    if goal is None and deals is None:
        q = quota_for(ds, p).get(rep_id, np.nan) if ds.has("quotas") else np.nan
        if pd.isna(q):
            raise PlanError(
                f"no goal: rep {rep_id} has no quota for {p.label}; give --goal AMOUNT or --deals N"
            )
        goal = float(q)
        notes.append(f"goal = quota for {p.label}")
    if avg_deal is None and (goal is not None or pipeline_aware):
        avg_deal = _avg_deal(ds, rep_id, hw, notes)

    won_so_far = 0.0
    expected = 0.0
    if pipeline_aware and goal is not None and when is not None:
        won = closed_in(ds, p, "won")
        won_so_far = float(won.loc[won["rep_id"] == rep_id, "amount"].sum())
        if when < p.end:
            expected = expected_from_pipeline(ds, rep_id, p, when)
    if working_days is None:
        working_days = working_days_left(ds, p, when)
        if working_days == 0:
            raise PlanError(
                f"{p.label} has no working days left after the data date "
                f"({when:%Y-%m-%d}); plan the next period or give --working-days N"
            )
    result = plan(
        goal=goal,
        deals=deals,
        avg_deal=avg_deal,
        rates=merged,
        working_days=working_days,
        won_so_far=won_so_far,
        weighted_pipeline=expected,
        period=p,
        as_of=when.date() if when is not None else None,
        median_cycle_days=median_cycle_days(ds, hw, rep_id),
        seed=seed,
        fallback_rates=fallback,
    )
    result.notes[:0] = notes
    return result


def _avg_deal(ds: Dataset, rep_id: str, hw: Period, notes: list[str]) -> float:
    opps = ds.opportunities
    won = opps[(opps["status"] == "won") & (opps["close_date"] >= hw.start) & (opps["close_date"] < hw.end)]
    mine = won.loc[won["rep_id"] == rep_id, "amount"]
    if len(mine):
        notes.append(f"average deal = rep's mean won deal {hw.label} ({len(mine)} deals)")
        return float(mine.mean())
    if ds.has("reps", "team"):
        team = group_map(ds, "team")
        theirs = won.loc[won["rep_id"].map(team) == team[rep_id], "amount"]
        if len(theirs):
            notes.append(f"average deal = team's mean won deal {hw.label} (the rep won none)")
            return float(theirs.mean())
    if len(won):
        notes.append(f"average deal = org's mean won deal {hw.label} (the rep won none)")
        return float(won["amount"].mean())
    raise PlanError(f"no won deals in {hw.label} to take an average deal size from; give --avg-deal AMOUNT")
