"""The per-rep coaching report: its content, its privacy, and reps with nothing to show."""

from __future__ import annotations

import base64
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

import kpikit
from kpikit import report
from kpikit.render import assert_offline
from kpikit.reports import ReportError, check_parameters, render_rep_report, safe_name
from kpikit.synth import write_demo_data

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    folder = tmp_path_factory.mktemp("org") / "data"
    write_demo_data(folder, reps=12, months=6, end=PERIOD, seed=21)
    return folder


@pytest.fixture(scope="module")
def ds(org) -> kpikit.Dataset:
    return kpikit.load(org)


def _an_ae(ds: kpikit.Dataset) -> str:
    return str(ds.reps.loc[ds.reps["role"] == "AE", "rep_id"].iloc[0])


# -- content -----------------------------------------------------------------------------------


def test_headline_holds_the_reps_own_numbers_this_period_and_last(ds):
    rep = _an_ae(ds)
    ctx = report.context(ds, rep, PERIOD)
    head = report.headline(ctx).set_index("metric")
    opps = ds.opportunities
    won = opps[(opps["rep_id"] == rep) & (opps["status"] == "won")]
    oct_won = won[won["close_date"].between("2026-10-01", "2026-10-31")]
    sep_won = won[won["close_date"].between("2026-09-01", "2026-09-30")]
    assert head.at["total_sales", "value"] == oct_won["amount"].sum()
    assert head.at["total_sales", "previous"] == sep_won["amount"].sum()
    assert head.at["deals_won", "value"] == len(oct_won)


def test_peer_benchmarks_are_medians_of_the_same_role_and_never_name_peers(ds):
    rep = _an_ae(ds)
    ctx = report.context(ds, rep, PERIOD)
    assert ctx.peers is not None and ctx.peers.size >= 5
    act = report.activity_vs_peers(ctx).set_index("metric")
    calls = kpikit.metrics.metric_table(ds, PERIOD, metrics=["calls_made"]).values["calls_made"]
    expected = calls.reindex(list(ctx.peers.members)).median()
    assert act.at["calls_made", "peer_median"] == expected
    # nothing in the frame can identify a peer
    others = set(ds.reps["rep_id"]) - {rep}
    text = act.to_string() + report.format_activity(ctx, act.reset_index()).to_string()
    assert not any(o in text for o in others)


def test_small_peer_groups_are_suppressed():
    reps = pd.DataFrame({"rep_id": ["a", "b", "c"], "role": ["AE"] * 3})
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2"],
            "rep_id": ["a", "b"],
            "created_at": ["2026-10-01"] * 2,
            "stage": ["Won", "Lost"],
            "amount": [10.0, 20.0],
            "close_date": ["2026-10-05"] * 2,
        }
    )
    small = kpikit.Dataset.from_frames(reps=reps, opportunities=opps)
    ctx = report.context(small, "a", PERIOD)
    assert ctx.peers is None
    act = report.activity_vs_peers(ctx)
    assert act["peer_median"].isna().all()
    assert "fewer than 5 reps" in report.notes_markdown(ctx, "activity")


def test_funnel_marks_one_leak_and_counts_the_reps_cohorts(ds):
    rep = _an_ae(ds)
    ctx = report.context(ds, rep, PERIOD)
    detail = report.leakage_detail(ctx)
    frame = report.funnel_frame(ctx, detail)
    assert frame["is_leak"].sum() <= 1
    assert list(frame["count"][:-1]) == list(detail["rep_n"])
    if report.leak_step(detail):
        leak = frame.loc[frame["is_leak"], "stage"].iloc[0]
        assert report.leak_step(detail).startswith(leak)


def test_coaching_focus_ranks_priced_gaps_by_revenue():
    detail = pd.DataFrame(
        {
            "transition": ["Lead -> SQL", "Proposal -> Won"],
            "from_stage": ["Lead", "Proposal"],
            "to_stage": ["SQL", "Won"],
            "rep_successes": [10, 2],
            "rep_n": [100, 20],
            "rep_rate": [0.1, 0.1],
            "benchmark_rate": [0.2, 0.3],
            "benchmark_basis": ["team", "team"],
            "shortfall": [0.1, 0.2],
            "p_value": [0.01, 0.02],
            "measurable": [True, True],
            "extra_deals": [0.5, 4.0],
            "extra_revenue": [5_000.0, 40_000.0],
        }
    )
    activity = pd.DataFrame({"metric": ["pct_leads_responded_1h"], "value": [0.2], "peer_median": [0.5]})
    ctx = report.context(kpikit.sample_dataset(reps=6, months=2), "R002", PERIOD)
    items = report.coaching_focus(ctx, detail, activity)
    assert [i.title for i in items] == [
        "Convert more at Proposal -> Won",
        "Convert more at Lead -> SQL",
        "Answer new leads faster",
    ]
    text = report.format_focus(ctx, items)
    assert "4.0 deals" in text and "40,000 USD" in text


