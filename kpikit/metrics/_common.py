"""Helpers shared by the metric functions: grouping reps and filtering to a period."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError
from kpikit.periods import Period

By = Literal["rep", "team", "level", "org"]
GROUPINGS: tuple[str, ...] = ("rep", "team", "level", "org")
KEY_NAMES = {"rep": "rep_id", "team": "team", "level": "level", "org": "org"}
ORG_LABEL = "all reps"
NO_GROUP = "(none)"


def as_period(period: Period | str) -> Period:
    """Accept a :class:`Period` or its text form."""
    return Period.parse(period)


def group_map(ds: Dataset, by: str) -> pd.Series:
    """rep_id -> group label (the rep itself, its team, its level, or the whole org).

    Reps without a team / level go to the group ``"(none)"``.
    """
    if by not in GROUPINGS:
        raise KpikitError(f"by={by!r} is not a grouping; use one of {', '.join(GROUPINGS)}")
    reps = ds.reps
    ids = reps["rep_id"]
    if by == "rep":
        labels = ids
    elif by == "org":
        labels = pd.Series(ORG_LABEL, index=reps.index)
    else:
        ds.require(f"reps.{by}", what=f"grouping by {by}")
        labels = reps[by].fillna(NO_GROUP)
    out = pd.Series(labels.to_numpy(), index=pd.Index(ids.to_numpy(), name="rep_id"), name=KEY_NAMES[by])
    return out


def group_index(ds: Dataset, by: str) -> pd.Index:
    """Every group of a grouping, in first-seen order of the reps table."""
    gm = group_map(ds, by)
    return pd.Index(pd.unique(gm.to_numpy()), name=KEY_NAMES[by])


def attach_group(df: pd.DataFrame, ds: Dataset, by: str, rep_col: str = "rep_id") -> pd.Series:
    """The group label of each row of ``df`` (by its ``rep_id``), as a Series aligned to df."""
    gm = group_map(ds, by)
    return df[rep_col].map(gm).rename(KEY_NAMES[by])


def count_by(df: pd.DataFrame, ds: Dataset, by: str, *, name: str | None = None) -> pd.Series:
    """Rows of ``df`` per group, 0 for groups with none."""
    keys = attach_group(df, ds, by)
    counts = keys.value_counts(sort=False) if len(df) else pd.Series(dtype="int64")
    out = counts.reindex(group_index(ds, by), fill_value=0).astype("int64")
    out.name = name
    return out


def sum_by(
    values: pd.Series, df: pd.DataFrame, ds: Dataset, by: str, *, name: str | None = None
) -> pd.Series:
    """Sum of ``values`` (aligned to df rows) per group, 0.0 for groups with none."""
    keys = attach_group(df, ds, by)
    out = values.groupby(keys).sum() if len(df) else pd.Series(dtype=float)
    out = out.reindex(group_index(ds, by), fill_value=0.0).astype(float)
    out.name = name
    return out


def in_period(df: pd.DataFrame, column: str, period: Period) -> pd.DataFrame:
    """Rows whose ``column`` timestamp falls inside the period."""
    return df[period.contains(df[column])]
