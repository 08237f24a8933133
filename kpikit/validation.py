"""Coercion and validation of raw tables against the data contract.

:func:`validate` turns the raw tables of :func:`kpikit.io.read_raw` (or of
:meth:`kpikit.Dataset.from_frames`) into typed tables and a
:class:`ValidationReport` listing **every** problem at once. Each problem names
the file, the row as the user sees it (CSV/Excel: the header is row 1, so the
first record is row 2; Parquet/database records count from 1; a table with
``_source_file`` / ``_source_row`` provenance columns, as importers write,
points there instead), the column, the bad value and what was expected.

Everything is driven by :data:`kpikit.schema.TABLES`:

1. **Coercion** to the canonical types, column by column: ids and text to the
   ``str`` dtype with surrounding blanks stripped (an empty value is missing);
   ISO 8601 dates and date-times (timezone-aware ones converted to the dataset's
   ``timezone`` and made naive); plain numbers, whole numbers, true/false
   values and periods (normalised to ``2026-10``, ``2026-Q3``, ``2026``).
   A value that cannot be read is an error. In typed columns the usual missing
   markers (``NA``, ``N/A``, ``null``, ``None``, ``NaN``) also count as empty.
2. **Defaults**: ``reps.name`` = ``rep_id``, ``reps.role`` = ``AE``,
   ``activities.direction`` = ``outbound``, ``opportunities.status`` derived
   from the stage. Allowed values (role, status, direction) and stages match in
   any letter case and are stored in their canonical spelling.
3. **Schema checks** with pandera (a ``DataFrameSchema`` per table built from
   :data:`~kpikit.schema.TABLES`, validated lazily, its ``failure_cases``
   translated into :class:`Problem` s): required values present, amounts not
   negative, allowed values, configured stages, unique ids, references that
   point to an existing row (only when the referenced table is present).
4. **Cross checks**: status agreeing with stage, opportunities not closing
   before they were created, and timestamps either all timezone-aware or all
   naive across the dataset (a date without a time, or at exactly midnight,
   counts as neither: it is read as a calendar date in the dataset's timezone).
5. **Warnings** for suspicious data: events in the future, opportunities still
   open long after their close date, reps without activity, stage entries before
   the opportunity was created, leads qualified or answered before they arrived.

At most :data:`MAX_LISTED` rows are listed per file, column and kind of
problem, followed by one "... and N more rows" entry whose ``count`` keeps the
total exact.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kpikit.errors import KpikitError, PeriodError
from kpikit.io import RawDataset, TableSource, clean_header, read_raw
from kpikit.periods import Period
from kpikit.schema import (
    OPTIONAL_TABLES,
    REQUIRED_TABLES,
    TABLE_NAMES,
    TABLES,
    ColumnSpec,
)

if TYPE_CHECKING:  # pragma: no cover
    from kpikit.dataset import Dataset

#: rows listed per (file, column, kind of problem) before "... and N more rows"
MAX_LISTED = 10
#: an open opportunity this many days past its close date is flagged
OPEN_PAST_CLOSE_DAYS = 90
#: markers read as "missing" in typed (date, number, bool, period) columns
NULL_MARKERS = frozenset({"na", "n/a", "nan", "nat", "null", "none"})
#: provenance columns an importer may add; problems then point to the original file and row
SOURCE_FILE, SOURCE_ROW = "_source_file", "_source_row"

#: what a missing optional table disables, in plain words (for the data-quality summary)
DISABLES: dict[str, str] = {
    "quotas": "quota attainment, gap to quota and pipeline coverage",
    "leads": "lead KPIs: lead-to-SQL conversion, lead response time and lead sources "
    "(the funnel starts at the opportunity)",
    "activities": "activity KPIs (calls, emails, meetings, follow-ups), activity ratios and "
    "the activity targets of plans",
    "stage_history": "stage-by-stage conversion from real stage entries (kpikit falls back "
    "to each opportunity's current stage)",
    "accounts": "key-account investment and account segments",
    "customers": "customer count, retention, churn and lifetime value",
    "costs": "cost-of-sales ratio and customer acquisition cost (CAC)",
}

_DTYPES = {
    "id": "str",
    "str": "str",
    "period": "str",
    "datetime": "datetime64[us]",
    "date": "datetime64[us]",
    "number": "float64",
    "int": "Int64",
    "bool": "boolean",
}
_TRUE = ("true", "yes", "y", "t", "1", "1.0")
_FALSE = ("false", "no", "n", "f", "0", "0.0")
# a time of day followed by a UTC offset or Z: the value is timezone-aware
# (digits as [0-9] and no \s so that pandas runs it in pyarrow's RE2, not Python's re)
_TZ_RE = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)? *(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)\Z"
_STAGE_COLUMNS = {("opportunities", "stage"), ("stage_history", "stage")}

_EXPECT = {
    "datetime": "an ISO 8601 date or date-time such as 2026-10-01, 2026-10-01 09:30 or "
    "2026-10-01T09:30:00Z (convert other formats such as 10/01/2026 before loading, "
    "or use a kpikit importer)",
    "date": "an ISO 8601 date such as 2026-10-01 (convert other formats such as 10/01/2026 "
    "before loading, or use a kpikit importer)",
    "number": "a plain number such as 1234.5, without thousands separators, currency symbols "
    "or units (a kpikit importer converts formatted numbers)",
    "int": "a whole number such as 12",
    "bool": "true/false, yes/no or 1/0",
    "period": "a month YYYY-MM (2026-10), a quarter YYYY-Qn (2026-Q3) or a year YYYY (2026)",
}
_NOT_READ = {
    "datetime": "not an ISO 8601 date-time",
    "date": "not an ISO 8601 date",
    "number": "not a plain number",
    "int": "not a whole number",
    "bool": "not a true/false value",
    "period": "not a period",
}


# -- problems and the report -------------------------------------------------------------------


@dataclass
class Problem:
    """One data problem, pointing back into the input.

    ``code`` says what kind of problem it is (``bad_value``, ``missing_column``,
    ``duplicate``, ...); ``count`` is the number of rows it stands for (more
    than 1 only for the "... and N more rows" entry closing a capped list).

    >>> Problem("error", "reps", "duplicate rep_id", file="reps.csv", row=3, column="rep_id",
    ...         value="r1", expected="unique ids").format()
    "reps.csv, row 3, column rep_id: duplicate rep_id (got 'r1'); expected unique ids"
    """

    severity: str  # "error" | "warning"
    table: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: object = None
    expected: str | None = None
    code: str | None = None
    count: int = 1

    def format(self) -> str:
        """One line: where, what is wrong, the bad value and what was expected."""
        where = [self.file or self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        text = ", ".join(w for w in where if w) + f": {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "severity": self.severity,
            "code": self.code,
            "table": self.table,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": _json_value(self.value),
            "expected": self.expected,
            "message": self.message,
            "count": self.count,
        }


@dataclass
class ValidationReport:
    """Every problem found in a dataset, plus an overview for the data-quality summary.

    ``stats`` (filled by :func:`validate`) holds row counts per table, the
    optional tables that are missing, the date range and the reps per role and
    team.

    >>> report = ValidationReport([Problem("warning", "reps", "rep has no activities")])
    >>> report.ok, len(report.warnings)
    (True, 1)
    """

    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    location: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def error_count(self) -> int:
        """Number of erroneous rows/items, counting those behind "... and N more rows"."""
        return sum(p.count for p in self.errors)

    @property
    def warning_count(self) -> int:
        """Number of warnings, counting those behind "... and N more rows"."""
        return sum(p.count for p in self.warnings)

    def format_errors(self) -> str:
        """The errors as a message (for :class:`~kpikit.errors.DataValidationError`)."""
        where = f" in {self.location}" if self.location else ""
        lines = [f"{self.error_count:,} problem(s) in the dataset{where}:"]
        lines += ["- " + p.format() for p in self.errors]
        if self.warnings:
            lines.append(
                f"(and {self.warning_count:,} warning(s): run `kpikit validate` to see everything)"
            )
        return "\n".join(lines)

    def summary(self, tables: dict[str, pd.DataFrame | None] | None = None) -> str:
        """The data-quality overview: tables and row counts, what is missing, dates, reps.

        With ``tables`` (name -> frame, e.g. ``ds.tables``) the overview is computed
        from those frames; otherwise from :attr:`stats` recorded by :func:`validate`.
        """
        stats = self.stats
        if tables is not None:
            stats = _collect_stats(tables)
            for key in ("kind", "as_of"):
                if key in self.stats:
                    stats[key] = self.stats[key]
            for name, info in stats["tables"].items():
                info["source"] = self.stats.get("tables", {}).get(name, {}).get("source")
        return "\n".join(_summary_lines(stats, self.location))

    def render(self, tables: dict[str, pd.DataFrame | None] | None = None) -> str:
        """The full report: :meth:`summary`, then every error and warning, then a verdict."""
        lines = [self.summary(tables)]
        for title, probs, total in (
            ("Errors", self.errors, self.error_count),
            ("Warnings", self.warnings, self.warning_count),
        ):
            if probs:
                lines.append("")
                lines.append(f"{title} ({total:,}):")
                lines += ["  - " + p.format() for p in probs]
        lines.append("")
        if self.ok:
            extra = f" ({self.warning_count:,} warning(s))" if self.warnings else ""
            lines.append(f"Result: the dataset is valid{extra}.")
        else:
            lines.append(
                f"Result: {self.error_count:,} error(s); fix them and validate again."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ok, counts, stats and every problem."""
        return {
            "ok": self.ok,
            "location": self.location,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "stats": _json_value(self.stats),
            "problems": [p.to_dict() for p in self.problems],
        }


