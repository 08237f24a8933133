"""Results (lagging) KPIs: hand-made datasets with the expected values worked out in comments.

The reporting period is October 2026 unless a test says otherwise:
[2026-10-01, 2026-11-01).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kpikit import Dataset, KpikitError, MissingDataError
from kpikit.metrics.registry import REGISTRY
from kpikit.metrics.results import (
    DAYS_PER_MONTH,
    avg_deal_size,
    cac,
    churn_rate,
    cost_for,
    cost_of_sales_ratio,
    customers,
    deals_lost,
    deals_won,
    ltv,
    pct_reps_meeting_quota,
    quota_attainment,
    quota_for,
    retention_rate,
    sales_by_channel,
    sales_cycle_days,
    sales_velocity,
    total_sales,
    win_rate,
    win_rate_created,
)

OCT = "2026-10"
COLUMNS = ["opportunity_id", "rep_id", "created_at", "stage", "amount", "close_date"]


def reps(*ids: str, teams: tuple[str, ...] | None = None) -> pd.DataFrame:
    ids = ids or ("r1", "r2", "r3")
    teams = teams or ("East", "East", "West")[: len(ids)]
    return pd.DataFrame({"rep_id": list(ids), "team": list(teams)})


def opps(rows: list[tuple], **extra: list) -> pd.DataFrame:
    """Opportunities from (id, rep, created_at, stage, amount, close_date) tuples."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for name, values in extra.items():
        df[name] = values
    return df


# o1 r1 won 100 in Oct (opened Sep 1: 32-day cycle)
# o2 r1 lost 70 in Oct, opened in July (an earlier cohort)
# o3 r1 won 50 on Sep 30: previous period
# o4 r2 won 200 on Oct 31, opened Oct 1 (30-day cycle): last day counts
# o5 r2 won 999 on Nov 1: next period (but open at the instant Oct ends)
# o6 r2 open 300, expected Nov 15
# r3 has no deal.
CORE = [
    ("o1", "r1", "2026-09-01", "Won", 100.0, "2026-10-03"),
    ("o2", "r1", "2026-07-15", "Lost", 70.0, "2026-10-20"),
    ("o3", "r1", "2026-08-01", "Won", 50.0, "2026-09-30"),
    ("o4", "r2", "2026-10-01", "Won", 200.0, "2026-10-31"),
    ("o5", "r2", "2026-10-02", "Won", 999.0, "2026-11-01"),
    ("o6", "r2", "2026-10-05", "Proposal", 300.0, "2026-11-15"),
]


def core(**tables: pd.DataFrame) -> Dataset:
    frames = {"reps": reps(), "opportunities": opps(CORE)} | tables
    return Dataset.from_frames(**frames)


def as_dict(s: pd.Series) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in s.items()}


# ---------------------------------------------------------------------------- revenue and deals


def test_total_sales_counts_won_deals_closed_inside_the_period_only():
    # r1: o1 100 (o3 closed Sep 30, o2 lost); r2: o4 200 on Oct 31 (o5 on Nov 1 is November)
    out = total_sales(core(), OCT)
    assert out.name == "total_sales"
    assert out.index.name == "rep_id"
    assert as_dict(out) == {"r1": 100.0, "r2": 200.0, "r3": 0.0}


def test_total_sales_by_team_pools_reps_and_keeps_empty_teams():
    # East = r1 100 + r2 200; West = r3 nothing
    out = total_sales(core(), OCT, by="team")
    assert as_dict(out) == {"East": 300.0, "West": 0.0}
    assert as_dict(total_sales(core(), OCT, by="org")) == {"all reps": 300.0}


def test_results_need_close_dates():
    no_close = opps(CORE).drop(columns="close_date")
    ds = Dataset.from_frames(reps=reps(), opportunities=no_close)
    with pytest.raises(MissingDataError, match="opportunities.close_date") as info:
        total_sales(ds, OCT)
    assert info.value.needs == ("opportunities.close_date",)


