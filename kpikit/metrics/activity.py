"""Activity metrics: the leading indicators of ``shared/METRICS.md``.

Sections "Activity (leading)" and "Activity ratios (leading)": one pure
function per KPI, each registered in :data:`~kpikit.metrics.registry.REGISTRY`
under its id (the function name).

Conventions shared by every function here
-----------------------------------------
- **Period.** An activity belongs to the period that contains its
  ``occurred_at``; a lead to the period of its ``created_at``; an opportunity
  is *created* in the period of its ``created_at`` and *won* in the period when
  ``status`` is ``won`` and ``close_date`` falls in it.
- **Outbound.** ``direction == "outbound"``; a missing direction counts as
  outbound (the loader's default). A *touch* is any outbound activity, of any
  type. *Calls* are activities of type ``call``.
- **Spelling.** Activity types, directions and outcomes are compared as stored,
  in their canonical lower-case spelling (``call``, ``outbound``, ``held``,
  ``connected``): the loader canonicalises ``direction``; an importer maps a
  CRM's own labels onto the canonical types.
- **Held meeting.** An activity of type ``meeting`` whose ``outcome`` is
  ``held`` or not recorded: a meeting with another recorded outcome
  (``no_show``, ``booked``, ...) is not counted. A dataset without outcome data
  therefore counts every meeting as held.
- **Contact.** Prospecting metrics follow a *contact*: the activity's lead, or
  its account when it has no lead (account ids and lead ids never mix).
- **Attribution.** An activity counts for the rep who did it
  (``activities.rep_id``); a lead for its owner (``leads.rep_id``); an
  opportunity for its owner (``opportunities.rep_id``). With ``by="team"`` /
  ``"level"`` / ``"org"`` the rows are labelled with their group first, so rates
  pool successes and n and medians are true group medians (never averages of
  the reps' values).
- **Output.** Indexed by the grouping key with every group present (reps with no
  rows too): counts 0, rates and ratios NaN (shown "n/a").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kpikit.dataset import Dataset
from kpikit.errors import MissingDataError
from kpikit.metrics._common import (
    KEY_NAMES,
    as_period,
    attach_group,
    cached,
    codes_in,
    count_codes,
    frozen,
    group_index,
    group_map,
    group_of_rep,
    rep_codes,
    unique_ids,
)
from kpikit.metrics.funnel import HISTORY, has_lead_links, lead_funnel, stage_reach
from kpikit.metrics.registry import register
from kpikit.periods import Period
from kpikit.stats import rate_frame, ratio_frame

#: Buckets of :func:`touches_to_close`: outbound touches on a deal before it was won.
TOUCH_BUCKETS: tuple[str, ...] = ("0", "1", "2", "3", "4", "5-12", "13+")
_TOUCH_BINS = (-np.inf, 0, 1, 2, 3, 4, 12, np.inf)
#: Label of leads without a source in :func:`source_to_first_appointment`.
UNKNOWN_SOURCE = "(unknown)"


# ---------------------------------------------------------------------------
# private helpers
# ---------------------------------------------------------------------------
def _example_dataset() -> Dataset:
    """The tiny dataset the docstring examples use (two reps of team A, one of team B).

    October 2026: r1 calls lead L1 twice (one connected), emails it a content
    link (2 clicks, with collateral c1) and holds a one-hour meeting at key
    account K1 that wins O1 (5,000); r2 calls L2 once (no answer, account K2,
    not a key account); r3 does nothing.
    """
    reps = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "team": ["A", "A", "B"]})
    leads = pd.DataFrame({
        "lead_id": ["L1", "L2"],
        "rep_id": ["r1", "r2"],
        "created_at": ["2026-10-01 09:00", "2026-10-02 09:00"],
        "source": ["referral", "web"],
    })
    activities = pd.DataFrame({
        "activity_id": ["a1", "a2", "a3", "a4", "a5"],
        "rep_id": ["r1", "r1", "r1", "r1", "r2"],
        "type": ["call", "call", "email", "meeting", "call"],
        "occurred_at": ["2026-10-01 09:30", "2026-10-02 10:00", "2026-10-03 11:00",
                        "2026-10-06 14:00", "2026-10-05 12:00"],
        "outcome": ["no_answer", "connected", None, "held", "no_answer"],
        "lead_id": ["L1", "L1", "L1", "L1", "L2"],
        "content_links": [None, None, 1, None, None],
        "clicks": [None, None, 2, None, None],
        "collateral_id": [None, None, "c1", None, None],
        "account_id": [None, None, None, "K1", "K2"],
        "duration_min": [5.0, 12.0, None, 60.0, 1.0],
    })
    accounts = pd.DataFrame({"account_id": ["K1", "K2"], "key_account": [True, False]})
    opportunities = pd.DataFrame({
        "opportunity_id": ["O1"], "rep_id": ["r1"], "created_at": ["2026-10-02 10:00"],
        "stage": ["Won"], "amount": [5000.0], "close_date": ["2026-10-20"], "lead_id": ["L1"],
    })
    return Dataset.from_frames(
        reps=reps, leads=leads, activities=activities, opportunities=opportunities,
        accounts=accounts,
    )


# -- reading the tables ---------------------------------------------------------
def _activities(ds: Dataset, what: str) -> pd.DataFrame:
    ds.require("activities", what=what)
    return ds.activities  # type: ignore[return-value]


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """A column, or an all-missing one when the table does not have it."""
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype=object)


def _rows(df: pd.DataFrame, mask: pd.Series | np.ndarray, *columns: str) -> pd.DataFrame:
    """The ``mask`` rows of the ``columns`` that exist (never copies the other columns)."""
    return df.loc[mask, [c for c in columns if c in df.columns]]


def _arrow(values: object) -> pa.ChunkedArray | pa.Array | None:
    """The pyarrow data behind an arrow-backed string Series / Index, else ``None``."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pa.array(values.array)  # type: ignore[attr-defined]
    return None


def _value_set(universe: object, type_: pa.DataType) -> pa.Array:
    """``universe`` (Series, Index, array or list of ids) as a pyarrow array without nulls."""
    arr = _arrow(universe)
    if arr is None:
        values = np.asarray(list(universe) if isinstance(universe, set | frozenset)
                            else universe, dtype=object)
        arr = pa.array(values, from_pandas=True) if len(values) else pa.array([], type=type_)
        if arr.type == pa.null():
            arr = pa.array([], type=type_)
    return pc.drop_null(arr).cast(type_)


