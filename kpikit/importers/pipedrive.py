"""Pipedrive exports: deals, activities, persons and leads.

Pipedrive writes every header as ``Entity - Field`` (``Deal - Title``,
``Deal - Value``, ``Activity - Assigned to user``):

==========  ===========================================  =============
export      recognised by                                table
==========  ===========================================  =============
deals       ``Deal - Stage`` / ``Deal - Status``          opportunities
activities  ``Activity - Type`` / ``Activity - Subject``  activities
leads       ``Lead - Title`` / ``Lead - Owner``           leads
persons     ``Person - Name`` / ``Person - Owner``        leads
==========  ===========================================  =============

A Pipedrive deal keeps the pipeline stage it was in when it was won or lost
and says ``won`` / ``lost`` in ``Deal - Status``. kpikit's stage must agree with
the status, so a won deal gets the stage ``Won`` and a lost one ``Lost``; the
pipeline stage is kept in the extra column ``pipeline_stage``. The close date
is ``Deal - Won time`` / ``Deal - Lost time`` for closed deals and
``Deal - Expected close date`` for open ones. Activities not marked done are
plans, not activities, and are not imported (counted in a note).
"""

from __future__ import annotations

import pandas as pd

from kpikit.importers.common import (
    Context,
    ExportFile,
    Kind,
    Source,
    Stages,
    Where,
    map_stages,
    parse_dates,
)

#: Pipedrive's default pipeline
STAGES = Stages(
    order=("Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started"),
    won=("Won",),
    lost=("Lost",),
    sql="Qualified",
    meeting="Demo Scheduled",
    proposal="Proposal Made",
)

_STATUS = {"open": "open", "won": "won", "lost": "lost", "deleted": "deleted"}


