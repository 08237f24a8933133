"""Reading a dataset's raw tables from disk: a folder of files or a database file.

Accepted forms
--------------
* a **folder** holding one file per table, named after the table (any letter
  case): ``reps.csv``, ``opportunities.parquet``, ``activities.xlsx``, ... Each
  table comes in one form only: ``reps.csv`` next to ``reps.parquet`` is an
  error naming both. The optional ``dataset.toml`` sits in the same folder.
* a **DuckDB or SQLite database file** (recognised by its first bytes, so the
  extension does not matter; ``.duckdb``, ``.db``, ``.sqlite`` and
  ``.sqlite3`` are the usual ones) holding tables or views named after the
  tables. Its configuration is ``<name>.toml`` beside the database
  (``sales.toml`` for ``sales.duckdb``) or, when that does not exist,
  ``dataset.toml`` in the same folder.

How each form is read
---------------------
* CSV: UTF-8 with or without a byte-order mark, comma separated, header row
  first, quoted values may span lines. Every column is read as text (so ids keep
  their leading zeros); an empty field is missing. Blank rows are dropped but
  row numbers in messages still count them, as a spreadsheet would. Read with
  pyarrow's multi-threaded parser (millions of rows in about a second).
* Excel ``.xlsx``: the first worksheet, header in row 1; cells are turned into
  text (dates as ISO 8601) and then handled like CSV.
* Parquet and database tables: typed columns are kept as they are and coerced
  in :mod:`kpikit.validation`.

Problems with a single file (not UTF-8, not a valid Parquet file, unreadable,
empty) do not stop the reading: they are collected on
:attr:`RawDataset.problems` so that ``kpikit validate`` reports them together
with every other problem. Only a path that cannot be a dataset at all raises
:class:`~kpikit.errors.DataError` right away.

Nothing here modifies an input: files are opened for reading only and database
files are opened read-only.
"""

from __future__ import annotations

import codecs
import csv
import io
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kpikit.config import DatasetConfig, read_config
from kpikit.errors import DataError, KpikitError
from kpikit.schema import REQUIRED_TABLES, TABLE_NAMES, TABLES

if TYPE_CHECKING:  # pragma: no cover
    from kpikit.validation import Problem

FILE_SUFFIXES = (".csv", ".parquet", ".xlsx")
DB_SUFFIXES = (".duckdb", ".db", ".sqlite", ".sqlite3")
#: table files kpikit sees but cannot read, with what to do instead
UNSUPPORTED_SUFFIXES = {
    ".xls": "save it as .xlsx or CSV UTF-8",
    ".xlsm": "save it as .xlsx or CSV UTF-8",
    ".ods": "save it as .xlsx or CSV UTF-8",
    ".tsv": "save it as comma-separated CSV, or use a kpikit importer",
    ".txt": "save it as comma-separated CSV, or use a kpikit importer",
    ".json": "convert it to CSV or Parquet, or use a kpikit importer",
}
#: row number of a table's first record, by format: CSV/Excel show the header as row 1,
#: Parquet and database tables count records from 1, in-memory frames use the index.
ROW_BASES = {"csv": 2, "xlsx": 2, "parquet": 1, "duckdb": 1, "sqlite": 1, "frame": 0}

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte offset 8
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_REWRITE_UTF8 = (
    "UTF-8 text: re-save the file as UTF-8 (Excel: 'CSV UTF-8'; LibreOffice: character set "
    "'Unicode (UTF-8)'), or read it with a kpikit importer, which accepts other encodings"
)


@dataclass
class TableSource:
    """Where a raw table came from, so a problem can point back into the file.

    ``row_base`` converts a 0-based position in the frame to the row number a
    user sees: 2 for CSV and Excel (the header is row 1), 1 for Parquet and
    database tables (records counted from 1), 0 for in-memory frames; left
    ``None`` it is chosen from ``fmt``. When blank rows were dropped, ``rows``
    holds the row number of each kept row instead.

    >>> TableSource("reps", "data/reps.csv", "csv").row_number(0)
    2
    >>> TableSource("reps", "data/reps.csv", "csv", rows=np.array([2, 4])).row_number(1)
    4
    """

    table: str
    path: str
    fmt: str
    row_base: int | None = None
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.row_base is None:
            self.row_base = ROW_BASES.get(self.fmt, 1)

    def row_number(self, position: int) -> int:
        """The row number a user sees for the 0-based ``position`` in the frame."""
        if self.rows is not None:
            return int(self.rows[int(position)])
        return int(position) + int(self.row_base)  # type: ignore[arg-type]

    def row_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`row_number`."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.rows is not None:
            return np.asarray(self.rows)[positions]
        return positions + int(self.row_base)  # type: ignore[arg-type]

    @property
    def display(self) -> str:
        """How messages name the source: the file, or the database file and table."""
        if self.fmt in ("duckdb", "sqlite"):
            return f"{self.path} (table {self.table})"
        return self.path


