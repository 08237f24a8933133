"""Shared machinery of the CRM importers: reading exports, parsing their values, mapping.

An importer reads a CRM's export files, maps each onto a canonical table
(:data:`kpikit.schema.TABLES`) and writes a dataset folder. Everything here is
shared by the sources (:mod:`~kpikit.importers.hubspot`,
:mod:`~kpikit.importers.salesforce`, :mod:`~kpikit.importers.pipedrive`,
:mod:`~kpikit.importers.maven`, :mod:`~kpikit.importers.generic`):

* :func:`read_export` reads one export file as text: CSV with any of the usual
  delimiters (sniffed from the header row), UTF-8 with or without a byte-order
  mark, UTF-16 with a byte-order mark, Windows-1252 / Latin-1 (decoded, with a
  warning), ``.xlsx`` (first worksheet). Blank rows and a report footer (the
  lines Salesforce appends after a blank line) are dropped; every kept row
  remembers its row number in the file (header = row 1).
* :func:`parse_amounts` reads ``$1,234.50``, ``1.234,50 €``, ``USD 1,234``,
  ``(1,234)``; :func:`parse_dates` reads ISO dates, ``MM/DD/YYYY``,
  ``DD.MM.YYYY``, ``2017-03-01 10:00``, ``3/1/2017 10:00 AM``, ``Mar 1, 2017``
  and Excel serial numbers, resolving day/month order per column.
* :class:`Kind` describes one kind of export file (deals, contacts, calls, ...):
  its recognising headers and, per canonical column, the headers it may come
  from. :func:`convert` applies it; :func:`assemble` derives the reps from the
  owner names, drops rows the export leaves without a required value (counted
  in a note) and :func:`write_dataset` writes the folder.

Every canonical row carries ``_source_file`` and ``_source_row`` (provenance),
which :mod:`kpikit.validation` uses to point a problem back into the export.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from kpikit.errors import ConfigError, DataError, KpikitError
from kpikit.schema import TABLE_NAMES, TABLES

#: provenance columns (the validator reads them; see kpikit.validation)
SOURCE_FILE, SOURCE_ROW = "_source_file", "_source_row"
#: how many bad values an error message lists
MAX_EXAMPLES = 5
#: files an importer writes into ``--out`` (replaced only with ``overwrite``)
LOG_NAME = "import.json"

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}


class ImportDataError(DataError):
    """An export file cannot be imported (unreadable, a column missing, values that cannot be read)."""


class MappingError(ConfigError):
    """A mapping file (``--map``) is malformed or does not fit the export."""


# -- notes ---------------------------------------------------------------------------------------


@dataclass
class ImportNote:
    """Something the import did that the user should know (a warning) or may like to know (info).

    >>> ImportNote("warning", "deals.csv is not UTF-8", file="deals.csv").format()
    'warning: deals.csv is not UTF-8'
    """

    severity: str  # "warning" | "info"
    message: str
    file: str | None = None
    count: int | None = None
    rows: list[int] = field(default_factory=list)

    def format(self) -> str:
        return f"{self.severity}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"severity": self.severity, "message": self.message, "file": self.file,
                "count": self.count, "rows": self.rows}


# -- reading an export ---------------------------------------------------------------------------


@dataclass
class ExportFile:
    """One export file read as text.

    ``frame`` holds every column as text (``str`` dtype, missing = NaN, values
    stripped); ``rows`` the row number of each record in the file (header = row 1);
    ``headers`` the column names as written (stripped).
    """

    path: Path
    frame: pd.DataFrame
    rows: np.ndarray
    headers: list[str]
    notes: list[ImportNote] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path)

    def find(self, candidates: Iterable[str]) -> str | None:
        """The first of ``candidates`` among the headers (ignoring case and spacing)."""
        index = {_header_key(h): h for h in self.headers}
        for c in candidates:
            hit = index.get(_header_key(c))
            if hit is not None:
                return hit
        return None

    def column(self, header: str) -> pd.Series:
        return self.frame[header]


def _header_key(h: str) -> str:
    return re.sub(r"\s+", " ", str(h).replace("\ufeff", "")).strip().casefold()


def read_export(path: str | Path) -> ExportFile:
    """Read an export file (CSV/TSV/TXT or ``.xlsx``) as text, with its row numbers.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "deals.csv"
    >>> _ = f.write_bytes(b"\\xef\\xbb\\xbfDeal;Amount\\nA;1.234,50\\n\\n")
    >>> ex = read_export(f)
    >>> ex.headers, ex.frame["Amount"].tolist(), ex.rows.tolist()
    (['Deal', 'Amount'], ['1.234,50'], [2])
    """
    p = Path(path)
    if not p.exists():
        raise ImportDataError(f"{p}: no such file")
    if p.is_dir():
        raise ImportDataError(f"{p}: is a folder; give the export files themselves (e.g. {p}/*.csv)")
    suffix = p.suffix.lower()
    if suffix in (".xls", ".xlsm", ".ods", ".numbers"):
        raise ImportDataError(
            f"{p}: kpikit cannot read {suffix} files; save the export as .xlsx or CSV (UTF-8)"
        )
    if suffix == ".xlsx":
        grid, notes = _read_xlsx_grid(p)
    else:
        grid, notes = _read_text_grid(p)
    return _grid_to_export(p, grid, notes)


def _read_text_grid(p: Path) -> tuple[pd.DataFrame, list[ImportNote]]:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImportDataError(f"{p}: the file cannot be read ({exc.strerror or exc})") from exc
    notes: list[ImportNote] = []
    text = _decode(p, data, notes)
    if not text.strip():
        raise ImportDataError(f"{p}: the file is empty; export it again with a header row")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line)
    if delimiter != ",":
        notes.append(ImportNote(
            "info", f"{p}: values are separated by {_DELIMITER_NAMES[delimiter]} (detected "
            "from the header row)", file=str(p)))
    try:
        grid = pd.read_csv(
            io.StringIO(text), sep=delimiter, header=None, dtype=str, keep_default_na=False,
            na_filter=False, skip_blank_lines=False, quotechar='"', engine="c",
        )
    except pd.errors.ParserError as exc:
        msg = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise ImportDataError(
            f"{p}: the file cannot be read as delimited text ({msg}); a row has more values "
            "than the header has columns: quote values that contain the delimiter, or re-export "
            "the file"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise ImportDataError(f"{p}: the file is empty; export it again with a header row") from exc
    return grid, notes


def _decode(p: Path, data: bytes, notes: list[ImportNote]) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        notes.append(ImportNote("info", f"{p}: read as UTF-16 text (byte-order mark)", file=str(p)))
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1 (ISO-8859-1)")):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            notes.append(ImportNote(
                "warning", f"{p}: the file is not UTF-8 (first non-UTF-8 byte on line {line}); "
                f"it was read as {label}: check that accented names look right, or export the "
                "file as UTF-8", file=str(p)))
            return text
    raise ImportDataError(f"{p}: the file is not text in a known encoding")  # pragma: no cover


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter giving the header the most fields (commas when there is no other)."""
    best, best_n = ",", 1
    for d in _DELIMITERS:
        try:
            n = len(next(csv.reader([header_line], delimiter=d)))
        except (csv.Error, StopIteration):  # pragma: no cover
            continue
        if n > best_n:
            best, best_n = d, n
    return best


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_xlsx_grid(p: Path) -> tuple[pd.DataFrame, list[ImportNote]]:
    import zipfile

    import openpyxl

    try:
        with open(p, "rb") as fh:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
            try:
                rows = [[_cell_text(v) for v in r] for r in wb.worksheets[0].iter_rows(values_only=True)]
            finally:
                wb.close()
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise ImportDataError(
            f"{p}: the file cannot be read as an Excel workbook ({exc}); re-save it as .xlsx "
            "or CSV UTF-8"
        ) from exc
    if not rows:
        raise ImportDataError(f"{p}: the first worksheet is empty; export it again with a header row")
    width = max(len(r) for r in rows)
    grid = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype="str")
    return grid, []


