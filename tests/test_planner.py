"""Tests for the reverse-funnel planner (kpikit.planner).

Every expected number is worked by hand in a comment next to the test.
"""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from kpikit.errors import KpikitError
from kpikit.planner import (
    STAGES,
    PlanError,
    Rate,
    parse_rate_args,
    plan,
)

# the articles' first worked example: 8 deals, 80% / 40% / 50%
ARTICLE_RATES = {"proposal_to_won": 0.8, "meeting_to_proposal": 0.4, "sql_to_meeting": 0.5}


def _full_rates(**over):
    """All stage rates plus outreach; leads = ceil(50 / 0.5) = 100, touches = ceil(100 / 0.2) = 500."""
    return {**ARTICLE_RATES, "lead_to_sql": 0.5, "outreach_to_lead": 0.2, **over}


# ------------------------------------------------------------------------------- worked examples


def test_worked_example_8_deals_needs_10_proposals_25_meetings_50_sqls():
    # 8 / 0.8 = 10 proposals; 10 / 0.4 = 25 meetings; 25 / 0.5 = 50 SQLs
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20)
    d = p.to_dict()
    assert (d["deals"], d["proposals"], d["meetings"], d["sqls"]) == (8, 10, 25, 50)
    assert [s.stage for s in p.steps] == ["deals", "proposals", "meetings", "sqls"]


def test_worked_example_100k_quota_at_5k_deal_is_20_deals_and_200_leads_at_10_percent():
    # 100,000 / 5,000 = 20 deals; 20 / 0.10 = 200 leads
    p = plan(goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.10}, working_days=20)
    assert p.deals == 20
    assert p.to_dict()["leads"] == 200


def test_explain_lists_the_math_a_rep_can_check():
    p = plan(goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.10}, working_days=20)
    assert p.explain()[:3] == [
        "goal = 100,000",
        "deals = ceil(100,000 / 5,000) = 20",
        "leads = ceil(20 / 0.10) = 200",
    ]
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20)
    assert "proposals = ceil(8 / 0.80) = 10" in p.explain()
    assert p.step("meetings").formula_text == "meetings = ceil(10 / 0.40) = 25"


# ------------------------------------------------------------------------------------ rounding


def test_each_step_rounds_a_partial_requirement_up():
    # 10 / 0.8 = 12.5 -> 13 proposals; 13 / 0.4 = 32.5 -> 33 meetings; 33 / 0.5 = 66 SQLs
    d = plan(deals=10, rates=ARTICLE_RATES, working_days=20).to_dict()
    assert (d["proposals"], d["meetings"], d["sqls"]) == (13, 33, 66)


def test_goal_not_a_multiple_of_avg_deal_rounds_deals_up():
    # 101,000 / 5,000 = 20.2 -> 21 deals
    assert plan(goal=101_000, avg_deal=5_000, rates={"lead_to_customer": 0.1},
                working_days=20).deals == 21


@pytest.mark.parametrize(
    ("deals", "rate", "expected"),
    [
        (21, 0.7, 30),  # 21 / 0.7 = 30.000000000000004 in floats: still 30, not 31
        (42, 0.35, 120),  # 42 / 0.35 = 120.00000000000001 in floats: still 120
        (8, 0.8, 10),
        (21, Rate.from_counts(7, 10), 30),  # a rate from counts, 7 / 10, same noise
    ],
)
def test_ceil_ignores_float_artefacts(deals, rate, expected):
    p = plan(deals=deals, rates={"proposal_to_won": rate}, working_days=20)
    assert p.to_dict()["proposals"] == expected


def test_naive_ceil_would_be_wrong_for_21_at_70_percent():
    # guards the test above: the artefact really exists on this platform
    assert math.ceil(21 / 0.7) == 31


# ----------------------------------------------------------------------------- which stages


