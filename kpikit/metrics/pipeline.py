"""Pipeline and quota-gap KPIs: open pipeline by stage, gap to quota, coverage, weighted pipeline.

Every function has the signature ``f(ds, period, *, by="rep")``.

*The pipeline of a period* is what was open at the period end
(:func:`open_pipeline`): opportunities created before the end and not closed
before it (:func:`kpikit.metrics.results.open_at`). For the current period that is
today's open pipeline; for a past period it is reconstructed.

*Stage at the period end*: the stage of the opportunity's last ``stage_history``
entry before the end (entries at the same instant: the later funnel stage wins).
An opportunity with no entry before the end is in its current stage when it is
still open today, else in stage ``"(unknown)"`` (closed later, stage then not
recorded); so is one whose last entry is a won / lost stage although it closed
later. ``close_date`` of an opportunity closed since then is its actual close
date, not the one expected at the period end: the data does not keep the latter.

Quotas and won revenue come from :mod:`kpikit.metrics.results`
(:func:`~kpikit.metrics.results.quota_for`,
:func:`~kpikit.metrics.results.rep_revenue`); for a team, level or org only the
reps with a quota for the period count, as for ``quota_attainment``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.metrics._common import (
    NO_GROUP,
    as_period,
    cached,
    codes_in,
    frozen,
    group_index,
    group_map,
    unique_ids,
)
from kpikit.metrics.funnel import entry_stage, stage_win_probability
from kpikit.metrics.registry import register
from kpikit.metrics.results import _opportunities, open_at, open_mask, quota_for, rep_revenue
from kpikit.periods import Period, period_labels
from kpikit.stats import ratio_frame

#: stage label of an open opportunity whose stage at the period end is not known
UNKNOWN_STAGE = "(unknown)"


def _example() -> Dataset:
    """The tiny dataset of the doctests (two reps of team East, 2026).

    r1: o1 won 1,000 (SQL 08-03, Meeting, Proposal, Won 09-10); o2 lost 500 (SQL,
    Meeting, Lost 09-20); o3 open 800, Proposal since 10-05, close 10-15.
    r2: o4 open 400, Meeting since 09-25, close 10-25; o5 won 600 (SQL 10-02, Won
    10-12); o6 lost 300 (SQL, Meeting, Proposal, Lost 09-30). Quota 1,000 each for
    2026-10.
    """
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "rep_id": ["r1", "r1", "r1", "r2", "r2", "r2"],
            "created_at": ["2026-08-03", "2026-08-05", "2026-09-01", "2026-09-15", "2026-10-02",
                           "2026-08-01"],
            "stage": ["Won", "Lost", "Proposal", "Meeting", "Won", "Lost"],
            "amount": [1000.0, 500.0, 800.0, 400.0, 600.0, 300.0],
            "close_date": ["2026-09-10", "2026-09-20", "2026-10-15", "2026-10-25", "2026-10-12",
                           "2026-09-30"],
        }
    )
    hist = pd.DataFrame(
        [
            ("o1", "SQL", "2026-08-03"), ("o1", "Meeting", "2026-08-10"),
            ("o1", "Proposal", "2026-08-20"), ("o1", "Won", "2026-09-10"),
            ("o2", "SQL", "2026-08-05"), ("o2", "Meeting", "2026-08-15"), ("o2", "Lost", "2026-09-20"),
            ("o3", "SQL", "2026-09-01"), ("o3", "Meeting", "2026-09-10"),
            ("o3", "Proposal", "2026-10-05"),
            ("o4", "SQL", "2026-09-15"), ("o4", "Meeting", "2026-09-25"),
            ("o5", "SQL", "2026-10-02"), ("o5", "Won", "2026-10-12"),
            ("o6", "SQL", "2026-08-01"), ("o6", "Meeting", "2026-08-12"),
            ("o6", "Proposal", "2026-09-01"), ("o6", "Lost", "2026-09-30"),
        ],
        columns=["opportunity_id", "stage", "entered_at"],
    )
    return Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": ["r1", "r2"], "team": ["East", "East"]}),
        opportunities=opps,
        stage_history=hist,
        quotas=pd.DataFrame({"rep_id": ["r1", "r2"], "period": ["2026-10", "2026-10"],
                             "quota": [1000.0, 1000.0]}),
    )


def open_pipeline(ds: Dataset, when: pd.Timestamp | str) -> pd.DataFrame:
    """Opportunities open at instant ``when``, with their stage then in column ``stage_at``.

    See the module docstring for how the stage at a past instant is reconstructed.

    >>> open_pipeline(_example(), "2026-10-01")[["opportunity_id", "stage", "stage_at"]]
      opportunity_id     stage stage_at
    2             o3  Proposal  Meeting
    3             o4   Meeting  Meeting
    """
    t = pd.Timestamp(when)
    cfg = ds.config.stages
    opps = open_at(ds, t)
    stage = pd.Series(np.nan, index=opps.index, dtype=object)
    hist = ds.stage_history
    if hist is not None and len(hist):
        if unique_ids(ds, "opportunities", "opportunity_id"):
            # sorted once per dataset; filtering keeps the order of a stable sort
            h = cached(ds, "sorted_stage_history", lambda: _sort_history(hist, cfg.all))
            row = cached(ds, "sorted_stage_history_rows", lambda: frozen(codes_in(
                h["opportunity_id"], pd.Index(ds.opportunities["opportunity_id"]))))
            is_open = np.append(open_mask(ds, t), False)  # last slot: unknown opportunity
            h = h[(h["entered_at"] < t).to_numpy() & is_open[row]]
        else:
            h = hist[(hist["entered_at"] < t) & hist["opportunity_id"].isin(opps["opportunity_id"])]
            h = _sort_history(h, cfg.all)
        last = h.drop_duplicates("opportunity_id", keep="last").set_index("opportunity_id")["stage"]
        stage = opps["opportunity_id"].map(last).astype(object)
    stage = stage.fillna(opps["stage"].where(opps["status"] == "open"))
    known = stage.notna() & ~stage.isin(cfg.won + cfg.lost)
    return opps.assign(stage_at=stage.where(known, UNKNOWN_STAGE))


def _sort_history(h: pd.DataFrame, stages: tuple[str, ...]) -> pd.DataFrame:
    """Stage entries by opportunity, then time, then funnel stage (the later stage last)."""
    rank = {s: i for i, s in enumerate(stages)}
    h = h.assign(_rank=h["stage"].map(rank).fillna(-1))
    return h.sort_values(["opportunity_id", "entered_at", "_rank", "stage"], kind="stable")


def _pooled_quota(ds: Dataset, p: Period, by: str, what: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per group: summed quota (NaN if no rep has one), summed won revenue, and the has-quota mask."""
    quota = quota_for(ds, p, what=what)
    revenue = rep_revenue(ds, p, what=what)
    has = quota.notna()
    index = group_index(ds, by)
    groups = group_map(ds, by)[has]
    q = quota[has].groupby(groups).sum().reindex(index)
    r = revenue[has].groupby(groups).sum().reindex(index, fill_value=0.0)
    return q.astype(float), r.astype(float), has