def test_sales_by_channel_splits_won_revenue_per_source_with_every_group_and_source():
    # Oct wins: o1 r1 referral 100; o4 r2 outbound 200. Sources seen anywhere:
    # event (o6, open), outbound, referral, and a missing source on o5 -> "(none)".
    ds = core(opportunities=opps(CORE, source=["referral", "event", "referral", "outbound", None,
                                               "event"]))
    out = sales_by_channel(ds, OCT)
    assert out.index.names == ["rep_id", "source"]
    assert len(out) == 3 * 4  # 3 reps x 4 sources, zeros included
    assert out.loc[("r1", "referral"), "revenue"] == 100.0
    assert out.loc[("r1", "referral"), "share"] == 1.0
    assert out.loc[("r2", "outbound"), ["revenue", "deals"]].tolist() == [200.0, 1]
    assert out.loc[("r2", "event"), "revenue"] == 0.0
    # r3 won nothing: revenue 0, share n/a
    assert out.loc["r3", "revenue"].tolist() == [0.0] * 4
    assert out.loc["r3", "share"].isna().all()


def test_sales_by_channel_needs_a_source():
    with pytest.raises(MissingDataError, match="opportunities.source"):
        sales_by_channel(core(), OCT)


def test_deals_won_and_lost_count_closings_in_the_period():
    ds = core()
    assert as_dict(deals_won(ds, OCT)) == {"r1": 1, "r2": 1, "r3": 0}
    assert as_dict(deals_lost(ds, OCT)) == {"r1": 1, "r2": 0, "r3": 0}
    assert deals_won(ds, OCT).dtype == "int64"


def test_win_rate_counts_losses_from_earlier_cohorts():
    # r1 closed in Oct: o1 won (opened Sep), o2 lost (opened July) -> 1 / 2
    # r2: o4 won -> 1 / 1; r3: nothing closed -> n/a with n = 0
    out = win_rate(core(), OCT)
    assert list(out.columns) == ["value", "successes", "n", "ci_low", "ci_high"]
    assert out.loc["r1", ["value", "successes", "n"]].tolist() == [0.5, 1, 2]
    assert out.loc["r2", "value"] == 1.0
    assert math.isnan(out.loc["r3", "value"]) and out.loc["r3", "n"] == 0


def test_win_rate_by_team_pools_the_closed_deals():
    # East: 2 won of 3 closed; West: none
    out = win_rate(core(), OCT, by="team")
    assert out.loc["East", ["successes", "n"]].tolist() == [2, 3]
    assert out.loc["East", "value"] == pytest.approx(2 / 3)
    assert math.isnan(out.loc["West", "value"])


def test_win_rate_created_reproduces_5_won_of_30_opened():
    # 30 opportunities opened in Oct 2026: 5 won (in Nov/Dec: any time counts),
    # 10 lost, 15 still open -> 5 / 30 = 16.7%. o99 opened in Sep and won in Oct
    # is not in the cohort.
    rows = []
    for i in range(30):
        created = f"2026-10-{i + 1:02d}"
        if i < 5:
            rows.append((f"o{i}", "r1", created, "Won", 100.0, "2026-12-01"))
        elif i < 15:
            rows.append((f"o{i}", "r1", created, "Lost", 100.0, "2026-11-20"))
        else:
            rows.append((f"o{i}", "r1", created, "Proposal", 100.0, "2027-01-15"))
    rows.append(("o99", "r1", "2026-09-10", "Won", 100.0, "2026-10-10"))
    ds = Dataset.from_frames(reps=reps("r1"), opportunities=opps(rows))
    out = win_rate_created(ds, OCT)
    assert out.loc["r1", ["successes", "n"]].tolist() == [5, 30]
    assert round(out.loc["r1", "value"], 3) == 0.167
    # Wilson 95% interval of 5 / 30
    assert out.loc["r1", ["ci_low", "ci_high"]].round(4).tolist() == [0.0734, 0.3356]


