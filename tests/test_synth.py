"""The sample org generator (kpikit.synth): shape, consistency, determinism, hidden truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import kpikit
from kpikit.errors import KpikitError
from kpikit.schema import TABLE_NAMES, TABLES
from kpikit.synth import STAGE_RATES, SyntheticOrg, generate, write_demo_data


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate(reps=12, months=6, end="2026-03", seed=3)


@pytest.fixture(scope="module")
def default_org() -> SyntheticOrg:
    return generate()


@pytest.fixture(scope="module")
def big() -> SyntheticOrg:
    """30 reps x 12 months at 5x the lead volume: enough for per-rep rate checks."""
    return generate(reps=30, months=12, lead_volume=5, seed=11)


def _window(o: SyntheticOrg) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(o.truth["params"]["start"])
    end = pd.Timestamp(o.truth["params"]["end"]) + pd.DateOffset(months=1)
    return start, end


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_identical_tables_and_truth():
    a = generate(reps=8, months=3, seed=5)
    b = generate(reps=8, months=3, seed=5)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert a.truth == b.truth


def test_different_seed_gives_different_data():
    a = generate(reps=8, months=3, seed=5)
    b = generate(reps=8, months=3, seed=6)
    assert not a.tables["activities"].equals(b.tables["activities"])
    assert a.truth["reps"] != b.truth["reps"]


# ---------------------------------------------------------------- columns and ids
def test_every_table_has_the_canonical_columns_in_order(org):
    assert set(org.tables) == set(TABLE_NAMES)
    for name, spec in TABLES.items():
        assert list(org.tables[name].columns) == list(spec.column_names), name
        assert len(org.tables[name]) > 0, name


def test_required_columns_have_no_missing_values(org):
    for name, spec in TABLES.items():
        for col in spec.required_columns:
            assert org.tables[name][col].notna().all(), f"{name}.{col}"


def test_columns_have_their_canonical_types(org):
    for name, spec in TABLES.items():
        df = org.tables[name]
        for col in spec.columns:
            s = df[col.name]
            if col.kind in ("datetime", "date"):
                assert pd.api.types.is_datetime64_any_dtype(s), f"{name}.{col.name}"
                assert s.dt.tz is None
            elif col.kind == "number":
                assert pd.api.types.is_float_dtype(s), f"{name}.{col.name}"
            elif col.kind == "int":
                assert str(s.dtype) == "Int64", f"{name}.{col.name}"
            elif col.kind == "bool":
                assert str(s.dtype) == "boolean", f"{name}.{col.name}"
            else:
                assert pd.api.types.is_string_dtype(s), f"{name}.{col.name}"
    dates = org.tables["opportunities"]["close_date"].dropna()
    assert (dates == dates.dt.normalize()).all()


def test_keys_are_unique_and_ids_formatted(org):
    for name, spec in TABLES.items():
        if spec.key:
            assert not org.tables[name].duplicated(list(spec.key)).any(), name
    t = org.tables
    assert t["reps"]["rep_id"].str.fullmatch(r"R\d{3}").all()
    assert t["leads"]["lead_id"].str.fullmatch(r"L\d{6}").all()
    assert t["opportunities"]["opportunity_id"].str.fullmatch(r"O\d{5}").all()
    assert t["activities"]["activity_id"].str.fullmatch(r"A\d{7}").all()
    assert t["accounts"]["account_id"].str.fullmatch(r"AC\d{5}").all()


def test_references_resolve(org):
    t = org.tables
    for name, spec in TABLES.items():
        for ref in spec.references:
            values = t[name][ref.column].dropna()
            missing = ~values.isin(t[ref.table][ref.target])
            assert not missing.any(), f"{name}.{ref.column}: {values[missing].head().tolist()}"
    assert t["customers"]["account_id"].isin(t["accounts"]["account_id"]).all()


# ---------------------------------------------------------------- funnel consistency
def test_stage_history_starts_at_sql_when_the_opportunity_opens(org):
    sh = org.tables["stage_history"].sort_values(["opportunity_id", "entered_at"], kind="stable")
    first = sh.groupby("opportunity_id").first()
    opps = org.tables["opportunities"].set_index("opportunity_id")
    assert set(first.index) == set(opps.index)
    assert (first["stage"] == "SQL").all()
    assert (first["entered_at"] == opps.loc[first.index, "created_at"]).all()


def test_stage_history_ends_at_the_current_stage_and_status(org):
    sh = org.tables["stage_history"].sort_values(["opportunity_id", "entered_at"], kind="stable")
    last = sh.groupby("opportunity_id")["stage"].last()
    opps = org.tables["opportunities"].set_index("opportunity_id")
    assert (last == opps.loc[last.index, "stage"]).all()
    expected = opps["stage"].map({"Won": "won", "Lost": "lost"}).fillna("open")
    assert (opps["status"] == expected).all()
    assert set(opps["stage"]) <= {"SQL", "Meeting", "Proposal", "Won", "Lost"}
    # a terminal stage is entered at most once, and nothing follows it
    term = sh[sh["stage"].isin(["Won", "Lost"])]
    assert not term.duplicated("opportunity_id").any()


def test_close_date_not_before_created_at(org):
    opps = org.tables["opportunities"]
    assert (opps["close_date"] >= opps["created_at"]).all()


def test_open_opportunities_expect_to_close_after_the_end(org):
    _, end = _window(org)
    opps = org.tables["opportunities"]
    is_open = opps["status"] == "open"
    assert is_open.any()
    assert (opps.loc[is_open, "close_date"] >= end).all()
    assert (opps.loc[~is_open, "close_date"] < end).all()


def test_lost_reason_only_on_lost_opportunities(org):
    opps = org.tables["opportunities"]
    assert opps["lost_reason"].notna().eq(opps["status"] == "lost").all()


def test_qualified_leads_have_their_opportunity(org):
    leads = org.tables["leads"]
    opps = org.tables["opportunities"].set_index("opportunity_id")
    q = leads[leads["qualified_at"].notna()]
    assert len(q) and q["opportunity_id"].notna().all()
    assert leads.loc[leads["qualified_at"].isna(), "opportunity_id"].isna().all()
    linked = opps.loc[q["opportunity_id"]]
    assert (linked["created_at"].to_numpy() == q["qualified_at"].to_numpy()).all()
    assert (linked["lead_id"].to_numpy() == q["lead_id"].to_numpy()).all()
    assert (linked["source"].to_numpy() == q["source"].to_numpy()).all()
    both = leads[leads["qualified_at"].notna() & leads["disqualified_at"].notna()]
    assert both.empty


def test_sdr_leads_are_handed_to_an_ae_of_the_same_team(org):
    t = org.tables
    reps = t["reps"].set_index("rep_id")
    q = t["leads"][t["leads"]["opportunity_id"].notna()]
    q = q[q["rep_id"].map(reps["role"]) == "SDR"]
    assert len(q)
    owner = t["opportunities"].set_index("opportunity_id").loc[q["opportunity_id"], "rep_id"]
    assert (owner.map(reps["role"]) == "AE").all()
    assert (owner.map(reps["team"]).to_numpy() == q["rep_id"].map(reps["team"]).to_numpy()).all()
    # the SDR logs the appointment it set, on the lead and the new opportunity
    acts = t["activities"]
    appt = acts[acts["type"].eq("appointment_set")].set_index("opportunity_id")
    got = appt.loc[q["opportunity_id"]]
    assert (got["rep_id"].to_numpy() == q["rep_id"].to_numpy()).all()
    assert (got["occurred_at"].to_numpy() == q["qualified_at"].to_numpy()).all()


def test_meeting_and_proposal_entries_have_their_activities(org):
    start, _ = _window(org)
    sh = org.tables["stage_history"]
    sh = sh[sh["entered_at"] >= start]  # the warm-up pipeline has no activities before the window
    acts = org.tables["activities"]
    keys = ["opportunity_id", "occurred_at"]
    held = acts[(acts["type"] == "meeting") & (acts["outcome"] == "held")][keys]
    sent = acts[acts["type"] == "proposal_sent"][keys]
    for stage, marks in (("Meeting", held), ("Proposal", sent)):
        entries = sh[sh["stage"] == stage].rename(columns={"entered_at": "occurred_at"})
        matched = entries.merge(marks.drop_duplicates(), on=keys, how="left", indicator=True)
        assert len(entries) and (matched["_merge"] == "both").all(), stage


def test_first_response_at_is_the_first_outbound_touch(org):
    leads = org.tables["leads"].set_index("lead_id")
    acts = org.tables["activities"]
    out = acts[acts["lead_id"].notna() & (acts["direction"] == "outbound")]
    first = out.groupby("lead_id")["occurred_at"].min()
    rec = leads["first_response_at"].dropna()
    assert (rec == first.loc[rec.index]).all()
    # inbound replies never come before the first outbound touch
    inb = acts[acts["lead_id"].notna() & (acts["direction"] == "inbound")]
    assert (inb["occurred_at"].to_numpy() > first.loc[inb["lead_id"]].to_numpy()).all()


def test_some_leads_need_their_response_time_derived(default_org):
    leads = default_org.tables["leads"]
    share = leads["first_response_at"].notna().mean()
    assert 0.3 < share < 0.7


def test_all_events_lie_in_the_window(org):
    start, end = _window(org)
    t = org.tables
    for name, col in (("leads", "created_at"), ("activities", "occurred_at"),
                      ("leads", "qualified_at"), ("leads", "disqualified_at"),
                      ("stage_history", "entered_at"), ("customers", "end_date")):
        s = t[name][col].dropna()
        assert (s < end).all(), f"{name}.{col}"
    assert (t["leads"]["created_at"] >= start).all()
    assert (t["activities"]["occurred_at"] >= start).all()
    # opportunities opened before the window are the warm-up pipeline: open at its start
    early = t["opportunities"][t["opportunities"]["created_at"] < start]
    assert early["lead_id"].isna().all() and (early["close_date"] >= start).all()


def test_activities_are_mostly_on_weekdays_in_working_hours(default_org):
    when = default_org.tables["activities"]["occurred_at"]
    assert (when.dt.day_of_week < 5).mean() > 0.95
    assert when.dt.hour.between(7, 19).mean() > 0.85


# ---------------------------------------------------------------- the org's shape
def test_default_org_has_three_teams_and_five_reps_per_level(default_org):
    reps = default_org.tables["reps"]
    assert len(reps) == 25 and reps["team"].nunique() == 3
    assert reps["level"].value_counts().min() >= 5
    roles = reps["role"].value_counts()
    assert set(roles.index) == {"SDR", "AE", "AM"} and roles["AE"] > len(reps) / 2
    assert reps["name"].is_unique and reps["manager"].notna().all()
    assert reps.groupby("team")["manager"].nunique().eq(1).all()


def test_leads_come_from_several_sources(default_org):
    src = set(default_org.tables["leads"]["source"])
    assert {"marketing", "referral", "event", "outbound", "partner", "website"} <= src


def test_activities_cover_every_type_and_some_are_inbound(default_org):
    acts = default_org.tables["activities"]
    assert {"call", "email", "meeting", "appointment_set", "linkedin", "social", "demo",
            "proposal_sent"} <= set(acts["type"])
    assert 0.02 < (acts["direction"] == "inbound").mean() < 0.2
    emails = acts[(acts["type"] == "email") & (acts["direction"] == "outbound")]
    assert (emails["content_links"] > 0).any() and (emails["clicks"] > 0).any()
    assert acts["collateral_id"].notna().any()
    assert (acts["clicks"].dropna() <= acts["content_links"].dropna()).all()


def test_account_managers_touch_their_key_accounts(default_org):
    t = default_org.tables
    key = t["accounts"].loc[t["accounts"]["key_account"].fillna(False), "account_id"]
    acts = t["activities"]
    on_key = acts[acts["account_id"].isin(key)]
    roles = on_key["rep_id"].map(t["reps"].set_index("rep_id")["role"])
    assert len(on_key) and (roles == "AM").all()
    assert on_key["duration_min"].notna().any()


def test_some_reps_never_follow_up_a_second_time(default_org):
    reps = default_org.truth["reps"]
    follow = [r["follow_up_rate"] for r in reps.values() if r["follow_up_rate"] is not None]
    assert min(follow) < 0.1 and max(follow) > 0.5


def test_quotas_cover_the_window_and_three_months_ahead(org):
    t = org.tables
    roles = t["reps"].set_index("rep_id")["role"]
    q = t["quotas"]
    assert set(q["rep_id"].map(roles)) == {"AE", "AM"}
    periods = sorted(q["period"].unique())
    assert periods[0] == "2025-10" and periods[-1] == "2026-06" and len(periods) == 9
    assert (q["quota"] > 0).all()


def test_customers_start_when_a_new_business_deal_is_won(org):
    t = org.tables
    start, _ = _window(org)
    opps = t["opportunities"]
    won = opps[(opps["status"] == "won") & (opps["source"] != "expansion")]
    cust = t["customers"].set_index("account_id")
    assert (cust.loc[won["account_id"], "start_date"].to_numpy() == won["close_date"].to_numpy()).all()
    ended = t["customers"].dropna(subset=["end_date"])
    assert len(ended) and (ended["end_date"] > ended["start_date"]).all()
    # the account managers' book: customers from before the window, every one active at its start
    book = t["customers"][t["customers"]["start_date"] < start]
    assert len(book) and (book["end_date"].isna() | (book["end_date"] >= start)).all()


def test_costs_have_one_row_per_month_and_channel(org):
    costs = org.tables["costs"]
    assert costs["period"].nunique() == 6
    assert not costs.duplicated(["period", "channel"]).any()
    assert (costs[["sales_cost", "marketing_cost"]] >= 0).all().all()
    assert costs["sales_cost"].sum() > 0 and costs["marketing_cost"].sum() > 0


# ---------------------------------------------------------------- the hidden truth
def test_truth_is_json_serialisable_with_every_rep(org):
    truth = json.loads(json.dumps(org.truth))
    assert truth["params"] == {"seed": 3, "reps": 12, "months": 6, "end": "2026-03",
                               "lead_volume": 1.0, "start": "2025-10", "warmup_months": 3}
    reps = truth["reps"]
    assert list(reps) == org.tables["reps"]["rep_id"].tolist()
    for rep in reps.values():
        for key in (*STAGE_RATES, "avg_deal_size", "response_median_h", "weak_stage", "team",
                    "level", "role"):
            assert key in rep
    ae = next(r for r in reps.values() if r["role"] == "AE")
    assert all(0 < ae[s] < 1 for s in STAGE_RATES) and ae["avg_deal_size"] > 0
    sdr = next(r for r in reps.values() if r["role"] == "SDR")
    assert sdr["proposal_to_won"] is None and sdr["lead_to_sql"] > 0


def test_weak_stage_rates_are_well_below_the_team_base(default_org):
    truth = default_org.truth
    weak = [r for r in truth["reps"].values() if r["weak_stage"]]
    assert len(weak) >= 5
    for r in weak:
        base = truth["teams"][r["team"]]["base_rates"][r["weak_stage"]]
        assert r[r["weak_stage"]] < 0.7 * base


def _empirical_rates(o: SyntheticOrg, cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Cohort conversion per rep as docs/funnel.md defines it, cohorts entered before ``cutoff``.

    Leads are counted for the lead owner; opportunity steps for the opportunity owner.
    "Reached stage X" = an entry for X or a later open stage or Won.
    """
    start, _ = _window(o)
    t = o.tables
    leads = t["leads"][t["leads"]["created_at"] < cutoff]
    out = {"lead_to_sql": pd.DataFrame({
        "rep_id": leads["rep_id"], "ok": leads["qualified_at"].notna()})}
    first = t["stage_history"].pivot_table(index="opportunity_id", columns="stage",
                                           values="entered_at", aggfunc="min")
    opps = t["opportunities"].set_index("opportunity_id").loc[first.index]
    meet = first[["Meeting", "Proposal", "Won"]].min(axis=1)
    prop = first[["Proposal", "Won"]].min(axis=1)
    won = opps["status"] == "won"
    for name, entered, ok in (
        ("sql_to_meeting", opps["created_at"], meet.notna()),
        ("meeting_to_proposal", meet, prop.notna()),
        ("proposal_to_won", prop, won),
    ):
        cohort = (entered >= start) & (entered < cutoff)
        out[name] = pd.DataFrame({"rep_id": opps["rep_id"][cohort], "ok": ok[cohort]})
    return {
        name: df.groupby("rep_id")["ok"].agg(n="size", k="sum") for name, df in out.items()
    }