def _grid_to_export(p: Path, grid: pd.DataFrame, notes: list[ImportNote]) -> ExportFile:
    header = [str(h).replace("\ufeff", "").strip() for h in grid.iloc[0].tolist()]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise ImportDataError(f"{p}: the first row is empty; the header row must come first")
    body = grid.iloc[1:, : len(header)].copy()
    body.columns = _unique(header)
    body = body.apply(lambda s: s.astype("str").str.strip())
    filled = (body != "").to_numpy()
    rows = np.arange(len(body)) + 2  # header = row 1
    blank = ~filled.any(axis=1)
    keep = ~blank
    # a report footer: after the last blank row, only rows with a single value (Salesforce's
    # "Grand Totals (n records)", "Confidential Information - Do Not Distribute", copyright)
    if len(header) >= 3 and blank.any():
        last_blank = int(np.flatnonzero(blank)[-1])
        tail = filled[last_blank + 1:]
        if len(tail) and (tail.sum(axis=1) <= 1).all():
            # the footer may start at an earlier blank row: walk back over single-value rows
            start = last_blank
            while start > 0 and (blank[start - 1] or filled[start - 1].sum() <= 1):
                start -= 1
            first_blank = start + int(np.flatnonzero(blank[start:])[0])
            footer = keep.copy()
            footer[:first_blank] = False
            n_footer = int(footer.sum())
            if n_footer:
                keep[first_blank:] = False
                notes.append(ImportNote(
                    "info", f"{p}: dropped {n_footer} footer line(s) after the data "
                    f"(e.g. {str(body.iloc[np.flatnonzero(footer)[0], 0])[:60]!r})", file=str(p)))
    body = body[keep]
    rows = rows[keep]
    body = body.mask(body == "")
    body = body.reset_index(drop=True)
    return ExportFile(p, body, rows, list(body.columns), notes)


def _unique(names: list[str]) -> list[str]:
    out, seen = [], set()
    for i, n in enumerate(names):
        name = n or f"(column {i + 1})"
        candidate, k = name, 2
        while candidate in seen:
            candidate = f"{name} ({k})"
            k += 1
        seen.add(candidate)
        out.append(candidate)
    return out


# -- where a value came from, for messages --------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """A column of an export file, for messages."""

    file: str
    column: str
    table: str = "opportunities"

    def __str__(self) -> str:
        return f"{self.file}, column {self.column!r}"


def _examples(values: pd.Series, rows: np.ndarray, bad: np.ndarray) -> str:
    idx = np.flatnonzero(bad)
    shown = ", ".join(f"row {rows[i]} {values.iloc[i]!r}" for i in idx[:MAX_EXAMPLES])
    more = f" (and {len(idx) - MAX_EXAMPLES} more)" if len(idx) > MAX_EXAMPLES else ""
    return shown + more


# -- amounts -------------------------------------------------------------------------------------

CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR",
                    "CHF": "CHF", "Fr.": "CHF", "kr": "SEK", "zł": "PLN", "R$": "BRL"}
_CURRENCY_RE = r"(US\$|R\$|[$€£¥₹]|Fr\.|zł|kr\b|\b[A-Z]{3}\b)"


def parse_amounts(
    t: pd.Series, *, where: Where, rows: np.ndarray, decimal: str | None = None
) -> tuple[pd.Series, set[str]]:
    """Formatted money text -> float, with the currencies seen.

    The decimal mark is decided per column: a value with both ``.`` and ``,``
    uses the last one; ``1,5`` / ``1.5`` (one or two digits after) show it too;
    ``1.234.567`` shows the thousands separator. Values with a single separator
    followed by exactly three digits (``1,234``, ``1.234``) and no other evidence
    are read as thousands (money rarely has three decimals). ``decimal`` forces it.

    >>> w = Where("deals.csv", "Amount")
    >>> v, cur = parse_amounts(pd.Series(["$1,234.50", "USD 20", "(5.00)"]), where=w,
    ...                        rows=np.array([2, 3, 4]))
    >>> v.tolist(), sorted(cur)
    ([1234.5, 20.0, -5.0], ['USD'])
    >>> parse_amounts(pd.Series(["1.234,50 €", "7,5"]), where=w, rows=np.array([2, 3]))[0].tolist()
    [1234.5, 7.5]
    """
    t = t.astype("str")
    present = t.notna().to_numpy()
    if not present.any():
        return pd.Series(np.nan, index=t.index, dtype="float64"), set()
    codes, uniques = pd.factorize(t)
    u = pd.Series(uniques, dtype="str")
    cur = u.str.extract(_CURRENCY_RE, expand=False)
    currencies = {CURRENCY_SYMBOLS.get(c, c) for c in cur.dropna().unique()}
    s = u.str.replace(_CURRENCY_RE, "", regex=True)
    s = s.str.replace(r"[\s\u00a0\u202f'’]", "", regex=True)
    neg = s.str.match(r"^\(.*\)$") | s.str.match(r"^-") | s.str.match(r".*-$")
    s = s.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.strip("-+")
    shape_ok = s.str.fullmatch(r"\d[\d.,]*|[.,]\d+").fillna(False)
    if decimal is None:
        decimal = _decimal_mark(s[shape_ok], where)
    thousands = "," if decimal == "." else "."
    plain = s.str.replace(thousands, "", regex=False).str.replace(decimal, ".", regex=False)
    vals = pd.to_numeric(plain.where(shape_ok), errors="coerce")
    vals = vals.where(~neg, -vals)
    out = vals.to_numpy()[np.where(codes < 0, 0, codes)] if len(vals) else np.array([])
    out = np.where(codes < 0, np.nan, out).astype("float64")
    bad = present & np.isnan(out)
    if bad.any():
        raise ImportDataError(
            f"{where}: {int(bad.sum())} value(s) are not amounts kpikit can read: "
            f"{_examples(t, rows, bad)}; expected a number such as 1234.50, $1,234.50, "
            "1.234,50 € or USD 1,234"
        )
    return pd.Series(out, index=t.index, dtype="float64"), currencies


