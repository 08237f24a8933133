"""The definitions registry: one entry per KPI of ``shared/METRICS.md``.

Every entry holds the metric's function, id, display name, formula text,
whether it is a leading or lagging indicator, the tables/columns it needs, its
unit and whether higher is better. Summary tables, charts, reports and the
definitions footer all read it.

A metric function has the signature ``f(ds, period, *, by="rep")`` and returns,
indexed by the grouping key (``rep_id``, ``team``, ``level`` or ``org``) with
every group present:

- unit ``count`` / ``currency`` / ``hours`` / ``days`` / ...: a ``pd.Series`` named after the id;
- unit ``fraction`` (a proportion): a :func:`kpikit.stats.rate_frame`
  (``value``, ``successes``, ``n``, ``ci_low``, ``ci_high``);
- unit ``ratio``: a :func:`kpikit.stats.ratio_frame` (``value``, ``numerator``, ``denominator``);
- shape ``breakdown`` metrics (per stage, per source, ...): a long DataFrame
  with the grouping key as the first index level.

Missing inputs raise :class:`kpikit.errors.MissingDataError` ("not available:
needs activities.outcome"), never a silent 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Theme = Literal["activity", "activity_ratio", "conversion", "results", "pipeline"]
Unit = Literal[
    "count", "fraction", "ratio", "currency", "currency_per_day", "hours", "days", "text", "number"
]

_FORMATS: dict[str, str] = {
    "count": "{:,.0f}",
    "fraction": "{:.1%}",
    "ratio": "{:,.2f}",
    "currency": "{:,.0f}",
    "currency_per_day": "{:,.0f}/day",
    "hours": "{:,.1f} h",
    "days": "{:,.0f} d",
    "number": "{:,.2f}",
    "text": "{}",
}


@dataclass(frozen=True)
class MetricDef:
    """One KPI's definition."""

    id: str
    name: str
    theme: Theme
    indicator: Literal["leading", "lagging"]
    unit: Unit
    formula: str
    needs: tuple[str, ...]
    func: Callable
    higher_is_better: bool | None = True
    shape: Literal["scalar", "breakdown"] = "scalar"
    description: str = ""
    #: groupings the metric can be computed for (cost metrics are not per rep)
    groupings: tuple[str, ...] = ("rep", "team", "level", "org")

    def format(self, value: object, currency: str = "") -> str:
        """Display a value of this metric: percentages for fractions, "n/a" for missing."""
        import math

        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        try:
            text = _FORMATS[self.unit].format(value)
        except (ValueError, TypeError):
            return str(value)
        if self.unit in ("currency", "currency_per_day") and currency:
            text = f"{text} {currency}"
        return text


REGISTRY: dict[str, MetricDef] = {}


def register(
    id: str,
    *,
    name: str,
    theme: Theme,
    indicator: Literal["leading", "lagging"],
    unit: Unit,
    formula: str,
    needs: tuple[str, ...] | list[str],
    higher_is_better: bool | None = True,
    shape: Literal["scalar", "breakdown"] = "scalar",
    description: str = "",
    groupings: tuple[str, ...] = ("rep", "team", "level", "org"),
) -> Callable[[Callable], Callable]:
    """Decorator adding a metric function to :data:`REGISTRY` under ``id``."""

    def deco(func: Callable) -> Callable:
        if id in REGISTRY and REGISTRY[id].func is not func:
            raise ValueError(f"metric id {id!r} registered twice")
        REGISTRY[id] = MetricDef(
            id=id,
            name=name,
            theme=theme,
            indicator=indicator,
            unit=unit,
            formula=formula,
            needs=tuple(needs),
            func=func,
            higher_is_better=higher_is_better,
            shape=shape,
            description=description,
            groupings=tuple(groupings),
        )
        func.metric_id = id  # type: ignore[attr-defined]
        return func

    return deco


def get(id: str) -> MetricDef:
    """The definition of metric ``id`` (clear error for an unknown id)."""
    try:
        return REGISTRY[id]
    except KeyError:
        from difflib import get_close_matches

        close = get_close_matches(id, REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown metric id {id!r}{hint}") from None
