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
                    f"{v} n={int(k)}" if pd.isna(a) or pd.isna(b) else f"{v} [{a:.0%}-{b:.0%}] n={int(k)}"
                    for v, a, b, k in zip(shown[m], lo, hi, n, strict=True)
                ]
    header = f"{len(table.metric_ids)} metrics for {table.period} by {table.by}\n"
    # metrics as rows, groups as columns, reads well for a handful of groups
    body = shown.T.to_string() if len(shown) <= 8 else shown.to_string()
    return header + body + "\n"


def render_plan(plan, *, title: str | None = None) -> str:
    """A plan as text: the headline rhythm, a table per stage, the math, then notes."""
    lines = []
    if title:
        lines += [title, "=" * len(title)]
    lines.append(plan.summary())
    lines.append("")
    if plan.steps and not plan.covered:
        frame = plan.to_frame()
        shown = pd.DataFrame(
            {
                "stage": frame["stage"],
                "required": frame["required"],
                "P10-P90": [
                    "" if pd.isna(a) else f"{int(a)}-{int(b)}"
                    for a, b in zip(frame["p10"], frame["p90"], strict=True)
                ],
                "per day": frame["per_day"].map(lambda v: f"{v:.1f}"),
                "per week": frame["per_week"].map(lambda v: f"{v:.1f}"),
                "rate": [
                    "" if pd.isna(r) else f"{n}={r:.1%}"
                    for n, r in zip(frame["rate_name"], frame["rate"], strict=True)
                ],
                "source": frame["rate_source"].fillna(""),
            }
        )
        lines.append(shown.to_string(index=False))
        lines.append("")
    lines.append("The math:")
    lines += [f"  {line}" for line in plan.explain()]
    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"  - {n}" for n in plan.notes]
    return "\n".join(lines) + "\n"
