"""The public Maven Analytics CRM sample end to end: import, validate, metrics, the team
overview notebook and a rep's report, checked against an independent DuckDB computation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import kpikit
from kpikit.importers import import_crm
from kpikit.metrics import metric_table

MAVEN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "maven_crm"
pytestmark = pytest.mark.skipif(not MAVEN.exists(), reason=f"the public dataset is not at {MAVEN}")

#: the same numbers straight from the raw export, in SQL (agents are names in the export)
TRUTH_SQL = """
SELECT sales_agent,
       count(*) FILTER (WHERE deal_stage = 'Won') AS won,
       count(*) FILTER (WHERE deal_stage = 'Lost') AS lost,
       coalesce(sum(close_value) FILTER (WHERE deal_stage = 'Won'), 0) AS revenue
FROM read_csv_auto('{path}', header = true)
WHERE close_date BETWEEN DATE '2017-01-01' AND DATE '2017-12-31'
GROUP BY sales_agent
"""


@pytest.fixture(scope="module")
def maven(tmp_path_factory) -> tuple[Path, kpikit.Dataset]:
    out = tmp_path_factory.mktemp("maven") / "org"
    result = import_crm("maven", sorted(MAVEN.glob("*.csv")), out)
    assert result.ok
    return out, kpikit.load(out)


@pytest.fixture(scope="module")
def truth():
    df = duckdb.sql(TRUTH_SQL.format(path=MAVEN / "sales_pipeline.csv")).df()
    return df.set_index("sales_agent")


def test_won_deals_and_revenue_per_rep_match_the_raw_export(maven, truth):
    _, ds = maven
    t = metric_table(ds, "2017", metrics=["deals_won", "deals_lost", "total_sales"])
    names = ds.reps.set_index("rep_id")["name"]
    got = t.values.rename(index=names)
    for agent, row in truth.iterrows():
        assert got.at[agent, "deals_won"] == row["won"], agent
        assert got.at[agent, "deals_lost"] == row["lost"], agent
        assert got.at[agent, "total_sales"] == pytest.approx(row["revenue"]), agent
    # the five agents without deals are reps too, with zero results
    idle = set(names) - set(truth.index)
    assert len(idle) == 5 and all(got.loc[list(idle), "deals_won"] == 0)


def test_org_win_rate_and_average_deal_match_the_raw_export(maven, truth):
    _, ds = maven
    t = metric_table(ds, "2017", by="org", metrics=["win_rate", "avg_deal_size", "total_sales"])
    won, lost, revenue = truth["won"].sum(), truth["lost"].sum(), truth["revenue"].sum()
    assert (won, lost) == (4238, 2473)
    assert t.values.iloc[0]["win_rate"] == pytest.approx(won / (won + lost))
    assert t.values.iloc[0]["avg_deal_size"] == pytest.approx(revenue / won)
    assert t.values.iloc[0]["total_sales"] == pytest.approx(revenue)


def test_metrics_the_export_cannot_support_say_what_they_need(maven):
    _, ds = maven
    t = metric_table(ds, "2017-06")
    assert "needs activities" in t.unavailable["calls_made"]
    assert "needs quotas" in t.unavailable["quota_attainment"]
    assert "calls_made" not in t.values.columns  # never a silent 0


def test_team_overview_notebook_runs_on_the_public_dataset(maven, tmp_path):
    import papermill as pm

    folder, _ = maven
    out = tmp_path / "team.ipynb"
    pm.execute_notebook(
        str(Path(__file__).resolve().parents[1] / "notebooks" / "team_overview.ipynb"),
        str(out), parameters={"data": str(folder), "period": "2017-Q4"}, progress_bar=False,
        kernel_name="python3",
    )
    text = out.read_text(encoding="utf-8")
    assert "not available" in text  # sections that need activities / quotas say so


def test_a_rep_report_on_the_public_dataset_degrades_gracefully(maven, tmp_path):
    from kpikit.reports import render_rep_report

    folder, ds = maven
    rep = ds.reps.set_index("name").at["Darcel Schlecht", "rep_id"]
    result = render_rep_report(folder, rep, "2017-12", tmp_path)
    html = result.html.read_text(encoding="utf-8")
    assert "Darcel Schlecht" in html
    assert "needs activities" in html
    assert "Moses Frase" not in html  # another agent


def test_a_batch_of_rep_reports_on_the_public_dataset(maven, tmp_path):
    import json

    from kpikit.batch import run_batch

    folder, ds = maven
    reps = list(ds.reps["rep_id"][:4])  # includes agents with and without deals
    result = run_batch(folder, "2017-12", tmp_path, reps=reps, progress=False)
    assert result.ok, result.summary()
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["reports"]) == 4
    assert all(r["status"] == "ok" for r in manifest["reports"])
    assert (tmp_path / "index.html").exists()
