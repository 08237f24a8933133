"""HubSpot exports: deals, contacts, companies and engagements (calls, meetings, emails, tasks).

Files are recognised by their headers (the labels HubSpot's "Export" writes):

============  =============================================  ===============
export        recognised by                                  table
============  =============================================  ===============
deals         ``Deal Stage``                                 opportunities
contacts      ``Contact owner`` / ``First Name`` / ``Email``  leads
companies     ``Company name`` + ``Company owner``           accounts
calls         ``Call outcome`` / ``Call direction`` / ...    activities
meetings      ``Meeting outcome`` / ``Meeting name``         activities
emails        ``Email subject`` / ``Email direction``        activities
tasks         ``Task Type`` / ``Task Title``                 activities
activities    ``Activity Type`` + ``Activity date``          activities
============  =============================================  ===============

Owners are names (``Deal owner``, ``Contact owner``, ``Activity assigned to``);
the stage is the label of the default *Sales Pipeline* (``Appointment
Scheduled`` ... ``Closed Won``, ``Closed Lost``), also accepted as the internal
name (``closedwon``) or with the pipeline in brackets (``Closed Won (Sales
Pipeline)``). The deals export's ``Date entered "<stage> (<pipeline>)"``
columns, when exported, become stage history (the latest entry per stage: that
is all HubSpot keeps in those properties).
"""

from __future__ import annotations

import re

import pandas as pd

from kpikit.importers.common import (
    SOURCE_FILE,
    SOURCE_ROW,
    Context,
    ExportFile,
    Kind,
    Source,
    Stages,
    Where,
    parse_dates,
)

#: HubSpot's default deal pipeline: internal name -> label
DEFAULT_PIPELINE = {
    "appointmentscheduled": "Appointment Scheduled",
    "qualifiedtobuy": "Qualified To Buy",
    "presentationscheduled": "Presentation Scheduled",
    "decisionmakerboughtin": "Decision Maker Bought-In",
    "contractsent": "Contract Sent",
    "closedwon": "Closed Won",
    "closedlost": "Closed Lost",
}

STAGES = Stages(
    order=tuple(list(DEFAULT_PIPELINE.values())[:5]),
    won=("Closed Won",),
    lost=("Closed Lost",),
    sql="Qualified To Buy",
    meeting="Presentation Scheduled",
    proposal="Contract Sent",
    aliases={**DEFAULT_PIPELINE, "decision maker bought in": "Decision Maker Bought-In"},
    strip_suffix=True,
)

_DATE_ENTERED = re.compile(r"""^Date entered\s+["'“](.+?)["'”]\s*$""", re.IGNORECASE)

_CALL_OUTCOMES = {"connected": "connected", "no answer": "no_answer", "left voicemail": "voicemail",
                  "left live message": "connected", "busy": "no_answer",
                  "wrong number": "wrong_number"}
_MEETING_OUTCOMES = {"completed": "held", "no show": "no_show", "scheduled": "scheduled",
                     "rescheduled": "rescheduled", "canceled": "canceled", "cancelled": "canceled"}
_DIRECTIONS = {"inbound": "inbound", "outbound": "outbound", "email": "outbound",
               "incoming_email": "inbound", "forwarded_email": "outbound",
               "incoming email": "inbound", "forwarded email": "outbound"}
_TASK_TYPES = {"call": "call", "email": "email", "linked_in": "linkedin", "linkedin": "linkedin",
               "todo": "task", "to-do": "task"}
_ACTIVITY_TYPES = {"call": "call", "calls": "call", "email": "email", "emails": "email",
                   "incoming_email": "email", "meeting": "meeting", "meetings": "meeting",
                   "task": "task", "note": "note", "linkedin message": "linkedin",
                   "linked_in": "linkedin", "sms": "sms", "whatsapp": "whatsapp"}

_ACT_COMMON = {
    "activity_id": ("Record ID", "Activity ID", "Engagement ID"),
    "rep_id": ("Activity assigned to", "Assigned to", "Activity owner", "HubSpot Owner"),
    "occurred_at": ("Activity date", "Activity Date", "Start Time", "Create Date"),
    "opportunity_id": ("Associated Deal IDs",),
    "lead_id": ("Associated Contact IDs",),
}