def test_walk_stops_at_first_missing_rate_and_notes_unused_rates():
    # meeting_to_proposal missing: only proposals are planned; sql_to_meeting cannot be used
    p = plan(deals=8, rates={"proposal_to_won": 0.8, "sql_to_meeting": 0.5}, working_days=20)
    d = p.to_dict()
    assert d["proposals"] == 10
    assert d["meetings"] is None and d["sqls"] is None
    assert (
        "sql_to_meeting not used: the walk stops at proposals because meeting_to_proposal "
        "is not given" in p.notes
    )


def test_lead_to_customer_shortcut_skips_intermediate_stages():
    d = plan(deals=20, rates={"lead_to_customer": 0.1}, working_days=20).to_dict()
    assert d["leads"] == 200
    assert d["proposals"] is None and d["meetings"] is None and d["sqls"] is None


def test_lead_to_customer_fills_leads_when_stage_chain_stops_short():
    # proposals from proposal_to_won (8 / 0.8 = 10); leads from deals (8 / 0.1 = 80)
    p = plan(deals=8, rates={"proposal_to_won": 0.8, "lead_to_customer": 0.1}, working_days=20)
    d = p.to_dict()
    assert (d["proposals"], d["meetings"], d["leads"]) == (10, None, 80)
    assert p.step("leads").formula_text == "leads = ceil(8 / 0.10) = 80"


def test_stage_rates_reaching_leads_take_precedence_over_lead_to_customer():
    # stage chain: 50 SQLs / 0.5 = 100 leads (lead_to_customer would give 8 / 0.5 = 16)
    p = plan(deals=8, rates=_full_rates(lead_to_customer=0.5), working_days=20)
    assert p.to_dict()["leads"] == 100
    assert "lead_to_customer not used: the stage rates reach leads" in p.notes


def test_touches_sit_on_top_of_leads():
    # 100 leads / 0.2 = 500 touches
    assert plan(deals=8, rates=_full_rates(), working_days=20).to_dict()["touches"] == 500


def test_outreach_rate_unused_when_walk_does_not_reach_leads():
    p = plan(deals=8, rates={**ARTICLE_RATES, "outreach_to_lead": 0.2}, working_days=20)
    assert p.to_dict()["touches"] is None
    assert "outreach_to_lead not used: the walk stops at sqls, below leads" in p.notes


def test_notes_say_where_each_rate_came_from():
    rates = {"proposal_to_won": Rate.from_counts(8, 10, window="2026-01..2026-06")}
    p = plan(deals=8, rates=rates, working_days=20)
    assert (
        "proposal_to_won = 0.80: rep history (8 won of 10 proposals, 2026-01..2026-06)" in p.notes
    )
    assert p.step("proposals").rate_source == "rep"


# ------------------------------------------------------------------------------ pipeline gap


def test_remaining_gap_subtracts_won_and_weighted_pipeline():
    # 100,000 - 20,000 won - 15,500 pipeline = 64,500; 64,500 / 5,000 = 12.9 -> 13 deals
    p = plan(goal=100_000, avg_deal=5_000, won_so_far=20_000, weighted_pipeline=15_500,
             rates={"proposal_to_won": 0.8}, working_days=20)
    assert p.remaining == 64_500
    assert p.deals == 13
    assert p.to_dict()["proposals"] == 17  # 13 / 0.8 = 16.25 -> 17
    assert (
        "remaining = max(100,000 - 20,000 won - 15,500 pipeline, 0) = 64,500" in p.explain()
    )


def test_goal_covered_by_won_and_pipeline_plans_nothing():
    # 50,000 - 30,000 - 25,000 < 0 -> remaining 0, no deals, nothing more to plan
    p = plan(goal=50_000, avg_deal=5_000, won_so_far=30_000, weighted_pipeline=25_000,
             rates={"proposal_to_won": 0.8}, working_days=20)
    assert p.remaining == 0
    assert p.covered
    assert p.to_dict()["deals"] == 0 and p.to_dict()["proposals"] == 0
    assert p.summary() == "goal covered: nothing more to plan"
    assert p.notes[0] == "goal covered: won deals and the weighted pipeline reach the goal"