def test_win_rate_created_is_nan_for_an_empty_cohort():
    # created in Oct: o4 won, o5 won, o6 open -> r2 2 / 3; r1 and r3 opened nothing
    out = win_rate_created(core(), OCT)
    assert out.loc["r2", "value"] == pytest.approx(2 / 3)
    assert out.loc[["r1", "r3"], "value"].isna().all()
    assert out.loc[["r1", "r3"], "n"].tolist() == [0, 0]


def test_avg_deal_size_is_mean_won_amount_and_nan_without_wins():
    # r1 100 / 1, r2 200 / 1, org 300 / 2 = 150
    assert as_dict(avg_deal_size(core(), OCT)) == {"r1": 100.0, "r2": 200.0, "r3": None}
    assert as_dict(avg_deal_size(core(), OCT, by="org")) == {"all reps": 150.0}


def test_sales_cycle_days_is_the_median_in_calendar_days():
    # r1: cycles 10 (created late on Sep 21, the time of day is ignored), 20 and 40
    #     days -> median 20; r2: 5 and 8 -> median 6.5; r3: no win -> n/a
    rows = [
        ("a", "r1", "2026-09-21T23:30:00", "Won", 1.0, "2026-10-01"),
        ("b", "r1", "2026-09-11", "Won", 1.0, "2026-10-01"),
        ("c", "r1", "2026-09-01", "Won", 1.0, "2026-10-11"),
        ("d", "r1", "2026-01-01", "Lost", 1.0, "2026-10-11"),
        ("e", "r2", "2026-10-01", "Won", 1.0, "2026-10-06"),
        ("f", "r2", "2026-10-01", "Won", 1.0, "2026-10-09"),
    ]
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(rows))
    assert as_dict(sales_cycle_days(ds, OCT)) == {"r1": 20.0, "r2": 6.5, "r3": None}


def test_sales_velocity_multiplies_open_count_win_rate_and_deal_size_over_cycle():
    # r1 in Oct: won A (100, 10 days) and B (300, 30 days), lost C and D;
    # open at Nov 1: E, F, G (status open) and H (won on Nov 3, so open at Nov 1).
    # velocity = 4 open x 2/4 x 200 avg / 20 days median = 20 per day.
    rows = [
        ("A", "r1", "2026-09-21", "Won", 100.0, "2026-10-01"),
        ("B", "r1", "2026-09-01", "Won", 300.0, "2026-10-01"),
        ("C", "r1", "2026-09-01", "Lost", 50.0, "2026-10-05"),
        ("D", "r1", "2026-09-01", "Lost", 50.0, "2026-10-06"),
        ("E", "r1", "2026-10-01", "SQL", 10.0, "2026-12-01"),
        ("F", "r1", "2026-10-02", "Meeting", 10.0, "2026-12-01"),
        ("G", "r1", "2026-10-03", "Proposal", 10.0, "2026-12-01"),
        ("H", "r1", "2026-10-04", "Won", 10.0, "2026-11-03"),
        ("I", "r1", "2026-11-05", "SQL", 10.0, "2026-12-01"),  # opened after Oct: not counted
    ]
    ds = Dataset.from_frames(reps=reps("r1"), opportunities=opps(rows))
    assert sales_velocity(ds, OCT).loc["r1"] == pytest.approx(20.0)


def test_sales_velocity_is_nan_without_closed_deals_or_with_a_zero_day_cycle():
    # Sep: r1 won o3 (50, Aug 1 -> Sep 30 = 60 days) -> r1 has a value;
    # r2, r3 closed nothing in Sep -> n/a. Same-day win: cycle 0 -> n/a.
    out = sales_velocity(core(), "2026-09")
    assert math.isnan(out.loc["r2"]) and math.isnan(out.loc["r3"])
    # r1 at Oct 1: open o1 (won Oct 3), o2 (lost Oct 20) -> 2 x 1/1 x 50 / 60
    assert out.loc["r1"] == pytest.approx(2 * 50 / 60)
    same_day = [("a", "r1", "2026-10-02", "Won", 100.0, "2026-10-02"),
                ("b", "r1", "2026-10-02", "SQL", 100.0, "2026-12-02")]
    ds = Dataset.from_frames(reps=reps("r1"), opportunities=opps(same_day))
    assert math.isnan(sales_velocity(ds, OCT).loc["r1"])


