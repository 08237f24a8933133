"""Conversion metrics (leading): how a rep's leads and deals move down the funnel.

Every rate follows ``docs/funnel.md`` (cohort basis): the cohort is what *entered the
from-step in the period*, a success is reaching the to-step at any time up to the end
of the data. Recent cohorts are therefore immature (they can still convert).

Who a cohort counts for: leads count for the lead's owner (``leads.rep_id``); SQLs and
opportunities for the opportunity's owner (``opportunities.rep_id``), so that with
SDRs qualifying leads for AEs, the SDR is measured on lead -> SQL and the AE on the
rest. Grouping by team / level / org pools successes and cohorts (pooled successes /
pooled n, not a mean of the reps' rates).

Opportunity stages come from ``stage_history`` ("reached X" = an entry for X, a later
open stage or a won stage); an opportunity without history falls back to its current
stage (see :func:`kpikit.metrics.funnel.stage_reach`). The rate frames of the
opportunity-based rates say which in ``frame.attrs["basis"]`` (``stage_history``,
``current_stage`` or ``mixed``).

:func:`leakage` finds, per rep, the funnel transition where closing the gap to the
team benchmark would bring the most revenue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics._common import (
    KEY_NAMES,
    as_period,
    attach_group,
    cached,
    codes_in,
    count_codes,
    frozen,
    group_index,
    is_arrow_str,
    reps_are_keys,
)
from kpikit.metrics.funnel import (
    CURRENT,
    HISTORY,
    WON,
    _example_dataset,  # noqa: F401  (used by the doctests)
    _lead_positions,
    _take,
    entry_stage,
    funnel_stages,
    has_lead_links,
    lead_funnel,
    sql_funnel,
    stage_reach,
)
from kpikit.metrics.registry import register
from kpikit.periods import Period
from kpikit.schema import TITLE_LEVELS
from kpikit.stats import binomial_test, rate_frame

__all__ = [
    "Transition",
    "conv_lead_to_customer",
    "conv_lead_to_sql",
    "conv_meeting_to_proposal",
    "conv_proposal_to_won",
    "conv_sql_to_customer",
    "conv_sql_to_meeting",
    "leakage",
    "leakage_by_transition",
    "leakage_stage",
    "pct_leads_qualified",
    "pct_leads_qualified_by_stage",
    "qualified_prospect_level",
    "qualified_prospect_size",
    "stage_conversion",
    "transitions",
]


# --------------------------------------------------------------------------- helpers
def _cohort_rate(
    ds: Dataset, frame: pd.DataFrame, start: str, success: str, period: Period | str, by: str,
    *, source: str | None = None,
) -> pd.DataFrame:
    """rate_frame per group: rows of ``frame`` whose ``start`` time is in the period (n),
    of which ``success`` is set (successes).

    ``source`` (``"leads"`` / ``"sql"``) says that ``frame`` has the rows of
    :func:`lead_funnel` / :func:`sql_funnel`, whose rep codes are then reused.
    """
    p = as_period(period)
    groups = group_index(ds, by)
    in_period = p.contains(frame[start]).to_numpy()
    codes = _funnel_rep_codes(ds, source) if source else None
    if codes is not None:
        c = codes[in_period]
        hit = frame[success].notna().to_numpy()[in_period]
        out = rate_frame(count_codes(c[hit], ds, by), count_codes(c, ds, by))
        basis = frame["basis"][in_period] if "basis" in frame.columns else None
    else:
        cohort = frame[in_period]
        keys = attach_group(cohort, ds, by)
        n = keys.groupby(keys).size().reindex(groups, fill_value=0)
        s = cohort[success].notna().groupby(keys).sum().reindex(groups, fill_value=0)
        out = rate_frame(s, n)
        basis = cohort["basis"] if "basis" in cohort.columns else None
    if basis is not None:
        b = set(pd.unique(basis.dropna())) & {HISTORY, CURRENT}
        out.attrs["basis"] = b.pop() if len(b) == 1 else ("mixed" if b else None)
    return out


def _funnel_rep_codes(ds: Dataset, source: str) -> np.ndarray | None:
    """Rep codes (:func:`~kpikit.metrics._common.rep_codes`) of the rows of the lead funnel
    (``source="leads"``) or the SQL funnel (``"sql"``), cached; ``None`` without a fast path."""
    if not reps_are_keys(ds):
        return None

    def build() -> np.ndarray:
        frame = lead_funnel(ds) if source == "leads" else sql_funnel(ds)
        return frozen(codes_in(frame["rep_id"], pd.Index(ds.reps["rep_id"])))

    return cached(ds, ("funnel_rep_codes", source), build)


def _need_stage(ds: Dataset, key: str, what: str) -> str:
    stage = getattr(ds.config.stages, key)
    if stage is None:
        raise MissingDataError(f"dataset.toml [stages].{key}", what)
    return stage


def _sql_col(ds: Dataset, stage: str) -> str:
    """Column of :func:`sql_funnel` holding the reach time of ``stage`` (stages up to the
    entry stage are reached when the SQL is)."""
    cfg = ds.config.stages
    return stage if stage in funnel_stages(cfg) else entry_stage(cfg)


def _require_qualification(ds: Dataset, what: str) -> None:
    ds.require("leads", what=what)
    if not (ds.has("leads", "qualified_at") or has_lead_links(ds)):
        raise MissingDataError("leads.qualified_at", what)


def _require_links(ds: Dataset, what: str) -> None:
    ds.require("leads", what=what)
    if not has_lead_links(ds):
        raise MissingDataError("leads.opportunity_id (or opportunities.lead_id)", what)


# --------------------------------------------------------------------------- step rates
@register(
    "conv_lead_to_sql",
    name="Lead to SQL conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="leads created in the period that were ever qualified / leads created in the period",
    needs=("leads.created_at", "leads.qualified_at"),
    description="Cohort basis: a lead linked to an opportunity counts as qualified.",
)
def conv_lead_to_sql(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of the leads created in the period that became SQLs (at any time).

    ``value = qualified / created`` over leads with ``created_at`` in the period,
    counted for the lead's owner; a lead linked to an opportunity counts as qualified.

    >>> conv_lead_to_sql(_example_dataset(), "2026-01")[["value", "successes", "n"]]
            value  successes  n
    rep_id
    r1        0.5          1  2
    r2        1.0          2  2
    """
    _require_qualification(ds, "conv_lead_to_sql")
    return _cohort_rate(ds, lead_funnel(ds), "created_at", "qualified_at", period, by,
                        source="leads")


