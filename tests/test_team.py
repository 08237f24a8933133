"""The analysts' team overview (kpikit.team) and its notebook.

The hand-made org of most tests (October 2026 unless said otherwise):

| rep | name | team | role | level  | quota | October deals (amount, source)          |
|-----|------|------|------|--------|-------|-----------------------------------------|
| a1  | Ann  | East | AE   | mid    | 200   | o1 won 100 referral, o2 lost 50         |
| a2  | Bo   | East | AE   | mid    | 200   | o3 won 200 outbound; o9 open 500        |
| a3  | Cy   | West | AE   | mid    | 300   | o4 won 300 outbound, o5 lost 10         |
| a4  | Di   | West | AE   | mid    | 300   | o6 won 400 event                        |
| a5  | Ed   | West | AE   | mid    | 100   | o7 lost 20 referral                     |
| a6  | Fay  | West | AE   | senior | 500   | o8 won 600 referral                     |
| s1  | Sam  | East | SDR  | junior | -     | leads l1, l2 (October), l3 (September)  |

o10 (a1, won 1,000, referral) closed in September. Opportunities opened in
October: o2 (a1), o9 (a2), o4 (a3), o7 (a5). Sam's October activities: calls
on l1, l2, l3, an email and an appointment set on l1; l1 answered after 30
minutes and qualified, l2 answered after 3 hours.
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import kpikit
from kpikit import team
from kpikit.errors import KpikitError, MissingDataError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "team_overview.ipynb"
OCT = "2026-10"
# Wilson 95% interval of 1 success out of 2: 0.5 -/+ 1.96 sqrt(0.125 + 0.2401) / 2.9207
WILSON_1_OF_2 = (0.09453, 0.90547)


def _reps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep_id": ["a1", "a2", "a3", "a4", "a5", "a6", "s1"],
            "name": ["Ann", "Bo", "Cy", "Di", "Ed", "Fay", "Sam"],
            "team": ["East", "East", "West", "West", "West", "West", "East"],
            "role": ["AE", "AE", "AE", "AE", "AE", "AE", "SDR"],
            "level": ["mid", "mid", "mid", "mid", "mid", "senior", "junior"],
        }
    )


def _opportunities() -> pd.DataFrame:
    rows = [
        ("o1", "a1", "2026-09-01", "Won", 100.0, "2026-10-05", "referral"),
        ("o2", "a1", "2026-10-02", "Lost", 50.0, "2026-10-10", "outbound"),
        ("o3", "a2", "2026-09-15", "Won", 200.0, "2026-10-15", "outbound"),
        ("o4", "a3", "2026-10-01", "Won", 300.0, "2026-10-20", "outbound"),
        ("o5", "a3", "2026-09-20", "Lost", 10.0, "2026-10-21", "outbound"),
        ("o6", "a4", "2026-08-01", "Won", 400.0, "2026-10-03", "event"),
        ("o7", "a5", "2026-10-05", "Lost", 20.0, "2026-10-25", "referral"),
        ("o8", "a6", "2026-07-01", "Won", 600.0, "2026-10-30", "referral"),
        ("o9", "a2", "2026-10-10", "Proposal", 500.0, "2026-10-31", "outbound"),
        ("o10", "a1", "2026-08-01", "Won", 1000.0, "2026-09-15", "referral"),
    ]
    cols = ["opportunity_id", "rep_id", "created_at", "stage", "amount", "close_date", "source"]
    return pd.DataFrame(rows, columns=cols)


def _one_deal() -> pd.DataFrame:
    """One deal of rep r1 (for orgs whose reps are r1, r2)."""
    return _opportunities().iloc[:1].assign(rep_id="r1")


def _quotas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rep_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
            "period": [OCT] * 6,
            "quota": [200.0, 200.0, 300.0, 300.0, 100.0, 500.0],
        }
    )


def _activities() -> pd.DataFrame:
    rows = [
        ("c1", "s1", "call", "2026-10-01 09:00", "l1"),
        ("c2", "s1", "call", "2026-10-01 10:00", "l2"),
        ("c3", "s1", "email", "2026-10-02 09:00", "l1"),
        ("c4", "s1", "call", "2026-10-03 09:00", "l3"),
        ("c5", "s1", "appointment_set", "2026-10-04 09:00", "l1"),
    ]
    return pd.DataFrame(rows, columns=["activity_id", "rep_id", "type", "occurred_at", "lead_id"])


def _leads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["l1", "l2", "l3"],
            "rep_id": ["s1", "s1", "s1"],
            "created_at": ["2026-10-01 08:30", "2026-10-01 07:00", "2026-09-28 12:00"],
            "first_response_at": ["2026-10-01 09:00", "2026-10-01 10:00", "2026-10-03 09:00"],
            "qualified_at": ["2026-10-04 10:00", None, None],
        }
    )


@pytest.fixture(scope="module")
def ds() -> kpikit.Dataset:
    return kpikit.Dataset.from_frames(
        reps=_reps(),
        opportunities=_opportunities(),
        quotas=_quotas(),
        activities=_activities(),
        leads=_leads(),
        costs=pd.DataFrame({"period": [OCT], "sales_cost": [400.0], "marketing_cost": [100.0]}),
    )


@pytest.fixture(scope="module")
def bare() -> kpikit.Dataset:
    """Only reps and opportunities: no quotas, activities, leads or costs."""
    return kpikit.Dataset.from_frames(reps=_reps(), opportunities=_opportunities())


# ---------------------------------------------------------------------------- side by side


def test_reps_side_by_side_lists_every_rep_with_who_they_are(ds):
    t = team.reps_side_by_side(ds, OCT, metrics=["total_sales", "deals_won"])
    assert list(t.frame.index) == ["a1", "a2", "a3", "a4", "a5", "a6", "s1"]
    assert list(t.frame.columns) == ["name", "team", "role", "level", "total_sales", "deals_won"]
    # won in October: a1 o1 100; a2 o3 200; a3 o4 300; a4 o6 400; a5 none; a6 o8 600
    assert t.frame["total_sales"].tolist() == [100.0, 200.0, 300.0, 400.0, 0.0, 600.0, 0.0]
    assert t.frame.loc["a1", "name"] == "Ann"


def test_reps_side_by_side_gives_rates_their_n_and_wilson_interval(ds):
    f = team.reps_side_by_side(ds, OCT, metrics=["win_rate"]).frame
    # a1: o1 won, o2 lost -> 1 of 2; s1 closed nothing -> NaN with n = 0
    assert f.loc["a1", "win_rate"] == 0.5 and f.loc["a1", "win_rate_n"] == 2
    assert f.loc["a1", "win_rate_ci_low"] == pytest.approx(WILSON_1_OF_2[0], abs=1e-5)
    assert f.loc["a1", "win_rate_ci_high"] == pytest.approx(WILSON_1_OF_2[1], abs=1e-5)
    assert math.isnan(f.loc["s1", "win_rate"]) and f.loc["s1", "win_rate_n"] == 0


def test_reps_side_by_side_keeps_only_the_role_asked_for(ds):
    t = team.reps_side_by_side(ds, OCT, metrics=["deals_won"], role="sdr")
    assert list(t.frame.index) == ["s1"]


def test_side_by_side_format_shows_percentages_intervals_and_na(ds):
    shown = team.reps_side_by_side(ds, OCT, metrics=["win_rate", "total_sales"]).format()
    assert shown.index.name == "Rep" and list(shown.index)[:2] == ["Ann", "Bo"]
    assert shown.loc["Ann", "Win rate"] == "50.0% (9–91%, n=2)"
    assert shown.loc["Sam", "Win rate"] == "n/a (n=0)"
    assert shown.loc["Fay", "Total sales (USD)"] == "600"


def test_side_by_side_labels_repeated_names_with_their_id():
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "name": ["Lee", "Lee"]})
    ds = kpikit.Dataset.from_frames(reps=reps, opportunities=_one_deal())
    shown = team.reps_side_by_side(ds, OCT, metrics=["deals_won"]).format()
    assert list(shown.index) == ["Lee (r1)", "Lee (r2)"]


def test_side_by_side_lists_metrics_the_dataset_cannot_support(bare):
    t = team.reps_side_by_side(bare, OCT, metrics=["total_sales", "calls_made"])
    assert t.metrics == ["total_sales"]
    assert "calls_made" not in t.frame.columns
    assert t.messages() == ["Calls made: not available: needs activities"]


# ---------------------------------------------------------------------------- attainment


def test_attainment_summary_gives_each_rep_with_a_quota_and_the_share_at_quota(ds):
    s = team.attainment_summary(ds, OCT)
    # revenue / quota: a1 100/200, a2 200/200, a3 300/300, a4 400/300, a5 0/100, a6 600/500;
    # s1 has no quota and is left out; highest first (a2 before a3 on the tie)
    assert list(s.distribution.index) == ["a4", "a6", "a2", "a3", "a1", "a5"]
    assert s.distribution["attainment"].tolist() == pytest.approx([4 / 3, 1.2, 1.0, 1.0, 0.5, 0.0])
    assert s.distribution.loc["a4", "label"] == "Di"
    # at quota (revenue >= quota): a2, a3, a4, a6 -> 4 of 6
    assert (s.at_quota, s.n) == (4, 6)
    assert s.share == pytest.approx(4 / 6)
    assert s.ci_low < s.share < s.ci_high
    assert s.text().startswith("4 of 6 reps with a quota reached it in 2026-10 (66.7%")


def test_attainment_summary_without_quotas_says_what_it_needs(bare):
    s = team.attainment_summary(bare, OCT)
    assert s.unavailable == "Quota attainment: not available: needs quotas"
    assert len(s.distribution) == 0 and s.metrics == []
    note = team.attainment_chart(s, static=True)
    assert isinstance(note, team.Note) and "needs quotas" in note._repr_html_()


def test_attainment_chart_is_an_svg_of_the_reps(ds):
    svg = team.attainment_chart(team.attainment_summary(ds, OCT), static=True)
    assert svg.data.startswith("<svg")


# ---------------------------------------------------------------------------- benchmarks


def test_level_benchmarks_give_median_and_quartiles_per_level(ds):
    b = team.level_benchmarks(ds, OCT, ["total_sales", "win_rate"])
    mid = b.frame.loc[("total_sales", "mid")]
    # mid = a1..a5 with 100, 200, 300, 400, 0: median 200, quartiles 100 and 300
    assert (mid["n_reps"], mid["median"], mid["p25"], mid["p75"]) == (5, 200.0, 100.0, 300.0)
    assert not mid["suppressed"]
    # win rates of a1..a5: 1/2, 1/1, 1/2, 1/1, 0/1 -> 0, .5, .5, 1, 1
    wr = b.frame.loc[("win_rate", "mid")]
    assert (wr["median"], wr["p25"], wr["p75"]) == (0.5, 0.5, 1.0)


def test_level_benchmarks_suppress_levels_under_five_reps(ds):
    f = team.level_benchmarks(ds, OCT, ["total_sales"]).frame
    # senior: a6 alone; junior: s1 alone -> suppressed, no numbers
    for level in ("senior", "junior"):
        row = f.loc[("total_sales", level)]
        assert row["suppressed"] and row["n_reps"] == 1
        assert np.isnan(row["median"]) and np.isnan(row["p25"]) and np.isnan(row["p75"])
    # levels in the reps table's order: mid (a1), senior (a6), junior (s1)
    assert list(f.index.get_level_values("level")) == ["mid", "senior", "junior"]


def test_level_benchmarks_show_suppressed_levels_as_not_shown(ds):
    shown = team.level_benchmarks(ds, OCT, ["total_sales"]).format()
    assert shown.loc["Total sales (USD)", "Senior"] == "not shown (fewer than 5 reps: 1)"
    assert shown.loc["Total sales (USD)", "Mid"] == "200 (100 to 300, n=5)"


def test_level_benchmarks_can_keep_one_role(ds):
    f = team.level_benchmarks(ds, OCT, ["total_sales"], role="AE").frame
    assert list(f.index.get_level_values("level")) == ["mid", "senior"]  # no junior AE


def test_level_benchmarks_need_a_level_column():
    reps = _reps().drop(columns="level")
    ds = kpikit.Dataset.from_frames(reps=reps, opportunities=_opportunities())
    b = team.level_benchmarks(ds, OCT, ["total_sales"])
    assert len(b.frame) == 0
    assert b.messages() == ["Benchmarks per level: not available: needs reps.level"]


def test_level_benchmarks_list_text_metrics_as_without_benchmark(ds):
    b = team.level_benchmarks(ds, OCT, ["total_sales", "leakage_stage"])
    assert b.metrics == ["total_sales"]
    assert "leakage_stage" in b.unavailable


# ---------------------------------------------------------------------------- channels


def test_sales_per_channel_sums_the_orgs_won_revenue_per_source(ds):
    out = team.sales_per_channel(ds, OCT)
    # referral o1 100 + o8 600; outbound o3 200 + o4 300; event o6 400; total 1,600
    assert out["channel"].tolist() == ["referral", "outbound", "event"]
    assert out["revenue"].tolist() == [700.0, 500.0, 400.0]
    assert out["deals"].tolist() == [2, 2, 1]
    assert out["share"].tolist() == pytest.approx([0.4375, 0.3125, 0.25])


def test_sales_per_channel_needs_the_source_column():
    ds = kpikit.Dataset.from_frames(
        reps=_reps(), opportunities=_opportunities().drop(columns="source")
    )
    with pytest.raises(MissingDataError, match="opportunities.source"):
        team.sales_per_channel(ds, OCT)
    note = team.channel_chart(ds, OCT, static=True)
    assert isinstance(note, team.Note)
    assert note.text == "Sales by channel: not available: needs opportunities.source"


# ---------------------------------------------------------------------------- role views


def test_management_view_pools_each_team_and_the_org(ds):
    v = team.role_view(ds, OCT, "management")
    f = v.frame
    assert list(f.index) == ["East", "West", "All reps"]
    assert f["reps"].tolist() == [3, 4, 7]
    assert f["total_sales"].tolist() == [300.0, 1300.0, 1600.0]
    # West: (300 + 400 + 0 + 600) / (300 + 300 + 100 + 500), not the mean of the reps' 0.883
    assert f.loc["West", "quota_attainment"] == pytest.approx(1300 / 1200)
    # East win rate: won o1, o3, lost o2 -> 2 of 3 (the mean of 1/2 and 1/1 would be 0.75)
    assert f.loc["East", "win_rate"] == pytest.approx(2 / 3) and f.loc["East", "win_rate_n"] == 3
    # reps at quota: East a2 of a1, a2; West a3, a4, a6 of four
    assert f["pct_reps_meeting_quota"].tolist() == pytest.approx([0.5, 0.75, 4 / 6])


def test_management_view_shows_cost_of_sales_for_the_org_only(ds):
    v = team.role_view(ds, OCT, "management")
    # sales cost 400 / won revenue 1,600
    assert v.frame.loc["All reps", "cost_of_sales_ratio"] == 0.25
    assert np.isnan(v.frame.loc["East", "cost_of_sales_ratio"])
    assert "Cost of sales ratio: for the whole org only (not split by team)" in v.messages()
    # CAC needs customers, which this org lacks
    assert v.unavailable["cac"].endswith("not available: needs customers")


def test_management_view_reads_metrics_as_rows_and_teams_as_columns(ds):
    shown = team.role_view(ds, OCT, "management").format()
    assert list(shown.columns) == ["East", "West", "All reps"]
    assert shown.loc["Quota attainment", "All reps"] == "100.0%"
    assert shown.loc["Reps", "West"] == "4"


def test_ae_view_shows_the_account_executives_funnel(ds):
    v = team.role_view(ds, OCT, "AE")
    f = v.frame
    assert list(f.index) == ["a1", "a2", "a3", "a4", "a5", "a6"]
    assert v.metrics == list(team.AE_METRICS)
    # opened in October: o2 (a1), o9 (a2), o4 (a3), o7 (a5)
    assert f["opportunities_created"].tolist() == [1, 1, 1, 0, 1, 0]
    assert f["meetings_held"].tolist() == [0] * 6  # activities exist; AEs logged none
    # avg deal size a3: o4 300; cycle a3: Oct 1 -> Oct 20 = 19 days
    assert (f.loc["a3", "avg_deal_size"], f.loc["a3", "sales_cycle_days"]) == (300.0, 19.0)
    assert "role" not in f.columns and "level" not in f.columns


def test_sdr_view_shows_prospecting_speed_and_follow_up(ds):
    f = team.role_view(ds, OCT, "SDR").frame
    assert list(f.index) == ["s1"]
    row = f.loc["s1"]
    # 3 calls, 1 email, 1 appointment set; first touches on l1, l2, l3 in October
    assert (row["calls_made"], row["emails_sent"], row["appointments_set"]) == (3, 1, 1)
    assert row["prospects_approached"] == 3
    # leads created in October: l1 answered in 0.5 h, l2 in 3 h -> median 1.75 h, 1 of 2 within 1 h
    assert row["lead_response_time_h"] == pytest.approx(1.75)
    assert (row["pct_leads_responded_1h"], row["pct_leads_responded_1h_n"]) == (0.5, 2)
    # of l1, l2, l3 (first touched in October) only l1 got a second touch
    assert row["pct_leads_followed_up"] == pytest.approx(1 / 3)
    # l1 qualified, l2 not
    assert (row["conv_lead_to_sql"], row["conv_lead_to_sql_n"]) == (0.5, 2)


def test_role_views_list_what_they_need_without_activities_and_leads(bare):
    sdr = team.role_view(bare, OCT, "SDR")
    assert sdr.metrics == [] and list(sdr.frame.index) == ["s1"]
    assert set(sdr.unavailable) == set(team.SDR_METRICS)
    assert sdr.messages() == [
        "Calls made, Emails sent, Prospects approached, Appointments set, Leads followed up: "
        "not available: needs activities",
        "Lead response time, Leads answered within 1 hour, Lead to SQL conversion: "
        "not available: needs leads",
    ]
    ae = team.role_view(bare, OCT, "AE")
    assert ae.messages() == ["Meetings held, Proposals sent: not available: needs activities"]
    management = team.role_view(bare, OCT, "management")
    assert "quota_attainment" in management.unavailable
    assert management.metrics == ["total_sales", "win_rate", "sales_cycle_days"]


def test_role_view_without_reps_of_that_role_says_so(bare):
    reps = _reps().assign(role="AE")
    ds = kpikit.Dataset.from_frames(reps=reps, opportunities=_opportunities())
    v = team.role_view(ds, OCT, "SDR")
    assert len(v.frame) == 0
    assert v.messages()[0] == "No reps with role SDR in this dataset (reps.role)"


def test_role_view_rejects_an_unknown_role(ds):
    with pytest.raises(KpikitError, match="use one of management, AE, SDR"):
        team.role_view(ds, OCT, "closer")


def test_management_view_without_teams_shows_the_org_only():
    reps = _reps().drop(columns="team")
    ds = kpikit.Dataset.from_frames(reps=reps, opportunities=_opportunities())
    v = team.role_view(ds, OCT, "management")
    assert list(v.frame.index) == ["All reps"]
    assert "Rows per team: not available: needs reps.team" in v.messages()


# ---------------------------------------------------------------------------- headline, trends


def test_headline_gives_the_orgs_values_with_n_for_rates(ds):
    f = team.headline(ds, OCT, ["total_sales", "win_rate", "calls_made"]).frame
    assert f.loc["total_sales", "value"] == 1600.0 and np.isnan(f.loc["total_sales", "n"])
    # won o1, o3, o4, o6, o8; lost o2, o5, o7 -> 5 of 8
    assert (f.loc["win_rate", "value"], f.loc["win_rate", "n"]) == (0.625, 8.0)
    assert f.loc["calls_made", "value"] == 3


def test_headline_format_puts_the_range_beside_the_rate(ds):
    shown = team.headline(ds, OCT, ["total_sales", "win_rate"]).format()
    assert shown.loc["Total sales", "Value"] == "1,600 USD"
    assert shown.loc["Win rate", "Based on"] == "8"
    assert shown.loc["Total sales", "Likely range (95%)"] == ""


def test_trend_table_gives_the_orgs_numbers_per_period_oldest_first(ds):
    t = team.trend_table(ds, OCT, n=2, metrics=["total_sales", "deals_won", "win_rate"])
    assert list(t.frame.columns) == ["2026-09", "2026-10"]
    # September: o10 won 1,000 alone; October: 1,600 from 5 wins and 3 losses
    assert t.frame.loc["total_sales"].tolist() == [1000.0, 1600.0]
    assert t.frame.loc["deals_won"].tolist() == [1.0, 5.0]
    assert t.frame.loc["win_rate"].tolist() == [1.0, 0.625]
    assert t.format().loc["Win rate", "2026-10"] == "62.5%"


def test_trend_table_lists_unavailable_metrics(bare):
    t = team.trend_table(bare, OCT, n=2, metrics=["total_sales", "quota_attainment"])
    assert t.metrics == ["total_sales"]
    assert t.messages() == ["Quota attainment: not available: needs quotas"]


def test_trend_table_needs_at_least_one_period(ds):
    with pytest.raises(KpikitError, match="use 1 or more"):
        team.trend_table(ds, OCT, n=0)


def test_opportunities_created_counts_the_periods_cohort(ds):
    out = team.opportunities_created(ds, OCT, by="team")
    assert out.to_dict() == {"East": 2, "West": 2}  # o2, o9 | o4, o7


# ---------------------------------------------------------------------------- display


def test_definitions_list_each_metric_shown_once_in_order(ds):
    mgmt = team.role_view(ds, OCT, "management")
    out = team.definitions(mgmt, "win_rate", "sales_by_channel", "opportunities_created")
    # cac is not shown (no customers), so not defined; win_rate is listed once
    shown = [m for m in team.MANAGEMENT_METRICS if m != "cac"]
    assert out["Id"].tolist() == [*shown, "sales_by_channel", "opportunities_created"]
    assert out.loc["Win rate", "Kind"] == "lagging"
    assert out.loc["Win rate", "Needs"] == "opportunities.close_date"
    assert out.loc["Opportunities created", "Formula"].startswith("count of opportunities")


def test_key_numbers_are_plain_text(ds):
    assert team.key_numbers(ds, OCT) == (
        "Period: 2026-10\n"
        "Reps shown: 7 (AE 6, SDR 1)\n"
        "Total sales (org): 1,600 USD\n"
        "Reps at quota: 4 of 6 with a quota (66.7%)"
    )


def test_html_shows_the_table_and_what_is_not_available(bare):
    page = team.reps_side_by_side(bare, OCT, metrics=["win_rate", "calls_made"])._repr_html_()
    assert "<table" in page and "Ann" in page
    assert "50.0%<br><small>9–91%, n=2</small>" in page
    assert "Calls made: not available: needs activities" in page


def test_html_escapes_rep_names():
    reps = pd.DataFrame({"rep_id": ["r1"], "name": ["<b>Al</b>"]})
    ds = kpikit.Dataset.from_frames(reps=reps, opportunities=_one_deal())
    page = team.reps_side_by_side(ds, OCT, metrics=["deals_won"])._repr_html_()
    assert "<b>Al</b>" not in page and "&lt;b&gt;Al&lt;/b&gt;" in page


# ---------------------------------------------------------------------------- the notebook


@pytest.mark.slow
def test_notebook_runs_on_reps_and_opportunities_only(tmp_path):
    import papermill

    data = tmp_path / "data"
    data.mkdir()
    _reps().to_csv(data / "reps.csv", index=False)
    _opportunities().to_csv(data / "opportunities.csv", index=False)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), parameters={"data": str(data)}, progress_bar=False,
        kernel_name="python3",
    )
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/html", ""))
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "Total sales (org): 1,600 USD" in text
    assert "Quota attainment: not available: needs quotas" in text
    assert "not available: needs activities" in text and "not available: needs leads" in text