# ---------------------------------------------------------------------------- quota


def quotas(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["rep_id", "period", "quota"])


def test_quota_for_a_month_prorates_an_enclosing_quarter_or_year():
    # r1: only 2026-Q4 = 900 -> Oct = 300; r2: its Oct row 100 wins over its Q4 row;
    # r3: only the year 2026 = 1200 -> Oct = 100
    q = quotas([("r1", "2026-Q4", 900.0), ("r2", "2026-10", 100.0), ("r2", "2026-Q4", 900.0),
                ("r3", "2026", 1200.0)])
    assert as_dict(quota_for(core(quotas=q), OCT)) == {"r1": 300.0, "r2": 100.0, "r3": 100.0}


def test_quota_for_a_quarter_sums_its_months_else_prorates_the_year():
    # r1: Oct 100 + Nov 200 + Dec 300 = 600; r2: Oct and Nov only and no year -> n/a;
    # r3: Oct and Nov only, but a 2026 row of 1200 -> 1200 / 4 = 300
    q = quotas([("r1", "2026-10", 100.0), ("r1", "2026-11", 200.0), ("r1", "2026-12", 300.0),
                ("r2", "2026-10", 100.0), ("r2", "2026-11", 100.0),
                ("r3", "2026-10", 100.0), ("r3", "2026-11", 100.0), ("r3", "2026", 1200.0)])
    assert as_dict(quota_for(core(quotas=q), "2026-Q4")) == {"r1": 600.0, "r2": None, "r3": 300.0}


def test_quota_for_a_year_sums_quarters_built_from_rows_or_months():
    # r1: Q1..Q4 = 100 + 200 + 300 + 400 = 1000
    # r2: Q1..Q3 = 3 x 100, Q4 from its months 10 + 20 + 30 -> 360
    # r3: Q1..Q3 only -> n/a (no enclosing period to prorate)
    q = quotas(
        [("r1", f"2026-Q{i}", 100.0 * i) for i in range(1, 5)]
        + [("r2", f"2026-Q{i}", 100.0) for i in range(1, 4)]
        + [("r2", "2026-10", 10.0), ("r2", "2026-11", 20.0), ("r2", "2026-12", 30.0)]
        + [("r3", f"2026-Q{i}", 100.0) for i in range(1, 4)]
    )
    assert as_dict(quota_for(core(quotas=q), "2026")) == {"r1": 1000.0, "r2": 360.0, "r3": None}


def test_quota_attainment_is_won_revenue_over_quota_as_a_fraction():
    # r1: 100 / 200 = 0.5; r2: 200 / 160 = 1.25 (over 100%); r3: no quota -> n/a
    q = quotas([("r1", OCT, 200.0), ("r2", OCT, 160.0)])
    out = quota_attainment(core(quotas=q), OCT)
    assert list(out.columns) == ["value", "numerator", "denominator"]
    assert as_dict(out["value"]) == {"r1": 0.5, "r2": 1.25, "r3": None}
    assert math.isnan(out.loc["r3", "denominator"])  # no quota is not a quota of 0


def test_quota_attainment_is_nan_for_a_zero_quota():
    q = quotas([("r1", OCT, 0.0), ("r2", OCT, 100.0)])
    out = quota_attainment(core(quotas=q), OCT)
    assert math.isnan(out.loc["r1", "value"])
    assert out.loc["r1", ["numerator", "denominator"]].tolist() == [100.0, 0.0]