def test_deals_with_avg_deal_subtract_the_pipeline_too():
    # 10 deals x 1,000 = 10,000; minus 2,500 won = 7,500 -> 8 deals
    p = plan(deals=10, avg_deal=1_000, won_so_far=2_500, rates={"proposal_to_won": 0.8},
             working_days=20)
    assert (p.goal, p.remaining, p.deals) == (10_000, 7_500, 8)


# ----------------------------------------------------------------------------- spreading


def test_requirements_spread_over_working_days_and_default_weeks():
    # 20 working days = 4 weeks. touches 500: 25.0 a day, 125.0 a week;
    # meetings 25: 1.25 -> 1.2 a day (round half to even of 1.25 is 1.2), 6.25 -> 6.2 a week
    p = plan(deals=8, rates=_full_rates(), working_days=20)
    assert p.weeks == 4
    t, m = p.step("touches"), p.step("meetings")
    assert (t.per_day, t.per_week, t.per_day_ceil) == (25.0, 125.0, 25)
    assert (m.per_day, m.per_week, m.per_day_ceil, m.per_week_ceil) == (1.2, 6.2, 2, 7)


def test_per_day_has_one_decimal_and_explicit_weeks_override_default():
    # 25 meetings / 21 days = 1.19 -> 1.2; 25 / 5 weeks = 5.0
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=21, weeks=5)
    assert p.step("meetings").per_day == 1.2
    assert p.step("meetings").per_week == 5.0


def test_summary_reads_daily_for_busy_stages_and_weekly_for_the_rest():
    # a day when >= 3 a day: touches 25, leads 5; else a week (4 weeks):
    # SQLs 50 / 4 = 12.5 -> 13, meetings 6.25 -> 7, proposals 2.5 -> 3, deals 2
    p = plan(deals=8, rates=_full_rates(), working_days=20)
    assert p.summary() == (
        "25 touches a day, 5 leads a day, 13 SQLs a week, 7 meetings a week, "
        "3 proposals a week, 2 deals a week"
    )


def test_rhythm_uses_singular_for_one():
    # 4 deals over 4 weeks: 1 deal a week
    assert plan(deals=4, rates={"proposal_to_won": 1.0}, working_days=20).rhythm()[-1] == (
        "1 deal a week"
    )


# --------------------------------------------------------------------------- time-phasing


def test_latest_lead_date_is_period_end_minus_median_cycle():
    # last day of 2026-Q4 is 31 Dec 2026; minus 47 days = 14 Nov 2026
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, period="2026-Q4",
             median_cycle_days=47)
    assert p.latest_lead_date == date(2026, 11, 14)
    assert any(n.startswith("leads created after 14 Nov 2026 are unlikely to close this period")
               for n in p.notes)
    assert "latest lead date = 31 Dec 2026 - 47 days = 14 Nov 2026" in p.explain()


def test_fractional_cycle_rounds_up_to_whole_days():
    # 46.2 days -> 47 days -> 14 Nov 2026 (a 46.2-day cycle from 15 Nov ends after 31 Dec)
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, period="2026-Q4",
             median_cycle_days=46.2)
    assert p.latest_lead_date == date(2026, 11, 14)


def test_no_cycle_means_no_latest_lead_date():
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, period="2026-Q4")
    assert p.latest_lead_date is None
    assert p.to_dict()["latest_lead_date"] is None


def test_cycle_without_period_says_so():
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, median_cycle_days=30)
    assert p.latest_lead_date is None
    assert "median_cycle_days given without a period: no latest lead date" in p.notes


def test_as_of_after_latest_lead_date_warns_to_work_the_pipeline():
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, period="2026-Q4",
             median_cycle_days=47, as_of=date(2026, 11, 20))
    assert any(n.startswith("as of 20 Nov 2026 the latest lead date has passed") for n in p.notes)


