"""Funnel primitives shared by the conversion, results and pipeline metrics and the planner.

They implement ``docs/funnel.md`` once, vectorised:

- :func:`stage_reach`: per opportunity, when it first *reached* each configured open
  stage and won. "Reached X" means a ``stage_history`` entry for X, for any later open
  stage or for a won stage (stages can be skipped, moves can go backwards). An
  opportunity without stage history falls back to its current stage (an open or won
  opportunity has reached every stage up to its current one, a lost one is only known
  to have reached the entry stage); the ``basis`` column says which was used.
- :func:`lead_funnel`: per lead, when it was created, qualified, reached the meeting
  and proposal stages and was won (through the opportunity it converted into).
- :func:`sql_funnel`: per SQL (the cohort of the SQL-based conversion rates), when it
  became an SQL and reached each later stage.
- :func:`stage_win_probability`: historical P(won | reached stage) among closed
  opportunities, for the weighted pipeline.

The *entry stage* of an opportunity is the SQL stage (``[stages].sql``), or the
first open stage when no SQL stage is configured: every opportunity starts there.
Stages before it (the default ``Lead``) belong to the lead part of the funnel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from kpikit.config import StageConfig
from kpikit.dataset import Dataset
from kpikit.errors import ConfigError, KpikitError
from kpikit.metrics._common import (
    GROUPINGS,
    KEY_NAMES,
    attach_group,
    cached,
    codes_in,
    count_codes,
    frozen,
    group_index,
    is_arrow_str,
    reps_are_keys,
)
from kpikit.periods import Period
from kpikit.stats import rate_frame

#: columns of :func:`stage_reach` besides the per-stage reach times
REACH_META = ("rep_id", "status", "stage", "created_at", "closed_at", "amount", "basis")
#: name of the won column of :func:`stage_reach` (the time the opportunity was won)
WON = "won"
#: ``basis`` values: where a reach time came from
HISTORY, CURRENT, LEADS = "stage_history", "current_stage", "leads"

_NAT = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- helpers
def entry_stage(stages: StageConfig) -> str:
    """The open stage every opportunity starts at: ``[stages].sql`` or the first open stage.

    >>> entry_stage(StageConfig())
    'SQL'
    """
    return stages.sql or stages.order[0]


def funnel_stages(stages: StageConfig) -> list[str]:
    """Open stages from the entry stage on, in order (the opportunity part of the funnel).

    >>> funnel_stages(StageConfig())
    ['SQL', 'Meeting', 'Proposal']
    """
    order = list(stages.order)
    return order[order.index(entry_stage(stages)) :]


def _check_stage_names(stages: StageConfig) -> None:
    clash = sorted(set(stages.order) & (set(REACH_META) | {WON, "lead_id", "opportunity_id"}))
    if clash:
        raise ConfigError(
            f"dataset.toml: open stage name(s) {', '.join(clash)} clash with kpikit's funnel "
            f"columns; rename the stage(s) in [stages].order"
        )


def _cached(ds: Dataset, name: str, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Memoise a funnel frame on the dataset (:func:`kpikit.metrics._common.cached`: keyed on
    the identity of its tables and config).

    Tables of a validated dataset are treated as read-only; replacing a table (or the
    config) invalidates the entry. A shallow copy is returned, so that (copy-on-write)
    a caller adding columns never changes the cached frame.
    """
    return cached(ds, ("funnel", name), build)


def _positions(ids: Any, targets: Any) -> np.ndarray:
    """Row position in ``ids`` of each target id (-1 if absent; the first of duplicates).

    One factorisation of both (fast for arrow-backed strings, unlike an object hash
    lookup). Missing ids never match.
    """
    a, b = _as_str(ids), _as_str(targets)
    if is_arrow_str(a) and is_arrow_str(b):  # one hash of ids, one pass over the targets
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(b.array)
        found = pc.index_in(arr, value_set=pa.array(a.array).cast(arr.type), skip_nulls=True)
        return np.asarray(found.fill_null(-1), dtype=np.int64)
    codes, uniques = pd.factorize(pd.concat([a, b], ignore_index=True))
    ca, cb = codes[: len(a)], codes[len(a) :]
    lookup = np.full(len(uniques) + 1, -1, dtype=np.int64)  # last slot: missing (code -1)
    valid = np.flatnonzero(ca >= 0)
    lookup[ca[valid][::-1]] = valid[::-1]  # reversed, so the first duplicate wins
    return lookup[cb]


