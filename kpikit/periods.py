"""Reporting periods: calendar months (``2026-10``), quarters (``2026-Q3``) and years (``2026``).

An event belongs to the period that contains its timestamp; a period is the
half-open interval ``[start, end)``. A run of whole months
(``2026-05..2026-10``) is a period too: trailing windows for rates that need
more history than one month (the funnel, the planner's rates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from kpikit.errors import PeriodError

PeriodKind = Literal["month", "quarter", "year", "months"]

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_SPAN = re.compile(r"^(\d{4}-\d{1,2})\s*\.\.\s*(\d{4}-\d{1,2})$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year.

    >>> p = Period.parse("2026-Q3")
    >>> p.start.date(), p.end.date(), p.label
    (datetime.date(2026, 7, 1), datetime.date(2026, 10, 1), '2026-Q3')
    >>> Period.parse("2026-01").previous().label
    '2025-12'
    """

    start: pd.Timestamp
    kind: PeriodKind
    #: number of months of a ``months`` span (1 for the calendar kinds)
    count: int = 1

    @classmethod
    def span(cls, first: str | Period, last: str | Period) -> Period:
        """The run of whole months from ``first`` to ``last`` (both included).

        >>> Period.span("2026-05", "2026-10").label
        '2026-05..2026-10'
        >>> Period.span("2026-05", "2026-10").months
        6
        """
        a, b = cls.parse(first), cls.parse(last)
        start = pd.Timestamp(year=a.start.year, month=a.start.month, day=1)
        last_month = b.end - pd.DateOffset(months=1)
        n = (last_month.year - start.year) * 12 + last_month.month - start.month + 1
        if n < 1:
            raise PeriodError(f"{first}..{last} is empty: the first month must not be after the last")
        if n == 1:
            return cls(start, "month")
        return cls(start, "months", n)

    @classmethod
    def trailing(cls, last: str | Period, months: int) -> Period:
        """The ``months`` months ending with ``last``'s last month.

        >>> Period.trailing("2026-10", 6).label
        '2026-05..2026-10'
        """
        b = cls.parse(last)
        end_month = cls(b.end - pd.DateOffset(months=1), "month")
        return cls.span(end_month.shift(-(months - 1)), end_month)

    @classmethod
    def parse(cls, value: str | Period) -> Period:
        """Parse ``YYYY-MM``, ``YYYY-Qn``, ``YYYY`` or ``YYYY-MM..YYYY-MM``; else :class:`PeriodError`."""
        if isinstance(value, Period):
            return value
        text = str(value).strip()
        if m := _SPAN.match(text):
            return cls.span(m[1], m[2])
        if m := _MONTH.match(text):
            year, month = int(m[1]), int(m[2])
            if 1 <= month <= 12:
                return cls(pd.Timestamp(year=year, month=month, day=1), "month")
        elif m := _QUARTER.match(text):
            year, q = int(m[1]), int(m[2])
            return cls(pd.Timestamp(year=year, month=3 * q - 2, day=1), "quarter")
        elif m := _YEAR.match(text):
            return cls(pd.Timestamp(year=int(m[1]), month=1, day=1), "year")
        raise PeriodError(
            f"{value!r} is not a period: use a month 'YYYY-MM' (2026-10), "
            f"a quarter 'YYYY-Qn' (2026-Q3), a year 'YYYY' (2026) "
            f"or a run of months 'YYYY-MM..YYYY-MM' (2026-05..2026-10)"
        )

    @property
    def months(self) -> int:
        """Number of calendar months in the period (1, 3 or 12)."""
        return {"month": 1, "quarter": 3, "year": 12, "months": self.count}[self.kind]

    @property
    def end(self) -> pd.Timestamp:
        """First instant after the period (exclusive bound)."""
        return self.start + pd.DateOffset(months=self.months)

    @property
    def label(self) -> str:
        s = self.start
        if self.kind == "month":
            return f"{s.year:04d}-{s.month:02d}"
        if self.kind == "quarter":
            return f"{s.year:04d}-Q{(s.month - 1) // 3 + 1}"
        if self.kind == "months":
            last = self.end - pd.DateOffset(months=1)
            return f"{s.year:04d}-{s.month:02d}..{last.year:04d}-{last.month:02d}"
        return f"{s.year:04d}"

    def __str__(self) -> str:
        return self.label

    def shift(self, n: int) -> Period:
        """The period ``n`` steps later (negative: earlier), same kind."""
        return Period(self.start + pd.DateOffset(months=n * self.months), self.kind, self.count)

    def previous(self, n: int = 1) -> Period:
        """The period ``n`` steps before this one."""
        return self.shift(-n)

    def history(self, n: int) -> list[Period]:
        """The ``n`` periods ending with this one, oldest first (for trends)."""
        return [self.shift(-i) for i in range(n - 1, -1, -1)]

    def contains(self, values: pd.Series) -> pd.Series:
        """Boolean mask: which timestamps fall inside ``[start, end)`` (NaT is False)."""
        return (values >= self.start) & (values < self.end)

    def working_days(self, holidays: tuple[str, ...] | list[str] = ()) -> int:
        """Monday-to-Friday days in the period, less ``holidays`` (ISO dates).

        >>> Period.parse("2026-11").working_days()
        21
        """
        return int(
            np.busday_count(
                self.start.date(), self.end.date(), holidays=[np.datetime64(h) for h in holidays]
            )
        )

    def working_days_between(self, start: pd.Timestamp, holidays: tuple[str, ...] = ()) -> int:
        """Working days from ``start`` (inclusive, clipped to the period) to the period's end."""
        s = max(pd.Timestamp(start).normalize(), self.start)
        if s >= self.end:
            return 0
        return int(
            np.busday_count(s.date(), self.end.date(), holidays=[np.datetime64(h) for h in holidays])
        )


def period_labels(values: pd.Series, kind: PeriodKind) -> pd.Series:
    """Vectorised label of the period each timestamp falls in (``NaN`` for NaT).

    >>> period_labels(pd.Series(pd.to_datetime(["2026-02-03", "2026-11-30"])), "quarter").tolist()
    ['2026-Q1', '2026-Q4']
    """
    ts = pd.to_datetime(values)
    year = ts.dt.year.astype("Int64").astype("string")
    if kind == "month":
        out = year + "-" + ts.dt.month.astype("Int64").astype("string").str.zfill(2)
    elif kind == "quarter":
        out = year + "-Q" + ts.dt.quarter.astype("Int64").astype("string")
    else:
        out = year
    return out.astype(object).where(ts.notna(), np.nan)