def test_cycle_longer_than_period_warns():
    # 2026-11 ends 30 Nov; minus 60 days = 1 Oct, before the month starts
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20, period="2026-11",
             median_cycle_days=60)
    assert p.latest_lead_date == date(2026, 10, 1)
    assert any("is longer than 2026-11" in n for n in p.notes)


# ---------------------------------------------------------------------------- uncertainty


def _proposals_range(successes, n, seed=0):
    p = plan(deals=8, rates={"proposal_to_won": Rate.from_counts(successes, n)},
             working_days=20, seed=seed)
    s = p.step("proposals")
    return s.p10, s.required, s.p90


def test_range_widens_with_smaller_sample():
    # same 50% rate; 2 of 4 vs 50 of 100
    lo_small, _, hi_small = _proposals_range(2, 4)
    lo_big, _, hi_big = _proposals_range(50, 100)
    assert hi_small - lo_small > 3 * (hi_big - lo_big)


def test_range_brackets_the_point_requirement():
    # point: 8 / 0.5 = 16 proposals
    lo, point, hi = _proposals_range(2, 4)
    assert point == 16
    assert lo <= point <= hi
    assert lo < hi


def test_range_is_deterministic_for_a_seed():
    assert _proposals_range(2, 4, seed=7) == _proposals_range(2, 4, seed=7)
    p1 = plan(deals=8, rates={"proposal_to_won": Rate.from_counts(2, 4),
                              "meeting_to_proposal": Rate.from_counts(3, 9)},
              working_days=20, seed=1)
    p2 = plan(deals=8, rates={"proposal_to_won": Rate.from_counts(2, 4),
                              "meeting_to_proposal": Rate.from_counts(3, 9)},
              working_days=20, seed=1)
    assert [(s.p10, s.p90) for s in p1.steps] == [(s.p10, s.p90) for s in p2.steps]


def test_uncertainty_propagates_through_manual_rates_above():
    # proposals are uncertain (2 of 4); meetings use a manual 0.4 on top, so they are too
    p = plan(deals=8, rates={"proposal_to_won": Rate.from_counts(2, 4),
                             "meeting_to_proposal": 0.4}, working_days=20)
    m = p.step("meetings")
    assert m.p10 is not None and m.p10 < m.p90
    assert any("meeting_to_proposal without a sample size taken as exact" in n for n in p.notes)


def test_manual_rates_have_no_range_and_say_so():
    p = plan(deals=8, rates=ARTICLE_RATES, working_days=20)
    assert all(s.p10 is None and s.p90 is None for s in p.steps)
    assert (
        "no P10-P90 range: the rates have no sample size (manual rates are taken as exact)"
        in p.notes
    )


def test_zero_simulations_gives_no_range():
    p = plan(deals=8, rates={"proposal_to_won": Rate.from_counts(2, 4)}, working_days=20,
             simulations=0)
    assert p.step("proposals").p10 is None
    assert "no P10-P90 range: simulations=0" in p.notes


# ------------------------------------------------------------------------------- outputs


def test_to_dict_is_json_with_every_stage_key():
    p = plan(goal=100_000, avg_deal=5_000, rates={"lead_to_customer": Rate.from_counts(1, 10)},
             working_days=20, period="2026-Q4", median_cycle_days=47)
    d = json.loads(json.dumps(p.to_dict()))
    assert set(STAGES) <= set(d)
    assert d["deals"] == 20 and d["leads"] == 200 and d["touches"] is None
    assert d["latest_lead_date"] == "2026-11-14"
    assert d["rates"]["lead_to_customer"]["n"] == 10
    assert d["steps"][1]["formula_text"] == "leads = ceil(20 / 0.10) = 200"