def _json_value(v: object) -> object:
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    return _py(v)


def _py(v: object) -> object:
    """A plain Python value for messages and JSON (numpy scalars unwrapped, NaN -> None)."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat(sep=" ")
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NA:
        return None
    if isinstance(v, str | int | float | bool):
        return v
    return str(v)


# -- coercion ----------------------------------------------------------------------------------


def _as_text(s: pd.Series) -> pd.Series:
    """Any column as stripped text (``str`` dtype); empty text is missing."""
    if _is_str_dtype(s.dtype) and _plain_text(s):
        return s  # what the steps below give: nothing to strip, no empty value
    if pd.api.types.is_bool_dtype(s.dtype):
        t = s.map({True: "true", False: "false"}).astype("str")
    elif pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        finite = vals[np.isfinite(vals)]
        if len(finite) and np.all(finite == np.round(finite)) and np.abs(finite).max() < 2**53:
            t = s.astype("Int64").astype("str")  # 1001.0 -> "1001" (ids stored as floats)
        else:
            t = s.astype("str")
    else:
        t = s.astype("str")
    t = t.str.strip()
    empty = t == ""
    return t.mask(empty) if empty.any() else t


def _is_str_dtype(dtype: object) -> bool:
    """Whether ``dtype`` is pandas' default ``str`` dtype backed by pyarrow (NaN for missing)."""
    return (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
        and dtype.na_value is not pd.NA
    )


#: bytes that can neither begin nor end a whitespace character (printable ASCII but space)
_PLAIN_EDGE = np.zeros(256, dtype=bool)
_PLAIN_EDGE[0x21:0x7F] = True


