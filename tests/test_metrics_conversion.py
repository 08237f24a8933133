"""Conversion metrics, funnel primitives and leakage (docs/funnel.md), on hand-made data."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import kpikit
from kpikit.config import DatasetConfig
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics import conversion as cv
from kpikit.metrics import funnel as fn
from kpikit.metrics.registry import REGISTRY
from kpikit.stats import binomial_test

T = pd.Timestamp


# --------------------------------------------------------------------------- the funnel org
# Reps a and b (team T1), c (team T2, no data). Leads (2026):
#   L1 a created 01-03 qualified 01-04 -> O1     L5 b created 01-10 qualified 01-11 -> O3
#   L2 a created 01-05 qualified 02-10 -> O2     L6 b created 02-01 qualified 02-02 -> O4
#   L3 a created 01-07 never qualified           L7 b created 01-12 qualified 01-13 -> O6
#   L4 a created 01-09 never qualified
# Opportunities (stage_history):
#   O1 a SQL 01-04, Meeting 01-10, Won 01-30 (skips Proposal)            Won  1,000
#   O2 a SQL 02-10, Meeting 02-15, Proposal 02-20                         open   800
#   O3 b SQL 01-11, Meeting 01-15, Proposal 01-20, Meeting 01-22 (back), Lost 01-28
#   O4 b SQL 02-02, Meeting 02-05                                         open
#   O5 b no lead (upsell): SQL 01-20, Proposal 01-25 (skips Meeting), Won 01-29   500
#   O6 b SQL 01-13, Meeting 01-16, Lost 01-25
LEADS = pd.DataFrame(
    {
        "lead_id": ["L1", "L2", "L3", "L4", "L5", "L6", "L7"],
        "rep_id": ["a", "a", "a", "a", "b", "b", "b"],
        "created_at": ["2026-01-03", "2026-01-05", "2026-01-07", "2026-01-09", "2026-01-10",
                       "2026-02-01", "2026-01-12"],
        "qualified_at": ["2026-01-04", "2026-02-10", None, None, "2026-01-11", "2026-02-02",
                         "2026-01-13"],
        "opportunity_id": ["O1", "O2", None, None, "O3", "O4", "O6"],
        "company_size": [50, 200, 10, None, 1000, 30, None],
        "title_level": ["VP", "IC", "C-level", "IC", "Director", "Director", "Manager"],
    }
)
OPPS = pd.DataFrame(
    {
        "opportunity_id": ["O1", "O2", "O3", "O4", "O5", "O6"],
        "rep_id": ["a", "a", "b", "b", "b", "b"],
        "created_at": ["2026-01-04", "2026-02-10", "2026-01-11", "2026-02-02", "2026-01-20",
                       "2026-01-13"],
        "stage": ["Won", "Proposal", "Lost", "Meeting", "Won", "Lost"],
        "amount": [1000.0, 800.0, 300.0, 400.0, 500.0, 200.0],
        "close_date": ["2026-01-30", "2026-03-31", "2026-01-28", "2026-03-31", "2026-01-29",
                       "2026-01-25"],
    }
)
_H = [
    ("O1", "SQL", "2026-01-04"), ("O1", "Meeting", "2026-01-10"), ("O1", "Won", "2026-01-30"),
    ("O2", "SQL", "2026-02-10"), ("O2", "Meeting", "2026-02-15"), ("O2", "Proposal", "2026-02-20"),
    ("O3", "SQL", "2026-01-11"), ("O3", "Meeting", "2026-01-15"), ("O3", "Proposal", "2026-01-20"),
    ("O3", "Meeting", "2026-01-22"), ("O3", "Lost", "2026-01-28"),
    ("O4", "SQL", "2026-02-02"), ("O4", "Meeting", "2026-02-05"),
    ("O5", "SQL", "2026-01-20"), ("O5", "Proposal", "2026-01-25"), ("O5", "Won", "2026-01-29"),
    ("O6", "SQL", "2026-01-13"), ("O6", "Meeting", "2026-01-16"), ("O6", "Lost", "2026-01-25"),
]
HIST = pd.DataFrame(_H, columns=["opportunity_id", "stage", "entered_at"])
REPS = pd.DataFrame({"rep_id": ["a", "b", "c"], "team": ["T1", "T1", "T2"]})


def _org(*, leads=LEADS, opps=OPPS, hist=HIST, reps=REPS, config=None) -> kpikit.Dataset:
    return kpikit.Dataset.from_frames(
        config, reps=reps.copy(), leads=None if leads is None else leads.copy(),
        opportunities=opps.copy(), stage_history=None if hist is None else hist.copy(),
    )


@pytest.fixture(scope="module")
def org() -> kpikit.Dataset:
    return _org()


@pytest.fixture(scope="module")
def org_no_history() -> kpikit.Dataset:
    return _org(hist=None)


def _vals(frame: pd.DataFrame) -> list:
    return [None if pd.isna(v) else round(float(v), 6) for v in frame["value"]]


def _sn(frame: pd.DataFrame) -> list:
    return list(zip(frame["successes"].tolist(), frame["n"].tolist(), strict=True))


# --------------------------------------------------------------------------- stage_reach
def test_stage_reach_counts_a_skipped_stage_as_reached_when_a_later_one_is_entered(org):
    r = fn.stage_reach(org)
    # O1 went Meeting -> Won: it reached Proposal when it was won (01-30)
    assert r.loc["O1", "Proposal"] == T("2026-01-30")
    assert r.loc["O1", "won"] == T("2026-01-30")
    # O5 went SQL -> Proposal: it reached Meeting when it entered Proposal (01-25)
    assert r.loc["O5", "Meeting"] == T("2026-01-25")


def test_stage_reach_keeps_the_first_entry_after_a_backward_move(org):
    r = fn.stage_reach(org)
    # O3: Meeting 01-15, Proposal 01-20, back to Meeting 01-22, Lost
    assert r.loc["O3", "Meeting"] == T("2026-01-15")
    assert r.loc["O3", "Proposal"] == T("2026-01-20")
    assert pd.isna(r.loc["O3", "won"])


def test_stage_reach_marks_every_opportunity_as_reaching_the_stages_before_its_first(org):
    r = fn.stage_reach(org)
    # the default funnel's Lead stage comes before SQL: reached when SQL was
    assert (r["Lead"] == r["SQL"]).all()
    assert r.loc["O2", "SQL"] == T("2026-02-10")
    assert set(r["basis"]) == {"stage_history"}


def test_stage_reach_sets_won_only_for_won_opportunities_and_closed_at_from_close_date(org):
    r = fn.stage_reach(org)
    assert r["won"].notna().tolist() == [True, False, False, False, True, False]
    assert r.loc["O3", "closed_at"] == T("2026-01-28")
    assert pd.isna(r.loc["O2", "closed_at"])  # open: expected close date is not a close


def test_stage_reach_falls_back_to_the_current_stage_without_stage_history(org_no_history):
    r = fn.stage_reach(org_no_history)
    assert set(r["basis"]) == {"current_stage"}
    # O2 is open at Proposal: every stage up to Proposal, at created_at (the only time known)
    assert r.loc["O2", ["Lead", "SQL", "Meeting", "Proposal"]].tolist() == [T("2026-02-10")] * 4
    # O4 is open at Meeting: Proposal not reached
    assert pd.isna(r.loc["O4", "Proposal"]) and r.loc["O4", "Meeting"] == T("2026-02-02")
    # O3 was lost: only known to have reached its entry stage (SQL)
    assert r.loc["O3", "SQL"] == T("2026-01-11") and pd.isna(r.loc["O3", "Meeting"])
    # O1 won: every open stage at created_at, won at its close date
    assert r.loc["O1", "Proposal"] == T("2026-01-04") and r.loc["O1", "won"] == T("2026-01-30")


def test_stage_reach_falls_back_per_opportunity_when_only_some_have_history():
    hist = HIST[HIST["opportunity_id"] != "O2"]
    r = fn.stage_reach(_org(hist=hist))
    assert r.loc["O2", "basis"] == "current_stage" and r.loc["O1", "basis"] == "stage_history"
    assert r.loc["O2", "Proposal"] == T("2026-02-10")


def test_stage_reach_counts_a_current_stage_missing_from_history_at_the_last_entry():
    # O2's history stops at Meeting 02-15 though it is now at Proposal: Proposal reached
    # at the last recorded entry (02-15); O1's Won entry removed: won at close_date 01-30
    hist = HIST[~((HIST["opportunity_id"] == "O2") & (HIST["stage"] == "Proposal"))]
    hist = hist[~((hist["opportunity_id"] == "O1") & (hist["stage"] == "Won"))]
    r = fn.stage_reach(_org(hist=hist))
    assert r.loc["O2", "Proposal"] == T("2026-02-15")
    assert r.loc["O1", "won"] == T("2026-01-30") and r.loc["O1", "Proposal"] == T("2026-01-30")


def test_stage_reach_counts_an_opportunity_lost_at_once_as_reaching_its_entry_stage():
    # O6's history holds only its Lost entry: it was still an SQL (created 01-13)
    hist = HIST[~((HIST["opportunity_id"] == "O6") & (HIST["stage"] != "Lost"))]
    r = fn.stage_reach(_org(hist=hist))
    assert r.loc["O6", "SQL"] == T("2026-01-13") and pd.isna(r.loc["O6", "Meeting"])
    assert r.loc["O6", "basis"] == "stage_history"


def test_stage_reach_does_not_change_the_dataset(org):
    before = {k: v.copy() for k, v in org.tables.items() if v is not None}
    r = fn.stage_reach(org)
    r["extra"] = 1  # a caller adding a column does not touch the cached frame either
    assert "extra" not in fn.stage_reach(org).columns
    for k, v in before.items():
        pd.testing.assert_frame_equal(org.tables[k], v)


# --------------------------------------------------------------------------- lead / sql funnel
def test_lead_funnel_links_leads_through_opportunities_lead_id():
    # no leads.opportunity_id: the link comes from opportunities.lead_id
    leads = LEADS.drop(columns="opportunity_id")
    opps = OPPS.assign(lead_id=["L1", "L2", "L5", "L6", None, "L7"])
    lf = fn.lead_funnel(_org(leads=leads, opps=opps))
    assert lf["opportunity_id"].fillna("-").tolist() == ["O1", "O2", "-", "-", "O3", "O4", "O6"]
    assert lf["won"].tolist() == [True, False, False, False, False, False, False]
    assert lf.loc["L1", "proposal_at"] == T("2026-01-30")


def test_lead_funnel_counts_a_converted_lead_without_qualified_at_as_qualified():
    leads = LEADS.assign(qualified_at=[None, "2026-02-10", None, None, "2026-01-11",
                                       "2026-02-02", "2026-01-13"])
    lf = fn.lead_funnel(_org(leads=leads))
    assert lf.loc["L1", "qualified_at"] == T("2026-01-04")  # O1's created_at
    assert pd.isna(lf.loc["L3", "qualified_at"])


def test_sql_funnel_holds_qualified_leads_and_opportunities_without_a_lead(org):
    f = fn.sql_funnel(org)
    assert f["opportunity_id"].tolist() == ["O1", "O2", "O3", "O4", "O6", "O5"]
    assert f["lead_id"].fillna("-").tolist() == ["L1", "L2", "L5", "L6", "L7", "-"]
    # the SQL time of a lead is qualified_at
    assert f.set_index("opportunity_id").loc["O2", "SQL"] == T("2026-02-10")


# --------------------------------------------------------------------------- conversion rates
def test_conv_lead_to_sql_counts_leads_created_in_the_period_qualified_any_time(org):
    # a: L1, L2 (qualified in Feb, still a success), L3, L4 -> 2/4; b: L5, L7 -> 2/2; c: none
    out = cv.conv_lead_to_sql(org, "2026-01")
    assert list(out.index) == ["a", "b", "c"]
    assert _sn(out) == [(2, 4), (2, 2), (0, 0)]
    assert _vals(out) == [0.5, 1.0, None]


def test_conv_lead_to_sql_pools_a_team_rather_than_averaging_rep_rates(org):
    # T1: (2 + 2) / (4 + 2) = 0.6667, not mean(0.5, 1.0) = 0.75; T2 has no leads: NaN
    out = cv.conv_lead_to_sql(org, "2026-01", by="team")
    assert list(out.index) == ["T1", "T2"]
    assert _vals(out) == [round(4 / 6, 6), None]
    org_out = cv.conv_lead_to_sql(org, "2026-01", by="org")
    assert _sn(org_out) == [(4, 6)]


def test_conv_sql_to_meeting_includes_opportunities_without_a_lead(org):
    # Jan SQLs: a: L1/O1 (met) -> 1/1; b: L5/O3, L7/O6 (met) and O5 (no lead, skipped
    # Meeting to Proposal: reached it) -> 3/3. Feb: a: L2/O2 -> 1/1, b: L6/O4 -> 1/1
    assert _sn(cv.conv_sql_to_meeting(org, "2026-01")) == [(1, 1), (3, 3), (0, 0)]
    assert _sn(cv.conv_sql_to_meeting(org, "2026-02")) == [(1, 1), (1, 1), (0, 0)]


def test_conv_meeting_to_proposal_counts_skips_and_backward_moves_once(org):
    # Jan meeting entries: a: O1 (01-10, reached Proposal by winning) -> 1/1;
    # b: O3 (01-15, proposal 01-20), O5 (01-25, via Proposal), O6 (01-16, lost) -> 2/3
    out = cv.conv_meeting_to_proposal(org, "2026-01")
    assert _sn(out) == [(1, 1), (2, 3), (0, 0)]
    assert out.attrs["basis"] == "stage_history"


def test_conv_proposal_to_won_uses_the_proposal_cohort(org):
    # Jan proposal entries: a: O1 (01-30, won) -> 1/1; b: O3 (lost), O5 (won) -> 1/2
    assert _vals(cv.conv_proposal_to_won(org, "2026-01")) == [1.0, 0.5, None]
    # Feb: a: O2 (02-20, open) -> 0/1; b: none -> NaN (not 0)
    assert _vals(cv.conv_proposal_to_won(org, "2026-02")) == [0.0, None, None]


def test_conv_lead_and_sql_to_customer_are_end_to_end(org):
    # leads created in Jan: a: L1 won, L2 open, L3, L4 -> 1/4; b: L5 lost, L7 lost -> 0/2
    assert _sn(cv.conv_lead_to_customer(org, "2026-01")) == [(1, 4), (0, 2), (0, 0)]
    # Jan SQLs: a: O1 won -> 1/1; b: O3, O6 lost, O5 won -> 1/3
    assert _sn(cv.conv_sql_to_customer(org, "2026-01")) == [(1, 1), (1, 3), (0, 0)]


def test_conversion_falls_back_to_the_current_stage_without_stage_history(org_no_history):
    # Lost O3 and O6 are only known to have reached SQL; O5 (won) reached every stage
    # at created_at 01-20: b's Jan SQLs L5/O3, L7/O6, O5 -> 1/3 reached Meeting
    out = cv.conv_sql_to_meeting(org_no_history, "2026-01")
    assert _sn(out) == [(1, 1), (1, 3), (0, 0)]
    assert out.attrs["basis"] == "current_stage"
    # meeting cohort = opportunities created in Jan that reached Meeting: a: O1, b: O5
    assert _sn(cv.conv_meeting_to_proposal(org_no_history, "2026-01")) == [(1, 1), (1, 1),
                                                                             (0, 0)]


def test_conv_sql_to_meeting_uses_opportunities_created_when_there_are_no_leads():
    ds = _org(leads=None)
    # Jan opportunities: a: O1; b: O3, O5, O6 -> all reached Meeting
    assert _sn(cv.conv_sql_to_meeting(ds, "2026-01")) == [(1, 1), (3, 3), (0, 0)]


def test_conversion_counts_sqls_for_the_opportunity_owner_and_leads_for_the_lead_owner():
    # L5 belongs to SDR b but its opportunity O3 to AE a: lead->SQL is b's, SQL->meeting a's
    opps = OPPS.assign(rep_id=["a", "a", "a", "b", "b", "b"])
    ds = _org(opps=opps)
    assert _sn(cv.conv_lead_to_sql(ds, "2026-01")) == [(2, 4), (2, 2), (0, 0)]
    assert _sn(cv.conv_sql_to_meeting(ds, "2026-01")) == [(2, 2), (2, 2), (0, 0)]


# --------------------------------------------------------------------------- missing inputs
def test_lead_metrics_need_the_leads_table():
    ds = _org(leads=None)
    with pytest.raises(MissingDataError) as e:
        cv.conv_lead_to_sql(ds, "2026-01")
    assert e.value.needs == ("leads",) and "conv_lead_to_sql" in str(e.value)


def test_conv_lead_to_sql_needs_qualified_at_or_a_link():
    ds = _org(leads=LEADS.drop(columns=["qualified_at", "opportunity_id"]))
    with pytest.raises(MissingDataError) as e:
        cv.conv_lead_to_sql(ds, "2026-01")
    assert e.value.needs == ("leads.qualified_at",)


def test_conv_lead_to_customer_needs_a_lead_opportunity_link():
    ds = _org(leads=LEADS.drop(columns=["opportunity_id"]))
    with pytest.raises(MissingDataError, match=r"leads\.opportunity_id \(or opportunities\.lead_id\)"):
        cv.conv_lead_to_customer(ds, "2026-01")
    # without links the SQL cohort comes from the opportunities alone (no double count)
    assert _sn(cv.conv_sql_to_meeting(ds, "2026-01")) == [(1, 1), (3, 3), (0, 0)]


def test_qualified_prospect_metrics_need_their_lead_columns():
    ds = _org(leads=LEADS.drop(columns=["company_size", "title_level"]))
    with pytest.raises(MissingDataError, match="needs leads.company_size"):
        cv.qualified_prospect_size(ds, "2026-01")
    with pytest.raises(MissingDataError, match="needs leads.title_level"):
        cv.qualified_prospect_level(ds, "2026-01")


def test_a_funnel_without_a_meeting_or_proposal_stage_names_the_missing_setting():
    cfg = DatasetConfig.from_dict(
        {"stages": {"order": ["Qualified", "Demo", "Quote"], "won": ["Signed"],
                    "lost": ["Dropped"]}}
    )
    assert cfg.stages.meeting is None and cfg.stages.proposal is None
    opps = pd.DataFrame({"opportunity_id": ["x"], "rep_id": ["a"], "created_at": ["2026-01-02"],
                         "stage": ["Demo"], "amount": [1.0]})
    ds = kpikit.Dataset.from_frames(cfg, reps=REPS, opportunities=opps)
    with pytest.raises(MissingDataError, match=r"needs dataset\.toml \[stages\]\.meeting"):
        cv.conv_sql_to_meeting(ds, "2026-01")
    with pytest.raises(MissingDataError, match=r"needs dataset\.toml \[stages\]\.meeting"):
        cv.conv_meeting_to_proposal(ds, "2026-01")
    with pytest.raises(MissingDataError, match=r"needs dataset\.toml \[stages\]\.proposal"):
        cv.conv_proposal_to_won(ds, "2026-01")
    # the configured pairs still work: Qualified -> Demo 1/1, Demo -> Quote 0/1
    sc = cv.stage_conversion(ds, "2026-01").loc["a"]
    assert list(sc.index) == ["Qualified -> Demo", "Demo -> Quote", "Quote -> Signed"]
    assert _sn(sc) == [(1, 1), (0, 1), (0, 0)]


def test_an_unknown_grouping_is_a_clear_error(org):
    with pytest.raises(KpikitError, match="not a grouping"):
        cv.conv_lead_to_sql(org, "2026-01", by="region")


# --------------------------------------------------------------------------- stage_conversion
def test_stage_conversion_gives_every_consecutive_pair_for_every_rep(org):
    sc = cv.stage_conversion(org, "2026-01")
    labels = ["Lead -> SQL", "SQL -> Meeting", "Meeting -> Proposal", "Proposal -> Won"]
    assert sc.index.names == ["rep_id", "transition"]
    assert list(sc.index) == [(r, t) for r in ["a", "b", "c"] for t in labels]
    # b: leads 2/2, SQLs 3/3, meetings 2/3, proposals 1/2 (the conv_* rates)
    assert _sn(sc.loc["b"]) == [(2, 2), (3, 3), (2, 3), (1, 2)]
    assert sc.loc[("b", "Meeting -> Proposal"), ["from_stage", "to_stage"]].tolist() == [
        "Meeting", "Proposal"]
    assert sc.loc["c", "value"].isna().all()


def test_stage_conversion_by_team_pools_counts(org):
    sc = cv.stage_conversion(org, "2026-01", by="team")
    # T1 = a + b: leads 4/6, SQLs 4/4, meetings 3/4, proposals 2/3
    assert _sn(sc.loc["T1"]) == [(4, 6), (4, 4), (3, 4), (2, 3)]


def test_stage_conversion_follows_a_custom_stage_configuration():
    cfg = DatasetConfig.from_dict(
        {"stages": {"order": ["Qualification", "Discovery", "Proposal", "Negotiation"],
                    "won": ["Closed Won"], "lost": ["Closed Lost"]}}
    )
    assert (cfg.stages.sql, cfg.stages.meeting, cfg.stages.proposal) == (
        "Qualification", "Discovery", "Proposal")
    opps = pd.DataFrame({
        "opportunity_id": ["P1", "P2", "P3"], "rep_id": ["a"] * 3,
        "created_at": ["2026-03-02", "2026-03-03", "2026-03-04"],
        "stage": ["Closed Won", "Closed Lost", "Closed Lost"], "amount": [10.0, 20.0, 30.0],
    })
    hist = pd.DataFrame(
        [("P1", "Qualification", "2026-03-02"), ("P1", "Discovery", "2026-03-05"),
         ("P1", "Proposal", "2026-03-10"), ("P1", "Negotiation", "2026-03-15"),
         ("P1", "Closed Won", "2026-03-20"),
         ("P2", "Qualification", "2026-03-03"), ("P2", "Discovery", "2026-03-06"),
         ("P2", "Negotiation", "2026-03-12"), ("P2", "Closed Lost", "2026-03-18"),
         ("P3", "Qualification", "2026-03-04"), ("P3", "Closed Lost", "2026-03-08")],
        columns=["opportunity_id", "stage", "entered_at"])
    ds = kpikit.Dataset.from_frames(cfg, reps=REPS, opportunities=opps, stage_history=hist)
    sc = cv.stage_conversion(ds, "2026-03").loc["a"]
    # P2 skipped Proposal (Discovery -> Negotiation): it reached Proposal
    assert list(sc.index) == ["Qualification -> Discovery", "Discovery -> Proposal",
                              "Proposal -> Negotiation", "Negotiation -> Closed Won"]
    assert _sn(sc) == [(2, 3), (2, 2), (2, 2), (1, 2)]
    assert _vals(cv.conv_sql_to_meeting(ds, "2026-03"))[0] == round(2 / 3, 6)
    assert _sn(cv.conv_proposal_to_won(ds, "2026-03"))[0] == (1, 2)


# --------------------------------------------------------------------------- lead quality
def test_pct_leads_qualified_counts_qualifications_up_to_the_period_end(org):
    # a: L2 was qualified in Feb, so by Jan's end only L1 of 4 -> 0.25; b: 2/2
    assert _vals(cv.pct_leads_qualified(org, "2026-01")) == [0.25, 1.0, None]
    # basis="cohort" counts any time: the same as conv_lead_to_sql
    assert _vals(cv.pct_leads_qualified(org, "2026-01", basis="cohort")) == [0.5, 1.0, None]
    with pytest.raises(KpikitError, match="basis"):
        cv.pct_leads_qualified(org, "2026-01", basis="ever")


def test_pct_leads_qualified_by_stage_follows_leads_down_the_funnel(org):
    # Jan leads L1-L4, L5, L7 (6). Any time: SQL L1 L2 L5 L7 = 4; Meeting O1 O2 O3 O6 = 4;
    # Proposal O1 O2 O3 = 3; Won O1 = 1. By Jan's end: SQL 3 (not L2), Meeting 3
    # (O1 01-10, O3 01-15, O6 01-16), Proposal 2 (O1 01-30, O3 01-20), Won 1
    out = cv.pct_leads_qualified_by_stage(org, "2026-01", by="org", basis="cohort")
    assert list(out.index.get_level_values("stage")) == ["SQL", "Meeting", "Proposal", "Won"]
    assert _sn(out) == [(4, 6), (4, 6), (3, 6), (1, 6)]
    out = cv.pct_leads_qualified_by_stage(org, "2026-01", by="org")
    assert _sn(out) == [(3, 6), (3, 6), (2, 6), (1, 6)]


def test_qualified_prospect_size_is_the_median_company_size_of_qualified_leads(org):
    # Jan qualifications: a: L1 (50); b: L5 (1000), L7 (no size) -> 1000; c: NaN
    out = cv.qualified_prospect_size(org, "2026-01")
    assert out.name == "qualified_prospect_size"
    assert out.tolist()[:2] == [50.0, 1000.0] and math.isnan(out["c"])
    # team T1 pools 50 and 1000: median 525
    assert cv.qualified_prospect_size(org, "2026-01", by="team")["T1"] == 525.0
    # Feb: a: L2 (200); b: L6 (30)
    assert cv.qualified_prospect_size(org, "2026-02").tolist()[:2] == [200.0, 30.0]


def test_qualified_prospect_level_is_the_most_common_level_ties_to_the_senior_one(org):
    # Jan: a: L1 VP; b: L5 Director, L7 Manager (a tie: Director is more senior); c: none
    out = cv.qualified_prospect_level(org, "2026-01")
    assert out["a"] == "VP" and out["b"] == "Director" and pd.isna(out["c"])
    # team T1: VP, Director, Manager once each -> VP
    assert cv.qualified_prospect_level(org, "2026-01", by="team")["T1"] == "VP"


# --------------------------------------------------------------------------- win probability
def test_stage_win_probability_is_won_over_closed_that_reached_the_stage(org):
    # closed: O1 won, O3 lost, O5 won, O6 lost. Reached Meeting: all 4 -> 2/4;
    # reached Proposal: O1 (by winning), O3, O5 -> 2/3
    p = fn.stage_win_probability(org, by="org").loc["all reps"]
    assert list(p.index) == ["Lead", "SQL", "Meeting", "Proposal"]
    assert _sn(p) == [(2, 4), (2, 4), (2, 4), (2, 3)]
    by_rep = fn.stage_win_probability(org)
    assert _sn(by_rep.loc["b"]) == [(1, 3), (1, 3), (1, 3), (1, 2)]
    assert by_rep.loc["c", "value"].isna().all()


def test_stage_win_probability_as_of_only_uses_deals_closed_before_it(org):
    # before 01-29: only O6 (01-25) and O3 (01-28) had closed, both lost
    p = fn.stage_win_probability(org, as_of=T("2026-01-29"), by="org").loc["all reps"]
    assert _sn(p) == [(0, 2), (0, 2), (0, 2), (0, 1)]
    # a period means its end: everything closed in January counts
    assert _sn(fn.stage_win_probability(org, as_of="2026-01", by="org"))[3] == (2, 3)


# --------------------------------------------------------------------------- leakage
def _team_org() -> kpikit.Dataset:
    """Team A: r1-r5 identical, r6 weak at meeting -> proposal; team B (small): r7 weak at
    SQL -> meeting, r8 normal, r9 without any deal.

    Per rep: (SQLs, meetings, proposals, won); every SQL created 2026-01-05, meeting on
    01-10, proposal 01-15, won / lost on 01-20. Amounts 1,000 except r6's win (2,000).
    """
    counts = {f"r{i}": (10, 8, 4, 2) for i in range(1, 6)}
    counts |= {"r6": (10, 8, 1, 1), "r7": (10, 4, 2, 1), "r8": (10, 8, 4, 2)}
    opps, hist = [], []
    for rep, (n, m, p, w) in counts.items():
        for k in range(n):
            oid = f"{rep}-{k}"
            won = k < w
            opps.append((oid, rep, "2026-01-05", "Won" if won else "Lost",
                         2000.0 if rep == "r6" and won else 1000.0))
            hist.append((oid, "SQL", "2026-01-05"))
            if k < m:
                hist.append((oid, "Meeting", "2026-01-10"))
            if k < p:
                hist.append((oid, "Proposal", "2026-01-15"))
            hist.append((oid, "Won" if won else "Lost", "2026-01-20"))
    reps = pd.DataFrame({"rep_id": [f"r{i}" for i in range(1, 10)],
                         "team": ["A"] * 6 + ["B"] * 3})
    return kpikit.Dataset.from_frames(
        reps=reps,
        opportunities=pd.DataFrame(opps, columns=["opportunity_id", "rep_id", "created_at",
                                                  "stage", "amount"]),
        stage_history=pd.DataFrame(hist, columns=["opportunity_id", "stage", "entered_at"]),
    )


@pytest.fixture(scope="module")
def team_org() -> kpikit.Dataset:
    return _team_org()


def test_leakage_finds_the_weak_stage_against_the_team_without_the_rep(team_org):
    lk = cv.leakage(team_org, "2026-01")
    r6 = lk.loc["r6"]
    # r6 meeting -> proposal 1/8 = 0.125; team A without r6: 20 proposals / 40 meetings = 0.5
    assert r6["stage"] == "Meeting -> Proposal"
    assert r6["rep_rate"] == 0.125 and r6["rep_n"] == 8
    assert r6["benchmark_rate"] == 0.5 and r6["benchmark_basis"] == "team"
    assert r6["shortfall"] == 0.375
    # one-sided exact binomial: P(X <= 1 | 8, 0.5) = (1 + 8) / 256
    assert r6["p_value"] == pytest.approx(9 / 256, abs=1e-12)
    # r6 has 1 proposal (n < 5): downstream uses the team's proposal -> won without r6,
    # 10 / 20 = 0.5. Extra deals = 0.375 x 8 x 0.5 = 1.5; x r6's average win 2,000
    assert r6["extra_deals"] == pytest.approx(1.5)
    assert r6["extra_revenue"] == pytest.approx(3000.0)


def test_leakage_leaves_reps_at_the_benchmark_without_a_leakage_stage(team_org):
    lk = cv.leakage(team_org, "2026-01")
    # r1-r5: SQL->meeting 8/10 = team 40/50, meeting->proposal 4/8 above 17/40; their
    # proposal step (n = 4) is below the minimum of 5. r9 has no deals at all.
    for rep in ["r1", "r2", "r3", "r4", "r5", "r8", "r9"]:
        assert lk.loc[rep, "stage"] is None
        assert math.isnan(lk.loc[rep, "extra_revenue"])
    assert list(lk.columns) == ["stage", "rep_rate", "rep_n", "benchmark_rate",
                                "benchmark_basis", "shortfall", "p_value", "extra_deals",
                                "extra_revenue"]
    assert list(lk.index) == [f"r{i}" for i in range(1, 10)]


def test_leakage_falls_back_to_the_org_for_a_team_under_min_group(team_org):
    r7 = cv.leakage(team_org, "2026-01").loc["r7"]
    # team B has 3 reps (< 5): benchmark = the org without r7. SQL -> meeting: org
    # 60 meetings / 80 SQLs, without r7 (4/10): 56 / 70 = 0.8; r7 0.4, shortfall 0.4
    assert r7["stage"] == "SQL -> Meeting" and r7["benchmark_basis"] == "org"
    assert r7["benchmark_rate"] == pytest.approx(0.8) and r7["shortfall"] == pytest.approx(0.4)
    assert r7["p_value"] == pytest.approx(binomtest(4, 10, 0.8, alternative="less").pvalue)
    # downstream: r7's meeting -> proposal (2/4) and proposal -> won (1/2) have n < 5, so
    # the org's without r7: 25/56 and 13/25; extra deals = 0.4 x 10 x 25/56 x 13/25 = 13/14
    assert r7["extra_deals"] == pytest.approx(13 / 14)
    assert r7["extra_revenue"] == pytest.approx(13 / 14 * 1000)
    # with min_group=3 team B is big enough: benchmark = r8 + r9 = 8 / 10
    r7_team = cv.leakage(team_org, "2026-01", min_group=3).loc["r7"]
    assert r7_team["benchmark_basis"] == "team" and r7_team["benchmark_rate"] == 0.8


def test_leakage_by_transition_lists_every_step_with_its_benchmark(team_org):
    d = cv.leakage_by_transition(team_org, "2026-01")
    r6 = d.loc["r6"]
    assert list(r6.index) == ["SQL -> Meeting", "Meeting -> Proposal", "Proposal -> Won"]
    # SQL -> meeting 8/10 vs team 40/50: no shortfall, no extra deals
    assert r6.loc["SQL -> Meeting", "shortfall"] == 0.0
    assert r6.loc["SQL -> Meeting", "extra_deals"] == 0.0
    assert r6["benchmark_n"].tolist() == [50, 40, 20]
    assert r6["measurable"].tolist() == [True, True, False]


def test_leakage_ranks_steps_by_revenue_not_by_raw_shortfall():
    # No teams: benchmark = the other rep. y: 10 SQLs, 10 meetings, 5 proposals, 1 won.
    # x: 20 SQLs, 10 meetings (0.5 vs 1.0: shortfall 0.5), 2 proposals (0.2 vs 0.5:
    # shortfall 0.3), 1 won (n = 2 < 5: downstream uses y's 0.2).
    # SQL step: 0.5 x 20 x (0.2 x 0.2) = 0.4 deals; meeting step: 0.3 x 10 x 0.2 = 0.6
    rows, hist = [], []
    for rep, (n, m, p, w) in {"x": (20, 10, 2, 1), "y": (10, 10, 5, 1)}.items():
        for k in range(n):
            oid = f"{rep}{k}"
            rows.append((oid, rep, "2026-04-01", "Won" if k < w else "Lost", 1000.0))
            hist += [(oid, "SQL", "2026-04-01")]
            hist += [(oid, "Meeting", "2026-04-02")] if k < m else []
            hist += [(oid, "Proposal", "2026-04-03")] if k < p else []
            hist += [(oid, "Won" if k < w else "Lost", "2026-04-04")]
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": ["x", "y"]}),
        opportunities=pd.DataFrame(rows, columns=["opportunity_id", "rep_id", "created_at",
                                                  "stage", "amount"]),
        stage_history=pd.DataFrame(hist, columns=["opportunity_id", "stage", "entered_at"]),
    )
    d = cv.leakage_by_transition(ds, "2026-04").loc["x"]
    assert d["extra_deals"].round(9).tolist()[:2] == [0.4, 0.6]
    x = cv.leakage(ds, "2026-04").loc["x"]
    assert x["stage"] == "Meeting -> Proposal" and x["benchmark_basis"] == "org"
    assert x["extra_revenue"] == pytest.approx(600.0)
    # y wins 1 of 5 proposals against x's 1 of 2: its leak is proposal -> won
    # (0.3 x 5 = 1.5 deals)
    assert cv.leakage_stage(ds, "2026-04").tolist() == ["Meeting -> Proposal", "Proposal -> Won"]
    assert cv.leakage(ds, "2026-04").loc["y", "extra_deals"] == pytest.approx(1.5)


def test_leakage_stage_is_registered_for_reps_only(team_org):
    s = cv.leakage_stage(team_org, "2026-01")
    assert s.name == "leakage_stage" and s["r6"] == "Meeting -> Proposal"
    with pytest.raises(KpikitError, match="by='rep'"):
        cv.leakage_stage(team_org, "2026-01", by="team")
    d = REGISTRY["leakage_stage"]
    assert (d.unit, d.higher_is_better, d.groupings) == ("text", None, ("rep",))


def test_leakage_rejects_an_unknown_benchmark(team_org):
    with pytest.raises(KpikitError, match="benchmark='region'"):
        cv.leakage(team_org, "2026-01", benchmark="region")


# --------------------------------------------------------------------------- stats, registry
def test_binomial_test_matches_scipy_and_is_nan_without_a_sample():
    k, n, p = [0, 3, 7, 2], [5, 10, 10, 0], [0.3, 0.5, 0.6, 0.5]
    got = binomial_test(k, n, p)
    want = [binomtest(a, b, c, alternative="less").pvalue for a, b, c in zip(k[:3], n[:3], p[:3],
                                                                             strict=True)]
    np.testing.assert_allclose(got[:3], want, rtol=1e-12)
    assert math.isnan(got[3])
    assert float(binomial_test(7, 10, 0.6, alternative="greater")) == pytest.approx(
        binomtest(7, 10, 0.6, alternative="greater").pvalue)


def test_every_conversion_metric_is_registered_with_its_shape():
    ids = ["conv_lead_to_sql", "conv_sql_to_meeting", "conv_meeting_to_proposal",
           "conv_proposal_to_won", "conv_lead_to_customer", "conv_sql_to_customer",
           "stage_conversion", "pct_leads_qualified", "qualified_prospect_size",
           "qualified_prospect_level", "leakage_stage"]
    for i in ids:
        d = REGISTRY[i]
        assert d.theme == "conversion" and d.indicator == "leading", i
    assert REGISTRY["stage_conversion"].shape == "breakdown"
    assert REGISTRY["qualified_prospect_level"].unit == "text"
    assert REGISTRY["conv_lead_to_sql"].unit == "fraction"


CONVERSION_IDS = [i for i, d in REGISTRY.items() if d.func.__module__ == cv.__name__]


@pytest.mark.parametrize("metric_id", CONVERSION_IDS)
def test_conversion_metrics_do_not_depend_on_row_order(org, metric_id):
    # every table reversed (and re-indexed): the same numbers for every rep
    def rev(df):
        return df.iloc[::-1].reset_index(drop=True)

    shuffled = _org(leads=rev(LEADS), opps=rev(OPPS), hist=rev(HIST), reps=rev(REPS))
    f = REGISTRY[metric_id].func
    a, b = f(org, "2026-01"), f(shuffled, "2026-01")
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b.loc[a.index], check_like=True)
    else:
        pd.testing.assert_series_equal(a, b.loc[a.index])