@dataclass
class RawDataset:
    """Raw tables as read (text for CSV/Excel, typed for Parquet/databases).

    ``problems`` holds what went wrong while reading single files (those tables
    are absent from ``tables`` and listed in ``unreadable``); ``kind`` is
    ``folder``, ``duckdb``, ``sqlite`` or ``frames``; ``found`` lists what the
    folder or database held, for messages about a missing table.
    """

    tables: dict[str, pd.DataFrame]
    sources: dict[str, TableSource]
    config: DatasetConfig = field(default_factory=DatasetConfig)
    location: str = ""
    problems: list[Problem] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)
    kind: str = "folder"
    found: tuple[str, ...] = ()


class _FileProblem(Exception):
    """A single table file cannot be read; becomes a :class:`Problem`."""

    def __init__(
        self,
        message: str,
        *,
        expected: str | None = None,
        row: int | None = None,
        value: object = None,
        severity: str = "error",
        code: str = "unreadable",
    ):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.row = row
        self.value = value
        self.severity = severity
        self.code = code


def read_raw(path: str | Path, *, tables: Iterable[str] | None = None) -> RawDataset:
    """Read every canonical table found at ``path`` (a folder or a database file).

    Parameters
    ----------
    path
        A folder of table files or a DuckDB / SQLite database file.
    tables
        Optional tables to read besides the required ``reps`` and
        ``opportunities`` (default: every table found).

    Raises
    ------
    DataError
        When ``path`` does not exist or is neither a folder nor a database file,
        or the database cannot be opened. Problems with single files are
        collected on :attr:`RawDataset.problems` instead.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "reps.csv").write_text("rep_id,team\\n007,East\\n")
    >>> raw = read_raw(folder)
    >>> raw.tables["reps"].loc[0, "rep_id"], raw.sources["reps"].row_number(0)
    ('007', 2)
    """
    wanted = _wanted(tables)
    p = Path(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:  # pragma: no cover - e.g. a path too long for the OS
        raise DataError(f"{p}: cannot be accessed ({exc.strerror or exc})") from exc
    if not exists:
        raise DataError(
            f"{p}: no such file or folder; give a folder of tables (reps.csv, "
            f"opportunities.csv, ...) or a DuckDB/SQLite database file"
        )
    if is_dir:
        return _read_folder(p, wanted)
    kind = _database_kind(p)
    if kind is not None:
        return _read_database(p, kind, wanted)
    suffix = p.suffix.lower()
    if suffix in FILE_SUFFIXES or suffix in UNSUPPORTED_SUFFIXES:
        raise DataError(
            f"{p}: is a single table file; give the folder that holds it "
            f"({p.parent}) so kpikit can find every table"
        )
    if suffix in DB_SUFFIXES:
        raise DataError(
            f"{p}: is not a DuckDB or SQLite database (its first bytes do not match either "
            f"format, or it is empty); give a folder of tables or a database file"
        )
    raise DataError(
        f"{p}: is neither a folder of tables nor a DuckDB/SQLite database file; give a folder "
        f"with reps.csv, opportunities.csv, ... or a .duckdb/.sqlite file"
    )


def _wanted(tables: Iterable[str] | None) -> set[str] | None:
    if tables is None:
        return None
    names = [tables] if isinstance(tables, str) else list(tables)
    unknown = sorted(set(names) - set(TABLE_NAMES))
    if unknown:
        raise KpikitError(
            f"unknown table(s) {', '.join(unknown)}; canonical tables are {', '.join(TABLE_NAMES)}"
        )
    return set(names) | set(REQUIRED_TABLES)


def _problem(
    severity: str, table: str, message: str, file: str, *, code: str, **kw: object
) -> Problem:
    from kpikit.validation import Problem

    return Problem(severity, table, message, file=file, code=code, **kw)  # type: ignore[arg-type]


# -- folders -----------------------------------------------------------------------------------


def _read_folder(folder: Path, wanted: set[str] | None) -> RawDataset:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DataError(
            f"{folder}: the folder cannot be listed ({exc.strerror or exc}); check its permissions"
        ) from exc
    candidates: dict[str, list[Path]] = {}
    unsupported: set[str] = set()
    problems: list[Problem] = []
    found: list[str] = []
    for f in entries:
        name = f.name
        if name.startswith((".", "~$")):
            continue
        try:
            if not f.is_file():
                continue
        except OSError:  # pragma: no cover
            continue
        stem, suffix = f.stem.lower(), f.suffix.lower()
        if suffix in FILE_SUFFIXES or suffix in UNSUPPORTED_SUFFIXES:
            found.append(name)
        if stem not in TABLES:
            if suffix in FILE_SUFFIXES:
                problems.append(
                    _problem(
                        "warning", stem, f"{name} is not one of the canonical tables and is ignored",
                        str(f), code="unknown_file",
                        expected=f"a file named after a table: {', '.join(TABLE_NAMES)}",
                    )
                )
            continue
        if suffix in FILE_SUFFIXES:
            candidates.setdefault(stem, []).append(f)
        elif suffix in UNSUPPORTED_SUFFIXES:
            unsupported.add(stem)
            problems.append(
                _problem(
                    "error" if stem in REQUIRED_TABLES else "warning", stem,
                    f"{name}: kpikit cannot read {suffix} files, so table {stem} is not loaded",
                    str(f), code="unsupported_format",
                    expected=f"CSV, Parquet or .xlsx: {UNSUPPORTED_SUFFIXES[suffix]}",
                )
            )

    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, TableSource] = {}
    # a table only given in a format kpikit cannot read was reported above, not "missing"
    unreadable: set[str] = unsupported - set(candidates)
    for table in TABLE_NAMES:
        files = candidates.get(table)
        if not files or (wanted is not None and table not in wanted):
            continue
        if len(files) > 1:
            names = ", ".join(f.name for f in files)
            problems.append(
                _problem(
                    "error", table, f"table {table} is given more than once: {names}",
                    str(folder), code="ambiguous_table",
                    expected="exactly one file per table: remove or rename all but one",
                )
            )
            unreadable.add(table)
            continue
        f = files[0]
        fmt = f.suffix.lower()[1:]
        try:
            df, rows = _READERS[fmt](f)
        except _FileProblem as fp:
            severity = fp.severity
            if fp.code == "empty_file" and table in REQUIRED_TABLES:
                severity = "error"
            problems.append(
                _problem(severity, table, fp.message, str(f), code=fp.code, row=fp.row,
                         value=fp.value, expected=fp.expected)
            )
            unreadable.add(table)
            continue
        df, header_problems = clean_header(df, table, str(f))
        problems.extend(header_problems)
        tables[table] = df
        sources[table] = TableSource(table, str(f), fmt, rows=rows)
    config = read_config(folder / "dataset.toml")
    return RawDataset(
        tables, sources, config, str(folder), problems, unreadable, "folder", tuple(found)
    )