def _as_str(x: Any) -> pd.Series:
    if isinstance(x, pd.Series):
        return x.astype("str").reset_index(drop=True)
    return pd.Series(np.asarray(x, dtype=object), dtype="str")


def _lookup(values: pd.Series, mapping: dict[str, int], default: int = -1) -> np.ndarray:
    """``mapping[value]`` for every value (``default`` when absent), vectorised."""
    keys = list(mapping)
    codes = np.append(np.array([mapping[k] for k in keys], dtype=np.int64), default)
    return codes[_positions(keys, values)]


def _unit(s: pd.Series) -> str:
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "M":
        return np.datetime_data(s.dtype)[0]
    return "us"


def _as_ints(s: pd.Series, unit: str) -> np.ndarray:
    """Timestamps as int64 in ``unit`` with NaT -> a sentinel larger than any time."""
    s = pd.to_datetime(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    vals = s.to_numpy(dtype=f"datetime64[{unit}]").view("int64").copy()
    vals[vals == _NAT] = _NEVER
    return vals


def _as_times(vals: np.ndarray, unit: str) -> np.ndarray:
    out = vals.copy()
    out[out == _NEVER] = _NAT
    return out.view(f"datetime64[{unit}]")


def _col(df: pd.DataFrame | None, column: str, index: pd.Index | None = None) -> pd.Series:
    """A column, or an all-missing Series when the table or column is absent."""
    if df is not None and column in df.columns:
        return df[column]
    n = 0 if df is None else len(df)
    return pd.Series(np.nan, index=index if index is not None else pd.RangeIndex(n), dtype=object)


# --------------------------------------------------------------------------- stage reach
def stage_reach(ds: Dataset) -> pd.DataFrame:
    """When each opportunity first reached each configured open stage and won.

    One row per opportunity (index ``opportunity_id``) with the columns ``rep_id``,
    ``status``, ``stage`` (current), ``created_at``, ``closed_at``, ``amount``, ``basis``,
    then one timestamp column per open stage of ``[stages].order`` and ``won`` (NaT:
    never reached).

    Reached X at t = min entered_at over the ``stage_history`` entries for X, any later
    open stage or a won stage. The current stage always counts as reached (at the last
    recorded entry when the history lacks it), a won opportunity whose history has no won
    entry is won at its ``close_date``, and one whose history holds only a lost entry
    reached its entry stage at ``created_at``. ``won`` is set only for opportunities whose
    final ``status`` is ``won``. Without history rows (``basis = "current_stage"``) an
    open or won opportunity reached every stage up to its current one and a lost one only
    its entry stage, all at ``created_at`` (the only time known); it was won at
    ``close_date`` (else ``created_at``). ``closed_at`` is ``close_date`` (else the first
    won / lost entry) for won and lost opportunities, NaT for open ones.

    >>> r = stage_reach(_example_dataset())
    >>> r.loc["o1", ["Meeting", "Proposal", "won"]].dt.strftime("%m-%d").tolist()
    ['01-15', '01-25', '02-10']
    >>> r.loc["o2", ["Meeting", "Proposal", "won"]].isna().tolist(), r.loc["o2", "basis"]
    ([False, True, True], 'stage_history')
    """
    return _cached(ds, "stage_reach", lambda: _stage_reach(ds))


def _stage_reach(ds: Dataset) -> pd.DataFrame:
    cfg = ds.config.stages
    _check_stage_names(cfg)
    opps = ds.table("opportunities")
    order = list(cfg.order)
    m = len(order)
    n = len(opps)
    unit = _unit(opps["created_at"])
    pos = {s: i for i, s in enumerate(order)} | {s: m for s in cfg.won}
    lost = set(cfg.lost)

    created = _as_ints(opps["created_at"], unit)
    close = _as_ints(_col(opps, "close_date", opps.index), unit)
    status_col = opps["status"] if "status" in opps.columns else opps["stage"].map(cfg.status_of)
    status = status_col.astype(object).where(status_col.notna(), None).to_numpy()
    is_won = status == "won"
    is_lost = status == "lost"
    # index of the current stage when it is an open one, -1 otherwise
    cur = _lookup(opps["stage"], {s: i for i, s in enumerate(order)})
    e = order.index(entry_stage(cfg))

    grid = np.full((n, m + 1), _NEVER, dtype=np.int64)
    has_hist = np.zeros(n, dtype=bool)
    last_hist = np.full(n, _NEVER, dtype=np.int64)
    lost_at = np.full(n, _NEVER, dtype=np.int64)
    hist = ds.stage_history
    if hist is not None and len(hist) and n:
        rows = _positions(opps["opportunity_id"], hist["opportunity_id"])
        # column of each entry: open stage index, m for won, m + 1 for lost, -1 unknown
        cols = _lookup(hist["stage"], pos | {s: m + 1 for s in lost})
        known = (rows >= 0) & (cols >= 0)
        rows, cols = rows[known], cols[known]
        t = _as_ints(hist["entered_at"][known], unit)
        has_hist[rows] = True
        ok = t != _NEVER
        rows, cols, t = rows[ok], cols[ok], t[ok]
        # latest recorded entry per opportunity (the time of an unrecorded current stage)
        latest = pd.Series(t).groupby(rows).max()
        last_hist[latest.index.to_numpy()] = latest.to_numpy()
        open_or_won = cols <= m
        firsts = (
            pd.DataFrame({"r": rows[open_or_won], "c": cols[open_or_won], "t": t[open_or_won]})
            .groupby(["r", "c"])["t"]
            .min()
        )
        grid[firsts.index.get_level_values("r"), firsts.index.get_level_values("c")] = firsts
        is_lost_row = cols == m + 1
        lf = pd.Series(t[is_lost_row]).groupby(rows[is_lost_row]).min()
        lost_at[lf.index.to_numpy()] = lf.to_numpy()

    # history basis: the current stage counts as reached, won status as won, and a
    # history without any open or won entry (lost at once) says the entry stage was
    h = has_hist
    suffix_min = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1]
    only_closed = h & (suffix_min[:, 0] == _NEVER) & (cur < 0)
    grid[only_closed, e] = created[only_closed]
    cur_missing = h & (cur >= 0)
    cur_missing[cur_missing] = suffix_min[cur_missing, cur[cur_missing]] == _NEVER
    grid[cur_missing, cur[cur_missing]] = last_hist[cur_missing]
    won_missing = h & is_won & (grid[:, m] == _NEVER)
    grid[won_missing, m] = np.where(close[won_missing] != _NEVER, close[won_missing],
                                    last_hist[won_missing])

    # current-stage basis: reached up to the current stage (won: all), lost/unknown: entry
    fb = ~h
    upto = np.where(is_won, m - 1, np.where(~is_lost & (cur >= 0), cur, e))
    fill = fb[:, None] & (np.arange(m)[None, :] <= upto[:, None])
    grid[:, :m] = np.where(fill, created[:, None], grid[:, :m])
    wf = fb & is_won
    grid[wf, m] = np.where(close[wf] != _NEVER, close[wf], created[wf])

    grid = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1]
    grid[~is_won, m] = _NEVER

    closed = np.where(close != _NEVER, close, np.where(is_won, grid[:, m], lost_at))
    closed = np.where(is_won | is_lost, closed, _NEVER)

    idx = pd.Index(_strs(opps["opportunity_id"]), name="opportunity_id")
    out = pd.DataFrame(
        {
            "rep_id": _strs(opps["rep_id"]),
            "status": _strs(status_col),
            "stage": _strs(opps["stage"]),
            "created_at": _as_times(created, unit),
            "closed_at": _as_times(closed, unit),
            "amount": opps["amount"].to_numpy(dtype=float),
            "basis": np.where(h, HISTORY, CURRENT),
        },
        index=idx,
    )
    for j, s in enumerate(order):
        out[s] = _as_times(grid[:, j], unit)
    out[WON] = _as_times(grid[:, m], unit)
    return out


