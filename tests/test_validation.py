"""Validation: every problem is reported at once, each naming file, row, column, value, expectation.

Each test writes a tiny dataset as CSV into ``tmp_path`` (the header is row 1,
so the first record is row 2) and reads the report of
:func:`kpikit.validation.validate_path`.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kpikit
from kpikit.errors import DataValidationError
from kpikit.io import RawDataset, TableSource
from kpikit.validation import (
    MAX_LISTED,
    Problem,
    ValidationReport,
    validate,
    validate_path,
)

AS_OF = "2026-03-01"

REPS = """\
rep_id,team,role
r1,East,AE
r2,West,SDR
"""
OPPS = """\
opportunity_id,rep_id,created_at,stage,amount,close_date
o1,r1,2026-01-05,Won,100,2026-01-20
o2,r2,2026-01-06,Proposal,50,2026-02-20
"""
ACTS = """\
activity_id,rep_id,type,occurred_at
a1,r1,call,2026-01-04 09:00
a2,r2,email,2026-01-06 10:00
"""


def _folder(tmp_path: Path, **tables: str) -> Path:
    """Write tables (name=CSV text; ``dataset_toml`` for the config) into a folder."""
    folder = tmp_path / "org"
    folder.mkdir(exist_ok=True)
    tables.setdefault("reps", REPS)
    tables.setdefault("opportunities", OPPS)
    for name, text in tables.items():
        if text is None:
            continue
        target = folder / ("dataset.toml" if name == "dataset_toml" else f"{name}.csv")
        target.write_text(text, encoding="utf-8")
    return folder


def _report(tmp_path: Path, **tables: str) -> ValidationReport:
    _, report = validate_path(_folder(tmp_path, **tables), as_of=AS_OF)
    return report


def _one(report: ValidationReport, code: str, severity: str = "error") -> Problem:
    found = [p for p in report.problems if p.code == code and p.severity == severity]
    assert len(found) == 1, [p.format() for p in report.problems]
    return found[0]


def _file(tmp_path: Path, table: str) -> str:
    return str(tmp_path / "org" / f"{table}.csv")


def test_a_valid_dataset_has_no_problem(tmp_path):
    report = _report(tmp_path, activities=ACTS)
    assert report.problems == []
    assert report.ok


# -- missing tables and columns ------------------------------------------------------------------


def test_a_missing_required_table_names_the_folder_and_the_file_expected(tmp_path):
    report = _report(tmp_path, reps=None)
    p = _one(report, "missing_table")
    folder = tmp_path / "org"
    assert p.message == f"required table reps is missing from {folder} (found: opportunities.csv)"
    assert p.expected == "a file reps.csv, reps.parquet or reps.xlsx"


def test_a_missing_required_column_lists_the_columns_found(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("amount", "value"))
    p = _one(report, "missing_column")
    assert p.file == _file(tmp_path, "opportunities")
    assert p.column == "amount"
    assert p.message == (
        "required column amount is missing (columns found: opportunity_id, rep_id, "
        "created_at, stage, value, close_date)"
    )
    assert p.expected == "a column amount: deal value"


def test_a_required_column_in_another_letter_case_gets_a_rename_hint(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("amount", "Amount"))
    p = _one(report, "missing_column")
    assert p.message.endswith("; rename column 'Amount' to 'amount'")


def test_an_optional_column_in_another_letter_case_is_a_warning(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("close_date", "Close_Date"))
    w = _one(report, "column_name", "warning")
    assert w.message == (
        "column 'Close_Date' looks like the canonical column 'close_date' but is kept as an "
        "extra column; rename column 'Close_Date' to 'close_date'"
    )
    assert report.ok


# -- values that cannot be read ------------------------------------------------------------------


def test_an_unparseable_date_names_file_row_column_value_and_format(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("2026-01-06,", "01/06/2026,"))
    p = _one(report, "bad_value")
    assert (p.file, p.row, p.column, p.value) == (
        _file(tmp_path, "opportunities"), 3, "created_at", "01/06/2026")
    assert p.message == "not an ISO 8601 date-time"
    assert p.expected.startswith("an ISO 8601 date or date-time such as 2026-10-01, "
                                 "2026-10-01 09:30 or 2026-10-01T09:30:00Z")
    # an unreadable required value is not reported a second time as empty
    assert not [q for q in report.problems if q.code == "missing_value"]


def test_every_iso_8601_form_is_accepted(tmp_path):
    acts = (
        "activity_id,rep_id,type,occurred_at\n"
        "a1,r1,call,2026-10-01\n"
        "a2,r1,call,2026-10-01 09:30\n"
        "a3,r1,call,2026-10-01T09:30:00\n"
        "a4,r1,call,2026-10-01T09:30:00.250\n"
    )
    ds, report = validate_path(_folder(tmp_path, activities=acts), as_of="2026-12-01")
    assert report.errors == []
    assert ds.activities["occurred_at"].tolist() == [
        pd.Timestamp("2026-10-01"), pd.Timestamp("2026-10-01 09:30"),
        pd.Timestamp("2026-10-01 09:30"), pd.Timestamp("2026-10-01 09:30:00.250"),
    ]


def test_a_date_column_drops_the_time_of_day(tmp_path):
    ds, _ = validate_path(
        _folder(tmp_path, opportunities=OPPS.replace("2026-01-20", "2026-01-20 17:45")),
        as_of=AS_OF)
    assert ds.opportunities.loc[0, "close_date"] == pd.Timestamp("2026-01-20")


def test_a_year_or_month_alone_is_not_a_date(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("2026-01-06,", "2026-01,"))
    p = _one(report, "bad_value")
    assert (p.row, p.column, p.value) == (3, "created_at", "2026-01")


@pytest.mark.parametrize("amount", ['"1,234"', "$5", "5 USD", '"1.234,50"'])
def test_a_formatted_number_is_rejected_with_a_hint(tmp_path, amount):
    report = _report(tmp_path, opportunities=OPPS.replace(",50,", f",{amount},"))
    p = _one(report, "bad_value")
    assert (p.row, p.column, p.value) == (3, "amount", amount.strip('"'))
    assert p.message == "not a plain number"
    assert p.expected == (
        "a plain number such as 1234.5, without thousands separators, currency symbols or "
        "units (a kpikit importer converts formatted numbers)"
    )


def test_a_negative_amount_is_an_error(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace(",50,", ",-50,"))
    p = _one(report, "negative")
    assert (p.file, p.row, p.column, p.value) == (
        _file(tmp_path, "opportunities"), 3, "amount", -50.0)
    assert p.format().endswith("negative value (got -50.0); expected a number of 0 or more")


def test_an_empty_required_value_is_an_error(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("o2,r2,", "o2,,"))
    p = _one(report, "missing_value")
    assert (p.row, p.column, p.value) == (3, "rep_id", None)
    assert p.message == "empty value in the required column rep_id"
    assert p.expected == "a value in every row (owner)"


def test_missing_markers_count_as_empty_in_typed_columns_only(tmp_path):
    # "NA" in a number column is missing; "NA" as a team (North America) is text
    acts = ACTS.replace("occurred_at\n", "occurred_at,duration_min\n").replace(
        "09:00\n", "09:00,NA\n").replace("10:00\n", "10:00,n/a\n")
    ds, report = validate_path(
        _folder(tmp_path, reps=REPS.replace("East", "NA"), activities=acts), as_of=AS_OF)
    assert report.problems == []
    assert ds.activities["duration_min"].isna().all()
    assert ds.reps.loc[0, "team"] == "NA"


def test_booleans_whole_numbers_and_periods_are_coerced(tmp_path):
    accounts = "account_id,key_account\nc1,yes\nc2,FALSE\nc3,1\nc4,\n"
    leads = "lead_id,rep_id,created_at,company_size\nl1,r1,2026-01-02,12\nl2,r1,2026-01-02,\n"
    quotas = "rep_id,period,quota\nr1,2026-1,10\nr1,2026-q3,20\nr2,2026,30\n"
    ds, report = validate_path(
        _folder(tmp_path, accounts=accounts, leads=leads, quotas=quotas), as_of=AS_OF)
    assert report.problems == []
    assert ds.accounts["key_account"].tolist() == [True, False, True, pd.NA]
    assert ds.leads["company_size"].dtype == "Int64"
    assert ds.leads["company_size"].tolist() == [12, pd.NA]
    assert ds.quotas["period"].tolist() == ["2026-01", "2026-Q3", "2026"]


def test_bad_booleans_whole_numbers_and_periods_are_errors(tmp_path):
    report = _report(
        tmp_path,
        accounts="account_id,key_account\nc1,maybe\n",
        leads="lead_id,rep_id,created_at,company_size\nl1,r1,2026-01-02,1.5\n",
        quotas="rep_id,period,quota\nr1,Q3 2026,10\n",
    )
    by_column = {p.column: p for p in report.errors}
    assert by_column["key_account"].message == "not a true/false value"
    assert by_column["key_account"].expected == "true/false, yes/no or 1/0"
    assert (by_column["company_size"].message, by_column["company_size"].value) == (
        "not a whole number", "1.5")
    assert by_column["period"].value == "Q3 2026"
    assert by_column["period"].expected.startswith("a month YYYY-MM (2026-10), a quarter")


# -- duplicates and references ---------------------------------------------------------------------


def test_a_duplicate_id_names_both_rows(tmp_path):
    report = _report(tmp_path, reps=REPS + "r1,North,AM\n")
    p = _one(report, "duplicate")
    assert (p.file, p.row, p.column, p.value) == (_file(tmp_path, "reps"), 4, "rep_id", "r1")
    assert p.message == "duplicate rep_id: the same value is already in row 2"
    assert p.expected == "each rep_id only once"


def test_a_duplicate_rep_and_period_counts_after_normalising_the_period(tmp_path):
    # 2026-1 and 2026-01 are the same month
    report = _report(tmp_path, quotas="rep_id,period,quota\nr1,2026-1,10\nr1,2026-01,20\n")
    p = _one(report, "duplicate")
    assert (p.row, p.column, p.value) == (3, "rep_id, period", "r1, 2026-01")
    assert p.message == "duplicate rep_id and period: the same value is already in row 2"
    assert p.expected == "each rep and period only once"


def test_a_reference_to_a_missing_rep_is_an_error(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("o2,r2,", "o2,r9,"))
    p = _one(report, "broken_reference")
    assert (p.row, p.column, p.value) == (3, "rep_id", "r9")
    assert p.message == f"rep_id does not match any rep_id in reps ({_file(tmp_path, 'reps')})"
    assert p.expected == "a rep_id listed in reps"


def test_a_reference_is_only_checked_when_its_table_is_present(tmp_path):
    opps = OPPS.replace("close_date\n", "close_date,lead_id\n").replace(
        "2026-01-20\n", "2026-01-20,l1\n").replace("2026-02-20\n", "2026-02-20,l2\n")
    assert _report(tmp_path, opportunities=opps).ok  # no leads table: nothing to check against
    report = _report(
        tmp_path, opportunities=opps, leads="lead_id,rep_id,created_at\nl1,r1,2026-01-02\n")
    p = _one(report, "broken_reference")
    assert (p.row, p.column, p.value) == (3, "lead_id", "l2")


# -- stages and statuses -------------------------------------------------------------------------


def test_an_unknown_stage_lists_the_configured_stages(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("Proposal", "Negotiation"))
    p = _one(report, "unknown_stage")
    assert (p.row, p.column, p.value) == (3, "stage", "Negotiation")
    assert p.message == "stage is not in the stage configuration"
    assert p.expected == (
        "one of the configured stages Lead, SQL, Meeting, Proposal, Won, Lost "
        "(define your own pipeline in dataset.toml [stages])"
    )


def test_stages_come_from_dataset_toml_and_match_in_any_case(tmp_path):
    toml = '[stages]\norder = ["Discovery", "Negotiation"]\nwon = ["Closed Won"]\nlost = ["Closed Lost"]\n'
    opps = OPPS.replace("Won", "closed won").replace("Proposal", "Negotiation")
    history = "opportunity_id,stage,entered_at\no1,discovery,2026-01-05\no1,Proposal,2026-01-08\n"
    ds, report = validate_path(
        _folder(tmp_path, opportunities=opps, stage_history=history, dataset_toml=toml),
        as_of=AS_OF)
    p = _one(report, "unknown_stage")
    assert (p.file, p.row, p.value) == (_file(tmp_path, "stage_history"), 3, "Proposal")
    assert "configured stages Discovery, Negotiation, Closed Won, Closed Lost" in p.expected
    ds = kpikit.load(tmp_path / "org", strict=False)
    assert ds.opportunities["stage"].tolist() == ["Closed Won", "Negotiation"]
    assert ds.opportunities["status"].tolist() == ["won", "open"]
    assert ds.stage_history.loc[0, "stage"] == "Discovery"


def test_a_status_disagreeing_with_its_stage_is_an_error(tmp_path):
    opps = OPPS.replace("close_date\n", "close_date,status\n").replace(
        "2026-01-20\n", "2026-01-20,lost\n").replace("2026-02-20\n", "2026-02-20,\n")
    report = _report(tmp_path, opportunities=opps)
    p = _one(report, "status_stage")
    assert (p.row, p.column, p.value) == (2, "status", "lost")
    assert p.message == (
        "status does not agree with stage 'Won', which the stage configuration makes 'won'")
    assert p.expected == "the status of its stage, or an empty status (derived from the stage)"


def test_an_opportunity_closing_before_it_was_created_is_an_error(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace("2026-02-20", "2026-01-05"))
    p = _one(report, "closed_before_created")
    assert (p.row, p.column, p.value) == (3, "close_date", "2026-01-05")
    assert p.message == "the opportunity closes before it was created (created_at 2026-01-06)"


def test_allowed_values_match_in_any_case_and_get_the_canonical_spelling(tmp_path):
    opps = OPPS.replace("close_date\n", "close_date,status\n").replace(
        "2026-01-20\n", "2026-01-20,WON\n").replace("2026-02-20\n", "2026-02-20,Open\n")
    acts = ACTS.replace("occurred_at\n", "occurred_at,direction\n").replace(
        "09:00\n", "09:00,INBOUND\n").replace("10:00\n", "10:00,\n")
    ds, report = validate_path(
        _folder(tmp_path, reps=REPS.replace("SDR", "manager"), opportunities=opps,
                activities=acts), as_of=AS_OF)
    assert report.errors == []
    assert ds.reps["role"].tolist() == ["AE", "Manager"]
    assert ds.opportunities["status"].tolist() == ["won", "open"]
    assert ds.activities["direction"].tolist() == ["inbound", "outbound"]


def test_a_value_outside_the_allowed_ones_is_an_error(tmp_path):
    report = _report(tmp_path, reps=REPS.replace("SDR", "Closer"))
    p = _one(report, "not_allowed")
    assert (p.row, p.column, p.value) == (3, "role", "Closer")
    assert p.message == "not an allowed role"
    assert p.expected == "one of SDR, AE, AM, Manager (any letter case)"


# -- timezones -------------------------------------------------------------------------------------


def test_mixing_timezone_aware_and_naive_timestamps_is_an_error(tmp_path):
    # 2 aware values in opportunities, 1 naive in activities: the naive one is the odd one
    opps = OPPS.replace("2026-01-05,", "2026-01-05T09:00:00Z,").replace(
        "2026-01-06,", "2026-01-06 10:00+01:00,")
    acts = "activity_id,rep_id,type,occurred_at\na1,r1,call,2026-01-04 09:00\n"
    report = _report(tmp_path, opportunities=opps, activities=acts)
    p = _one(report, "mixed_timezones")
    assert (p.file, p.row, p.column, p.value) == (
        _file(tmp_path, "activities"), 2, "occurred_at", "2026-01-04 09:00")
    assert p.message == (
        "timestamp without a timezone, while other timestamps in the dataset have one "
        f"(e.g. {_file(tmp_path, 'opportunities')} row 2, column created_at: "
        "'2026-01-05T09:00:00Z')"
    )
    assert p.expected.startswith("every timestamp with a UTC offset")


def test_dates_without_a_time_do_not_count_as_naive_timestamps(tmp_path):
    # opportunities' created_at are plain dates (one at exactly midnight); activities carry
    # offsets: no mix
    acts = ACTS.replace("09:00\n", "09:00Z\n").replace("10:00\n", "10:00Z\n")
    opps = OPPS.replace("2026-01-06,", "2026-01-06 00:00:00,")
    assert _report(tmp_path, activities=acts, opportunities=opps).ok


# -- capping and provenance -------------------------------------------------------------------------


def test_many_bad_rows_are_capped_and_the_count_stays_exact(tmp_path):
    rows = "".join(f"o{i},r1,2026-01-05,Won,lots\n" for i in range(25))
    report = _report(tmp_path, opportunities="opportunity_id,rep_id,created_at,stage,amount\n" + rows)
    bad = [p for p in report.errors if p.code == "bad_value"]
    assert len(bad) == MAX_LISTED + 1
    assert [p.row for p in bad[:MAX_LISTED]] == list(range(2, 2 + MAX_LISTED))
    assert bad[-1].message == "... and 15 more row(s) with this problem"
    assert bad[-1].count == 15
    assert report.error_count == 25


def test_a_million_bad_values_do_not_make_a_million_problems():
    n = 1_000_000
    acts = pd.DataFrame({
        "activity_id": np.arange(n).astype(str),
        "rep_id": "r1",
        "type": "call",
        "occurred_at": "2026-01-05",
        "duration_min": "n/a minutes",
    })
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": ["r1"]}),
        opportunities=pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
                                    "created_at": ["2026-01-05"], "stage": ["Won"],
                                    "amount": [1]}),
        activities=acts, strict=False)
    report = ds.report
    assert len(report.errors) == MAX_LISTED + 1
    assert report.error_count == n


def test_provenance_columns_point_to_the_original_file_and_row(tmp_path):
    opps = (
        "opportunity_id,rep_id,created_at,stage,amount,_source_file,_source_row\n"
        "o1,r1,2026-01-05,Won,100,hubspot_deals.csv,17\n"
        "o2,r1,2026-01-06,Won,-1,hubspot_deals.csv,42\n"
    )
    report = _report(tmp_path, opportunities=opps)
    p = _one(report, "negative")
    assert (p.file, p.row) == ("hubspot_deals.csv", 42)


def test_parquet_rows_are_counted_from_one(tmp_path):
    folder = _folder(tmp_path)
    (folder / "reps.csv").unlink()
    pd.DataFrame({"rep_id": ["r1", "r2", "r2"]}).to_parquet(folder / "reps.parquet")
    _, report = validate_path(folder, as_of=AS_OF)
    p = _one(report, "duplicate")
    assert (p.row, p.message) == (3, "duplicate rep_id: the same value is already in row 2")


def test_extra_columns_are_kept(tmp_path):
    ds, _ = validate_path(_folder(tmp_path, reps=REPS.replace("role\n", "role,region_code\n")
                                  .replace("AE\n", "AE,007\n").replace("SDR\n", "SDR,\n")),
                          as_of=AS_OF)
    assert ds.reps.loc[0, "region_code"] == "007"  # kept as read: text, leading zero
    assert pd.isna(ds.reps.loc[1, "region_code"])


# -- warnings ----------------------------------------------------------------------------------------


def test_events_in_the_future_are_a_warning(tmp_path):
    acts = ACTS.replace("2026-01-06 10:00", "2026-04-06 10:00")
    report = _report(tmp_path, activities=acts)
    w = _one(report, "future", "warning")
    assert (w.file, w.row, w.column, w.value) == (
        _file(tmp_path, "activities"), 3, "occurred_at", "2026-04-06 10:00:00")
    assert w.message == "in the future (after 2026-03-01 00:00)"
    assert report.ok


def test_an_opportunity_open_long_past_its_close_date_is_a_warning(tmp_path):
    # o2 is open (Proposal) with a close date 2025-11-20: 101 days before 2026-03-01
    opps = OPPS.replace("2026-01-06", "2025-11-01").replace("2026-02-20", "2025-11-20")
    w = _one(_report(tmp_path, opportunities=opps), "stale_open", "warning")
    assert (w.row, w.column, w.value) == (3, "close_date", "2025-11-20")
    assert w.message == "still open 101 days after its close date"


def test_an_opportunity_open_less_than_90_days_past_close_is_fine(tmp_path):
    opps = OPPS.replace("2026-01-06", "2025-12-01").replace("2026-02-20", "2025-12-02")
    assert not [p for p in _report(tmp_path, opportunities=opps).problems
                if p.code == "stale_open"]


def test_a_rep_without_activity_is_a_warning_unless_a_manager(tmp_path):
    reps = REPS + "r3,East,AE\nm1,East,Manager\n"
    w = _one(_report(tmp_path, reps=reps, activities=ACTS), "no_activity", "warning")
    assert (w.file, w.row, w.value) == (_file(tmp_path, "reps"), 4, "r3")
    assert w.message == "rep has no activities"


def test_reps_without_activity_are_not_flagged_when_there_are_no_activities(tmp_path):
    assert _report(tmp_path).problems == []


def test_a_stage_entered_before_the_opportunity_was_created_is_a_warning(tmp_path):
    history = "opportunity_id,stage,entered_at\no1,SQL,2026-01-05 08:00\no1,Won,2026-01-03\n"
    w = _one(_report(tmp_path, stage_history=history), "before_created", "warning")
    # the same day is fine (08:00 vs a created_at date); two days earlier is not
    assert (w.file, w.row, w.column) == (_file(tmp_path, "stage_history"), 3, "entered_at")
    assert w.message == "stage entered before the opportunity was created (2026-01-05)"


def test_a_lead_qualified_before_it_was_created_is_a_warning(tmp_path):
    leads = "lead_id,rep_id,created_at,qualified_at\nl1,r1,2026-01-10,2026-01-09\nl2,r1,2026-01-10,\n"
    w = _one(_report(tmp_path, leads=leads), "before_created", "warning")
    assert (w.row, w.column) == (2, "qualified_at")
    assert w.message == "lead qualified before it was created (2026-01-10)"


# -- the report --------------------------------------------------------------------------------------


def test_the_summary_gives_counts_missing_tables_dates_and_reps(tmp_path):
    report = _report(tmp_path, activities=ACTS)
    text = report.summary()
    folder = tmp_path / "org"
    assert f"Dataset: {folder} (folder of files)" in text
    assert f"  reps                    2 rows  {folder / 'reps.csv'}" in text
    assert "  quotas: quota attainment, gap to quota and pipeline coverage" in text
    assert "  costs: cost-of-sales ratio and customer acquisition cost (CAC)" in text
    assert "activities:" not in text.split("Optional tables not given")[1]
    # activities 2026-01-04 09:00 .. opportunities 2026-01-06
    assert "Dates: 2026-01-04 to 2026-01-06" in text
    assert "Reps: 2; by role: AE 1, SDR 1; by team: East 1, West 1" in text


def test_the_summary_of_given_tables_counts_those_tables(tmp_path):
    ds, report = validate_path(_folder(tmp_path), as_of=AS_OF)
    tables = dict(ds.tables, reps=ds.reps.iloc[:1])
    text = report.summary(tables)
    assert f"  reps                    1 row  {tmp_path / 'org' / 'reps.csv'}" in text
    assert "Reps: 1; by role: AE 1; by team: East 1" in text


def test_render_lists_errors_then_warnings_then_a_verdict(tmp_path):
    report = _report(tmp_path, reps=REPS + "r1,North,AM\nr3,East,AE\n", activities=ACTS)
    text = report.render()
    errors, warnings = text.split("Errors (1):")[1].split("Warnings (1):")
    assert "reps.csv, row 4, column rep_id: duplicate rep_id" in errors
    assert "reps.csv, row 5, column rep_id: rep has no activities" in warnings
    assert text.endswith("Result: 1 error(s); fix them and validate again.")


def test_a_valid_report_says_so(tmp_path):
    assert _report(tmp_path).render().endswith("Result: the dataset is valid.")


def test_to_dict_is_json_with_every_problem(tmp_path):
    report = _report(tmp_path, opportunities=OPPS.replace(",50,", ",-50,"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["error_count"] == 1
    (p,) = data["problems"]
    assert (p["code"], p["row"], p["column"], p["value"]) == ("negative", 3, "amount", -50.0)
    assert data["stats"]["tables"]["opportunities"]["rows"] == 2


def test_validate_path_returns_a_dataset_only_without_errors(tmp_path):
    ds, report = validate_path(_folder(tmp_path), as_of=AS_OF)
    assert isinstance(ds, kpikit.Dataset) and ds.report is report
    ds, report = validate_path(_folder(tmp_path, reps=REPS + "r1,x,AE\n"), as_of=AS_OF)
    assert ds is None and not report.ok


def test_the_error_message_of_load_lists_every_error_and_counts_warnings(tmp_path):
    # o2 lost, so that no opportunity is open past its close date whatever today is
    folder = _folder(tmp_path, reps=REPS + "r1,x,AE\nr3,East,AE\n", activities=ACTS,
                     opportunities=OPPS.replace("Proposal", "Lost"))
    with pytest.raises(DataValidationError) as info:
        kpikit.load(folder)
    lines = str(info.value).splitlines()
    assert lines[0] == f"1 problem(s) in the dataset in {folder}:"
    assert lines[1].startswith(f"- {folder / 'reps.csv'}, row 4, column rep_id: duplicate")
    assert lines[-1] == "(and 1 warning(s): run `kpikit validate` to see everything)"


# -- in-memory frames --------------------------------------------------------------------------------


def test_from_frames_accepts_python_objects():
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": [7, 8]}),  # numeric ids become text
        opportunities=pd.DataFrame({
            "opportunity_id": ["o1", "o2"],
            "rep_id": ["7", "8"],
            "created_at": [dt.datetime(2026, 1, 5, 9, 30), dt.date(2026, 1, 6)],
            "stage": ["Won", "Lost"],
            "amount": [Decimal("100.50"), 20],
            "close_date": [dt.date(2026, 1, 20), None],
        }),
    )
    opps = ds.opportunities
    assert ds.reps["rep_id"].tolist() == ["7", "8"]
    assert opps["created_at"].tolist() == [pd.Timestamp("2026-01-05 09:30"),
                                           pd.Timestamp("2026-01-06")]
    assert opps["amount"].tolist() == [100.5, 20.0]
    assert opps["close_date"].isna().tolist() == [False, True]


def test_from_frames_accepts_already_typed_columns():
    created = pd.to_datetime(["2026-01-05 09:30", "2026-01-06 00:00"])
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": pd.Series(["r1"], dtype="string")}),
        opportunities=pd.DataFrame({
            "opportunity_id": ["o1", "o2"], "rep_id": ["r1", "r1"],
            "created_at": created.as_unit("ns"), "stage": ["Won", "Lost"],
            "amount": pd.array([100, 20], dtype="Int64"),
        }),
        accounts=pd.DataFrame({"account_id": ["c1"], "key_account": [True]}),
    )
    assert ds.opportunities["created_at"].tolist() == list(created)
    assert ds.opportunities["created_at"].dtype == "datetime64[us]"
    assert ds.opportunities["amount"].dtype == "float64"
    assert ds.accounts["key_account"].tolist() == [True]
    assert ds.reps["rep_id"].dtype == "str"


def test_from_frames_never_modifies_the_frames_given():
    reps = pd.DataFrame({"rep_id": [" r1 "], "role": ["ae"]})
    opps = pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
                         "created_at": ["2026-01-05"], "stage": ["won"], "amount": ["10"]})
    before = (reps.copy(), opps.copy())
    kpikit.Dataset.from_frames(reps=reps, opportunities=opps)
    pd.testing.assert_frame_equal(reps, before[0])
    pd.testing.assert_frame_equal(opps, before[1])


def test_from_frames_problems_point_to_the_index_label():
    reps = pd.DataFrame({"rep_id": ["r1", "r1"]}, index=[10, 11])
    opps = pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
                         "created_at": ["2026-01-05"], "stage": ["Won"], "amount": [1]})
    with pytest.raises(DataValidationError) as info:
        kpikit.Dataset.from_frames(reps=reps, opportunities=opps)
    (p,) = info.value.report.errors
    assert (p.file, p.row) == ("<reps>", 11)
    assert p.message == "duplicate rep_id: the same value is already in row 10"


def test_from_frames_without_a_required_table_says_which():
    with pytest.raises(DataValidationError, match="required table opportunities was not given"):
        kpikit.Dataset.from_frames(reps=pd.DataFrame({"rep_id": ["r1"]}))


def test_validate_takes_an_as_of_for_the_warnings():
    raw = RawDataset(
        {"reps": pd.DataFrame({"rep_id": ["r1"]}),
         "opportunities": pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
                                        "created_at": ["2026-05-01"], "stage": ["Won"],
                                        "amount": [1]})},
        {"reps": TableSource("reps", "reps.csv", "csv"),
         "opportunities": TableSource("opportunities", "opportunities.csv", "csv")},
    )
    _, early = validate(raw, as_of="2026-04-01")
    _, late = validate(raw, as_of="2026-06-01")
    assert [p.code for p in early.warnings] == ["future"]
    assert late.warnings == []


def test_known_activity_types_and_outcomes_get_their_canonical_spelling():
    # "Call" and "HELD" are the canonical call / held in another letter case; "Webinar" is
    # not a known type and is kept exactly as given
    ds = kpikit.Dataset.from_frames(
        reps=pd.DataFrame({"rep_id": ["r1"]}),
        opportunities=pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
                                    "created_at": ["2026-10-01"], "stage": ["Won"], "amount": [1.0]}),
        activities=pd.DataFrame({"activity_id": ["a1", "a2", "a3"], "rep_id": ["r1"] * 3,
                                 "type": ["Call", "MEETING", "Webinar"],
                                 "occurred_at": ["2026-10-02 10:00"] * 3,
                                 "outcome": ["Connected", "HELD", None]}),
    )
    assert ds.activities["type"].tolist() == ["call", "meeting", "Webinar"]
    assert ds.activities["outcome"].tolist()[:2] == ["connected", "held"]
