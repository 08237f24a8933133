"""A one-rep org with a May 2026 cohort worked out by hand, shared by the planner tests
(tests/test_planning.py) and the widget planner tests (tests/test_widgets.py)."""

import pandas as pd


def history_frames(open_deal: bool = False) -> dict[str, pd.DataFrame]:
    """One rep, R1 (team T), with a May 2026 cohort worked out by hand:

    40 leads created 4 May; 20 qualified 10 May (opportunities O1..O20 opened then);
    O1..O10 reach Meeting (20 May); O1..O5 reach Proposal (1 Jun); O1, O2 won 15 Jun
    at 10,000 each; everything else lost. Quota for 2026-11: 50,000.
    Rates (window 2026-04..2026-09): lead_to_sql 20/40, sql_to_meeting 10/20,
    meeting_to_proposal 5/10, proposal_to_won 2/5, lead_to_customer 2/40; average
    won deal 10,000.
    With ``open_deal``: O99, 20,000 at Proposal since 20 Oct, expected to close 20 Nov;
    2 of the 5 closed deals that reached Proposal were won -> weight 0.4 -> 8,000 expected.
    """
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(1, 41)],
            "rep_id": "R1",
            "created_at": "2026-05-04 09:00",
            "qualified_at": ["2026-05-10 09:00"] * 20 + [None] * 20,
            "opportunity_id": [f"O{i}" for i in range(1, 21)] + [None] * 20,
        }
    )
    stage = ["Won"] * 2 + ["Lost"] * 18
    close = ["2026-06-15"] * 2 + ["2026-06-20"] * 3 + ["2026-06-10"] * 5 + ["2026-05-30"] * 10
    opps = pd.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(1, 21)],
            "rep_id": "R1",
            "created_at": "2026-05-10 09:00",
            "stage": stage,
            "amount": 10_000.0,
            "close_date": close,
            "lead_id": [f"L{i}" for i in range(1, 21)],
        }
    )
    hist = [(f"O{i}", "SQL", "2026-05-10 09:00") for i in range(1, 21)]
    hist += [(f"O{i}", "Meeting", "2026-05-20 09:00") for i in range(1, 11)]
    hist += [(f"O{i}", "Proposal", "2026-06-01 09:00") for i in range(1, 6)]
    hist += [
        (f"O{i}", s, f"{c} 12:00") for i, (s, c) in enumerate(zip(stage, close, strict=True), 1)
    ]
    if open_deal:
        opps = pd.concat(
            [
                opps,
                pd.DataFrame(
                    {
                        "opportunity_id": ["O99"],
                        "rep_id": ["R1"],
                        "created_at": ["2026-10-01 09:00"],
                        "stage": ["Proposal"],
                        "amount": [20_000.0],
                        "close_date": ["2026-11-20"],
                    }
                ),
            ],
            ignore_index=True,
        )
        hist += [("O99", "SQL", "2026-10-01 09:00"), ("O99", "Proposal", "2026-10-20 09:00")]
    return {
        "reps": pd.DataFrame({"rep_id": ["R1"], "name": ["Ada Lee"], "team": ["T"]}),
        "leads": leads,
        "opportunities": opps,
        "stage_history": pd.DataFrame(hist, columns=["opportunity_id", "stage", "entered_at"]),
        "quotas": pd.DataFrame({"rep_id": ["R1"], "period": ["2026-11"], "quota": [50_000.0]}),
    }