# --------------------------------------------------------------------------- leads
def has_lead_links(ds: Dataset) -> bool:
    """Whether leads can be tied to opportunities (``leads.opportunity_id`` or
    ``opportunities.lead_id``)."""
    return ds.has("leads") and (
        ds.has("leads", "opportunity_id") or ds.has("opportunities", "lead_id")
    )


def _lead_positions(ds: Dataset) -> np.ndarray:
    """:func:`_lead_links` of the (first row of each) :func:`stage_reach` opportunity, cached."""

    def build() -> np.ndarray:
        reach = stage_reach(ds)
        return frozen(_lead_links(ds, reach[~reach.index.duplicated()]))

    return cached(ds, "lead_links", build)


def _lead_links(ds: Dataset, reach: pd.DataFrame) -> np.ndarray:
    """Row position in ``reach`` of the opportunity each lead converted into (-1: none).

    ``leads.opportunity_id`` first; for leads without one, the earliest opportunity whose
    ``opportunities.lead_id`` names the lead. Links to unknown opportunities are ignored.
    """
    leads, opps = ds.leads, ds.opportunities
    if not has_lead_links(ds):
        return np.full(len(leads), -1, dtype=np.int64)
    ids = reach.index.to_series()
    pos = _positions(ids, _col(leads, "opportunity_id", leads.index))
    if "lead_id" in opps.columns:
        o = opps[opps["lead_id"].notna()].sort_values("created_at", kind="stable")
        back = _positions(o["lead_id"], leads["lead_id"])  # first = earliest opportunity
        back_pos = np.append(_positions(ids, o["opportunity_id"]), -1)[back]
        pos = np.where(pos >= 0, pos, back_pos)
    return pos


