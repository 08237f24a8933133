"""Helpers shared by the metric functions: grouping reps, filtering to a period, and the
per-dataset cache of derived frames and arrays.

Speed: the tables of a big org hold millions of activity rows and every KPI is computed
for many periods, so the work that does not depend on the period (integer codes of the
rep ids, rows sorted by time, funnel frames, ...) is done once per dataset and kept on the
dataset (:func:`cached`); a metric then only touches the rows of its period.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError
from kpikit.periods import Period
from kpikit.schema import TABLE_NAMES
from kpikit.validation import increasing_text

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
    if by not in ("rep", "org"):
        ds.require(f"reps.{by}", what=f"grouping by {by}")

    def build() -> pd.Series:
        if by == "rep":
            labels = ids
        elif by == "org":
            labels = pd.Series(ORG_LABEL, index=reps.index)
        else:
            labels = reps[by].fillna(NO_GROUP)
        return pd.Series(labels.to_numpy(), index=pd.Index(ids.to_numpy(), name="rep_id"),
                         name=KEY_NAMES[by])

    return cached(ds, ("group_map", by), build)


def group_index(ds: Dataset, by: str) -> pd.Index:
    """Every group of a grouping, in first-seen order of the reps table."""
    gm = group_map(ds, by)
    return cached(ds, ("group_index", by),
                  lambda: pd.Index(pd.unique(gm.to_numpy()), name=KEY_NAMES[by]))


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


# --------------------------------------------------------------------------- per-dataset cache
_T = TypeVar("_T")
#: attribute of a :class:`Dataset` holding the cache (dropped when a dataset is pickled)
CACHE_ATTR = "_metrics_cache"


def cached(ds: Dataset, name: Hashable, build: Callable[[], _T]) -> _T:
    """Memoise something derived from the dataset (a frame, arrays, ...) on the dataset itself.

    Entries are keyed on the identity of the config and of every table: replacing a table
    (or the config) drops every entry at the next call, so a replaced table never sees
    stale results. The tables of a validated dataset are treated as read-only (metric
    functions never modify them). The cache lives on the dataset, so it never keeps
    another dataset alive and goes away with it. DataFrames and Series come back as
    shallow copies (copy-on-write: a caller adding columns never changes the cached one)
    and an Index as a copy (its name can be set); other values must be immutable
    (builders mark their numpy arrays read-only).
    """
    ident = (ds.config, *(ds.tables.get(t) for t in TABLE_NAMES))
    store = ds.__dict__.get(CACHE_ATTR)
    if store is None or any(a is not b for a, b in zip(store[0], ident, strict=True)):
        # the old entry holds references to the old tables, so their ids cannot be reused
        store = (ident, {})
        ds.__dict__[CACHE_ATTR] = store
    entries: dict[Hashable, Any] = store[1]
    if name not in entries:
        entries[name] = build()
    value = entries[name]
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy(deep=False)  # type: ignore[return-value]
    if isinstance(value, pd.Index):
        return value.copy()  # type: ignore[return-value]
    return value


def frozen(a: np.ndarray) -> np.ndarray:
    """``a`` marked read-only (arrays kept in the cache are shared between calls)."""
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------- integer rep codes
def reps_are_keys(ds: Dataset) -> bool:
    """Whether every rep id of the reps table is present and unique (a validated dataset).

    The fast paths count per rep with integer codes; on other data (``strict=False``)
    the metric functions take their pandas path, whose behaviour they define.
    """

    def build() -> bool:
        reps = ds.tables.get("reps")
        if reps is None or "rep_id" not in reps.columns:
            return False
        ids = reps["rep_id"]
        return bool(ids.notna().all() and ids.is_unique)

    return cached(ds, "reps_are_keys", build)


def unique_ids(ds: Dataset, table: str, column: str) -> bool:
    """Whether ``table.column`` is present, never missing and never repeated (cached).

    Fast paths that compute a per-id result once for every period rely on it; on other
    data (``strict=False``) the metric functions take their per-period pandas path.
    """
    df = ds.tables.get(table)
    if df is None or column not in df.columns:
        return False
    return cached(ds, ("unique_ids", table, column), lambda: all_distinct(df[column]))


def all_distinct(values: pd.Series) -> bool:
    """Whether ``values`` has no missing and no repeated value (cheaply for increasing ids).

    >>> all_distinct(pd.Series(["a", "b", "c"], dtype="str")), all_distinct(pd.Series(["b", "a", "b"]))
    (True, False)
    """
    if values.isna().any():
        return False
    return increasing_text(values) or bool(values.is_unique)


def codes_in(values: Any, universe: Any) -> np.ndarray:
    """Position of each of ``values`` in ``universe`` (distinct values), -1 when absent or missing.

    Exact equality, as ``Series.map`` / ``reindex`` match keys; arrow-backed strings go
    through ``pyarrow.compute.index_in`` (a hash of ``universe``, one pass over ``values``).

    >>> codes_in(pd.Series(["b", None, "x", "a"]), pd.Index(["a", "b"])).tolist()
    [1, -1, -1, 0]
    """
    vals = values if isinstance(values, pd.Series | pd.Index) else pd.Series(values)
    uni = universe if isinstance(universe, pd.Index) else pd.Index(universe)
    missing = vals.isna()
    missing = missing.to_numpy() if hasattr(missing, "to_numpy") else np.asarray(missing)
    if is_arrow_str(vals) and is_arrow_str(uni):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(vals.array)
        value_set = pa.array(uni.array).cast(arr.type)
        out = pc.index_in(arr, value_set=value_set, skip_nulls=True).fill_null(-1)
        codes = np.asarray(out, dtype=np.int64)
    else:
        codes = np.asarray(uni.get_indexer(vals), dtype=np.int64)
    if missing.any():
        codes[missing] = -1
    return codes


def is_arrow_str(x: Any) -> bool:
    """Whether ``x`` (Series, Index, array) holds pandas' default ``str`` dtype backed by
    pyarrow (NaN for missing), as every text column of a validated dataset does."""
    dtype = getattr(x, "dtype", None)
    return (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
        and dtype.na_value is not pd.NA
    )


def rep_codes(ds: Dataset, table: str, column: str = "rep_id") -> np.ndarray | None:
    """Per row of ``table``: the position of its rep in the reps table (-1: none / unknown).

    Cached per dataset; ``None`` when the reps table does not key the reps (see
    :func:`reps_are_keys`) or the column is absent.
    """
    if not reps_are_keys(ds):
        return None
    df = ds.tables.get(table)
    if df is None or column not in df.columns:
        return None

    def build() -> np.ndarray:
        return frozen(codes_in(df[column], pd.Index(ds.reps["rep_id"])))

    return cached(ds, ("rep_codes", table, column), build)


def group_of_rep(ds: Dataset, by: str) -> tuple[pd.Index, np.ndarray]:
    """The groups of ``by`` (:func:`group_index`) and, per rep of the reps table, its group's
    position in them. Only for datasets whose reps are keys (:func:`reps_are_keys`)."""
    index = group_index(ds, by)  # raises the usual errors (unknown grouping, no reps.team, ...)
    if by == "rep":
        return index, np.arange(len(index))

    def build() -> np.ndarray:
        labels = group_map(ds, by).reset_index(drop=True).astype(object)
        return frozen(codes_in(labels, index.astype(object)))

    return index, cached(ds, ("group_of_rep", by), build)


def count_codes(codes: np.ndarray, ds: Dataset, by: str, *, name: str | None = None) -> pd.Series:
    """Rows per group, from the rows' rep codes (:func:`rep_codes`; -1 rows are not counted).

    The same Series as :func:`count_by` / counting ``rep_id`` values: every group of
    :func:`group_index` present, 0 for a group without rows, dtype int64.
    """
    index, group = group_of_rep(ds, by)
    codes = codes[codes >= 0]
    counts = np.bincount(group[codes], minlength=len(index)).astype("int64")
    return pd.Series(counts, index=index, name=name)


def sum_codes(values: np.ndarray, codes: np.ndarray, ds: Dataset, by: str, *,
              name: str | None = None) -> pd.Series:
    """:func:`sum_by` from the rows' values and rep codes: each group's rows summed in row
    order by pandas' groupby sum (so bit for bit the same), 0.0 for a group without rows."""
    index, group = group_of_rep(ds, by)
    known = codes >= 0
    out = np.zeros(len(index))
    if known.any():
        sums = pd.Series(values[known]).groupby(group[codes[known]]).sum()
        out[sums.index.to_numpy()] = sums.to_numpy(dtype=float)
    return pd.Series(out, index=index, name=name)
