"""Peer benchmarks (min group of 5) and empirical-Bayes shrinkage."""

import numpy as np
import pandas as pd
import pytest

import kpikit
from kpikit.peers import fit_beta_prior, peer_stats, rep_benchmarks, shrink_rates
from kpikit.stats import rate_frame


def _org(teams: dict[str, str], levels: dict[str, str] | None = None) -> kpikit.Dataset:
    reps = pd.DataFrame({"rep_id": list(teams), "team": list(teams.values())})
    if levels:
        reps["level"] = [levels[r] for r in teams]
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1"],
            "rep_id": [next(iter(teams))],
            "created_at": ["2026-01-01"],
            "stage": ["Won"],
            "amount": [1.0],
        }
    )
    return kpikit.Dataset.from_frames(reps=reps, opportunities=opps)


def test_peer_stats_quartiles_are_exact_for_a_group_of_five():
    # values 10, 20, 30, 40, 50: median 30, linear quartiles 20 and 40
    v = pd.Series([10.0, 20, 30, 40, 50], index=list("abcde"))
    g = pd.Series("t", index=v.index)
    st = peer_stats(v, g).loc["t"]
    assert (st["n_reps"], st["median"], st["p25"], st["p75"]) == (5, 30.0, 20.0, 40.0)
    assert not st["suppressed"]


def test_peer_stats_suppresses_groups_under_five_reps_with_a_value():
    # five reps in the team but one has no value (NaN): only 4 count, so suppressed
    v = pd.Series([10.0, 20, 30, 40, np.nan], index=list("abcde"))
    g = pd.Series("t", index=v.index)
    st = peer_stats(v, g).loc["t"]
    assert st["n_reps"] == 4
    assert st["suppressed"]
    assert np.isnan(st["median"])


def test_rep_benchmarks_show_team_but_suppress_small_level_groups():
    teams = {r: "North" for r in "abcde"} | {"f": "South"}
    levels = {"a": "senior", "b": "senior", "c": "junior", "d": "junior", "e": "junior", "f": "junior"}
    ds = _org(teams, levels)
    values = pd.DataFrame({"deals_won": [1.0, 2, 3, 4, 5, 6]}, index=pd.Index(list("abcdef"), name="rep_id"))
    b = rep_benchmarks(values, ds, "a").loc["deals_won"]
    assert b["value"] == 1.0
    # team North = a..e: 1,2,3,4,5
    assert (b["team_n"], b["team_median"], b["team_p25"], b["team_p75"]) == (5, 3.0, 2.0, 4.0)
    assert b["team_top"] == 4.0  # higher is better: top quartile is the 75th percentile
    # level senior has only 2 reps: suppressed
    assert b["level_n"] == 2 and np.isnan(b["level_median"])
    # org: 1..6, median 3.5
    assert b["org_n"] == 6 and b["org_median"] == 3.5


def test_rep_benchmarks_top_quartile_is_the_low_end_when_lower_is_better():
    ds = _org({r: "North" for r in "abcde"})
    # sales_cycle_days: lower is better (registered so in the registry)
    import kpikit.metrics  # noqa: F401

    higher = kpikit.metrics.REGISTRY["sales_cycle_days"].higher_is_better
    assert higher is False
    values = pd.DataFrame(
        {"sales_cycle_days": [10.0, 20, 30, 40, 50]}, index=pd.Index(list("abcde"), name="rep_id")
    )
    b = rep_benchmarks(values, ds, "e").loc["sales_cycle_days"]
    assert b["team_top"] == 20.0


def test_fit_beta_prior_method_of_moments_by_hand():
    # m = 150/500 = 0.3; rates .1..5 with equal weights: var = 0.02
    # noise = m(1-m) * mean(1/n) = 0.21 * 0.01 = 0.0021 -> tau2 = 0.0179
    # a + b = 0.21 / 0.0179 - 1 = 10.7318...
    a, b = fit_beta_prior(pd.Series([10, 20, 30, 40, 50]), pd.Series([100] * 5))
    assert a + b == pytest.approx(0.21 / 0.0179 - 1)
    assert a / (a + b) == pytest.approx(0.3)


def test_fit_beta_prior_with_pure_noise_spread_uses_the_strongest_prior():
    # every rep at exactly 30%: no between-rep variance
    a, b = fit_beta_prior(pd.Series([30] * 5), pd.Series([100] * 5))
    assert a + b == pytest.approx(200.0)


def test_shrinkage_pulls_small_samples_far_and_large_samples_little():
    ds = _org({r: "North" for r in "abcdef"})
    s = pd.Series([10, 20, 30, 40, 50, 2], index=list("abcdef"))
    n = pd.Series([100, 100, 100, 100, 100, 2], index=list("abcdef"))
    out = shrink_rates(rate_frame(s, n), ds, toward="team")
    assert out.loc["f", "value"] == 1.0
    a, b = fit_beta_prior(s, n)
    assert out.loc["f", "shrunk"] == pytest.approx((2 + a) / (2 + a + b))
    assert out.loc["f", "shrunk"] < 0.6  # 2 of 2 is far from a sure thing
    assert abs(out.loc["a", "shrunk"] - 0.10) < 0.03  # 10 of 100 barely moves
    assert out.loc["a", "prior_basis"] == "team North"


def test_shrinkage_falls_back_to_the_org_for_teams_under_five():
    ds = _org({"a": "N", "b": "N", "c": "S", "d": "S", "e": "S", "f": "S"})
    r = rate_frame(
        pd.Series([1, 2, 3, 4, 5, 6], index=list("abcdef")), pd.Series([10] * 6, index=list("abcdef"))
    )
    out = shrink_rates(r, ds, toward="team")
    assert set(out["prior_basis"]) == {"org"}
    assert out["prior_mean"].iloc[0] == pytest.approx(21 / 60)
