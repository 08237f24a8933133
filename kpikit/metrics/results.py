"""Results (lagging) KPIs: revenue, deals, win rates, cycle, quota attainment, customers, costs.

Every function has the signature ``f(ds, period, *, by="rep")`` and returns one
value per group (every group of the grouping present), following the return
conventions of :mod:`kpikit.metrics.registry`.

Conventions shared by these metrics
-----------------------------------
*Closed in the period.* A deal is won (lost) in a period when its ``status`` is
``won`` (``lost``) and its ``close_date`` falls inside the period. Closed deals
without a ``close_date`` cannot be placed in a period and are not counted.

*Open at a moment.* An opportunity is open at instant ``t`` when it was created
before ``t`` and was not closed before ``t``: its status is ``open`` today, or
it is ``won`` / ``lost`` with a ``close_date`` on or after ``t`` (see
:func:`open_at`). For the current period this is simply today's open pipeline.

*Quota of a period* (:func:`quota_for`), per rep, first rule that applies:

1. the ``quotas`` row for exactly that period;
2. the sum of the rows for the periods inside it, when every one is present
   (a quarter = its 3 months; a year = its 4 quarters, each quarter being its
   own row or the sum of its 3 months);
3. a pro-rata share of the row of an enclosing period, nearest first (a month
   = quarter / 3, else year / 12; a quarter = year / 4);
4. otherwise the rep has no quota for the period (NaN).

*Costs of a period* (:func:`cost_for`) follow the same rules, channel by
channel, then add up over channels. A channel with no row touching the period
spent nothing in it; a channel whose rows cover the period only partly makes
the cost unknown (NaN), as does a period no cost row touches.

*Customers.* A customer relationship (a ``customers`` row) is active at instant
``t`` when ``start_date < t`` and ``end_date`` is empty or ``end_date >= t``.
Customers are counted as distinct accounts. *S* = accounts active at the
period start, *E* = active at the period end, lost = in *S* but not in *E*,
*N* (new) = in *E* but not in *S*. A customer belongs to the rep in
``accounts.rep_id``; when that is empty or absent, to the rep of the account's
first won deal (earliest ``close_date``). Customers no rep can be found for
count for the whole org only. ``by="org"`` needs no attribution.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics._common import (
    NO_GROUP,
    ORG_LABEL,
    as_period,
    cached,
    codes_in,
    count_by,
    count_codes,
    frozen,
    group_index,
    group_map,
    rep_codes,
    sum_by,
    sum_codes,
)
from kpikit.metrics.registry import register
from kpikit.periods import Period
from kpikit.stats import rate_frame, ratio_frame

#: average days per calendar month, to express lifetimes in periods
DAYS_PER_MONTH = 365.25 / 12

# -- shared helpers -------------------------------------------------------------


def _example() -> Dataset:
    """The tiny dataset of the doctests (two reps of one team, October 2026).

    o1 r1 won 100 and o2 r1 lost 50 (created in September); o3 r2 won 300 and
    o4 r2 open 200 (created in October). Quotas: r1 600 for 2026-Q4, r2 300 for
    2026-10. Customers: a1 since January, a2 from March to 2026-10-15, a3 from
    2026-10-20. Costs for 2026-10: sales 40, marketing 60.
    """
    frames = {
        "reps": pd.DataFrame({"rep_id": ["r1", "r2"], "team": ["East", "East"]}),
        "opportunities": pd.DataFrame(
            {
                "opportunity_id": ["o1", "o2", "o3", "o4"],
                "rep_id": ["r1", "r1", "r2", "r2"],
                "created_at": ["2026-09-01", "2026-09-02", "2026-10-05", "2026-10-06"],
                "stage": ["Won", "Lost", "Won", "Proposal"],
                "amount": [100.0, 50.0, 300.0, 200.0],
                "close_date": ["2026-10-03", "2026-10-04", "2026-10-20", "2026-10-28"],
                "account_id": ["a1", "a2", "a3", "a3"],
                "source": ["referral", "outbound", "outbound", "outbound"],
            }
        ),
        "quotas": pd.DataFrame(
            {"rep_id": ["r1", "r2"], "period": ["2026-Q4", "2026-10"], "quota": [600.0, 300.0]}
        ),
        "accounts": pd.DataFrame({"account_id": ["a1", "a2", "a3"], "rep_id": ["r1", "r1", "r2"]}),
        "customers": pd.DataFrame(
            {
                "account_id": ["a1", "a2", "a3"],
                "start_date": ["2026-01-10", "2026-03-01", "2026-10-20"],
                "end_date": [None, "2026-10-15", None],
            }
        ),
        "costs": pd.DataFrame({"period": ["2026-10"], "sales_cost": [40.0], "marketing_cost": [60.0]}),
    }
    return Dataset.from_frames(**frames)


def _opportunities(ds: Dataset, what: str, *, closed: bool = True) -> pd.DataFrame:
    """The opportunities table; with ``closed``, insist on ``close_date`` for the closed deals."""
    ds.require("opportunities", what=what)
    opps = ds.opportunities
    if closed and not cached(ds, "close_dates_known", lambda: _close_dates_known(opps)):
        raise MissingDataError("opportunities.close_date", what)
    return opps


def _close_dates_known(opps: pd.DataFrame) -> bool:
    """Whether closed deals can be placed in periods: a ``close_date`` column with a date on at
    least one closed deal (or no closed deal at all)."""
    is_closed = opps["status"].isin(("won", "lost"))
    return not (
        "close_date" not in opps.columns
        or (is_closed.any() and opps.loc[is_closed, "close_date"].isna().all())
    )


def closed_in(ds: Dataset, period: Period | str, status: str, *, what: str = "") -> pd.DataFrame:
    """Opportunities with ``status`` (``"won"`` / ``"lost"``) and a ``close_date`` inside the period.

    >>> closed_in(_example(), "2026-10", "won")["opportunity_id"].tolist()
    ['o1', 'o3']
    """
    return ds.opportunities[_closed_mask(ds, period, status, what or f"{status} deals")]


def _closed_mask(ds: Dataset, period: Period | str, status: str, what: str) -> np.ndarray:
    """Mask of the opportunities of :func:`closed_in` (after its checks)."""
    p = as_period(period)
    opps = _opportunities(ds, what)
    return _status_is(ds, status) & p.contains(opps["close_date"]).to_numpy()


def _count_rows(ds: Dataset, mask: np.ndarray, by: str, name: str | None = None) -> pd.Series:
    """:func:`count_by` of the ``mask`` opportunities (integer rep codes when possible)."""
    codes = rep_codes(ds, "opportunities")
    if codes is not None:
        return count_codes(codes[mask], ds, by, name=name)
    return count_by(ds.opportunities[mask], ds, by, name=name)


def _status_is(ds: Dataset, *statuses: str) -> np.ndarray:
    """Mask of the opportunities whose status is one of ``statuses`` (cached per dataset)."""
    opps = ds.opportunities
    return cached(ds, ("status_is", statuses),
                  lambda: frozen(opps["status"].isin(statuses).to_numpy(dtype=bool)))


def open_at(ds: Dataset, when: pd.Timestamp | str) -> pd.DataFrame:
    """Opportunities open at instant ``when``: created before it and not closed before it.

    Open today (status ``open``), or won / lost with a ``close_date`` on or after
    ``when``. A closed deal without ``close_date`` is treated as closed before.

    >>> open_at(_example(), "2026-10-21")["opportunity_id"].tolist()
    ['o4']
    >>> open_at(_example(), "2026-10-01")["opportunity_id"].tolist()
    ['o1', 'o2']
    """
    return ds.table("opportunities")[open_mask(ds, when)]


def open_mask(ds: Dataset, when: pd.Timestamp | str) -> np.ndarray:
    """Mask of the opportunities open at instant ``when`` (the rows of :func:`open_at`)."""
    t = pd.Timestamp(when)
    opps = ds.table("opportunities")
    still_open = _status_is(ds, "open")
    if "close_date" in opps.columns:
        closed_later = _status_is(ds, "won", "lost") & (opps["close_date"] >= t).to_numpy()
        still_open = still_open | closed_later
    return (opps["created_at"] < t).to_numpy() & still_open


def rep_revenue(ds: Dataset, period: Period | str, *, what: str = "total_sales") -> pd.Series:
    """Won revenue per rep in the period, indexed by every rep_id (0.0 for none).

    >>> rep_revenue(_example(), "2026-10").tolist()
    [100.0, 300.0]
    """
    won = ds.opportunities.loc[_closed_mask(ds, period, "won", what), ["rep_id", "amount"]]
    out = won.groupby("rep_id")["amount"].sum().reindex(ds.rep_ids, fill_value=0.0).astype(float)
    return out.rename("revenue")


def _children(p: Period) -> list[Period]:
    """The periods one level down: a year's 4 quarters, a quarter's 3 months."""
    if p.kind == "year":
        return [Period(p.start + pd.DateOffset(months=3 * i), "quarter") for i in range(4)]
    if p.kind == "quarter":
        return [Period(p.start + pd.DateOffset(months=i), "month") for i in range(3)]
    return []


def _parents(p: Period) -> list[Period]:
    """The enclosing periods, nearest first (a month's quarter and year; a quarter's year)."""
    year = Period(pd.Timestamp(year=p.start.year, month=1, day=1), "year")
    if p.kind == "month":
        q_month = 3 * ((p.start.month - 1) // 3) + 1
        return [Period(pd.Timestamp(year=p.start.year, month=q_month, day=1), "quarter"), year]
    if p.kind == "quarter":
        return [year]
    return []


def _descendants(p: Period) -> list[Period]:
    out = []
    for c in _children(p):
        out += [c, *_descendants(c)]
    return out


def _period_table(df: pd.DataFrame, key: pd.Series, value: str) -> pd.DataFrame:
    """key x period-label table of ``value`` (labels made canonical; rows of one cell added)."""
    keep = df[value].notna() & df["period"].notna()
    d = pd.DataFrame({"key": key[keep], "period": df.loc[keep, "period"], "value": df.loc[keep, value]})
    canon = {u: Period.parse(u).label for u in pd.unique(d["period"])}
    d["period"] = d["period"].map(canon)
    table = d.groupby(["key", "period"], sort=False)["value"].sum().unstack("period")
    return table.astype(float)


def _resolve(table: pd.DataFrame, p: Period) -> pd.Series:
    """Value of period ``p`` per key by the exact / sum-of-parts / pro-rata rules (NaN if none)."""

    def exact(q: Period) -> pd.Series:
        if q.label in table.columns:
            return table[q.label]
        return pd.Series(np.nan, index=table.index, dtype=float)

    def bottom_up(q: Period) -> pd.Series:
        val = exact(q)
        kids = _children(q)
        if kids:
            parts = pd.concat([bottom_up(k) for k in kids], axis=1)
            val = val.fillna(parts.sum(axis=1, skipna=False))
        return val

    val = bottom_up(p)
    for parent in _parents(p):
        val = val.fillna(exact(parent) * (p.months / parent.months))
    return val


def quota_for(ds: Dataset, period: Period | str, *, what: str = "quota") -> pd.Series:
    """Each rep's quota for the period (NaN when it has none), indexed by every rep_id.

    The exact row, else the sum of the rows inside the period (all present), else a
    pro-rata share of an enclosing period's row (month = quarter / 3 or year / 12,
    quarter = year / 4); see the module docstring.

    >>> quota_for(_example(), "2026-10").tolist()  # r1: 600 for 2026-Q4 / 3; r2: its row
    [200.0, 300.0]
    >>> quota_for(_example(), "2026-Q4").tolist()  # r2 has only October: incomplete
    [600.0, nan]
    """
    p = as_period(period)
    ds.require("quotas", what=what)
    quotas = ds.quotas
    table = cached(ds, "quota_table", lambda: _period_table(quotas, quotas["rep_id"], "quota"))
    out = _resolve(table, p).reindex(ds.rep_ids)
    out.index.name = "rep_id"
    return out.rename("quota")


def cost_for(ds: Dataset, period: Period | str, column: str, *, what: str = "costs") -> float:
    """Total of a ``costs`` column (``sales_cost`` / ``marketing_cost``) for the period, or NaN.

    Resolved per channel like quotas (exact row, sum of the rows inside, pro-rata
    of an enclosing row), then added up over the channels whose rows touch the
    period. NaN when no row touches the period or a channel's rows cover it only
    partly.

    >>> cost_for(_example(), "2026-10", "sales_cost")
    40.0
    >>> cost_for(_example(), "2026-Q4", "sales_cost")  # only October is known
    nan
    """
    p = as_period(period)
    ds.require(f"costs.{column}", what=what)
    costs = ds.costs
    if "channel" in costs.columns:
        key = costs["channel"].fillna(NO_GROUP)
    else:
        key = pd.Series("(all)", index=costs.index)
    table = cached(ds, ("cost_table", column), lambda: _period_table(costs, key, column))
    touching = [q.label for q in [p, *_parents(p), *_descendants(p)]]
    touches = table.reindex(columns=touching).notna().any(axis=1)
    val = _resolve(table, p)[touches]
    if val.empty or val.isna().any():
        return float("nan")
    return float(val.sum())


def _quota_frame(ds: Dataset, period: Period, what: str) -> pd.DataFrame:
    """Per rep: quota (NaN when none) and won revenue in the period."""
    return pd.concat([quota_for(ds, period, what=what), rep_revenue(ds, period, what=what)], axis=1)


def _customer_owner(ds: Dataset, what: str) -> pd.Series:
    """account_id -> rep_id: ``accounts.rep_id``, else the rep of the account's first won deal.

    The same for every period: computed once per dataset (:func:`~kpikit.metrics._common.cached`).
    """
    return cached(ds, "customer_owner", lambda: _find_customer_owner(ds, what))


def _find_customer_owner(ds: Dataset, what: str) -> pd.Series:
    parts = []
    if ds.has("accounts", "rep_id"):
        acc = ds.accounts.dropna(subset=["rep_id"]).drop_duplicates("account_id")
        parts.append(acc.set_index("account_id")["rep_id"])
    opps = ds.opportunities
    if ds.has("opportunities", "account_id"):
        won = opps[(opps["status"] == "won") & opps["account_id"].notna()]
        order = [c for c in ("close_date", "created_at", "opportunity_id") if c in won.columns]
        won = won.sort_values(order, na_position="last", kind="stable")
        parts.append(won.drop_duplicates("account_id").set_index("account_id")["rep_id"])
    if not parts:
        raise MissingDataError("accounts.rep_id or opportunities.account_id", what)
    owner = parts[0]
    for extra in parts[1:]:
        owner = owner.combine_first(extra)
    return owner


def _customer_flags(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    """One row per customer account: ``at_start``, ``at_end``, ``started``, ``during`` (booleans)."""
    ds.require("customers", what=what)
    cust = ds.customers
    start = cust["start_date"]
    end = cust["end_date"] if "end_date" in cust.columns else pd.Series(pd.NaT, index=cust.index)

    def active(t: pd.Timestamp) -> pd.Series:
        return (start < t) & (end.isna() | (end >= t))

    flags = pd.DataFrame(
        {
            "at_start": active(p.start),
            "at_end": active(p.end),
            "started": p.contains(start),
            "during": (start < p.end) & (end.isna() | (end >= p.start)),
        }
    )
    # the accounts as integer codes (sorted like groupby's keys), factorised once per dataset
    codes, accounts = cached(ds, "customer_accounts", lambda: _customer_accounts(cust))
    ok = codes >= 0
    return pd.DataFrame(
        {c: np.bincount(codes[ok], weights=flags[c].to_numpy(dtype=bool)[ok],
                        minlength=len(accounts)) > 0 for c in flags.columns},
        index=accounts.copy(),
    )


def _customer_accounts(cust: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Each customer row's account as a code into the sorted distinct account ids (-1: none)."""
    codes, uniques = pd.factorize(cust["account_id"].to_numpy(), sort=True)
    return frozen(codes), pd.Index(uniques)