def _open_bytes(f: Path) -> bytes:
    try:
        with open(f, "rb") as fh:
            return fh.read()
    except PermissionError as exc:
        raise _FileProblem(
            "the file cannot be read: permission denied",
            expected="a file your user may read (check its permissions)",
        ) from exc
    except OSError as exc:
        raise _FileProblem(f"the file cannot be read ({exc.strerror or exc})") from exc


def _empty(kind: str) -> _FileProblem:
    return _FileProblem(
        f"the file is empty ({kind}), so the table is not loaded",
        expected="a header row with the column names, then one row per record",
        severity="warning",
        code="empty_file",
    )


def _drop_blank_rows(df: pd.DataFrame, base: int) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Drop rows with no value at all; return the row numbers of the kept rows if any dropped."""
    if df.empty or df.shape[1] == 0:
        return df, None
    blank = df.isna().all(axis=1).to_numpy()
    if not blank.any():
        return df, None
    keep = np.flatnonzero(~blank)
    rows = keep + base
    return df.iloc[keep].reset_index(drop=True), rows


def clean_header(df: pd.DataFrame, table: str, file: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Strip column names; drop empty unnamed columns; report unnamed and duplicate ones."""
    problems: list[Problem] = []
    names = [str(c).split("\x00")[0].strip() for c in df.columns]
    keep: list[int] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        col = df.iloc[:, i]
        if name == "":
            if col.notna().any():
                problems.append(
                    _problem(
                        "warning", table, f"column {i + 1} has no name in the header row; "
                        "its values are ignored", file, code="unnamed_column",
                        expected="a column name in the header row",
                    )
                )
            continue
        if name in seen:
            problems.append(
                _problem(
                    "error", table, f"column {name!r} appears more than once in the header "
                    f"(columns {seen[name] + 1} and {i + 1}); only the first is used", file,
                    column=name, code="duplicate_column",
                    expected="unique column names: rename or remove the second one",
                )
            )
            continue
        seen[name] = i
        keep.append(i)
    if len(keep) == len(names) and names == list(df.columns):
        return df, problems
    out = df.iloc[:, keep]
    out.columns = [names[i] for i in keep]
    return out, problems


