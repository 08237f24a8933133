"""The self-coaching planner widget: set its inputs in Python, check the plan it shows."""

import ipywidgets
import pandas as pd
import pytest
from history_org import history_frames

import kpikit
from kpikit.planner import PlanError
from kpikit.planning import plan_for_rep
from kpikit.widgets import PlannerWidget


def _required(w: PlannerWidget) -> dict[str, int]:
    return w.table.set_index("stage")["required"].to_dict()


@pytest.fixture
def history_ds() -> kpikit.Dataset:
    return kpikit.Dataset.from_frames(**history_frames())


@pytest.fixture
def by_hand() -> PlannerWidget:
    # the classic example: 100,000 / 5,000 = 20 deals; 20 / 10% lead-to-customer = 200 leads
    return PlannerWidget.manual(
        goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.10}, working_days=20
    )


# ------------------------------------------------------------------------------ by hand


def test_manual_goal_and_lead_to_customer_give_20_deals_and_200_leads(by_hand):
    assert _required(by_hand) == {"leads": 200, "deals": 20}
    assert by_hand.plan.summary() == "10 leads a day, 5 deals a week"  # 200/20 days, 20/4 weeks
    assert by_hand.error is None


def test_stage_rates_set_in_the_boxes_walk_8_deals_up_to_50_sqls(by_hand):
    # 40,000 / 5,000 = 8 deals; 8 / 80% = 10 proposals; 10 / 40% = 25 meetings;
    # 25 / 50% = 50 SQLs; lead_to_sql is not given, so leads come from the shortcut:
    # 8 / 10% = 80
    by_hand.goal.value = "40,000"
    by_hand.rates["proposal_to_won"].value = 80
    by_hand.rates["meeting_to_proposal"].value = 40
    by_hand.rates["sql_to_meeting"].value = 50
    assert _required(by_hand) == {
        "leads": 80,
        "sqls": 50,
        "meetings": 25,
        "proposals": 10,
        "deals": 8,
    }


def test_rates_are_percent_in_the_boxes_and_fractions_in_the_plan(by_hand):
    by_hand.rates["lead_to_customer"].value = 12.5
    assert by_hand.plan.rates["lead_to_customer"].value == pytest.approx(0.125)
    assert by_hand.plan.to_dict()["leads"] == 160  # 20 / 0.125


def test_table_lists_the_funnel_top_first_with_per_day_and_per_week(by_hand):
    t = by_hand.table
    assert t["stage"].tolist() == ["leads", "deals"]
    assert t[["required", "per_day", "per_week"]].values.tolist() == [
        [200, 10.0, 50.0],
        [20, 1.0, 5.0],
    ]
    assert "p10" not in t.columns  # manual rates have no sample size: no range column


def test_changing_a_value_updates_the_plan_table_and_rendered_output(by_hand):
    before_svg = by_hand.chart_view.value
    by_hand.goal.value = 50_000  # numbers set from Python are fine: 50,000 / 5,000 = 10 deals
    assert by_hand.plan.to_dict()["deals"] == 10
    assert _required(by_hand) == {"leads": 100, "deals": 10}
    assert "<td>100</td>" in by_hand.table_view.value
    assert "5 leads a day" in by_hand.message.value  # 100 leads / 20 days
    assert by_hand.chart_view.value.startswith("<svg") and by_hand.chart_view.value != before_svg
    assert by_hand.sources["goal"] == "manual"


def test_working_days_spread_the_plan(by_hand):
    by_hand.working_days.value = 10
    assert by_hand.table.set_index("stage").loc["leads", "per_day"] == 20.0  # 200 / 10


def test_a_zero_rate_shows_the_planner_message_naming_the_rate(by_hand):
    by_hand.rates["lead_to_customer"].value = 0  # no exception here
    assert by_hand.plan is None
    assert by_hand.error.startswith("cannot plan: lead_to_customer is 0")
    assert "lead_to_customer is 0" in by_hand.message.value
    assert by_hand.table.empty and by_hand.table_view.value == "" and by_hand.chart_view.value == ""


def test_an_empty_goal_shows_the_planner_message(by_hand):
    by_hand.goal.value = ""
    assert by_hand.plan is None
    assert by_hand.error.startswith("nothing to plan: give a revenue goal")


def test_text_that_is_not_a_number_says_which_box(by_hand):
    by_hand.avg_deal.value = "five thousand"
    assert (
        by_hand.error
        == "average deal: 'five thousand' is not a number; type digits such as 100,000"
    )


