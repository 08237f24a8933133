"""The :class:`Dataset`: every typed table of one sales org plus its configuration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kpikit.config import DatasetConfig
from kpikit.errors import DataValidationError, MissingDataError
from kpikit.schema import TABLE_NAMES, TABLES


@dataclass
class Dataset:
    """A validated sales dataset.

    Tables are pandas DataFrames with the canonical columns of
    ``shared/DATA_MODEL.md`` in their canonical types (ids as strings,
    timestamps as naive ``datetime64`` in the dataset's timezone, amounts as
    floats). An optional table that was not supplied is ``None``.

    Build one with :func:`kpikit.load` (files) or :meth:`Dataset.from_frames`
    (in-memory frames, e.g. in tests and notebooks); both validate.

    >>> ds = Dataset.from_frames(
    ...     reps=pd.DataFrame({"rep_id": ["r1"]}),
    ...     opportunities=pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"],
    ...         "created_at": ["2026-01-05"], "stage": ["Won"], "amount": [100]}),
    ... )
    >>> ds.opportunities.loc[0, "status"], ds.has("activities")
    ('won', False)
    """

    tables: dict[str, pd.DataFrame | None]
    config: DatasetConfig = field(default_factory=DatasetConfig)
    source: str | None = None
    report: object | None = None  # kpikit.validation.ValidationReport

    # -- construction -------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        config: DatasetConfig | None = None,
        *,
        strict: bool = True,
        **frames: pd.DataFrame | None,
    ) -> Dataset:
        """Validate in-memory tables (by canonical name) into a Dataset.

        Raises :class:`~kpikit.errors.DataValidationError` listing every problem
        when the tables break the data contract (unless ``strict=False``, which
        keeps the report on ``ds.report`` instead).
        """
        from kpikit.io import RawDataset, TableSource

        unknown = sorted(set(frames) - set(TABLE_NAMES))
        if unknown:
            raise TypeError(
                f"unknown table(s) {unknown}; canonical tables are {', '.join(TABLE_NAMES)}"
            )
        raw = RawDataset(
            tables={k: v for k, v in frames.items() if v is not None},
            sources={
                k: TableSource(table=k, path=f"<{k}>", fmt="frame")
                for k, v in frames.items()
                if v is not None
            },
            config=config or DatasetConfig(),
            location="<in memory>",
        )
        return _from_raw(raw, strict=strict)

    # -- access ---------------------------------------------------------------
    def __getattr__(self, name: str) -> pd.DataFrame | None:
        if name in TABLE_NAMES:
            return self.tables.get(name)
        raise AttributeError(name)

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether a table (and optionally a column with at least one value) is present."""
        df = self.tables.get(table)
        if df is None:
            return False
        if column is None:
            return True
        return column in df.columns and bool(df[column].notna().any())

    def require(self, *needs: str, what: str | None = None) -> None:
        """Raise :class:`MissingDataError` unless every ``table`` / ``table.column`` is present.

        >>> ds = Dataset({"reps": pd.DataFrame({"rep_id": ["r1"]})})
        >>> ds.require("activities.outcome", what="meetings_held")
        Traceback (most recent call last):
        ...
        kpikit.errors.MissingDataError: meetings_held: not available: needs activities.outcome
        """
        missing = []
        for need in needs:
            table, _, column = need.partition(".")
            if not self.has(table, column or None):
                missing.append(need)
        if missing:
            raise MissingDataError(missing, what)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name``; raises :class:`MissingDataError` when it was not supplied."""
        self.require(name)
        return self.tables[name]  # type: ignore[return-value]

    @property
    def rep_ids(self) -> pd.Index:
        """Every rep id, in the order of the reps table."""
        return pd.Index(self.tables["reps"]["rep_id"], name="rep_id")

    @property
    def present_tables(self) -> list[str]:
        return [t for t in TABLE_NAMES if self.tables.get(t) is not None]

    def rep_attribute(self, column: str) -> pd.Series:
        """A reps column (team, level, role, name, ...) as a Series indexed by rep_id."""
        reps = self.tables["reps"]
        return reps.set_index("rep_id")[column]

    def date_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Earliest and latest event timestamp across the dated tables."""
        lows, highs = [], []
        for name, spec in TABLES.items():
            df = self.tables.get(name)
            if df is None or df.empty:
                continue
            for col in spec.columns:
                if col.kind in ("datetime",) and col.name in df.columns:
                    s = df[col.name].dropna()
                    if len(s):
                        lows.append(s.min())
                        highs.append(s.max())
        if not lows:
            return None, None
        return min(lows), max(highs)

    def __repr__(self) -> str:
        counts = ", ".join(f"{t}={len(self.tables[t])}" for t in self.present_tables)
        return f"Dataset({self.source or '<in memory>'}: {counts})"

    def __getstate__(self) -> dict:
        # memoised derived frames (kpikit.metrics._common.cached, ...) are not part of the
        # data: a pickled or copied dataset starts without them
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_cache")}


def _from_raw(raw, *, strict: bool) -> Dataset:
    from kpikit.validation import validate

    tables, report = validate(raw)
    if strict and report.errors:
        raise DataValidationError(report)
    full: dict[str, pd.DataFrame | None] = {name: tables.get(name) for name in TABLE_NAMES}
    return Dataset(tables=full, config=raw.config, source=raw.location, report=report)


def load(path: str | Path, *, strict: bool = True, tables: Iterable[str] | None = None) -> Dataset:
    """Read and validate a sales dataset.

    ``path`` is a folder of CSV, Parquet or ``.xlsx`` files named after the
    tables (``reps.csv``, ``opportunities.parquet``, ...) with an optional
    ``dataset.toml``, or a DuckDB / SQLite database file holding tables of those
    names. Every problem is reported at once in a
    :class:`~kpikit.errors.DataValidationError` (with ``strict=False`` the
    dataset is returned anyway and the problems are on ``ds.report``).
    ``tables`` restricts loading to a subset of the optional tables. Input files
    are only ever read.
    """
    from kpikit.io import read_raw

    raw = read_raw(path, tables=tables)
    return _from_raw(raw, strict=strict)