# -- CSV ---------------------------------------------------------------------------------------


def _read_csv(f: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = _open_bytes(f)
    if data.startswith(_UTF16_BOMS):
        raise _FileProblem(
            "the file is UTF-16 encoded, not UTF-8", row=1, code="encoding", expected=_REWRITE_UTF8
        )
    start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    if not data[start : start + 4096].strip() and not data[start:].strip():
        raise _empty("0 bytes" if not data else "no header row")
    header = _csv_header(data, start)
    if not data.endswith((b"\n", b"\r")):
        data += b"\n"  # pyarrow cannot read a header-only file without a final line break
    bad_rows: list[tuple[int | None, str, int, int]] = []

    def on_invalid(row) -> str:
        if not row.text.strip():  # a line of blanks only: a blank row
            return "skip"
        bad_rows.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    def parse(use_threads: bool):
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        tbl = parse(True)
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "UTF-8" in text:
            raise _utf8_problem(data) from exc
        raise _FileProblem(
            f"the file cannot be parsed as CSV ({text})",
            code="bad_csv",
            expected="comma-separated values with a header row; quotes must be closed",
        ) from exc
    if bad_rows:
        if any(number is None for number, *_ in bad_rows):
            bad_rows.clear()
            parse(False)  # single-threaded: pyarrow then knows each bad row's line number
        first = bad_rows[0]
        more = f" (and {len(bad_rows) - 1} more such rows)" if len(bad_rows) > 1 else ""
        raise _FileProblem(
            f"row has {first[3]} values but the header has {first[2]} columns{more}; "
            "the table is not loaded",
            row=first[0],
            value=first[1][:200],
            code="bad_csv",
            expected="as many values per row as header columns; quote values that contain commas",
        )
    names = _unique_names(tbl.column_names)
    df = tbl.rename_columns(names).to_pandas()
    return _drop_blank_rows(df, ROW_BASES["csv"])


def _csv_header(data: bytes, start: int) -> list[str]:
    """The header row's column names, exactly as written (for pyarrow's column_types)."""
    chunk = data[start : start + (1 << 16)]
    text = chunk.decode("utf-8", errors="replace")
    first = next(csv.reader(io.StringIO(text)), [])
    raw_first = chunk.split(b"\n", 1)[0]
    try:
        raw_first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _utf8_problem(data) from exc
    return first


def _unique_names(names: list[str]) -> list[str]:
    """Make names unique for pyarrow -> pandas (duplicates are reported by clean_header)."""
    out, seen = [], set()
    for name in names:
        candidate, k = name, 1
        while candidate in seen:
            candidate = f"{name}\x00{k}"
            k += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _utf8_problem(data: bytes) -> _FileProblem:
    """Locate the first invalid UTF-8 byte: its line and the text of that line up to it."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start
        line = data.count(b"\n", 0, pos) + 1
        line_start = data.rfind(b"\n", 0, pos) + 1
        snippet = data[line_start : pos + 1]
        return _FileProblem(
            f"line {line} is not valid UTF-8 text (byte 0x{data[pos]:02X})",
            row=line,
            value=snippet.decode("utf-8", errors="backslashreplace"),
            code="encoding",
            expected=_REWRITE_UTF8,
        )
    return _FileProblem("the file is not valid UTF-8 text", code="encoding", expected=_REWRITE_UTF8)


# -- Parquet -----------------------------------------------------------------------------------


def _read_parquet(f: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if f.stat().st_size == 0:
            raise _empty("0 bytes")
        with open(f, "rb") as fh:
            tbl = pq.read_table(fh)
    except _FileProblem:
        raise
    except PermissionError as exc:
        raise _FileProblem(
            "the file cannot be read: permission denied",
            expected="a file your user may read (check its permissions)",
        ) from exc
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise _FileProblem(
            f"the file cannot be read as Parquet ({exc})",
            code="unreadable",
            expected="a valid Parquet file (re-export it, or save the table as CSV)",
        ) from exc
    return _arrow_to_pandas(tbl), None


def _arrow_to_pandas(tbl) -> pd.DataFrame:
    """Arrow table -> pandas; dates become datetime64 (not objects), strings the str dtype."""
    return tbl.to_pandas(date_as_object=False)


# -- Excel -------------------------------------------------------------------------------------


def _cell_text(v: object) -> object:
    """An Excel cell value as text (the CSV path then parses it); None stays missing."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        # a date cell (midnight) stays a plain date, like "2026-10-01" in a CSV
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_xlsx(f: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    import zipfile

    import openpyxl

    try:
        if f.stat().st_size == 0:
            raise _empty("0 bytes")
        with open(f, "rb") as fh:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
            try:
                ws = wb.worksheets[0]
                rows_iter = ws.iter_rows(values_only=True)
                header = next(rows_iter, None)
                body = [[_cell_text(v) for v in row] for row in rows_iter]
            finally:
                wb.close()
    except _FileProblem:
        raise
    except PermissionError as exc:
        raise _FileProblem(
            "the file cannot be read: permission denied",
            expected="a file your user may read (check its permissions)",
        ) from exc
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise _FileProblem(
            f"the file cannot be read as an Excel workbook ({exc})",
            code="unreadable",
            expected="an .xlsx workbook (re-save it from Excel, or save the table as CSV UTF-8)",
        ) from exc
    if header is None or all(v is None for v in header):
        raise _empty("no header row")
    width = max([len(header)] + [len(r) for r in body])
    header = list(header) + [None] * (width - len(header))
    names = _unique_names(["" if v is None else str(_cell_text(v)) for v in header])
    body = [list(r) + [None] * (width - len(r)) for r in body]
    # every cell is text (or missing) now: give the frame the same str dtype a CSV gets
    df = pd.DataFrame(body, columns=names, dtype=object).astype("str")
    return _drop_blank_rows(df, ROW_BASES["xlsx"])


_READERS = {"csv": _read_csv, "parquet": _read_parquet, "xlsx": _read_xlsx}


# -- databases ---------------------------------------------------------------------------------


def _database_kind(p: Path) -> str | None:
    """``duckdb`` / ``sqlite`` from the file's first bytes; ``None`` for anything else."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except PermissionError as exc:
        raise DataError(f"{p}: the file cannot be read: permission denied") from exc
    except OSError as exc:
        raise DataError(f"{p}: the file cannot be read ({exc.strerror or exc})") from exc
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return None


def database_config_path(db: Path) -> Path:
    """The configuration file of a database dataset: ``<name>.toml``, else ``dataset.toml``.

    >>> database_config_path(Path("/nowhere/sales.duckdb")).name
    'dataset.toml'
    """
    own = db.with_suffix(".toml")
    return own if own.exists() else db.parent / "dataset.toml"


def _read_database(p: Path, kind: str, wanted: set[str] | None) -> RawDataset:
    try:
        if kind == "duckdb":
            import duckdb

            con = duckdb.connect(str(p), read_only=True)
            list_sql = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name"
            )
            names = [r[0] for r in con.execute(list_sql).fetchall()]
        else:
            con = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True)
            names = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                ).fetchall()
            ]
    except Exception as exc:  # any driver error: locked, corrupt, not permitted
        label = "DuckDB" if kind == "duckdb" else "SQLite"
        raise DataError(
            f"{p}: the {label} database cannot be opened ({exc}); check that it is not "
            f"corrupt or locked by another program and that you may read it"
        ) from exc

    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, TableSource] = {}
    problems: list[Problem] = []
    unreadable: set[str] = set()
    by_lower: dict[str, list[str]] = {}
    for n in names:
        by_lower.setdefault(n.lower(), []).append(n)
    try:
        for table in TABLE_NAMES:
            matches = by_lower.get(table)
            if not matches or (wanted is not None and table not in wanted):
                continue
            src = TableSource(table, str(p), kind)
            if len(matches) > 1:
                problems.append(
                    _problem(
                        "error", table, f"table {table} is given more than once: "
                        f"{', '.join(matches)}", src.display, code="ambiguous_table",
                        expected="exactly one table of that name (names are matched ignoring case)",
                    )
                )
                unreadable.add(table)
                continue
            sql = 'SELECT * FROM "{}"'.format(matches[0].replace('"', '""'))
            try:
                if kind == "duckdb":
                    df = _arrow_to_pandas(con.sql(sql).to_arrow_table())
                else:
                    df = pd.read_sql_query(sql, con)
            except Exception as exc:
                problems.append(
                    _problem(
                        "error", table, f"the table cannot be read ({exc})", src.display,
                        code="unreadable", expected="a readable table or view",
                    )
                )
                unreadable.add(table)
                continue
            df, header_problems = clean_header(df, table, src.display)
            problems.extend(header_problems)
            tables[table] = df
            sources[table] = src
    finally:
        con.close()
    config = read_config(database_config_path(p))
    return RawDataset(tables, sources, config, str(p), problems, unreadable, kind, tuple(names))