def _plain_text(s: pd.Series) -> bool:
    """Whether no value of arrow-backed text is empty or starts or ends with a byte that could
    belong to whitespace, so that stripping changes nothing.

    Checked on the raw bytes (the first and last byte of each value): much cheaper than
    stripping millions of values to find out that none had blanks around it.
    """
    import pyarrow as pa

    for chunk in s.array.__arrow_array__().chunks:
        n = len(chunk)
        if n == 0:
            continue
        if chunk.type == pa.large_string():
            width = np.dtype(np.int64)
        elif chunk.type == pa.string():
            width = np.dtype(np.int32)
        else:
            return False
        _, offsets, data = chunk.buffers()
        bounds = np.frombuffer(offsets, dtype=width, count=n + 1, offset=chunk.offset * width.itemsize)
        start, end = bounds[:-1], bounds[1:]
        if chunk.null_count:
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            start, end = start[valid], end[valid]
        if not len(start):
            continue
        if (end <= start).any():  # an empty value
            return False
        b = np.frombuffer(data, dtype=np.uint8)
        if not (_PLAIN_EDGE[b[start]].all() and _PLAIN_EDGE[b[end - 1]].all()):
            return False
    return True


def _drop_null_markers(t: pd.Series) -> pd.Series:
    short = t.str.len() <= 4
    if not short.any():
        return t
    marker = short & _isin(t.str.lower(), NULL_MARKERS)
    return t.mask(marker) if marker.any() else t


def _isin(s: pd.Series, values: Iterable[Any]) -> pd.Series:
    """``s.isin(values)`` (missing is False), via pyarrow for text: several times faster."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(s.array)
        if isinstance(values, pd.Series | pd.Index | np.ndarray | pd.api.extensions.ExtensionArray):
            value_set = pa.array(pd.array(values, dtype="str")).cast(arr.type)
        else:
            value_set = pa.array([v for v in values if isinstance(v, str)], type=arr.type)
        hit = pc.is_in(arr, value_set=value_set).fill_null(False)
        return pd.Series(hit.to_numpy(zero_copy_only=False), index=s.index)
    return s.isin(list(values))


def _to_float(t: pd.Series) -> pd.Series:
    """Text -> float64 (unreadable -> NaN): pyarrow's cast when every value is a number."""
    if isinstance(t.dtype, pd.StringDtype) and t.dtype.storage == "pyarrow":
        import pyarrow as pa

        try:
            arr = pa.array(t.array).cast(pa.float64())
            return pd.Series(arr.to_numpy(zero_copy_only=False), index=t.index, dtype="float64")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pd.to_numeric(t, errors="coerce").astype("float64")


def _not_repeated(s: pd.Series) -> pd.Series:
    """False on each row repeating a value of an earlier row (missing values never repeat)."""
    if increasing_text(s.dropna() if s.hasnans else s):
        return pd.Series(True, index=s.index)
    return ~(s.duplicated(keep="first") & s.notna())


def increasing_text(values: pd.Series) -> bool:
    """Whether arrow-backed text without missing values increases strictly from row to row,
    so that no value repeats (``False`` for other data: not known).

    Ids are usually stored in increasing order, and checking that (one vectorised
    comparison of neighbours) is much cheaper than hashing millions of strings.

    >>> increasing_text(pd.Series(["a1", "a2", "b"], dtype="str"))
    True
    """
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or len(values) < 2:
        return False
    import pyarrow.compute as pc

    arr = values.array.__arrow_array__()  # the ChunkedArray itself, not a copy
    if arr.null_count:
        return False
    return bool(pc.all(pc.greater(arr[1:], arr[:-1])).as_py())


def _map_values(t: pd.Series, mapping: dict[str, Any] | Callable[[str], Any]) -> pd.Series:
    """Map each distinct value once (fast for the few distinct values of category columns)."""
    codes, uniques = pd.factorize(t)
    func = mapping.get if isinstance(mapping, dict) else mapping
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=t.index)


def _case_insensitive(t: pd.Series, canonical: Sequence[str]) -> pd.Series:
    """Values matching ``canonical`` in any letter case get the canonical spelling."""
    lower: dict[str, str | None] = {}
    for c in canonical:
        key = c.lower()
        lower[key] = None if key in lower and lower[key] != c else c
    off = t.notna() & ~_isin(t, list(canonical))
    if not off.any():  # the usual case: every value already spelled canonically
        return t
    fixed = _map_values(t[off], lambda v: lower.get(v.lower()))
    return t.mask(off & fixed.reindex(t.index).notna(), fixed.reindex(t.index)).astype("str")


@dataclass
class _Coerced:
    values: pd.Series
    bad: np.ndarray | None = None  # value present but unreadable
    aware: np.ndarray | None = None  # datetime columns: had a timezone
    naive: np.ndarray | None = None  # datetime columns: had a time of day but no timezone


def _coerce(s: pd.Series, col: ColumnSpec, tz: str) -> _Coerced:
    kind = col.kind
    if kind in ("id", "str"):
        t = _as_text(s)
        if col.allowed or col.vocabulary:
            t = _case_insensitive(t, col.allowed or col.vocabulary)
        return _Coerced(t)
    if kind == "period":
        t = _drop_null_markers(_as_text(s))

        def label(v: str) -> str | None:
            try:
                return Period.parse(v).label
            except PeriodError:
                return None

        out = _map_values(t, label).astype("str")
        return _Coerced(out, (t.notna() & out.isna()).to_numpy())
    if kind in ("number", "int"):
        if kind == "int" and pd.api.types.is_integer_dtype(s.dtype):
            ints = s.astype("Int64")
            low, high = ints.min(), ints.max()  # NA when there is no value
            if low is pd.NA or (low >= -(2**53) and high <= 2**53):
                # whole numbers that floats hold exactly: what the float round trip below gives
                return _Coerced(ints, np.zeros(len(s), dtype=bool))
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            vals = s.astype("float64")
            bad = np.isinf(vals.to_numpy())
        else:
            t = _drop_null_markers(_as_text(s))
            vals = _to_float(t)
            bad = (t.notna() & (vals.isna() | np.isinf(vals))).to_numpy()
        if kind == "int":
            arr = vals.to_numpy()
            with np.errstate(invalid="ignore"):
                bad = bad | (np.isfinite(arr) & (arr != np.round(arr)))
            vals = vals.mask(bad).astype("Int64")
        else:
            vals = vals.mask(bad)
        return _Coerced(vals, bad)
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return _Coerced(s.astype("boolean"))
        t = _drop_null_markers(_as_text(s))
        truth = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
        out = _map_values(t, lambda v: truth.get(v.lower()))
        return _Coerced(out.astype("boolean"), (t.notna() & out.isna()).to_numpy())
    return _coerce_datetime(s, tz, date_only=kind == "date")