def test_quota_attainment_by_team_sums_revenue_and_quota_of_reps_with_a_quota():
    # East: r1 100 / 200 and r2 200 / 300 -> 300 / 500 = 0.6; r3 (East here) won 1000
    # but has no quota: left out of both sums.
    rows = CORE + [("x", "r3", "2026-09-01", "Won", 1000.0, "2026-10-10")]
    ds = Dataset.from_frames(
        reps=reps(teams=("East", "East", "East")),
        opportunities=opps(rows),
        quotas=quotas([("r1", OCT, 200.0), ("r2", OCT, 300.0)]),
    )
    out = quota_attainment(ds, OCT, by="team")
    assert out.loc["East", ["value", "numerator", "denominator"]].tolist() == [0.6, 300.0, 500.0]


def test_quota_attainment_needs_quotas():
    with pytest.raises(MissingDataError, match="quota_attainment: not available: needs quotas"):
        quota_attainment(core(), OCT)


def test_pct_reps_meeting_quota_counts_reps_at_or_above_100_percent():
    # reps r1..r4 in East, r5 alone in West:
    # r1 100 / 100 (exactly 100%: meets), r2 200 / 300 (no), r3 no quota (not counted),
    # r4 quota 0 (not counted) -> East 1 of 2; West: r5 no quota -> n/a
    ds = Dataset.from_frames(
        reps=reps("r1", "r2", "r3", "r4", "r5", teams=("East",) * 4 + ("West",)),
        opportunities=opps(CORE),
        quotas=quotas([("r1", OCT, 100.0), ("r2", OCT, 300.0), ("r4", OCT, 0.0)]),
    )
    out = pct_reps_meeting_quota(ds, OCT, by="team")
    assert out.loc["East", ["value", "successes", "n"]].tolist() == [0.5, 1, 2]
    assert math.isnan(out.loc["West", "value"]) and out.loc["West", "n"] == 0


def test_pct_reps_meeting_quota_is_not_a_per_rep_metric():
    assert REGISTRY["pct_reps_meeting_quota"].groupings == ("team", "level", "org")
    with pytest.raises(KpikitError, match="not computed by 'rep'"):
        pct_reps_meeting_quota(core(quotas=quotas([("r1", OCT, 1.0)])), OCT, by="rep")


# ---------------------------------------------------------------------------- customers

# Customer relationships around October 2026 (all accounts owned by r1):
#   a1 2025-01-01 ->            at start, at end              (kept)
#   a2 2025-06-01 -> 2026-10-15 at start, not at end          (lost)
#   a3 2026-10-10 ->            not at start, at end          (new)
#   a4 2026-10-05 -> 2026-10-25 neither                       (won and lost in Oct)
#   a5 2026-09-01 -> 2026-11-01 at start, at end (end_date >= Nov 1)   (kept)
#   a6 2026-10-01 ->            start_date not < Oct 1: new, at end    (new)
#   a7 2024-01-01 -> 2026-10-01 at start (end_date >= Oct 1), lost     (lost)
#   a8 2024-01-01 -> 2026-09-30 gone before October                    (-)
# S = {a1, a2, a5, a7} = 4; E = {a1, a3, a5, a6} = 4; N = E - S = {a3, a6} = 2;
# lost = {a2, a7} = 2; acquired in Oct (CAC) = {a3, a4, a6} = 3;
# customers at some time in Oct = a1..a7 = 7.
CUSTOMERS = pd.DataFrame(
    [
        ("a1", "2025-01-01", None),
        ("a2", "2025-06-01", "2026-10-15"),
        ("a3", "2026-10-10", None),
        ("a4", "2026-10-05", "2026-10-25"),
        ("a5", "2026-09-01", "2026-11-01"),
        ("a6", "2026-10-01", None),
        ("a7", "2024-01-01", "2026-10-01"),
        ("a8", "2024-01-01", "2026-09-30"),
    ],
    columns=["account_id", "start_date", "end_date"],
)
ACCOUNTS = pd.DataFrame({"account_id": [f"a{i}" for i in range(1, 9)], "rep_id": ["r1"] * 8})


def with_customers(**tables: pd.DataFrame) -> Dataset:
    return core(**({"accounts": ACCOUNTS, "customers": CUSTOMERS} | tables))


