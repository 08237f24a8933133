"""Peer benchmarks and small-sample shrinkage: comparing a rep with peers honestly.

- Benchmarks (median, interquartile range, top quartile) are computed only for
  groups of at least ``min_group`` reps (default 5) with a value; smaller groups
  are suppressed (NaN, ``suppressed=True``), never shown. They are anonymous
  aggregates: no other rep's value or id leaves this module.
- Empirical-Bayes shrinkage pulls a rate measured on few cases toward its
  group's rate, so reps are not ranked on noise: with a Beta(a, b) prior fitted
  to the group, a rep with ``s`` successes out of ``n`` gets
  ``(s + a) / (n + a + b)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpikit.dataset import Dataset
from kpikit.metrics._common import group_map
from kpikit.metrics.registry import REGISTRY

MIN_GROUP = 5
#: bounds of the prior's strength a + b (in pseudo-observations)
PRIOR_STRENGTH_BOUNDS = (2.0, 200.0)


def peer_stats(values: pd.Series, groups: pd.Series, *, min_group: int = MIN_GROUP) -> pd.DataFrame:
    """Median, quartiles and count of a per-rep metric within each group.

    ``values`` and ``groups`` are indexed by rep_id. Reps whose value is NaN do
    not count. A group with fewer than ``min_group`` values is suppressed.

    >>> v = pd.Series([1.0, 2, 3, 4, 5, 9], index=list("abcdef"))
    >>> g = pd.Series(["x"] * 5 + ["y"], index=list("abcdef"))
    >>> peer_stats(v, g)[["n_reps", "median", "p25", "p75", "suppressed"]]
           n_reps  median  p25  p75  suppressed
    group
    x           5     3.0  2.0  4.0       False
    y           1     NaN  NaN  NaN        True
    """
    frame = pd.DataFrame({"value": values, "group": groups.reindex(values.index)}).dropna(
        subset=["group"]
    )
    valid = frame.dropna(subset=["value"])
    grouped = valid.groupby("group")["value"]
    out = pd.DataFrame(
        {
            "n_reps": grouped.size(),
            "median": grouped.median(),
            "p25": grouped.quantile(0.25),
            "p75": grouped.quantile(0.75),
        }
    )
    out = out.reindex(pd.unique(frame["group"]))
    out["n_reps"] = out["n_reps"].fillna(0).astype("int64")
    suppressed = out["n_reps"] < min_group
    out.loc[suppressed, ["median", "p25", "p75"]] = np.nan
    out["suppressed"] = suppressed
    out.index.name = "group"
    return out


def rep_benchmarks(
    values: pd.DataFrame,
    ds: Dataset,
    rep_id: str,
    *,
    min_group: int = MIN_GROUP,
) -> pd.DataFrame:
    """One rep's metrics beside anonymous peer benchmarks.

    ``values`` is a per-rep metric table (``MetricTable.values`` with
    ``by="rep"``). Returns one row per metric with the rep's ``value`` and, for
    the rep's team, level and the whole org: the median, the interquartile
    range and the top quartile (the 75th percentile when higher is better, the
    25th when lower is better), each NaN when that group has fewer than
    ``min_group`` reps with a value. ``team_n`` / ``level_n`` / ``org_n`` count
    the reps behind each benchmark.
    """
    rows = []
    groupings = {"org": group_map(ds, "org")}
    for key in ("team", "level"):
        if ds.has("reps", key):
            groupings[key] = group_map(ds, key)
    for metric in values.columns:
        d = REGISTRY.get(metric)
        higher = True if d is None or d.higher_is_better is None else d.higher_is_better
        series = pd.to_numeric(values[metric], errors="coerce")
        row: dict[str, object] = {"metric": metric, "value": series.get(rep_id, np.nan)}
        for key in ("team", "level", "org"):
            if key not in groupings:
                row.update({f"{key}_{s}": np.nan for s in ("median", "p25", "p75", "top")})
                row[f"{key}_n"] = 0
                continue
            gm = groupings[key]
            stats = peer_stats(series, gm, min_group=min_group)
            label = gm.get(rep_id)
            st = stats.loc[label] if label in stats.index else None
            if st is None:
                row.update({f"{key}_{s}": np.nan for s in ("median", "p25", "p75", "top")})
                row[f"{key}_n"] = 0
                continue
            row[f"{key}_median"] = st["median"]
            row[f"{key}_p25"] = st["p25"]
            row[f"{key}_p75"] = st["p75"]
            row[f"{key}_top"] = st["p75"] if higher else st["p25"]
            row[f"{key}_n"] = int(st["n_reps"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def fit_beta_prior(successes: pd.Series, n: pd.Series) -> tuple[float, float]:
    """Method-of-moments Beta prior for rates observed as ``successes`` out of ``n``.

    mean m = sum(s) / sum(n); between-rep variance
    tau2 = var_w(s/n) - m (1 - m) k / sum(n) (the weighted variance minus its expected
    sampling noise, with weights n / sum(n) over the k reps with data); strength
    a + b = m (1 - m) / tau2 - 1, clipped to ``PRIOR_STRENGTH_BOUNDS``.
    When the observed spread is all noise the prior is as strong as allowed.

    >>> a, b = fit_beta_prior(pd.Series([10, 20, 30, 40, 50]), pd.Series([100] * 5))
    >>> round(float(a / (a + b)), 2)
    0.3
    """
    s = pd.Series(successes, dtype=float)
    nn = pd.Series(n, dtype=float)
    keep = nn > 0
    s, nn = s[keep], nn[keep]
    lo, hi = PRIOR_STRENGTH_BOUNDS
    if nn.sum() == 0:
        return (np.nan, np.nan)
    m = s.sum() / nn.sum()
    if m <= 0 or m >= 1 or len(nn) < 2:
        strength = hi
    else:
        rates = s / nn
        w = nn / nn.sum()
        var_w = float((w * (rates - m) ** 2).sum())
        tau2 = var_w - m * (1 - m) * len(nn) / float(nn.sum())
        strength = hi if tau2 <= 0 else float(np.clip(m * (1 - m) / tau2 - 1, lo, hi))
    m = min(max(m, 1e-6), 1 - 1e-6)
    return (m * strength, (1 - m) * strength)


def shrink_rates(
    rates: pd.DataFrame,
    ds: Dataset,
    *,
    toward: str = "team",
    min_group: int = MIN_GROUP,
) -> pd.DataFrame:
    """Empirical-Bayes shrunk estimates of per-rep rates toward their group's rate.

    ``rates`` is a per-rep :func:`kpikit.stats.rate_frame` (``successes``, ``n``).
    The prior is fitted on the rep's ``toward`` group (team or level) when it has
    at least ``min_group`` reps with data, otherwise on the whole org. Adds
    ``shrunk`` = (s + a) / (n + a + b), ``prior_mean``, ``prior_strength`` (a + b)
    and ``prior_basis`` (the group used).

    >>> import kpikit
    >>> from kpikit.stats import rate_frame
    >>> ds = kpikit.Dataset.from_frames(reps=pd.DataFrame({"rep_id": list("abcdef")}),
    ...     opportunities=pd.DataFrame({"opportunity_id": ["o"], "rep_id": ["a"],
    ...     "created_at": ["2026-01-01"], "stage": ["Won"], "amount": [1]}))
    >>> r = rate_frame(pd.Series([1, 30, 30, 30, 30, 30], index=list("abcdef")),
    ...                pd.Series([1, 100, 100, 100, 100, 100], index=list("abcdef")))
    >>> out = shrink_rates(r, ds, toward="org")
    >>> bool(out.loc["a", "shrunk"] < 0.5)   # 1 of 1 is not a 100% rep
    True
    """
    out = rates.copy()
    org = group_map(ds, "org")
    groups = group_map(ds, toward) if toward != "org" and ds.has("reps", toward) else org
    groups = groups.reindex(out.index)
    has_data = out["n"] > 0
    counts = has_data.groupby(groups).sum()
    org_prior = fit_beta_prior(out["successes"], out["n"])
    priors: dict[object, tuple[float, float, str]] = {}
    for g in pd.unique(groups.dropna()):
        members = groups == g
        if toward != "org" and counts.get(g, 0) >= min_group:
            a, b = fit_beta_prior(out.loc[members, "successes"], out.loc[members, "n"])
            priors[g] = (a, b, f"{toward} {g}")
        else:
            priors[g] = (*org_prior, "org")
    a = groups.map(lambda g: priors.get(g, (*org_prior, "org"))[0]).astype(float)
    b = groups.map(lambda g: priors.get(g, (*org_prior, "org"))[1]).astype(float)
    out["prior_mean"] = a / (a + b)
    out["prior_strength"] = a + b
    out["prior_basis"] = groups.map(lambda g: priors.get(g, (np.nan, np.nan, "org"))[2])
    out["shrunk"] = (out["successes"] + a) / (out["n"] + a + b)
    return out