def _values(x: pd.Series | pd.Index) -> Any:
    """The values of a column or index: arrow-backed text as such, else ``to_numpy()``."""
    return x.array if is_arrow_str(x) else x.to_numpy()


def _strs(x: pd.Series | pd.Index, rows: np.ndarray | None = None) -> Any:
    """``x.to_numpy()`` (or its ``rows``) for a column or index of a new frame.

    Arrow-backed text stays arrow-backed, skipping a round trip through Python objects:
    pandas infers the same ``str`` dtype from those objects when at least one value is
    present (with none, the object array is kept, as pandas would keep it).
    """
    if is_arrow_str(x):
        arr = x.array if rows is None else x.array.take(rows)
        if not arr.isna().all():
            return arr
    out = x.to_numpy()
    return out if rows is None else out[rows]


def _where(cond: np.ndarray, a: Any, b: Any) -> Any:
    """``np.where(cond, a, b)`` for text arrays (``b`` may be a string), kept arrow-backed
    as :func:`_strs` does."""
    if is_arrow_str(a) and (isinstance(b, str) or is_arrow_str(b)):
        out = pd.Series(a).where(cond, b if isinstance(b, str) else pd.Series(b))
        if not out.isna().all():
            return out.array
    return np.where(cond, _objects(a), _objects(b))


def _objects(v: Any) -> Any:
    return v if isinstance(v, str) else np.asarray(v, dtype=object)


def _take(values: Any, pos: np.ndarray) -> np.ndarray:
    """``values[pos]`` with a missing value (NaT / NaN / None) where ``pos`` is -1."""
    if is_arrow_str(values):  # stays arrow-backed text (see _strs)
        out = values.take(pos, allow_fill=True)
        if not out.isna().all():
            return out
        values = values.to_numpy()
    if values.dtype.kind == "M":
        fill: Any = np.datetime64("NaT")
    elif values.dtype.kind == "f":
        fill = np.nan
    else:
        values = values.astype(object)
        fill = np.nan
    return np.append(values, np.array([fill], dtype=values.dtype))[pos]


