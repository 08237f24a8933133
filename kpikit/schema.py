"""The canonical data model (``shared/DATA_MODEL.md``) as data.

Everything that needs to know which tables and columns exist, which are
required and what type they have reads :data:`TABLES`: the loader, the
validator, the demo-data generator, the importers and the docs.

Column kinds
------------
``id``        string identifier; leading zeros survive, surrounding blanks are stripped
``str``       free text / category
``datetime``  timestamp (ISO 8601); timezone-aware values are converted to the
              dataset's ``timezone`` and then handled as local wall-clock times
``date``      calendar date (ISO 8601), stored as a midnight timestamp
``number``    float; money is a plain number in one currency per dataset
``int``       whole number (nullable)
``bool``      true/false (also yes/no, 1/0)
``period``    ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "str", "datetime", "date", "number", "int", "bool", "period"]


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column."""

    name: str
    kind: ColumnKind
    required: bool = False
    description: str = ""
    nonnegative: bool = False
    #: allowed values (compared case-insensitively, stored in this spelling)
    allowed: tuple[str, ...] | None = None
    #: a value must be present in every row (only for required columns)
    not_null: bool = False
    #: known values, stored in this spelling when they match in any letter case
    #: (other values are kept as they are); unlike ``allowed``, not enforced
    vocabulary: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Reference:
    """``column`` must match ``table.column`` when that table is present."""

    column: str
    table: str
    target: str


@dataclass(frozen=True)
class TableSpec:
    """One canonical table."""

    name: str
    required: bool
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    references: tuple[Reference, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no canonical column {name!r}")


ROLES = ("SDR", "AE", "AM", "Manager")
STATUSES = ("open", "won", "lost")
DIRECTIONS = ("outbound", "inbound")
TITLE_LEVELS = ("C-level", "VP", "Director", "Manager", "IC")
OUTCOMES = ("connected", "no_answer", "voicemail", "booked", "held", "no_show")
ACTIVITY_TYPES = (
    "call",
    "email",
    "meeting",
    "appointment_set",
    "linkedin",
    "social",
    "demo",
    "proposal_sent",
)


def _c(name: str, kind: ColumnKind, required: bool = False, description: str = "", **kw) -> ColumnSpec:
    return ColumnSpec(name, kind, required, description, not_null=required, **kw)


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "reps",
            True,
            "one row per sales rep",
            (
                _c("rep_id", "id", True, "unique id of a sales rep"),
                _c("name", "str", description="display name (defaults to rep_id)"),
                _c("team", "str", description="team / region"),
                _c("manager", "str", description="manager's name or rep_id"),
                _c("role", "str", description="SDR, AE, AM or Manager; default AE", allowed=ROLES),
                _c("level", "str", description="seniority band: benchmarks are computed per level"),
                _c("hire_date", "date", description="for ramp and tenure"),
            ),
            key=("rep_id",),
        ),
        TableSpec(
            "quotas",
            False,
            "revenue goal per rep and period",
            (
                _c("rep_id", "id", True, "the rep"),
                _c("period", "period", True, "YYYY-MM, YYYY-Qn or YYYY"),
                _c("quota", "number", True, "revenue goal for that rep and period", nonnegative=True),
            ),
            key=("rep_id", "period"),
            references=(Reference("rep_id", "reps", "rep_id"),),
        ),
        TableSpec(
            "leads",
            False,
            "one row per lead",
            (
                _c("lead_id", "id", True, "unique"),
                _c("rep_id", "id", True, "owner"),
                _c("created_at", "datetime", True, "when the lead arrived"),
                _c("source", "str", description="lead source / channel"),
                _c("first_response_at", "datetime", description="first human response"),
                _c("qualified_at", "datetime", description="when it became a sales-qualified lead"),
                _c("disqualified_at", "datetime", description="when it was dropped"),
                _c("company_size", "int", description="employees of the prospect's company",
                   nonnegative=True),
                _c("title_level", "str", description="C-level, VP, Director, Manager, IC",
                   vocabulary=TITLE_LEVELS),
                _c("opportunity_id", "id", description="the opportunity it converted into"),
            ),
            key=("lead_id",),
            references=(
                Reference("rep_id", "reps", "rep_id"),
                Reference("opportunity_id", "opportunities", "opportunity_id"),
            ),
        ),
        TableSpec(
            "activities",
            False,
            "one row per sales activity (call, email, meeting, ...)",
            (
                _c("activity_id", "id", True, "unique"),
                _c("rep_id", "id", True, "who did it"),
                _c("type", "str", True, "call, email, meeting, appointment_set, linkedin, social, "
                   "demo, proposal_sent (others kept as-is)", vocabulary=ACTIVITY_TYPES),
                _c("occurred_at", "datetime", True, "when"),
                _c("direction", "str", description="outbound (default) or inbound",
                   allowed=DIRECTIONS),
                _c("outcome", "str", description="connected, no_answer, voicemail, booked, held, "
                   "no_show, ...", vocabulary=OUTCOMES),
                _c("lead_id", "id", description="the lead it was about"),
                _c("account_id", "id", description="the account it was about"),
                _c("opportunity_id", "id", description="the opportunity it was about"),
                _c("duration_min", "number", description="minutes spent", nonnegative=True),
                _c("content_links", "int", description="links to content embedded",
                   nonnegative=True),
                _c("clicks", "int", description="clicks the recipient made on those links",
                   nonnegative=True),
                _c("collateral_id", "id", description="marketing collateral used"),
            ),
            key=("activity_id",),
            references=(
                Reference("rep_id", "reps", "rep_id"),
                Reference("lead_id", "leads", "lead_id"),
                Reference("account_id", "accounts", "account_id"),
                Reference("opportunity_id", "opportunities", "opportunity_id"),
            ),
        ),
        TableSpec(
            "opportunities",
            True,
            "one row per opportunity (deal)",
            (
                _c("opportunity_id", "id", True, "unique"),
                _c("rep_id", "id", True, "owner"),
                _c("created_at", "datetime", True, "when it was opened"),
                _c("stage", "str", True, "current stage (see the stage configuration)"),
                _c("amount", "number", True, "deal value", nonnegative=True),
                _c("close_date", "date", description="expected close while open, actual once closed"),
                _c("status", "str", description="open, won, lost; derived from the stage when absent",
                   allowed=STATUSES),
                _c("account_id", "id", description="the account"),
                _c("lead_id", "id", description="the lead it came from"),
                _c("source", "str", description="lead source / channel"),
                _c("product", "str", description="product"),
                _c("lost_reason", "str", description="why it was lost"),
            ),
            key=("opportunity_id",),
            references=(
                Reference("rep_id", "reps", "rep_id"),
                Reference("account_id", "accounts", "account_id"),
                Reference("lead_id", "leads", "lead_id"),
            ),
        ),
        TableSpec(
            "stage_history",
            False,
            "one row per stage entry of an opportunity; backward moves allowed",
            (
                _c("opportunity_id", "id", True, "the opportunity"),
                _c("stage", "str", True, "the stage entered"),
                _c("entered_at", "datetime", True, "when it entered that stage"),
            ),
            references=(Reference("opportunity_id", "opportunities", "opportunity_id"),),
        ),
        TableSpec(
            "accounts",
            False,
            "one row per account (company)",
            (
                _c("account_id", "id", True, "unique"),
                _c("name", "str", description="company name"),
                _c("segment", "str", description="segment"),
                _c("rep_id", "id", description="account owner"),
                _c("employees", "number", description="company size", nonnegative=True),
                _c("annual_revenue", "number", description="company revenue", nonnegative=True),
                _c("key_account", "bool", description="marks the accounts whose investment is tracked"),
            ),
            key=("account_id",),
            references=(Reference("rep_id", "reps", "rep_id"),),
        ),
        TableSpec(
            "customers",
            False,
            "one row per customer relationship (for retention and churn)",
            (
                _c("account_id", "id", True, "the customer account"),
                _c("start_date", "date", True, "when it became a customer"),
                _c("end_date", "date", description="when it stopped; empty = still a customer"),
            ),
            references=(Reference("account_id", "accounts", "account_id"),),
        ),
        TableSpec(
            "costs",
            False,
            "spend per period, for cost-of-sales ratio and CAC",
            (
                _c("period", "period", True, "YYYY-MM, YYYY-Qn or YYYY"),
                _c("sales_cost", "number", description="sales spend", nonnegative=True),
                _c("marketing_cost", "number", description="marketing spend", nonnegative=True),
                _c("channel", "str", description="channel the spend belongs to"),
            ),
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
REQUIRED_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.required)
OPTIONAL_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if not t.required)


