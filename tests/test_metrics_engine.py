"""The metric engine as a whole: every registered KPI obeys the common rules, the metric
table and the ``kpikit metrics`` command, and recovery of the generator's hidden rates."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kpikit
from kpikit.cli import app
from kpikit.metrics import REGISTRY, metric_table
from kpikit.metrics._common import group_index
from kpikit.synth import generate

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def small_org() -> kpikit.Dataset:
    return generate(reps=12, months=4, end=PERIOD, seed=3).to_dataset()


def _scalar_ids(by: str) -> list[str]:
    return [m.id for m in REGISTRY.values() if m.shape == "scalar" and by in m.groupings]


def _frames(ds: kpikit.Dataset) -> dict[str, pd.DataFrame]:
    return {name: ds.tables[name] for name in ds.present_tables}


# -- registry-wide rules (a new KPI gets these checks for free) --------------------------------


def test_every_catalogue_id_is_registered():
    # the ids of shared/METRICS.md (pipeline_by_stage, sales_by_channel, stage_conversion,
    # touches_to_close and source_to_first_appointment are breakdowns)
    catalogue = [
        "calls_made",
        "prospects_approached",
        "emails_sent",
        "meetings_held",
        "appointments_set",
        "linkedin_requests",
        "social_touches",
        "proposals_sent",
        "follow_ups_per_contact",
        "pct_leads_followed_up",
        "touches_to_close",
        "lead_response_time_h",
        "pct_leads_responded_1h",
        "opps_per_1000_calls",
        "calls_per_opportunity",
        "activities_per_win",
        "revenue_per_conversation",
        "email_link_rate",
        "email_click_rate",
        "collateral_usage_rate",
        "key_account_touches",
        "key_account_hours",
        "source_to_first_appointment",
        "outreach_to_first_appointment",
        "first_appointment_to_next_step",
        "conv_lead_to_sql",
        "conv_sql_to_meeting",
        "conv_meeting_to_proposal",
        "conv_proposal_to_won",
        "conv_lead_to_customer",
        "conv_sql_to_customer",
        "stage_conversion",
        "leakage_stage",
        "pct_leads_qualified",
        "qualified_prospect_size",
        "qualified_prospect_level",
        "total_sales",
        "sales_by_channel",
        "deals_won",
        "deals_lost",
        "win_rate",
        "win_rate_created",
        "avg_deal_size",
        "sales_cycle_days",
        "sales_velocity",
        "quota_attainment",
        "pct_reps_meeting_quota",
        "customers",
        "churn_rate",
        "retention_rate",
        "cost_of_sales_ratio",
        "cac",
        "ltv",
        "pipeline_by_stage",
        "quota_gap",
        "pipeline_coverage",
        "weighted_pipeline",
    ]
    missing = sorted(set(catalogue) - set(REGISTRY))
    assert missing == []


@pytest.mark.parametrize("metric_id", sorted(REGISTRY))
def test_every_definition_is_complete(metric_id):
    d = REGISTRY[metric_id]
    assert d.name and d.formula and d.needs, metric_id
    assert d.indicator in ("leading", "lagging")
    assert d.func.__doc__ and ">>>" in d.func.__doc__, f"{metric_id} has no example in its docstring"


@pytest.mark.parametrize("metric_id", _scalar_ids("rep"))
def test_every_metric_leaves_its_inputs_untouched_and_ignores_row_order(small_org, metric_id):
    ds = small_org
    before = {k: v.copy() for k, v in _frames(ds).items()}
    func = REGISTRY[metric_id].func
    result = func(ds, PERIOD, by="rep")
    for name, df in _frames(ds).items():
        pd.testing.assert_frame_equal(df, before[name], obj=f"{metric_id} changed {name}")
    rng = np.random.default_rng(0)
    shuffled = {k: v.iloc[rng.permutation(len(v))].reset_index(drop=True) for k, v in _frames(ds).items()}
    again = func(kpikit.Dataset(tables=shuffled, config=ds.config), PERIOD, by="rep")
    value = result["value"] if isinstance(result, pd.DataFrame) else result
    value2 = again["value"] if isinstance(again, pd.DataFrame) else again
    pd.testing.assert_series_equal(value.sort_index(), value2.sort_index(), check_names=False, obj=metric_id)


@pytest.mark.parametrize("by", ["rep", "team", "level", "org"])
def test_every_metric_returns_one_row_per_group(small_org, by):
    expected = list(group_index(small_org, by))
    for metric_id in _scalar_ids(by):
        out = REGISTRY[metric_id].func(small_org, PERIOD, by=by)
        assert list(out.index) == expected, metric_id


#: Series metrics that are a median / mean / label of events: undefined without events
_AVERAGES = {
    "avg_deal_size",
    "sales_cycle_days",
    "lead_response_time_h",
    "qualified_prospect_size",
    "qualified_prospect_level",
    "touches_to_close_median",
    "leakage_stage",
}
#: stock measures, defined without any event in the period (what is open / owed at its end)
_STOCKS = {
    "quota_gap",
    "weighted_pipeline",
    "customers",
    "sales_velocity",
    "churn_rate",
    "retention_rate",
    "ltv",
}


@pytest.mark.parametrize("metric_id", _scalar_ids("rep"))
def test_a_period_without_events_gives_zero_counts_and_nan_rates(small_org, metric_id):
    # 2030-01 is years after the data: every rate's denominator is zero
    out = REGISTRY[metric_id].func(small_org, "2030-01", by="rep")
    if metric_id in _STOCKS:
        pass
    elif isinstance(out, pd.DataFrame):
        den = out["n"] if "n" in out.columns else out["denominator"]
        # zero, or unknown (no quota for 2030 at all)
        assert ((den == 0) | den.isna()).all(), metric_id
        assert out["value"].isna().all(), f"{metric_id}: zero denominator must be n/a, not a number"
    elif metric_id in _AVERAGES:
        assert out.isna().all(), f"{metric_id} should be n/a without events, got {out.tolist()}"
    else:
        assert (out == 0).all(), f"{metric_id}: counts and sums are 0 without events"
    assert not np.isinf(
        pd.to_numeric(out.squeeze() if isinstance(out, pd.Series) else out["value"], errors="coerce")
    ).any()


# -- the metric table and the command ----------------------------------------------------------


def test_metric_table_lists_unavailable_metrics_with_what_they_need():
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": ["r1", "r2"]}),
        opportunities=pd.DataFrame(
            {
                "opportunity_id": ["o1", "o2", "o3"],
                "rep_id": ["r1", "r1", "r2"],
                "created_at": ["2026-09-01"] * 3,
                "stage": ["Won", "Lost", "Won"],
                "amount": [100.0, 50.0, 30.0],
                "close_date": ["2026-10-03", "2026-10-04", "2026-11-01"],
            }
        ),
    )
    t = metric_table(ds, PERIOD)
    assert t.values.loc["r1", "deals_won"] == 1 and t.values.loc["r1", "win_rate"] == 0.5
    assert t.values.loc["r1", "total_sales"] == 100.0
    assert math.isnan(t.values.loc["r2", "win_rate"])  # r2's deal closes in November
    assert "calls_made" not in t.values.columns
    assert t.unavailable["calls_made"] == "calls_made: not available: needs activities"
    assert "needs quotas" in t.unavailable["quota_attainment"]
    iv = t.with_intervals()
    assert iv.loc["r1", "win_rate_n"] == 2
    assert iv.loc["r1", "win_rate_ci_low"] == pytest.approx(0.0945, abs=1e-4)  # Wilson, 1 of 2


def test_metric_table_by_team_pools_counts_not_averages(small_org):
    by_rep = metric_table(small_org, PERIOD, metrics=["win_rate"]).details["win_rate"]
    by_team = metric_table(small_org, PERIOD, by="team", metrics=["win_rate"]).details["win_rate"]
    team = small_org.reps.set_index("rep_id")["team"]
    pooled = by_rep.groupby(team)[["successes", "n"]].sum()
    for t, row in pooled.iterrows():
        assert by_team.loc[t, "successes"] == row["successes"] and by_team.loc[t, "n"] == row["n"]


@pytest.fixture(scope="module")
def org_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("org") / "data"
    from kpikit.synth import write_demo_data

    write_demo_data(folder, reps=8, months=3, end=PERIOD, seed=5)
    return folder


def test_metrics_command_csv_columns_are_the_grouping_key_and_metric_ids(org_folder):
    result = CliRunner().invoke(app, ["metrics", str(org_folder), "--period", PERIOD, "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split(",")
    assert header[0] == "rep_id"
    assert set(header[1:]) <= set(REGISTRY)
    assert "win_rate" in header and "calls_made" in header
    assert len(lines) == 1 + 8
    # rates are fractions
    df = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert df["win_rate"].dropna().between(0, 1).all()


def test_metrics_command_json_uses_null_for_missing_values(org_folder):
    result = CliRunner().invoke(
        app, ["metrics", str(org_folder), "--period", "2030-01", "--by", "team", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"team", "win_rate", "deals_won"} <= set(rows[0])
    assert all(r["win_rate"] is None for r in rows)
    assert all(r["deals_won"] == 0 for r in rows)


def test_metrics_command_rejects_a_bad_period_and_grouping(org_folder):
    r = CliRunner().invoke(app, ["metrics", str(org_folder), "--period", "October"])
    assert r.exit_code == 2 and "is not a period" in r.output
    r = CliRunner().invoke(app, ["metrics", str(org_folder), "--period", PERIOD, "--by", "region"])
    assert r.exit_code == 2 and "not a grouping" in r.output


# -- recovery of the generator's hidden truth ---------------------------------------------------


@pytest.mark.slow
def test_cohort_conversion_rates_recover_each_reps_hidden_rates():
    org = generate(reps=30, months=12, end=PERIOD, seed=11, lead_volume=5)
    ds = org.to_dataset()
    months = kpikit.Period.parse("2025-11").history(1)[0]
    months = [months.shift(i) for i in range(10)]  # 2025-11 .. 2026-08: mature cohorts
    checks = {
        "lead_to_sql": "conv_lead_to_sql",
        "sql_to_meeting": "conv_sql_to_meeting",
        "meeting_to_proposal": "conv_meeting_to_proposal",
        "proposal_to_won": "conv_proposal_to_won",
    }
    zs = []
    for truth_key, metric_id in checks.items():
        func = REGISTRY[metric_id].func
        pooled = sum(func(ds, m, by="rep")[["successes", "n"]] for m in months)
        for rep_id, t in org.truth["reps"].items():
            p = t[truth_key]
            s, n = pooled.loc[rep_id, "successes"], pooled.loc[rep_id, "n"]
            if p is None or n < 30:
                continue
            z = (s / n - p) / math.sqrt(p * (1 - p) / n)
            zs.append(z)
            assert abs(z) < 4.5, f"{rep_id} {truth_key}: {s}/{n} vs true {p}"
    assert len(zs) > 60
    assert abs(float(np.mean(zs))) < 0.5  # no systematic bias


@pytest.mark.slow
def test_leakage_finds_the_planted_weak_stages():
    org = generate(reps=30, months=12, end=PERIOD, seed=11, lead_volume=5)
    ds = org.to_dataset()
    from kpikit.metrics.conversion import leakage

    found = leakage(ds, "2026")
    weak = {r: t["weak_stage"] for r, t in org.truth["reps"].items() if t["weak_stage"] and t["role"] == "AE"}
    assert len(weak) >= 4
    labels = {
        "lead_to_sql": "Lead",
        "sql_to_meeting": "Meeting",
        "meeting_to_proposal": "Proposal",
        "proposal_to_won": "Won",
    }
    hits = sum(labels[stage] in str(found.loc[rep, "stage"]) for rep, stage in weak.items())
    assert hits >= len(weak) - 1, found.loc[list(weak), ["stage", "shortfall", "p_value"]]