@pytest.fixture(scope="module")
def big_rates(big) -> dict[str, pd.DataFrame]:
    _, end = _window(big)
    return _empirical_rates(big, end - pd.DateOffset(months=4))  # mature cohorts only


@pytest.mark.parametrize("stage", STAGE_RATES)
def test_hidden_rates_are_recovered_per_rep(big, big_rates, stage):
    truth = pd.DataFrame(big.truth["reps"]).T
    df = big_rates[stage].join(truth[stage].astype(float)).dropna()
    df = df[df["n"] >= 30]
    assert len(df) >= 5
    p = df[stage]
    z = (df["k"] / df["n"] - p) / np.sqrt(p * (1 - p) / df["n"])
    assert (z.abs() < 4.5).all(), z.round(2).to_dict()


@pytest.mark.parametrize("stage", STAGE_RATES)
def test_weak_reps_are_below_their_team_at_their_weak_stage(big, big_rates, stage):
    truth = pd.DataFrame(big.truth["reps"]).T
    df = big_rates[stage].join(truth[["team", "weak_stage"]])
    team_n = df.groupby("team")["n"].transform("sum")
    team_k = df.groupby("team")["k"].transform("sum")
    df["rate"] = df["k"] / df["n"]
    df["others"] = (team_k - df["k"]) / (team_n - df["n"])  # the rest of the team, pooled
    weak = df[(df["weak_stage"] == stage) & (df["n"] >= 100)]
    assert len(weak) >= 1
    assert (weak["rate"] < weak["others"] - 0.05).all(), weak.to_dict()