def _positions(values: pd.Series, universe: pd.Index | pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (distinct values), -1 when absent.

    One hash pass over ``values``. Arrow-backed strings go through
    ``pyarrow.compute`` (``Series.isin`` with a large arrow value list converts
    every value in Python, and conversions to object arrays cost as much as the work).
    """
    arr = _arrow(values)
    if arr is not None:
        found = pc.index_in(arr, value_set=_value_set(universe, arr.type)).fill_null(-1)
        return np.asarray(found, dtype=np.int64)
    uni = pd.Index(np.asarray(universe, dtype=object), dtype=object)
    return uni.get_indexer(values.astype(object))


def _isin(values: pd.Series, universe: object) -> np.ndarray:
    """Boolean mask ``values in universe`` (a missing value never matches)."""
    arr = _arrow(values)
    if arr is not None:
        return np.asarray(pc.is_in(arr, value_set=_value_set(universe, arr.type)), dtype=bool)
    uni = list(universe) if isinstance(universe, set | frozenset) else universe
    return values.isin(pd.Series(np.asarray(uni, dtype=object)).dropna()).to_numpy(dtype=bool)


def _lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``mapping[key]`` for each key, aligned to ``keys`` (missing where absent).

    ``mapping`` must have a unique index.
    """
    pos = _positions(keys, mapping.index)
    return pd.Series(mapping.array.take(pos, allow_fill=True), index=keys.index)


# -- classifying activities -------------------------------------------------------
def _is_type(df: pd.DataFrame, *types: str) -> pd.Series:
    return df["type"].isin(types)


def _is_outbound(df: pd.DataFrame) -> pd.Series:
    if "direction" not in df.columns:
        return pd.Series(True, index=df.index)
    d = df["direction"]
    return d.isna() | (d == "outbound")


def _is_held_meeting(df: pd.DataFrame) -> pd.Series:
    meeting = df["type"] == "meeting"
    if "outcome" not in df.columns:
        return meeting
    outcome = df["outcome"]
    return meeting & (outcome.isna() | (outcome == "held"))


def _in_period(df: pd.DataFrame, p: Period) -> pd.Series:
    return p.contains(df["occurred_at"])


# -- the activity index (speed) -------------------------------------------------------
# Millions of activities and every KPI for every period: the period-independent work
# (sorting by time, integer codes for reps and types, flags) is done once per dataset
# (kpikit.metrics._common.cached) and a period becomes a slice of the time-sorted rows.
# The pandas code above stays the reference (and the path taken for data whose reps
# are not unique ids or whose occurred_at is not a naive datetime64 column).
def _is_naive_datetime(s: pd.Series) -> bool:
    return isinstance(s.dtype, np.dtype) and s.dtype.kind == "M"


def _bound(ts: pd.Timestamp, unit: str) -> int:
    """A period bound as an integer in the time unit of a datetime64 column."""
    return int(np.datetime64(ts.to_datetime64(), unit).astype(np.int64))


@dataclass(frozen=True)
class _ActIndex:
    """The activities sorted by ``occurred_at`` (stable), as read-only arrays.

    ``pos`` is the table row of each sorted row, ``t`` its time as an integer in
    ``unit`` (NaT first, so never inside a period), ``rep`` its rep's position in the
    reps table (-1: none), ``kind`` its type's code in ``types``, and the flags of
    :func:`_is_outbound` and :func:`_is_held_meeting`.
    """

    pos: np.ndarray
    t: np.ndarray
    unit: str
    rep: np.ndarray
    kind: np.ndarray
    types: dict[object, int]
    outbound: np.ndarray
    held: np.ndarray
    in_order: bool = False  # the table itself is in time order (pos is 0, 1, 2, ...)

    def span(self, p: Period) -> slice:
        """The sorted rows whose time falls inside the period."""
        lo, hi = np.searchsorted(self.t, [_bound(p.start, self.unit), _bound(p.end, self.unit)])
        return slice(int(lo), int(hi))

    def is_type(self, sl: slice, *types: str) -> np.ndarray:
        """Mask of the rows of ``sl`` whose type is one of ``types``."""
        codes = [self.types[t] for t in types if t in self.types]
        kind = self.kind[sl]
        if len(codes) == 1:
            return kind == codes[0]
        return np.isin(kind, codes)

    def rows(self, sl: slice, mask: np.ndarray) -> np.ndarray:
        """Table rows of the ``mask`` rows of ``sl``, in table order."""
        return np.sort(self.pos[sl][mask])


def _act_index(ds: Dataset) -> _ActIndex | None:
    """The activity index of the dataset (cached), or ``None`` when the fast paths do not apply."""
    act = ds.tables.get("activities")
    if act is None or not {"rep_id", "type", "occurred_at"} <= set(act.columns):
        return None
    if not _is_naive_datetime(act["occurred_at"]):
        return None
    codes = rep_codes(ds, "activities")
    if codes is None:
        return None

    def build() -> _ActIndex:
        when = act["occurred_at"].to_numpy()
        t = when.view(np.int64)
        in_order = bool((t[1:] >= t[:-1]).all())  # tables are often stored in time order
        order = np.arange(len(t)) if in_order else np.argsort(t, kind="stable")

        def sort(a: np.ndarray) -> np.ndarray:
            return a if in_order else a[order]

        kind, uniques = pd.factorize(act["type"])
        return _ActIndex(
            pos=frozen(order),
            t=frozen(sort(t)),
            unit=np.datetime_data(when.dtype)[0],
            rep=frozen(sort(codes)),
            kind=frozen(sort(kind)),
            types={u: i for i, u in enumerate(uniques)},
            outbound=frozen(sort(np.asarray(_is_outbound(act), dtype=bool))),
            held=frozen(sort(np.asarray(_is_held_meeting(act), dtype=bool))),
            in_order=in_order,
        )

    return cached(ds, "activity_index", build)


def _act_sorted(ds: Dataset, ix: _ActIndex, name: str,
                values: Callable[[pd.DataFrame], object]) -> np.ndarray:
    """A per-activity array (``values(activities)``, table order) in the index's time order."""
    act = ds.activities

    def build() -> np.ndarray:
        a = np.asarray(values(act))
        return frozen(a if ix.in_order else a[ix.pos])

    return cached(ds, ("activity_sorted", name), build)


def _rows_at(df: pd.DataFrame, rows: np.ndarray, *columns: str) -> pd.DataFrame:
    """The table ``rows`` (positions, in table order) of the ``columns`` that exist: the
    frame :func:`_rows` gives for the matching mask."""
    return df[[c for c in columns if c in df.columns]].take(rows)


# -- grouping -----------------------------------------------------------------------
def _regroup(per_rep: pd.Series, ds: Dataset, by: str, fill: float | int = 0) -> pd.Series:
    """Sum a per-rep Series (index rep_id) into the groups of ``by``, every group present."""
    index = group_index(ds, by)
    if by != "rep" and len(per_rep):
        labels = per_rep.index.map(group_map(ds, by))
        per_rep = per_rep.groupby(np.asarray(labels, dtype=object)).sum()
    out = per_rep.reindex(index, fill_value=fill)
    out.index = index
    return out


def _count(df: pd.DataFrame, ds: Dataset, by: str, name: str | None = None) -> pd.Series:
    """Rows of ``df`` per group of its ``rep_id`` (0 for groups without rows)."""
    per_rep = df["rep_id"].value_counts(sort=False) if len(df) else pd.Series(dtype="int64")
    out = _regroup(per_rep, ds, by).astype("int64")
    out.name = name
    return out


def _sum(values: pd.Series, df: pd.DataFrame, ds: Dataset, by: str,
         name: str | None = None) -> pd.Series:
    """Sum of ``values`` (aligned to df rows) per group of df's ``rep_id`` (0.0 when none)."""
    if len(df):
        per_rep = pd.Series(np.asarray(values, dtype=float), index=df.index).groupby(
            df["rep_id"]).sum()
    else:
        per_rep = pd.Series(dtype=float)
    out = _regroup(per_rep, ds, by, fill=0.0).astype(float)
    out.name = name
    return out


def _median_by(values: pd.Series, df: pd.DataFrame, ds: Dataset, by: str, name: str) -> pd.Series:
    """Median of ``values`` over the rows of each group (a true group median, NaN when none)."""
    keys = attach_group(df, ds, by)
    out = values.groupby(keys).median() if len(df) else pd.Series(dtype=float)
    out = out.reindex(group_index(ds, by)).astype(float)
    out.name = name
    return out


def _distinct_count(rep_ids: object, codes: np.ndarray, ds: Dataset, by: str) -> pd.Series:
    """Distinct ``codes`` per group (a contact two reps of a team touched counts once)."""
    pairs = pd.DataFrame({"rep_id": rep_ids, "code": codes}).drop_duplicates()
    if by == "rep":
        return _count(pairs, ds, by)
    groups = pd.DataFrame({"g": attach_group(pairs, ds, by).array, "code": pairs["code"].array})
    counts = groups.dropna().drop_duplicates()["g"].value_counts(sort=False)
    return counts.reindex(group_index(ds, by), fill_value=0).astype("int64")


def _distinct_contacts(rep: np.ndarray, code: np.ndarray, n: int, ds: Dataset,
                       by: str) -> pd.Series:
    """:func:`_distinct_count` from rep codes and contact codes (``n`` contacts)."""
    index, group = group_of_rep(ds, by)
    known = rep >= 0
    g = group[rep[known]]
    pairs = pd.unique(g.astype(np.int64) * n + code[known])
    counts = np.bincount(pairs // max(n, 1), minlength=len(index)).astype("int64")
    return pd.Series(counts, index=index, name=None if by == "rep" else "count")


def _grid(ds: Dataset, by: str, levels: Iterable[str], level_name: str) -> pd.MultiIndex:
    return pd.MultiIndex.from_product(
        [group_index(ds, by), list(levels)], names=[KEY_NAMES[by], level_name]
    )


def _grid_counts(df: pd.DataFrame, column: str, grid: pd.MultiIndex, ds: Dataset,
                 by: str) -> pd.Series:
    """Rows of ``df`` per (group, ``df[column]``) on ``grid``, 0 where none."""
    if len(df):
        keys = attach_group(df, ds, by).to_numpy(dtype=object)
        counts = df.groupby([keys, df[column].to_numpy(dtype=object)]).size()
        counts.index = counts.index.set_names(grid.names)
    else:
        counts = pd.Series(dtype="int64")
    return counts.reindex(grid, fill_value=0).astype("int64")


def _earliest(codes: np.ndarray, times: np.ndarray, *tiebreaks: object) -> np.ndarray:
    """Mark one row per code: the earliest by ``times``, ties broken by ``tiebreaks`` in turn.

    Vectorised; the tie-breaking sort only runs over the rows tied at their
    code's earliest time, so the answer never depends on the input row order.
    ``tiebreaks`` are arrays (numpy or pandas) aligned to ``codes``.
    """
    n = len(codes)
    if not n:
        return np.zeros(n, dtype=bool)
    tmin = pd.Series(times).groupby(codes).transform("min").to_numpy()
    return _one_per_code(codes, np.flatnonzero(times == tmin), *tiebreaks)


def _one_per_code(codes: np.ndarray, candidates: np.ndarray, *tiebreaks: object) -> np.ndarray:
    """Mark one of the ``candidates`` rows (positions) per code: its only one, else the first
    by ``tiebreaks`` in turn (then row order), as :func:`_earliest` breaks ties."""
    first = np.zeros(len(codes), dtype=bool)
    cc = codes[candidates]
    ties = np.bincount(cc)[cc] > 1
    first[candidates[~ties]] = True
    tied = candidates[ties]
    if len(tied):
        keys = {f"t{i}": np.asarray(tb[tied], dtype=object)  # type: ignore[index]
                for i, tb in enumerate(tiebreaks)}
        sub = pd.DataFrame({"c": codes[tied], **keys, "i": tied})
        sub = sub.sort_values(["c", *keys])
        first[sub.drop_duplicates("c")["i"].to_numpy()] = True
    return first


# -- periods of opportunities -------------------------------------------------------
def _opps_created(ds: Dataset, p: Period) -> pd.DataFrame:
    opps = ds.opportunities
    return _rows(opps, p.contains(opps["created_at"]), "opportunity_id", "rep_id")


def _won_in_period(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    """Opportunities with status ``won`` and ``close_date`` in the period."""
    ds.require("opportunities.close_date", what=what)
    opps = ds.opportunities
    won = (_column(opps, "status") == "won") & p.contains(opps["close_date"])
    return _rows(opps, won, "opportunity_id", "rep_id", "amount", "close_date", "lead_id")


# -- contacts (prospecting) -------------------------------------------------------
def _contact_touches(ds: Dataset, p: Period, what: str, *, later: bool = False) -> pd.DataFrame:
    """Outbound touches in the period on a contact, flagged with the contact's history.

    Columns: ``rep_id``, ``code`` (an integer per contact: a lead, or an account
    for touches without a lead), ``touches`` (the contact's outbound touches in
    the period), ``first`` (this row is the contact's first outbound touch
    ever) and, with ``later=True``, ``later`` (the contact has an outbound
    touch after the period).
    """
    act = _activities(ds, what)
    if not (ds.has("activities", "lead_id") or ds.has("activities", "account_id")):
        raise MissingDataError("activities.lead_id or activities.account_id", what)
    lead = _column(act, "lead_id")
    account = _column(act, "account_id")
    t = act["occurred_at"]
    out = _is_outbound(act).to_numpy()
    no_lead = lead.isna().to_numpy()
    cur = (out & (~no_lead | account.notna().to_numpy()) & _in_period(act, p).to_numpy())
    lead_codes, leads_seen = pd.factorize(lead[cur])
    acc_codes, accounts_seen = pd.factorize(account[cur].where(no_lead[cur]))
    codes = np.where(lead_codes >= 0, lead_codes, len(leads_seen) + acc_codes)
    n_codes = len(leads_seen) + len(accounts_seen)

    def touched(mask: np.ndarray) -> np.ndarray:
        """Per contact code: does it have an outbound touch among the ``mask`` rows?"""
        hit = np.zeros(n_codes, dtype=bool)
        for col, rows, offset, seen in (
            (lead, mask & ~no_lead, 0, leads_seen),
            (account, mask & no_lead, len(leads_seen), accounts_seen),
        ):
            if len(seen) and rows.any():
                pos = _positions(col, seen)
                pos = pos[rows & (pos >= 0)]
                hit[offset + pos] = True
        return hit

    times = t[cur].to_numpy()
    before = touched(out & (t < p.start).to_numpy())
    first = _earliest(codes, times, act["activity_id"][cur].array) & ~before[codes]
    frame = pd.DataFrame({
        "rep_id": act["rep_id"][cur].array,
        "code": codes,
        "touches": np.bincount(codes, minlength=n_codes)[codes],
        "first": first,
    })
    if later:
        frame["later"] = touched(out & (t >= p.end).to_numpy())[codes]
    return frame


@dataclass(frozen=True)
class _ContactIndex:
    """Every outbound touch on a contact with a time, sorted by time (the fast path of
    :func:`_contact_touches`, built once per dataset).

    ``code`` numbers the contacts (leads, then accounts of touches without a lead),
    ``first`` marks each contact's first outbound touch ever (as :func:`_earliest` picks
    it), ``last`` holds each contact's latest touch time. A contact's first touch falls in
    a period exactly when it has no touch before the period, so the per-period flags of
    :func:`_contact_touches` follow from these without looking at other periods.
    """

    t: np.ndarray
    rep: np.ndarray
    code: np.ndarray
    first: np.ndarray
    last: np.ndarray
    n: int

    def span(self, p: Period, unit: str) -> slice:
        lo, hi = np.searchsorted(self.t, [_bound(p.start, unit), _bound(p.end, unit)])
        return slice(int(lo), int(hi))


class _Take:
    """``values[rows[i]]`` on demand (tie-breaking values for :func:`_earliest`)."""

    def __init__(self, values: object, rows: np.ndarray):
        self.values, self.rows = values, rows

    def __getitem__(self, i: np.ndarray) -> object:
        return self.values[self.rows[i]]  # type: ignore[index]


def _contact_index(ds: Dataset, ix: _ActIndex) -> _ContactIndex:
    def build() -> _ContactIndex:
        act = ds.activities
        lead = _column(act, "lead_id")
        account = _column(act, "account_id")
        codes, leads = pd.factorize(lead)
        acc_codes, accounts = pd.factorize(account)
        # a touch's contact: its lead, else its account (codes after the leads' codes)
        no_lead = np.flatnonzero(codes < 0)
        acc = acc_codes[no_lead]
        codes[no_lead] = np.where(acc >= 0, acc + len(leads), -1)
        keep = ix.outbound & (ix.t != np.iinfo(np.int64).min)
        keep &= (codes[ix.pos] if not ix.in_order else codes) >= 0
        rows = ix.pos[keep]
        t, code = ix.t[keep], codes[rows]
        n = len(leads) + len(accounts)
        last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, code, t)
        # rows are in time order: a contact's earliest time is that of its first row, and
        # _earliest only has to break ties among the rows at that time
        seen_first = ~pd.Series(code).duplicated().to_numpy()
        earliest = np.zeros(n, dtype=np.int64)
        earliest[code[seen_first]] = t[seen_first]
        at_min = np.flatnonzero(t == earliest[code])
        first = _one_per_code(code, at_min, _Take(act["activity_id"].array, rows))
        return _ContactIndex(t=frozen(t), rep=frozen(ix.rep[keep]), code=frozen(code),
                             first=frozen(first), last=frozen(last), n=n)

    return cached(ds, "contact_index", build)


def _contact_span(ds: Dataset, p: Period, what: str) -> tuple[_ContactIndex, slice, int] | None:
    """Fast path of :func:`_contact_touches` (after its checks): the contact index, the
    period's slice of it and the period's end as an integer time; ``None`` when it does
    not apply."""
    act = _activities(ds, what)
    if not (ds.has("activities", "lead_id") or ds.has("activities", "account_id")):
        raise MissingDataError("activities.lead_id or activities.account_id", what)
    ix = _act_index(ds)
    if ix is None or "activity_id" not in act.columns:
        return None
    ci = _contact_index(ds, ix)
    return ci, ci.span(p, ix.unit), _bound(p.end, ix.unit)


# -- leads and response time ------------------------------------------------------
def _response_hours(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    """Leads created in the period with ``hours`` to first response (NaN: never answered)."""
    ds.require("leads", what=what)
    has_fr = ds.has("leads", "first_response_at")
    has_act = ds.has("activities", "lead_id")
    if not (has_fr or has_act):
        raise MissingDataError("leads.first_response_at or activities.lead_id", what)
    leads = ds.leads
    columns = ("lead_id", "rep_id", "created_at", "first_response_at")
    if unique_ids(ds, "leads", "lead_id") and _is_naive_datetime(leads["created_at"]):
        # a lead's response time does not depend on the period: computed once for all leads
        hours = cached(ds, "response_hours", lambda: frozen(_hours_to_response(
            ds, _rows(leads, slice(None), *columns), has_fr, has_act).to_numpy()))
        rows = np.flatnonzero(p.contains(leads["created_at"]).to_numpy())
        return leads[["lead_id", "rep_id"]].take(rows).assign(hours=hours[rows])
    cohort = _rows(leads, p.contains(leads["created_at"]), *columns)
    hours = _hours_to_response(ds, cohort, has_fr, has_act, since=p.start)
    return cohort[["lead_id", "rep_id"]].assign(hours=hours)


def _hours_to_response(ds: Dataset, cohort: pd.DataFrame, has_fr: bool, has_act: bool,
                       since: pd.Timestamp | None = None) -> pd.Series:
    """Hours from each ``cohort`` lead's creation to its first response (see
    :func:`lead_response_time_h`); ``since`` (a time before every lead of the cohort)
    narrows the activities searched. Without ``since``, the cohort's lead ids must be
    unique (every lead of a dataset whose lead ids are)."""
    created = cohort["created_at"]
    response = _column(cohort, "first_response_at") if has_fr else pd.Series(
        pd.NaT, index=cohort.index)
    response = pd.to_datetime(response).astype(created.dtype)
    if has_act and response.isna().any() and since is None and _act_index(ds) is not None \
            and _is_naive_datetime(created):
        # every lead at once (unique lead ids): integer codes instead of a merge on the ids
        act = ds.activities
        waiting = np.flatnonzero(response.isna().to_numpy())
        code = codes_in(act["lead_id"], pd.Index(cohort["lead_id"].iloc[waiting]))
        touch = np.flatnonzero((code >= 0) & np.asarray(_is_outbound(act), dtype=bool))
        at = act["occurred_at"].to_numpy()[touch]
        code = code[touch]
        after = at >= created.to_numpy()[waiting][code]
        first = np.full(len(waiting), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, code[after], at[after].view(np.int64))
        first[first == np.iinfo(np.int64).max] = np.iinfo(np.int64).min  # NaT: never answered
        fallback = np.full(len(cohort), np.iinfo(np.int64).min, dtype=np.int64)
        fallback[waiting] = first
        fallback_at = pd.Series(fallback.view(at.dtype), index=cohort.index)
        response = response.fillna(fallback_at.astype(created.dtype))
    elif has_act and response.isna().any():
        act = ds.activities
        waiting = cohort.loc[response.isna(), ["lead_id", "created_at"]]
        near = _isin(act["lead_id"], waiting["lead_id"])
        if since is not None:
            near &= (act["occurred_at"] >= since).to_numpy()
        touches = _rows(act, near, "lead_id", "occurred_at", "direction")
        touches = touches[_is_outbound(touches)]
        joined = touches[["lead_id", "occurred_at"]].merge(waiting, on="lead_id")
        joined = joined[joined["occurred_at"] >= joined["created_at"]]
        first_touch = joined.groupby("lead_id")["occurred_at"].min()
        fallback = _lookup(cohort["lead_id"], first_touch)
        response = response.fillna(pd.to_datetime(fallback).astype(created.dtype))
    hours = ((response - created).dt.total_seconds() / 3600.0).clip(lower=0.0)
    return hours.astype(float)


# -- appointments -------------------------------------------------------------------
def _lead_stages(ds: Dataset) -> pd.DataFrame | None:
    """Per lead (:func:`kpikit.metrics.funnel.lead_funnel`): its opportunity, owner and
    when that reached the meeting / proposal stage; ``None`` without lead links."""
    if not has_lead_links(ds):
        return None
    return lead_funnel(ds)


def _opp_to_lead(ds: Dataset, stages: pd.DataFrame | None) -> pd.Series:
    """opportunity_id -> the lead it came from (the funnel's link; else opportunities.lead_id).

    Several leads of one opportunity: the smallest lead_id.
    """
    return cached(ds, ("opp_to_lead", stages is None), lambda: _opp_lead_pairs(ds, stages))


def _opp_lead_pairs(ds: Dataset, stages: pd.DataFrame | None) -> pd.Series:
    if stages is not None:
        opp, lead = stages["opportunity_id"], stages.index.to_series()
    elif ds.has("opportunities", "lead_id"):
        opp, lead = ds.opportunities["opportunity_id"], ds.opportunities["lead_id"]
    else:
        return pd.Series(dtype=object)
    keep = (opp.notna() & lead.notna()).to_numpy()
    out = pd.Series(lead[keep].array, index=pd.Index(opp[keep].array))
    if out.index.has_duplicates:
        pairs = pd.DataFrame({"o": out.index.array, "l": out.array}).sort_values(["o", "l"])
        pairs = pairs.drop_duplicates("o")
        out = pd.Series(pairs["l"].array, index=pd.Index(pairs["o"].array))
    return out


def _lead_key(df: pd.DataFrame, opp_lead: pd.Series) -> pd.Series:
    """The lead each activity is about: its lead_id, else its opportunity's lead."""
    lead = _column(df, "lead_id")
    if "opportunity_id" in df.columns and len(opp_lead):
        missing = lead.isna().to_numpy()
        if missing.any():
            lead = lead.fillna(_lookup(df["opportunity_id"][missing], opp_lead))
    return lead


def _from_history(ds: Dataset, opportunity_ids: pd.Series) -> np.ndarray:
    """Whether each opportunity's stage reach times come from ``stage_history``."""
    reach = stage_reach(ds)
    basis = reach.loc[~reach.index.duplicated(), "basis"]
    return (_lookup(opportunity_ids, basis) == HISTORY).to_numpy(dtype=bool, na_value=False)


def _appointment_events(ds: Dataset, what: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every appointment event of a lead, and the lead stage frame (``_lead_stages``).

    Events (columns ``lead``, ``at``, ``rep_id``, ``order``, ``tie``): an
    ``appointment_set`` activity or a held meeting on the lead (directly or on
    its opportunity), and its opportunity reaching the meeting stage
    (``stages.meeting``, by the funnel's reach rules; the opportunity's owner).
    ``order`` (activities first) and ``tie`` (activity / opportunity id) break
    ties between events at the same time.
    """
    act = _activities(ds, what)
    if not (ds.has("activities", "lead_id") or ds.has("activities", "opportunity_id")):
        raise MissingDataError("activities.lead_id or activities.opportunity_id", what)
    stages = _lead_stages(ds)
    events = cached(ds, "appointment_events", lambda: _events(ds, act, stages))
    return events, stages


def _events(ds: Dataset, act: pd.DataFrame, stages: pd.DataFrame | None) -> pd.DataFrame:
    opp_lead = _opp_to_lead(ds, stages)
    appt = _rows(act, _is_type(act, "appointment_set", "meeting"), "activity_id", "rep_id",
                 "type", "occurred_at", "outcome", "lead_id", "opportunity_id")
    appt = appt[(appt["type"] == "appointment_set") | _is_held_meeting(appt)]
    parts = [pd.DataFrame({
        "lead": _lead_key(appt, opp_lead).array,
        "at": appt["occurred_at"].array,
        "rep_id": appt["rep_id"].array,
        "order": 0,
        "tie": appt["activity_id"].array,
    })]
    if stages is not None:
        met = stages[stages["meeting_at"].notna()]
        owner = met["opp_rep_id"].where(met["opp_rep_id"].notna(), met["rep_id"])
        # a reach time from the current-stage fallback is the creation time, not the meeting's
        at = met["meeting_at"].where(_from_history(ds, met["opportunity_id"]))
        parts.append(pd.DataFrame({
            "lead": met.index.array,
            "at": at.astype(parts[0]["at"].dtype).array,
            "rep_id": owner.array,
            "order": 1,
            "tie": met["opportunity_id"].array,
        }))
    events = pd.concat(parts, ignore_index=True)
    return events[events["lead"].notna()]


def _all_first_appointments(ds: Dataset, what: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every lead's first appointment event (``lead``, ``at``, ``rep_id``), and the stages."""
    events, stages = _appointment_events(ds, what)

    def build() -> pd.DataFrame:
        ev = events[events["at"].notna()]
        codes, _ = pd.factorize(ev["lead"])
        return ev[_earliest(codes, ev["at"].to_numpy(), ev["order"].to_numpy(), ev["tie"].array)]

    return cached(ds, "first_appointments", build), stages


def _first_appointments(ds: Dataset, p: Period, what: str
                        ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Leads whose first appointment event falls in the period (``lead``, ``at``, ``rep_id``)."""
    first, stages = _all_first_appointments(ds, what)
    return first[p.contains(first["at"])], stages


def _outbound_in_period(ds: Dataset, p: Period, what: str, *columns: str) -> pd.DataFrame:
    """Outbound activities in the period: ``rep_id`` and ``columns``."""
    act = _activities(ds, what)
    return _rows(act, _in_period(act, p) & _is_outbound(act), "rep_id", *columns)


def _outbound_count(ds: Dataset, p: Period, by: str, what: str) -> pd.Series:
    """Outbound activities in the period per group (``_count`` of :func:`_outbound_in_period`)."""
    act = _activities(ds, what)
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(p)
        return count_codes(ix.rep[sl][ix.outbound[sl]], ds, by)
    return _count(_rows(act, _in_period(act, p) & _is_outbound(act), "rep_id"), ds, by)


def _type_count(ds: Dataset, period: Period | str, by: str, what: str, type_: str,
                *, outbound: bool = True) -> pd.Series:
    p = as_period(period)
    act = _activities(ds, what)
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(p)
        sel = ix.is_type(sl, type_)
        if outbound:
            sel &= ix.outbound[sl]
        return count_codes(ix.rep[sl][sel], ds, by, name=what)
    mask = _in_period(act, p) & (act["type"] == type_)
    if outbound:
        mask &= _is_outbound(act)
    return _count(_rows(act, mask, "rep_id"), ds, by, name=what)


# ---------------------------------------------------------------------------
# Activity (leading): counts
# ---------------------------------------------------------------------------
@register(
    "calls_made",
    name="Calls made",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="outbound activities of type call in the period",
    needs=("activities",),
)
def calls_made(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Outbound calls in the period.

    ``calls_made = #{activities: type = call, outbound, occurred_at in period}``

    >>> calls_made(_example_dataset(), "2026-10").to_dict()
    {'r1': 2, 'r2': 1, 'r3': 0}
    >>> calls_made(_example_dataset(), "2026-10", by="team").to_dict()
    {'A': 3, 'B': 0}
    """
    return _type_count(ds, period, by, "calls_made", "call")


@register(
    "prospects_approached",
    name="Prospects approached",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="distinct contacts (lead, or account without lead) whose first outbound touch ever "
            "falls in the period",
    needs=("activities",),
)
def prospects_approached(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """New contacts approached: distinct leads / accounts first touched in the period.

    A contact is the activity's lead, or its account when it has no lead. It
    counts in the period of its *first outbound touch ever* (earlier periods
    included), for the rep who made that touch (ties at the same instant go to
    the smaller ``activity_id``). A lead touched again this month but first
    touched last month is not a new prospect.

    ``prospects_approached = #{contacts: min(outbound occurred_at) in period}``

    Needs ``activities.lead_id`` or ``activities.account_id``.

    >>> prospects_approached(_example_dataset(), "2026-10").to_dict()
    {'r1': 1, 'r2': 1, 'r3': 0}
    """
    what = "prospects_approached"
    fast = _contact_span(ds, as_period(period), what)
    if fast is not None:
        ci, sl, _ = fast
        return count_codes(ci.rep[sl][ci.first[sl]], ds, by, name=what)
    cur = _contact_touches(ds, as_period(period), what)
    return _count(cur[cur["first"]], ds, by, name=what)


@register(
    "emails_sent",
    name="Emails sent",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="outbound activities of type email in the period",
    needs=("activities",),
)
def emails_sent(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Outbound emails in the period.

    ``emails_sent = #{activities: type = email, outbound, occurred_at in period}``

    >>> emails_sent(_example_dataset(), "2026-10").to_dict()
    {'r1': 1, 'r2': 0, 'r3': 0}
    """
    return _type_count(ds, period, by, "emails_sent", "email")


@register(
    "meetings_held",
    name="Meetings held",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="activities of type meeting with outcome held (or no outcome recorded) in the period",
    needs=("activities",),
)
def meetings_held(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Meetings held in the period, in either direction.

    A meeting counts when its ``outcome`` is ``held`` or was not recorded; a
    meeting with another recorded outcome (``no_show``, ``booked``,
    ``cancelled``, ...) does not. A dataset whose activities have no outcome
    data therefore counts every meeting.

    ``meetings_held = #{activities: type = meeting, outcome in (held, missing), in period}``

    >>> meetings_held(_example_dataset(), "2026-10").to_dict()
    {'r1': 1, 'r2': 0, 'r3': 0}
    """
    p = as_period(period)
    act = _activities(ds, "meetings_held")
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(p)
        return count_codes(ix.rep[sl][ix.held[sl]], ds, by, name="meetings_held")
    held = _rows(act, _in_period(act, p) & _is_held_meeting(act), "rep_id")
    return _count(held, ds, by, name="meetings_held")


@register(
    "appointments_set",
    name="Appointments set",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="activities of type appointment_set in the period (either direction)",
    needs=("activities",),
)
def appointments_set(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Appointments booked in the period, in either direction.

    An appointment booked on an inbound call is still one the rep set, so the
    direction is not filtered (unlike calls, emails, LinkedIn and social).

    ``appointments_set = #{activities: type = appointment_set, occurred_at in period}``

    >>> appointments_set(_example_dataset(), "2026-10").to_dict()
    {'r1': 0, 'r2': 0, 'r3': 0}
    """
    return _type_count(ds, period, by, "appointments_set", "appointment_set", outbound=False)


@register(
    "linkedin_requests",
    name="LinkedIn requests",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="outbound activities of type linkedin in the period",
    needs=("activities",),
)
def linkedin_requests(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Outbound LinkedIn requests / messages in the period.

    ``linkedin_requests = #{activities: type = linkedin, outbound, occurred_at in period}``

    >>> linkedin_requests(_example_dataset(), "2026-10").to_dict()
    {'r1': 0, 'r2': 0, 'r3': 0}
    """
    return _type_count(ds, period, by, "linkedin_requests", "linkedin")


@register(
    "social_touches",
    name="Social touches",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="outbound activities of type social in the period",
    needs=("activities",),
)
def social_touches(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Outbound social-media touches in the period.

    ``social_touches = #{activities: type = social, outbound, occurred_at in period}``

    >>> social_touches(_example_dataset(), "2026-10").to_dict()
    {'r1': 0, 'r2': 0, 'r3': 0}
    """
    return _type_count(ds, period, by, "social_touches", "social")


@register(
    "proposals_sent",
    name="Proposals sent",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="outbound activities of type proposal_sent in the period",
    needs=("activities",),
)
def proposals_sent(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Proposals sent in the period.

    ``proposals_sent = #{activities: type = proposal_sent, outbound, occurred_at in period}``

    >>> proposals_sent(_example_dataset(), "2026-10").to_dict()
    {'r1': 0, 'r2': 0, 'r3': 0}
    """
    return _type_count(ds, period, by, "proposals_sent", "proposal_sent")


# ---------------------------------------------------------------------------
# Activity (leading): follow-up and response
# ---------------------------------------------------------------------------
@register(
    "follow_ups_per_contact",
    name="Follow-ups per contact",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="outbound touches in the period that are not the contact's first touch ever / "
            "distinct contacts touched in the period",
    needs=("activities",),
)
def follow_ups_per_contact(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Follow-up touches per contact worked in the period.

    Numerator: outbound touches in the period that are *not* their contact's
    first outbound touch ever (a touch on a lead first reached last month is a
    follow-up). Denominator: distinct contacts (lead, or account without lead)
    the group touched in the period. The window is the period itself, so every
    number is final once the period is over.

    ``follow_ups_per_contact = (touches - first touches) / distinct contacts``

    >>> r = follow_ups_per_contact(_example_dataset(), "2026-10")
    >>> r.loc["r1"].tolist(), float(r.loc["r3", "value"])
    ([3.0, 3.0, 1.0], nan)
    """
    what = "follow_ups_per_contact"
    fast = _contact_span(ds, as_period(period), what)
    if fast is not None:
        ci, sl, _ = fast
        rep, code = ci.rep[sl], ci.code[sl]
        follow_ups = count_codes(rep[~ci.first[sl]], ds, by)
        return ratio_frame(follow_ups, _distinct_contacts(rep, code, ci.n, ds, by))
    cur = _contact_touches(ds, as_period(period), what)
    follow_ups = _count(cur[~cur["first"]], ds, by)
    contacts = _distinct_count(cur["rep_id"].array, cur["code"].to_numpy(), ds, by)
    return ratio_frame(follow_ups, contacts)


@register(
    "pct_leads_followed_up",
    name="Leads followed up",
    theme="activity",
    indicator="leading",
    unit="fraction",
    formula="contacts first touched in the period that got a second outbound touch (any time) / "
            "contacts first touched in the period",
    needs=("activities",),
)
def pct_leads_followed_up(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of new contacts that got a second outbound touch (benchmark: 48% of reps never do).

    Cohort (n): contacts whose first outbound touch ever is in the period, for
    the rep of that touch (as :func:`prospects_approached`). Success: the
    contact has a second outbound touch, by anyone, at any time up to the end of
    the data (cohort basis, like the conversion rates). A recent period is
    therefore immature: contacts first reached on its last day had little time.

    ``pct_leads_followed_up = #{new contacts with >= 2 outbound touches} / #{new contacts}``

    >>> pct_leads_followed_up(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 1.0, 'r2': 0.0, 'r3': nan}
    """
    what = "pct_leads_followed_up"
    fast = _contact_span(ds, as_period(period), what)
    if fast is not None:
        ci, sl, end = fast
        code, new = ci.code[sl], ci.first[sl]
        touches = np.bincount(code, minlength=ci.n)[code[new]]
        again = (touches >= 2) | (ci.last[code[new]] >= end)
        rep = ci.rep[sl][new]
        return rate_frame(count_codes(rep[again], ds, by), count_codes(rep, ds, by))
    cur = _contact_touches(ds, as_period(period), what, later=True)
    new = cur[cur["first"]]
    again = new[(new["touches"] >= 2) | new["later"]]
    return rate_frame(_count(again, ds, by), _count(new, ds, by))


def _touches_before_win(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    """Deals won in the period with ``touches``: outbound touches on the deal or its lead.

    A touch counts when it is on the won opportunity (``activities.opportunity_id``)
    or on its lead (``activities.lead_id``; the lead from ``opportunities.lead_id``
    or ``leads.opportunity_id``), by anyone, up to and including the close day.
    """
    act = _activities(ds, what)
    won = _won_in_period(ds, p, what)
    opp_lead = _opp_to_lead(ds, _lead_stages(ds))
    by_lead = ds.has("activities", "lead_id") and len(opp_lead) > 0
    by_opp = ds.has("activities", "opportunity_id")
    if not (by_lead or by_opp):
        raise MissingDataError(
            "activities.opportunity_id or activities.lead_id with a lead link "
            "(opportunities.lead_id or leads.opportunity_id)", what
        )
    if unique_ids(ds, "opportunities", "opportunity_id"):
        # a won deal's touches do not depend on the period: counted once for every won deal
        def every_won_deal() -> pd.Series:
            opps = ds.opportunities
            every = (_column(opps, "status") == "won") & opps["close_date"].notna()
            deals = _rows(opps, every, "opportunity_id", "rep_id", "amount", "close_date",
                          "lead_id")
            return _touches_per_deal(act, deals, opp_lead, by_lead, by_opp)

        per_deal = cached(ds, "touches_before_win", every_won_deal)
    else:
        per_deal = _touches_per_deal(act, won, opp_lead, by_lead, by_opp)
    counts = won["opportunity_id"].map(per_deal).fillna(0).astype("int64")
    return won[["opportunity_id", "rep_id"]].assign(touches=counts)


def _touches_per_deal(act: pd.DataFrame, won: pd.DataFrame, opp_lead: pd.Series, by_lead: bool,
                      by_opp: bool) -> pd.Series:
    """Outbound touches before the win per won opportunity id (see :func:`_touches_before_win`)."""
    deals = pd.DataFrame({
        "opportunity_id": won["opportunity_id"].array,
        "lead": _lookup(won["opportunity_id"], opp_lead).array,
        "until": (won["close_date"] + pd.Timedelta(days=1)).array,
    })
    links = []
    if len(deals):
        early = (act["occurred_at"] < deals["until"].max()).to_numpy()
        for col, key, keys in (("lead_id", "lead", by_lead), ("opportunity_id", "opportunity_id",
                                                               by_opp)):
            if not keys:
                continue
            rows = _rows(act, early & _isin(act[col], deals[key]), "activity_id", col,
                         "occurred_at", "direction")
            rows = rows[_is_outbound(rows)]
            links.append(pd.DataFrame({"act": rows["activity_id"].array, key: rows[col].array,
                                       "at": rows["occurred_at"].array})
                         .merge(deals.dropna(subset=[key]), on=key))
    if links:
        touch = pd.concat(links, ignore_index=True)
        touch = touch[touch["at"] < touch["until"]].drop_duplicates(["act", "opportunity_id"])
        return touch["opportunity_id"].value_counts()
    return pd.Series(dtype="int64")


@register(
    "touches_to_close",
    name="Touches to close",
    theme="activity",
    indicator="leading",
    unit="fraction",
    shape="breakdown",
    formula="deals won in the period by outbound touches before the win (0, 1, 2, 3, 4, 5-12, "
            "13+), as a share of the deals won",
    needs=("activities", "opportunities.close_date"),
    higher_is_better=None,
)
def touches_to_close(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Distribution of outbound touches before a win (benchmark: 80% close on the 5th-12th).

    For every opportunity won in the period (status ``won``, ``close_date`` in
    the period; owner's group), count the outbound touches, by anyone, on the
    opportunity or on the lead it came from, up to and including the close day.
    The result is a long :func:`~kpikit.stats.rate_frame` indexed by
    (group, ``touches`` bucket ``0``, ``1``, ``2``, ``3``, ``4``, ``5-12``,
    ``13+``): ``successes`` deals in the bucket, ``n`` deals won by the group,
    ``value`` their share (NaN for a group without wins). A win with no logged
    touch lands in ``0``. The scalar companion is
    :func:`touches_to_close_median`.

    ``share(bucket) = #{won deals with touches in bucket} / #{won deals}``

    Needs ``opportunities.close_date`` and either ``activities.opportunity_id``
    or ``activities.lead_id`` with a lead link on the opportunities.

    >>> d = touches_to_close(_example_dataset(), "2026-10")
    >>> d.loc["r1", "value"].to_dict()["4"], int(d.loc["r1", "n"].iloc[0])
    (1.0, 1)
    """
    what = "touches_to_close"
    p = as_period(period)
    deals = _touches_before_win(ds, p, what)
    deals = deals.assign(
        touches=pd.cut(deals["touches"], bins=list(_TOUCH_BINS), labels=list(TOUCH_BUCKETS))
        .astype(object)
    )
    grid = _grid(ds, by, TOUCH_BUCKETS, "touches")
    successes = _grid_counts(deals, "touches", grid, ds, by)
    n = _count(deals, ds, by).reindex(grid.get_level_values(0)).to_numpy()
    return rate_frame(successes, pd.Series(n, index=grid))


@register(
    "touches_to_close_median",
    name="Touches to close (median)",
    theme="activity",
    indicator="leading",
    unit="number",
    formula="median outbound touches before the win over deals won in the period",
    needs=("activities", "opportunities.close_date"),
    higher_is_better=None,
)
def touches_to_close_median(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Median outbound touches before a win, over the deals won in the period.

    The scalar companion of :func:`touches_to_close` (same touch count); NaN
    for a group without wins.

    ``touches_to_close_median = median(touches before win | deals won in period)``

    >>> touches_to_close_median(_example_dataset(), "2026-10").to_dict()
    {'r1': 4.0, 'r2': nan, 'r3': nan}
    """
    what = "touches_to_close_median"
    deals = _touches_before_win(ds, as_period(period), what)
    return _median_by(deals["touches"].astype(float), deals, ds, by, what)


@register(
    "lead_response_time_h",
    name="Lead response time",
    theme="activity",
    indicator="leading",
    unit="hours",
    formula="median hours from lead created_at to first response, over leads created in the "
            "period that got one",
    needs=("leads",),
    higher_is_better=False,
)
def lead_response_time_h(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Median hours from a lead's arrival to its first response (lead owner's group).

    Cohort: leads created in the period. First response: ``first_response_at``
    when the lead has one, otherwise (per lead) the first outbound activity on
    the lead at or after its creation. Leads with neither are left out of the
    median; :func:`pct_leads_responded_1h` counts them (as not answered within
    the hour). A response stamped before the lead's creation counts as 0 h.
    NaN for a group without answered leads.

    ``lead_response_time_h = median(first_response - created_at) in hours``

    Needs ``leads`` and either ``leads.first_response_at`` or ``activities.lead_id``.

    >>> lead_response_time_h(_example_dataset(), "2026-10").to_dict()
    {'r1': 0.5, 'r2': 75.0, 'r3': nan}
    """
    what = "lead_response_time_h"
    leads = _response_hours(ds, as_period(period), what)
    return _median_by(leads["hours"], leads, ds, by, what)


@register(
    "pct_leads_responded_1h",
    name="Leads answered within 1 hour",
    theme="activity",
    indicator="leading",
    unit="fraction",
    formula="leads created in the period first answered within 1 hour / leads created in the "
            "period",
    needs=("leads",),
)
def pct_leads_responded_1h(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of new leads first answered within one hour (7x likelier to reach a decision maker).

    n: every lead created in the period (lead owner's group); success: its
    first response (as in :func:`lead_response_time_h`) came at most 1 hour
    after ``created_at``. A lead never answered counts in n as a failure: a rep
    cannot raise the rate by ignoring leads.

    ``pct_leads_responded_1h = #{leads answered <= 1 h} / #{leads created}``

    >>> pct_leads_responded_1h(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 1.0, 'r2': 0.0, 'r3': nan}
    """
    what = "pct_leads_responded_1h"
    leads = _response_hours(ds, as_period(period), what)
    fast = leads[leads["hours"] <= 1.0]
    return rate_frame(_count(fast, ds, by), _count(leads, ds, by))


# ---------------------------------------------------------------------------
# Activity (leading): efficiency
# ---------------------------------------------------------------------------
def _calls_in_period(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    act = _activities(ds, what)
    return _rows(act, _in_period(act, p) & _is_outbound(act) & (act["type"] == "call"), "rep_id")


def _calls_count(ds: Dataset, p: Period, by: str, what: str) -> pd.Series:
    """Outbound calls in the period per group (``_count`` of :func:`_calls_in_period`)."""
    _activities(ds, what)
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(p)
        return count_codes(ix.rep[sl][ix.is_type(sl, "call") & ix.outbound[sl]], ds, by)
    return _count(_calls_in_period(ds, p, what), ds, by)


@register(
    "opps_per_1000_calls",
    name="Opportunities per 1,000 calls",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="1000 x opportunities created in the period / outbound calls in the period",
    needs=("activities",),
)
def opps_per_1000_calls(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Opportunities created per 1,000 outbound calls (benchmark: about 32 for cold outbound).

    Opportunities count for their owner, calls for the caller. ``numerator``
    is the number of opportunities (not scaled), ``denominator`` the calls;
    ``value = 1000 x numerator / denominator``, NaN without calls.

    ``opps_per_1000_calls = 1000 x opportunities created / outbound calls``

    >>> opps_per_1000_calls(_example_dataset(), "2026-10").loc["r1"].tolist()
    [500.0, 1.0, 2.0]
    """
    what = "opps_per_1000_calls"
    p = as_period(period)
    calls = _calls_count(ds, p, by, what)
    opps = _count(_opps_created(ds, p), ds, by)
    out = ratio_frame(opps, calls)
    out["value"] = out["value"] * 1000.0
    return out


@register(
    "calls_per_opportunity",
    name="Calls per opportunity",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="outbound calls in the period / opportunities created in the period",
    needs=("activities",),
    higher_is_better=False,
)
def calls_per_opportunity(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Outbound calls per opportunity created (NaN without opportunities).

    ``calls_per_opportunity = outbound calls / opportunities created``

    >>> calls_per_opportunity(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 2.0, 'r2': nan, 'r3': nan}
    """
    what = "calls_per_opportunity"
    p = as_period(period)
    calls = _calls_count(ds, p, by, what)
    return ratio_frame(calls, _count(_opps_created(ds, p), ds, by))


@register(
    "activities_per_win",
    name="Activities per win",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="outbound activities in the period / opportunities won in the period",
    needs=("activities", "opportunities.close_date"),
    higher_is_better=False,
)
def activities_per_win(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Outbound activities (every type) per deal won in the period.

    Won: status ``won`` with ``close_date`` in the period (owner's group).

    ``activities_per_win = outbound activities / opportunities won``

    >>> activities_per_win(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 4.0, 'r2': nan, 'r3': nan}
    """
    what = "activities_per_win"
    p = as_period(period)
    touches = _outbound_count(ds, p, by, what)
    return ratio_frame(touches, _count(_won_in_period(ds, p, what), ds, by))


@register(
    "revenue_per_conversation",
    name="Revenue per conversation",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="won revenue closed in the period / (connected calls + held meetings) in the period",
    needs=("activities", "activities.outcome", "opportunities.close_date"),
)
def revenue_per_conversation(
    ds: Dataset, period: Period | str, *, by: str = "rep"
) -> pd.DataFrame:
    """Won revenue per sales conversation, in the dataset's currency.

    Conversations: calls with outcome ``connected`` plus held meetings (see
    :func:`meetings_held`), in either direction, in the period. Revenue: the
    ``amount`` of opportunities won in the period (owner's group).

    ``revenue_per_conversation = won revenue / (connected calls + held meetings)``

    Needs ``activities.outcome`` (a connected call cannot be told apart otherwise).

    >>> revenue_per_conversation(_example_dataset(), "2026-10").loc["r1"].tolist()
    [2500.0, 5000.0, 2.0]
    """
    what = "revenue_per_conversation"
    p = as_period(period)
    act = _activities(ds, what)
    ds.require("activities.outcome", what=what)
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(p)
        connected = _act_sorted(ds, ix, "connected_call",
                                lambda a: (a["type"] == "call") & (a["outcome"] == "connected"))
        talks = count_codes(ix.rep[sl][connected[sl] | ix.held[sl]], ds, by)
    else:
        connected = (act["type"] == "call") & (act["outcome"] == "connected")
        talks = _count(_rows(act, _in_period(act, p) & (connected | _is_held_meeting(act)),
                             "rep_id"), ds, by)
    won = _won_in_period(ds, p, what)
    revenue = _sum(won["amount"].fillna(0.0), won, ds, by)
    return ratio_frame(revenue, talks)


# ---------------------------------------------------------------------------
# Activity (leading): content and key accounts
# ---------------------------------------------------------------------------
def _outbound_emails(ds: Dataset, p: Period, what: str, *columns: str) -> pd.DataFrame:
    act = _activities(ds, what)
    ds.require(*(f"activities.{c}" for c in columns), what=what)
    mask = _in_period(act, p) & _is_outbound(act) & (act["type"] == "email")
    return _rows(act, mask, "rep_id", *columns)


def _linked_emails(
    ds: Dataset, p: Period, what: str, *columns: str
) -> tuple[_ActIndex, slice, np.ndarray, np.ndarray] | None:
    """Fast path of :func:`_outbound_emails` (after its checks): the index, the period's
    slice, and the masks of its outbound emails and of those with ``content_links > 0``."""
    act = _activities(ds, what)
    ds.require(*(f"activities.{c}" for c in ("content_links", *columns)), what=what)
    ix = _act_index(ds)
    if ix is None or not pd.api.types.is_numeric_dtype(act["content_links"].dtype):
        return None
    sl = ix.span(p)
    emails = ix.is_type(sl, "email") & ix.outbound[sl]
    links = _act_sorted(ds, ix, "content_links>0", lambda a: a["content_links"].fillna(0) > 0)
    return ix, sl, emails, emails & links[sl]


@register(
    "email_link_rate",
    name="Emails with a content link",
    theme="activity",
    indicator="leading",
    unit="fraction",
    formula="outbound emails in the period with content_links > 0 / outbound emails in the period",
    needs=("activities", "activities.content_links"),
)
def email_link_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of outbound emails that embed a content link.

    An email with an empty ``content_links`` counts as one without a link.

    ``email_link_rate = #{outbound emails with content_links > 0} / #{outbound emails}``

    >>> email_link_rate(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 1.0, 'r2': nan, 'r3': nan}
    """
    what = "email_link_rate"
    fast = _linked_emails(ds, as_period(period), what)
    if fast is not None:
        ix, sl, emails, linked = fast
        return rate_frame(count_codes(ix.rep[sl][linked], ds, by),
                          count_codes(ix.rep[sl][emails], ds, by))
    emails = _outbound_emails(ds, as_period(period), what, "content_links")
    linked = emails[emails["content_links"].fillna(0) > 0]
    return rate_frame(_count(linked, ds, by), _count(emails, ds, by))


@register(
    "email_click_rate",
    name="Clicks per linked email",
    theme="activity",
    indicator="leading",
    unit="ratio",
    formula="clicks on outbound emails with a content link in the period / those emails",
    needs=("activities", "activities.content_links", "activities.clicks"),
)
def email_click_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Clicks per outbound email with a content link (a ratio: one email can get several clicks).

    An empty ``clicks`` on a linked email counts as 0 clicks.

    ``email_click_rate = sum(clicks) / #{outbound emails with content_links > 0}``

    >>> email_click_rate(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 2.0, 'r2': nan, 'r3': nan}
    """
    what = "email_click_rate"
    fast = _linked_emails(ds, as_period(period), what, "clicks")
    if fast is not None:
        ix, sl, _, mask = fast
        linked = _rows_at(ds.activities, ix.rows(sl, mask), "rep_id", "content_links", "clicks")
    else:
        emails = _outbound_emails(ds, as_period(period), what, "content_links", "clicks")
        linked = emails[emails["content_links"].fillna(0) > 0]
    clicks = _sum(linked["clicks"].astype(float).fillna(0.0), linked, ds, by)
    return ratio_frame(clicks, _count(linked, ds, by))


@register(
    "collateral_usage_rate",
    name="Touches using collateral",
    theme="activity",
    indicator="leading",
    unit="fraction",
    formula="outbound touches in the period with a collateral_id / outbound touches in the period",
    needs=("activities", "activities.collateral_id"),
)
def collateral_usage_rate(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.DataFrame:
    """Share of outbound touches (every type) that used marketing collateral.

    ``collateral_usage_rate = #{outbound touches with collateral_id} / #{outbound touches}``

    >>> collateral_usage_rate(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 0.25, 'r2': 0.0, 'r3': nan}
    """
    what = "collateral_usage_rate"
    _activities(ds, what)
    ds.require("activities.collateral_id", what=what)
    ix = _act_index(ds)
    if ix is not None:
        sl = ix.span(as_period(period))
        out = ix.outbound[sl]
        used = out & _act_sorted(ds, ix, "collateral_id", lambda a: a["collateral_id"].notna())[sl]
        return rate_frame(count_codes(ix.rep[sl][used], ds, by),
                          count_codes(ix.rep[sl][out], ds, by))
    touches = _outbound_in_period(ds, as_period(period), what, "collateral_id")
    used = touches[touches["collateral_id"].notna()]
    return rate_frame(_count(used, ds, by), _count(touches, ds, by))


def _key_account_activities(ds: Dataset, p: Period, what: str) -> pd.DataFrame:
    """Activities in the period on a key account (their own account, else their deal's)."""
    columns = ("rep_id", "account_id", "opportunity_id", "duration_min")
    fast = _key_account_span(ds, p, what)
    if fast is not None:
        ix, sl, on_key = fast
        return _rows_at(ds.activities, ix.rows(sl, on_key), *columns)
    act = ds.activities
    cur = _rows(act, _in_period(act, p), *columns)
    return cur[_on_key_account(ds, cur)]


def _key_account_span(ds: Dataset, p: Period, what: str
                      ) -> tuple[_ActIndex, slice, np.ndarray] | None:
    """The checks of :func:`_key_account_activities`, then its fast path: the activity
    index, the period's slice and the mask of its rows on a key account (``None``: no
    fast path)."""
    _activities(ds, what)
    ds.require("accounts.key_account", what=what)
    via_opp = ds.has("activities", "opportunity_id") and ds.has("opportunities", "account_id")
    if not (ds.has("activities", "account_id") or via_opp):
        raise MissingDataError(
            "activities.account_id or activities.opportunity_id with opportunities.account_id",
            what,
        )
    ix = _act_index(ds)
    if ix is None:
        return None
    sl = ix.span(p)
    # whether an activity is on a key account does not depend on the period
    on_key = _act_sorted(ds, ix, "on_key_account", lambda a: _on_key_account(ds, a))
    return ix, sl, on_key[sl]


def _on_key_account(ds: Dataset, cur: pd.DataFrame) -> np.ndarray:
    """Mask of the activities ``cur`` whose account (else their deal's) is a key account."""
    opps = ds.opportunities
    via_opp = ds.has("activities", "opportunity_id") and ds.has("opportunities", "account_id")
    account = _column(cur, "account_id")
    if via_opp:
        opp_account = opps.dropna(subset=["account_id"]).drop_duplicates("opportunity_id")
        opp_account = opp_account.set_index("opportunity_id")["account_id"]
        missing = account.isna().to_numpy()
        if missing.any():
            account = account.fillna(_lookup(cur["opportunity_id"][missing], opp_account))
    accounts = ds.accounts
    key = accounts.loc[accounts["key_account"].fillna(False).astype(bool), "account_id"]
    return _isin(account, key)


@register(
    "key_account_touches",
    name="Key-account interactions per month",
    theme="activity",
    indicator="leading",
    unit="count",
    formula="activities on key accounts in the period / months in the period",
    needs=("activities", "accounts.key_account"),
    higher_is_better=None,
)
def key_account_touches(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Interactions per month with key accounts (``accounts.key_account`` true).

    Every activity in the period, in either direction, whose account (its own
    ``account_id``, else its opportunity's account) is a key account, divided
    by the months in the period (1, 3 or 12), so months, quarters and years
    compare. Higher is not simply better: read it against those accounts' returns.

    ``key_account_touches = #{activities on key accounts} / months``

    >>> key_account_touches(_example_dataset(), "2026-10").to_dict()
    {'r1': 1.0, 'r2': 0.0, 'r3': 0.0}
    >>> key_account_touches(_example_dataset(), "2026-Q4").to_dict()["r1"]
    0.3333333333333333
    """
    what = "key_account_touches"
    p = as_period(period)
    fast = _key_account_span(ds, p, what)
    if fast is not None:
        ix, sl, on_key = fast
        return count_codes(ix.rep[sl][on_key], ds, by, name=what).astype(float) / p.months
    rows = _key_account_activities(ds, p, what)
    out = _count(rows, ds, by, name=what).astype(float) / p.months
    return out


@register(
    "key_account_hours",
    name="Key-account hours per month",
    theme="activity",
    indicator="leading",
    unit="hours",
    formula="sum(duration_min) / 60 of activities on key accounts in the period / months in "
            "the period",
    needs=("activities", "accounts.key_account", "activities.duration_min"),
    higher_is_better=None,
)
def key_account_hours(ds: Dataset, period: Period | str, *, by: str = "rep") -> pd.Series:
    """Hours per month spent on key accounts (activities as in :func:`key_account_touches`).

    An activity without ``duration_min`` adds 0 hours, so the figure is a lower
    bound where durations are patchy.

    ``key_account_hours = sum(duration_min) / 60 / months``

    >>> key_account_hours(_example_dataset(), "2026-10").to_dict()
    {'r1': 1.0, 'r2': 0.0, 'r3': 0.0}
    """
    what = "key_account_hours"
    p = as_period(period)
    _activities(ds, what)
    ds.require("accounts.key_account", "activities.duration_min", what=what)
    rows = _key_account_activities(ds, p, what)
    hours = rows["duration_min"].astype(float).fillna(0.0) / 60.0
    return _sum(hours, rows, ds, by, name=what) / p.months


# ---------------------------------------------------------------------------
# Activity ratios (leading)
# ---------------------------------------------------------------------------
@register(
    "source_to_first_appointment",
    name="Lead to first appointment, by source",
    theme="activity_ratio",
    indicator="leading",
    unit="fraction",
    shape="breakdown",
    formula="per lead source: leads created in the period that reached a first appointment "
            "(any time) / leads created in the period",
    needs=("activities", "leads"),
)
def source_to_first_appointment(
    ds: Dataset, period: Period | str, *, by: str = "rep"
) -> pd.DataFrame:
    """Per lead source, the share of new leads that reached a first appointment.

    Cohort: leads created in the period (owner's group), split by
    ``leads.source`` (empty or absent: ``"(unknown)"``). Success, at any time up
    to the end of the data: an ``appointment_set`` activity or a held meeting on
    the lead (directly or on its opportunity), or its opportunity reaching the
    meeting stage (``stages.meeting``; current-stage fallback without
    ``stage_history``). A long :func:`~kpikit.stats.rate_frame` indexed by
    (group, ``source``), every source of the leads table for every group.

    ``source_to_first_appointment(s) = #{leads of s with a first appointment} / #{leads of s}``

    >>> r = source_to_first_appointment(_example_dataset(), "2026-10")
    >>> float(r.loc[("r1", "referral"), "value"]), float(r.loc[("r1", "web"), "value"])
    (1.0, nan)
    """
    what = "source_to_first_appointment"
    p = as_period(period)
    _activities(ds, what)
    ds.require("leads", what=what)
    leads = ds.leads
    source = _column(leads, "source").fillna(UNKNOWN_SOURCE).astype(object)
    sources = sorted(pd.unique(source)) if len(source) else []
    cohort_mask = p.contains(leads["created_at"])
    cohort = leads.loc[cohort_mask, ["lead_id", "rep_id"]].assign(source=source[cohort_mask])
    reached = _appointment_events(ds, what)[0]["lead"]
    grid = _grid(ds, by, sources, "source")
    successes = _grid_counts(cohort[_isin(cohort["lead_id"], reached)], "source", grid, ds, by)
    return rate_frame(successes, _grid_counts(cohort, "source", grid, ds, by))


@register(
    "outreach_to_first_appointment",
    name="Outreach touches per first appointment",
    theme="activity_ratio",
    indicator="leading",
    unit="ratio",
    formula="outbound touches in the period / leads whose first appointment falls in the period",
    needs=("activities",),
    higher_is_better=False,
)
def outreach_to_first_appointment(
    ds: Dataset, period: Period | str, *, by: str = "rep"
) -> pd.DataFrame:
    """How many outbound touches buy one first appointment.

    Numerator: outbound touches (every type) in the period. Denominator: leads
    whose *first* appointment event falls in the period, for the rep of that
    event. Appointment events: an ``appointment_set`` activity or a held meeting
    on the lead or its opportunity, or the opportunity entering the meeting
    stage as dated by ``stage_history`` (without ``stage_history`` only the
    activities date it). NaN without first appointments.

    ``outreach_to_first_appointment = outbound touches / first appointments``

    >>> outreach_to_first_appointment(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 4.0, 'r2': nan, 'r3': nan}
    """
    what = "outreach_to_first_appointment"
    p = as_period(period)
    touches = _outbound_count(ds, p, by, what)
    firsts = _count(_first_appointments(ds, p, what)[0], ds, by)
    return ratio_frame(touches, firsts)


@register(
    "first_appointment_to_next_step",
    name="First appointments with a next step",
    theme="activity_ratio",
    indicator="leading",
    unit="fraction",
    formula="first appointments in the period followed by a proposal, a demo or a second "
            "meeting (any time) / first appointments in the period",
    needs=("activities",),
)
def first_appointment_to_next_step(
    ds: Dataset, period: Period | str, *, by: str = "rep"
) -> pd.DataFrame:
    """Share of first appointments followed by a next step (proposal, second meeting, demo).

    Cohort: leads whose first appointment (as in
    :func:`outreach_to_first_appointment`) falls in the period, for the rep of
    that appointment. Success, at any time up to the end of the data, on the
    same lead or its opportunity: a ``proposal_sent`` or ``demo`` activity at or
    after the first appointment, a second held meeting (the lead has two or
    more), or the opportunity reaching the proposal stage (``stages.proposal``).

    ``first_appointment_to_next_step = #{first appointments with a next step} / #{first appointments}``

    >>> first_appointment_to_next_step(_example_dataset(), "2026-10")["value"].to_dict()
    {'r1': 1.0, 'r2': nan, 'r3': nan}
    """
    what = "first_appointment_to_next_step"
    p = as_period(period)
    act = _activities(ds, what)
    everyone, stages = _all_first_appointments(ds, what)
    in_period = p.contains(everyone["at"]).to_numpy()
    firsts = everyone[in_period]
    if stages is None or unique_ids(ds, "leads", "lead_id"):
        # whether a first appointment led to a next step does not depend on the period
        done = cached(ds, "next_step", lambda: frozen(_next_step(ds, act, everyone, stages)))
        success = firsts[done[in_period]]
    else:
        success = firsts[_next_step(ds, act, firsts, stages)]
    return rate_frame(_count(success, ds, by), _count(firsts, ds, by))


def _next_step(ds: Dataset, act: pd.DataFrame, firsts: pd.DataFrame,
               stages: pd.DataFrame | None) -> np.ndarray:
    """Mask of the ``firsts`` rows (first appointments) followed by a next step."""
    lead_at = pd.Series(firsts["at"].array, index=pd.Index(firsts["lead"].array))
    opp_lead = _opp_to_lead(ds, stages)
    steps = _rows(act, _is_type(act, "proposal_sent", "demo", "meeting"), "type", "occurred_at",
                  "outcome", "lead_id", "opportunity_id")
    steps = steps.assign(lead=_lead_key(steps, opp_lead))
    steps = steps[_isin(steps["lead"], firsts["lead"])]
    after = steps["occurred_at"] >= _lookup(steps["lead"], lead_at)
    done = set(steps.loc[_is_type(steps, "proposal_sent", "demo") & after, "lead"])
    meetings = steps.loc[_is_held_meeting(steps), "lead"].value_counts()
    done |= set(meetings.index[meetings >= 2])
    if stages is not None:
        proposal = stages["proposal_at"]
        proposal = proposal[proposal.notna() & _isin(proposal.index.to_series(), firsts["lead"])]
        later = (proposal >= _lookup(proposal.index.to_series(), lead_at)).to_numpy()
        undated = ~_from_history(ds, stages.loc[proposal.index, "opportunity_id"])
        done |= set(proposal.index[later | undated])
    return _isin(firsts["lead"], list(done))