def test_customers_counts_accounts_active_at_the_period_end():
    assert as_dict(customers(with_customers(), OCT)) == {"r1": 4, "r2": 0, "r3": 0}


def test_retention_rate_is_e_minus_n_over_s_on_a_hand_built_table():
    # (E - N) / S = (4 - 2) / 4 = 0.5; a4 (won and lost in Oct) is in neither E nor N
    out = retention_rate(with_customers(), OCT)
    assert out.loc["r1", ["value", "successes", "n"]].tolist() == [0.5, 2, 4]
    assert math.isnan(out.loc["r2", "value"])  # no customer at the start: n/a


def test_churn_rate_is_lost_over_customers_at_start_and_complements_retention():
    # lost {a2, a7} / S 4 = 0.5
    ds = with_customers()
    churn = churn_rate(ds, OCT)
    assert churn.loc["r1", ["value", "successes", "n"]].tolist() == [0.5, 2, 4]
    kept = retention_rate(ds, OCT).loc["r1", "value"]
    assert churn.loc["r1", "value"] + kept == 1.0


def test_customers_go_to_the_account_rep_else_the_rep_of_the_first_won_deal():
    # c1: accounts.rep_id r2. c2: no account rep; won by r3 on 2026-03-01 and by r1
    # later -> r3. c3: no rep anywhere -> counted for the org only.
    accounts = pd.DataFrame({"account_id": ["c1", "c2", "c3"], "rep_id": ["r2", None, None]})
    cust = pd.DataFrame({"account_id": ["c1", "c2", "c3"], "start_date": ["2026-01-01"] * 3})
    rows = [("w1", "r1", "2026-04-01", "Won", 1.0, "2026-05-01"),
            ("w2", "r3", "2026-02-01", "Won", 1.0, "2026-03-01")]
    ds = Dataset.from_frames(reps=reps(), accounts=accounts, customers=cust,
                             opportunities=opps(rows, account_id=["c2", "c2"]))
    assert as_dict(customers(ds, OCT)) == {"r1": 0, "r2": 1, "r3": 1}
    assert as_dict(customers(ds, OCT, by="org")) == {"all reps": 3}


def test_customers_per_rep_need_an_owner_but_the_org_count_does_not():
    cust = pd.DataFrame({"account_id": ["c1"], "start_date": ["2026-01-01"]})
    ds = core(customers=cust, accounts=pd.DataFrame({"account_id": ["c1"]}))
    with pytest.raises(MissingDataError, match="accounts.rep_id or opportunities.account_id"):
        customers(ds, OCT)
    assert customers(ds, OCT, by="org").tolist() == [1]


def test_customer_metrics_need_the_customers_table():
    for metric in (customers, churn_rate, retention_rate):
        with pytest.raises(MissingDataError, match="needs customers"):
            metric(core(), OCT)


# ---------------------------------------------------------------------------- costs and value


