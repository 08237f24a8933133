"""The self-coaching planner: ipywidgets inputs, a plan that updates as you type.

A rep enters (or gets prefilled from their own history) a revenue goal, an
average deal size, the funnel's conversion rates and the working days; the
widget walks :func:`kpikit.planner.plan` up the funnel on every change and
shows the plan table (stage, needed, per day, per week, P10-P90 when the rates
have sample sizes), the plan chart (:func:`kpikit.plots.plan_chart`) and the
math behind it. Inputs that make no plan (a rate of 0, an empty goal, no
working days) show the planner's own message where the plan would be, never a
traceback.

**Where the prefilled values come from** (:meth:`PlannerWidget.from_history`,
the same sources as :func:`kpikit.planning.plan_for_rep`): the goal is the
rep's quota for the period; the average deal is the rep's mean won deal over
the history window (the team's, then the org's, when the rep won none); each
rate is the rep's cohort rate pooled over the window
(:func:`kpikit.planning.rates_from_history`, shrunk toward the team on fewer
than 30 cases); working days are those left in the period after the data date.
Each input says where its value came from. Editing a prefilled value makes it
``"manual"``: an edited rate is taken as exact, so its P10-P90 range goes away.
**Reset** brings the history back.

**Rates are percentages in the UI** (0-100, step 0.1) and fractions everywhere
else: ``w.rates["lead_to_sql"].value = 20`` means 20%, the planner gets 0.2. An
unticked rate is not used (the walk stops below it); typing into a rate ticks it.
While a prefilled rate is untouched the plan uses its exact history value (the
box shows it rounded).

**Pipeline.** A rep planning the month from scratch sees the whole goal's
activity (``pipeline_aware=False``, the default here); the "subtract" tick box
takes off revenue already won in the period and the open pipeline weighted by
each stage's win probability, as ``plan_for_rep`` does by default.

**The chart** is static SVG by default (``static=True``): it renders in any
frontend, offline, and carries no data JSON. ``static=False`` shows the
interactive Altair chart (tooltips) in the live widget. Displayed in a notebook,
a :class:`PlannerWidget` also carries a static HTML snapshot (summary, table,
SVG chart), which is what an HTML report without widget state shows.

Examples
--------
>>> w = PlannerWidget.manual(goal=100_000, avg_deal=5_000,
...                          rates={"lead_to_customer": 0.10}, working_days=20)
>>> w.plan.to_dict()["deals"], w.plan.to_dict()["leads"]
(20, 200)
>>> w.rates["lead_to_customer"].value = 5.0  # percent, as typed in the box
>>> w.plan.to_dict()["leads"]
400
>>> w.rates["lead_to_customer"].value = 0
>>> w.plan is None, w.error
(True, "cannot plan: lead_to_customer is 0; type a rate into 'Lead → customer' ...")
"""

from __future__ import annotations

import contextlib
import html
import math
import numbers
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from kpikit.dataset import Dataset
from kpikit.errors import KpikitError, MissingDataError
from kpikit.periods import Period
from kpikit.planner import RATE_NAMES, Plan, PlanError, Rate, plan
from kpikit.plots import ACCENT, INK, WARN, plan_chart, show, to_svg

__all__ = ["INPUTS", "RATE_LABELS", "STAGE_LABELS", "PlannerWidget"]

#: The rates in the order the widget shows them (top of the funnel first, the shortcut last).
RATE_ORDER: tuple[str, ...] = (
    "outreach_to_lead",
    "lead_to_sql",
    "sql_to_meeting",
    "meeting_to_proposal",
    "proposal_to_won",
    "lead_to_customer",
)
#: What a rep reads next to each rate box.
RATE_LABELS: dict[str, str] = {
    "outreach_to_lead": "Touch → lead",
    "lead_to_sql": "Lead → SQL",
    "sql_to_meeting": "SQL → meeting",
    "meeting_to_proposal": "Meeting → proposal",
    "proposal_to_won": "Proposal → won",
    "lead_to_customer": "Lead → customer",
}
#: Stage names in the table and the chart.
STAGE_LABELS: dict[str, str] = {
    "touches": "Touches",
    "leads": "Leads",
    "sqls": "SQLs",
    "meetings": "Meetings",
    "proposals": "Proposals",
    "deals": "Deals won",
}
#: Every input with a source: the three numbers and each rate.
INPUTS: tuple[str, ...] = ("goal", "avg_deal", "working_days", *RATE_ORDER)