def test_coaching_focus_skips_gaps_that_are_probably_luck():
    detail = pd.DataFrame(
        {
            "transition": ["Proposal -> Won"],
            "from_stage": ["Proposal"],
            "to_stage": ["Won"],
            "rep_successes": [5],
            "rep_n": [20],
            "rep_rate": [0.25],
            "benchmark_rate": [0.27],
            "benchmark_basis": ["team"],
            "shortfall": [0.02],
            "p_value": [0.55],
            "measurable": [True],
            "extra_deals": [0.1],
            "extra_revenue": [900.0],
        }
    )
    ctx = report.context(kpikit.sample_dataset(reps=6, months=2), "R002", PERIOD)
    assert report.coaching_focus(ctx, detail, pd.DataFrame()) == []
    assert "Nothing stands out" in report.format_focus(ctx, [])


def test_unknown_rep_is_a_clear_error(ds):
    with pytest.raises(kpikit.KpikitError, match="rep 'nobody' is not in the dataset"):
        report.context(ds, "nobody", PERIOD)


# -- rendering: privacy, offline, parameters -------------------------------------------------


def _decoded_text(html: str) -> str:
    """The HTML plus every base64 payload in it decoded (charts are data: URIs)."""
    parts = [html]
    for payload in re.findall(r"base64,([A-Za-z0-9+/=]+)", html):
        parts.append(base64.b64decode(payload).decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def rendered(org, ds, tmp_path_factory):
    rep = _an_ae(ds)
    out = tmp_path_factory.mktemp("reports")
    return rep, render_rep_report(org, rep, PERIOD, out)


def test_a_reps_files_hold_no_other_reps_name_id_deals_leads_or_accounts(ds, rendered):
    rep, result = rendered
    html = _decoded_text(result.html.read_text(encoding="utf-8"))
    notebook = result.notebook.read_text(encoding="utf-8")
    reps = ds.reps.set_index("rep_id")
    others = [r for r in reps.index if r != rep]
    forbidden = set(others) | {reps.at[r, "name"] for r in others}
    for table, key in (("opportunities", "opportunity_id"), ("leads", "lead_id")):
        df = ds.tables[table]
        forbidden |= set(df.loc[df["rep_id"] != rep, key].head(300))
    accounts = ds.accounts
    forbidden |= set(accounts.loc[accounts["rep_id"] != rep, "name"].head(300))
    leaks = sorted(f for f in forbidden if f in html or f in notebook)
    assert leaks == []
    # and the rep's own name is there (the test can see names at all)
    assert reps.at[rep, "name"] in html


def test_the_report_loads_nothing_from_the_network(rendered):
    _rep, result = rendered
    html = result.html.read_text(encoding="utf-8")
    assert_offline(html)
    assert "<script" not in html.lower()


def test_the_report_hides_code_and_shows_every_section(rendered, ds):
    rep, result = rendered
    html = result.html.read_text(encoding="utf-8")
    for heading in (
        "At a glance",
        "Your activity against your peers",
        "Your funnel",
        "Your plan",
        "Trends",
        "Coaching focus",
        "Definitions",
    ):
        assert heading in html
    assert "report.context(" not in html and "NBVAL_CHECK_OUTPUT" not in html
    nb = nbformat.read(result.notebook, as_version=4)
    assert nb.metadata["kpikit"]["rep_name"] == ds.reps.set_index("rep_id").at[rep, "name"]
    assert nb.metadata["papermill"]["parameters"]["rep_id"] == rep


def test_a_rep_with_no_activity_leads_or_deals_gets_a_sensible_report(tmp_path):
    folder = tmp_path / "org"
    write_demo_data(folder, reps=8, months=3, end=PERIOD, seed=4)
    reps = pd.read_csv(folder / "reps.csv", dtype=str)
    idle = pd.DataFrame([{**reps.iloc[0].to_dict(), "rep_id": "NEW1", "name": "Nova Newhire", "role": "AE"}])
    pd.concat([reps, idle]).to_csv(folder / "reps.csv", index=False)
    result = render_rep_report(folder, "NEW1", PERIOD, tmp_path / "out")
    html = result.html.read_text(encoding="utf-8")
    assert "Nova Newhire" in html
    assert "In 2026-10 you closed 0 deals" in html
    assert "no revenue quota for you" in html


def test_parameters_must_be_known_plain_json():
    with pytest.raises(ReportError, match="unknown report parameter"):
        check_parameters({"rep_id": "x", "kernel": "y"})
    with pytest.raises(ReportError, match="must be text, a number"):
        check_parameters({"rep_id": ["x"]})
    assert check_parameters({"rep_id": "0042", "static": True}) == {"rep_id": "0042", "static": True}


@pytest.mark.parametrize("rep_id", ["R001", "../../etc", "a/b", "<script>", "Zoë Ø", "..", "", "a b"])
def test_safe_names_stay_inside_the_folder_and_are_unique(rep_id):
    name = safe_name(rep_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert name not in (".", "..")
    others = {
        safe_name(x)
        for x in ["R001", "../../etc", "a/b", "<script>", "Zoë Ø", "..", "", "a b"]
        if x != rep_id
    }
    assert name not in others


def test_failed_report_keeps_the_notebook_and_publishes_no_html(org, tmp_path):
    # one second is not enough to run the notebook: papermill times out inside it
    with pytest.raises(ReportError, match="failed"):
        render_rep_report(org, "R001", PERIOD, tmp_path, timeout=1)
    assert not list(tmp_path.glob("*.html"))
    assert np.array(list(tmp_path.glob("*.failed.ipynb"))).size == 1