def lead_funnel(ds: Dataset) -> pd.DataFrame:
    """Per lead: when it was created, qualified, reached the meeting and proposal stages, won.

    One row per lead (index ``lead_id``) with ``rep_id`` (the lead's owner),
    ``created_at``, ``qualified_at``, ``opportunity_id`` (the opportunity it converted
    into, see below), ``opp_rep_id`` (that opportunity's owner), ``meeting_at`` and
    ``proposal_at`` (when that opportunity reached ``[stages].meeting`` / ``.proposal``,
    NaT when never or when the stage is not configured), ``won`` (bool) and ``won_at``.

    The link is ``leads.opportunity_id``, else the earliest opportunity whose ``lead_id``
    is the lead. A lead linked to an opportunity but without ``qualified_at`` counts as
    qualified when its opportunity was created (an opportunity is opened at
    qualification).

    >>> lf = lead_funnel(_example_dataset())
    >>> lf[["opportunity_id", "won"]].loc[["l1", "l2"]]
            opportunity_id    won
    lead_id
    l1                  o1   True
    l2                 NaN  False
    """
    return _cached(ds, "lead_funnel", lambda: _lead_funnel(ds))


def _lead_funnel(ds: Dataset) -> pd.DataFrame:
    ds.require("leads", what="the lead funnel")
    cfg = ds.config.stages
    leads = ds.leads
    reach = stage_reach(ds)
    reach = reach[~reach.index.duplicated()]
    pos = _lead_positions(ds)
    created = leads["created_at"]
    qualified = pd.to_datetime(_col(leads, "qualified_at", leads.index)).to_numpy()
    opened = _take(reach["created_at"].to_numpy(), pos)
    qualified = np.where(pd.isna(qualified), opened, qualified.astype(opened.dtype))

    def reached(stage: str | None) -> np.ndarray:
        if stage is None:
            return np.full(len(leads), np.datetime64("NaT"), dtype=opened.dtype)
        return _take(reach[stage].to_numpy(), pos)

    won_at = reached(WON)
    out = pd.DataFrame(
        {
            "rep_id": _strs(leads["rep_id"]),
            "created_at": created.to_numpy(),
            "qualified_at": qualified,
            "opportunity_id": _take(_values(reach.index), pos),
            "opp_rep_id": _take(_values(reach["rep_id"]), pos),
            "meeting_at": reached(cfg.meeting),
            "proposal_at": reached(cfg.proposal),
            "won": ~pd.isna(won_at),
            "won_at": won_at,
        },
        index=pd.Index(_strs(leads["lead_id"]), name="lead_id"),
    )
    return out


def sql_funnel(ds: Dataset) -> pd.DataFrame:
    """Every SQL with the time it became one and reached each later stage.

    The SQL step of ``docs/funnel.md``: a lead with ``qualified_at`` (at that time), and
    an opportunity that no lead converted into (an upsell or import: at the time it
    reached the entry stage, normally ``created_at``). When leads cannot be tied to
    opportunities (no ``leads.opportunity_id`` nor ``opportunities.lead_id``), the SQLs
    are the opportunities alone. An opportunity counts once (several leads converting
    into one opportunity: the earliest qualified one).

    Columns: ``rep_id`` (the opportunity's owner, the lead's owner for a qualified lead
    without an opportunity), ``lead_id``, ``opportunity_id``, ``basis`` (``leads`` for a
    qualified lead without an opportunity), then one timestamp column per stage of
    :func:`funnel_stages` (the entry stage's column is the SQL time) and ``won``.

    >>> f = sql_funnel(_example_dataset())
    >>> f[["rep_id", "lead_id", "opportunity_id"]].values.tolist()
    [['r1', 'l1', 'o1'], ['r2', 'l3', 'o2'], ['r2', 'l4', 'o3']]
    """
    return _cached(ds, "sql_funnel", lambda: _sql_funnel(ds))