def data_model_markdown() -> str:
    """The data contract as a Markdown page (``docs/data-model.md`` is generated from this)."""
    kinds = {
        "id": "text id",
        "str": "text",
        "datetime": "timestamp",
        "date": "date",
        "number": "number",
        "int": "whole number",
        "bool": "true/false",
        "period": "period",
    }
    lines = [
        "# The kpikit data model",
        "",
        "<!-- generated from kpikit/schema.py by `kpikit schema > docs/data-model.md`: do not edit -->",
        "",
        "A dataset is a folder with one file per table, named after the table "
        "(`reps.csv`, `opportunities.parquet`, `leads.xlsx`, ...), or one DuckDB/SQLite "
        "database file with tables of those names, plus an optional `dataset.toml` "
        "(currency, timezone, working days, holidays and the stage configuration; see "
        "`kpikit/config.py`). Only `reps` and `opportunities` are required. Extra columns "
        "are kept and ignored. Ids are text (leading zeros survive). Timestamps are ISO 8601; "
        "timezone-aware ones are converted to the dataset's `timezone` (default UTC), and a "
        "dataset may not mix aware and naive timestamps. Money is a plain number "
        "(no currency symbols or thousands separators) in the dataset's currency.",
        "",
    ]
    for t in TABLES.values():
        req = "required" if t.required else "optional"
        lines += [f"## `{t.name}` ({req})", "", t.description[0].upper() + t.description[1:] + ".", ""]
        if t.key:
            lines += [f"Unique key: {', '.join(f'`{k}`' for k in t.key)}.", ""]
        lines += ["| column | type | required | meaning |", "|---|---|---|---|"]
        for c in t.columns:
            meaning = c.description
            if c.allowed:
                meaning += f" (one of {', '.join(c.allowed)})"
            if c.nonnegative:
                meaning += "; not negative"
            lines.append(
                f"| `{c.name}` | {kinds[c.kind]} | {'yes' if c.required else 'no'} | {meaning} |"
            )
        if t.references:
            refs = "; ".join(f"`{r.column}` must match `{r.table}.{r.target}`" for r in t.references)
            lines += ["", f"References (checked when that table is present): {refs}."]
        lines.append("")
    return "\n".join(lines)