def test_to_frame_has_one_tidy_row_per_stage():
    df = plan(deals=8, rates={**ARTICLE_RATES, "proposal_to_won": Rate.from_counts(8, 10)},
              working_days=20).to_frame()
    assert df["stage"].tolist() == ["deals", "proposals", "meetings", "sqls"]
    assert df["required"].tolist() == [8, 10, 25, 50]
    assert df.loc[1, "n"] == 10 and df.loc[1, "rate_source"] == "rep"
    assert math.isnan(df.loc[0, "rate"])
    assert str(df["required"].dtype) == "int64"


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(goal="100k", avg_deal=5_000), "goal must be a number, got '100k'"),
        (dict(goal=-1, avg_deal=5_000), "goal cannot be negative, got -1"),
        (dict(goal=float("nan"), avg_deal=5_000), "goal must be a finite number"),
        (dict(goal=100, avg_deal=0), "avg_deal must be greater than 0, got 0"),
        (dict(goal=100, avg_deal=-5), "avg_deal cannot be negative, got -5"),
        (dict(deals=-3), "deals cannot be negative, got -3"),
        (dict(deals=2.5), "deals must be a whole number, got 2.5"),
        (dict(deals=True), "deals must be a number, got True"),
        (dict(deals=8, working_days=0), "working_days must be greater than 0, got 0"),
        (dict(deals=8, working_days="20"), "working_days must be a number, got '20'"),
        (dict(deals=8, working_days=-2), "working_days cannot be negative, got -2"),
        (dict(deals=8, won_so_far=-1), "won_so_far cannot be negative"),
        (dict(deals=8, weeks=0), "weeks must be greater than 0"),
        (dict(deals=8, simulations=-1), "simulations must be a whole number >= 0"),
        (dict(deals=8, median_cycle_days=-1, period="2026-Q4"),
         "median_cycle_days cannot be negative"),
        (dict(goal=100_000), "a goal of 100,000 needs an average deal size"),
        (dict(), "nothing to plan: give a revenue goal (with avg_deal) or a number of deals"),
        (dict(goal=100, avg_deal=10, deals=8), "give a revenue goal or a number of deals"),
        (dict(deals=8, won_so_far=100), "planning from deals needs avg_deal"),
    ],
)
def test_bad_inputs_raise_plan_error(kwargs, message):
    args = {"rates": {"proposal_to_won": 0.8}, "working_days": 20} | kwargs
    with pytest.raises(PlanError) as err:
        plan(**args)
    assert message in str(err.value)


def test_plan_error_is_a_kpikit_error_and_a_value_error():
    assert issubclass(PlanError, KpikitError) and issubclass(PlanError, ValueError)


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ({"proposal_to_won": 1.5}, "rate proposal_to_won must be a fraction in (0, 1], got 1.5"),
        ({"proposal_to_won": -0.2}, "rate proposal_to_won must be a fraction in (0, 1], got -0.2"),
        ({"proposal_to_won": 20}, "got 20.0 (write 0.2 or 20% for a percentage)"),
        ({"proposal_to_won": "0.8"}, "rate proposal_to_won must be a number or a Rate, got '0.8'"),
        ({"lead_to_sqll": 0.2}, "unknown rate 'lead_to_sqll'; use one of outreach_to_lead"),
        ({"sql_to_meeting": 0.5}, "no rate to walk up from deals: give proposal_to_won"),
        ({}, "no rate to walk up from deals"),
    ],
)
def test_bad_rates_raise_plan_error(rates, message):
    with pytest.raises(PlanError) as err:
        plan(deals=8, rates=rates, working_days=20)
    assert message in str(err.value)


def test_zero_rate_names_the_rate_and_offers_the_team_rate():
    with pytest.raises(PlanError) as err:
        plan(deals=8, rates={"proposal_to_won": Rate.from_counts(0, 6)}, working_days=20,
             fallback_rates={"proposal_to_won": 0.25})
    assert str(err.value) == (
        "cannot plan: proposal_to_won is 0 for this rep (0 won of 6 proposals); the team's rate "
        "is 25% — rerun with --rate proposal_to_won=0.25 or use team rates"
    )