def costs(rows: list[tuple], columns=("period", "sales_cost", "marketing_cost")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def test_cost_of_sales_ratio_is_sales_cost_over_won_revenue_for_the_org():
    # 30 / (100 + 200) = 0.1
    out = cost_of_sales_ratio(core(costs=costs([(OCT, 30.0, 5.0)])), OCT)
    assert out.loc["all reps", ["value", "numerator", "denominator"]].tolist() == [0.1, 30.0, 300.0]
    assert REGISTRY["cost_of_sales_ratio"].groupings == ("org",)


def test_cost_of_sales_ratio_is_nan_without_revenue_or_cost():
    # nothing was won in Dec 2026; no cost row touches 2027-01
    ds = core(costs=costs([("2026-12", 30.0, 5.0)]))
    assert math.isnan(cost_of_sales_ratio(ds, "2026-12").loc["all reps", "value"])
    out = cost_of_sales_ratio(ds, "2027-01")
    assert math.isnan(out.loc["all reps", "value"]) and math.isnan(out.loc["all reps", "numerator"])
    # October has revenue (300) but no cost row touches it: unknown, not 0
    out = cost_of_sales_ratio(ds, OCT)
    assert out.loc["all reps", "denominator"] == 300.0
    assert math.isnan(out.loc["all reps", "value"]) and math.isnan(out.loc["all reps", "numerator"])


def test_cost_metrics_are_org_level_and_name_the_missing_cost():
    with pytest.raises(KpikitError, match="not computed by 'rep'"):
        cost_of_sales_ratio(core(costs=costs([(OCT, 1.0, 1.0)])), OCT, by="rep")
    with pytest.raises(MissingDataError, match="costs.sales_cost"):
        cost_of_sales_ratio(core(), OCT)
    only_sales = costs([(OCT, 1.0)], columns=("period", "sales_cost"))
    with pytest.raises(MissingDataError, match="costs.marketing_cost"):
        cac(with_customers(costs=only_sales), OCT)


def test_costs_resolve_per_channel_then_add_up():
    # ads: one 2026-Q4 row of 90 -> Oct 30, Nov 30, Q4 90.
    # events: a 2026-10 row of 15 only -> Oct 15; Nov untouched (spent nothing);
    # Q4 touched but only October known -> the Q4 total is unknown.
    c = costs([("2026-Q4", 90.0, "ads"), (OCT, 15.0, "events")],
              columns=("period", "sales_cost", "channel"))
    ds = core(costs=c)
    assert cost_for(ds, OCT, "sales_cost") == 45.0
    assert cost_for(ds, "2026-11", "sales_cost") == 30.0
    assert math.isnan(cost_for(ds, "2026-Q4", "sales_cost"))


def test_cac_is_sales_and_marketing_cost_over_new_customers():
    # (100 + 50) / 3 acquired in Oct (a3, a4, a6) = 50
    ds = with_customers(costs=costs([(OCT, 100.0, 50.0)]))
    assert as_dict(cac(ds, OCT)) == {"all reps": 50.0}
    # Dec 2026: nobody acquired -> n/a
    ds = with_customers(costs=costs([("2026-12", 100.0, 50.0)]))
    assert math.isnan(cac(ds, "2026-12").iloc[0])


def test_ltv_is_revenue_per_customer_times_one_over_churn():
    # Oct won deals on accounts: 350 on a1 and 700 on a3 (customers in Oct), 1000 on a8
    # (no longer a customer: left out). 1050 / 7 customers at some time in Oct = 150 per
    # customer per month; churn 2 / 4 -> lifetime 2 months -> LTV 300.
    rows = [("l1", "r1", "2026-09-01", "Won", 350.0, "2026-10-20"),
            ("l2", "r1", "2026-09-01", "Won", 700.0, "2026-10-10"),
            ("l3", "r1", "2026-09-01", "Won", 1000.0, "2026-10-05")]
    ds = with_customers(opportunities=opps(rows, account_id=["a1", "a3", "a8"]))
    out = ltv(ds, OCT)
    assert out.loc["r1"] == pytest.approx(300.0)
    assert math.isnan(out.loc["r2"])  # no customers


def test_ltv_without_churn_uses_the_mean_length_of_ended_relationships():
    # b1 a customer all along; b2 2026-01-01 -> 04-01 (90 days) and b3 02-01 -> 08-01
    # (181 days) ended earlier. Oct: no churn, so lifetime = (90 + 181) / 2 days
    # = 135.5 / 30.4375 months; revenue 200 on b1 / 1 customer -> 200 x 135.5 / 30.4375
    cust = pd.DataFrame({"account_id": ["b1", "b2", "b3"],
                         "start_date": ["2026-01-01", "2026-01-01", "2026-02-01"],
                         "end_date": [None, "2026-04-01", "2026-08-01"]})
    accounts = pd.DataFrame({"account_id": ["b1", "b2", "b3"], "rep_id": ["r1"] * 3})
    rows = [("l1", "r1", "2026-09-01", "Won", 200.0, "2026-10-20")]
    ds = Dataset.from_frames(reps=reps(), customers=cust, accounts=accounts,
                             opportunities=opps(rows, account_id=["b1"]))
    assert ltv(ds, OCT).loc["r1"] == pytest.approx(200 * 135.5 / DAYS_PER_MONTH)
    # a quarter is 3 months long: lifetime 135.5 / (3 x 30.4375) quarters
    assert ltv(ds, "2026-Q4").loc["r1"] == pytest.approx(200 * 135.5 / (3 * DAYS_PER_MONTH))


def test_ltv_is_nan_when_no_customer_was_ever_lost():
    cust = pd.DataFrame({"account_id": ["b1"], "start_date": ["2026-01-01"]})
    ds = Dataset.from_frames(reps=reps(), customers=cust,
                             accounts=pd.DataFrame({"account_id": ["b1"], "rep_id": ["r1"]}),
                             opportunities=opps([("l1", "r1", "2026-09-01", "Won", 200.0,
                                                  "2026-10-20")], account_id=["b1"]))
    assert math.isnan(ltv(ds, OCT).loc["r1"])


# ---------------------------------------------------------------------------- every metric

RESULT_IDS = [
    "total_sales", "sales_by_channel", "deals_won", "deals_lost", "win_rate", "win_rate_created",
    "avg_deal_size", "sales_cycle_days", "sales_velocity", "quota_attainment",
    "pct_reps_meeting_quota", "customers", "churn_rate", "retention_rate", "cost_of_sales_ratio",
    "cac", "ltv",
]


def full_frames() -> dict[str, pd.DataFrame]:
    rows = CORE + [("l1", "r1", "2026-09-01", "Won", 350.0, "2026-10-20")]
    return {
        "reps": reps().assign(level=["senior", "junior", "junior"]),
        "opportunities": opps(rows, account_id=["a1", "a2", "a3", "a3", "a5", "a6", "a1"],
                              source=["ads", "ads", "event", "ads", "event", "ads", "event"]),
        "quotas": quotas([("r1", "2026-Q4", 600.0), ("r2", OCT, 150.0)]),
        "accounts": ACCOUNTS.assign(rep_id=["r1", "r2", None, "r1", "r2", None, "r1", "r1"]),
        "customers": CUSTOMERS,
        "costs": costs([(OCT, 30.0, 20.0)]),
    }


def run_all(ds: Dataset) -> dict:
    out = {}
    for mid in RESULT_IDS:
        d = REGISTRY[mid]
        assert d.theme == "results" and d.indicator == "lagging"
        for by in d.groupings:
            out[mid, by] = d.func(ds, OCT, by=by)
    return out


def test_every_results_metric_is_registered_with_every_group_in_its_index():
    ds = Dataset.from_frames(**full_frames())
    for (mid, by), result in run_all(ds).items():
        groups = {"rep": {"r1", "r2", "r3"}, "team": {"East", "West"}, "org": {"all reps"},
                  "level": {"senior", "junior"}}[by]
        assert set(result.index.get_level_values(0)) == groups, (mid, by)


def test_row_order_does_not_change_any_result():
    frames = full_frames()
    shuffled = {k: v.sample(frac=1, random_state=7).reset_index(drop=True) for k, v in frames.items()}
    first = run_all(Dataset.from_frames(**frames))
    second = run_all(Dataset.from_frames(**shuffled))
    for key, result in first.items():
        other = second[key]
        if isinstance(result, pd.Series):
            pd.testing.assert_series_equal(result.sort_index(), other.sort_index(), obj=str(key))
        else:
            pd.testing.assert_frame_equal(result.sort_index(), other.sort_index(), obj=str(key))


def test_metrics_do_not_mutate_the_dataset():
    ds = Dataset.from_frames(**full_frames())
    before = {k: v.copy(deep=True) for k, v in ds.tables.items() if v is not None}
    run_all(ds)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(ds.tables[name], frame, obj=name)