@register(
    "conv_sql_to_meeting",
    name="SQL to meeting conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="SQLs of the period whose opportunity reached the meeting stage / SQLs of the period",
    needs=("opportunities.stage",),
    description="SQLs: leads qualified in the period and opportunities without a lead "
    "created in the period; stages from stage_history (else the current stage).",
)
def conv_sql_to_meeting(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of the period's SQLs whose opportunity reached the meeting stage.

    SQLs (:func:`~kpikit.metrics.funnel.sql_funnel`): leads qualified in the period and
    opportunities no lead converted into that were created in the period (all
    opportunities when leads are absent or not linked). Success: the opportunity reached
    ``[stages].meeting`` at any time.

    >>> conv_sql_to_meeting(_example_dataset(), "2026-01")["value"].tolist()
    [1.0, 1.0]
    """
    meeting = _need_stage(ds, "meeting", "conv_sql_to_meeting")
    f = sql_funnel(ds)
    return _cohort_rate(ds, f, entry_stage(ds.config.stages), _sql_col(ds, meeting), period, by,
                        source="sql")


@register(
    "conv_meeting_to_proposal",
    name="Meeting to proposal conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="opportunities that entered the meeting stage in the period and reached the "
    "proposal stage / opportunities that entered the meeting stage in the period",
    needs=("opportunities.stage",),
)
def conv_meeting_to_proposal(
    ds: Dataset, period: Period | str, *, by: str = "rep"
) -> pd.DataFrame:
    """Share of the opportunities that reached the meeting stage in the period and went on
    to the proposal stage.

    >>> conv_meeting_to_proposal(_example_dataset(), "2026-01")["value"].tolist()
    [1.0, 0.5]
    """
    meeting = _need_stage(ds, "meeting", "conv_meeting_to_proposal")
    proposal = _need_stage(ds, "proposal", "conv_meeting_to_proposal")
    f = sql_funnel(ds)
    return _cohort_rate(ds, f, _sql_col(ds, meeting), _sql_col(ds, proposal), period, by,
                        source="sql")


@register(
    "conv_proposal_to_won",
    name="Proposal to won conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="opportunities that entered the proposal stage in the period and were won / "
    "opportunities that entered the proposal stage in the period",
    needs=("opportunities.stage",),
)
def conv_proposal_to_won(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of the opportunities that reached the proposal stage in the period and were won.

    >>> conv_proposal_to_won(_example_dataset(), "2026-01")[["value", "n"]]
            value  n
    rep_id
    r1        1.0  1
    r2        NaN  0
    """
    proposal = _need_stage(ds, "proposal", "conv_proposal_to_won")
    return _cohort_rate(ds, sql_funnel(ds), _sql_col(ds, proposal), WON, period, by,
                        source="sql")


@register(
    "conv_lead_to_customer",
    name="Lead to customer conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="leads created in the period whose opportunity was won / leads created in the period",
    needs=("leads.created_at", "leads.opportunity_id"),
    description="The lead-opportunity link is leads.opportunity_id or opportunities.lead_id.",
)
def conv_lead_to_customer(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """End to end: share of the leads created in the period whose opportunity was won.

    >>> conv_lead_to_customer(_example_dataset(), "2026-01")["value"].tolist()
    [0.5, 0.0]
    """
    _require_links(ds, "conv_lead_to_customer")
    return _cohort_rate(ds, lead_funnel(ds), "created_at", "won_at", period, by,
                        source="leads")


@register(
    "conv_sql_to_customer",
    name="SQL to customer conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="SQLs of the period that were won / SQLs of the period",
    needs=("opportunities.stage",),
)
def conv_sql_to_customer(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """End to end from SQL: share of the period's SQLs (as in :func:`conv_sql_to_meeting`)
    that were won.

    >>> conv_sql_to_customer(_example_dataset(), "2026-01", by="org")[["value", "n"]].round(3)
              value  n
    org
    all reps  0.333  3
    """
    return _cohort_rate(ds, sql_funnel(ds), entry_stage(ds.config.stages), WON, period, by,
                        source="sql")


# --------------------------------------------------------------------------- stage pairs
@dataclass(frozen=True)
class Transition:
    """One step of the funnel: from ``from_stage`` to ``to_stage``.

    ``start`` / ``success`` are the columns of the funnel frame (``source``: ``"leads"``
    = :func:`~kpikit.metrics.funnel.lead_funnel`, ``"sql"`` =
    :func:`~kpikit.metrics.funnel.sql_funnel`) holding the entry and success times.
    """

    label: str
    from_stage: str
    to_stage: str
    source: str
    start: str
    success: str


def transitions(ds: Dataset) -> list[Transition]:
    """The funnel's consecutive steps, top to bottom, as measured by :func:`stage_conversion`.

    ``Lead -> <SQL stage>`` on leads (when leads with qualification data are present;
    named after the open stage before the SQL stage when there is one), then each
    consecutive pair of open stages from the SQL stage on, then the last open stage to
    the (first) won stage. Open stages before the SQL stage are the lead part of the
    funnel: opportunities start at the SQL stage, so they are not measured on them.

    >>> [t.label for t in transitions(_example_dataset())]
    ['Lead -> SQL', 'SQL -> Meeting', 'Meeting -> Proposal', 'Proposal -> Won']
    """
    cfg = ds.config.stages
    entry = entry_stage(cfg)
    out: list[Transition] = []
    if ds.has("leads") and (ds.has("leads", "qualified_at") or has_lead_links(ds)):
        e = cfg.order.index(entry)
        before = cfg.order[e - 1] if e > 0 else "Lead"
        out.append(
            Transition(f"{before} -> {entry}", before, entry, "leads", "created_at", "qualified_at")
        )
    stages = funnel_stages(cfg)
    won_name = cfg.won[0]
    for a, b in zip(stages, [*stages[1:], WON], strict=True):
        to = won_name if b == WON else b
        out.append(Transition(f"{a} -> {to}", a, to, "sql", a, b))
    return out


def _transition_rate(
    ds: Dataset, t: Transition, period: Period | str, by: str
) -> pd.DataFrame:
    frame = lead_funnel(ds) if t.source == "leads" else sql_funnel(ds)
    return _cohort_rate(ds, frame, t.start, t.success, period, by, source=t.source)


@register(
    "stage_conversion",
    name="Stage-to-stage conversion",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="for each consecutive pair of stages: entered the next stage / entered this stage "
    "(cohort: entered this stage in the period)",
    needs=("opportunities.stage",),
    shape="breakdown",
    description="Stages from stage_history, else the current stage; the first step "
    "(Lead -> SQL) is measured on leads when they are present.",
)
def stage_conversion(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Conversion of every consecutive stage pair (:func:`transitions`).

    For each group and pair (X, Y): ``value = reached Y / reached X`` among what reached X
    in the period (leads: created / qualified), so the default funnel gives
    ``Lead -> SQL``, ``SQL -> Meeting``, ``Meeting -> Proposal``, ``Proposal -> Won``,
    equal to the matching ``conv_*`` rates. A long frame indexed by (group,
    ``transition``) with ``from_stage``, ``to_stage`` and the
    :func:`~kpikit.stats.rate_frame` columns; every group and pair present.

    >>> sc = stage_conversion(_example_dataset(), "2026-01")
    >>> sc.loc["r2", ["value", "successes", "n"]]
                         value  successes  n
    transition
    Lead -> SQL            1.0          2  2
    SQL -> Meeting         1.0          2  2
    Meeting -> Proposal    0.5          1  2
    Proposal -> Won        NaN          0  0
    """
    key = KEY_NAMES.get(by, by)
    groups = group_index(ds, by)
    trans = transitions(ds)
    frames = []
    for t in trans:
        rf = _transition_rate(ds, t, period, by)
        rf.insert(0, "to_stage", t.to_stage)
        rf.insert(0, "from_stage", t.from_stage)
        frames.append(rf)
    labels = [t.label for t in trans]
    out = pd.concat(frames, keys=labels, names=["transition", key]).swaplevel(0, 1)
    full = pd.MultiIndex.from_product([groups, labels], names=[key, "transition"])
    return out.reindex(full)


# --------------------------------------------------------------------------- lead quality
_BASES = ("period_end", "cohort")


def _check_basis(basis: str) -> None:
    if basis not in _BASES:
        raise KpikitError(f"basis={basis!r}: use 'period_end' or 'cohort'")


@register(
    "pct_leads_qualified",
    name="Leads qualified",
    theme="conversion",
    indicator="leading",
    unit="fraction",
    formula="leads created in the period and qualified by the period's end / leads created "
    "in the period",
    needs=("leads.created_at", "leads.qualified_at"),
    description="Unlike conv_lead_to_sql (qualified at any time), only qualifications up "
    "to the period's end count, so the number of a closed period never changes.",
)
def pct_leads_qualified(
    ds: Dataset, period: Period | str, *, by: str = "rep", basis: str = "period_end"
) -> pd.DataFrame:
    """Share of the period's new leads the rep had qualified by the end of the period.

    ``value = qualified before the period's end / leads created in the period``
    (``basis="period_end"``, the default): a within-period view of qualification that
    does not move once the period is over. ``basis="cohort"`` counts qualifications at
    any time and equals :func:`conv_lead_to_sql`. The per-stage view is
    :func:`pct_leads_qualified_by_stage`.

    >>> pct_leads_qualified(_example_dataset(), "2026-01")["value"].tolist()
    [0.5, 1.0]
    """
    _check_basis(basis)
    _require_qualification(ds, "pct_leads_qualified")
    lf = lead_funnel(ds)
    if basis == "period_end":
        q = lf["qualified_at"]
        lf = lf.assign(qualified_at=q.where(q < as_period(period).end))
    return _cohort_rate(ds, lf, "created_at", "qualified_at", period, by, source="leads")


def pct_leads_qualified_by_stage(
    ds: Dataset, period: Period | str, *, by: str = "rep", basis: str = "period_end"
) -> pd.DataFrame:
    """Of the leads created in the period, the share that reached each stage.

    Stages: the SQL stage (qualified), then, when leads are linked to opportunities,
    every later open stage and the won stage (through the lead's opportunity). With
    ``basis="period_end"`` a stage counts when it was reached before the period's end,
    with ``"cohort"`` at any time (the ``won`` row is then :func:`conv_lead_to_customer`).
    A long :func:`~kpikit.stats.rate_frame` indexed by (group, ``stage``).

    >>> by_stage = pct_leads_qualified_by_stage(_example_dataset(), "2026-01", by="org")
    >>> by_stage["value"].tolist()
    [0.75, 0.75, 0.25, 0.0]
    """
    _check_basis(basis)
    _require_qualification(ds, "pct_leads_qualified_by_stage")
    cfg = ds.config.stages
    lf = lead_funnel(ds)
    entry = entry_stage(cfg)
    times = {entry: lf["qualified_at"]}
    if has_lead_links(ds):
        reach = stage_reach(ds)
        reach = reach[~reach.index.duplicated()]
        pos = _lead_positions(ds)
        for s in [*funnel_stages(cfg)[1:], WON]:
            times[cfg.won[0] if s == WON else s] = pd.Series(
                _take(reach[s].to_numpy(), pos), index=lf.index
            )
    end = as_period(period).end
    key = KEY_NAMES.get(by, by)
    groups = group_index(ds, by)
    frames = []
    for t in times.values():
        if basis == "period_end":
            t = t.where(t < end)
        frames.append(_cohort_rate(ds, lf.assign(_reached=t), "created_at", "_reached",
                                   period, by, source="leads"))
    names = list(times)
    out = pd.concat(frames, keys=names, names=["stage", key]).swaplevel(0, 1)
    return out.reindex(pd.MultiIndex.from_product([groups, names], names=[key, "stage"]))


def _qualified_in(ds: Dataset, period: Period | str, column: str, what: str) -> pd.DataFrame:
    _require_qualification(ds, what)
    ds.require(f"leads.{column}", what=what)
    lf = lead_funnel(ds)
    p = as_period(period)
    mask = p.contains(lf["qualified_at"]).to_numpy()
    leads = ds.leads

    def values(s: pd.Series) -> np.ndarray:
        # strings: the same objects as to_numpy()[mask], converting only the period's rows
        return s[mask].to_numpy() if is_arrow_str(s) else s.to_numpy()[mask]

    return pd.DataFrame({"rep_id": values(lf["rep_id"]), column: values(leads[column])})


@register(
    "qualified_prospect_size",
    name="Qualified prospect size",
    theme="conversion",
    indicator="leading",
    unit="count",
    formula="median company_size (employees) of the leads qualified in the period",
    needs=("leads.qualified_at", "leads.company_size"),
    higher_is_better=None,
    description="Compare with the top performers' to see whether a rep qualifies the "
    "right prospects.",
)
def qualified_prospect_size(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Median company size (employees) of the leads qualified in the period.

    Leads without a company size are left out; NaN for a group with none. Counted for
    the lead's owner.

    >>> ds = _example_dataset(company_size=[50, 10, 200, 400])
    >>> qualified_prospect_size(ds, "2026-01").tolist()
    [50.0, 300.0]
    """
    q = _qualified_in(ds, period, "company_size", "qualified_prospect_size")
    size = pd.to_numeric(q["company_size"], errors="coerce").astype(float)
    keys = attach_group(q, ds, by)
    out = size.groupby(keys).median().reindex(group_index(ds, by)).astype(float)
    out.name = "qualified_prospect_size"
    return out


@register(
    "qualified_prospect_level",
    name="Qualified prospect level",
    theme="conversion",
    indicator="leading",
    unit="text",
    formula="most common title_level of the leads qualified in the period",
    needs=("leads.qualified_at", "leads.title_level"),
    higher_is_better=None,
    description="Ties go to the more senior level (C-level, VP, Director, Manager, IC).",
)
def qualified_prospect_level(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Most common contact title level among the leads qualified in the period.

    Ties go to the more senior level (``C-level``, ``VP``, ``Director``, ``Manager``,
    ``IC``; other values after those, alphabetically); NaN for a group with none.

    >>> ds = _example_dataset(title_level=["VP", "IC", "IC", "Director"])
    >>> qualified_prospect_level(ds, "2026-01").tolist()
    ['VP', 'Director']
    """
    q = _qualified_in(ds, period, "title_level", "qualified_prospect_level")
    q = q[q["title_level"].notna()]
    groups = group_index(ds, by)
    keys = attach_group(q, ds, by)
    rank = {lvl: i for i, lvl in enumerate(TITLE_LEVELS)}
    counts = (
        pd.DataFrame({"g": keys.to_numpy(), "level": q["title_level"].astype(object).to_numpy()})
        .dropna(subset=["g"])
        .value_counts()
        .rename("count")
        .reset_index()
    )
    counts["rank"] = counts["level"].map(rank).fillna(len(rank))
    counts = counts.sort_values(["g", "count", "rank", "level"],
                                ascending=[True, False, True, True])
    top = counts.drop_duplicates("g").set_index("g")["level"]
    out = top.reindex(groups).astype(object)
    out.name = "qualified_prospect_level"
    return out


# --------------------------------------------------------------------------- leakage
_BENCHMARKS = ("team", "level", "org")
_LEAKAGE_COLUMNS = [
    "stage", "rep_rate", "rep_n", "benchmark_rate", "benchmark_basis", "shortfall", "p_value",
    "extra_deals", "extra_revenue",
]


def _avg_won_deal(ds: Dataset, group: pd.Series, use_group: pd.Series) -> pd.Series:
    """Per rep: mean amount of their won deals (all of the data, like the cohort rates);
    for a rep with no win, the benchmark group's (its team, else the org)."""
    reach = stage_reach(ds)
    won = reach[reach[WON].notna().to_numpy()]
    reps = group.index
    own = won["amount"].groupby(won["rep_id"]).mean().reindex(reps)
    g_of_won = won["rep_id"].map(group)
    by_group = won["amount"].groupby(g_of_won).mean()
    team_avg = pd.Series(group.map(by_group).to_numpy(dtype=float), index=reps)
    org_avg = float(won["amount"].mean()) if len(won) else np.nan
    fallback = team_avg.where(use_group & team_avg.notna(), org_avg)
    return own.where(own.notna(), fallback).astype(float)


def leakage_by_transition(
    ds: Dataset,
    period: Period | str,
    *,
    benchmark: str = "team",
    min_group: int = 5,
    min_n: int = 5,
) -> pd.DataFrame:
    """Every rep's conversion at every funnel step against a leave-one-out benchmark.

    For rep r and step i (:func:`transitions`), with ``s`` successes out of ``n`` (the
    rep's cohort rate, as :func:`stage_conversion`):

    - ``benchmark_rate = (S_g - s) / (N_g - n)``: the pooled rate of the rep's
      ``benchmark`` group (team by default) *without the rep*. When the group has fewer
      than ``min_group`` reps (counting the rep), the rep has no group, or the other reps
      have no cohort at that step, the org's pooled rate without the rep is used;
      ``benchmark_basis`` says which (``team`` / ``level`` / ``org``).
    - ``shortfall = benchmark_rate - rep_rate`` (positive: the rep converts less).
    - ``p_value``: one-sided exact binomial test, P(X <= s) for X ~ Binomial(n,
      benchmark_rate) (:func:`~kpikit.stats.binomial_test`, the benchmark taken as
      known): small when the rep's rate is credibly below the benchmark.
    - ``downstream_win_rate``: the product of the rep's rates of the later steps (the
      benchmark's where the rep's step has fewer than ``min_n`` in its cohort, the
      rep's own when the benchmark has none), i.e. the chance that one more conversion
      at this step becomes a won deal.
    - ``extra_deals = max(shortfall, 0) x n x downstream_win_rate``: deals gained by
      converting at the benchmark rate at the rep's current volume.
    - ``extra_revenue = extra_deals x deal_size``: ``deal_size`` = the rep's mean won
      amount (every won deal in the data), else the team's, else the org's.
    - ``measurable``: ``n >= min_n``.

    A long frame indexed by (``rep_id``, ``transition``), every rep and step present.

    >>> lk = leakage_by_transition(_example_dataset(), "2026-01", min_n=1)
    >>> lk.loc["r2", ["rep_rate", "benchmark_rate", "benchmark_basis", "shortfall"]]
                         rep_rate  benchmark_rate benchmark_basis  shortfall
    transition
    Lead -> SQL               1.0             0.5             org       -0.5
    SQL -> Meeting            1.0             1.0             org        0.0
    Meeting -> Proposal       0.5             1.0             org        0.5
    Proposal -> Won           NaN             1.0             org        NaN
    """
    if benchmark not in _BENCHMARKS:
        raise KpikitError(
            f"benchmark={benchmark!r} is not a benchmark group; use one of "
            f"{', '.join(_BENCHMARKS)}"
        )
    p = as_period(period)
    trans = transitions(ds)
    reps = pd.Index(pd.unique(ds.reps["rep_id"].to_numpy()), name="rep_id")
    if benchmark != "org" and ds.has("reps", benchmark):
        attr = ds.reps.drop_duplicates("rep_id").set_index("rep_id")[benchmark]
        group = attr.reindex(reps).astype(object)
        size = group.map(group.value_counts())
        use_group = (group.notna() & (size >= min_group)).astype(bool)
    else:
        group = pd.Series(np.nan, index=reps, dtype=object)
        use_group = pd.Series(False, index=reps)

    rows = []
    for t in trans:
        rf = _transition_rate(ds, t, p, "rep").reindex(reps)
        s = rf["successes"].fillna(0).astype(float)
        n = rf["n"].fillna(0).astype(float)
        gs = s.groupby(group).transform("sum") if use_group.any() else s * np.nan
        gn = n.groupby(group).transform("sum") if use_group.any() else n * np.nan
        team_ok = use_group & ((gn - n) > 0)
        bs = (gs - s).where(team_ok, s.sum() - s)
        bn = (gn - n).where(team_ok, n.sum() - n)
        b_rate = bs / bn.where(bn > 0)
        rows.append(
            pd.DataFrame(
                {
                    "from_stage": t.from_stage,
                    "to_stage": t.to_stage,
                    "rep_successes": s.astype("int64"),
                    "rep_n": n.astype("int64"),
                    "rep_rate": rf["value"].astype(float),
                    "benchmark_successes": bs.astype("int64"),
                    "benchmark_n": bn.astype("int64"),
                    "benchmark_rate": b_rate,
                    "benchmark_basis": np.where(team_ok, benchmark, "org"),
                    "shortfall": b_rate - rf["value"].astype(float),
                    "p_value": binomial_test(s, n, b_rate, alternative="less"),
                    "measurable": (n >= min_n).to_numpy(),
                },
                index=reps,
            )
        )
    # downstream win rate: product of the later steps' rates (the rep's when measurable,
    # else the benchmark's, else the rep's unmeasurable one)
    eff = np.column_stack(
        [
            r["rep_rate"].where(r["measurable"], r["benchmark_rate"].fillna(r["rep_rate"]))
            for r in rows
        ]
    )
    later = np.ones_like(eff)
    for i in range(eff.shape[1] - 2, -1, -1):
        later[:, i] = later[:, i + 1] * eff[:, i + 1]
    # the same for every period: computed once per dataset and benchmark
    deal = cached(ds, ("avg_won_deal", benchmark, min_group),
                  lambda: _avg_won_deal(ds, group, use_group))
    for i, r in enumerate(rows):
        gap = r["shortfall"].clip(lower=0)
        extra = gap * r["rep_n"] * later[:, i]
        r["downstream_win_rate"] = later[:, i]
        r["extra_deals"] = extra.where(gap != 0, 0.0).where(gap.notna())
        r["deal_size"] = deal
        r["extra_revenue"] = r["extra_deals"] * deal
    labels = [t.label for t in trans]
    out = pd.concat(rows, keys=labels, names=["transition", "rep_id"]).swaplevel(0, 1)
    full = pd.MultiIndex.from_product([reps, labels], names=["rep_id", "transition"])
    return out.reindex(full)


def leakage(
    ds: Dataset,
    period: Period | str,
    *,
    benchmark: str = "team",
    min_group: int = 5,
    min_n: int = 5,
) -> pd.DataFrame:
    """Per rep, the funnel step where the rep loses the most revenue against the benchmark.

    Among the steps of :func:`leakage_by_transition` with at least ``min_n`` in the
    rep's cohort and a positive shortfall, the one with the largest ``extra_revenue``
    (then ``extra_deals``, then ``shortfall``). One row per rep (index ``rep_id``, every
    rep present) with ``stage`` (the transition label), ``rep_rate``, ``rep_n``,
    ``benchmark_rate``, ``benchmark_basis``, ``shortfall``, ``p_value``, ``extra_deals``
    and ``extra_revenue``; a rep with no such step (no deals, or at or above the benchmark
    everywhere) has ``stage`` None and NaN elsewhere.

    >>> lk = leakage(_example_dataset(), "2026-01", min_n=2)
    >>> lk[["stage", "shortfall", "extra_deals", "extra_revenue"]]
                          stage  shortfall  extra_deals  extra_revenue
    rep_id
    r1              Lead -> SQL        0.5          0.5          500.0
    r2      Meeting -> Proposal        0.5          1.0         1000.0
    """
    detail = leakage_by_transition(
        ds, period, benchmark=benchmark, min_group=min_group, min_n=min_n
    )
    reps = pd.Index(pd.unique(ds.reps["rep_id"].to_numpy()), name="rep_id")
    d = detail.reset_index()
    cand = d[d["measurable"].astype(bool) & (d["shortfall"] > 0)]
    cand = cand.sort_values(
        ["extra_revenue", "extra_deals", "shortfall"], ascending=False, na_position="last"
    )
    best = cand.drop_duplicates("rep_id").set_index("rep_id").rename(columns={"transition": "stage"})
    out = best.reindex(reps)[_LEAKAGE_COLUMNS]
    out["stage"] = out["stage"].astype(object).where(out["stage"].notna(), None)
    out["benchmark_basis"] = (
        out["benchmark_basis"].astype(object).where(out["benchmark_basis"].notna(), None)
    )
    out["rep_n"] = out["rep_n"].astype(float)
    return out


@register(
    "leakage_stage",
    name="Leakage stage",
    theme="conversion",
    indicator="leading",
    unit="text",
    formula="the funnel step with the largest revenue lost against the team benchmark: "
    "(benchmark rate - rep rate) x rep's cohort x downstream win rate x average won deal",
    needs=("opportunities.stage",),
    higher_is_better=None,
    description="Benchmark: the rep's team without the rep (the org when the team has "
    "fewer than 5 reps); only steps with at least 5 in the rep's cohort; see leakage().",
    groupings=("rep",),
)
def leakage_stage(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """The transition label of :func:`leakage` per rep (None where nothing leaks).

    >>> leakage_stage(_example_dataset(), "2026-01").tolist()
    [None, None]
    """
    if by != "rep":
        raise KpikitError(
            f"leakage_stage is a per-rep diagnosis; by={by!r} is not supported, use by='rep'"
        )
    out = leakage(ds, period)["stage"]
    out.name = "leakage_stage"
    return out