def _has_time_of_day(vals: pd.Series) -> np.ndarray:
    """Mask of the (naive ``datetime64[us]``) values that are not at midnight (NaT: False);
    ``vals != vals.dt.normalize()`` without building the normalised column."""
    if vals.dtype != "datetime64[us]":
        return (vals.notna() & (vals != vals.dt.normalize())).to_numpy()
    i = vals.to_numpy().view(np.int64)
    return (i != np.iinfo(np.int64).min) & (i % 86_400_000_000 != 0)


def _date_text(values: pd.Series) -> Callable[[int], str]:
    """The calendar date of a row as text (``values.dt.date.astype("str")``), for the listed
    rows of a problem only."""
    return lambda pos: str(values.iloc[[pos]].dt.date.astype("str").iloc[0])


def _parse_iso(t: pd.Series, *, utc: bool = False) -> pd.Series:
    try:
        out = pd.to_datetime(t, format="ISO8601", errors="coerce", utc=utc)
    except (ValueError, TypeError, OverflowError):  # pragma: no cover - odd mixes: one by one
        def one(v: str) -> pd.Timestamp:
            try:
                return pd.to_datetime(v, format="ISO8601", utc=utc)
            except (ValueError, TypeError, OverflowError):
                return pd.NaT

        out = pd.to_datetime(_map_values(t, one), utc=utc)
    if utc:
        return out
    return out.astype("datetime64[us]")


def _coerce_datetime(s: pd.Series, tz: str, *, date_only: bool) -> _Coerced:
    n = len(s)
    none = np.zeros(n, dtype=bool)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        vals = s.dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[us]")
        aware, naive, bad = s.notna().to_numpy(), none, none
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        vals = s.astype("datetime64[us]")
        aware, bad = none, none
        naive = _has_time_of_day(vals)
    else:
        t = _drop_null_markers(_as_text(s))
        present = t.notna().to_numpy()
        length = t.str.len().to_numpy(dtype="float64", na_value=0)
        # only a value with a time of day can carry a timezone
        is_aware = np.zeros(n, dtype=bool)
        if (length > 10).any():
            is_aware = t.str.contains(_TZ_RE, regex=True).fillna(False).to_numpy(dtype=bool)
        if is_aware.any():
            vals = _parse_iso(t.where(~is_aware))
            conv = _parse_iso(t.where(is_aware), utc=True).dt.tz_convert(tz).dt.tz_localize(None)
            vals = vals.where(~is_aware, conv.astype("datetime64[us]"))
        else:
            vals = _parse_iso(t)
        # reduced-precision ISO values ("2026", "2026-10") are not dates of an event
        bad = present & (vals.isna().to_numpy() | (length < 8))
        if bad.any():
            vals = vals.mask(bad)
        aware = is_aware & ~bad
        naive = present & ~is_aware & (length > 10) & ~bad
        if naive.any():  # a naive value at exactly midnight is a date, not a time of day
            naive &= _has_time_of_day(vals)
    if date_only:
        vals = vals.dt.normalize()
    return _Coerced(vals, bad if bad.any() else None, aware, naive)


# -- validation --------------------------------------------------------------------------------


def validate(
    raw: RawDataset, *, as_of: pd.Timestamp | str | None = None
) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """Coerce and check the raw tables; return the typed tables and the report.

    Parameters
    ----------
    raw
        Tables as read by :func:`kpikit.io.read_raw` (or wrapped in-memory frames).
    as_of
        The "now" of the future-event and overdue-opportunity warnings, a naive
        time in the dataset's timezone (default: the current time there).

    Returns
    -------
    tables, report
        The typed tables by name (only those present) and every problem found.
        Input frames are never modified.

    >>> from kpikit.io import TableSource
    >>> reps = pd.DataFrame({"rep_id": ["r1", "r1"]})
    >>> raw = RawDataset({"reps": reps}, {"reps": TableSource("reps", "reps.csv", "csv")})
    >>> tables, report = validate(raw)
    >>> dup = next(p for p in report.errors if p.code == "duplicate")
    >>> print(dup.format())  # doctest: +NORMALIZE_WHITESPACE
    reps.csv, row 3, column rep_id: duplicate rep_id: the same value is already in row 2
    (got 'r1'); expected each rep_id only once
    """
    return _Validator(raw, as_of).run()


def validate_path(
    path: str | Path,
    *,
    tables: Iterable[str] | None = None,
    as_of: pd.Timestamp | str | None = None,
) -> tuple[Dataset | None, ValidationReport]:
    """Read and validate a dataset for ``kpikit validate``: never raises for bad data.

    Returns the :class:`~kpikit.Dataset` (``None`` when there are errors) and the
    report, whose :meth:`ValidationReport.render` is the data-quality summary.
    A path that cannot be read at all gives a report with that one error.
    """
    from kpikit.dataset import Dataset

    try:
        raw = read_raw(path, tables=tables)
    except KpikitError as exc:
        problem = Problem("error", "", str(exc), file=None, code="unreadable")
        return None, ValidationReport([problem], location=str(path))
    typed, report = validate(raw, as_of=as_of)
    if not report.ok:
        return None, report
    full: dict[str, pd.DataFrame | None] = {name: typed.get(name) for name in TABLE_NAMES}
    return Dataset(tables=full, config=raw.config, source=raw.location, report=report), report