def test_zero_rate_without_team_rate_asks_for_one():
    with pytest.raises(PlanError) as err:
        plan(deals=8, rates={"proposal_to_won": 0.0}, working_days=20)
    assert str(err.value) == (
        "cannot plan: proposal_to_won is 0; give a rate with --rate proposal_to_won=VALUE "
        "(for example the team's rate)"
    )


def test_missing_history_names_the_rate_and_offers_a_team_rate_object():
    rates = {**ARTICLE_RATES, "meeting_to_proposal": Rate.from_counts(0, 0, window="2026-H1")}
    team = {"meeting_to_proposal": Rate.from_counts(30, 80, source="team")}  # 37.5%
    with pytest.raises(PlanError) as err:
        plan(deals=8, rates=rates, working_days=20, fallback_rates=team)
    assert str(err.value) == (
        "cannot plan: meeting_to_proposal has no history for this rep (no meetings in 2026-H1); "
        "the team's rate is 37.5% — rerun with --rate meeting_to_proposal=0.375 or use team rates"
    )


def test_unusable_team_rate_is_not_offered():
    with pytest.raises(PlanError) as err:
        plan(deals=8, rates={"proposal_to_won": Rate.from_counts(0, 6)}, working_days=20,
             fallback_rates={"proposal_to_won": Rate.from_counts(0, 0, source="team")})
    assert "team's rate is" not in str(err.value)
    assert "give a rate with --rate proposal_to_won=VALUE" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(value=0.5, source="crm"), "Rate source 'crm' is not known"),
        (dict(value=0.5, successes=3), "Rate needs both successes and n, or neither"),
        (dict(value=0.5, successes=7, n=5), "Rate successes (7) cannot exceed n (5)"),
        (dict(value=0.5, successes=1.5, n=5), "Rate successes must be a whole number >= 0"),
    ],
)
def test_bad_rate_objects_raise_plan_error(kwargs, message):
    with pytest.raises(PlanError) as err:
        Rate(**kwargs)
    assert message in str(err.value)


# ------------------------------------------------------------------------ parse_rate_args


def test_parse_rate_args_accepts_fractions_and_percentages():
    assert parse_rate_args(["lead_to_sql=0.2", "proposal_to_won=25%", " sql_to_meeting = 1 "]) == {
        "lead_to_sql": 0.2,
        "proposal_to_won": 0.25,
        "sql_to_meeting": 1.0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lead_to_sql"], "--rate 'lead_to_sql' is not NAME=VALUE"),
        (["lead_to_sql="], "is not NAME=VALUE"),
        (["lead_2_sql=0.2"], "unknown rate 'lead_2_sql'; use one of"),
        (["lead_to_sql=abc"], "'abc' is not a number; write a fraction (0.2) or a percent (20%)"),
        (["lead_to_sql=0"], "a rate must be in (0, 1]"),
        (["lead_to_sql=-0.1"], "a rate must be in (0, 1]"),
        (["lead_to_sql=120%"], "a rate must be in (0, 1]"),
        (["lead_to_sql=20"], "(did you mean 20%?)"),
        (["lead_to_sql=nan"], "a rate must be in (0, 1]"),
        (["lead_to_sql=0.2", "lead_to_sql=0.3"], "--rate lead_to_sql is given twice"),
    ],
)
def test_parse_rate_args_rejects_bad_arguments(args, message):
    with pytest.raises(PlanError) as err:
        parse_rate_args(args)
    assert message in str(err.value)


def test_parsed_rates_plan_directly():
    rates = parse_rate_args(["proposal_to_won=80%", "meeting_to_proposal=0.4",
                             "sql_to_meeting=50%"])
    assert plan(deals=8, rates=rates, working_days=20).to_dict()["sqls"] == 50