def _sql_funnel(ds: Dataset) -> pd.DataFrame:
    cfg = ds.config.stages
    entry = entry_stage(cfg)
    cols = [*funnel_stages(cfg), WON]
    reach = stage_reach(ds)
    reach = reach[~reach.index.duplicated()]
    opp_rows = pd.DataFrame(
        {
            "rep_id": _strs(reach["rep_id"]),
            "lead_id": np.full(len(reach), np.nan, dtype=object),
            "opportunity_id": _strs(reach.index),
            "basis": _strs(reach["basis"]),
            **{c: reach[c].to_numpy() for c in cols},
        }
    )
    parts = []
    if has_lead_links(ds):
        lf = lead_funnel(ds)
        pos = _lead_positions(ds)
        q = np.flatnonzero(lf["qualified_at"].notna().to_numpy())
        # one SQL per opportunity: the earliest qualified lead converting into it
        order = q[np.argsort(lf["qualified_at"].to_numpy()[q], kind="stable")]
        first = pd.Series(pos[order]).duplicated().to_numpy() & (pos[order] >= 0)
        q = np.sort(order[~first])  # back to lead order
        p = pos[q]
        opp_rep = _take(_values(reach["rep_id"]), p)
        lead_rep = _strs(lf["rep_id"], q)
        lead_rows = pd.DataFrame(
            {
                "rep_id": _where(p >= 0, opp_rep, lead_rep),
                "lead_id": _strs(lf.index, q),
                "opportunity_id": _take(_values(reach.index), p),
                "basis": _where(p >= 0, _take(_values(reach["basis"]), p), LEADS),
                **{c: _take(reach[c].to_numpy(), p) for c in cols},
            }
        )
        lead_rows[entry] = lf["qualified_at"].to_numpy()[q]
        parts.append(lead_rows)
        linked = np.zeros(len(reach), dtype=bool)
        linked[p[p >= 0]] = True
        opp_rows = opp_rows[~linked]
    parts.append(opp_rows[opp_rows[entry].notna()])
    out = pd.concat(parts, ignore_index=True)
    return out


# --------------------------------------------------------------------------- win probability
def _as_of_time(as_of: Period | str | pd.Timestamp) -> pd.Timestamp:
    from kpikit.errors import PeriodError

    if isinstance(as_of, Period):
        return as_of.end
    if isinstance(as_of, str):
        try:
            return Period.parse(as_of).end
        except PeriodError:
            pass
    try:
        return pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        raise KpikitError(
            f"as_of={as_of!r} is neither a period (2026-10, 2026-Q3, 2026) nor a timestamp"
        ) from exc