class _Validator:
    """One validation run (state shared by the steps)."""

    def __init__(self, raw: RawDataset, as_of: pd.Timestamp | str | None):
        self.raw = raw
        self.cfg = raw.config
        self.tz = raw.config.timezone
        if as_of is None:
            self.as_of = pd.Timestamp.now(tz=self.tz).tz_localize(None)
        else:
            ts = pd.Timestamp(as_of)
            self.as_of = ts.tz_convert(self.tz).tz_localize(None) if ts.tzinfo else ts
        self.problems: list[Problem] = list(raw.problems)
        self.text: dict[str, pd.DataFrame] = {}  # input frames, reset to positions
        self.tables: dict[str, pd.DataFrame] = {}
        self.sources: dict[str, TableSource] = {}
        self.bad: dict[tuple[str, str], np.ndarray] = {}
        self.tzinfo: list[tuple[str, str, np.ndarray, np.ndarray]] = []
        self.derived_status: pd.Series | None = None
        self.given_status: pd.Series | None = None
        frames = bool(raw.sources) and all(s.fmt == "frame" for s in raw.sources.values())
        self.kind = "frames" if frames else raw.kind

    # -- emitting problems ---------------------------------------------------------------------
    def _locate(self, table: str, positions: np.ndarray) -> tuple[list[str], list[Any]]:
        src = self.sources[table]
        df = self.text.get(table)
        if df is not None and SOURCE_ROW in df.columns:
            rows = [_as_row(v) for v in df[SOURCE_ROW].iloc[positions]]
            if SOURCE_FILE in df.columns:
                files = [
                    src.display if pd.isna(v) else str(v) for v in df[SOURCE_FILE].iloc[positions]
                ]
            else:
                files = [src.display] * len(positions)
            return files, rows
        return [src.display] * len(positions), [int(r) for r in src.row_numbers(positions)]

    def emit(
        self,
        table: str,
        column: str | None,
        where: np.ndarray,
        values: pd.Series | Callable[[int], Any] | None,
        message: str | Callable[[int], str],
        expected: str | None,
        code: str,
        severity: str = "error",
    ) -> None:
        """Report rows (bool mask or positions), listing the first MAX_LISTED of them."""
        where = np.asarray(where)
        positions = np.flatnonzero(where) if where.dtype == bool else np.sort(where)
        n = len(positions)
        if n == 0:
            return
        listed = positions[:MAX_LISTED]
        files, rows = self._locate(table, listed)
        for i, pos in enumerate(listed):
            value = None
            if values is not None:
                value = values(int(pos)) if callable(values) else values.iloc[pos]
            text = message(int(pos)) if callable(message) else message
            self.problems.append(
                Problem(severity, table, text, file=files[i], row=rows[i], column=column,
                        value=_py(value), expected=expected, code=code)
            )
        if n > MAX_LISTED:
            rest = n - MAX_LISTED
            self.problems.append(
                Problem(severity, table, f"... and {rest:,} more row(s) with this problem",
                        file=self.sources[table].display, column=column, code=code, count=rest)
            )

    def add(self, severity: str, table: str, message: str, **kw: Any) -> None:
        src = self.sources.get(table)
        kw.setdefault("file", src.display if src else None)
        self.problems.append(Problem(severity, table, message, **kw))

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
        for name in REQUIRED_TABLES:
            if name not in self.raw.tables and name not in self.raw.unreadable:
                self._missing_table(name)
        for name in TABLE_NAMES:
            if name in self.raw.tables:
                self._prepare(name)
        self._defaults()
        self._check_timezones()
        for name in self.tables:
            self._schema_checks(name)
        self._cross_checks()
        self._warnings()
        order = {name: i for i, name in enumerate(TABLE_NAMES)}
        self.problems.sort(key=lambda p: order.get(p.table, -1))  # stable: per table, as found
        report = ValidationReport(self.problems, location=self.raw.location or None)
        report.stats = _collect_stats(self.tables, self.sources, self.raw, as_of=self.as_of)
        report.stats["kind"] = self.kind
        return self.tables, report

    def _missing_table(self, name: str) -> None:
        loc = self.raw.location or "the dataset"
        if self.kind in ("duckdb", "sqlite"):
            have = ", ".join(self.raw.found) or "no tables"
            msg = f"required table {name} is missing from {loc} (it has: {have})"
            exp = f"a table or view named {name}"
        elif self.kind == "frames":
            msg = f"required table {name} was not given"
            exp = f"a {name} DataFrame"
        else:
            have = ", ".join(self.raw.found) or "no table files"
            msg = f"required table {name} is missing from {loc} (found: {have})"
            exp = f"a file {name}.csv, {name}.parquet or {name}.xlsx"
        self.problems.append(
            Problem("error", name, msg, file=loc, expected=exp, code="missing_table")
        )

    def _prepare(self, name: str) -> None:
        spec = TABLES[name]
        df = self.raw.tables[name]
        src = self.raw.sources.get(name) or TableSource(name, f"<{name}>", "frame")
        if src.fmt == "frame":
            df, header_problems = clean_header(df, name, src.display)
            self.problems.extend(header_problems)
            idx = df.index
            if (
                pd.api.types.is_integer_dtype(idx.dtype)
                and not idx.equals(pd.RangeIndex(len(idx)))
                and src.rows is None
            ):
                src = TableSource(src.table, src.path, src.fmt, src.row_base, idx.to_numpy())
        df = df.reset_index(drop=True)
        self.sources[name] = src
        self.text[name] = df
        if spec.required and len(df) == 0:
            self.add("error", name, f"required table {name} has no rows",
                     expected="at least one row under the header", code="empty_table")

        present = set(df.columns)
        lower = {str(c).lower(): c for c in df.columns}
        for col in spec.columns:
            if col.name in present:
                continue
            hint = lower.get(col.name.lower())
            if hint is None and col.required:
                close = difflib.get_close_matches(col.name, [str(c) for c in df.columns], 1, 0.8)
                hint = close[0] if close else None
            did_you_mean = f"; rename column {hint!r} to {col.name!r}" if hint else ""
            if col.required:
                found = ", ".join(map(str, df.columns)) or "none"
                self.add("error", name, f"required column {col.name} is missing "
                         f"(columns found: {found}){did_you_mean}", column=col.name,
                         expected=f"a column {col.name}: {col.description}",
                         code="missing_column")
            elif hint:
                self.add("warning", name, f"column {hint!r} looks like the canonical column "
                         f"{col.name!r} but is kept as an extra column{did_you_mean}",
                         column=str(hint), expected="canonical column names (exact spelling)",
                         code="column_name")

        out = df.copy(deep=False)
        for col in spec.columns:
            if col.name not in present:
                continue
            c = _coerce(df[col.name], col, self.tz)
            if c.bad is not None and c.bad.any():
                self.bad[(name, col.name)] = c.bad
                self.emit(name, col.name, c.bad, _as_text(df[col.name]),
                          _NOT_READ[col.kind], _EXPECT[col.kind], "bad_value")
            if c.aware is not None and col.kind == "datetime":
                self.tzinfo.append((name, col.name, c.aware, c.naive))
            out[col.name] = c.values
        self.tables[name] = out

    def _defaults(self) -> None:
        reps = self.tables.get("reps")
        if reps is not None and "rep_id" in reps.columns:
            reps["name"] = _column(reps, "name").fillna(reps["rep_id"]).astype("str")
            reps["role"] = _column(reps, "role").fillna("AE").astype("str")
        acts = self.tables.get("activities")
        if acts is not None:
            acts["direction"] = _column(acts, "direction").fillna("outbound").astype("str")
        for table, column in _STAGE_COLUMNS:
            df = self.tables.get(table)
            if df is not None and column in df.columns:
                df[column] = _case_insensitive(df[column], self.cfg.stages.all)
        opps = self.tables.get("opportunities")
        if opps is not None:
            given = _column(opps, "status")
            if "stage" in opps.columns:
                derived = _map_values(opps["stage"], self.cfg.stages.status_of).astype("str")
                opps["status"] = given.fillna(derived).astype("str")
            else:
                opps["status"] = given.astype("str")
            self.derived_status = derived if "stage" in opps.columns else None
            self.given_status = given

    def _check_timezones(self) -> None:
        n_aware = sum(int(a.sum()) for *_, a, _ in self.tzinfo)
        n_naive = sum(int(v.sum()) for *_, v in self.tzinfo)
        if not n_aware or not n_naive:
            return
        odd = "naive" if n_naive <= n_aware else "aware"
        for table, column, aware, naive in self.tzinfo:
            other = aware if odd == "naive" else naive
            if other.any():
                pos = np.flatnonzero(other)[:1]
                files, rows = self._locate(table, pos)
                text = _as_text(self.text[table][column]).iloc[pos[0]]
                example = f"{files[0]} row {rows[0]}, column {column}: {text!r}"
                break
        if odd == "naive":
            msg = ("timestamp without a timezone, while other timestamps in the dataset have one "
                   f"(e.g. {example})")
        else:
            msg = ("timestamp with a timezone, while other timestamps in the dataset have none "
                   f"(e.g. {example})")
        expected = ("every timestamp with a UTC offset (2026-10-01T09:30:00Z, "
                    "2026-10-01 09:30+02:00) or none of them")
        for table, column, aware, naive in self.tzinfo:
            mask = naive if odd == "naive" else aware
            self.emit(table, column, mask, _as_text(self.text[table][column]), msg, expected,
                      "mixed_timezones")

    # -- pandera ---------------------------------------------------------------------------------
    def _schema_checks(self, name: str) -> None:
        import pandera.pandas as pa

        spec = TABLES[name]
        df = self.tables[name]
        columns: dict[str, Any] = {}
        ref_targets: dict[str, tuple[str, str]] = {}
        # Every check passes on a missing value itself (rather than ignore_na=True, which
        # copies each column without its missing values first: slow on millions of rows).
        for col in spec.columns:
            if col.name not in df.columns:
                continue
            checks = []
            if spec.key == (col.name,):
                # a repeated id, its first row excepted (pandera's unique=True with
                # report_duplicates="exclude_first", with a fast path for increasing ids)
                checks.append(pa.Check(_not_repeated, name="field_uniqueness", ignore_na=False))
            if col.nonnegative:
                checks.append(pa.Check(lambda s: s.isna() | (s.fillna(0) >= 0),
                                       name="nonnegative", ignore_na=False))
            if col.allowed:
                allowed = list(col.allowed)
                checks.append(pa.Check(lambda s, a=allowed: _isin(s, a) | s.isna(),
                                       name="allowed", ignore_na=False))
            if (name, col.name) in _STAGE_COLUMNS:
                stages = list(self.cfg.stages.all)
                checks.append(pa.Check(lambda s, a=stages: _isin(s, a) | s.isna(), name="stage",
                                       ignore_na=False))
            for ref in spec.references:
                target = self.tables.get(ref.table)
                if ref.column != col.name or target is None or ref.target not in target.columns:
                    continue
                known = target[ref.target]
                check_name = f"reference:{ref.table}.{ref.target}"
                ref_targets[check_name] = (ref.table, ref.target)
                checks.append(pa.Check(lambda s, k=known: _isin(s, k) | s.isna(),
                                       name=check_name, ignore_na=False))
            columns[col.name] = pa.Column(
                _DTYPES[col.kind],
                checks=checks,
                nullable=not col.not_null,
                required=False,
            )
        key = [k for k in spec.key if k in df.columns]
        multi_key = key if len(spec.key) > 1 and len(key) == len(spec.key) else None
        schema = pa.DataFrameSchema(
            columns, unique=multi_key, report_duplicates="exclude_first", name=name
        )
        try:
            schema.validate(df, lazy=True, inplace=True)
        except pa.errors.SchemaErrors as exc:
            self._translate(name, exc.failure_cases, ref_targets, multi_key)

    def _translate(
        self,
        name: str,
        fc: pd.DataFrame,
        ref_targets: dict[str, tuple[str, str]],
        multi_key: list[str] | None,
    ) -> None:
        spec = TABLES[name]
        df = self.tables[name]
        fc = fc[fc["index"].notna()]
        multi = fc["check"] == "multiple_fields_uniqueness"
        if multi.any() and multi_key:
            # one failure case per key column and row (column may name the schema): each row once
            self._duplicates(name, multi_key, np.unique(fc.loc[multi, "index"].to_numpy(np.int64)))
        for (column, check), grp in fc[~multi].groupby(["column", "check"], sort=False):
            positions = np.unique(grp["index"].to_numpy(dtype=np.int64))
            col = spec.column(column)
            values = df[column]
            if check == "not_nullable":
                bad = self.bad.get((name, column))
                if bad is not None:
                    positions = positions[~bad[positions]]  # already reported as unreadable
                self.emit(name, column, positions, None,
                          f"empty value in the required column {column}",
                          f"a value in every row ({col.description})", "missing_value")
            elif check == "field_uniqueness":
                self._duplicates(name, [column], positions)
            elif check == "nonnegative":
                self.emit(name, column, positions, values, "negative value",
                          "a number of 0 or more", "negative")
            elif check == "allowed":
                self.emit(name, column, positions, values, f"not an allowed {column}",
                          f"one of {', '.join(col.allowed or ())} (any letter case)", "not_allowed")
            elif check == "stage":
                self.emit(name, column, positions, values,
                          "stage is not in the stage configuration",
                          f"one of the configured stages {', '.join(self.cfg.stages.all)} "
                          "(define your own pipeline in dataset.toml [stages])", "unknown_stage")
            elif check in ref_targets:
                table, target = ref_targets[check]
                where = self.sources[table].display
                self.emit(name, column, positions, values,
                          f"{column} does not match any {target} in {table} ({where})",
                          f"a {target} listed in {table}", "broken_reference")
            else:  # a dtype failure would be a bug in the coercion above
                self.emit(name, column, positions, values, f"failed check {check}",
                          f"a {col.kind} value", "schema")

    def _duplicates(self, name: str, key: list[str], positions: np.ndarray) -> None:
        df = self.tables[name]
        keys = df[key]
        positions = positions[keys.iloc[positions].notna().all(axis=1).to_numpy()]
        if not len(positions):
            return
        first = (
            pd.Series(np.arange(len(df)))
            .groupby([df[k] for k in key], sort=False, dropna=True)
            .transform("first")
        )
        first_rows = dict(zip(positions.tolist(),
                              self._locate(name, first.iloc[positions].to_numpy())[1], strict=True))
        label = " and ".join(key)
        def values(pos: int) -> object:
            if len(key) == 1:
                return keys[key[0]].iloc[pos]
            return ", ".join(str(keys[k].iloc[pos]) for k in key)

        what = "rep and period" if key == ["rep_id", "period"] else label
        self.emit(
            name, ", ".join(key), positions, values,
            lambda pos: f"duplicate {label}: the same value is already in row {first_rows[pos]}",
            f"each {what} only once", "duplicate",
        )

    # -- cross-table checks ----------------------------------------------------------------------
    def _cross_checks(self) -> None:
        opps = self.tables.get("opportunities")
        if opps is None:
            return
        derived, given = self.derived_status, self.given_status
        if derived is not None and given is not None and "status" in self.text["opportunities"]:
            mismatch = given.notna() & derived.notna() & (given != derived)
            mismatch = (mismatch & _isin(given, ["open", "won", "lost"])).to_numpy()
            stage = opps["stage"]
            self.emit(
                "opportunities", "status", mismatch, given,
                lambda pos: f"status does not agree with stage {stage.iloc[pos]!r}, "
                f"which the stage configuration makes {derived.iloc[pos]!r}",
                "the status of its stage, or an empty status (derived from the stage)",
                "status_stage",
            )
        if "close_date" in opps.columns and "created_at" in opps.columns:
            created = opps["created_at"].dt.normalize()
            early = (opps["close_date"] < created).to_numpy()
            self.emit(
                "opportunities", "close_date", early, _date_text(opps["close_date"]),
                lambda pos: "the opportunity closes before it was created "
                f"(created_at {opps['created_at'].iloc[pos]:%Y-%m-%d})",
                "a close_date on or after the created_at date", "closed_before_created",
            )

    # -- warnings ---------------------------------------------------------------------------------
    def _warnings(self) -> None:
        as_of = self.as_of
        for name, df in self.tables.items():
            for col in TABLES[name].columns:
                if col.kind != "datetime" or col.name not in df.columns:
                    continue
                future = (df[col.name] > as_of).to_numpy()
                self.emit(name, col.name, future, df[col.name],
                          f"in the future (after {as_of:%Y-%m-%d %H:%M})",
                          "events up to now; check the date", "future", "warning")
        opps = self.tables.get("opportunities")
        if opps is not None and {"status", "close_date"} <= set(opps.columns):
            limit = as_of.normalize() - pd.Timedelta(days=OPEN_PAST_CLOSE_DAYS)
            overdue = ((opps["status"] == "open") & (opps["close_date"] < limit)).to_numpy()
            days = (as_of.normalize() - opps["close_date"]).dt.days
            self.emit(
                "opportunities", "close_date", overdue, _date_text(opps["close_date"]),
                lambda pos: f"still open {days.iloc[pos]} days after its close date",
                "an updated stage or close date", "stale_open", "warning",
            )
        reps, acts = self.tables.get("reps"), self.tables.get("activities")
        if (
            reps is not None and acts is not None and len(acts)
            and "rep_id" in reps.columns and "rep_id" in acts.columns
        ):
            idle = ~_isin(reps["rep_id"], acts["rep_id"].dropna().unique())
            idle &= reps["rep_id"].notna() & (reps["role"] != "Manager")
            self.emit("reps", "rep_id", idle.to_numpy(), reps["rep_id"],
                      "rep has no activities", "activities for every rep who sells "
                      "(their activity KPIs will be 0)", "no_activity", "warning")
        hist = self.tables.get("stage_history")
        if (
            hist is not None and opps is not None
            and {"opportunity_id", "entered_at"} <= set(hist.columns)
            and {"opportunity_id", "created_at"} <= set(opps.columns)
        ):
            created = opps.drop_duplicates("opportunity_id").set_index("opportunity_id")[
                "created_at"]
            opp_created = hist["opportunity_id"].map(created)
            self._before("stage_history", "entered_at", hist["entered_at"], opp_created,
                         "stage entered before the opportunity was created", "before_created")
        leads = self.tables.get("leads")
        if leads is not None and "created_at" in leads.columns:
            for column in ("qualified_at", "first_response_at"):
                if column in leads.columns:
                    verb = "qualified" if column == "qualified_at" else "answered"
                    self._before("leads", column, leads[column], leads["created_at"],
                                 f"lead {verb} before it was created", "before_created")

    def _before(self, table: str, column: str, when: pd.Series, created: pd.Series,
                message: str, code: str) -> None:
        early = (when.dt.normalize() < created.dt.normalize()).to_numpy()
        self.emit(table, column, early, when,
                  lambda pos: f"{message} ({created.iloc[pos]:%Y-%m-%d})",
                  "a date on or after the creation date", code, "warning")


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]``, or an all-missing text column when it is absent."""
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype="str")


def _as_row(v: object) -> object:
    """A provenance row number as an int when it is one."""
    try:
        return int(float(str(v)))
    except (TypeError, ValueError):
        return None if pd.isna(v) else str(v)  # type: ignore[arg-type]


# -- the overview -------------------------------------------------------------------------------


def _collect_stats(
    tables: dict[str, pd.DataFrame | None],
    sources: dict[str, TableSource] | None = None,
    raw: RawDataset | None = None,
    *,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    present = {n: df for n, df in tables.items() if df is not None}
    stats: dict[str, Any] = {"tables": {}, "missing_tables": {}}
    for name in TABLE_NAMES:
        df = present.get(name)
        if df is None:
            continue
        absent = [c.name for c in TABLES[name].columns if c.name not in df.columns]
        stats["tables"][name] = {
            "rows": len(df),
            "source": sources[name].display if sources and name in sources else None,
            "missing_columns": absent,
        }
    unreadable = raw.unreadable if raw is not None else set()
    for name in OPTIONAL_TABLES:
        if name not in present and name not in unreadable:
            stats["missing_tables"][name] = DISABLES.get(name, "")
    lows, highs = [], []
    for name, df in present.items():
        for col in TABLES[name].columns:
            if col.kind == "datetime" and col.name in df.columns:
                s = df[col.name]
                if pd.api.types.is_datetime64_any_dtype(s.dtype) and s.notna().any():
                    lows.append(s.min())
                    highs.append(s.max())
    stats["date_range"] = (
        [f"{min(lows):%Y-%m-%d}", f"{max(highs):%Y-%m-%d}"] if lows else None
    )
    reps = present.get("reps")
    if reps is not None:
        info: dict[str, Any] = {"count": len(reps)}
        for column in ("role", "team"):
            if column in reps.columns:
                counts = reps[column].fillna("(none)").value_counts(sort=True)
                info[f"by_{column}"] = {str(k): int(v) for k, v in counts.items()}
        stats["reps"] = info
    if as_of is not None:
        stats["as_of"] = f"{as_of:%Y-%m-%d %H:%M}"
    if raw is not None:
        stats["kind"] = raw.kind
    return stats


def _summary_lines(stats: dict[str, Any], location: str | None) -> list[str]:
    kind = {"folder": "folder of files", "duckdb": "DuckDB database",
            "sqlite": "SQLite database", "frames": "in-memory tables"}.get(stats.get("kind", ""))
    head = f"Dataset: {location or '<in memory>'}"
    lines = [head + (f" ({kind})" if kind else "")]
    tables = stats.get("tables", {})
    if tables:
        lines.append("Tables:")
        width = max(len(n) for n in tables)
        for name, info in tables.items():
            src = f"  {info['source']}" if info.get("source") else ""
            rows = f"{info['rows']:>10,} row" + ("" if info["rows"] == 1 else "s")
            lines.append(f"  {name:<{width}}  {rows}{src}")
            if info.get("missing_columns"):
                lines.append(f"    optional columns not given: {', '.join(info['missing_columns'])}")
    else:
        lines.append("Tables: none read")
    missing = stats.get("missing_tables", {})
    if missing:
        lines.append("Optional tables not given (what is not available without them):")
        for name, what in missing.items():
            lines.append(f"  {name}: {what}")
    dr = stats.get("date_range")
    if dr:
        lines.append(f"Dates: {dr[0]} to {dr[1]}")
    reps = stats.get("reps")
    if reps:
        parts = [f"Reps: {reps['count']:,}"]
        for column in ("role", "team"):
            counts = reps.get(f"by_{column}")
            if counts:
                shown = list(counts.items())[:12]
                text = ", ".join(f"{k} {v:,}" for k, v in shown)
                if len(counts) > len(shown):
                    text += f", ... ({len(counts)} {column}s)"
                parts.append(f"by {column}: {text}")
        lines.append("; ".join(parts))
    return lines