def _only_single_id(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    """``Associated ... IDs`` may list several ids (``123;456``): keep only single ones."""
    for col in ("opportunity_id", "lead_id", "account_id"):
        if col in df.columns and df[col].notna().any():
            several = df[col].str.contains(r"[;,]", regex=True).fillna(False)
            if several.any():
                df[col] = df[col].mask(several)
                ctx.note("info", f"{ex.name}: {int(several.sum())} row(s) are associated with "
                         f"several records; {col} is left empty for those (kpikit links one)",
                         file=ex.name)
    return df


def _deals_post(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    """Stage history from the ``Date entered "<stage> (<pipeline>)"`` columns, if exported."""
    hist = []
    for header in ex.headers:
        m = _DATE_ENTERED.match(header)
        if not m:
            continue
        stage = ctx.stages.lookup(m.group(1))
        vmap = {k.casefold(): v for k, v in ctx.values.get(("opportunities", "stage"), {}).items()}
        if stage is None:
            label = re.sub(r"\s*\([^()]*\)\s*$", "", m.group(1)).strip()
            stage = ctx.stages.lookup(vmap.get(m.group(1).casefold(), vmap.get(label.casefold(), "")))
        if stage is None:
            ctx.note("warning", f"{ex.name}: column {header!r} is about a stage that is not in the "
                     "stage configuration; it is not used as stage history", file=ex.name)
            continue
        when = parse_dates(ex.column(header), where=Where(ex.name, header), rows=ex.rows,
                           fmt=ctx.date_format).values
        part = pd.DataFrame({"opportunity_id": df["opportunity_id"], "stage": stage,
                             "entered_at": when, SOURCE_FILE: df[SOURCE_FILE],
                             SOURCE_ROW: df[SOURCE_ROW]})
        hist.append(part[part["entered_at"].notna()])
    if hist:
        h = pd.concat(hist, ignore_index=True).sort_values([SOURCE_ROW, "entered_at"], kind="stable")
        ctx.extra_parts.setdefault("stage_history", []).append(h.reset_index(drop=True))
    return df


DEALS = Kind(
    name="deals",
    table="opportunities",
    signature=(("Deal Stage", "Dealstage"),),
    columns={
        "opportunity_id": ("Record ID", "Deal ID", "Deal id"),
        "rep_id": ("Deal owner", "Deal Owner", "Owner", "HubSpot Owner"),
        "created_at": ("Create Date", "Created Date", "Create date"),
        "stage": ("Deal Stage", "Dealstage"),
        "amount": ("Amount in company currency", "Amount", "Deal amount"),
        "close_date": ("Close Date", "Close date"),
        "account_id": ("Associated Company (Primary)", "Associated Company", "Company name",
                       "Company"),
        "source": ("Original Source Type", "Original Source", "Original Traffic Source",
                   "Deal source", "Source"),
        "lost_reason": ("Closed Lost Reason", "Closed lost reason", "Lost Reason"),
        "product": ("Product", "Products"),
    },
    extras={"deal_name": ("Deal Name", "Deal name"), "pipeline": ("Pipeline",),
            "deal_type": ("Deal Type",), "currency": ("Currency",)},
    post=_deals_post,
)

CONTACTS = Kind(
    name="contacts",
    table="leads",
    signature=(("Contact owner", "Contact Owner", "First Name", "Email"),),
    columns={
        "lead_id": ("Record ID", "Contact ID", "Contact id"),
        "rep_id": ("Contact owner", "Contact Owner", "Owner", "HubSpot Owner"),
        "created_at": ("Create Date", "Created Date", "Create date"),
        "source": ("Original Source", "Original Source Type", "Latest Source", "Lead Source"),
        "qualified_at": ("Became a Sales Qualified Lead Date",
                         "Became a sales qualified lead date",
                         "Date entered 'Sales Qualified Lead (Lifecycle Stage Pipeline)'",
                         'Date entered "Sales Qualified Lead (Lifecycle Stage Pipeline)"'),
        "company_size": ("Number of Employees", "Employees"),
        "opportunity_id": ("Associated Deal IDs", "Associated Deal ID"),
    },
    extras={"first_name": ("First Name",), "last_name": ("Last Name",), "email": ("Email",),
            "lifecycle_stage": ("Lifecycle Stage",), "lead_status": ("Lead Status",),
            "job_title": ("Job Title",), "company": ("Company Name", "Associated Company")},
    post=_only_single_id,
)

COMPANIES = Kind(
    name="companies",
    table="accounts",
    signature=(("Company name", "Company Name", "Name"),
               ("Company owner", "Company Owner", "Company Domain Name")),
    columns={
        "account_id": ("Company name", "Company Name", "Name"),
        "name": ("Company name", "Company Name", "Name"),
        "rep_id": ("Company owner", "Company Owner"),
        "segment": ("Industry", "Type"),
        "employees": ("Number of Employees",),
        "annual_revenue": ("Annual Revenue",),
    },
    extras={"hubspot_id": ("Record ID",), "domain": ("Company Domain Name",),
            "country": ("Country/Region",)},
)


def _activity_kind(name: str, signature: tuple[str, ...], type_: str | None, *,
                   outcome: tuple[str, ...] = (), outcome_map: dict[str, str] | None = None,
                   direction: tuple[str, ...] = (), extra_type: tuple[str, ...] = (),
                   type_map: dict[str, str] | None = None, duration: tuple[str, ...] = (),
                   subject: tuple[str, ...] = (), post=None) -> Kind:
    columns = dict(_ACT_COMMON)
    values: dict[str, dict[str, str]] = {}
    if outcome:
        columns["outcome"] = outcome
        values["outcome"] = outcome_map or {}
    if direction:
        columns["direction"] = direction
        values["direction"] = _DIRECTIONS
    if extra_type:
        columns["type"] = extra_type
        values["type"] = type_map or {}
    if duration:
        columns["duration_min"] = duration
    return Kind(
        name=name, table="activities", signature=(signature,), columns=columns, values=values,
        constants={"type": type_} if type_ else {}, id_prefix=name.rstrip("s"),
        duration_unit="ms", extras={"subject": subject} if subject else {},
        post=post or _only_single_id,
    )


def _done_tasks(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    """A task that is not completed has not happened: keep completed tasks only."""
    df = _only_single_id(df, ex, ctx)
    status = ex.find(("Task Status", "Status"))
    if status is None:
        return df
    done = ex.column(status).str.upper().str.replace(" ", "_").isin(["COMPLETED", "DONE"])
    if (~done).any():
        ctx.note("info", f"{ex.name}: {int((~done).sum())} task(s) not completed are not imported "
                 "(an activity counts once it is done)", file=ex.name, count=int((~done).sum()))
    return df[done.to_numpy()].reset_index(drop=True)


CALLS = _activity_kind("calls", ("Call outcome", "Call direction", "Call Title", "Call notes"),
                       "call", outcome=("Call outcome", "Call Outcome"),
                       outcome_map=_CALL_OUTCOMES, direction=("Call direction", "Call Direction"),
                       duration=("Call duration", "Call Duration"), subject=("Call Title",))
MEETINGS = _activity_kind("meetings", ("Meeting outcome", "Meeting name", "Meeting Name"),
                          "meeting", outcome=("Meeting outcome", "Meeting Outcome"),
                          outcome_map=_MEETING_OUTCOMES, subject=("Meeting name",))
EMAILS = _activity_kind("emails", ("Email subject", "Email direction", "Email Subject"), "email",
                        direction=("Email direction", "Email Direction"),
                        subject=("Email subject",))
TASKS = _activity_kind("tasks", ("Task Type", "Task Title", "Task type"), None,
                       extra_type=("Task Type", "Task type"), type_map=_TASK_TYPES,
                       subject=("Task Title",), post=_done_tasks)
ACTIVITIES = _activity_kind("activities", ("Activity Type", "Activity type"), None,
                            extra_type=("Activity Type", "Activity type"),
                            type_map=_ACTIVITY_TYPES)
ACTIVITIES.signature = (("Activity Type", "Activity type"),
                        ("Activity date", "Activity Date", "Create Date"))

SOURCE = Source(
    name="hubspot",
    description="HubSpot exports: deals, contacts, companies, calls, meetings, emails, tasks "
    "or the activities export",
    kinds=(DEALS, CALLS, MEETINGS, EMAILS, TASKS, ACTIVITIES, CONTACTS, COMPANIES),
    stages=STAGES,
    lacks=("quotas", "customers", "costs"),
)