def stage_win_probability(
    ds: Dataset, *, as_of: Period | str | pd.Timestamp | None = None, by: str = "rep"
) -> pd.DataFrame:
    """Historical P(won | reached stage) per open stage, among closed opportunities.

    For each group and each stage S of ``[stages].order``:
    ``value = won / n`` where ``n`` = closed (won or lost) opportunities that reached S
    (:func:`stage_reach`) and ``won`` = those of them that were won. Only opportunities
    closed before ``as_of`` count (a period means its end, e.g. ``"2026-06"`` = closed
    before 1 July 2026; closed opportunities with no known close time are left out);
    ``None`` uses every closed opportunity. A long :func:`~kpikit.stats.rate_frame`
    indexed by (group, ``stage``), every group and stage present (NaN when n = 0).

    >>> p = stage_win_probability(_example_dataset(), by="org")
    >>> p["value"].round(2).tolist()
    [0.5, 0.5, 0.5, 1.0]
    """
    if by not in GROUPINGS:
        raise KpikitError(f"by={by!r} is not a grouping; use one of {', '.join(GROUPINGS)}")
    cfg = ds.config.stages
    reach = stage_reach(ds)
    closed = reach["status"].isin(["won", "lost"])
    if as_of is not None:
        closed &= (reach["closed_at"] < _as_of_time(as_of)).fillna(False)
    frames = []
    fast = _reach_flags(ds)
    if fast is not None:  # integer rep codes and flags of every opportunity, once per dataset
        codes, won, reached = fast
        mask = closed.to_numpy()
        codes, won = codes[mask], won[mask]
        for s in cfg.order:
            hit = reached[s][mask]
            frames.append(rate_frame(count_codes(codes[hit & won], ds, by),
                                     count_codes(codes[hit], ds, by)))
        groups = group_index(ds, by)
    else:
        c = reach[closed.to_numpy()]
        keys = attach_group(c, ds, by)
        groups = group_index(ds, by)
        won = c[WON].notna()
        for s in cfg.order:
            hit = c[s].notna()
            n = hit.groupby(keys).sum().reindex(groups, fill_value=0)
            w = (hit & won).groupby(keys).sum().reindex(groups, fill_value=0)
            frames.append(rate_frame(w, n))
    key = KEY_NAMES[by]
    out = pd.concat(frames, keys=list(cfg.order), names=["stage", key]).swaplevel(0, 1)
    full = pd.MultiIndex.from_product([groups, list(cfg.order)], names=[key, "stage"])
    return out.reindex(full)


def _reach_flags(ds: Dataset) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
    """Per :func:`stage_reach` row: rep code, won, and reached each open stage (cached);
    ``None`` when the reps are not unique ids."""
    if not reps_are_keys(ds):
        return None

    def build() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        reach = stage_reach(ds)
        codes = codes_in(reach["rep_id"], pd.Index(ds.reps["rep_id"]))
        reached = {s: frozen(reach[s].notna().to_numpy()) for s in ds.config.stages.order}
        return frozen(codes), frozen(reach[WON].notna().to_numpy()), reached

    return cached(ds, "reach_flags", build)


# --------------------------------------------------------------------------- example
def _example_dataset(**lead_columns: list) -> Dataset:
    """A tiny two-rep dataset for the doctests of the funnel and conversion modules.

    r1: lead l1 -> o1 (SQL 01-06, Meeting 01-15, Proposal 01-25, Won 02-10, 1,000);
    lead l2 never qualified. r2: lead l3 -> o2 (SQL, Meeting, Lost), lead l4 -> o3
    (SQL, Meeting, Proposal, still open). ``lead_columns`` adds columns to the leads
    (four values each, for l1 to l4).
    """
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "team": ["A", "A"]})
    leads = pd.DataFrame(
        {
            "lead_id": ["l1", "l2", "l3", "l4"],
            "rep_id": ["r1", "r1", "r2", "r2"],
            "created_at": ["2026-01-05", "2026-01-10", "2026-01-12", "2026-01-20"],
            "qualified_at": ["2026-01-06", None, "2026-01-13", "2026-01-21"],
            "opportunity_id": ["o1", None, "o2", "o3"],
            **lead_columns,
        }
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3"],
            "rep_id": ["r1", "r2", "r2"],
            "created_at": ["2026-01-06", "2026-01-13", "2026-01-21"],
            "stage": ["Won", "Lost", "Proposal"],
            "amount": [1000.0, 500.0, 800.0],
            "close_date": ["2026-02-10", "2026-02-01", "2026-03-15"],
        }
    )
    hist = pd.DataFrame(
        {
            "opportunity_id": ["o1"] * 4 + ["o2"] * 3 + ["o3"] * 3,
            "stage": ["SQL", "Meeting", "Proposal", "Won", "SQL", "Meeting", "Lost",
                      "SQL", "Meeting", "Proposal"],
            "entered_at": ["2026-01-06", "2026-01-15", "2026-01-25", "2026-02-10",
                           "2026-01-13", "2026-01-20", "2026-02-01",
                           "2026-01-21", "2026-01-28", "2026-02-05"],
        }
    )
    return Dataset.from_frames(reps=reps, leads=leads, opportunities=opps, stage_history=hist)
