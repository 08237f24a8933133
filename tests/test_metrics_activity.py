"""Tests of the activity metrics (kpikit/metrics/activity.py).

Every dataset is small and hand-made; the expected numbers are worked out in
the comment beside each one. The reporting period is October 2026 unless said
otherwise. Reps: r1 and r2 in team A, r3 in team B (r3 never does anything).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from kpikit import Dataset, KpikitError, MissingDataError
from kpikit.metrics import activity as A
from kpikit.metrics.registry import REGISTRY

OCT = "2026-10"

REPS = pd.DataFrame(
    {"rep_id": ["r1", "r2", "r3"], "team": ["A", "A", "B"], "level": ["mid", "mid", "senior"]}
)
# the required opportunities table, far away from the period (r3, 2025)
DUMMY_OPP = {"opportunity_id": "o0", "rep_id": "r3", "created_at": "2025-01-06 10:00",
             "stage": "SQL", "amount": 0.0}

ACTIVITY_IDS = [
    "calls_made", "prospects_approached", "emails_sent", "meetings_held", "appointments_set",
    "linkedin_requests", "social_touches", "proposals_sent", "follow_ups_per_contact",
    "pct_leads_followed_up", "touches_to_close", "touches_to_close_median",
    "lead_response_time_h", "pct_leads_responded_1h", "opps_per_1000_calls",
    "calls_per_opportunity", "activities_per_win", "revenue_per_conversation",
    "email_link_rate", "email_click_rate", "collateral_usage_rate", "key_account_touches",
    "key_account_hours", "source_to_first_appointment", "outreach_to_first_appointment",
    "first_appointment_to_next_step",
]
RATE_COLUMNS = ["value", "successes", "n", "ci_low", "ci_high"]
RATIO_COLUMNS = ["value", "numerator", "denominator"]


def act(aid: str, rep: str, type_: str, when: str, **kw: object) -> dict:
    """One activity row (outbound unless ``direction`` says otherwise)."""
    return {"activity_id": aid, "rep_id": rep, "type": type_, "occurred_at": when, **kw}


def opp(oid: str, rep: str, created: str, stage: str, amount: float = 1000.0, **kw) -> dict:
    return {"opportunity_id": oid, "rep_id": rep, "created_at": created, "stage": stage,
            "amount": amount, **kw}


def lead(lid: str, rep: str, created: str, **kw: object) -> dict:
    return {"lead_id": lid, "rep_id": rep, "created_at": created, **kw}


def make(activities=None, *, leads=None, opportunities=None, accounts=None,
         stage_history=None, reps=REPS) -> Dataset:
    """A validated dataset from lists of row dicts (None: table absent)."""
    def frame(rows):
        return None if rows is None else pd.DataFrame(rows)

    return Dataset.from_frames(
        reps=reps,
        activities=frame(activities),
        leads=frame(leads),
        opportunities=frame(opportunities if opportunities is not None else [DUMMY_OPP]),
        accounts=frame(accounts),
        stage_history=frame(stage_history),
    )


def values(result: pd.Series | pd.DataFrame) -> dict:
    """``{group: value}`` with NaN kept (compare with :func:`same`)."""
    s = result["value"] if isinstance(result, pd.DataFrame) else result
    return {k: float(v) for k, v in s.items()}


def same(got: dict, expected: dict) -> bool:
    """Equal keys and values, NaN equal to NaN."""
    return got.keys() == expected.keys() and all(
        (np.isnan(expected[k]) and np.isnan(got[k])) or np.isclose(got[k], expected[k])
        for k in expected
    )


NAN = float("nan")


# --------------------------------------------------------------------------- counts
COUNTS_DS = [
    # r1: two outbound calls in October (one with an empty direction: outbound by default)
    act("c1", "r1", "call", "2026-10-01 09:00", direction="outbound"),
    act("c2", "r1", "call", "2026-10-02 09:00", direction=None),
    # not counted for calls_made: inbound, September, November, an email
    act("c3", "r1", "call", "2026-10-03 09:00", direction="inbound"),
    act("c4", "r1", "call", "2026-09-30 23:59", direction="outbound"),
    act("c5", "r2", "call", "2026-11-01 00:00", direction="outbound"),
    act("e1", "r1", "email", "2026-10-04 09:00", direction="outbound"),
    # r2: one call on the last minute of October (inside the half-open period)
    act("c6", "r2", "call", "2026-10-31 23:59", direction="outbound"),
]


def test_calls_made_counts_outbound_calls_in_the_period():
    # r1: c1 + c2 (c3 inbound, c4 September) = 2; r2: c6 = 1 (c5 is November); r3: 0
    got = A.calls_made(make(COUNTS_DS), OCT)
    assert got.to_dict() == {"r1": 2, "r2": 1, "r3": 0}
    assert got.name == "calls_made" and got.index.name == "rep_id"
    assert got.dtype == "int64"


def test_calls_made_pools_by_team_and_org():
    # team A = r1 (2) + r2 (1) = 3; team B (r3) = 0; org = 3
    ds = make(COUNTS_DS)
    assert A.calls_made(ds, OCT, by="team").to_dict() == {"A": 3, "B": 0}
    org = A.calls_made(ds, OCT, by="org")
    assert org.to_dict() == {"all reps": 3} and org.index.name == "org"


def test_calls_made_over_a_quarter_and_a_year():
    # 2026-Q4: c1, c2, c6 (October) + c5 (November) = r1 2, r2 2; 2026-Q3 has only c4 (r1)
    ds = make(COUNTS_DS)
    assert A.calls_made(ds, "2026-Q4").to_dict() == {"r1": 2, "r2": 2, "r3": 0}
    assert A.calls_made(ds, "2026-Q3").to_dict() == {"r1": 1, "r2": 0, "r3": 0}
    assert A.calls_made(ds, "2026").to_dict() == {"r1": 3, "r2": 2, "r3": 0}


def test_activities_without_a_direction_column_are_all_outbound():
    ds = make([act("c1", "r1", "call", "2026-10-01 09:00"),
               act("c2", "r2", "call", "2026-10-01 10:00")])
    # with the direction column dropped after loading: both calls still count
    tables = dict(ds.tables)
    tables["activities"] = ds.activities.drop(columns="direction", errors="ignore")
    bare = Dataset(tables=tables, config=ds.config)
    assert A.calls_made(bare, OCT).to_dict() == {"r1": 1, "r2": 1, "r3": 0}


@pytest.mark.parametrize(
    ("metric", "type_", "expected"),
    [
        # r1 does one outbound and one inbound of each type in October, plus one in September
        ("emails_sent", "email", 1),
        ("linkedin_requests", "linkedin", 1),
        ("social_touches", "social", 1),
        ("proposals_sent", "proposal_sent", 1),
        # an appointment set on an inbound call is still one the rep set: both count
        ("appointments_set", "appointment_set", 2),
    ],
)
def test_type_counts(metric, type_, expected):
    ds = make([
        act("x1", "r1", type_, "2026-10-05 09:00", direction="outbound"),
        act("x2", "r1", type_, "2026-10-06 09:00", direction="inbound"),
        act("x3", "r1", type_, "2026-09-06 09:00", direction="outbound"),
        act("x4", "r2", "call", "2026-10-06 09:00"),
    ])
    got = REGISTRY[metric].func(ds, OCT)
    assert got.to_dict() == {"r1": expected, "r2": 0, "r3": 0}


def test_meetings_held_counts_held_and_unrecorded_outcomes_in_either_direction():
    # held (1), no outcome recorded (1), held inbound (1) count; no_show and booked do not
    ds = make([
        act("m1", "r1", "meeting", "2026-10-05 09:00", outcome="held"),
        act("m2", "r1", "meeting", "2026-10-06 09:00", outcome=None),
        act("m3", "r1", "meeting", "2026-10-07 09:00", outcome="no_show"),
        act("m4", "r1", "meeting", "2026-10-08 09:00", outcome="booked"),
        act("m5", "r2", "meeting", "2026-10-08 09:00", outcome="held", direction="inbound"),
        act("c1", "r2", "call", "2026-10-08 10:00", outcome="held"),
    ])
    assert A.meetings_held(ds, OCT).to_dict() == {"r1": 2, "r2": 1, "r3": 0}


def test_meetings_held_without_outcome_data_counts_every_meeting():
    ds = make([
        act("m1", "r1", "meeting", "2026-10-05 09:00"),
        act("m2", "r1", "meeting", "2026-10-06 09:00"),
        act("c1", "r1", "call", "2026-10-06 10:00"),
    ])
    assert "outcome" not in ds.activities.columns or ds.activities["outcome"].isna().all()
    assert A.meetings_held(ds, OCT).to_dict() == {"r1": 2, "r2": 0, "r3": 0}


# --------------------------------------------------------------------------- prospects
PROSPECTS_DS = [
    # L1: first touched in September -> not a new prospect in October
    act("p1", "r1", "call", "2026-09-20 09:00", lead_id="L1"),
    act("p2", "r1", "call", "2026-10-02 09:00", lead_id="L1"),
    # L2: first touched by r1 in October (twice) -> one prospect for r1
    act("p3", "r1", "email", "2026-10-03 09:00", lead_id="L2"),
    act("p4", "r1", "call", "2026-10-04 09:00", lead_id="L2"),
    # L3: an inbound email in September is not a touch; first outbound touch by r2 in October
    act("p5", "r1", "email", "2026-09-10 09:00", lead_id="L3", direction="inbound"),
    act("p6", "r2", "call", "2026-10-05 09:00", lead_id="L3"),
    # account K1 without a lead: a contact of its own, first touched by r2 in October
    act("p7", "r2", "call", "2026-10-06 09:00", account_id="K1"),
    # K1 appears in September only beside a lead: that touch was on lead L9, not on K1
    act("p8", "r1", "call", "2026-09-06 09:00", account_id="K1", lead_id="L9"),
    # L4: first touched in November -> not October's
    act("p9", "r1", "call", "2026-11-02 09:00", lead_id="L4"),
]


def test_prospects_approached_counts_contacts_first_touched_in_the_period():
    # r1: L2 = 1; r2: L3 + K1 = 2; r3: 0
    got = A.prospects_approached(make(PROSPECTS_DS), OCT)
    assert got.to_dict() == {"r1": 1, "r2": 2, "r3": 0}
    # September: L1 (p1) and L9 (p8) for r1; the inbound p5 is no touch
    assert A.prospects_approached(make(PROSPECTS_DS), "2026-09").to_dict() == {
        "r1": 2, "r2": 0, "r3": 0}


def test_prospects_approached_gives_a_tie_to_the_smaller_activity_id_whatever_the_row_order():
    rows = [act("b2", "r2", "call", "2026-10-05 09:00", lead_id="L5"),
            act("b1", "r1", "email", "2026-10-05 09:00", lead_id="L5")]
    # both touched L5 at the same instant: b1 (r1) comes first
    for order in (rows, rows[::-1]):
        assert A.prospects_approached(make(order), OCT).to_dict() == {"r1": 1, "r2": 0, "r3": 0}


def test_prospects_approached_counts_a_contact_once_per_team():
    # r1 then r2 touch L6: one prospect, r1's; team A = 1
    ds = make([act("t1", "r1", "call", "2026-10-05 09:00", lead_id="L6"),
               act("t2", "r2", "call", "2026-10-06 09:00", lead_id="L6")])
    assert A.prospects_approached(ds, OCT, by="team").to_dict() == {"A": 1, "B": 0}


def test_prospects_need_a_lead_or_account_on_the_activities():
    ds = make([act("c1", "r1", "call", "2026-10-05 09:00")])
    with pytest.raises(MissingDataError, match="activities.lead_id or activities.account_id"):
        A.prospects_approached(ds, OCT)


# --------------------------------------------------------------------------- follow-ups
FOLLOW_DS = [
    # L1: first touched in September; r1 touches it twice in October -> 2 follow-ups
    act("f1", "r1", "call", "2026-09-10 09:00", lead_id="L1"),
    act("f2", "r1", "call", "2026-10-01 09:00", lead_id="L1"),
    act("f3", "r1", "email", "2026-10-02 09:00", lead_id="L1"),
    # L2: first touched by r1 in October, 3 touches -> 1 first + 2 follow-ups
    act("f4", "r1", "call", "2026-10-03 09:00", lead_id="L2"),
    act("f5", "r1", "call", "2026-10-04 09:00", lead_id="L2"),
    act("f6", "r1", "call", "2026-10-05 09:00", lead_id="L2"),
    # r2 touches L2 once, after r1 -> a follow-up for r2
    act("f7", "r2", "email", "2026-10-06 09:00", lead_id="L2"),
    # an inbound reply is not a touch
    act("f8", "r2", "email", "2026-10-07 09:00", lead_id="L2", direction="inbound"),
]


def test_follow_ups_per_contact_counts_touches_after_the_first_per_contact_worked():
    # r1: follow-ups f2, f3, f5, f6 = 4 over contacts {L1, L2} = 2 -> 2.0
    # r2: follow-up f7 = 1 over {L2} = 1 -> 1.0; r3: 0 / 0 -> NaN
    got = A.follow_ups_per_contact(make(FOLLOW_DS), OCT)
    assert list(got.columns) == RATIO_COLUMNS
    assert same(values(got), {"r1": 2.0, "r2": 1.0, "r3": NAN})
    assert got.loc["r1", "numerator"] == 4 and got.loc["r1", "denominator"] == 2


def test_follow_ups_per_contact_pools_distinct_contacts_by_team():
    # team A: follow-ups 4 + 1 = 5 over distinct contacts {L1, L2} = 2 -> 2.5
    # (not the mean of the reps' 2.0 and 1.0, and L2 is one contact for the team)
    got = A.follow_ups_per_contact(make(FOLLOW_DS), OCT, by="team")
    assert same(values(got), {"A": 2.5, "B": NAN})
    assert got.loc["A", "denominator"] == 2


FOLLOWED_DS = [
    # r1's new contacts in October: L2 (touched again in October), L3 (again in November),
    # L4 (never again); L1 was first touched in September (not in the cohort)
    act("g1", "r1", "call", "2026-09-10 09:00", lead_id="L1"),
    act("g2", "r1", "call", "2026-10-01 09:00", lead_id="L1"),
    act("g3", "r1", "call", "2026-10-02 09:00", lead_id="L2"),
    act("g4", "r1", "email", "2026-10-09 09:00", lead_id="L2"),
    act("g5", "r1", "call", "2026-10-03 09:00", lead_id="L3"),
    act("g6", "r1", "call", "2026-11-03 09:00", lead_id="L3"),
    act("g7", "r1", "call", "2026-10-04 09:00", lead_id="L4"),
    act("g8", "r1", "call", "2026-10-05 09:00", lead_id="L4", direction="inbound"),
    # r2's new contact L5, followed up by r1: a success for r2 (the second touch is the lead's)
    act("g9", "r2", "call", "2026-10-06 09:00", lead_id="L5"),
    act("g10", "r1", "call", "2026-10-07 09:00", lead_id="L5"),
]


def test_pct_leads_followed_up_is_the_share_of_new_contacts_touched_again():
    # r1: L2, L3 of {L2, L3, L4} = 2/3; r2: L5 = 1/1; r3: n = 0 -> NaN
    got = A.pct_leads_followed_up(make(FOLLOWED_DS), OCT)
    assert list(got.columns) == RATE_COLUMNS
    assert same(values(got), {"r1": 2 / 3, "r2": 1.0, "r3": NAN})
    assert got["n"].to_dict() == {"r1": 3, "r2": 1, "r3": 0}
    # team A pools: 3 successes of 4 new contacts = 0.75
    assert same(values(A.pct_leads_followed_up(make(FOLLOWED_DS), OCT, by="team")),
                {"A": 0.75, "B": NAN})


# --------------------------------------------------------------------------- touches to close
CLOSE_LEADS = [lead("L1", "r1", "2026-08-01 09:00"), lead("L2", "r1", "2026-08-01 09:00")]
CLOSE_OPPS = [
    # O1: won by r1 on 20 October, from lead L1
    opp("O1", "r1", "2026-09-01 09:00", "Won", 5000, close_date="2026-10-20", lead_id="L1"),
    # O2: won by r1 in October without any logged touch
    opp("O2", "r1", "2026-09-01 09:00", "Won", 1000, close_date="2026-10-25", lead_id="L2"),
    # O3 won in September, O4 lost in October: neither counts
    opp("O3", "r2", "2026-08-01 09:00", "Won", 700, close_date="2026-09-25"),
    opp("O4", "r2", "2026-08-01 09:00", "Lost", 700, close_date="2026-10-05"),
]
CLOSE_ACTS = [
    # on lead L1: three touches before, one on the close day (counts), one after (not),
    # one inbound (not)
    act("k1", "r1", "call", "2026-09-02 09:00", lead_id="L1"),
    act("k2", "r1", "email", "2026-09-05 09:00", lead_id="L1"),
    act("k3", "r2", "call", "2026-10-01 09:00", lead_id="L1"),
    act("k4", "r1", "call", "2026-10-20 15:00", lead_id="L1"),
    act("k5", "r1", "call", "2026-10-21 09:00", lead_id="L1"),
    act("k6", "r1", "email", "2026-10-10 09:00", lead_id="L1", direction="inbound"),
    # on the opportunity only, and on both lead and opportunity (counted once)
    act("k7", "r1", "meeting", "2026-10-12 09:00", opportunity_id="O1"),
    act("k8", "r1", "proposal_sent", "2026-10-15 09:00", opportunity_id="O1", lead_id="L1"),
]


def test_touches_to_close_is_the_distribution_of_touches_before_each_win():
    # O1: k1, k2, k3, k4, k7, k8 = 6 touches -> bucket 5-12; O2: 0 touches -> bucket 0
    # r1: n = 2 wins, share 0.5 in "0" and in "5-12"; r2 and r3: no wins -> NaN everywhere
    ds = make(CLOSE_ACTS, leads=CLOSE_LEADS, opportunities=CLOSE_OPPS)
    got = A.touches_to_close(ds, OCT)
    assert got.index.names == ["rep_id", "touches"]
    assert list(got.columns) == RATE_COLUMNS
    assert len(got) == 3 * len(A.TOUCH_BUCKETS)
    r1 = got.loc["r1"]
    assert r1["successes"].to_dict() == {"0": 1, "1": 0, "2": 0, "3": 0, "4": 0, "5-12": 1,
                                         "13+": 0}
    assert (r1["n"] == 2).all()
    assert r1.loc["5-12", "value"] == 0.5 and r1.loc["1", "value"] == 0.0
    assert got.loc["r2", "value"].isna().all() and (got.loc["r2", "n"] == 0).all()


def test_touches_to_close_median_is_the_median_touch_count_of_the_wins():
    # r1: median(6, 0) = 3.0; r2, r3: no wins -> NaN; team A pools the same two deals
    ds = make(CLOSE_ACTS, leads=CLOSE_LEADS, opportunities=CLOSE_OPPS)
    assert same(values(A.touches_to_close_median(ds, OCT)), {"r1": 3.0, "r2": NAN, "r3": NAN})
    assert same(values(A.touches_to_close_median(ds, OCT, by="team")), {"A": 3.0, "B": NAN})


def test_touches_to_close_finds_the_lead_through_leads_opportunity_id():
    # no opportunities.lead_id: the link comes from leads.opportunity_id; O1 has 6 touches
    opps = [{k: v for k, v in o.items() if k != "lead_id"} for o in CLOSE_OPPS]
    leads = [lead("L1", "r1", "2026-08-01 09:00", opportunity_id="O1"),
             lead("L2", "r1", "2026-08-01 09:00", opportunity_id="O2")]
    ds = make(CLOSE_ACTS, leads=leads, opportunities=opps)
    assert same(values(A.touches_to_close_median(ds, OCT)), {"r1": 3.0, "r2": NAN, "r3": NAN})


def test_touches_to_close_needs_close_dates():
    opps = [{k: v for k, v in o.items() if k != "close_date"} for o in CLOSE_OPPS]
    ds = make(CLOSE_ACTS, leads=CLOSE_LEADS, opportunities=opps)
    with pytest.raises(MissingDataError, match="opportunities.close_date"):
        A.touches_to_close(ds, OCT)


def test_touches_to_close_needs_a_way_to_tie_touches_to_deals():
    ds = make([act("c1", "r1", "call", "2026-10-01 09:00")],
              opportunities=[opp("O1", "r1", "2026-09-01 09:00", "Won", close_date="2026-10-20")])
    with pytest.raises(MissingDataError, match="activities.opportunity_id"):
        A.touches_to_close_median(ds, OCT)


# --------------------------------------------------------------------------- response time
RESPONSE_LEADS = [
    # L1 (r1): answered 30 minutes after arrival (first_response_at)
    lead("L1", "r1", "2026-10-01 09:00", first_response_at="2026-10-01 09:30"),
    # L2 (r1): no first_response_at; first outbound touch after arrival 2 h later
    lead("L2", "r1", "2026-10-02 09:00"),
    # L3 (r1): never answered
    lead("L3", "r1", "2026-10-03 09:00"),
    # L4 (r2): answered exactly one hour later
    lead("L4", "r2", "2026-10-04 09:00", first_response_at="2026-10-04 10:00"),
    # L5 (r2): created in September, outside the cohort
    lead("L5", "r2", "2026-09-04 09:00", first_response_at="2026-09-04 09:05"),
]
RESPONSE_ACTS = [
    act("q1", "r1", "email", "2026-10-02 08:00", lead_id="L2"),  # before arrival: ignored
    act("q2", "r1", "email", "2026-10-02 09:12", lead_id="L2", direction="inbound"),  # inbound
    act("q3", "r1", "call", "2026-10-02 11:00", lead_id="L2"),  # the response: 2 h
    act("q4", "r1", "call", "2026-10-02 12:00", lead_id="L2"),
    act("q5", "r1", "call", "2026-10-01 09:05", lead_id="L1"),  # first_response_at wins
]


def test_lead_response_time_is_the_median_hours_to_first_response():
    # r1: median(0.5, 2.0) = 1.25 (L3 never answered: left out); r2: 1.0; r3: NaN
    ds = make(RESPONSE_ACTS, leads=RESPONSE_LEADS)
    assert same(values(A.lead_response_time_h(ds, OCT)), {"r1": 1.25, "r2": 1.0, "r3": NAN})
    # team A: the median of all three answered leads (0.5, 1.0, 2.0) = 1.0,
    # not the mean of the reps' medians (1.125)
    assert same(values(A.lead_response_time_h(ds, OCT, by="team")), {"A": 1.0, "B": NAN})


def test_pct_leads_responded_1h_counts_unanswered_leads_as_misses():
    # r1: L1 within the hour, L2 not, L3 never -> 1/3; r2: L4 at exactly 1 h -> 1/1
    # team A: 2/4 = 0.5
    ds = make(RESPONSE_ACTS, leads=RESPONSE_LEADS)
    got = A.pct_leads_responded_1h(ds, OCT)
    assert same(values(got), {"r1": 1 / 3, "r2": 1.0, "r3": NAN})
    assert got["n"].to_dict() == {"r1": 3, "r2": 1, "r3": 0}
    assert same(values(A.pct_leads_responded_1h(ds, OCT, by="team")), {"A": 0.5, "B": NAN})


def test_lead_response_time_works_from_first_response_at_alone():
    # no activities table: L2's fallback is gone, so r1 = median(0.5) = 0.5
    ds = make(None, leads=RESPONSE_LEADS)
    assert same(values(A.lead_response_time_h(ds, OCT)), {"r1": 0.5, "r2": 1.0, "r3": NAN})


def test_lead_response_time_needs_leads_and_a_response_source():
    with pytest.raises(MissingDataError, match="needs leads"):
        A.lead_response_time_h(make(RESPONSE_ACTS), OCT)
    bare_leads = [{k: v for k, v in r.items() if k != "first_response_at"} for r in RESPONSE_LEADS]
    with pytest.raises(MissingDataError, match="leads.first_response_at or activities.lead_id"):
        A.pct_leads_responded_1h(make(None, leads=bare_leads), OCT)


# --------------------------------------------------------------------------- efficiency
EFF_OPPS = [
    # created in October: O1 (r1) and O2 (r2); O3 (r1) created in September
    opp("O1", "r1", "2026-10-03 09:00", "SQL"),
    opp("O2", "r2", "2026-10-04 09:00", "SQL"),
    opp("O3", "r1", "2026-09-04 09:00", "SQL"),
    # won in October: W1 and W2 (r1); W3 (r1) won in November; W4 (r2) lost
    opp("W1", "r1", "2026-08-01 09:00", "Won", 5000, close_date="2026-10-10"),
    opp("W2", "r1", "2026-08-01 09:00", "Won", 1000, close_date="2026-10-11"),
    opp("W3", "r1", "2026-08-01 09:00", "Won", 9000, close_date="2026-11-11"),
    opp("W4", "r2", "2026-08-01 09:00", "Lost", 9000, close_date="2026-10-11"),
]
EFF_ACTS = [
    # r1: four outbound calls (1 connected), one inbound connected call, an email,
    # a held meeting and a no-show meeting
    act("e1", "r1", "call", "2026-10-01 09:00", outcome="connected"),
    act("e2", "r1", "call", "2026-10-01 10:00", outcome="no_answer"),
    act("e3", "r1", "call", "2026-10-01 11:00", outcome="voicemail"),
    act("e4", "r1", "call", "2026-10-01 12:00", outcome="no_answer"),
    act("e5", "r1", "call", "2026-10-02 09:00", outcome="connected", direction="inbound"),
    act("e6", "r1", "email", "2026-10-02 10:00"),
    act("e7", "r1", "meeting", "2026-10-03 10:00", outcome="held"),
    act("e8", "r1", "meeting", "2026-10-04 10:00", outcome="no_show"),
    # r2: one email only
    act("e9", "r2", "email", "2026-10-04 10:00"),
]


def test_opps_per_1000_calls_scales_opportunities_per_call():
    # r1: 1 opportunity (O1) / 4 outbound calls x 1000 = 250; r2: 1 / 0 calls -> NaN
    got = A.opps_per_1000_calls(make(EFF_ACTS, opportunities=EFF_OPPS), OCT)
    assert list(got.columns) == RATIO_COLUMNS
    assert same(values(got), {"r1": 250.0, "r2": NAN, "r3": NAN})
    assert got.loc["r1", "numerator"] == 1 and got.loc["r1", "denominator"] == 4
    assert got.loc["r2", "numerator"] == 1 and got.loc["r2", "denominator"] == 0


def test_calls_per_opportunity():
    # r1: 4 calls / 1 = 4.0; r2: 0 calls / 1 = 0.0; r3: 0 / 0 -> NaN; team A: 4 / 2 = 2.0
    ds = make(EFF_ACTS, opportunities=EFF_OPPS)
    assert same(values(A.calls_per_opportunity(ds, OCT)), {"r1": 4.0, "r2": 0.0, "r3": NAN})
    assert same(values(A.calls_per_opportunity(ds, OCT, by="team")), {"A": 2.0, "B": NAN})


def test_activities_per_win_counts_every_outbound_activity():
    # r1: 7 outbound activities (e5 is inbound) / 2 wins (W1, W2) = 3.5; r2: 1 / 0 -> NaN
    ds = make(EFF_ACTS, opportunities=EFF_OPPS)
    got = A.activities_per_win(ds, OCT)
    assert same(values(got), {"r1": 3.5, "r2": NAN, "r3": NAN})
    assert got.loc["r2", "numerator"] == 1


def test_revenue_per_conversation_divides_won_revenue_by_conversations():
    # r1 conversations: e1 + e5 (connected calls, either direction) + e7 (held) = 3
    # won revenue: W1 5000 + W2 1000 = 6000 -> 2000; r2: 0 / 0 -> NaN
    ds = make(EFF_ACTS, opportunities=EFF_OPPS)
    got = A.revenue_per_conversation(ds, OCT)
    assert same(values(got), {"r1": 2000.0, "r2": NAN, "r3": NAN})
    assert got.loc["r1", "numerator"] == 6000 and got.loc["r1", "denominator"] == 3


def test_revenue_per_conversation_needs_outcomes():
    acts = [{k: v for k, v in a.items() if k != "outcome"} for a in EFF_ACTS]
    with pytest.raises(MissingDataError, match="activities.outcome"):
        A.revenue_per_conversation(make(acts, opportunities=EFF_OPPS), OCT)


# --------------------------------------------------------------------------- content
CONTENT_ACTS = [
    # r1's outbound emails: 2 links (3 clicks), 0 links, empty (= no link), 1 link (no clicks)
    act("m1", "r1", "email", "2026-10-01 09:00", content_links=2, clicks=3),
    act("m2", "r1", "email", "2026-10-02 09:00", content_links=0, clicks=0),
    act("m3", "r1", "email", "2026-10-03 09:00"),
    act("m4", "r1", "email", "2026-10-04 09:00", content_links=1, collateral_id="deck"),
    # not counted: an inbound email with a link, a September email
    act("m5", "r1", "email", "2026-10-05 09:00", content_links=1, clicks=9, direction="inbound",
        collateral_id="deck"),
    act("m6", "r1", "email", "2026-09-05 09:00", content_links=1, clicks=9),
    # r2: a call only
    act("m7", "r2", "call", "2026-10-05 09:00"),
]


def test_email_link_rate_is_the_share_of_outbound_emails_with_a_link():
    # r1: m1, m4 of 4 emails = 0.5; r2: no emails -> NaN
    got = A.email_link_rate(make(CONTENT_ACTS), OCT)
    assert same(values(got), {"r1": 0.5, "r2": NAN, "r3": NAN})
    assert got.loc["r1", "successes"] == 2 and got.loc["r1", "n"] == 4


def test_email_click_rate_is_clicks_per_linked_email():
    # r1: (3 + 0 empty) clicks / 2 linked emails = 1.5
    got = A.email_click_rate(make(CONTENT_ACTS), OCT)
    assert same(values(got), {"r1": 1.5, "r2": NAN, "r3": NAN})


def test_collateral_usage_rate_is_the_share_of_outbound_touches_with_collateral():
    # r1: m4 of 4 outbound touches = 0.25; r2: 0 of 1 = 0.0
    got = A.collateral_usage_rate(make(CONTENT_ACTS), OCT)
    assert same(values(got), {"r1": 0.25, "r2": 0.0, "r3": NAN})


@pytest.mark.parametrize(
    ("metric", "drop", "need"),
    [
        ("email_link_rate", "content_links", "activities.content_links"),
        ("email_click_rate", "content_links", "activities.content_links"),
        ("email_click_rate", "clicks", "activities.clicks"),
        ("collateral_usage_rate", "collateral_id", "activities.collateral_id"),
    ],
)
def test_content_metrics_need_their_columns(metric, drop, need):
    acts = [{k: v for k, v in a.items() if k != drop} for a in CONTENT_ACTS]
    with pytest.raises(MissingDataError, match=need):
        REGISTRY[metric].func(make(acts), OCT)


def test_an_all_empty_content_column_counts_as_missing():
    acts = [{**a, "content_links": None} for a in CONTENT_ACTS]
    with pytest.raises(MissingDataError, match="activities.content_links"):
        A.email_link_rate(make(acts), OCT)


# --------------------------------------------------------------------------- key accounts
KEY_ACCOUNTS = [
    {"account_id": "K1", "key_account": True},
    {"account_id": "K2", "key_account": False},
    {"account_id": "K3", "key_account": True},
    {"account_id": "K4", "key_account": None},
]
KEY_OPPS = [opp("O1", "r1", "2026-09-01 09:00", "SQL", account_id="K1")]
KEY_ACTS = [
    # r1 on K1 (30 min) and on O1, whose account is K1 (90 min): 2 interactions, 2 h
    act("a1", "r1", "call", "2026-10-01 09:00", account_id="K1", duration_min=30),
    act("a2", "r1", "meeting", "2026-10-02 09:00", opportunity_id="O1", duration_min=90),
    # not key accounts: K2, K4 (unknown)
    act("a3", "r1", "meeting", "2026-10-03 09:00", account_id="K2", duration_min=60),
    act("a4", "r1", "meeting", "2026-10-03 10:00", account_id="K4", duration_min=60),
    # r2: an inbound call from K3 without a duration (an interaction, 0 h)
    act("a5", "r2", "call", "2026-10-04 09:00", account_id="K3", direction="inbound"),
    # r1 on K1 in November (30 min)
    act("a6", "r1", "call", "2026-11-01 09:00", account_id="K1", duration_min=30),
]


def test_key_account_touches_and_hours_per_month():
    ds = make(KEY_ACTS, opportunities=KEY_OPPS, accounts=KEY_ACCOUNTS)
    # October: r1 2 interactions, 2.0 h; r2 1 interaction, 0 h; r3 nothing
    assert A.key_account_touches(ds, OCT).to_dict() == {"r1": 2.0, "r2": 1.0, "r3": 0.0}
    assert A.key_account_hours(ds, OCT).to_dict() == {"r1": 2.0, "r2": 0.0, "r3": 0.0}
    # 2026-Q4, per month: r1 3 interactions / 3 = 1.0 and 2.5 h / 3; r2 1 / 3
    q4 = A.key_account_touches(ds, "2026-Q4")
    assert q4["r1"] == pytest.approx(1.0) and q4["r2"] == pytest.approx(1 / 3)
    assert A.key_account_hours(ds, "2026-Q4")["r1"] == pytest.approx(2.5 / 3)


def test_key_account_metrics_need_key_accounts_and_durations():
    ds = make(KEY_ACTS, opportunities=KEY_OPPS)
    with pytest.raises(MissingDataError, match="accounts.key_account"):
        A.key_account_touches(ds, OCT)
    acts = [{k: v for k, v in a.items() if k != "duration_min"} for a in KEY_ACTS]
    ds = make(acts, opportunities=KEY_OPPS, accounts=KEY_ACCOUNTS)
    with pytest.raises(MissingDataError, match="activities.duration_min"):
        A.key_account_hours(ds, OCT)


# --------------------------------------------------------------------------- appointments
APPT_LEADS = [
    # created in October
    lead("L1", "r1", "2026-10-01 09:00", source="web"),
    lead("L2", "r1", "2026-10-01 10:00", source="web", opportunity_id="O2"),
    lead("L3", "r1", "2026-10-01 11:00", source="referral"),
    lead("L4", "r1", "2026-10-01 12:00", opportunity_id="O4"),  # no source
    lead("L5", "r2", "2026-10-02 09:00", source="referral"),
    # created in September
    lead("L6", "r1", "2026-09-01 09:00", source="event"),
]
APPT_OPPS = [
    opp("O2", "r1", "2026-10-03 09:00", "SQL", lead_id="L2"),
    opp("O4", "r1", "2026-10-03 09:00", "Meeting", lead_id="L4"),
]
APPT_HISTORY = [
    {"opportunity_id": "O2", "stage": "SQL", "entered_at": "2026-10-03 09:00"},
    {"opportunity_id": "O4", "stage": "SQL", "entered_at": "2026-10-03 09:00"},
    {"opportunity_id": "O4", "stage": "Meeting", "entered_at": "2026-10-20 09:00"},
]
APPT_ACTS = [
    # L1: an appointment set by r1
    act("s1", "r1", "appointment_set", "2026-10-05 09:00", lead_id="L1", outcome="booked"),
    # L2: a held meeting logged on its opportunity only
    act("s2", "r1", "meeting", "2026-10-06 09:00", opportunity_id="O2", outcome="held"),
    # L3: a no-show meeting is no appointment
    act("s3", "r1", "meeting", "2026-10-07 09:00", lead_id="L3", outcome="no_show"),
    # L5: only calls
    act("s4", "r2", "call", "2026-10-07 09:00", lead_id="L5"),
]


def test_source_to_first_appointment_is_a_rate_per_lead_source():
    # r1: web L1 (appointment set) + L2 (held meeting on O2) = 2/2;
    #     referral L3 (no show) = 0/1; (unknown) L4 (O4 reached Meeting) = 1/1; event: no
    #     October leads -> NaN
    # r2: referral L5 = 0/1; r3: all NaN
    ds = make(APPT_ACTS, leads=APPT_LEADS, opportunities=APPT_OPPS, stage_history=APPT_HISTORY)
    got = A.source_to_first_appointment(ds, OCT)
    assert got.index.names == ["rep_id", "source"]
    assert list(got.columns) == RATE_COLUMNS
    sources = ["(unknown)", "event", "referral", "web"]
    assert list(got.index) == [(r, s) for r in ("r1", "r2", "r3") for s in sources]
    assert same(values(got.loc["r1"]), {"(unknown)": 1.0, "event": NAN, "referral": 0.0,
                                        "web": 1.0})
    assert got.loc[("r1", "web"), "n"] == 2
    assert same(values(got.loc["r2"]), {"(unknown)": NAN, "event": NAN, "referral": 0.0,
                                        "web": NAN})
    assert got.loc["r3", "value"].isna().all()
    # team A, referral: L3 and L5 -> 0/2
    team = A.source_to_first_appointment(ds, OCT, by="team")
    assert team.loc[("A", "referral"), "n"] == 2


def test_source_to_first_appointment_falls_back_to_the_current_stage():
    # without stage_history, O4's current stage (Meeting) still says L4 got there
    ds = make(APPT_ACTS, leads=APPT_LEADS, opportunities=APPT_OPPS)
    got = A.source_to_first_appointment(ds, OCT)
    assert got.loc[("r1", "(unknown)"), "value"] == 1.0


OUTREACH_ACTS = [
    # r1's outbound touches in October: 5 (t1-t4, s1); the inbound one does not count
    act("t1", "r1", "call", "2026-10-01 09:00", lead_id="L1"),
    act("t2", "r1", "call", "2026-10-02 09:00", lead_id="L2"),
    act("t3", "r1", "email", "2026-10-02 10:00", lead_id="L3"),
    act("t4", "r1", "email", "2026-10-02 11:00", lead_id="L3", direction="inbound"),
    act("t5", "r1", "linkedin", "2026-10-02 12:00"),
    # L1: first appointment in October, set by r1
    act("s1", "r1", "appointment_set", "2026-10-05 09:00", lead_id="L1"),
    # L2: first appointment in September (r1); a held meeting in October is not a first
    act("s2", "r1", "appointment_set", "2026-09-05 09:00", lead_id="L2"),
    act("s3", "r1", "meeting", "2026-10-06 09:00", lead_id="L2", outcome="held",
        direction="inbound"),
    # L3: r2 holds the first meeting in October (r2's first appointment; an outbound touch)
    act("s4", "r2", "meeting", "2026-10-07 09:00", lead_id="L3", outcome="held"),
]


def test_outreach_to_first_appointment_divides_touches_by_first_appointments():
    # r1: 5 touches (t1, t2, t3, t5, s1) / 1 first appointment (L1) = 5.0
    # r2: 1 touch (s4) / 1 first appointment (L3) = 1.0; r3: 0 / 0 -> NaN
    got = A.outreach_to_first_appointment(make(OUTREACH_ACTS), OCT)
    assert same(values(got), {"r1": 5.0, "r2": 1.0, "r3": NAN})
    assert got.loc["r1", "numerator"] == 5 and got.loc["r1", "denominator"] == 1
    # team A: 6 touches / 2 first appointments = 3.0
    assert same(values(A.outreach_to_first_appointment(make(OUTREACH_ACTS), OCT, by="team")),
                {"A": 3.0, "B": NAN})


def test_a_meeting_stage_without_stage_history_dates_no_first_appointment():
    # r1's outbound touches in October: s1, s2, s3 = 3.
    # With stage_history, first appointments are L1 (5 Oct), L2 (6 Oct) and L4 (O4 entered
    # Meeting on 20 Oct): 3 / 3 = 1.0. Without it O4's reach time is only its creation time,
    # so L4's first appointment cannot be placed in a period: 3 / 2 = 1.5.
    dated = make(APPT_ACTS, leads=APPT_LEADS, opportunities=APPT_OPPS,
                 stage_history=APPT_HISTORY)
    undated = make(APPT_ACTS, leads=APPT_LEADS, opportunities=APPT_OPPS)
    assert A.outreach_to_first_appointment(dated, OCT).loc["r1", "value"] == 1.0
    assert A.outreach_to_first_appointment(undated, OCT).loc["r1", "value"] == 1.5


NEXT_LEADS = [lead(f"L{i}", "r1", "2026-09-01 09:00") for i in range(1, 6)]
NEXT_OPPS = [opp("O4", "r2", "2026-10-01 09:00", "Proposal", lead_id="L4")]
NEXT_HISTORY = [
    {"opportunity_id": "O4", "stage": "SQL", "entered_at": "2026-10-01 09:00"},
    {"opportunity_id": "O4", "stage": "Meeting", "entered_at": "2026-10-08 09:00"},
    {"opportunity_id": "O4", "stage": "Proposal", "entered_at": "2026-11-02 09:00"},
]
NEXT_ACTS = [
    # L1 (r1): appointment set, then a proposal in November -> next step
    act("n1", "r1", "appointment_set", "2026-10-02 09:00", lead_id="L1"),
    act("n2", "r1", "proposal_sent", "2026-11-03 09:00", lead_id="L1"),
    # L2 (r1): a demo before the appointment only -> no next step
    act("n3", "r1", "demo", "2026-09-20 09:00", lead_id="L2"),
    act("n4", "r1", "meeting", "2026-10-03 09:00", lead_id="L2", outcome="held"),
    # L3 (r1): two held meetings -> a second meeting
    act("n5", "r1", "meeting", "2026-10-04 09:00", lead_id="L3", outcome="held"),
    act("n6", "r1", "meeting", "2026-10-24 09:00", lead_id="L3"),
    # L4 (r2's opportunity): first appointment = the Meeting stage on 8 October,
    # then the Proposal stage -> next step
    # L5 (r2): an appointment set, nothing after
    act("n7", "r2", "appointment_set", "2026-10-05 09:00", lead_id="L5"),
]


def test_first_appointment_to_next_step_is_the_share_followed_by_a_next_step():
    # r1: L1 (proposal), L3 (second meeting) of {L1, L2, L3} = 2/3
    # r2: L4 (proposal stage) of {L4, L5} = 1/2; team A = 3/5
    ds = make(NEXT_ACTS, leads=NEXT_LEADS, opportunities=NEXT_OPPS, stage_history=NEXT_HISTORY)
    got = A.first_appointment_to_next_step(ds, OCT)
    assert same(values(got), {"r1": 2 / 3, "r2": 0.5, "r3": NAN})
    assert got["n"].to_dict() == {"r1": 3, "r2": 2, "r3": 0}
    assert same(values(A.first_appointment_to_next_step(ds, OCT, by="team")),
                {"A": 0.6, "B": NAN})


def test_appointment_metrics_need_leads_on_activities():
    ds = make([act("c1", "r1", "meeting", "2026-10-01 09:00")])
    with pytest.raises(MissingDataError, match="activities.lead_id or activities.opportunity_id"):
        A.outreach_to_first_appointment(ds, OCT)


# --------------------------------------------------------------------------- common behaviour
def build_rich_dataset(shuffle: int | None = None) -> Dataset:
    """Every fixture above in one dataset (rows optionally shuffled with a seed)."""
    acts = {a["activity_id"] + "-" + str(i): a for i, group in enumerate(
        [COUNTS_DS, PROSPECTS_DS, FOLLOWED_DS, CLOSE_ACTS, RESPONSE_ACTS, EFF_ACTS,
         CONTENT_ACTS, KEY_ACTS, APPT_ACTS]) for a in group}
    acts = pd.DataFrame([{**a, "activity_id": k} for k, a in acts.items()])
    leads: dict[str, dict] = {}
    for r in APPT_LEADS + RESPONSE_LEADS + CLOSE_LEADS:
        leads.setdefault(r["lead_id"], r)
    for lid in set(acts["lead_id"].dropna()) - set(leads):  # referenced: must exist (2025)
        leads[lid] = lead(lid, "r3", "2025-01-01 09:00")
    opps: dict[str, dict] = {}
    for o in CLOSE_OPPS + KEY_OPPS + APPT_OPPS + [DUMMY_OPP]:
        opps.setdefault(o["opportunity_id"], o)
    accounts = {a["account_id"]: a for a in KEY_ACCOUNTS}
    for aid in set(acts["account_id"].dropna()) - set(accounts):
        accounts[aid] = {"account_id": aid, "key_account": False}
    frames = {
        "activities": acts,
        "leads": pd.DataFrame(list(leads.values())),
        "opportunities": pd.DataFrame(list(opps.values())),
        "accounts": pd.DataFrame(list(accounts.values())),
        "stage_history": pd.DataFrame(APPT_HISTORY),
        "reps": REPS,
    }
    if shuffle is not None:  # the reps table sets the output order: it stays as it is
        frames = {k: v if k == "reps" else v.sample(frac=1, random_state=shuffle)
                  .reset_index(drop=True) for k, v in frames.items()}
    return Dataset.from_frames(**frames)


#: the same datasets for every parametrized test (validation is the slow part)
rich_dataset = functools.lru_cache(maxsize=None)(build_rich_dataset)


def test_every_activity_metric_is_registered_under_its_function_name():
    for mid in ACTIVITY_IDS:
        d = REGISTRY[mid]
        assert d.func.__name__ == mid and d.indicator == "leading"
        assert d.theme in ("activity", "activity_ratio")


@pytest.mark.parametrize("mid", ACTIVITY_IDS)
@pytest.mark.parametrize("by", ["rep", "team", "org"])
def test_output_shape_follows_the_registry(mid, by):
    d = REGISTRY[mid]
    ds = rich_dataset()
    got = d.func(ds, OCT, by=by)
    groups = {"rep": ["r1", "r2", "r3"], "team": ["A", "B"], "org": ["all reps"]}[by]
    key = {"rep": "rep_id", "team": "team", "org": "org"}[by]
    if d.shape == "breakdown":
        assert got.index.names[0] == key
        assert list(pd.unique(got.index.get_level_values(0))) == groups
    else:
        assert list(got.index) == groups and got.index.name == key
    if d.unit == "fraction":
        assert list(got.columns) == RATE_COLUMNS
        assert ((got["value"] >= 0) | got["value"].isna()).all()
    elif d.unit == "ratio":
        assert list(got.columns) == RATIO_COLUMNS
    else:
        assert isinstance(got, pd.Series) and got.name == mid


@pytest.mark.parametrize("mid", ACTIVITY_IDS)
def test_row_order_does_not_change_the_result(mid):
    func = REGISTRY[mid].func
    base = func(rich_dataset(), OCT, by="rep")
    for seed in (1, 2):
        shuffled = func(rich_dataset(shuffle=seed), OCT, by="rep")
        if isinstance(base, pd.DataFrame):
            pd.testing.assert_frame_equal(shuffled, base, check_index_type=False)
        else:
            pd.testing.assert_series_equal(shuffled, base, check_index_type=False)


def test_inputs_are_not_mutated():
    ds = build_rich_dataset()
    before = {name: df.copy(deep=True) for name, df in ds.tables.items() if df is not None}
    for mid in ACTIVITY_IDS:
        for by in ("rep", "team"):
            REGISTRY[mid].func(ds, OCT, by=by)
    for name, df in before.items():
        pd.testing.assert_frame_equal(ds.tables[name], df)


@pytest.mark.parametrize("mid", ACTIVITY_IDS)
def test_without_activities_a_metric_is_not_available(mid):
    ds = make(None, leads=CLOSE_LEADS, opportunities=CLOSE_OPPS)
    if mid in ("lead_response_time_h", "pct_leads_responded_1h"):
        # leads alone, without first_response_at, cannot tell when a lead was answered
        match = "leads.first_response_at or activities.lead_id"
    else:
        match = "needs activities"
    with pytest.raises(MissingDataError, match=match) as info:
        REGISTRY[mid].func(ds, OCT)
    assert info.value.what == mid


def test_an_empty_period_gives_zero_counts_and_missing_rates():
    ds = rich_dataset()
    assert A.calls_made(ds, "2030-01").to_dict() == {"r1": 0, "r2": 0, "r3": 0}
    assert A.pct_leads_followed_up(ds, "2030-01")["value"].isna().all()
    assert A.follow_ups_per_contact(ds, "2030-01")["value"].isna().all()
    assert A.touches_to_close(ds, "2030-01")["value"].isna().all()


def test_an_unknown_grouping_is_a_clear_error():
    with pytest.raises(KpikitError, match="not a grouping"):
        A.calls_made(make(COUNTS_DS), OCT, by="region")


def test_a_bad_period_is_a_clear_error():
    with pytest.raises(KpikitError, match="not a period"):
        A.calls_made(make(COUNTS_DS), "October")
