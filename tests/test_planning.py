"""Planning from a dataset: rates from history, quota as goal, pipeline-aware gap, the plan CLI."""

import json

import pandas as pd
import pytest
from history_org import history_frames
from typer.testing import CliRunner

import kpikit
from kpikit.cli import app
from kpikit.planner import PlanError
from kpikit.planning import history_window, plan_for_rep, rates_from_history, working_days_left


@pytest.fixture
def history_ds() -> kpikit.Dataset:
    return kpikit.Dataset.from_frames(**history_frames())


def test_history_window_skips_the_immature_last_month():
    assert history_window("2026-11").label == "2026-04..2026-09"
    assert history_window("2026-11", window=2, lag=0).label == "2026-09..2026-10"


def test_rates_from_history_pool_the_window_exactly(history_ds):
    rates = rates_from_history(history_ds, rep_id="R1", period="2026-11", shrink_below=0)
    got = {k: (r.successes, r.n, r.source) for k, r in rates.items()}
    assert got == {
        "lead_to_sql": (20, 40, "rep"),
        "sql_to_meeting": (10, 20, "rep"),
        "meeting_to_proposal": (5, 10, "rep"),
        "proposal_to_won": (2, 5, "rep"),
        "lead_to_customer": (2, 40, "rep"),
    }
    assert rates["proposal_to_won"].value == pytest.approx(0.4)
    assert rates["lead_to_sql"].window == "2026-04..2026-09"


def test_thin_history_uses_the_shrunk_estimate_and_says_so(history_ds):
    rates = rates_from_history(history_ds, rep_id="R1", period="2026-11")
    # n under 30: shrunk (with a one-rep team the prior is centred on the rep itself);
    # the 40-lead cohorts are large enough to stand on their own
    assert {k: r.source for k, r in rates.items()} == {
        "lead_to_sql": "rep",
        "lead_to_customer": "rep",
        "sql_to_meeting": "shrunk",
        "meeting_to_proposal": "shrunk",
        "proposal_to_won": "shrunk",
    }
    assert rates["proposal_to_won"].value == pytest.approx(0.4)


def test_plan_for_rep_walks_the_quota_up_the_funnel(history_ds):
    # quota 50,000 / avg deal 10,000 = 5 deals; 5/0.4 = 12.5 -> 13 proposals; 13/0.5 -> 26
    # meetings; 26/0.5 -> 52 SQLs; 52/0.5 -> 104 leads. No open pipeline, nothing won in Nov.
    p = plan_for_rep(history_ds, "R1", "2026-11")
    d = p.to_dict()
    assert (d["deals"], d["proposals"], d["meetings"], d["sqls"], d["leads"]) == (5, 13, 26, 52, 104)
    assert d["goal"] == 50_000 and d["avg_deal"] == 10_000
    assert d["working_days"] == 21  # November 2026 has 21 weekdays and the data ends in June
    assert "goal = quota for 2026-11" in p.notes


def test_plan_subtracts_the_weighted_open_pipeline():
    # O99: 20,000 at Proposal since 20 Oct, expected to close in November; historically
    # 2 of the 5 closed deals that reached Proposal were won -> weight 0.4 -> 8,000 expected
    frames = history_frames(open_deal=True)
    ds = kpikit.Dataset.from_frames(**frames)
    p = plan_for_rep(ds, "R1", "2026-11")
    assert p.weighted_pipeline == pytest.approx(8_000)
    # remaining 42,000 -> 5 deals (4.2 rounds up)
    assert p.remaining == pytest.approx(42_000) and p.deals == 5


def test_manual_rates_override_history(history_ds):
    p = plan_for_rep(history_ds, "R1", "2026-11", rates={"proposal_to_won": 0.5})
    assert p.step("proposals").required == 10  # 5 deals / 0.5
    assert p.rates["proposal_to_won"].source == "manual"


def test_plan_without_a_quota_asks_for_a_goal():
    frames = history_frames()
    del frames["quotas"]
    ds = kpikit.Dataset.from_frames(**frames)
    with pytest.raises(PlanError, match="R1 has no quota for 2026-11; give --goal AMOUNT or --deals N"):
        plan_for_rep(ds, "R1", "2026-11")


def test_plan_for_an_unknown_rep_is_a_clear_error(history_ds):
    with pytest.raises(kpikit.KpikitError, match="rep 'R9' is not in reps"):
        plan_for_rep(history_ds, "R9", "2026-11")


def test_working_days_left_count_from_the_day_after_the_data_date(history_ds):
    nov = kpikit.Period.parse("2026-11")
    assert working_days_left(history_ds, nov, pd.Timestamp("2026-11-13 17:00")) == 11  # 16..30 Nov
    assert working_days_left(history_ds, nov, pd.Timestamp("2026-12-01")) == 0


def test_plan_cli_from_data_prints_json_with_each_stage(tmp_path):
    folder = tmp_path / "org"
    folder.mkdir()
    for name, df in history_frames().items():
        df.to_csv(folder / f"{name}.csv", index=False)
    result = CliRunner().invoke(
        app, ["plan", str(folder), "--rep", "R1", "--period", "2026-11", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [d[k] for k in ("deals", "proposals", "meetings", "sqls", "leads")] == [5, 13, 26, 52, 104]


def test_plan_cli_reproduces_the_articles_example_by_hand():
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "--goal",
            "100000",
            "--avg-deal",
            "5000",
            "--rate",
            "lead_to_customer=10%",
            "--working-days",
            "20",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert (d["deals"], d["leads"]) == (20, 200)


def test_plan_cli_bad_input_is_a_message_not_a_traceback():
    result = CliRunner().invoke(app, ["plan", "--goal", "abc", "--working-days", "20"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        app, ["plan", "--deals", "8", "--rate", "proposal_to_won=0", "--working-days", "20"]
    )
    assert result.exit_code == 2
    assert "proposal_to_won" in result.output
