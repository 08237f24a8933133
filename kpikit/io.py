"""Reading a dataset's raw tables from disk (a folder of files or a database file).

Nothing here modifies an input file: files are opened read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kpikit.config import DatasetConfig, read_config
from kpikit.errors import DataError
from kpikit.schema import TABLE_NAMES

FILE_SUFFIXES = (".csv", ".parquet", ".xlsx")


@dataclass
class TableSource:
    """Where a raw table came from, so a problem can point back into the file.

    ``row_base`` converts a 0-based position in the frame to the row number a
    user sees: 2 for CSV and Excel (the header is row 1), 1 for Parquet and
    database tables (records counted from 1).
    """

    table: str
    path: str
    fmt: str
    row_base: int = 2

    def row_number(self, position: int) -> int:
        return int(position) + self.row_base


@dataclass
class RawDataset:
    """Raw tables as read (strings for CSV), before coercion and validation."""

    tables: dict[str, pd.DataFrame]
    sources: dict[str, TableSource]
    config: DatasetConfig = field(default_factory=DatasetConfig)
    location: str = ""


def read_raw(path: str | Path, *, tables=None) -> RawDataset:
    """Read every canonical table found at ``path`` (folder or database file)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder; give a folder of tables or a database file")
    if p.is_dir():
        return _read_folder(p, tables)
    raise DataError(f"{p}: not a folder of tables")


def _read_folder(folder: Path, wanted) -> RawDataset:
    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, TableSource] = {}
    for name in TABLE_NAMES:
        if wanted is not None and name not in wanted and name not in ("reps", "opportunities"):
            continue
        for suffix in FILE_SUFFIXES:
            f = folder / f"{name}{suffix}"
            if f.exists():
                if suffix == ".csv":
                    df = pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""])
                    base = 2
                elif suffix == ".parquet":
                    df = pd.read_parquet(f)
                    base = 1
                else:
                    df = pd.read_excel(f, dtype=str)
                    base = 2
                tables[name] = df
                sources[name] = TableSource(name, str(f), suffix[1:], base)
                break
    return RawDataset(tables, sources, read_config(folder / "dataset.toml"), str(folder))