def test_response_median_is_recovered(big):
    leads = big.tables["leads"]
    acts = big.tables["activities"]
    out = acts[acts["lead_id"].notna() & (acts["direction"] == "outbound")]
    first = out.groupby("lead_id")["occurred_at"].min()
    hours = (leads.set_index("lead_id")["created_at"].rsub(first).dt.total_seconds() / 3600)
    med = hours.groupby(leads.set_index("lead_id")["rep_id"]).median()
    truth = pd.Series({k: v["response_median_h"] for k, v in big.truth["reps"].items()}).dropna()
    ratio = med.loc[truth.index] / truth.astype(float)
    assert ratio.between(0.85, 1.15).all(), ratio.round(2).to_dict()
    assert truth.min() < 1 and truth.max() > 12  # some answer within the hour, some next day


def test_average_deal_size_is_recovered_for_sellers(big):
    opps = big.tables["opportunities"]
    mean = opps.groupby("rep_id")["amount"].mean()
    truth = pd.Series({k: v["avg_deal_size"] for k, v in big.truth["reps"].items()}).dropna()
    ratio = mean.loc[truth.index] / truth.astype(float)
    assert ratio.between(0.9, 1.1).all(), ratio.round(2).to_dict()


# ---------------------------------------------------------------- writing and loading
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_dataset_loads(tmp_path, fmt):
    path = write_demo_data(tmp_path / "demo", reps=6, months=2, fmt=fmt)
    names = {p.name for p in path.iterdir()}
    assert {f"{t}.{fmt}" for t in TABLE_NAMES} | {"dataset.toml", "truth.json"} == names
    ds = kpikit.load(path)
    assert len(ds.reps) == 6
    assert ds.config.currency == "USD"
    written = generate(reps=6, months=2)
    assert len(ds.activities) == len(written.tables["activities"])
    pd.testing.assert_series_equal(
        ds.leads["created_at"].astype("datetime64[us]"),
        written.tables["leads"]["created_at"], check_names=False,
    )


