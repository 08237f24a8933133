"""The whole metric table for a period: one call, every KPI, per rep / team / level / org."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.metrics._common import GROUPINGS, KEY_NAMES, as_period, group_index
from kpikit.metrics.registry import REGISTRY, MetricDef, get
from kpikit.periods import Period


@dataclass
class MetricTable:
    """Every scalar metric for one period and grouping.

    ``values`` has one row per group (index ``rep_id`` / ``team`` / ``level`` /
    ``org``) and one column per metric id (fractions stay fractions; missing is
    NaN). ``details`` keeps each metric's full result (for rates: ``successes``,
    ``n``, ``ci_low``, ``ci_high``). ``unavailable`` maps a metric id to the
    reason it could not be computed ("not available: needs activities").
    """

    period: Period
    by: str
    values: pd.DataFrame
    details: dict[str, pd.Series | pd.DataFrame] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def metric_ids(self) -> list[str]:
        return list(self.values.columns)

    def definitions(self) -> list[MetricDef]:
        """The registry entries of the metrics in this table (for a definitions footer)."""
        return [REGISTRY[m] for m in self.metric_ids]

    def with_intervals(self) -> pd.DataFrame:
        """``values`` plus ``<id>_n``, ``<id>_ci_low``, ``<id>_ci_high`` beside each rate."""
        cols = []
        for m in self.metric_ids:
            cols.append(self.values[m])
            det = self.details.get(m)
            if isinstance(det, pd.DataFrame) and "n" in det.columns:
                for extra in ("n", "ci_low", "ci_high"):
                    cols.append(det[extra].reindex(self.values.index).rename(f"{m}_{extra}"))
        return pd.concat(cols, axis=1) if cols else self.values.copy()

    def format(self, currency: str = "") -> pd.DataFrame:
        """Display strings: percentages for fractions, "n/a" for missing values."""
        out = pd.DataFrame(index=self.values.index)
        for m in self.metric_ids:
            d = REGISTRY[m]
            out[m] = [d.format(v, currency) for v in self.values[m]]
        return out


def _value_of(result: pd.Series | pd.DataFrame) -> pd.Series:
    if isinstance(result, pd.DataFrame):
        return result["value"]
    return result


def scalar_metric_ids(by: str = "rep") -> list[str]:
    """Ids of the registry's scalar metrics computable for a grouping, in registry order."""
    return [m.id for m in REGISTRY.values() if m.shape == "scalar" and by in m.groupings]


def metric_table(
    ds: Dataset,
    period: Period | str,
    *,
    by: str = "rep",
    metrics: Iterable[str] | None = None,
) -> MetricTable:
    """Compute every scalar KPI (or the ``metrics`` named) for ``period``, grouped ``by``.

    A metric whose inputs are missing is left out of ``values`` and listed in
    ``unavailable`` with the reason; it is never shown as 0.

    >>> import kpikit
    >>> ds = kpikit.Dataset.from_frames(
    ...     reps=pd.DataFrame({"rep_id": ["r1", "r2"]}),
    ...     opportunities=pd.DataFrame({"opportunity_id": ["o1", "o2"], "rep_id": ["r1", "r1"],
    ...         "created_at": ["2026-09-01", "2026-09-02"], "stage": ["Won", "Lost"],
    ...         "amount": [100, 50], "close_date": ["2026-10-03", "2026-10-04"]}))
    >>> t = metric_table(ds, "2026-10", metrics=["deals_won", "win_rate", "calls_made"])
    >>> t.values
            deals_won  win_rate
    rep_id
    r1              1       0.5
    r2              0       NaN
    >>> t.unavailable["calls_made"]
    'calls_made: not available: needs activities'
    """
    import kpikit.metrics  # noqa: F401  (registers every metric)

    p = as_period(period)
    if by not in GROUPINGS:
        raise KpikitError(f"--by {by!r} is not a grouping; use one of {', '.join(GROUPINGS)}")
    ids = list(metrics) if metrics is not None else scalar_metric_ids(by)
    index = group_index(ds, by)
    columns: dict[str, pd.Series] = {}
    details: dict[str, pd.Series | pd.DataFrame] = {}
    unavailable: dict[str, str] = {}
    for mid in ids:
        d = get(mid)
        if d.shape != "scalar":
            raise KpikitError(f"{mid} is a breakdown (several values per {by}); call it directly")
        if by not in d.groupings:
            unavailable[mid] = f"{mid}: not available by {by} (only by {', '.join(d.groupings)})"
            continue
        try:
            result = d.func(ds, p, by=by)
        except MissingDataError as exc:
            unavailable[mid] = str(exc) if exc.what else f"{mid}: {exc}"
            continue
        details[mid] = result
        columns[mid] = _value_of(result).reindex(index)
    values = pd.DataFrame(columns, index=index)
    values.index.name = KEY_NAMES[by]
    return MetricTable(period=p, by=by, values=values, details=details, unavailable=unavailable)
