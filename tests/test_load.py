"""Reading a dataset: every file form, the database forms, and what goes wrong with files.

The same tiny org is written in each form (CSV, CSV with a byte-order mark,
Parquet, Excel, DuckDB, SQLite); loading must give the same typed tables.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

import kpikit
from kpikit.errors import DataError, DataValidationError, KpikitError
from kpikit.io import database_config_path, read_raw
from kpikit.validation import validate_path

AS_OF = "2026-03-01"

# The tiny org, as CSV text. Expected after loading (by hand):
# reps: 009 has no name -> "009", no role -> "AE"; "sdr" -> "SDR".
# opportunities: status from stage: Won -> won, Proposal -> open, Lost -> lost.
# activities: empty direction -> outbound, "Inbound" -> inbound.
REPS = """\
rep_id,name,team,role
007,Ann,East,AE
008,Bob,West,sdr
009,,West,
"""
OPPS = """\
opportunity_id,rep_id,created_at,stage,amount,close_date
o1,007,2026-01-05 09:30,Won,1200.5,2026-02-01
o2,008,2026-01-10 00:00,Proposal,800,2026-03-01
o3,009,2026-02-01 10:00,Lost,0,2026-02-20
"""
ACTS = """\
activity_id,rep_id,type,occurred_at,direction,duration_min
a1,007,call,2026-01-04 09:00,,5
a2,008,email,2026-01-06 10:00,Inbound,
a3,009,call,2026-01-07 11:00,outbound,2.5
"""


def _write(folder: Path, **files: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name.replace("__", ".")
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return folder


def _csv_org(folder: Path, *, bom: bool = False) -> Path:
    prefix = b"\xef\xbb\xbf" if bom else b""
    return _write(
        folder,
        reps__csv=prefix + REPS.encode(),
        opportunities__csv=prefix + OPPS.encode(),
        activities__csv=prefix + ACTS.encode(),
    )


def _typed_frames() -> dict[str, pd.DataFrame]:
    """The org with typed columns, as a Parquet file or a database would hold it."""
    reps = pd.DataFrame({
        "rep_id": ["007", "008", "009"],
        "name": ["Ann", "Bob", None],
        "team": ["East", "West", "West"],
        "role": ["AE", "sdr", None],
    })
    opps = pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3"],
        "rep_id": ["007", "008", "009"],
        "created_at": pd.to_datetime(["2026-01-05 09:30", "2026-01-10 00:00", "2026-02-01 10:00"]),
        "stage": ["Won", "Proposal", "Lost"],
        "amount": [1200.5, 800.0, 0.0],
        "close_date": pd.to_datetime(["2026-02-01", "2026-03-01", "2026-02-20"]),
    })
    acts = pd.DataFrame({
        "activity_id": ["a1", "a2", "a3"],
        "rep_id": ["007", "008", "009"],
        "type": ["call", "email", "call"],
        "occurred_at": pd.to_datetime(["2026-01-04 09:00", "2026-01-06 10:00", "2026-01-07 11:00"]),
        "direction": [None, "Inbound", "outbound"],
        "duration_min": [5.0, np.nan, 2.5],
    })
    return {"reps": reps, "opportunities": opps, "activities": acts}


def _parquet_org(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, df in _typed_frames().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _xlsx_org(folder: Path) -> Path:
    """Excel with typed cells: dates as date cells, numbers as numbers, ids as text."""
    folder.mkdir(parents=True)
    for name, df in _typed_frames().items():
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            cells = []
            for v in row:
                if isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                elif v is None or (isinstance(v, float) and np.isnan(v)):
                    v = None
                cells.append(v)
            ws.append(cells)
        wb.save(folder / f"{name}.xlsx")
    return folder


def _duckdb_org(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for name, df in _typed_frames().items():
        con.register("frame", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")
    con.close()
    return path


def _sqlite_org(path: Path) -> Path:
    """SQLite as a CRM export would make it: text dates, REAL amounts, TEXT ids."""
    con = sqlite3.connect(path)
    for name, df in _typed_frames().items():
        out = df.copy()
        for col in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[col]):
                out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S")
        out.to_sql(name, con, index=False)
    con.close()
    return path


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    return df[sorted(df.columns)].reset_index(drop=True)


def _hashes(root: Path) -> dict[str, tuple[str, int]]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files
    }


FORMS = {
    "csv": lambda tmp: _csv_org(tmp / "csv"),
    "csv_bom": lambda tmp: _csv_org(tmp / "bom", bom=True),
    "parquet": lambda tmp: _parquet_org(tmp / "parquet"),
    "xlsx": lambda tmp: _xlsx_org(tmp / "xlsx"),
    "duckdb": lambda tmp: _duckdb_org(tmp / "org.duckdb"),
    "sqlite": lambda tmp: _sqlite_org(tmp / "org.sqlite"),
}


# -- every form gives the same typed tables ----------------------------------------------------


def test_csv_keeps_leading_zeros_and_applies_the_defaults(tmp_path):
    ds = kpikit.load(_csv_org(tmp_path / "org"))
    reps = ds.reps
    assert reps["rep_id"].tolist() == ["007", "008", "009"]
    assert reps["name"].tolist() == ["Ann", "Bob", "009"]  # missing name -> rep_id
    assert reps["role"].tolist() == ["AE", "SDR", "AE"]  # "sdr" -> SDR, missing -> AE
    assert ds.opportunities["status"].tolist() == ["won", "open", "lost"]
    assert ds.activities["direction"].tolist() == ["outbound", "inbound", "outbound"]


def test_csv_columns_get_the_canonical_dtypes(tmp_path):
    ds = kpikit.load(_csv_org(tmp_path / "org"))
    opps = ds.opportunities
    assert opps["rep_id"].dtype == "str"
    assert opps["created_at"].dtype == "datetime64[us]"
    assert opps["close_date"].dtype == "datetime64[us]"
    assert opps["amount"].dtype == "float64"
    assert opps.loc[0, "created_at"] == pd.Timestamp("2026-01-05 09:30")
    assert opps["amount"].tolist() == [1200.5, 800.0, 0.0]
    assert ds.activities["duration_min"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("form", [f for f in FORMS if f != "csv"])
def test_every_form_gives_the_same_typed_tables_as_csv(tmp_path, form):
    expected = kpikit.load(FORMS["csv"](tmp_path))
    got = kpikit.load(FORMS[form](tmp_path))
    for name in ("reps", "opportunities", "activities"):
        pd.testing.assert_frame_equal(_canonical(got.tables[name]), _canonical(expected.tables[name]))


@pytest.mark.parametrize("form", list(FORMS))
def test_loading_never_modifies_an_input_file(tmp_path, form):
    path = FORMS[form](tmp_path)
    if path.is_dir():
        (path / "dataset.toml").write_text('currency = "EUR"\n', encoding="utf-8")
    before = _hashes(path)
    siblings = sorted(p.name for p in path.parent.iterdir())
    kpikit.load(path)
    assert _hashes(path) == before
    # and nothing was created beside a database file (no -wal/-journal/.lock files)
    assert sorted(p.name for p in path.parent.iterdir()) == siblings


def test_a_database_is_recognised_by_its_first_bytes_whatever_its_extension(tmp_path):
    path = _duckdb_org(tmp_path / "org.duckdb")
    renamed = path.rename(tmp_path / "crm_export.bin")
    raw = read_raw(renamed)
    assert raw.kind == "duckdb"
    assert set(raw.tables) == {"reps", "opportunities", "activities"}


def test_database_rows_are_counted_from_one_and_named_with_their_table(tmp_path):
    path = tmp_path / "org.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE reps (rep_id TEXT)")
    con.executemany("INSERT INTO reps VALUES (?)", [("r1",), ("r1",)])
    con.execute("CREATE TABLE opportunities (opportunity_id, rep_id, created_at, stage, amount)")
    con.execute("INSERT INTO opportunities VALUES ('o1', 'r1', '2026-01-05', 'Won', 10)")
    con.commit()
    con.close()
    _, report = validate_path(path, as_of=AS_OF)
    (dup,) = [p for p in report.errors if p.code == "duplicate"]
    # the second record of the table is record 2 (no header row in a database)
    assert dup.row == 2
    assert dup.file == f"{path} (table reps)"
    assert "already in row 1" in dup.message


def test_database_config_is_name_toml_beside_it_else_dataset_toml(tmp_path):
    db = _duckdb_org(tmp_path / "sales.duckdb")
    assert database_config_path(db) == tmp_path / "dataset.toml"
    (tmp_path / "dataset.toml").write_text('currency = "GBP"\n', encoding="utf-8")
    assert kpikit.load(db).config.currency == "GBP"
    (tmp_path / "sales.toml").write_text('currency = "EUR"\n', encoding="utf-8")
    assert database_config_path(db) == tmp_path / "sales.toml"
    assert kpikit.load(db).config.currency == "EUR"


def test_a_database_without_the_required_tables_names_what_it_has(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE contacts (id TEXT)")
    con.execute("CREATE TABLE reps (rep_id TEXT)")
    con.execute("INSERT INTO reps VALUES ('r1')")
    con.commit()
    con.close()
    with pytest.raises(DataValidationError) as info:
        kpikit.load(path)
    text = str(info.value)
    assert f"required table opportunities is missing from {path}" in text
    assert "(it has: contacts, reps)" in text
    assert "a table or view named opportunities" in text


def test_table_files_match_their_table_in_any_letter_case(tmp_path):
    folder = _write(tmp_path / "org", Reps__CSV=REPS, OPPORTUNITIES__csv=OPPS)
    assert sorted(kpikit.load(folder).present_tables) == ["opportunities", "reps"]


def test_tables_option_restricts_the_optional_tables_read(tmp_path):
    raw = read_raw(_csv_org(tmp_path / "org"), tables=[])
    assert sorted(raw.tables) == ["opportunities", "reps"]  # required ones always
    with pytest.raises(KpikitError, match="unknown table.s. activity; canonical tables are reps"):
        read_raw(tmp_path / "org", tables=["activity"])


# -- CSV details -------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_rows_are_dropped_but_row_numbers_still_count_them(tmp_path, newline):
    # line 1 header, 2 r1, 3 blank, 4 "," (blank cells), 5 r1 again, then trailing blank lines
    folder = _write(
        tmp_path / "org",
        reps__csv="rep_id,team\nr1,East\n\n,\nr1,West\n\n\n".replace("\n", newline),
        opportunities__csv=OPPS.replace("007", "r1").replace("008", "r1").replace("009", "r1"),
    )
    ds, report = validate_path(folder, as_of=AS_OF)
    (dup,) = [p for p in report.errors if p.code == "duplicate"]
    assert dup.row == 5
    assert dup.message == "duplicate rep_id: the same value is already in row 2"


def test_blank_excel_rows_are_dropped_but_row_numbers_still_count_them(tmp_path):
    folder = _write(tmp_path / "org", opportunities__csv=OPPS)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["A2"], ws["A4"], ws["A5"] = "rep_id", "007", "008", "007"  # row 3 blank
    wb.save(folder / "reps.xlsx")
    _, report = validate_path(folder, as_of=AS_OF)
    (dup,) = [p for p in report.errors if p.code == "duplicate"]
    assert (dup.row, dup.message) == (5, "duplicate rep_id: the same value is already in row 2")


def test_quoted_values_may_contain_commas_and_line_breaks(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv='rep_id,name\nr1,"Smith, Ann\nSenior"\nr2,Bob\n',
        opportunities__csv="opportunity_id,rep_id,created_at,stage,amount\n"
        "o1,r2,2026-01-05,Won,10\n",
    )
    ds = kpikit.load(folder)
    assert ds.reps["name"].tolist() == ["Smith, Ann\nSenior", "Bob"]


def test_blanks_around_values_and_column_names_are_stripped(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv=" rep_id , team \n  r1 , East \n",
        opportunities__csv="opportunity_id,rep_id,created_at,stage,amount\n"
        "o1, r1 , 2026-01-05 , won ,  10 \n",
    )
    ds = kpikit.load(folder)
    assert ds.reps[["rep_id", "team"]].values.tolist() == [["r1", "East"]]
    opp = ds.opportunities.iloc[0]
    assert (opp["rep_id"], opp["stage"], opp["amount"]) == ("r1", "Won", 10.0)


def test_a_row_with_too_many_values_names_the_row(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv="rep_id,team\nr1,East\nr2,West,extra\n",
        opportunities__csv=OPPS,
    )
    _, report = validate_path(folder)
    (p,) = [p for p in report.errors if p.table == "reps"]
    assert p.row == 3
    assert p.value == "r2,West,extra"
    assert "row has 3 values but the header has 2 columns" in p.message
    assert "quote values that contain commas" in p.expected
    # the unreadable table is not also reported as missing
    assert not [p for p in report.errors if p.code == "missing_table"]


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv="rep_id,name\nr1,Ann\nr2,Ren\xe9e\n".encode("latin-1"),
        opportunities__csv=OPPS,
    )
    with pytest.raises(DataValidationError) as info:
        kpikit.load(folder)
    (p,) = [p for p in info.value.report.errors if p.table == "reps"]
    assert p.file == str(folder / "reps.csv")
    assert p.row == 3
    assert p.message == "line 3 is not valid UTF-8 text (byte 0xE9)"
    assert p.value == "r2,Ren\\xe9"
    assert "re-save the file as UTF-8" in p.expected
    assert "kpikit importer" in p.expected


def test_a_utf16_file_says_so(tmp_path):
    folder = _write(tmp_path / "org", reps__csv="rep_id\nr1\n".encode("utf-16"),
                    opportunities__csv=OPPS)
    _, report = validate_path(folder)
    (p,) = [p for p in report.errors if p.table == "reps"]
    assert p.message == "the file is UTF-16 encoded, not UTF-8"
    assert "re-save the file as UTF-8" in p.expected


def test_duplicate_column_names_are_an_error(tmp_path):
    folder = _write(tmp_path / "org", reps__csv="rep_id,team,team\nr1,East,West\n",
                    opportunities__csv=OPPS)
    _, report = validate_path(folder)
    (p,) = [p for p in report.errors if p.code == "duplicate_column"]
    assert p.column == "team"
    assert "appears more than once in the header (columns 2 and 3)" in p.message


def test_an_empty_unnamed_trailing_column_is_ignored_silently(tmp_path):
    folder = _write(tmp_path / "org", reps__csv="rep_id,team,\nr1,East,\n",
                    opportunities__csv=OPPS.replace("007", "r1").replace("008", "r1")
                    .replace("009", "r1"))
    ds, report = validate_path(folder, as_of=AS_OF)
    assert report.problems == []
    assert list(ds.reps.columns) == ["rep_id", "team", "name", "role"]


# -- empty and unreadable files ----------------------------------------------------------------


def test_a_zero_byte_required_file_is_an_error(tmp_path):
    folder = _write(tmp_path / "org", reps__csv="", opportunities__csv=OPPS)
    _, report = validate_path(folder)
    (p,) = report.errors
    assert (p.file, p.code) == (str(folder / "reps.csv"), "empty_file")
    assert p.message == "the file is empty (0 bytes), so the table is not loaded"
    assert p.expected == "a header row with the column names, then one row per record"


def test_a_zero_byte_optional_file_is_a_warning_and_the_table_is_absent(tmp_path):
    folder = _csv_org(tmp_path / "org")
    (folder / "activities.csv").write_text("")
    ds, report = validate_path(folder, as_of=AS_OF)
    assert report.ok
    (w,) = [w for w in report.warnings if w.code == "empty_file"]
    assert w.file == str(folder / "activities.csv")
    assert not ds.has("activities")


def test_a_header_only_optional_table_is_an_empty_table(tmp_path):
    folder = _csv_org(tmp_path / "org")
    (folder / "activities.csv").write_text("activity_id,rep_id,type,occurred_at\n")
    ds, report = validate_path(folder, as_of=AS_OF)
    assert report.ok
    assert ds.has("activities") and len(ds.activities) == 0


@pytest.mark.parametrize("header", ["rep_id,team\n", "rep_id,team"])
def test_a_header_only_required_table_is_an_error(tmp_path, header):
    folder = _write(tmp_path / "org", reps__csv=header, opportunities__csv=OPPS)
    _, report = validate_path(folder)
    (p,) = [p for p in report.errors if p.code == "empty_table"]
    assert p.file == str(folder / "reps.csv")
    assert p.message == "required table reps has no rows"


def test_an_unreadable_parquet_file_is_reported(tmp_path):
    folder = _csv_org(tmp_path / "org")
    (folder / "activities.csv").unlink()
    (folder / "activities.parquet").write_bytes(b"this is not parquet at all")
    _, report = validate_path(folder)
    (p,) = report.errors
    assert p.file == str(folder / "activities.parquet")
    assert p.message.startswith("the file cannot be read as Parquet (")
    assert "a valid Parquet file" in p.expected


def test_an_unreadable_xlsx_file_is_reported(tmp_path):
    folder = _csv_org(tmp_path / "org")
    (folder / "reps.csv").unlink()
    (folder / "reps.xlsx").write_bytes(b"PK\x03\x04 broken zip")
    _, report = validate_path(folder)
    (p,) = report.errors
    assert p.file == str(folder / "reps.xlsx")
    assert p.message.startswith("the file cannot be read as an Excel workbook (")


def test_a_file_without_read_permission_is_reported(tmp_path, monkeypatch):
    folder = _csv_org(tmp_path / "org")
    real_open = open

    def guarded(file, *args, **kwargs):
        if str(file).endswith("reps.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("kpikit.io.open", guarded, raising=False)
    _, report = validate_path(folder)
    (p,) = report.errors
    assert p.file == str(folder / "reps.csv")
    assert p.message == "the file cannot be read: permission denied"


def test_two_forms_of_one_table_are_an_error_naming_both(tmp_path):
    folder = _csv_org(tmp_path / "org")
    _typed_frames()["reps"].to_parquet(folder / "reps.parquet")
    with pytest.raises(DataValidationError) as info:
        kpikit.load(folder)
    (p,) = info.value.report.errors
    assert p.message == "table reps is given more than once: reps.csv, reps.parquet"
    assert p.expected == "exactly one file per table: remove or rename all but one"


def test_an_unsupported_format_of_a_table_is_named(tmp_path):
    folder = _write(tmp_path / "org", reps__xls="not read", opportunities__csv=OPPS)
    _, report = validate_path(folder)
    (p,) = report.errors  # and not also "required table reps is missing"
    assert p.message == "reps.xls: kpikit cannot read .xls files, so table reps is not loaded"
    assert "save it as .xlsx or CSV UTF-8" in p.expected


def test_a_file_named_after_no_table_is_a_warning(tmp_path):
    folder = _csv_org(tmp_path / "org")
    (folder / "rep.csv").write_text("rep_id\nr1\n")
    _, report = validate_path(folder, as_of=AS_OF)
    (w,) = report.warnings
    assert w.message == "rep.csv is not one of the canonical tables and is ignored"
    assert report.ok


# -- paths that are not datasets ---------------------------------------------------------------


def test_a_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file or folder; give a folder of tables"):
        kpikit.load(tmp_path / "nowhere")


def test_a_single_table_file_asks_for_its_folder(tmp_path):
    folder = _csv_org(tmp_path / "org")
    with pytest.raises(DataError, match="is a single table file; give the folder that holds it"):
        kpikit.load(folder / "reps.csv")


def test_a_file_of_unknown_type_is_a_data_error(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(DataError, match="neither a folder of tables nor a DuckDB/SQLite"):
        kpikit.load(path)


def test_a_db_extension_without_a_database_inside_is_a_data_error(tmp_path):
    path = tmp_path / "sales.db"
    path.write_text("hello")
    with pytest.raises(DataError, match="is not a DuckDB or SQLite database"):
        kpikit.load(path)


def test_validate_path_turns_a_path_error_into_a_report(tmp_path):
    ds, report = validate_path(tmp_path / "nowhere")
    assert ds is None and not report.ok
    (p,) = report.errors
    assert "no such file or folder" in p.message


# -- timezones ---------------------------------------------------------------------------------


def test_timezone_aware_timestamps_are_converted_to_the_dataset_timezone(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv="rep_id\nr1\n",
        # 23:30 UTC is 00:30 the next day in Paris (UTC+1 in January); +05:00 is 05:00 UTC
        opportunities__csv="opportunity_id,rep_id,created_at,stage,amount\n"
        "o1,r1,2026-01-05T23:30:00Z,Won,10\no2,r1,2026-01-05 09:00+05:00,Won,10\n",
        dataset__toml='timezone = "Europe/Paris"\n',
    )
    created = kpikit.load(folder).opportunities["created_at"]
    assert created.dt.tz is None
    assert created.tolist() == [pd.Timestamp("2026-01-06 00:30"), pd.Timestamp("2026-01-05 05:00")]


def test_timezone_aware_parquet_columns_are_converted_too(tmp_path):
    folder = tmp_path / "org"
    folder.mkdir()
    frames = _typed_frames()
    frames["opportunities"]["created_at"] = frames["opportunities"]["created_at"].dt.tz_localize(
        "UTC")
    for name, df in frames.items():
        df.to_parquet(folder / f"{name}.parquet")
    (folder / "dataset.toml").write_text('timezone = "America/New_York"\n')
    # activities are naive with a time of day: mixing them with aware ones is an error
    with pytest.raises(DataValidationError, match="timestamp without a timezone"):
        kpikit.load(folder)
    (folder / "activities.parquet").unlink()
    created = kpikit.load(folder).opportunities["created_at"]
    # 09:30 UTC is 04:30 in New York (UTC-5 in January)
    assert created.iloc[0] == pd.Timestamp(datetime(2026, 1, 5, 4, 30))


def test_load_raises_one_error_listing_every_problem(tmp_path):
    folder = _write(
        tmp_path / "org",
        reps__csv="rep_id\nr1\nr1\n",
        opportunities__csv="opportunity_id,rep_id,created_at,stage,amount\n"
        "o1,r1,yesterday,Won,10\n",
    )
    with pytest.raises(DataValidationError) as info:
        kpikit.load(folder)
    text = str(info.value)
    assert text.startswith(f"2 problem(s) in the dataset in {folder}:")
    assert "reps.csv, row 3, column rep_id: duplicate rep_id" in text
    assert "opportunities.csv, row 2, column created_at: not an ISO 8601 date-time" in text


def test_strict_false_returns_the_dataset_with_its_report(tmp_path):
    folder = _write(tmp_path / "org", reps__csv="rep_id\nr1\nr1\n", opportunities__csv=OPPS)
    ds = kpikit.load(folder, strict=False)
    assert not ds.report.ok
    assert len(ds.reps) == 2


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_unlistable_folder_is_a_data_error(tmp_path, monkeypatch):
    folder = _csv_org(tmp_path / "org")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(DataError, match="the folder cannot be listed .Permission denied."):
        read_raw(folder)
