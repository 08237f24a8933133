"""Periods (months, quarters, years, runs of months) and dataset.toml."""

import pandas as pd
import pytest

from kpikit.config import DatasetConfig, StageConfig, read_config
from kpikit.errors import ConfigError, PeriodError
from kpikit.periods import Period, period_labels


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026-10", "2026-10-01", "2026-11-01", "2026-10"),
        ("2026-1", "2026-01-01", "2026-02-01", "2026-01"),
        ("2026-Q4", "2026-10-01", "2027-01-01", "2026-Q4"),
        ("2026q1", "2026-01-01", "2026-04-01", "2026-Q1"),
        ("2026", "2026-01-01", "2027-01-01", "2026"),
        ("2025-11..2026-02", "2025-11-01", "2026-03-01", "2025-11..2026-02"),
    ],
)
def test_periods_parse_to_half_open_intervals(text, start, end, label):
    p = Period.parse(text)
    assert (p.start, p.end, p.label) == (pd.Timestamp(start), pd.Timestamp(end), label)


@pytest.mark.parametrize("bad", ["October", "2026-13", "2026-Q5", "26-10", "", "2026-10..2026-08"])
def test_bad_periods_say_what_is_accepted(bad):
    with pytest.raises(PeriodError, match="YYYY|empty"):
        Period.parse(bad)


def test_previous_and_history_step_by_the_period_kind():
    assert Period.parse("2026-01").previous().label == "2025-12"
    assert Period.parse("2026-Q1").previous().label == "2025-Q4"
    assert [p.label for p in Period.parse("2026-02").history(3)] == ["2025-12", "2026-01", "2026-02"]
    assert Period.parse("2026-05..2026-10").previous().label == "2025-11..2026-04"


def test_contains_is_half_open_and_false_for_missing_times():
    p = Period.parse("2026-10")
    s = pd.Series(
        pd.to_datetime(["2026-09-30 23:59", "2026-10-01 00:00", "2026-10-31 23:59", "2026-11-01 00:00", None])
    )
    assert p.contains(s).tolist() == [False, True, True, False, False]


def test_working_days_count_weekdays_less_holidays():
    # November 2026: 30 days, starts on a Sunday: 21 weekdays; 26 Nov is a Thursday
    nov = Period.parse("2026-11")
    assert nov.working_days() == 21
    assert nov.working_days(["2026-11-26"]) == 20
    assert nov.working_days_between(pd.Timestamp("2026-11-16")) == 11


def test_trailing_window_ends_with_the_given_month():
    assert Period.trailing("2026-Q3", 6).label == "2026-04..2026-09"
    assert Period.trailing("2026-10", 1).label == "2026-10"


def test_period_labels_vectorised():
    s = pd.Series(pd.to_datetime(["2026-02-03", None]))
    assert period_labels(s, "month").iloc[0] == "2026-02"
    assert pd.isna(period_labels(s, "year").iloc[1])


def test_config_defaults_without_a_file(tmp_path):
    cfg = read_config(tmp_path / "dataset.toml")
    assert cfg == DatasetConfig()
    assert cfg.stages.order == ("Lead", "SQL", "Meeting", "Proposal")


def test_config_reads_custom_stages_and_finds_the_funnel_steps(tmp_path):
    (tmp_path / "dataset.toml").write_text(
        'currency = "EUR"\ntimezone = "Europe/Madrid"\n[stages]\n'
        'order = ["Qualification", "Discovery", "Proposal", "Negotiation"]\n'
        'won = ["Closed Won"]\nlost = ["Closed Lost"]\n'
    )
    cfg = read_config(tmp_path / "dataset.toml")
    assert cfg.currency == "EUR" and cfg.timezone == "Europe/Madrid"
    st = cfg.stages
    assert (st.sql, st.meeting, st.proposal) == ("Qualification", "Discovery", "Proposal")
    assert st.status_of("Closed Won") == "won" and st.status_of("Nope") is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("currency = 3", "currency must be a text"),
        ('timezone = "Mars/Olympus"', "not a known IANA timezone"),
        ("working_days_per_month = 40", "whole number from 1 to 31"),
        ("colour = 1", "unknown setting"),
        ('[stages]\norder = ["A"]\nwon = ["W"]', "needs 'lost'"),
        ('[stages]\norder = ["A", "W"]\nwon = ["W"]\nlost = ["L"]', "listed twice"),
        ('[stages]\norder = ["A"]\nwon = ["W"]\nlost = ["L"]\nmeeting = "B"', "not one of the open stages"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_file(tmp_path, toml, message):
    path = tmp_path / "dataset.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message) as exc:
        read_config(path)
    assert "dataset.toml" in str(exc.value)


def test_stage_index_puts_won_after_every_open_stage():
    st = StageConfig()
    assert st.index("Lead") == 0 and st.index("Won") == 4 and st.index("Lost") is None
