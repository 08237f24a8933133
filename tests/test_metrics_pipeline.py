"""Pipeline and quota-gap KPIs: hand-made datasets with the expected values worked out in comments.

The reporting period is October 2026 unless a test says otherwise; its pipeline is
what was open at its end, 2026-11-01 00:00.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kpikit import Dataset, MissingDataError
from kpikit.metrics.pipeline import (
    UNKNOWN_STAGE,
    open_pipeline,
    pipeline_by_stage,
    pipeline_coverage,
    quota_gap,
    weighted_pipeline,
)
from kpikit.metrics.registry import REGISTRY

OCT = "2026-10"
COLUMNS = ["opportunity_id", "rep_id", "created_at", "stage", "amount", "close_date"]


def reps() -> pd.DataFrame:
    return pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "team": ["East", "East", "West"]})


def opps(rows: list[tuple]) -> pd.DataFrame:
    """Opportunities from (id, rep, created_at, stage, amount, close_date) tuples."""
    return pd.DataFrame(rows, columns=COLUMNS)


def history(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_at"])


def quotas(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["rep_id", "period", "quota"])


# ---------------------------------------------------------------------------- pipeline by stage

# q1, q2 r1 SQL 100 + 50 closing in Oct; q3 r1 Proposal 300 closing in Nov;
# q4 r2 Meeting 200 without close date; q5 r2 won before the end (not open);
# q6 r2 opened after the end (not yet in the pipeline). r3: nothing.
CURRENT = [
    ("q1", "r1", "2026-10-01", "SQL", 100.0, "2026-10-20"),
    ("q2", "r1", "2026-10-02", "SQL", 50.0, "2026-10-25"),
    ("q3", "r1", "2026-09-15", "Proposal", 300.0, "2026-11-10"),
    ("q4", "r2", "2026-09-20", "Meeting", 200.0, None),
    ("q5", "r2", "2026-09-01", "Won", 999.0, "2026-10-05"),
    ("q6", "r2", "2026-11-05", "SQL", 70.0, "2026-12-01"),
]


def test_pipeline_by_stage_counts_open_amount_per_stage_and_close_month():
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(CURRENT))
    out = pipeline_by_stage(ds, OCT)
    assert out.index.names == ["rep_id", "stage", "close_month"]
    assert out.loc[("r1", "SQL", "2026-10")].tolist() == [2, 150.0]
    assert out.loc[("r1", "Proposal", "2026-11")].tolist() == [1, 300.0]
    assert out.loc[("r2", "Meeting", "(none)")].tolist() == [1, 200.0]
    # every rep x configured stage x month seen, zeros included: 3 x 4 x 3
    assert len(out) == 36
    assert out["count"].sum() == 4 and out["amount"].sum() == 650.0
    assert out.sort_index().loc["r3", "count"].sum() == 0


def test_pipeline_by_stage_by_team_pools_reps():
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(CURRENT))
    out = pipeline_by_stage(ds, OCT, by="team")
    assert out.loc[("East", "SQL", "2026-10")].tolist() == [2, 150.0]
    assert out.sort_index().loc["West", "count"].sum() == 0


# h1 r1 won Oct 15, in Meeting on Oct 1 (Proposal only from Oct 5)
# h2 r1 lost Sep 25: not open on Oct 1
# h3 r1 open, Proposal on Sep 20 then back to Meeting on Sep 28 -> Meeting
# h4 r1 open, SQL and Meeting entered at the same instant -> the later stage, Meeting
PAST = [
    ("h1", "r1", "2026-09-01", "Won", 1000.0, "2026-10-15"),
    ("h2", "r1", "2026-09-05", "Lost", 200.0, "2026-09-25"),
    ("h3", "r1", "2026-09-03", "Meeting", 300.0, "2026-12-01"),
    ("h4", "r1", "2026-09-07", "Meeting", 40.0, "2026-10-20"),
]
PAST_HISTORY = [
    ("h1", "SQL", "2026-09-01"), ("h1", "Meeting", "2026-09-10"), ("h1", "Proposal", "2026-10-05"),
    ("h1", "Won", "2026-10-15"),
    ("h2", "SQL", "2026-09-05"), ("h2", "Lost", "2026-09-25"),
    ("h3", "SQL", "2026-09-03"), ("h3", "Proposal", "2026-09-20"), ("h3", "Meeting", "2026-09-28"),
    ("h4", "Meeting", "2026-09-07"), ("h4", "SQL", "2026-09-07"),
]


def test_pipeline_of_a_past_period_is_reconstructed_at_its_end_from_stage_history():
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(PAST),
                             stage_history=history(PAST_HISTORY))
    pipe = open_pipeline(ds, "2026-10-01").set_index("opportunity_id")["stage_at"]
    assert pipe.to_dict() == {"h1": "Meeting", "h3": "Meeting", "h4": "Meeting"}
    out = pipeline_by_stage(ds, "2026-09")
    # Meeting: h1 1000 + h4 40 closing in Oct; h3 300 closing in Dec
    assert out.loc[("r1", "Meeting", "2026-10")].tolist() == [2, 1040.0]
    assert out.loc[("r1", "Meeting", "2026-12")].tolist() == [1, 300.0]
    assert out["count"].sum() == 3


def test_pipeline_of_a_past_period_without_history_marks_since_closed_deals_unknown():
    # h1 won Oct 15: open on Oct 1 but its stage then is not recorded; h3, h4 still open
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(PAST))
    out = pipeline_by_stage(ds, "2026-09")
    assert out.loc[("r1", UNKNOWN_STAGE, "2026-10")].tolist() == [1, 1000.0]
    assert out.sort_index().loc[("r1", "Meeting"), "count"].sum() == 2
    assert list(out.index.get_level_values("stage").unique()) == [
        "Lead", "SQL", "Meeting", "Proposal", UNKNOWN_STAGE]


def test_pipeline_by_stage_is_all_zeros_when_nothing_is_open():
    rows = [("x", "r1", "2026-09-01", "Won", 10.0, "2026-09-10")]
    out = pipeline_by_stage(Dataset.from_frames(reps=reps(), opportunities=opps(rows)), OCT)
    assert set(out.index.get_level_values("rep_id")) == {"r1", "r2", "r3"}
    assert out["count"].sum() == 0 and out["amount"].sum() == 0.0


# ---------------------------------------------------------------------------- quota gap, coverage

# Oct 2026, data as of mid-October. r1: quota 1000, won 600 -> gap 400; open c1 300 and
# c2 500 closing in Oct, c3 900 closing in Nov. r2: quota 500, won 800 -> gap 0; open c4
# 200 closing in Oct. r3: no quota, open c5 50 in Oct.
GAP = [
    ("g1", "r1", "2026-09-01", "Won", 600.0, "2026-10-05"),
    ("g2", "r2", "2026-09-01", "Won", 800.0, "2026-10-06"),
    ("c1", "r1", "2026-09-10", "Proposal", 300.0, "2026-10-25"),
    ("c2", "r1", "2026-09-11", "Meeting", 500.0, "2026-10-28"),
    ("c3", "r1", "2026-09-12", "SQL", 900.0, "2026-11-20"),
    ("c4", "r2", "2026-09-13", "SQL", 200.0, "2026-10-30"),
    ("c5", "r3", "2026-09-14", "SQL", 50.0, "2026-10-30"),
]
GAP_QUOTAS = quotas([("r1", OCT, 1000.0), ("r2", OCT, 500.0)])


def gap_ds() -> Dataset:
    return Dataset.from_frames(reps=reps(), opportunities=opps(GAP), quotas=GAP_QUOTAS)


def test_quota_gap_is_quota_minus_won_revenue_never_below_zero():
    out = quota_gap(gap_ds(), OCT)
    assert out.name == "quota_gap"
    assert out.loc["r1"] == 400.0
    assert out.loc["r2"] == 0.0  # 800 won of 500
    assert math.isnan(out.loc["r3"])  # no quota


def test_quota_gap_by_team_nets_reps_over_quota_against_the_others():
    # East: max(1000 + 500 - (600 + 800), 0) = 100; West: no quota
    out = quota_gap(gap_ds(), OCT, by="team")
    assert out.loc["East"] == 100.0
    assert math.isnan(out.loc["West"])


def test_quota_gap_uses_prorated_quotas():
    # r1's only quota is 2026-Q4 = 2400 -> October 800; won 600 -> gap 200
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(GAP),
                             quotas=quotas([("r1", "2026-Q4", 2400.0)]))
    assert quota_gap(ds, OCT).loc["r1"] == 200.0


def test_pipeline_coverage_is_open_amount_closing_in_the_period_over_the_gap():
    # r1: (300 + 500) / 400 = 2.0 (c3 closes in Nov); r2: gap 0 -> n/a; r3: no quota -> n/a
    out = pipeline_coverage(gap_ds(), OCT)
    assert out.loc["r1", ["value", "numerator", "denominator"]].tolist() == [2.0, 800.0, 400.0]
    assert math.isnan(out.loc["r2", "value"]) and out.loc["r2", "denominator"] == 0.0
    assert math.isnan(out.loc["r3", "value"]) and math.isnan(out.loc["r3", "denominator"])


def test_pipeline_coverage_by_team_pools_reps_with_a_quota():
    # East: (800 + 200) / 100 = 10; r3 (West, no quota) -> n/a
    out = pipeline_coverage(gap_ds(), OCT, by="team")
    assert out.loc["East", ["value", "numerator", "denominator"]].tolist() == [10.0, 1000.0, 100.0]
    assert math.isnan(out.loc["West", "value"])


def test_quota_gap_and_coverage_need_quotas():
    ds = Dataset.from_frames(reps=reps(), opportunities=opps(GAP))
    for metric in (quota_gap, pipeline_coverage):
        with pytest.raises(MissingDataError, match="needs quotas"):
            metric(ds, OCT)


# ---------------------------------------------------------------------------- weighted pipeline

# Closed before Nov 1: w1 won, w2 lost, w3 won (SQL -> Won: reached every stage),
# w4 lost at Proposal, w5 lost at SQL. Reached SQL: 5, 2 won -> 0.4; Meeting: w1 w2 w3 w4
# -> 2 / 4 = 0.5; Proposal: w1 w3 w4 -> 2 / 3.
# w6 (r1) won Nov 20: in the October pipeline, in Meeting on Nov 1 (Proposal from Nov 1).
# Open: w7 r1 Proposal 800, w8 r2 Meeting 400.
WEIGHTED = [
    ("w1", "r1", "2026-08-03", "Won", 1000.0, "2026-09-10"),
    ("w2", "r1", "2026-08-05", "Lost", 500.0, "2026-09-20"),
    ("w3", "r2", "2026-10-02", "Won", 600.0, "2026-10-12"),
    ("w4", "r2", "2026-08-01", "Lost", 300.0, "2026-09-30"),
    ("w5", "r2", "2026-08-01", "Lost", 200.0, "2026-08-10"),
    ("w6", "r1", "2026-10-01", "Won", 700.0, "2026-11-20"),
    ("w7", "r1", "2026-09-01", "Proposal", 800.0, "2026-11-30"),
    ("w8", "r2", "2026-09-15", "Meeting", 400.0, "2026-12-15"),
]
WEIGHTED_HISTORY = [
    ("w1", "SQL", "2026-08-03"), ("w1", "Meeting", "2026-08-10"), ("w1", "Proposal", "2026-08-20"),
    ("w1", "Won", "2026-09-10"),
    ("w2", "SQL", "2026-08-05"), ("w2", "Meeting", "2026-08-15"), ("w2", "Lost", "2026-09-20"),
    ("w3", "SQL", "2026-10-02"), ("w3", "Won", "2026-10-12"),
    ("w4", "SQL", "2026-08-01"), ("w4", "Meeting", "2026-08-12"), ("w4", "Proposal", "2026-09-01"),
    ("w4", "Lost", "2026-09-30"),
    ("w5", "SQL", "2026-08-01"), ("w5", "Lost", "2026-08-10"),
    ("w6", "SQL", "2026-10-01"), ("w6", "Meeting", "2026-10-10"), ("w6", "Proposal", "2026-11-01"),
    ("w6", "Won", "2026-11-20"),
    ("w7", "SQL", "2026-09-01"), ("w7", "Meeting", "2026-09-10"), ("w7", "Proposal", "2026-10-05"),
    ("w8", "SQL", "2026-09-15"), ("w8", "Meeting", "2026-09-25"),
]


def weighted_ds(with_history: bool = True) -> Dataset:
    hist = history(WEIGHTED_HISTORY) if with_history else None
    return Dataset.from_frames(reps=reps(), opportunities=opps(WEIGHTED), stage_history=hist)


def test_weighted_pipeline_weights_open_amount_by_historical_stage_win_probability():
    # r1: w7 800 x 2/3 + w6 700 x 0.5 = 883.33; r2: w8 400 x 0.5 = 200; r3: nothing open -> 0
    out = weighted_pipeline(weighted_ds(), OCT)
    assert out.name == "weighted_pipeline"
    assert out.loc["r1"] == pytest.approx(800 * 2 / 3 + 350)
    assert out.loc["r2"] == pytest.approx(200.0)
    assert out.loc["r3"] == 0.0
    assert weighted_pipeline(weighted_ds(), OCT, by="team").loc["East"] == pytest.approx(
        800 * 2 / 3 + 350 + 200)


def test_weighted_pipeline_of_a_past_period_uses_only_deals_closed_before_its_end():
    # Sep (end Oct 1): w3 closed Oct 12 is not history yet. Closed: w1 won, w2 w4 w5 lost;
    # Meeting reached by w1 w2 w4 -> 1/3. Open on Oct 1: w7 (Meeting then) 800, w8 400.
    out = weighted_pipeline(weighted_ds(), "2026-09")
    assert out.loc["r1"] == pytest.approx(800 / 3)
    assert out.loc["r2"] == pytest.approx(400 / 3)


def test_weighted_pipeline_without_history_uses_the_overall_win_rate():
    # 2 won of 5 closed = 0.4 for every stage (w6's stage on Nov 1 is unknown: same rate)
    # r1: (700 + 800) x 0.4 = 600; r2: 400 x 0.4 = 160
    out = weighted_pipeline(weighted_ds(with_history=False), OCT)
    assert out.loc["r1"] == pytest.approx(600.0)
    assert out.loc["r2"] == pytest.approx(160.0)


def test_weighted_pipeline_is_nan_without_any_closed_history():
    rows = [("a", "r1", "2026-10-01", "SQL", 100.0, "2026-12-01")]
    out = weighted_pipeline(Dataset.from_frames(reps=reps(), opportunities=opps(rows)), OCT)
    assert math.isnan(out.loc["r1"])
    assert out.loc["r2"] == 0.0


# ---------------------------------------------------------------------------- every metric

PIPELINE_IDS = ["pipeline_by_stage", "quota_gap", "pipeline_coverage", "weighted_pipeline"]


def full_frames() -> dict[str, pd.DataFrame]:
    return {
        "reps": reps(),
        "opportunities": opps(WEIGHTED),
        "stage_history": history(WEIGHTED_HISTORY),
        "quotas": quotas([("r1", "2026-Q4", 3000.0), ("r2", OCT, 500.0)]),
    }


def run_all(ds: Dataset) -> dict:
    out = {}
    for mid in PIPELINE_IDS:
        d = REGISTRY[mid]
        assert d.theme == "pipeline"
        for by in d.groupings:
            if by == "level":
                continue  # no levels in this dataset
            for period in ("2026-09", OCT):
                out[mid, by, period] = d.func(ds, period, by=by)
    return out


def test_row_order_does_not_change_any_pipeline_result():
    frames = full_frames()
    shuffled = {k: v.sample(frac=1, random_state=3).reset_index(drop=True) for k, v in frames.items()}
    first = run_all(Dataset.from_frames(**frames))
    second = run_all(Dataset.from_frames(**shuffled))
    for key, result in first.items():
        other = second[key]
        if isinstance(result, pd.Series):
            pd.testing.assert_series_equal(result.sort_index(), other.sort_index(), obj=str(key))
        else:
            pd.testing.assert_frame_equal(result.sort_index(), other.sort_index(), obj=str(key))


def test_pipeline_metrics_do_not_mutate_the_dataset():
    ds = Dataset.from_frames(**full_frames())
    before = {k: v.copy(deep=True) for k, v in ds.tables.items() if v is not None}
    results = run_all(ds)
    assert len(results) == 4 * 3 * 2
    for name, frame in before.items():
        pd.testing.assert_frame_equal(ds.tables[name], frame, obj=name)