def test_csv_timestamps_are_iso_8601_text(tmp_path):
    path = write_demo_data(tmp_path / "demo", reps=6, months=2)
    leads = pd.read_csv(path / "leads.csv", dtype=str)
    assert leads["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    opps = pd.read_csv(path / "opportunities.csv", dtype=str)
    assert opps["close_date"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    truth = json.loads((path / "truth.json").read_text())
    assert truth["params"]["reps"] == 6


def test_write_refuses_to_overwrite_a_dataset(tmp_path):
    path = write_demo_data(tmp_path / "demo", reps=6, months=2, seed=1)
    before = (path / "reps.csv").read_text()
    with pytest.raises(KpikitError, match="already holds a dataset.*overwrite"):
        write_demo_data(path, reps=6, months=2, seed=2)
    assert (path / "reps.csv").read_text() == before


def test_write_overwrite_replaces_the_dataset_and_keeps_other_files(tmp_path):
    path = write_demo_data(tmp_path / "demo", reps=6, months=2)
    (path / "notes.txt").write_text("mine")
    write_demo_data(path, reps=6, months=2, fmt="parquet", overwrite=True)
    names = {p.name for p in path.iterdir()}
    assert "reps.parquet" in names and "reps.csv" not in names and "notes.txt" in names


def test_write_into_an_unrelated_folder_is_allowed(tmp_path):
    (tmp_path / "readme.md").write_text("hello")
    write_demo_data(tmp_path, reps=6, months=2)
    assert (tmp_path / "reps.csv").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reps": 0}, "reps must be a whole number from 1"),
        ({"reps": 2.5}, "reps must be a whole number"),
        ({"reps": True}, "reps must be a whole number"),
        ({"months": 0}, "months must be a whole number from 1 to 60"),
        ({"months": 61}, "months must be a whole number from 1 to 60"),
        ({"end": "2026-13"}, "end must be .*YYYY-MM"),
        ({"end": "Oct 2026"}, "end must be .*YYYY-MM"),
        ({"end": 202610}, "end must be .*YYYY-MM"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"lead_volume": 0}, "lead_volume must be a number above 0"),
        ({"reps": 2000, "months": 24}, "reps x months x lead_volume must be at most 24,000"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(KpikitError, match=message):
        generate(**kwargs)


def test_write_rejects_an_unknown_format(tmp_path):
    with pytest.raises(KpikitError, match="fmt must be one of csv, parquet"):
        write_demo_data(tmp_path / "demo", fmt="xlsx")
    assert not (tmp_path / "demo").exists()


def test_write_rejects_a_file_as_folder(tmp_path):
    f = tmp_path / "file.csv"
    f.write_text("x")
    with pytest.raises(KpikitError, match="is a file, not a folder"):
        write_demo_data(f, reps=6, months=2)


def test_one_rep_one_month_works():
    o = generate(reps=1, months=1)
    assert o.tables["reps"]["role"].tolist() == ["AE"]
    assert len(o.tables["leads"]) > 0


def test_to_dataset_validates_without_problems(org):
    ds = org.to_dataset()
    assert len(ds.opportunities) == len(org.tables["opportunities"])
    assert ds.report is None or not ds.report.errors