def _deals_post(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    status_col = ex.find(("Deal - Status",))
    stage_col = ex.find(("Deal - Stage",))
    status = (ex.column(status_col).str.strip().str.casefold().map(_STATUS)
              if status_col else pd.Series(pd.NA, index=df.index, dtype="str"))
    if status_col:
        bad = ex.column(status_col).notna() & status.isna()
        if bad.any():
            from kpikit.importers.common import ImportDataError, _examples

            raise ImportDataError(
                f"{Where(ex.name, status_col)}: {int(bad.sum())} value(s) are not a Pipedrive deal "
                f"status: {_examples(ex.column(status_col), ex.rows, bad.to_numpy())}; expected "
                "Open, Won, Lost or Deleted"
            )
    deleted = (status == "deleted").to_numpy()
    if deleted.any():
        ctx.note("info", f"{ex.name}: {int(deleted.sum())} deleted deal(s) are not imported",
                 file=ex.name, count=int(deleted.sum()))
    won, lost = (status == "won").to_numpy(), (status == "lost").to_numpy()
    closed = won | lost
    if stage_col:
        df["pipeline_stage"] = ex.column(stage_col)
        # open deals: map the pipeline stage; closed ones get Won / Lost below
        open_rows = ~closed & ~deleted
        vm = ctx.values.get(("opportunities", "stage"), {})
        stage = pd.Series(pd.NA, index=df.index, dtype="str")
        if open_rows.any():
            stage[open_rows] = map_stages(
                ex.column(stage_col)[open_rows], ctx.stages, vm,
                where=Where(ex.name, stage_col), rows=ex.rows[open_rows], source=ctx.source)
        df["stage"] = stage
    df.loc[won, "stage"] = ctx.stages.won[0]
    df.loc[lost, "stage"] = ctx.stages.lost[0]
    df["status"] = status.where(~pd.Series(deleted, index=df.index))
    # close date: won/lost time for closed deals, the expected close date for open ones
    close = df["close_date"] if "close_date" in df.columns else pd.Series(
        pd.NaT, index=df.index, dtype="datetime64[us]")
    times = [(ex.find((col,)), mask) for col, mask in (
        ("Deal - Won time", won), ("Deal - Lost time", lost), ("Deal - Close time", closed))]
    if closed.any() and not any(h for h, _ in times):
        ctx.note("warning", f"{ex.name}: no 'Deal - Won time' / 'Deal - Lost time' column, so a "
                 "closed deal's close_date is its expected close date; export those columns for "
                 "the real close dates", file=ex.name)
    elif closed.any():
        close = close.where(~pd.Series(closed, index=df.index))
    for header, mask in times:
        if header is None or not mask.any():
            continue
        when = parse_dates(ex.column(header), where=Where(ex.name, header), rows=ex.rows,
                           fmt=ctx.date_format).values.dt.normalize()
        close = close.where(~(pd.Series(mask, index=df.index) & when.notna()), when)
    df["close_date"] = close
    return df[~deleted].reset_index(drop=True)


DEALS = Kind(
    name="deals",
    table="opportunities",
    signature=(("Deal - Stage", "Deal - Status"), ("Deal - Value", "Deal - Title", "Deal - ID")),
    columns={
        "opportunity_id": ("Deal - ID", "Deal - Pipedrive System ID", "Deal - Deal ID"),
        "rep_id": ("Deal - Owner", "Deal - Owner name"),
        "created_at": ("Deal - Deal created", "Deal - Creation date", "Deal - Deal created on",
                       "Deal - Add time"),
        "amount": ("Deal - Value",),
        "close_date": ("Deal - Expected close date",),
        "account_id": ("Deal - Organization", "Organization", "Deal - Organization name"),
        "source": ("Deal - Source channel", "Deal - Source", "Deal - Lead Source",
                   "Deal - Source origin"),
        "lost_reason": ("Deal - Lost reason",),
        "product": ("Deal - Product name", "Deal - Product"),
        "lead_id": ("Deal - Lead ID",),
    },
    extras={"deal_title": ("Deal - Title",), "pipeline": ("Deal - Pipeline",),
            "currency": ("Deal - Currency", "Deal - Currency of value")},
    # the stage is set by _deals_post from Deal - Stage and Deal - Status
    deferred=("stage",),
    post=_deals_post,
)

_TYPES = {"call": "call", "meeting": "meeting", "email": "email", "task": "task",
          "deadline": "deadline", "lunch": "meeting", "linkedin": "linkedin"}


def _done_activities(df: pd.DataFrame, ex: ExportFile, ctx: Context) -> pd.DataFrame:
    """Keep done activities; occurred_at = when marked done, else the due date and time."""
    done_col = ex.find(("Activity - Done", "Activity - Status"))
    keep = pd.Series(True, index=df.index)
    if done_col:
        keep = ex.column(done_col).str.strip().str.casefold().isin(["done", "yes", "true", "1"])
        if (~keep).any():
            ctx.note("info", f"{ex.name}: {int((~keep).sum())} activity(ies) not marked done are "
                     "not imported (a planned activity has not happened)", file=ex.name,
                     count=int((~keep).sum()))
    when = None
    marked = ex.find(("Activity - Marked as done time", "Activity - Done time"))
    if marked:
        when = parse_dates(ex.column(marked), where=Where(ex.name, marked), rows=ex.rows,
                           fmt=ctx.date_format).values
    due_col = ex.find(("Activity - Due date",))
    if due_col:
        due_text = ex.column(due_col)
        time_col = ex.find(("Activity - Due time",))
        if time_col:
            due_text = (due_text + " " + ex.column(time_col).fillna("")).str.strip()
        due = parse_dates(due_text, where=Where(ex.name, due_col), rows=ex.rows,
                          fmt=ctx.date_format).values
        when = due if when is None else when.fillna(due)
    if when is not None:
        df["occurred_at"] = when
    return df[keep.to_numpy()].reset_index(drop=True)


ACTIVITIES = Kind(
    name="activities",
    table="activities",
    signature=(("Activity - Type", "Activity - Subject"),),
    columns={
        "activity_id": ("Activity - ID", "Activity - Pipedrive System ID", "Activity - System ID"),
        "rep_id": ("Activity - Assigned to user", "Activity - Owner", "Activity - User"),
        "type": ("Activity - Type",),
        "occurred_at": ("Activity - Marked as done time", "Activity - Due date"),
        "duration_min": ("Activity - Duration",),
        "opportunity_id": ("Activity - Deal ID", "Deal - ID"),
        "lead_id": ("Activity - Lead ID", "Activity - Person ID", "Person - ID"),
    },
    values={"type": _TYPES},
    extras={"subject": ("Activity - Subject",), "deal_title": ("Activity - Deal", "Deal - Title")},
    id_fallback=True,
    post=_done_activities,
)

LEADS = Kind(
    name="leads",
    table="leads",
    signature=(("Lead - Title", "Lead - Owner", "Lead - ID"),),
    columns={
        "lead_id": ("Lead - ID",),
        "rep_id": ("Lead - Owner",),
        "created_at": ("Lead - Lead created", "Lead - Creation date", "Lead - Created",
                       "Lead - Add time"),
        "source": ("Lead - Source", "Lead - Source channel", "Lead - Source origin"),
    },
    extras={"title": ("Lead - Title",)},
    id_fallback=True,
)

PERSONS = Kind(
    name="persons",
    table="leads",
    signature=(("Person - Name", "Person - Owner", "Person - ID"),),
    columns={
        "lead_id": ("Person - ID", "Person - Pipedrive System ID"),
        "rep_id": ("Person - Owner",),
        "created_at": ("Person - Person created", "Person - Creation date", "Person - Add time"),
        "source": ("Person - Source", "Person - Lead source", "Person - Source channel"),
    },
    extras={"person_name": ("Person - Name",), "organization": ("Person - Organization",)},
    id_fallback=True,
)

SOURCE = Source(
    name="pipedrive",
    description="Pipedrive exports: deals, activities, persons or leads",
    kinds=(DEALS, ACTIVITIES, LEADS, PERSONS),
    stages=STAGES,
    lacks=("quotas", "stage_history", "accounts", "customers", "costs"),
)