def test_zero_working_days_shows_the_planner_message(by_hand):
    by_hand.working_days.value = 0
    assert by_hand.error == "working_days must be greater than 0, got 0"


def test_a_fixed_value_plans_again_after_an_error(by_hand):
    by_hand.rates["lead_to_customer"].value = 0
    by_hand.rates["lead_to_customer"].value = 20
    assert by_hand.error is None and by_hand.plan.to_dict()["leads"] == 100  # 20 / 20%


def test_an_unticked_rate_is_not_used_and_typing_a_rate_ticks_it(by_hand):
    by_hand.use["lead_to_customer"].value = False
    assert by_hand.error.startswith("no rate to walk up from deals")
    by_hand.use["lead_to_customer"].value = True
    assert not by_hand.use["proposal_to_won"].value
    by_hand.rates["proposal_to_won"].value = 50
    assert by_hand.use["proposal_to_won"].value
    assert _required(by_hand)["proposals"] == 40  # 20 deals / 50%


def test_set_types_several_values_in_and_plans_once(by_hand):
    plans = []
    by_hand.message.observe(lambda change: plans.append(change["new"]), "value")
    by_hand.set(goal=30_000, avg_deal=3_000, rates={"lead_to_customer": 0.25})
    # 30,000 / 3,000 = 10 deals; 10 / 25% = 40 leads
    assert _required(by_hand) == {"leads": 40, "deals": 10}
    assert len(plans) == 1
    assert by_hand.goal.value == "30,000"


def test_manual_refuses_a_rate_given_as_a_percentage():
    with pytest.raises(PlanError, match=r"rate proposal_to_won must be a fraction in \[0, 1\]"):
        PlannerWidget.manual(goal=1, avg_deal=1, rates={"proposal_to_won": 80})


def test_interactive_mode_shows_the_altair_chart_in_an_output_area():
    w = PlannerWidget.manual(
        goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.1}, static=False
    )
    assert isinstance(w.chart_view, ipywidgets.Output)
    spec = w.chart.to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "errorbar", "text"]


def test_displaying_the_planner_carries_a_static_snapshot_for_reports(by_hand):
    bundle = by_hand._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<svg" in bundle["text/html"] and "<td>200</td>" in bundle["text/html"]
    assert "<script" not in bundle["text/html"]


# ---------------------------------------------------------------------------- from data


def test_from_history_prefills_quota_average_deal_and_rates_and_says_where_from(history_ds):
    w = PlannerWidget.from_history(history_ds, "R1", "2026-11")
    assert w.goal.value == "50,000" and w.avg_deal.value == "10,000"
    assert w.working_days.value == 21  # November 2026 has 21 weekdays; the data ends in June
    assert w.rates["lead_to_sql"].value == 50.0  # 20 of 40 leads qualified
    assert w.sources["goal"] == "quota" and w.source_text("goal") == "quota for 2026-11"
    assert w.sources["avg_deal"] == "rep"
    assert w.source_text("avg_deal") == "rep's mean won deal 2026-04..2026-09 (2 deals)"
    assert w.sources["lead_to_sql"] == "rep"
    assert w.source_text("lead_to_sql") == (
        "50% from rep history (20 qualified of 40 leads, 2026-04..2026-09)"
    )
    assert w.sources["proposal_to_won"] == "shrunk"  # 5 proposals: under 30 cases
    assert w.sources["outreach_to_lead"] == "missing" and not w.use["outreach_to_lead"].value
    # 50,000 / 10,000 = 5 deals; 5 / 0.4 -> 13 proposals; / 0.5 -> 26 meetings; -> 52 SQLs;
    # -> 104 leads (the same walk as test_planning's plan_for_rep test)
    assert _required(w) == {"leads": 104, "sqls": 52, "meetings": 26, "proposals": 13, "deals": 5}
    assert {"p10", "p90"} <= set(w.table.columns)  # history rates carry their sample sizes
    assert "goal = quota for 2026-11" in w.plan.notes


def test_from_history_plans_what_plan_for_rep_plans():
    ds = kpikit.Dataset.from_frames(**history_frames(open_deal=True))
    w = PlannerWidget.from_history(ds, "R1", "2026-11")
    scratch = plan_for_rep(ds, "R1", "2026-11", pipeline_aware=False).to_dict()
    assert w.plan.to_dict() == scratch
    w.subtract_pipeline.value = True
    aware = plan_for_rep(ds, "R1", "2026-11").to_dict()
    assert w.plan.to_dict() == aware
    # 50,000 - 8,000 weighted pipeline = 42,000 -> 5 deals (4.2 rounds up)
    assert w.plan.weighted_pipeline == pytest.approx(8_000) and w.plan.deals == 5


