"""Rendering results for the terminal and for machines (CSV, JSON)."""

from __future__ import annotations

import json
import math

import pandas as pd

from kpikit.metrics.table import MetricTable


def _jsonable(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def frame_to_records(df: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts: NaN/NA -> None, numpy scalars -> Python."""
    flat = df.reset_index()
    return [
        {str(k): _jsonable(v) for k, v in zip(flat.columns, row, strict=True)}
        for row in flat.itertuples(index=False, name=None)
    ]


def render_metric_table(
    table: MetricTable, *, fmt: str = "table", intervals: bool = False, currency: str = ""
) -> str:
    """The metric table as a readable text table, CSV or JSON (records)."""
    values = table.with_intervals() if intervals else table.values
    if fmt == "csv":
        return values.to_csv(na_rep="", float_format="%.6g")
    if fmt == "json":
        return json.dumps(frame_to_records(values), indent=2) + "\n"
    shown = table.format(currency)
    if intervals:
        for m in table.metric_ids:
            det = table.details.get(m)
            if isinstance(det, pd.DataFrame) and "n" in det.columns:
                lo = det["ci_low"].reindex(shown.index)
                hi = det["ci_high"].reindex(shown.index)
                n = det["n"].reindex(shown.index)
                shown[m] = [
                    f"{v} [{a:.0%}-{b:.0%}] n={int(k)}" if not (pd.isna(a) or pd.isna(b)) else f"{v} n={int(k)}"
                    for v, a, b, k in zip(shown[m], lo, hi, n, strict=True)
                ]
    header = f"{len(table.metric_ids)} metrics for {table.period} by {table.by}\n"
    # metrics as rows, groups as columns, reads well for a handful of groups
    if len(shown) <= 8:
        body = shown.T.to_string()
    else:
        body = shown.to_string()
    return header + body + "\n"