def _customer_groups(ds: Dataset, accounts: pd.Index, by: str, what: str) -> pd.Series:
    """account_id -> group label (NaN for customers no rep can be found for, except by org)."""
    if by == "org":
        return pd.Series(ORG_LABEL, index=accounts)
    owner = _customer_owner(ds, what).reindex(accounts)
    return owner.map(group_map(ds, by))


def _customer_counts(
    ds: Dataset, p: Period, by: str, what: str, flags: pd.DataFrame | None = None,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Per group: S (at start), E (at end), N (new: in E not in S), lost, acquired, during."""
    index = group_index(ds, by)
    if flags is None or groups is None:
        flags = _customer_flags(ds, p, what)
        groups = _customer_groups(ds, flags.index, by, what)
    counts = pd.DataFrame(
        {
            "S": flags["at_start"],
            "E": flags["at_end"],
            "N": flags["at_end"] & ~flags["at_start"],
            "lost": flags["at_start"] & ~flags["at_end"],
            "acquired": flags["started"] & ~flags["at_start"],
            "during": flags["during"],
        }
    ).astype("int64")
    return counts.groupby(groups).sum().reindex(index, fill_value=0).astype("int64")


def _not_per_rep(metric: str, by: str, allowed: tuple[str, ...]) -> None:
    if by not in allowed:
        raise KpikitError(
            f"{metric} is not computed by {by!r}; use by= one of {', '.join(repr(a) for a in allowed)}"
        )


# -- revenue and deals ------------------------------------------------------------


@register(
    "total_sales",
    name="Total sales",
    theme="results",
    indicator="lagging",
    unit="currency",
    formula="sum of amount of deals won (status won, close_date in the period)",
    needs=("opportunities.close_date",),
    description="Won revenue closed in the period.",
)
def total_sales(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Won revenue: the sum of ``amount`` over deals won with a close date in the period.

    total_sales = sum(amount | status = won, close_date in period)

    >>> total_sales(_example(), "2026-10", by="team")
    team
    East    400.0
    Name: total_sales, dtype: float64
    """
    mask = _closed_mask(ds, period, "won", "total_sales")
    codes = rep_codes(ds, "opportunities")
    amount = ds.opportunities["amount"]
    if codes is not None and amount.dtype == np.float64:
        return sum_codes(amount.to_numpy()[mask], codes[mask], ds, by, name="total_sales")
    won = ds.opportunities[mask]
    return sum_by(won["amount"], won, ds, by, name="total_sales")


@register(
    "sales_by_channel",
    name="Sales by channel",
    theme="results",
    indicator="lagging",
    unit="currency",
    formula="won revenue per opportunity source",
    needs=("opportunities.close_date", "opportunities.source"),
    shape="breakdown",
    description="Won revenue of the period split by opportunity source / channel.",
)
def sales_by_channel(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Won revenue per opportunity ``source``: ``revenue``, ``deals`` and ``share`` of the group's revenue.

    One row per group and source (every source seen in the opportunities, ``"(none)"``
    for a missing source), zeros included; ``share`` = revenue / group revenue, NaN
    when the group won nothing.

    >>> sales_by_channel(_example(), "2026-10", by="team")
                    revenue  deals  share
    team source
    East outbound     300.0      1   0.75
         referral     100.0      1   0.25
    """
    ds.require("opportunities.source", what="sales_by_channel")
    won = closed_in(ds, period, "won", what="sales_by_channel")
    index = group_index(ds, by)
    sources = pd.Index(sorted(pd.unique(ds.opportunities["source"].fillna(NO_GROUP))), name="source")
    keys = [won["rep_id"].map(group_map(ds, by)), won["source"].fillna(NO_GROUP).rename("source")]
    grouped = won.groupby(keys)["amount"].agg(["sum", "size"]) if len(won) else None
    full = pd.MultiIndex.from_product([index, sources], names=[index.name, "source"])
    if grouped is None:
        revenue = pd.Series(0.0, index=full)
        deals = pd.Series(0, index=full, dtype="int64")
    else:
        revenue = grouped["sum"].reindex(full, fill_value=0.0).astype(float)
        deals = grouped["size"].reindex(full, fill_value=0).astype("int64")
    total = revenue.groupby(level=0, sort=False).transform("sum")
    share = revenue / total.where(total > 0)
    return pd.DataFrame({"revenue": revenue, "deals": deals, "share": share})


@register(
    "deals_won",
    name="Deals won",
    theme="results",
    indicator="lagging",
    unit="count",
    formula="count of deals with status won and close_date in the period",
    needs=("opportunities.close_date",),
)
def deals_won(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Deals won (status ``won``) with a close date in the period.

    >>> deals_won(_example(), "2026-10").tolist()
    [1, 1]
    """
    return _count_rows(ds, _closed_mask(ds, period, "won", "deals_won"), by, name="deals_won")


@register(
    "deals_lost",
    name="Deals lost",
    theme="results",
    indicator="lagging",
    unit="count",
    formula="count of deals with status lost and close_date in the period",
    needs=("opportunities.close_date",),
    higher_is_better=False,
)
def deals_lost(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Deals lost (status ``lost``) with a close date in the period.

    >>> deals_lost(_example(), "2026-10").tolist()
    [1, 0]
    """
    return _count_rows(ds, _closed_mask(ds, period, "lost", "deals_lost"), by, name="deals_lost")


@register(
    "win_rate",
    name="Win rate",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="won / (won + lost), deals closed in the period (closed basis)",
    needs=("opportunities.close_date",),
    description="Share of the deals closed in the period that were won, whenever they were opened.",
)
def win_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Closed-basis win rate: won / (won + lost) among deals closed in the period.

    Deals opened in earlier periods count when they close in this one.

    >>> win_rate(_example(), "2026-10")[["value", "successes", "n"]]
            value  successes  n
    rep_id
    r1        0.5          1  2
    r2        1.0          1  1
    """
    won = deals_won(ds, period, by=by)
    lost = deals_lost(ds, period, by=by)
    return rate_frame(won, won + lost)


@register(
    "win_rate_created",
    name="Win rate (created basis)",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="opportunities created in the period and won (by the end of the data) / "
    "opportunities created in the period",
    needs=("opportunities",),
    description="Created basis: 5 won of 30 opened = 16.7%. Recent cohorts are immature.",
)
def win_rate_created(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Created-basis win rate: of the opportunities created in the period, the share won so far.

    Cohort = opportunities created in the period; success = status ``won`` at any
    time up to the end of the data (5 won of 30 opened = 16.7%). Open deals stay
    in the denominator, so a recent cohort reads low until it matures.

    >>> win_rate_created(_example(), "2026-10")[["value", "successes", "n"]]
            value  successes  n
    rep_id
    r1        NaN          0  0
    r2        0.5          1  2
    """
    p = as_period(period)
    opps = _opportunities(ds, "win_rate_created", closed=False)
    cohort = p.contains(opps["created_at"]).to_numpy()
    won = cohort & _status_is(ds, "won")
    return rate_frame(_count_rows(ds, won, by), _count_rows(ds, cohort, by))


@register(
    "avg_deal_size",
    name="Average deal size",
    theme="results",
    indicator="lagging",
    unit="currency",
    formula="won revenue / deals won, deals closed in the period",
    needs=("opportunities.close_date",),
)
def avg_deal_size(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Mean ``amount`` of the deals won in the period (NaN when none was won).

    avg_deal_size = total_sales / deals_won

    >>> avg_deal_size(_example(), "2026-10", by="org")
    org
    all reps    200.0
    Name: avg_deal_size, dtype: float64
    """
    revenue = total_sales(ds, period, by=by)
    deals = deals_won(ds, period, by=by)
    return (revenue / deals.where(deals > 0)).rename("avg_deal_size")


@register(
    "sales_cycle_days",
    name="Sales cycle",
    theme="results",
    indicator="lagging",
    unit="days",
    formula="median calendar days from created_at to close_date, deals won in the period",
    needs=("opportunities.close_date",),
    higher_is_better=False,
)
def sales_cycle_days(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Median calendar days from ``created_at`` to ``close_date`` of the deals won in the period.

    Days are counted between calendar dates (times of day ignored). NaN when no
    deal was won.

    >>> sales_cycle_days(_example(), "2026-10").tolist()  # r1: Sep 1 -> Oct 3; r2: Oct 5 -> Oct 20
    [32.0, 15.0]
    """
    won = closed_in(ds, period, "won", what="sales_cycle_days")
    days = (won["close_date"].dt.normalize() - won["created_at"].dt.normalize()).dt.days.astype(float)
    keys = won["rep_id"].map(group_map(ds, by))
    out = days.groupby(keys).median() if len(won) else pd.Series(dtype=float)
    return out.reindex(group_index(ds, by)).astype(float).rename("sales_cycle_days")


@register(
    "sales_velocity",
    name="Sales velocity",
    theme="results",
    indicator="lagging",
    unit="currency_per_day",
    formula="open opportunities at period end x win_rate x avg_deal_size / sales_cycle_days",
    needs=("opportunities.close_date",),
    description="Expected revenue per day from the pipeline at the period's end.",
)
def sales_velocity(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Revenue per day the pipeline is expected to produce.

    velocity = open x win_rate x avg_deal_size / sales_cycle_days, where ``open`` is
    the number of opportunities open at the period end (:func:`open_at`) and the
    other three are this period's :func:`win_rate` (closed basis),
    :func:`avg_deal_size` and :func:`sales_cycle_days`, all for the same group.
    NaN when the win rate, deal size or cycle is missing, or the cycle is 0 days;
    0.0 when nothing is open.

    >>> sales_velocity(_example(), "2026-10").tolist()  # r1: none open; r2: 1 x 1.0 x 300 / 15
    [0.0, 20.0]
    >>> float(sales_velocity(_example(), "2026-09", by="org").iloc[0])  # nothing closed in Sept
    nan
    """
    p = as_period(period)
    _opportunities(ds, "sales_velocity")
    n_open = _count_rows(ds, open_mask(ds, p.end), by).astype(float)
    rate = win_rate(ds, p, by=by)["value"]
    size = avg_deal_size(ds, p, by=by)
    cycle = sales_cycle_days(ds, p, by=by)
    return (n_open * rate * size / cycle.where(cycle > 0)).rename("sales_velocity")


# -- quota ----------------------------------------------------------------------------


@register(
    "quota_attainment",
    name="Quota attainment",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="won revenue / quota (team, org: summed revenue / summed quota of the reps with a quota)",
    needs=("quotas", "opportunities.close_date"),
    description="Percent to revenue goal. Quota of a period: exact row, else sum of the rows "
    "inside it, else pro-rata of an enclosing period.",
)
def quota_attainment(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Won revenue over quota, as a fraction (1.0 = 100% of quota), in a ratio frame.

    attainment = won revenue / quota; for a team, level or org, the summed revenue of
    its reps that have a quota for the period over their summed quota (reps without
    a quota are left out of both). Quotas are resolved by :func:`quota_for`.
    ``value`` is NaN when there is no quota (``denominator`` NaN too) or it is 0; it
    can exceed 1.

    >>> quota_attainment(_example(), "2026-10")
            value  numerator  denominator
    rep_id
    r1        0.5      100.0        200.0
    r2        1.0      300.0        300.0
    """
    p = as_period(period)
    q = _quota_frame(ds, p, "quota_attainment")
    has = q["quota"].notna()
    index = group_index(ds, by)
    groups = group_map(ds, by)[has]
    num = q.loc[has, "revenue"].groupby(groups).sum().reindex(index, fill_value=0.0)
    den = q.loc[has, "quota"].groupby(groups).sum().reindex(index)
    out = ratio_frame(num, den)
    out["denominator"] = den  # NaN: no quota (0.0: a quota of 0)
    return out


@register(
    "pct_reps_meeting_quota",
    name="Reps meeting quota",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="reps with quota_attainment >= 1 / reps with a quota above 0",
    needs=("quotas", "opportunities.close_date"),
    groupings=("team", "level", "org"),
)
def pct_reps_meeting_quota(ds: Dataset, period: Period | str, *, by: str = "team") -> pd.DataFrame:
    """Share of a team's (level's, org's) reps whose won revenue reached their quota.

    successes = reps with revenue >= quota; n = reps with a quota above 0 for the
    period. Not meaningful per rep (``by="rep"`` is an error).

    >>> pct_reps_meeting_quota(_example(), "2026-10", by="team")[["value", "successes", "n"]]
          value  successes  n
    team
    East    0.5          1  2
    """
    _not_per_rep("pct_reps_meeting_quota", by, ("team", "level", "org"))
    q = _quota_frame(ds, as_period(period), "pct_reps_meeting_quota")
    eligible = q["quota"] > 0
    meets = eligible & (q["revenue"] >= q["quota"])
    groups = group_map(ds, by)
    index = group_index(ds, by)
    n = eligible.groupby(groups).sum().reindex(index, fill_value=0)
    s = meets.groupby(groups).sum().reindex(index, fill_value=0)
    return rate_frame(s, n)


# -- customers --------------------------------------------------------------------------


@register(
    "customers",
    name="Customers",
    theme="results",
    indicator="lagging",
    unit="count",
    formula="customer accounts at the period end: start_date < end and (no end_date or end_date >= end)",
    needs=("customers",),
    description="Customers belong to accounts.rep_id, else the rep of the account's first won deal.",
)
def customers(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Customer accounts at the period end (*E*).

    Active at the end: ``start_date < end`` and ``end_date`` empty or ``>= end``;
    distinct accounts; attributed to reps as in the module docstring.

    >>> customers(_example(), "2026-10").tolist()  # a1 (r1) and a3 (r2); a2 ended Oct 15
    [1, 1]
    """
    return _customer_counts(ds, as_period(period), by, "customers")["E"].rename("customers")


@register(
    "churn_rate",
    name="Churn rate",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="customers lost during the period / customers at the period start",
    needs=("customers",),
    higher_is_better=False,
)
def churn_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of the customers at the period start (*S*) that were no longer customers at its end.

    churn = |S - E| / |S|  (= 1 - retention_rate)

    >>> churn_rate(_example(), "2026-10")[["value", "successes", "n"]]
            value  successes  n
    rep_id
    r1        0.5          1  2
    r2        NaN          0  0
    """
    c = _customer_counts(ds, as_period(period), by, "churn_rate")
    return rate_frame(c["lost"], c["S"])


@register(
    "retention_rate",
    name="Retention rate",
    theme="results",
    indicator="lagging",
    unit="fraction",
    formula="(E - N) / S: E customers at the period end, N new during the period (at the end, "
    "not at the start), S at the start",
    needs=("customers",),
)
def retention_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Customer retention rate (E - N) / S.

    *E* = customers at the period end, *S* = at its start, *N* = new customers
    during the period that are still customers at its end (in *E*, not in *S*).
    A customer won and lost within the period is in neither *E* nor *N*, so
    E - N is exactly the starting customers kept and retention = 1 - churn.

    >>> retention_rate(_example(), "2026-10", by="org")[["value", "successes", "n"]]
              value  successes  n
    org
    all reps    0.5          1  2
    """
    c = _customer_counts(ds, as_period(period), by, "retention_rate")
    return rate_frame(c["E"] - c["N"], c["S"])


# -- costs and customer value --------------------------------------------------------------


@register(
    "cost_of_sales_ratio",
    name="Cost of sales ratio",
    theme="results",
    indicator="lagging",
    unit="ratio",
    formula="sales_cost of the period / won revenue of the period",
    needs=("costs.sales_cost", "opportunities.close_date"),
    higher_is_better=False,
    groupings=("org",),
    description="Costs are not recorded per rep, so this is an org-level figure.",
)
def cost_of_sales_ratio(ds: Dataset, period: Period | str, *, by: str = "org") -> pd.DataFrame:
    """Sales cost per unit of won revenue, for the whole org (costs are not per rep).

    ratio = sales_cost / total_sales; sales cost resolved by :func:`cost_for`.
    NaN when nothing was won or the period's cost is unknown.

    >>> cost_of_sales_ratio(_example(), "2026-10")
              value  numerator  denominator
    org
    all reps    0.1       40.0        400.0
    """
    _not_per_rep("cost_of_sales_ratio", by, ("org",))
    p = as_period(period)
    cost = cost_for(ds, p, "sales_cost", what="cost_of_sales_ratio")
    revenue = total_sales(ds, p, by="org")
    out = ratio_frame(pd.Series(cost, index=revenue.index), revenue)
    if math.isnan(cost):  # an unknown cost stays unknown, never 0
        out["numerator"] = np.nan
        out["value"] = np.nan
    return out


@register(
    "cac",
    name="Customer acquisition cost",
    theme="results",
    indicator="lagging",
    unit="currency",
    formula="(sales_cost + marketing_cost of the period) / new customers acquired in the period",
    needs=("costs.sales_cost", "costs.marketing_cost", "customers"),
    higher_is_better=False,
    groupings=("org",),
)
def cac(ds: Dataset, period: Period | str, *, by: str = "org") -> pd.Series:
    """Customer acquisition cost for the whole org.

    cac = (sales_cost + marketing_cost) / new customers, where new customers are
    the accounts whose customer relationship started in the period and that were
    not customers at its start (those lost again within the period included).
    NaN when no customer was acquired or a cost is unknown.

    >>> cac(_example(), "2026-10")  # (40 + 60) / 1 new customer (a3)
    org
    all reps    100.0
    Name: cac, dtype: float64
    """
    _not_per_rep("cac", by, ("org",))
    p = as_period(period)
    ds.require("costs.sales_cost", "costs.marketing_cost", what="cac")
    cost = cost_for(ds, p, "sales_cost", what="cac") + cost_for(ds, p, "marketing_cost", what="cac")
    new = _customer_counts(ds, p, "org", "cac")["acquired"].astype(float)
    return (cost / new.where(new > 0)).rename("cac")


@register(
    "ltv",
    name="Customer lifetime value",
    theme="results",
    indicator="lagging",
    unit="currency",
    formula="(won revenue on customer accounts / customers active in the period) x average "
    "lifetime in periods (1 / churn_rate; without churn in the period, the mean length of "
    "the relationships ended so far)",
    needs=("customers", "opportunities.account_id", "opportunities.close_date"),
)
def ltv(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Customer lifetime value: average revenue per customer per period x average lifetime.

    - revenue per customer = won revenue closed in the period on accounts that were
      customers at some time in the period / number of those accounts;
    - lifetime (in periods of this length) = 1 / churn_rate of the period when it
      is above 0; otherwise the mean length of the customer relationships that
      ended before the period end, in days / (30.44 x months of the period);
      NaN when no customer has ever been lost.

    Both parts use the group's customers (attributed as in the module docstring).

    >>> ltv(_example(), "2026-10").tolist()  # r1: (100 / 2) x 1 / 0.5; r2: no churn ever
    [100.0, nan]
    """
    p = as_period(period)
    ds.require("opportunities.account_id", what="ltv")
    index = group_index(ds, by)
    flags = _customer_flags(ds, p, "ltv")
    groups = _customer_groups(ds, flags.index, by, "ltv")
    counts = _customer_counts(ds, p, by, "ltv", flags=flags, groups=groups)
    won = closed_in(ds, p, "won", what="ltv")
    active = flags.index[flags["during"]]
    won = won[codes_in(won["account_id"], active) >= 0]  # isin, without Python objects
    revenue = won["amount"].groupby(won["account_id"].map(groups)).sum().reindex(index, fill_value=0.0)
    during = counts["during"].astype(float)
    per_customer = revenue / during.where(during > 0)

    churn = counts["lost"] / counts["S"].where(counts["S"] > 0)
    lifetime = 1.0 / churn.where(churn > 0)
    cust = ds.customers
    if "end_date" in cust.columns:
        ended = cust[cust["end_date"].notna() & (cust["end_date"] < p.end)]
        days = (ended["end_date"] - ended["start_date"]).dt.days.astype(float)
        mean_days = days.groupby(ended["account_id"].map(groups)).mean().reindex(index)
        lifetime = lifetime.fillna(mean_days / (DAYS_PER_MONTH * p.months))
    return (per_customer * lifetime).astype(float).rename("ltv")
