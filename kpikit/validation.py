"""Coercion and validation of raw tables against the data contract.

(Interim version: coerces types; the full pandera-based validation replaces it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpikit.io import RawDataset
from kpikit.schema import TABLES


@dataclass
class Problem:
    """One data problem, pointing back into the input."""

    severity: str  # "error" | "warning"
    table: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: object = None
    expected: str | None = None

    def format(self) -> str:
        where = [self.file or self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        text = ", ".join(where) + f": {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def format_errors(self) -> str:
        lines = [f"{len(self.errors)} problem(s) in the dataset:"]
        lines += ["- " + p.format() for p in self.errors]
        return "\n".join(lines)


def _coerce(name: str, df: pd.DataFrame) -> pd.DataFrame:
    spec = TABLES[name]
    out = df.copy()
    for col in spec.columns:
        if col.name not in out.columns:
            continue
        s = out[col.name]
        if col.kind in ("id", "str", "period"):
            out[col.name] = s.astype("string").str.strip().astype(object).where(s.notna(), np.nan)
        elif col.kind == "datetime":
            out[col.name] = pd.to_datetime(s, format="ISO8601")
        elif col.kind == "date":
            out[col.name] = pd.to_datetime(s, format="ISO8601").dt.normalize()
        elif col.kind == "number":
            out[col.name] = pd.to_numeric(s).astype(float)
        elif col.kind == "int":
            out[col.name] = pd.to_numeric(s).astype("Int64")
        elif col.kind == "bool":
            out[col.name] = s.map(
                lambda v: v if isinstance(v, bool) or pd.isna(v)
                else str(v).strip().lower() in ("true", "yes", "1", "y", "t")
            ).astype("boolean")
    return out


def validate(raw: RawDataset) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    tables = {name: _coerce(name, df) for name, df in raw.tables.items()}
    cfg = raw.config.stages
    reps = tables["reps"]
    if "name" not in reps.columns:
        reps["name"] = reps["rep_id"]
    reps["name"] = reps["name"].fillna(reps["rep_id"])
    if "role" not in reps.columns:
        reps["role"] = "AE"
    reps["role"] = reps["role"].fillna("AE")
    opps = tables["opportunities"]
    derived = opps["stage"].map(cfg.status_of)
    if "status" not in opps.columns:
        opps["status"] = derived
    else:
        opps["status"] = opps["status"].str.lower().fillna(derived)
    if "activities" in tables:
        act = tables["activities"]
        if "direction" not in act.columns:
            act["direction"] = "outbound"
        act["direction"] = act["direction"].fillna("outbound")
    return tables, ValidationReport()