@register(
    "pipeline_by_stage",
    name="Pipeline by stage",
    theme="pipeline",
    indicator="leading",
    unit="currency",
    formula="count and amount of opportunities open at the period end, per stage then and "
    "close-date month",
    needs=("opportunities",),
    shape="breakdown",
    description="Open at the period end: created before it and not closed before it; stage "
    "reconstructed from stage_history.",
)
def pipeline_by_stage(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Open pipeline at the period end: ``count`` and ``amount`` per stage and close-date month.

    One row per group, stage and ``close_month`` (``YYYY-MM`` of ``close_date``,
    ``"(none)"`` when missing), every combination present (zeros included): stages
    are the configured open stages in order, then any other stage seen, then
    ``"(unknown)"``; months are those of the open opportunities.

    >>> pipeline_by_stage(_example(), "2026-10", by="team").query("count > 0")
                                count  amount
    team stage    close_month
    East Meeting  2026-10          1   400.0
         Proposal 2026-10          1   800.0
    """
    p = as_period(period)
    cfg = ds.config.stages
    pipe = open_pipeline(ds, p.end)
    index = group_index(ds, by)
    if "close_date" in pipe.columns:
        month = period_labels(pipe["close_date"], "month").fillna(NO_GROUP)
    else:
        month = pd.Series(NO_GROUP, index=pipe.index)
    seen = set(pipe["stage_at"])
    stages = list(cfg.order) + sorted(seen - set(cfg.order) - {UNKNOWN_STAGE})
    stages += [UNKNOWN_STAGE] if UNKNOWN_STAGE in seen else []
    months = sorted(set(month) - {NO_GROUP})
    months += [NO_GROUP] if NO_GROUP in set(month) or not months else []
    keys = [
        pipe["rep_id"].map(group_map(ds, by)).rename(index.name),
        pipe["stage_at"].rename("stage"),
        month.rename("close_month"),
    ]
    full = pd.MultiIndex.from_product([index, stages, months], names=[index.name, "stage", "close_month"])
    agg = pipe.groupby(keys)["amount"].agg(["size", "sum"]) if len(pipe) else None
    if agg is None:
        return pd.DataFrame({"count": 0, "amount": 0.0}, index=full)
    return pd.DataFrame(
        {
            "count": agg["size"].reindex(full, fill_value=0).astype("int64"),
            "amount": agg["sum"].reindex(full, fill_value=0.0).astype(float),
        }
    )


@register(
    "quota_gap",
    name="Quota gap",
    theme="pipeline",
    indicator="lagging",
    unit="currency",
    formula="max(quota - won revenue so far, 0)",
    needs=("quotas", "opportunities.close_date"),
    higher_is_better=False,
    description="Revenue still needed to reach the period's quota (team, org: summed over the "
    "reps with a quota).",
)
def quota_gap(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Revenue still missing to reach quota: max(quota - won revenue in the period, 0).

    For a team, level or org: max(summed quota - summed revenue, 0) over its reps
    with a quota. NaN when there is no quota.

    >>> quota_gap(_example(), "2026-10").tolist()  # r1 won nothing; r2 won 600
    [1000.0, 400.0]
    """
    quota, revenue, _ = _pooled_quota(ds, as_period(period), by, "quota_gap")
    return (quota - revenue).clip(lower=0.0).rename("quota_gap")


@register(
    "pipeline_coverage",
    name="Pipeline coverage",
    theme="pipeline",
    indicator="leading",
    unit="ratio",
    formula="amount of opportunities open at the period end with close_date in the period / quota_gap",
    needs=("quotas", "opportunities.close_date"),
    description="Open pipeline expected to close in the period per unit of revenue still needed.",
)
def pipeline_coverage(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Open pipeline closing in the period over the quota gap, as a ratio frame.

    coverage = sum(amount | open at the period end, close_date in the period) / quota_gap.
    For the current period that is today's open pipeline; for a past period it is
    what was still open at its end with a (passed) close date inside it. Groups
    pool the reps with a quota. ``value`` is NaN when the gap is 0 (quota met) or
    unknown (no quota; ``denominator`` is then NaN too).

    >>> pipeline_coverage(_example(), "2026-10")
            value  numerator  denominator
    rep_id
    r1        0.8      800.0       1000.0
    r2        1.0      400.0        400.0
    """
    p = as_period(period)
    _opportunities(ds, "pipeline_coverage")
    quota, revenue, has = _pooled_quota(ds, p, by, "pipeline_coverage")
    gap = (quota - revenue).clip(lower=0.0)
    pipe = open_at(ds, p.end)
    closing = pipe[p.contains(pipe["close_date"])]
    per_rep = closing.groupby("rep_id")["amount"].sum().reindex(ds.rep_ids, fill_value=0.0)
    amount = per_rep[has].groupby(group_map(ds, by)[has]).sum().reindex(gap.index, fill_value=0.0)
    out = ratio_frame(amount.astype(float), gap)
    out["denominator"] = gap
    return out


@register(
    "weighted_pipeline",
    name="Weighted pipeline",
    theme="pipeline",
    indicator="leading",
    unit="currency",
    formula="sum over opportunities open at the period end of amount x P(won | reached its stage), "
    "P from the org's opportunities closed before the period end",
    needs=("opportunities",),
    description="Expected revenue of the open pipeline. Without stage_history every stage gets the "
    "overall win rate.",
)
def weighted_pipeline(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Expected value of the open pipeline: sum of amount x historical win probability of its stage.

    The pipeline is what was open at the period end, each opportunity in its stage
    then (:func:`open_pipeline`). The win probability of a stage is
    :func:`~kpikit.metrics.funnel.stage_win_probability` over the whole org's
    opportunities closed before the period end (a rep's own history is too thin):
    won / closed among those that reached the stage. Without ``stage_history`` a lost
    deal's furthest stage is unknown, so every stage gets the entry-stage probability
    (the overall win rate); so does an opportunity in stage ``"(unknown)"`` or in a
    stage outside the configuration. NaN when a needed probability is unknown (no
    closed history); 0.0 when nothing is open.

    >>> weighted_pipeline(_example(), "2026-10").round(2).tolist()  # 800 x 2/3; 400 x 2/4
    [533.33, 200.0]
    """
    p = as_period(period)
    cfg = ds.config.stages
    index = group_index(ds, by)
    pipe = open_pipeline(ds, p.end)
    prob = stage_win_probability(ds, as_of=p.end, by="org")["value"].droplevel(0)
    entry = prob.get(entry_stage(cfg), np.nan)
    if ds.stage_history is None or not len(ds.stage_history):
        prob = pd.Series(entry, index=prob.index)
    weight = pipe["stage_at"].map(prob).where(pipe["stage_at"].isin(prob.index), entry)
    value = pipe["amount"] * weight.astype(float)
    keys = pipe["rep_id"].map(group_map(ds, by))
    out = value.groupby(keys).sum(skipna=False) if len(pipe) else pd.Series(dtype=float)
    return out.reindex(index, fill_value=0.0).astype(float).rename("weighted_pipeline")