def test_pipeline_aware_ticks_the_subtract_box(history_ds):
    w = PlannerWidget.from_history(history_ds, "R1", "2026-11", pipeline_aware=True)
    assert w.subtract_pipeline.value and w.subtract_pipeline in w.widget.children


def test_editing_a_prefilled_rate_makes_it_manual_and_drops_its_range(history_ds):
    w = PlannerWidget.from_history(history_ds, "R1", "2026-11")
    assert w.table.set_index("stage").loc["proposals", "p10"] > 0
    w.rates["proposal_to_won"].value = 50
    assert (
        w.sources["proposal_to_won"] == "manual" and w.source_text("proposal_to_won") == "typed in"
    )
    row = w.table.set_index("stage").loc["proposals"]
    assert row["rate_source"] == "manual" and row["required"] == 10  # 5 deals / 50%
    assert pd.isna(row["p10"]) and pd.isna(row["p90"])
    assert w.sources["meeting_to_proposal"] == "shrunk"  # the others keep their history


def test_reset_brings_the_history_back(history_ds):
    w = PlannerWidget.from_history(history_ds, "R1", "2026-11")
    w.rates["proposal_to_won"].value = 50
    w.goal.value = 20_000
    w.reset()
    assert w.sources["proposal_to_won"] == "shrunk" and w.sources["goal"] == "quota"
    assert w.plan.to_dict()["proposals"] == 13


def test_no_quota_leaves_the_goal_empty_and_asks_for_one():
    frames = history_frames()
    del frames["quotas"]
    w = PlannerWidget.from_history(kpikit.Dataset.from_frames(**frames), "R1", "2026-11")
    assert w.goal.value == "" and w.sources["goal"] == "missing"
    assert w.source_text("goal") == "no quota for 2026-11: type a goal"
    assert w.plan is None and w.error.startswith("nothing to plan")
    w.goal.value = "30,000"  # 30,000 / 10,000 = 3 deals
    assert w.plan.deals == 3


def test_a_rep_rate_with_no_history_offers_the_teams_rate_in_widget_words():
    frames = history_frames()
    # R2 joins team T with 4 leads created in May, none qualified: lead_to_sql 0 of 4,
    # sql_to_meeting has no SQLs at all (NaN). The team pools R1 and R2: 10 of 20 SQLs
    # reached a meeting -> 50%.
    r2 = pd.DataFrame(
        {
            "lead_id": [f"M{i}" for i in range(1, 5)],
            "rep_id": "R2",
            "created_at": "2026-05-04 09:00",
            "qualified_at": [None] * 4,
            "opportunity_id": [None] * 4,
        }
    )
    frames["leads"] = pd.concat([frames["leads"], r2], ignore_index=True)
    frames["reps"] = pd.DataFrame({"rep_id": ["R1", "R2"], "team": ["T", "T"]})
    frames["quotas"] = pd.DataFrame(
        {"rep_id": ["R1", "R2"], "period": ["2026-11"] * 2, "quota": [50_000.0, 20_000.0]}
    )
    w = PlannerWidget.from_history(kpikit.Dataset.from_frames(**frames), "R2", "2026-11")
    assert w.plan is None
    assert "sql_to_meeting has no history for this rep" in w.error
    assert "the team's rate is 50% — type it into 'SQL → meeting'" in w.error
    assert "--rate" not in w.error
    assert w.source_text("sql_to_meeting").endswith("type a rate (team: 50%)")


def test_the_sample_org_rep_plans_the_whole_of_november():
    ds = kpikit.sample_dataset()
    w = PlannerWidget.from_history(ds, "R005", "2026-11")
    expected = plan_for_rep(ds, "R005", "2026-11", pipeline_aware=False).to_dict()
    assert w.plan.to_dict() == expected
    assert w.working_days.value == 21  # the sample data ends 31 Oct: all of November is left
    assert w.widget.children[0].value == "<h3>Plan for Chris Adams (R005), 2026-11</h3>"


def test_an_unknown_rep_is_a_clear_error(history_ds):
    with pytest.raises(kpikit.KpikitError, match="rep 'R9' is not in reps"):
        PlannerWidget.from_history(history_ds, "R9", "2026-11")