def _decimal_mark(s: pd.Series, where: Where) -> str:
    both = s.str.contains(".", regex=False) & s.str.contains(",", regex=False)
    last_dot = s.str.rfind(".") > s.str.rfind(",")
    dot_evidence = (both & last_dot) | s.str.fullmatch(r"\d*\.\d{1,2}|\d*\.\d{4,}") | \
        s.str.fullmatch(r"\d{1,3}(,\d{3}){2,}")
    comma_evidence = (both & ~last_dot) | s.str.fullmatch(r"\d*,\d{1,2}|\d*,\d{4,}") | \
        s.str.fullmatch(r"\d{1,3}(\.\d{3}){2,}")
    dot_evidence, comma_evidence = dot_evidence.fillna(False), comma_evidence.fillna(False)
    if dot_evidence.any() and comma_evidence.any():
        d = s[dot_evidence].iloc[0]
        c = s[comma_evidence].iloc[0]
        raise ImportDataError(
            f"{where}: amounts use both '.' ({d!r}) and ',' ({c!r}) as the decimal mark; "
            'give the decimal mark in the mapping file (--map): decimal = "," or decimal = "."'
        )
    if comma_evidence.any():
        return ","
    if dot_evidence.any():
        return "."
    # no evidence: a single separator before exactly three digits is a thousands separator
    if s.str.fullmatch(r"\d{1,3}\.\d{3}").any():
        return ","
    return "."


# -- dates ---------------------------------------------------------------------------------------

_ISO_RE = (r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
           r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?")
_DATE_FORMATS = {
    "/": ("%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%m/%d/%y", "%d/%m/%y"),
    ".": ("%d.%m.%Y", "%d.%m.%y", "%Y.%m.%d"),
    "-": ("%d-%m-%Y", "%m-%d-%Y", "%d-%m-%y", "%d-%b-%Y", "%d-%b-%y"),
    "": ("%Y%m%d",),
}
_TEXT_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%d. %B %Y")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p",
                 "%I:%M:%S%p", "%H.%M", "%H:%M:%S,%f")
_PAIRS = {("%m/%d/%Y", "%d/%m/%Y"), ("%m/%d/%y", "%d/%m/%y"), ("%m-%d-%Y", "%d-%m-%Y")}
_LABELS = {"%m/%d/%Y": "MM/DD/YYYY", "%d/%m/%Y": "DD/MM/YYYY", "%m/%d/%y": "MM/DD/YY",
           "%d/%m/%y": "DD/MM/YY", "%m-%d-%Y": "MM-DD-YYYY", "%d-%m-%Y": "DD-MM-YYYY"}
#: Excel serial day numbers accepted as dates (1954-10-03 .. 2119-01-08)
EXCEL_SERIALS = (20000, 80000)


def _order(fmt: str) -> str | None:
    """``mdy`` / ``dmy`` for a format whose day and month are both numbers."""
    if "%m" not in fmt or "%d" not in fmt:
        return None
    return "mdy" if fmt.index("%m") < fmt.index("%d") else "dmy"


@dataclass
class ParsedDates:
    values: pd.Series  # datetime64[us], naive
    fmt: str  # the format chosen ("ISO 8601", "Excel serial", "%d/%m/%Y", ...)
    ambiguous: tuple[str, ...] = ()  # the day/month readings left open


def parse_dates(
    t: pd.Series, *, where: Where, rows: np.ndarray, fmt: str | None = None,
    order: str | None = None, resolve: bool = True,
) -> ParsedDates:
    """Text dates -> naive timestamps, one format per column.

    ISO 8601 values (``2017-03-01``, ``2017-03-01 10:00``, ``...T10:00:00Z``; a
    UTC offset is converted to UTC) and Excel serial numbers are recognised as
    such; otherwise every format of :data:`_DATE_FORMATS` that reads **every**
    value of the column is a candidate (a time of day after the date is read
    separately). ``MM/DD`` against ``DD/MM`` is settled by a day above 12; when
    no value settles it, ``order`` (``"mdy"``/``"dmy"``, e.g. from another date
    column of the same file) decides, else the column is refused with a
    message saying how to give the format. ``fmt`` forces a format.

    >>> w = Where("deals.csv", "Close Date")
    >>> p = parse_dates(pd.Series(["3/1/2017", "12/31/2017 10:00 AM"]), where=w, rows=np.array([2, 3]))
    >>> p.fmt, [str(v) for v in p.values]
    ('%m/%d/%Y', ['2017-03-01 00:00:00', '2017-12-31 10:00:00'])
    >>> parse_dates(pd.Series(["01.02.2017"]), where=w, rows=np.array([2])).values.iloc[0].date()
    datetime.date(2017, 2, 1)
    """
    t = t.astype("str")
    present = t.notna().to_numpy()
    empty = pd.Series(pd.NaT, index=t.index, dtype="datetime64[us]")
    if not present.any():
        return ParsedDates(empty, "empty")
    u = pd.Series(pd.unique(t.dropna()), dtype="str")
    if fmt is not None:
        parsed = _parse_with(u, fmt)
        chosen = fmt
    elif u.str.fullmatch(_ISO_RE).all():
        parsed = _parse_iso(u)
        chosen = "ISO 8601"
    elif u.str.fullmatch(r"\d{5}(?:\.\d+)?").all() and _serial_range(u):
        num = pd.to_numeric(u)
        parsed = (pd.Timestamp("1899-12-30") + pd.to_timedelta(num, unit="D")).astype("datetime64[us]")
        parsed = parsed.dt.round("s")
        chosen = "Excel serial"
    else:
        parsed, chosen, amb = _infer(u, where, t, rows, order, resolve)
        if amb:
            return ParsedDates(empty, chosen, amb)
    bad_u = parsed.isna().to_numpy()
    if bad_u.any():
        bad_values = set(u[bad_u])
        bad = present & t.isin(bad_values).to_numpy()
        how = f"the format {fmt!r}" if fmt else f"the column's format ({_label(chosen)})"
        raise ImportDataError(
            f"{where}: {int(bad.sum())} value(s) are not dates in {how}: "
            f"{_examples(t, rows, bad)}; fix them in the export, or give the format in the "
            'mapping file (--map), e.g. date_format = "%d/%m/%Y"'
        )
    lookup = pd.Series(parsed.to_numpy(), index=u.to_numpy())
    values = t.map(lookup).astype("datetime64[us]")
    return ParsedDates(values, chosen)