_TABLE_COLUMNS = ["stage", "rate_name", "rate", "rate_source", "required", "per_day", "per_week"]
_MANUAL = "manual"
_MANUAL_TEXT = "typed in"
assert set(RATE_ORDER) == set(RATE_NAMES)


class _AmountText(widgets.Text):
    """A text box for a money amount: empty means "not given"; numbers set from Python are
    accepted and turned into text (``w.goal.value = 100_000``)."""

    value = traitlets.CUnicode(help="Amount as typed, e.g. 100,000").tag(sync=True)


@dataclass
class _Prefill:
    """The values a widget starts from (and resets to), with where each came from."""

    goal: float | None
    avg_deal: float | None
    working_days: int
    rates: dict[str, Rate]
    sources: dict[str, str]
    texts: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)
    won_so_far: float = 0.0
    weighted_pipeline: float = 0.0
    pipeline_known: bool = False
    period: Period | None = None
    as_of: date | None = None
    median_cycle_days: float | None = None
    fallback: dict[str, Rate] | None = None
    title: str = "Plan your month"


class PlannerWidget:
    """Live reverse-funnel planner for one rep: :meth:`from_history` or :meth:`manual` builds it.

    Attributes
    ----------
    goal, avg_deal : ipywidgets.Text
        Revenue goal and average deal, as text ("100,000"; empty = not given).
        Numbers set from Python are accepted: ``w.goal.value = 100_000``.
    rates : dict[str, ipywidgets.BoundedFloatText]
        One box per rate name (:data:`kpikit.planner.RATE_NAMES`), in **percent** (0-100).
    use : dict[str, ipywidgets.Checkbox]
        Whether each rate is used; unticked rates are not passed to the planner.
    working_days : ipywidgets.BoundedIntText
        Working days to spread the plan over.
    subtract_pipeline : ipywidgets.Checkbox
        Subtract revenue won so far and the weighted open pipeline (from history only).
    plan : Plan or None
        The current plan (None while the inputs make no plan).
    error : str or None
        The planner's message when the inputs make no plan.
    sources : dict[str, str]
        Where each input's value comes from: ``"quota"``, ``"rep"`` / ``"team"`` /
        ``"org"`` / ``"shrunk"`` (history), ``"calendar"``, ``"manual"`` (typed in)
        or ``"missing"``; see :meth:`source_text` for the words shown.
    widget : ipywidgets.VBox
        The assembled layout to display (displaying the PlannerWidget itself shows it too).
    """

    def __init__(self, prefill: _Prefill, *, static: bool = True, seed: int = 0) -> None:
        self.static = static
        self.seed = seed
        self.plan: Plan | None = None
        self.error: str | None = None
        self.chart: Any = None
        self._initial = prefill
        self._batch = 0
        self._prefilling = False
        self._exact: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._build()
        self.reset()

    # ----------------------------------------------------------------------- constructors

    @classmethod
    def manual(
        cls,
        *,
        goal: float | None = None,
        avg_deal: float | None = None,
        rates: Mapping[str, float] | None = None,
        working_days: int = 20,
        static: bool = True,
        seed: int = 0,
    ) -> PlannerWidget:
        """A planner with values typed by hand (no dataset); ``rates`` are fractions.

        Rates not given start unticked. ``working_days`` defaults to 20 (a typical month).

        >>> w = PlannerWidget.manual(goal=40_000, avg_deal=5_000, rates={"proposal_to_won": 0.8})
        >>> w.table.set_index("stage")["required"].to_dict()
        {'proposals': 10, 'deals': 8}
        """
        given = dict(rates or {})
        for name, value in given.items():
            if name not in RATE_NAMES:
                raise PlanError(f"unknown rate {name!r}; use one of {', '.join(RATE_NAMES)}")
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not 0 <= value <= 1
            ):
                raise PlanError(
                    f"rate {name} must be a fraction in [0, 1] (0.2 for 20%), got {value!r}"
                )
        prefill = _Prefill(
            goal=None if goal is None else float(goal),
            avg_deal=None if avg_deal is None else float(avg_deal),
            working_days=int(working_days),
            rates={name: Rate(float(v)) for name, v in given.items()},
            sources=dict.fromkeys(INPUTS, _MANUAL),
            texts=dict.fromkeys(INPUTS, _MANUAL_TEXT),
        )
        return cls(prefill, static=static, seed=seed)

    @classmethod
    def from_history(
        cls,
        ds: Dataset,
        rep_id: str,
        period: Period | str,
        *,
        window: int = 6,
        rate_source: str = "rep",
        as_of: pd.Timestamp | str | None = None,
        pipeline_aware: bool = False,
        static: bool = True,
        seed: int = 0,
    ) -> PlannerWidget:
        """A planner prefilled from the rep's data, each value saying where it came from.

        Goal = the rep's quota for ``period``; average deal = the rep's mean won deal
        over the ``window`` months of history (team's / org's when the rep won none);
        rates = :func:`kpikit.planning.rates_from_history` (``rate_source`` ``"rep"``
        or ``"team"``), with the team's rates offered when a rep rate is 0 or has no
        history; working days = those left in ``period`` after the data date (or
        ``as_of``). A value the data cannot give (no quota, no won deals) is left
        empty and the plan says what to type. ``pipeline_aware=True`` ticks
        "subtract won and pipeline" (the plan of ``plan_for_rep``'s default).
        """
        from kpikit.planning import (
            _avg_deal,
            _check_rep,
            data_date,
            expected_from_pipeline,
            history_window,
            median_cycle_days,
            rates_from_history,
            working_days_left,
        )

        p = Period.parse(period)
        _check_rep(ds, rep_id)
        hw = history_window(p, window=window)
        when = pd.Timestamp(as_of) if as_of is not None else data_date(ds)
        sources: dict[str, str] = {}
        texts: dict[str, str] = {}
        notes: dict[str, str] = {}

        # rates: the rep's (or team's) history; the team's offered when one is unusable
        rates = rates_from_history(ds, rep_id=rep_id, period=p, window=window, source=rate_source)
        fallback = None
        if rate_source == "rep" and ds.has("reps", "team"):
            with contextlib.suppress(MissingDataError):
                fallback = rates_from_history(
                    ds, rep_id=rep_id, period=p, window=window, source="team"
                )
        for name in RATE_ORDER:
            r = rates.get(name)
            if r is None:
                sources[name], texts[name] = "missing", "no history in this dataset"
            else:
                sources[name], texts[name] = r.source, _rate_text(name, r, fallback)

        # goal: the quota for the period
        goal = None
        if ds.has("quotas"):
            from kpikit.metrics.results import quota_for

            q = quota_for(ds, p).get(rep_id, np.nan)
            goal = None if pd.isna(q) else float(q)
        if goal is None:
            sources["goal"], texts["goal"] = "missing", f"no quota for {p.label}: type a goal"
        else:
            sources["goal"], texts["goal"] = "quota", f"quota for {p.label}"
            notes["goal"] = f"goal = quota for {p.label}"

        # average deal: the rep's mean won deal over the window (team's, org's)
        said: list[str] = []
        try:
            avg_deal: float | None = _avg_deal(ds, rep_id, hw, said)
        except (PlanError, MissingDataError) as exc:
            avg_deal = None
            sources["avg_deal"], texts["avg_deal"] = "missing", f"{exc}"
        else:
            text = said[-1].removeprefix("average deal = ")
            sources["avg_deal"] = next(
                (who for who in ("rep", "team", "org") if text.startswith(f"{who}'s")), "rep"
            )
            texts["avg_deal"] = text
            notes["avg_deal"] = said[-1]

        # won so far and the weighted pipeline (subtracted only when ticked)
        won_so_far = pipeline = 0.0
        pipeline_known = False
        if when is not None:
            with contextlib.suppress(MissingDataError):
                from kpikit.metrics.results import closed_in

                won = closed_in(ds, p, "won")
                won_so_far = float(won.loc[won["rep_id"] == rep_id, "amount"].sum())
                if when < p.end:
                    pipeline = expected_from_pipeline(ds, rep_id, p, when)
                pipeline_known = True

        # working days left in the period after the data date
        days = working_days_left(ds, p, when)
        sources["working_days"] = "calendar"
        if when is not None and when >= p.start:
            texts["working_days"] = (
                f"working days left in {p.label} after the data ({when:%d %b %Y})"
            )
        else:
            texts["working_days"] = f"working days in {p.label}"
        if days == 0:
            texts["working_days"] = (
                f"no working days left in {p.label} after the data date: plan the next "
                f"period or type the days"
            )

        name_of = ds.rep_attribute("name") if ds.has("reps", "name") else None
        who = rep_id
        if name_of is not None and isinstance(name_of.get(rep_id), str):
            who = f"{name_of[rep_id]} ({rep_id})"
        prefill = _Prefill(
            goal=goal,
            avg_deal=avg_deal,
            working_days=days,
            rates=dict(rates),
            sources=sources,
            texts=texts,
            notes=notes,
            won_so_far=won_so_far,
            weighted_pipeline=pipeline,
            pipeline_known=pipeline_known,
            period=p,
            as_of=when.date() if when is not None else None,
            median_cycle_days=median_cycle_days(ds, hw, rep_id),
            fallback=fallback,
            title=f"Plan for {who}, {p.label}",
        )
        w = cls(prefill, static=static, seed=seed)
        if pipeline_aware and pipeline_known:
            w.subtract_pipeline.value = True
        return w

    # --------------------------------------------------------------------------- inputs

    def _build(self) -> None:
        pre = self._initial
        label = widgets.Layout(width="190px")
        box = widgets.Layout(width="130px")
        self.goal = _AmountText(placeholder="e.g. 100,000", continuous_update=False, layout=box)
        self.avg_deal = _AmountText(placeholder="e.g. 5,000", continuous_update=False, layout=box)
        self.working_days = widgets.BoundedIntText(min=0, max=366, step=1, layout=box)
        self.rates: dict[str, widgets.BoundedFloatText] = {}
        self.use: dict[str, widgets.Checkbox] = {}
        self.source_labels: dict[str, widgets.HTML] = {}
        rows = []
        for key, text, control in (
            ("goal", "Revenue goal", self.goal),
            ("avg_deal", "Average deal", self.avg_deal),
            ("working_days", "Working days", self.working_days),
        ):
            self.source_labels[key] = widgets.HTML()
            rows.append(
                widgets.HBox([widgets.Label(text, layout=label), control, self.source_labels[key]])
            )
            control.observe(partial(self._edited, key), "value")
        rows.append(widgets.HTML("<b>Conversion rates (%)</b>"))
        for name in RATE_ORDER:
            self.use[name] = widgets.Checkbox(
                description=RATE_LABELS[name], indent=False, layout=label
            )
            self.rates[name] = widgets.BoundedFloatText(min=0.0, max=100.0, step=0.1, layout=box)
            self.source_labels[name] = widgets.HTML()
            rows.append(widgets.HBox([self.use[name], self.rates[name], self.source_labels[name]]))
            self.rates[name].observe(partial(self._rate_edited, name), "value")
            self.use[name].observe(self._toggled, "value")
        self.subtract_pipeline = widgets.Checkbox(
            description=(
                f"Subtract won so far ({_money(pre.won_so_far)}) and the weighted open "
                f"pipeline ({_money(pre.weighted_pipeline)})"
            ),
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        self.subtract_pipeline.observe(self._toggled, "value")
        self.reset_button = widgets.Button(
            description="Reset to history" if pre.period is not None else "Reset",
            tooltip="Put back the values the planner started from",
        )
        self.reset_button.on_click(lambda _: self.reset())
        self.message = widgets.HTML()
        self.table_view = widgets.HTML()
        self.chart_view: widgets.HTML | widgets.Output = (
            widgets.HTML() if self.static else widgets.Output()
        )
        self.details = widgets.HTML()
        extras = [self.subtract_pipeline] if pre.pipeline_known else []
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<h3>{html.escape(pre.title)}</h3>"),
                *rows,
                *extras,
                self.reset_button,
                self.message,
                self.table_view,
                self.chart_view,
                self.details,
            ]
        )

    def reset(self) -> None:
        """Put back the starting values and their sources, then re-plan."""
        pre = self._initial
        self._prefilling = True
        try:
            with self.hold():
                self.sources = dict(pre.sources)
                self._texts = dict(pre.texts)
                self._exact = {"goal": pre.goal, "avg_deal": pre.avg_deal, **pre.rates}
                self.goal.value = "" if pre.goal is None else _money(pre.goal)
                self.avg_deal.value = "" if pre.avg_deal is None else _money(pre.avg_deal)
                self.working_days.value = max(0, min(366, pre.working_days))
                for name in RATE_ORDER:
                    r = pre.rates.get(name)
                    self.use[name].value = r is not None
                    self.rates[name].value = 0.0 if r is None else _shown_pct(r.value)
                self.subtract_pipeline.value = False
        finally:
            self._prefilling = False

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several inputs and re-plan once, at the end of the ``with`` block.

        >>> w = PlannerWidget.manual(goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.1})
        >>> with w.hold():
        ...     w.goal.value = 50_000
        ...     w.avg_deal.value = 10_000
        >>> w.plan.to_dict()["deals"], w.sources["goal"]
        (5, 'manual')
        """
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
        if not self._batch:
            self.update()

    def set(
        self,
        *,
        goal: float | str | None = None,
        avg_deal: float | str | None = None,
        working_days: int | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        """Type values in from Python (each becomes ``"manual"``), re-planning once.

        ``rates`` are fractions (0.2 for 20%), like everywhere outside the UI boxes.

        >>> w = PlannerWidget.manual(goal=100_000, avg_deal=5_000)
        >>> w.set(rates={"lead_to_customer": 0.1}, working_days=10)
        >>> w.plan.summary()
        '20 leads a day, 10 deals a week'
        """
        unknown = [name for name in (rates or {}) if name not in self.rates]
        if unknown:
            raise PlanError(f"unknown rate {unknown[0]!r}; use one of {', '.join(RATE_NAMES)}")
        with self.hold():
            if goal is not None:
                self.goal.value = _money(goal) if isinstance(goal, numbers.Real) else goal
            if avg_deal is not None:
                self.avg_deal.value = (
                    _money(avg_deal) if isinstance(avg_deal, numbers.Real) else avg_deal
                )
            if working_days is not None:
                self.working_days.value = working_days
            for name, value in (rates or {}).items():
                self.rates[name].value = value * 100

    def _mark_manual(self, key: str) -> None:
        self.sources[key] = _MANUAL
        self._texts[key] = _MANUAL_TEXT
        self._exact.pop(key, None)

    def _edited(self, key: str, change: Mapping[str, Any]) -> None:
        if not self._prefilling:
            self._mark_manual(key)
        if not self._batch:
            self.update()

    def _rate_edited(self, name: str, change: Mapping[str, Any]) -> None:
        if not self._prefilling:
            self._mark_manual(name)
            self._batch += 1
            try:
                self.use[name].value = True  # typing a rate means using it
            finally:
                self._batch -= 1
        if not self._batch:
            self.update()

    def _toggled(self, change: Mapping[str, Any]) -> None:
        if not self._batch:
            self.update()

    # ----------------------------------------------------------------------------- plan

    def inputs(self) -> dict[str, Any]:
        """The keyword arguments the current inputs give :func:`kpikit.planner.plan`.

        Raises :class:`~kpikit.planner.PlanError` when an amount box holds text that
        is not a number.
        """
        pre = self._initial
        goal = self._exact["goal"] if "goal" in self._exact else _amount("goal", self.goal.value)
        avg = (
            self._exact["avg_deal"]
            if "avg_deal" in self._exact
            else _amount("average deal", self.avg_deal.value)
        )
        rates: dict[str, Rate] = {}
        for name in RATE_ORDER:
            if self.use[name].value:
                exact = self._exact.get(name)
                rates[name] = exact if exact is not None else Rate(self.rates[name].value / 100)
        subtract = self.subtract_pipeline.value and pre.pipeline_known
        return {
            "goal": goal,
            "avg_deal": avg,
            "rates": rates,
            "working_days": self.working_days.value,
            "won_so_far": pre.won_so_far if subtract else 0.0,
            "weighted_pipeline": pre.weighted_pipeline if subtract else 0.0,
            "period": pre.period,
            "as_of": pre.as_of,
            "median_cycle_days": pre.median_cycle_days,
            "fallback_rates": pre.fallback,
            "seed": self.seed,
        }

    def update(self) -> None:
        """Re-plan from the current inputs and redraw (wired to every input's ``observe``)."""
        try:
            result = plan(**self.inputs())
        except KpikitError as exc:
            self.plan, self.error = None, _for_widget(str(exc))
        else:
            unchanged = [key for key in ("goal", "avg_deal") if key in self._exact]
            result.notes[:0] = [
                self._initial.notes[k] for k in unchanged if k in self._initial.notes
            ]
            self.plan, self.error = result, None
        self._render()

    @property
    def table(self) -> pd.DataFrame:
        """The current plan, top of the funnel first: stage, rate_name, rate (fraction),
        rate_source, required, per_day, per_week, and p10 / p90 when any rate has a
        sample size. No rows while the inputs make no plan."""
        if self.plan is None:
            return pd.DataFrame(columns=_TABLE_COLUMNS)
        frame = self.plan.to_frame().iloc[::-1].reset_index(drop=True)
        columns = list(_TABLE_COLUMNS)
        if frame["p10"].notna().any():
            columns += ["p10", "p90"]
        return frame[columns]

    def source_text(self, key: str) -> str:
        """Where an input's value comes from, in the words shown next to it."""
        if key not in INPUTS:
            raise KeyError(f"{key!r} is not an input; use one of {', '.join(INPUTS)}")
        return self._texts.get(key, "")

    # --------------------------------------------------------------------------- render

    def _render(self) -> None:
        self._render_sources()
        table = self.table
        if self.plan is None:
            self.message.value = _box(f"⚠ {html.escape(self.error or '')}", WARN)
            self.table_view.value = ""
            self.details.value = ""
            self.chart = None
            self._show_chart(None)
            return
        p = self.plan
        head = (
            f"{_money(p.goal)} goal / {_money(p.avg_deal)} average deal"
            if p.goal is not None and p.avg_deal is not None
            else ""
        )
        if p.won_so_far or p.weighted_pipeline:
            head += (
                f" - {_money(p.won_so_far)} won - {_money(p.weighted_pipeline)} pipeline"
                f" = {_money(p.remaining or 0)} to go"
            )
        head += f" → {p.deals:,} deals in {p.working_days} working days"
        self.message.value = _box(
            f"<b>{html.escape(p.summary())}</b><br><span>{html.escape(head)}</span>", ACCENT
        )
        self.table_view.value = "" if p.covered else _table_html(table)
        self.chart = None if p.covered else plan_chart(_chart_frame(table))
        self._show_chart(self.chart)
        lines = "\n".join(p.explain())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in p.notes)
        self.details.value = (
            "<details><summary>How this is worked out</summary>"
            f"<pre>{html.escape(lines)}</pre><ul>{notes}</ul></details>"
        )

    def _render_sources(self) -> None:
        unused = {}
        if self.plan is not None:
            for note in self.plan.notes:
                name, sep, why = note.partition(" not used: ")
                if sep and name in RATE_NAMES:
                    unused[name] = why
        for key in INPUTS:
            text = self._texts.get(key, "")
            if key in RATE_NAMES and not self.use[key].value:
                text = "not used"
            elif key in unused:
                text = f"{text}; not used: {unused[key]}"
            colour = "#767676" if self.sources.get(key) != "missing" else WARN
            self.source_labels[
                key
            ].value = f"<span style='color:{colour};font-size:90%'>{html.escape(text)}</span>"

    def _show_chart(self, chart: Any) -> None:
        if isinstance(self.chart_view, widgets.HTML):
            self.chart_view.value = "" if chart is None else to_svg(chart)
            return
        from IPython.display import display

        self.chart_view.clear_output(wait=True)
        if chart is not None:
            with self.chart_view:
                display(show(chart, static=False))

    def snapshot_html(self) -> str:
        """The current summary, table and chart as static HTML (SVG chart), for reports."""
        chart = to_svg(self.chart) if self.chart is not None else ""
        return (
            f"<div class='kpikit-planner'><h3>{html.escape(self._initial.title)}</h3>"
            f"{self.message.value}{self.table_view.value}{chart}</div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = f"PlannerWidget: {self.plan.summary() if self.plan else self.error}"
        return bundle

    def __repr__(self) -> str:
        return f"<PlannerWidget: {self.plan.summary() if self.plan else self.error}>"


# ------------------------------------------------------------------------------- helpers


def _amount(what: str, text: str) -> float | None:
    """Parse an amount as typed: ``"100,000"`` -> 100000.0, empty -> None."""
    cleaned = re.sub(r"[,_\s\u00a0]", "", str(text))
    if cleaned == "":
        return None
    try:
        return float(cleaned)
    except ValueError:
        raise PlanError(f"{what}: {text!r} is not a number; type digits such as 100,000") from None


def _shown_pct(value: float) -> float:
    """A fraction as the percent shown in a box: one decimal (two under 1%), 0 for no history."""
    if not math.isfinite(value):
        return 0.0
    pct = value * 100
    return round(pct, 1) if pct >= 1 else round(pct, 2)


def _fmt_pct(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _rate_text(name: str, r: Rate, fallback: Mapping[str, Rate] | None) -> str:
    """``17.33% from rep history (39 qualified of 225 leads, 2026-04..2026-09)``."""
    if math.isfinite(r.value):
        return f"{_fmt_pct(r.value)} from {r.describe(name)}"
    team = (fallback or {}).get(name)
    offer = ""
    if team is not None and math.isfinite(team.value) and team.value > 0:
        offer = f" (team: {_fmt_pct(team.value)})"
    return f"no history: {r.describe(name)}; type a rate{offer}"


def _money(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _for_widget(message: str) -> str:
    """The planner's message with its command-line hints put in the widget's words."""

    def typed(m: re.Match) -> str:
        return f"type it into '{RATE_LABELS[m.group(1)]}'"

    message = re.sub(r"rerun with --rate (\w+)=\S+ or use team rates", typed, message)
    return re.sub(
        r"give a rate with --rate (\w+)=VALUE",
        lambda m: f"type a rate into '{RATE_LABELS[m.group(1)]}'",
        message,
    )


def _box(inner: str, colour: str) -> str:
    return (
        f"<div style='border-left:4px solid {colour};padding:4px 8px;margin:6px 0;color:{INK}'>"
        f"{inner}</div>"
    )


def _table_html(table: pd.DataFrame) -> str:
    """The plan table for a rep: stage, rate, needed, per day, per week (and P10-P90)."""
    shown = pd.DataFrame(
        {
            "Stage": table["stage"].map(STAGE_LABELS),
            "Rate": [
                "" if pd.isna(v) else f"{_fmt_pct(v)} ({s})"
                for v, s in zip(table["rate"], table["rate_source"], strict=True)
            ],
            "Needed": table["required"].map("{:,}".format),
            "Per day": table["per_day"].map("{:,.1f}".format),
            "Per week": table["per_week"].map("{:,.1f}".format),
        }
    )
    if "p10" in table:
        shown["P10-P90"] = [
            "" if pd.isna(lo) else f"{lo:,.0f}-{hi:,.0f}"
            for lo, hi in zip(table["p10"], table["p90"], strict=True)
        ]
    return shown.to_html(index=False, border=0, classes="kpikit-plan")


def _chart_frame(table: pd.DataFrame) -> pd.DataFrame:
    """What :func:`kpikit.plots.plan_chart` needs, stages by their display names."""
    frame = table.assign(stage=table["stage"].map(STAGE_LABELS))
    for col in ("p10", "p90"):
        if col not in frame:
            frame[col] = np.nan
    return frame[["stage", "required", "p10", "p90", "per_day"]]
