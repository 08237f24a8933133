"""Statistics behind honest numbers: rates with sample sizes and Wilson intervals.

Every rate kpikit reports is a frame with ``value`` (successes / n, NaN when
n = 0), ``successes``, ``n`` and the Wilson 95% interval ``ci_low`` /
``ci_high``. A ratio that is not a proportion (calls per opportunity, ...)
is ``value``, ``numerator``, ``denominator`` with NaN for a zero denominator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def wilson_interval(successes, n, *, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (NaN where n = 0).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),
    half = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)

    >>> lo, hi = wilson_interval(5, 30)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0734, 0.3356)
    """
    s = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lo, hi


def rate_frame(successes: pd.Series, n: pd.Series) -> pd.DataFrame:
    """A proportion per group: ``value``, ``successes``, ``n``, ``ci_low``, ``ci_high``.

    >>> rate_frame(pd.Series([5, 0], index=["a", "b"]), pd.Series([30, 0], index=["a", "b"])).round(3)
       value  successes   n  ci_low  ci_high
    a  0.167          5  30   0.073    0.336
    b    NaN          0   0     NaN      NaN
    """
    s, n = successes.align(n, fill_value=0)
    s = s.fillna(0).astype("int64")
    n = n.fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, s / n.where(n > 0, 1), np.nan)
    lo, hi = wilson_interval(s, n)
    out = pd.DataFrame(
        {"value": value, "successes": s, "n": n, "ci_low": lo, "ci_high": hi}, index=s.index
    )
    return out


def ratio_frame(numerator: pd.Series, denominator: pd.Series) -> pd.DataFrame:
    """A ratio per group: ``value`` = numerator / denominator (NaN when the denominator is 0).

    >>> ratio_frame(pd.Series([64.0, 3.0]), pd.Series([2.0, 0.0]))
       value  numerator  denominator
    0   32.0       64.0          2.0
    1    NaN        3.0          0.0
    """
    num, den = numerator.align(denominator, fill_value=0)
    num = num.fillna(0).astype(float)
    den = den.fillna(0).astype(float)
    value = num / den.where(den != 0)
    return pd.DataFrame({"value": value, "numerator": num, "denominator": den}, index=num.index)


def binomial_test(successes, n, p, *, alternative: str = "less") -> np.ndarray:
    """One-sided exact binomial test, vectorised: is the true rate below (above) ``p``?

    With X ~ Binomial(n, p): ``alternative="less"`` gives P(X <= successes) (small when
    ``successes`` out of ``n`` is improbably low for a true rate ``p``), ``"greater"``
    gives P(X >= successes). This is ``scipy.stats.binomtest(k, n, p,
    alternative=...).pvalue`` element-wise; NaN where ``n = 0`` or ``p`` is NaN.

    >>> float(binomial_test(1, 10, 0.5))  # (1 + 10) / 2**10
    0.0107421875
    >>> binomial_test([0, 3], [0, 3], [0.5, 0.9], alternative="greater").round(3).tolist()
    [nan, 0.729]
    """
    from scipy.stats import binom

    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative={alternative!r}: use 'less' or 'greater'")
    k = np.asarray(successes, dtype=float)
    n_ = np.asarray(n, dtype=float)
    p_ = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        pv = binom.cdf(k, n_, p_) if alternative == "less" else binom.sf(k - 1, n_, p_)
    return np.where((n_ > 0) & ~np.isnan(p_), np.clip(pv, 0.0, 1.0), np.nan)