def _label(fmt: str) -> str:
    return _LABELS.get(fmt, fmt)


def _serial_range(u: pd.Series) -> bool:
    num = pd.to_numeric(u, errors="coerce")
    return bool(num.between(*EXCEL_SERIALS).all())


def _parse_iso(u: pd.Series) -> pd.Series:
    aware = u.str.contains(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", regex=True) & (u.str.len() > 10)
    out = pd.to_datetime(u.where(~aware), format="ISO8601", errors="coerce").astype("datetime64[us]")
    if aware.any():
        conv = pd.to_datetime(u.where(aware), format="ISO8601", errors="coerce", utc=True)
        out = out.where(~aware, conv.dt.tz_localize(None).astype("datetime64[us]"))
    return out


def _parse_with(u: pd.Series, fmt: str) -> pd.Series:
    out = pd.to_datetime(u, format=fmt, errors="coerce")
    if out.isna().any():  # the format may name only the date: allow a time of day after it
        date_part, time_part = _split(u)
        d = pd.to_datetime(date_part, format=fmt, errors="coerce")
        out = out.fillna(d + _parse_times(time_part))
    return _plausible(out.astype("datetime64[us]"))


def _plausible(s: pd.Series) -> pd.Series:
    years = s.dt.year
    return s.where((years >= 1900) & (years <= 2200))


def _split(u: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A value's date (before the first blank) and its time of day (the rest, if any)."""
    parts = u.str.strip().str.split(" ", n=1, expand=True, regex=False)
    date_part = parts[0].astype("str")
    if parts.shape[1] < 2:
        return date_part, pd.Series(np.nan, index=u.index, dtype="str")
    return date_part, parts[1].astype("str").str.strip()


def _on_unique(s: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func`` applied to the distinct values of ``s`` once, spread back (missing stays missing)."""
    codes, uniques = pd.factorize(s)
    res = func(pd.Series(uniques, dtype="str")).to_numpy()
    if len(res) == 0:
        return func(s)
    out = res[np.where(codes < 0, 0, codes)]
    out = pd.Series(out, index=s.index)
    if (codes < 0).any():
        out = out.mask(codes < 0, func(pd.Series([np.nan], dtype="str")).iloc[0])
    return out


def _parse_times(tp: pd.Series) -> pd.Series:
    """Time-of-day text -> timedelta (missing time = 0; unreadable = NaT)."""
    out = pd.Series(pd.NaT, index=tp.index, dtype="timedelta64[us]")
    has = tp.notna() & (tp.str.strip() != "")
    out[~has] = pd.Timedelta(0)
    left = has.copy()
    for f in _TIME_FORMATS:
        if not left.any():
            break
        got = pd.to_datetime(tp[left].str.upper(), format=f, errors="coerce")
        ok = got.notna()
        if ok.any():
            idx = got.index[ok]
            g = got[ok]
            out[idx] = (g - g.dt.normalize()).astype("timedelta64[us]")
            left[idx] = False
    return out


def _infer(u: pd.Series, where: Where, t: pd.Series, rows: np.ndarray, order: str | None,
           resolve: bool) -> tuple[pd.Series, str, tuple[str, ...]]:
    date_part, time_part = _split(u)
    times = _on_unique(time_part, _parse_times).astype("timedelta64[us]")
    viable: dict[str, pd.Series] = {}

    def read(f: str) -> pd.Series:
        return _on_unique(date_part, lambda x: _plausible(
            pd.to_datetime(x, format=f, errors="coerce").astype("datetime64[us]"))
        ).astype("datetime64[us]")

    seps = {s for s in ("/", ".", "-") if date_part.str.contains(s, regex=False).any()}
    families = [s for s in ("/", ".", "-") if s in seps] or [""]
    for sep in families:
        for f in _DATE_FORMATS[sep]:
            d = read(f)
            if d.notna().all() and times.notna().all():
                viable[f] = d + times
    if not viable:
        for f in _TEXT_FORMATS:
            d = _plausible(pd.to_datetime(u, format=f, errors="coerce").astype("datetime64[us]"))
            if d.notna().all():
                viable[f] = d
                break
    if not viable:
        # report the values no single format reads: those the most permissive candidate misses
        best, best_ok = None, -1
        for sep in families:
            for f in _DATE_FORMATS[sep]:
                d = read(f)
                ok = int((d.notna() & times.notna()).sum())
                if ok > best_ok:
                    best, best_ok = (f, d.notna() & times.notna()), ok
        good = set(u[best[1]]) if best else set()
        bad = t.notna().to_numpy() & ~t.isin(good).to_numpy()
        tried = ", ".join(["ISO 8601"] + [_label(f) for s in families for f in _DATE_FORMATS[s]])
        raise ImportDataError(
            f"{where}: {int(bad.sum())} value(s) are not dates in one format shared by the "
            f"column: {_examples(t, rows, bad)}; formats tried: {tried}. Fix the values in the "
            'export, or give the format in the mapping file (--map), e.g. date_format = "%d.%m.%Y"'
        )
    names = list(viable)
    if len(names) == 1:
        return viable[names[0]], names[0], ()
    pair = tuple(n for n in names if _order(n))
    if len(pair) >= 2 and any(set(p) <= set(pair) for p in _PAIRS):
        if order is not None:
            pick = next(n for n in pair if _order(n) == order)
            return viable[pick], pick, ()
        if not resolve:
            return pd.Series(dtype="datetime64[us]"), pair[0], pair
        example = u.iloc[0]
        a, b = pair[0], pair[1]
        raise ImportDataError(
            f"{where}: every date can be read both as {_label(a)} and as {_label(b)} (no day is "
            f"above 12, e.g. {example!r}) and no other date column of the file settles it; give "
            f'the format in a mapping file (--map mapping.toml) with date_format = "{a}" or '
            f'date_format = "{b}"'
        )
    return viable[names[0]], names[0], ()


def format_timestamps(s: pd.Series) -> pd.Series:
    """Timestamps -> ISO text (a plain date when every value is at midnight); NaT -> missing."""
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s
    if s.isna().all():
        return pd.Series(np.nan, index=s.index, dtype="str")
    midnight = (s.dropna() == s.dropna().dt.normalize()).all()
    text = s.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    return text.astype("str")


# -- durations -----------------------------------------------------------------------------------


def parse_minutes(t: pd.Series, *, where: Where, rows: np.ndarray, unit: str = "min") -> pd.Series:
    """Durations -> minutes: ``HH:MM:SS`` / ``HH:MM`` text, or plain numbers in ``unit``.

    >>> parse_minutes(pd.Series(["01:30", "90", None]), where=Where("a.csv", "Duration"),
    ...               rows=np.array([2, 3, 4])).tolist()
    [90.0, 90.0, nan]
    """
    t = t.astype("str")
    clock = t.str.fullmatch(r"\d{1,3}:\d{2}(:\d{2})?").fillna(False)
    parts = t.where(clock).str.split(":", expand=False)
    out = pd.Series(np.nan, index=t.index, dtype="float64")
    if clock.any():
        def to_min(p: list[str]) -> float:
            nums = [int(x) for x in p]
            return nums[0] * 60 + nums[1] + (nums[2] / 60 if len(nums) > 2 else 0.0)

        out[clock] = parts[clock].map(to_min).astype("float64")
    rest = t.notna() & ~clock
    if rest.any():
        nums, _ = parse_amounts(t[rest], where=where, rows=rows[rest.to_numpy()], decimal=None)
        factor = {"min": 1.0, "s": 1 / 60, "ms": 1 / 60000, "h": 60.0}[unit]
        out[rest] = nums * factor
    return out


# -- owners -> reps ------------------------------------------------------------------------------


def slug(name: str) -> str:
    """A stable rep_id from an owner's name: lower case ASCII words joined by ``-``.

    >>> slug("Moses Frase"), slug("  José  Núñez "), slug("ann.lee@example.com")
    ('moses-frase', 'jose-nunez', 'ann-lee-example-com')
    """
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return s or "rep-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def rep_ids(names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Owner name -> rep_id for the distinct names; clashing slugs get a short hash suffix.

    Names that differ only in letter case or surrounding/duplicate blanks are one rep.
    Returns the mapping and the groups of names whose slugs clashed.

    >>> rep_ids(["Ann Lee", "ann  lee", "Ann-Lee!"])[0]  # doctest: +ELLIPSIS
    {'Ann Lee': 'ann-lee', 'ann  lee': 'ann-lee', 'Ann-Lee!': 'ann-lee-...'}
    """
    canon = {n: re.sub(r"\s+", " ", n).strip().casefold() for n in names}
    by_slug: dict[str, set[str]] = {}
    for c in canon.values():
        by_slug.setdefault(slug(c), set()).add(c)
    out: dict[str, str] = {}
    clashes: list[str] = []
    for n, c in canon.items():
        s = slug(c)
        group = sorted(by_slug[s])
        if len(group) > 1 and c != group[0]:
            out[n] = f"{s}-{hashlib.sha1(c.encode('utf-8')).hexdigest()[:6]}"
            clashes.append(n)
        else:
            out[n] = s
    return out, clashes


# -- stages --------------------------------------------------------------------------------------


@dataclass
class Stages:
    """A source's stage configuration plus the spellings its exports use for each stage.

    >>> s = Stages(("Prospecting",), ("Won",), ("Lost",), aliases={"closedwon": "Won"})
    >>> s.lookup("closedwon"), s.lookup("won"), s.lookup("Nope")
    ('Won', 'Won', None)
    """

    order: tuple[str, ...]
    won: tuple[str, ...]
    lost: tuple[str, ...]
    sql: str | None = None
    meeting: str | None = None
    proposal: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    strip_suffix: bool = False  # "Closed Won (Sales Pipeline)" -> "Closed Won"

    @property
    def all(self) -> tuple[str, ...]:
        return self.order + self.won + self.lost

    def lookup(self, value: str) -> str | None:
        key = value.strip().casefold()
        for s in self.all:
            if s.casefold() == key:
                return s
        hit = self.aliases.get(key)
        if hit is None and self.strip_suffix:
            short = re.sub(r"\s*\([^()]*\)\s*$", "", value).strip()
            if short != value.strip():
                return self.lookup(short)
        return hit

    def toml(self) -> dict[str, object]:
        out: dict[str, object] = {"order": list(self.order), "won": list(self.won),
                                  "lost": list(self.lost)}
        for key in ("sql", "meeting", "proposal"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def map_stages(
    t: pd.Series, stages: Stages, value_map: dict[str, str], *, where: Where, rows: np.ndarray,
    source: str,
) -> pd.Series:
    """Export stage names -> configured stages (through ``value_map`` first); unknown = error."""
    vm = {k.strip().casefold(): v for k, v in value_map.items()}

    def one(v: str) -> str | None:
        mapped = vm.get(v.strip().casefold())
        return stages.lookup(mapped if mapped is not None else v)

    codes, uniques = pd.factorize(t)
    mapped = [one(u) for u in uniques]
    unknown = [u for u, m in zip(uniques, mapped, strict=True) if m is None]
    if unknown:
        counts = t.value_counts()
        shown = []
        for u in unknown[:12]:
            first = rows[np.flatnonzero((t == u).to_numpy())[0]]
            shown.append(f"{u!r} ({counts[u]} row(s), first row {first})")
        table = where.table
        example = "\n".join(f'"{u}" = "{stages.all[0]}"' for u in unknown[:3])
        raise ImportDataError(
            f"{where}: {len(unknown)} stage value(s) are not stages of the {source} stage "
            f"configuration: {', '.join(shown)}. Known stages: {', '.join(stages.all)}. Map each "
            f"to one of them in a mapping file given with --map, e.g.\n"
            f"[tables.{table}.values.stage]\n{example}\n"
            f"(with the right stage for each), or describe your own pipeline in the mapping's "
            "[stages] (order, won, lost)"
        )
    arr = np.array(mapped + [None], dtype=object)[codes]
    return pd.Series(arr, index=t.index, dtype="str")


# -- kinds of export files and converting them --------------------------------------------------


Hook = Callable[["pd.DataFrame", ExportFile, "Context"], "pd.DataFrame"]


@dataclass
class Kind:
    """One kind of export file of a source (deals, contacts, calls, ...) and its mapping.

    ``signature``: groups of headers; a file is of this kind when, for every
    group, one of its headers is present. ``columns``: canonical column ->
    candidate headers (the first present wins). ``values``: canonical column ->
    {export value (any case): canonical value}. ``constants``: canonical column ->
    a fixed value (e.g. ``type = "call"`` for a calls export). ``extras``: extra
    output column -> candidate headers (kept beside the canonical ones).
    ``id_prefix`` prefixes the id column (``call-123``); ``id_fallback`` derives
    ids from the file and row when the export has no id column. ``post`` runs
    after the mapping (source-specific rules).
    """

    name: str
    table: str
    signature: tuple[tuple[str, ...], ...]
    columns: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    extras: dict[str, tuple[str, ...]] = field(default_factory=dict)
    id_prefix: str | None = None
    id_fallback: bool = False
    duration_unit: str = "min"
    date_format: str | None = None
    post: Hook | None = None
    description: str = ""
    #: the kind only matches files whose name contains this (case-insensitive)
    file_hint: str | None = None
    #: required columns a later rule supplies when the export lacks them
    deferred: tuple[str, ...] = ()

    def matches(self, ex: ExportFile) -> bool:
        if self.file_hint and self.file_hint not in ex.path.name.lower():
            return False
        return all(ex.find(group) is not None for group in self.signature)


@dataclass
class Context:
    """The state of one import: options, overrides from the mapping file, notes."""

    source: str
    stages: Stages
    currency: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    #: (table, column) -> header (mapping file overrides, tried first)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (table, column) -> {value: canonical value} (mapping file, applied first)
    values: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    #: table -> date format (mapping file)
    table_date_format: dict[str, str] = field(default_factory=dict)
    notes: list[ImportNote] = field(default_factory=list)
    currencies: dict[str, str] = field(default_factory=dict)  # currency -> file where seen
    files: dict[str, str] = field(default_factory=dict)  # file -> what it was read as
    #: tables a kind's ``post`` derives besides its own (e.g. stage history from deals)
    extra_parts: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    #: export files that feed no table directly (kind.table == ""), by kind name
    side: dict[str, ExportFile] = field(default_factory=dict)

    def note(self, severity: str, message: str, **kw: object) -> None:
        self.notes.append(ImportNote(severity, message, **kw))  # type: ignore[arg-type]


_MONEY = {("opportunities", "amount"), ("quotas", "quota"), ("accounts", "annual_revenue"),
          ("costs", "sales_cost"), ("costs", "marketing_cost")}
_REP_COLUMNS = {"reps": "rep_id", "quotas": "rep_id", "leads": "rep_id", "activities": "rep_id",
                "opportunities": "rep_id", "accounts": "rep_id"}
OWNER = "_owner"  # temporary column: the owner's name as exported, before it becomes a rep_id


def convert(ex: ExportFile, kind: Kind, ctx: Context) -> pd.DataFrame:
    """Map one export file onto ``kind.table``: canonical columns, extras, provenance.

    Ids and text are kept as written (stripped); owner names stay in a temporary
    ``_owner`` column until :func:`assemble` turns them into rep ids; dates and
    amounts are parsed (errors name the file, column and rows).
    """
    spec = TABLES[kind.table]
    out = pd.DataFrame(index=ex.frame.index)
    found: dict[str, str] = {}
    for col in spec.column_names:
        cands = kind.columns.get(col, ())
        override = ctx.columns.get((kind.table, col))
        if override:
            hit = ex.find([override])
            if hit is None:
                raise MappingError(
                    f"mapping file: column {override!r} (for {kind.table}.{col}) is not in "
                    f"{ex.name}; its columns are: {', '.join(ex.headers)}"
                )
            found[col] = hit
            continue
        hit = ex.find(cands) if cands else None
        if hit is not None:
            found[col] = hit
    ident = spec.key[0] if len(spec.key) == 1 else None
    missing = [
        c.name for c in spec.columns
        if c.required and c.name not in found and c.name not in kind.constants
        and not (c.name == ident and kind.id_fallback) and c.name not in kind.deferred
    ]
    if missing:
        lines = [f"{m} (one of: {', '.join(repr(h) for h in kind.columns.get(m, ()))})"
                 if kind.columns.get(m) else m for m in missing]
        raise ImportDataError(
            f"{ex.name}: read as a {ctx.source} {kind.name} export, but the column(s) kpikit needs "
            f"for {kind.table} are missing: {'; '.join(lines)}. The file's columns are: "
            f"{', '.join(ex.headers)}. Add them to the export, or name the right column in a "
            f"mapping file (--map) under [tables.{kind.table}.columns]"
        )
    date_cols = [c for c in spec.columns if c.kind in ("date", "datetime") and c.name in found]
    dates = _parse_file_dates(ex, kind, ctx, [(c.name, found[c.name]) for c in date_cols])
    for col in spec.columns:
        if col.name in kind.constants and col.name not in found:
            out[col.name] = pd.Series(kind.constants[col.name], index=out.index, dtype="str")
            continue
        if col.name not in found:
            continue
        header = found[col.name]
        raw = ex.column(header)
        where = Where(ex.name, header)
        vmap = {**{k.casefold(): v for k, v in kind.values.get(col.name, {}).items()},
                **{k.strip().casefold(): v
                   for k, v in ctx.values.get((kind.table, col.name), {}).items()}}
        if col.name == "stage":
            continue  # mapped in _map_stage_column (needs the whole context)
        if col.name == _REP_COLUMNS.get(kind.table):
            out[OWNER] = raw
            continue
        if col.kind in ("date", "datetime"):
            out[col.name] = dates[col.name]
        elif (kind.table, col.name) in _MONEY:
            vals, cur = parse_amounts(raw, where=where, rows=ex.rows, decimal=ctx.decimal)
            for c in cur:
                ctx.currencies.setdefault(c, ex.name)
            out[col.name] = vals
        elif col.name == "duration_min":
            out[col.name] = parse_minutes(raw, where=where, rows=ex.rows, unit=kind.duration_unit)
        elif col.kind in ("number", "int"):
            vals, _ = parse_amounts(raw, where=where, rows=ex.rows, decimal=ctx.decimal)
            out[col.name] = vals.round() if col.kind == "int" else vals
        else:
            out[col.name] = _map_values(raw, vmap) if vmap else raw
    if "stage" in found:
        stage_where = Where(ex.name, found["stage"], kind.table)
        vm = {**kind.values.get("stage", {}), **ctx.values.get(("opportunities", "stage"), {}),
              **ctx.values.get((kind.table, "stage"), {})}
        out["stage"] = map_stages(ex.column(found["stage"]), ctx.stages, vm, where=stage_where,
                                  rows=ex.rows, source=ctx.source)
    if ident and ident not in found and kind.id_fallback:
        out[ident] = pd.Series([f"{ex.path.stem}-{r}" for r in ex.rows], index=out.index, dtype="str")
        looked = ", ".join(repr(h) for h in kind.columns.get(ident, ())) or "none"
        ctx.note("warning", f"{ex.name}: no id column for {kind.table} (looked for {looked}); "
                 f"each row's id is derived from the file name and row ({ex.path.stem}-<row>)",
                 file=ex.name)
    if ident and kind.id_prefix and ident in out.columns:
        out[ident] = (kind.id_prefix + "-" + out[ident].astype("str")).where(out[ident].notna())
    for name, cands in kind.extras.items():
        hit = ex.find(cands)
        if hit is not None and name not in out.columns:
            out[name] = ex.column(hit)
    out[SOURCE_FILE] = ex.name
    out[SOURCE_ROW] = ex.rows
    if kind.post is not None:
        out = kind.post(out, ex, ctx)
    return out


def _map_values(raw: pd.Series, vmap: dict[str, str]) -> pd.Series:
    """Replace values found in ``vmap`` (keys case-folded); others are kept as written."""
    codes, uniques = pd.factorize(raw)
    mapped = np.array([vmap.get(u.strip().casefold(), u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=raw.index, dtype="str")


def _parse_file_dates(ex: ExportFile, kind: Kind, ctx: Context,
                      cols: list[tuple[str, str]]) -> dict[str, pd.Series]:
    """Parse the date columns of one file; an undecided day/month order takes the file's."""
    fmt = ctx.table_date_format.get(kind.table) or kind.date_format or ctx.date_format
    out: dict[str, pd.Series] = {}
    pending: list[tuple[str, str]] = []
    orders: set[str] = set()
    for name, header in cols:
        p = parse_dates(ex.column(header), where=Where(ex.name, header), rows=ex.rows, fmt=fmt,
                        resolve=False)
        if p.ambiguous:
            pending.append((name, header))
            continue
        if _order(p.fmt):
            orders.add(_order(p.fmt))  # type: ignore[arg-type]
        out[name] = p.values
    for name, header in pending:
        order = orders.pop() if len(orders) == 1 else None
        if order:
            orders.add(order)
        p = parse_dates(ex.column(header), where=Where(ex.name, header), rows=ex.rows, fmt=fmt,
                        order=order, resolve=True)
        if order:
            ctx.note("info", f"{Where(ex.name, header)}: day and month were ambiguous in every "
                     f"value; read as {_label(p.fmt)} like the file's other date columns",
                     file=ex.name)
        out[name] = p.values
    return out


def detect_kind(ex: ExportFile, kinds: Sequence[Kind], source: str) -> Kind:
    """The kind of export a file is, from its headers (clear error when none fits)."""
    hits = [k for k in kinds if k.matches(ex)]
    if hits:
        return hits[0]
    described = "; ".join(
        f"{k.name} (with {' and '.join(' or '.join(repr(h) for h in g) for g in k.signature)})"
        for k in kinds
    )
    raise ImportDataError(
        f"{ex.name}: not recognised as a {source} export. Its columns are: "
        f"{', '.join(ex.headers[:40])}{' ...' if len(ex.headers) > 40 else ''}. The {source} "
        f"importer reads: {described}. Export the file with those columns, or say which table it "
        "is in a mapping file (--map) with [tables.<table>] file = \"...\""
    )


@dataclass
class Source:
    """A CRM source: the kinds of export it reads, its stage configuration and its own rules.

    ``finish`` runs on the converted parts (table -> frames) before
    :func:`assemble`, for rules that need several exports at once (joins,
    derived stage history).
    """

    name: str
    description: str
    kinds: tuple[Kind, ...]
    stages: Stages
    currency: str | None = None
    finish: Callable[[dict[str, list[pd.DataFrame]], Context], None] | None = None
    #: what the source's exports never hold, for the docs and the result
    lacks: tuple[str, ...] = ()


# -- assembling the tables -----------------------------------------------------------------------


def assemble(parts: dict[str, list[pd.DataFrame]], ctx: Context) -> dict[str, pd.DataFrame]:
    """Concatenate each table's parts, derive rep ids and the reps table, drop incomplete rows.

    Owner names (the temporary ``_owner`` column) become ``rep_id`` =
    :func:`slug` of the name. The reps table is the reps export, if any (its
    ``rep_id`` column holds the names or ids the other exports use as owners),
    plus every owner not in it, each with the provenance of its first row. Rows
    lacking a value the contract requires are not imported: a warning names the
    file, how many and which rows.
    """
    tables: dict[str, pd.DataFrame] = {}
    for table, frames in parts.items():
        frames = [f for f in frames if f is not None]
        if frames:
            tables[table] = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    reps_export = tables.pop("reps", None)
    seen = []
    order = ["reps", "opportunities"] + [t for t in TABLE_NAMES if t not in ("reps", "opportunities")]
    for table in order:
        df = reps_export if table == "reps" else tables.get(table)
        if df is not None and OWNER in df.columns:
            seen.append(df[[OWNER, SOURCE_FILE, SOURCE_ROW]])
    names = (pd.concat(seen, ignore_index=True) if seen
             else pd.DataFrame({OWNER: [], SOURCE_FILE: [], SOURCE_ROW: []}))
    names = names[names[OWNER].notna()]
    ids, clashes = rep_ids(list(dict.fromkeys(names[OWNER].tolist())))
    if clashes:
        ctx.note("warning", f"owner names {', '.join(repr(c) for c in clashes[:5])} give the same "
                 "rep id as another name; they got a suffix to keep them apart")
    for table, df in tables.items():
        if OWNER in df.columns:
            df = df.copy()
            df[_REP_COLUMNS[table]] = df[OWNER].map(ids).astype("str")
            tables[table] = df.drop(columns=[OWNER])
    owners = names.assign(rep_id=names[OWNER].map(ids).astype("str"), name=names[OWNER])
    owners = owners.drop_duplicates("rep_id")
    if reps_export is not None:
        rx = reps_export.copy()
        rx["rep_id"] = rx[OWNER].map(ids).astype("str")
        rx["name"] = (rx["name"] if "name" in rx.columns else rx[OWNER]).fillna(rx[OWNER])
        rx = rx[rx[OWNER].notna()].drop_duplicates("rep_id")
        extra = owners[~owners["rep_id"].isin(rx["rep_id"])]
        if len(extra):
            ctx.note("warning", f"{len(extra)} owner(s) are not in the reps export and were added "
                     f"with their name only: {', '.join(extra['name'].head(5))}")
        reps = pd.concat([rx.drop(columns=[OWNER]), extra.drop(columns=[OWNER])], ignore_index=True)
    else:
        reps = owners.drop(columns=[OWNER])
    cols = ["rep_id", "name"] + [c for c in reps.columns
                                 if c not in ("rep_id", "name", SOURCE_FILE, SOURCE_ROW)]
    tables = {"reps": reps[cols + [SOURCE_FILE, SOURCE_ROW]].reset_index(drop=True), **tables}
    for table in list(tables):
        tables[table] = _drop_incomplete(tables[table], table, ctx)
    return tables


def _drop_incomplete(df: pd.DataFrame, table: str, ctx: Context) -> pd.DataFrame:
    spec = TABLES[table]
    req = [c.name for c in spec.columns if c.required and c.name in df.columns]
    if not req or df.empty:
        return df
    lacking = df[req].isna()
    bad = lacking.any(axis=1).to_numpy()
    if not bad.any():
        return df
    for file, grp in df[bad].groupby(SOURCE_FILE, sort=False):
        which = lacking.loc[grp.index]
        what = ", ".join(f"{c} ({int(n)})" for c, n in which.sum().items() if n)
        rows = [int(r) for r in grp[SOURCE_ROW].head(MAX_EXAMPLES)]
        ctx.note("warning", f"{file}: {len(grp)} row(s) not imported into {table} because the "
                 f"export leaves a required value empty: {what}; e.g. row(s) "
                 f"{', '.join(map(str, rows))}", file=str(file), count=len(grp), rows=rows)
    return df[~bad].reset_index(drop=True)


# -- writing ------------------------------------------------------------------------------------


def check_out(out: Path, inputs: Iterable[Path], *, overwrite: bool) -> None:
    """Refuse an ``--out`` that holds a dataset (unless ``overwrite``) or an input file."""
    if out.exists() and not out.is_dir():
        raise KpikitError(f"--out {out}: is a file; give a folder to write the dataset into")
    ins = {p.resolve() for p in inputs}
    if out.exists():
        ours = _our_files(out)
        clash = [p for p in ours if p.resolve() in ins]
        if clash:
            raise KpikitError(
                f"--out {out}: holds the input file {clash[0].name}, which the import would "
                "replace; write the dataset to another folder"
            )
        if ours and not overwrite:
            raise KpikitError(
                f"--out {out}: already holds a dataset ({', '.join(p.name for p in ours[:5])}); "
                "choose an empty folder or pass --overwrite to replace it"
            )


def _our_files(out: Path) -> list[Path]:
    names = {f"{t}{s}" for t in TABLE_NAMES for s in (".csv", ".parquet", ".xlsx")}
    names |= {"dataset.toml", LOG_NAME}
    return sorted(p for p in out.iterdir() if p.name.lower() in names)


def write_dataset(out: Path, tables: dict[str, pd.DataFrame], config: dict[str, object],
                  log: dict[str, object]) -> None:
    """Write ``<table>.csv`` files (canonical columns first, then extras, then provenance),
    ``dataset.toml`` and ``import.json`` into ``out`` (replacing earlier ones)."""
    out.mkdir(parents=True, exist_ok=True)
    for p in _our_files(out):
        p.unlink()
    for table, df in tables.items():
        spec = TABLES[table]
        canon = [c for c in spec.column_names if c in df.columns]
        extras = [c for c in df.columns if c not in canon and c not in (SOURCE_FILE, SOURCE_ROW)]
        frame = df[canon + extras + [SOURCE_FILE, SOURCE_ROW]].copy()
        for c in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[c].dtype):
                frame[c] = format_timestamps(frame[c])
        frame[SOURCE_ROW] = frame[SOURCE_ROW].astype("int64")
        frame.to_csv(out / f"{table}.csv", index=False, lineterminator="\n")
    (out / "dataset.toml").write_text(toml_text(config), encoding="utf-8")
    (out / LOG_NAME).write_text(json.dumps(log, indent=2, default=str) + "\n", encoding="utf-8")


def toml_text(config: dict[str, object]) -> str:
    """A small TOML writer for dataset.toml (strings, numbers, lists of strings, one level of tables).

    >>> print(toml_text({"currency": "USD", "stages": {"order": ["A"], "won": ["W"]}}))
    currency = "USD"
    <BLANKLINE>
    [stages]
    order = ["A"]
    won = ["W"]
    <BLANKLINE>
    """
    def val(v: object) -> str:
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return str(v)

    head = [f"{k} = {val(v)}" for k, v in config.items() if not isinstance(v, dict)]
    lines = list(head)
    for k, v in config.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"
