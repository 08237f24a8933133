"""Salesforce exports: Opportunity, Opportunity History, Lead and Task/Event reports.

Report exports (the column labels of a tabular report saved as CSV or
``.xlsx``) and Data Loader / Data Export files (API field names such as
``StageName``, ``CloseDate``) are both read:

====================  =================================================  =============
export                recognised by                                      table
====================  =================================================  =============
opportunity history   ``From Stage`` / ``To Stage`` / ``OpportunityId``,   stage_history
                      or ``Stage`` + a change date in a file named
                      ``*history*``
opportunities         ``Stage`` / ``StageName``                          opportunities
leads                 ``Lead Owner`` / ``Lead Status`` / ``Lead ID``     leads
tasks and events      ``Assigned`` / ``Activity ID`` / ``Call Type`` /    activities
                      ``ActivityDate``
====================  =================================================  =============

The stage is one of the standard sales process (``Prospecting`` ...
``Closed Won``, ``Closed Lost``). Owners are names in reports (``Opportunity
Owner``) and user ids in API exports (``OwnerId``): either becomes the rep id.
A report's footer (``Grand Totals``, ``Confidential Information - Do Not
Distribute``, the copyright line) is dropped when the file is read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpikit.importers.common import (
    SOURCE_FILE,
    SOURCE_ROW,
    Context,
    ExportFile,
    ImportDataError,
    Kind,
    Source,
    Stages,
    Where,
    parse_minutes,
)

STAGES = Stages(
    order=("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
           "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
           "Negotiation/Review"),
    won=("Closed Won",),
    lost=("Closed Lost",),
    sql="Qualification",
    meeting="Needs Analysis",
    proposal="Proposal/Price Quote",
    aliases={"id. decision makers": "Id. Decision Makers",
             "id decision makers": "Id. Decision Makers",
             "proposal / price quote": "Proposal/Price Quote",
             "negotiation / review": "Negotiation/Review"},
)

_HISTORY_COLUMNS = {
    "opportunity_id": ("Opportunity ID", "OpportunityId", "Opportunity Id",
                       "Opportunity: Opportunity ID", "Opportunity 18 Digit ID"),
    "stage": ("To Stage", "StageName", "Stage"),
    "entered_at": ("Edit Date", "Last Modified", "Last Modified Date", "CreatedDate",
                   "Created Date", "Date"),
}
_HISTORY_EXTRAS = {"opportunity_name": ("Opportunity Name",), "from_stage": ("From Stage",)}

HISTORY = Kind(
    name="opportunity history",
    table="stage_history",
    signature=(("From Stage", "To Stage", "OpportunityId"),),
    columns=_HISTORY_COLUMNS,
    extras=_HISTORY_EXTRAS,
    deferred=("opportunity_id",),
    description="Opportunity History / Stage History report",
)
#: a stage history report without From/To columns, recognised by its file name
HISTORY_BY_NAME = Kind(
    name="opportunity history",
    table="stage_history",
    signature=(("Stage", "StageName"),
               ("Edit Date", "Last Modified", "Last Modified Date", "CreatedDate")),
    columns=_HISTORY_COLUMNS,
    extras=_HISTORY_EXTRAS,
    deferred=("opportunity_id",),
    file_hint="history",
)

OPPORTUNITIES = Kind(
    name="opportunities",
    table="opportunities",
    signature=(("Stage", "StageName"),),
    columns={
        "opportunity_id": ("Opportunity ID", "Id", "Opportunity Id", "Opportunity 18 Digit ID",
                           "Opportunity ID (18)"),
        "rep_id": ("Opportunity Owner", "Owner Name", "Owner Full Name", "OwnerId", "Owner"),
        "created_at": ("Created Date", "CreatedDate", "Create Date"),
        "stage": ("Stage", "StageName"),
        "amount": ("Amount", "Total Amount", "Amount (converted)"),
        "close_date": ("Close Date", "CloseDate"),
        "account_id": ("Account Name", "Account ID", "AccountId"),
        "source": ("Lead Source", "LeadSource", "Source"),
        "lost_reason": ("Loss Reason", "Lost Reason", "Closed Lost Reason", "Reason Lost"),
        "product": ("Product Name", "Product"),
        "lead_id": ("Lead ID", "Converted Lead ID"),
    },
    extras={"opportunity_name": ("Opportunity Name", "Name"), "type": ("Type",),
            "probability": ("Probability (%)", "Probability"),
            "currency": ("Amount Currency", "Opportunity Currency", "CurrencyIsoCode",
                         "Total Amount Currency"),
            "fiscal_period": ("Fiscal Period",)},
    id_fallback=True,
)

LEADS = Kind(
    name="leads",
    table="leads",
    signature=(("Lead Owner", "Lead Status", "Lead ID", "IsConverted", "ConvertedDate"),),
    columns={
        "lead_id": ("Lead ID", "Id", "Lead Id"),
        "rep_id": ("Lead Owner", "Owner Name", "OwnerId", "Owner"),
        "created_at": ("Create Date", "Created Date", "CreatedDate"),
        "source": ("Lead Source", "LeadSource"),
        "qualified_at": ("Converted Date", "ConvertedDate"),
        "company_size": ("No. of Employees", "NumberOfEmployees", "Employees"),
        "opportunity_id": ("Converted Opportunity ID", "ConvertedOpportunityId",
                           "Converted Opportunity Id"),
    },
    extras={"lead_status": ("Lead Status", "Status"), "company": ("Company / Account", "Company"),
            "title": ("Title",), "converted": ("Converted", "IsConverted")},
)

_TYPES = {"call": "call", "email": "email", "list email": "email", "send letter": "email",
          "meeting": "meeting", "event": "meeting", "linkedin": "linkedin", "task": "task",
          "other": "other", "demo": "demo", "cadence": "task"}
_CALL_TYPES = {"inbound": "inbound", "outbound": "outbound"}
_CALL_RESULTS = {"connected": "connected", "left voicemail": "voicemail", "voicemail": "voicemail",
                 "no answer": "no_answer", "busy": "no_answer", "meeting booked": "booked",
                 "meeting scheduled": "booked"}


def _done_only(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    """Open tasks have not happened: keep completed tasks and events (no status).

    A call's duration in seconds (``Call Duration``) fills ``duration_min`` when the
    export has no duration in minutes.
    """
    if "duration_min" not in df.columns and "call_duration_s" in df.columns:
        where = Where(ex.name, "call_duration_s")
        df["duration_min"] = parse_minutes(df["call_duration_s"], where=where, rows=ex.rows, unit="s")
    status = ex.find(("Status",))
    if status is None:
        return df
    s = ex.column(status).str.casefold()
    keep = (s.isna() | s.isin(["completed", "complete", "done", "closed"])).to_numpy()
    if (~keep).any():
        ctx.note("info", f"{ex.name}: {int((~keep).sum())} open task(s) (status not Completed) are "
                 "not imported (an activity counts once it is done)", file=ex.name,
                 count=int((~keep).sum()))
    return df[keep].reset_index(drop=True)


ACTIVITIES = Kind(
    name="tasks and events",
    table="activities",
    signature=(("Assigned", "Assigned To", "Activity ID", "Call Type", "ActivityDate",
                "TaskSubtype", "Task/Event"),),
    columns={
        "activity_id": ("Activity ID", "Id", "Task ID", "Event ID"),
        "rep_id": ("Assigned", "Assigned To", "Assigned Name", "OwnerId", "Owner"),
        "occurred_at": ("Date", "Due Date", "Activity Date", "ActivityDateTime", "ActivityDate",
                        "Start", "Start Date Time", "Completed Date/Time", "CompletedDateTime"),
        "type": ("Type", "Activity Type", "Task Subtype", "TaskSubtype", "Event Subtype",
                 "EventSubtype", "Task Type"),
        "direction": ("Call Type", "CallType"),
        "outcome": ("Call Result", "CallDisposition", "Call Disposition"),
        "duration_min": ("Duration", "DurationInMinutes", "Duration (Minutes)"),
        "opportunity_id": ("Opportunity ID", "Opportunity Id"),
        "lead_id": ("Lead ID", "Lead Id"),
        "account_id": ("Account ID", "Account Id"),
    },
    values={"type": _TYPES, "direction": _CALL_TYPES, "outcome": _CALL_RESULTS},
    extras={"subject": ("Subject",), "status": ("Status",), "call_duration_s": (
        "Call Duration", "CallDurationInSeconds", "Call Duration (seconds)")},
    id_fallback=True,
    post=_done_only,
)


def _finish(parts: dict[str, list[pd.DataFrame]], ctx: Context) -> None:
    hist = parts.get("stage_history")
    if not hist:
        return
    opps = pd.concat(parts.get("opportunities", []) or [pd.DataFrame()], ignore_index=True)
    fixed = []
    for h in hist:
        if "opportunity_id" not in h.columns:
            h = _link_by_name(h, opps)
        h = h.sort_values(["opportunity_id", "entered_at", SOURCE_ROW], kind="stable")
        same = (h["opportunity_id"] == h["opportunity_id"].shift()) & (h["stage"] == h["stage"].shift())
        if same.any():
            ctx.note("info", f"{h[SOURCE_FILE].iloc[0]}: {int(same.sum())} history row(s) change "
                     "the amount, probability or close date but not the stage; only stage "
                     "changes become stage history", count=int(same.sum()))
        fixed.append(h[~same.to_numpy()].reset_index(drop=True))
    parts["stage_history"] = fixed


def _link_by_name(h: pd.DataFrame, opps: pd.DataFrame) -> pd.DataFrame:
    """A history report without Opportunity ID: link rows by the opportunity's (unique) name."""
    file = h[SOURCE_FILE].iloc[0] if len(h) else "the history export"
    if "opportunity_name" not in h.columns or "opportunity_name" not in opps.columns:
        raise ImportDataError(
            f"{file}: the stage history has no Opportunity ID column, and no Opportunity Name to "
            "link it to the opportunities export by; add the Opportunity ID column to both "
            "reports"
        )
    names = opps.dropna(subset=["opportunity_name"])
    dup = names["opportunity_name"].duplicated(keep=False)
    lookup = names[~dup].set_index("opportunity_name")["opportunity_id"]
    linked = h["opportunity_name"].map(lookup)
    ambiguous = h["opportunity_name"].isin(set(names.loc[dup, "opportunity_name"])).to_numpy()
    unknown = (linked.isna().to_numpy() & ~ambiguous & h["opportunity_name"].notna().to_numpy())
    if ambiguous.any() or unknown.any():
        bad = np.flatnonzero(ambiguous | unknown)[:5]
        shown = ", ".join(f"row {h[SOURCE_ROW].iloc[i]} {h['opportunity_name'].iloc[i]!r}"
                          for i in bad)
        raise ImportDataError(
            f"{file}: the stage history has no Opportunity ID column, and "
            f"{int(ambiguous.sum())} row(s) name an opportunity whose name is not unique, "
            f"{int(unknown.sum())} one not in the opportunities export ({shown}); add the "
            "Opportunity ID column to both reports"
        )
    return h.assign(opportunity_id=linked.astype("str"))


SOURCE = Source(
    name="salesforce",
    description="Salesforce report or Data Loader exports: Opportunity, Opportunity History, "
    "Lead, Tasks and Events",
    kinds=(HISTORY, HISTORY_BY_NAME, OPPORTUNITIES, LEADS, ACTIVITIES),
    stages=STAGES,
    finish=_finish,
    lacks=("quotas", "accounts", "customers", "costs"),
)
