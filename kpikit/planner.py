"""Reverse-funnel planning: from a revenue goal to the activity that reaches it.

The walk, bottom up (every step rounds *up*: half a meeting is a whole meeting)::

    remaining = max(goal - won_so_far - weighted_pipeline, 0)
    deals     = ceil(remaining / avg_deal)            (or ``deals`` given)
    proposals = ceil(deals     / proposal_to_won)
    meetings  = ceil(proposals / meeting_to_proposal)
    sqls      = ceil(meetings  / sql_to_meeting)
    leads     = ceil(sqls      / lead_to_sql)         (or ceil(deals / lead_to_customer))
    touches   = ceil(leads     / outreach_to_lead)

**Which stages are planned.** The walk starts at deals and climbs the stage
chain ``proposal_to_won -> meeting_to_proposal -> sql_to_meeting -> lead_to_sql``
for as long as *consecutive* rates are given; it stops at the first one that is
absent, and the stages above are not planned. If the climb did not reach leads
and ``lead_to_customer`` is given, ``leads = ceil(deals / lead_to_customer)``
(the shortcut; the intermediate stages the climb did not reach are absent).
``touches`` sit on top of leads when ``outreach_to_lead`` is given. A rate that
is given but cannot be used (above a gap, or ``lead_to_customer`` when the
stage rates already reach leads) is reported in ``Plan.notes``, never silently
dropped. A rate that is *given* as 0 or NaN (no history) stops the plan with a
:class:`PlanError` naming it.

**Rounding.** ``ceil`` tolerates float noise: ``7 / 0.7`` is
``10.000000000000002`` in floating point, and still needs 10, not 11
(a quotient within 1e-12 relative of an integer counts as that integer).

**Uncertainty.** A rate with a sample size (:class:`Rate` with ``successes`` and
``n``) is drawn ``p ~ Beta(v * n + 1, (1 - v) * n + 1)``, which is
``Beta(successes + 1, n - successes + 1)`` for a raw rate ``v = successes / n``
(a shrunk rate keeps its shrunk centre); the ceil chain is run per draw and
the 10th / 90th percentiles of each requirement are its P10-P90 range.
Manual rates without ``n`` are taken as exact.

>>> p = plan(goal=100_000, avg_deal=5_000, rates={"lead_to_customer": 0.10}, working_days=20)
>>> p.to_dict()["deals"], p.to_dict()["leads"]
(20, 200)
>>> p.summary()
'10 leads a day, 5 deals a week'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from kpikit.errors import KpikitError
from kpikit.periods import Period

__all__ = [
    "RATE_NAMES",
    "STAGES",
    "Plan",
    "PlanError",
    "PlanStep",
    "Rate",
    "RateInput",
    "parse_rate_args",
    "plan",
]


class PlanError(KpikitError, ValueError):
    """A plan cannot be made from these inputs; the message says which input and how to fix it."""


RateSource = Literal["rep", "team", "manual", "shrunk"]
RATE_SOURCES: tuple[str, ...] = ("rep", "team", "manual", "shrunk")

#: Every rate the planner knows, in funnel order.
RATE_NAMES: tuple[str, ...] = (
    "outreach_to_lead",
    "lead_to_sql",
    "sql_to_meeting",
    "meeting_to_proposal",
    "proposal_to_won",
    "lead_to_customer",
)
#: Every stage a plan can hold, in walk order (bottom of the funnel first).
STAGES: tuple[str, ...] = ("deals", "proposals", "meetings", "sqls", "leads", "touches")

# (rate, the stage it yields) climbing from deals; each stage divides the one before it.
_STAGE_CHAIN: tuple[tuple[str, str], ...] = (
    ("proposal_to_won", "proposals"),
    ("meeting_to_proposal", "meetings"),
    ("sql_to_meeting", "sqls"),
    ("lead_to_sql", "leads"),
)
_PLURAL = {s: s for s in STAGES} | {"sqls": "SQLs"}
_SINGULAR = {
    "deals": "deal",
    "proposals": "proposal",
    "meetings": "meeting",
    "sqls": "SQL",
    "leads": "lead",
    "touches": "touch",
}
# How a rate's counts read in a message: "0 won of 6 proposals".
_COUNTS = {
    "outreach_to_lead": ("{s} leads from {n} touches", "touches"),
    "lead_to_sql": ("{s} qualified of {n} leads", "leads"),
    "sql_to_meeting": ("{s} meetings from {n} SQLs", "SQLs"),
    "meeting_to_proposal": ("{s} proposals from {n} meetings", "meetings"),
    "proposal_to_won": ("{s} won of {n} proposals", "proposals"),
    "lead_to_customer": ("{s} won of {n} leads", "leads"),
}
_WHOSE = {"rep": " for this rep", "team": " for the team", "shrunk": " for this rep", "manual": ""}

#: A stage needing at least this many a working day is phrased "N a day", otherwise "N a week".
DAILY_MIN = 3.0
_REL_TOL = 1e-12


@dataclass(frozen=True)
class Rate:
    """A conversion rate with where it came from and, when known, its sample size.

    ``value`` is a fraction; ``successes`` of ``n`` are the counts behind it
    (both or neither); ``source`` is ``"rep"`` (the rep's own history),
    ``"team"``, ``"manual"`` (typed in) or ``"shrunk"`` (rep history pulled
    towards the team); ``window`` labels the history used (``"2026-01..2026-06"``).

    >>> Rate.from_counts(8, 10, window="2026-Q3")
    Rate(value=0.8, successes=8, n=10, source='rep', window='2026-Q3')
    >>> Rate.from_counts(0, 0).value
    nan
    """

    value: float
    successes: int | None = None
    n: int | None = None
    source: RateSource = "manual"
    window: str | None = None

    def __post_init__(self) -> None:
        if self.source not in RATE_SOURCES:
            raise PlanError(
                f"Rate source {self.source!r} is not known; use one of {', '.join(RATE_SOURCES)}"
            )
        if (self.successes is None) != (self.n is None):
            raise PlanError(
                f"Rate needs both successes and n, or neither "
                f"(got successes={self.successes!r}, n={self.n!r})"
            )
        if self.n is not None:
            for name, v in (("successes", self.successes), ("n", self.n)):
                if not _is_int(v) or v < 0:
                    raise PlanError(f"Rate {name} must be a whole number >= 0, got {v!r}")
            if self.successes > self.n:
                raise PlanError(
                    f"Rate successes ({self.successes}) cannot exceed n ({self.n})"
                )

    @classmethod
    def from_counts(
        cls, successes: int, n: int, *, source: RateSource = "rep", window: str | None = None
    ) -> Rate:
        """``value = successes / n`` (NaN when ``n`` is 0: no history)."""
        value = successes / n if n else math.nan
        return cls(value, successes, n, source, window)

    @property
    def has_sample(self) -> bool:
        """Whether the rate has a sample size to draw its uncertainty from."""
        return self.n is not None and self.n > 0

    def describe(self, name: str) -> str:
        """Where the rate came from, e.g. ``rep history (8 won of 10 proposals, 2026-Q3)``."""
        what = {
            "rep": "rep history",
            "team": "team history",
            "shrunk": "rep history shrunk towards the team",
            "manual": "given manually",
        }[self.source]
        details = []
        if self.n is not None:
            details.append(_COUNTS[name][0].format(s=self.successes, n=self.n))
        if self.window:
            details.append(self.window)
        return what + (f" ({', '.join(details)})" if details else "")


#: A rate as ``plan`` accepts it: a plain fraction (a manual rate) or a :class:`Rate`.
RateInput = float | Rate


@dataclass(frozen=True)
class PlanStep:
    """One stage of the plan: how many are required and how they spread over time.

    ``per_day`` / ``per_week`` are the requirement over the working days / weeks,
    to one decimal; ``per_day_ceil`` / ``per_week_ceil`` round up for wording
    ("23 calls a day"). ``p10`` / ``p90`` bound the requirement given the rates'
    sample sizes (None when every rate below it is manual).
    """

    stage: str
    required: int
    rate_name: str | None
    rate: float | None
    rate_source: str | None
    per_day: float
    per_week: float
    p10: int | None
    p90: int | None
    formula_text: str
    per_day_ceil: int = 0
    per_week_ceil: int = 0

    def rhythm(self) -> str:
        """``"23 touches a day"`` (at least DAILY_MIN a day) or ``"4 meetings a week"``."""
        n, unit = (
            (self.per_day_ceil, "day") if self.per_day >= DAILY_MIN else (self.per_week_ceil, "week")
        )
        noun = _SINGULAR[self.stage] if n == 1 else _PLURAL[self.stage]
        return f"{n} {noun} a {unit}"


@dataclass
class Plan:
    """A reverse-funnel plan; build it with :func:`plan`.

    ``steps`` are in walk order (deals first, touches last). ``goal`` is the
    revenue goal (None when planned from ``deals`` alone); ``remaining`` is
    what is left after won deals and the weighted pipeline.
    """

    steps: list[PlanStep]
    goal: float | None
    deals: int
    avg_deal: float | None
    won_so_far: float
    weighted_pipeline: float
    remaining: float | None
    working_days: int
    weeks: float
    latest_lead_date: date | None
    notes: list[str] = field(default_factory=list)
    rates: dict[str, Rate] = field(default_factory=dict)
    period: str | None = None
    as_of: date | None = None
    median_cycle_days: float | None = None
    _head: list[str] = field(default_factory=list, repr=False)
    _tail: list[str] = field(default_factory=list, repr=False)

    @property
    def covered(self) -> bool:
        """True when nothing more is needed (won deals and the pipeline cover the goal)."""
        return self.deals == 0

    def step(self, stage: str) -> PlanStep:
        """The step of a stage (``"meetings"``); KeyError if the stage is not planned."""
        for s in self.steps:
            if s.stage == stage:
                return s
        raise KeyError(f"{stage!r} is not in this plan (planned: {[s.stage for s in self.steps]})")

    def explain(self) -> list[str]:
        """The math, line by line, so a rep can check it.

        >>> p = plan(deals=8, rates={"proposal_to_won": 0.8}, working_days=20)
        >>> p.explain()[:2]
        ['deals = 8 (given)', 'proposals = ceil(8 / 0.80) = 10']
        """
        return [*self._head, *(s.formula_text for s in self.steps), *self._tail]

    def rhythm(self) -> list[str]:
        """Each stage as a daily or weekly number, top of the funnel first."""
        if self.covered:
            return []
        return [s.rhythm() for s in reversed(self.steps)]

    def summary(self) -> str:
        """One line: ``"23 touches a day, ..., 4 meetings a week"`` (or that the goal is covered)."""
        if self.covered:
            return "goal covered: nothing more to plan"
        return ", ".join(self.rhythm())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: one key per stage in :data:`STAGES` (None if not planned) and the rest."""
        out: dict[str, Any] = {stage: None for stage in STAGES}
        out.update({s.stage: s.required for s in self.steps})
        out.update(
            goal=self.goal,
            avg_deal=self.avg_deal,
            won_so_far=self.won_so_far,
            weighted_pipeline=self.weighted_pipeline,
            remaining=self.remaining,
            covered=self.covered,
            working_days=self.working_days,
            weeks=self.weeks,
            period=self.period,
            as_of=self.as_of.isoformat() if self.as_of else None,
            median_cycle_days=self.median_cycle_days,
            latest_lead_date=self.latest_lead_date.isoformat() if self.latest_lead_date else None,
            summary=self.summary(),
            steps=[asdict(s) for s in self.steps],
            rates={name: asdict(r) for name, r in self.rates.items()},
            explain=self.explain(),
            notes=list(self.notes),
        )
        return out

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per stage (walk order) for notebooks and charts.

        >>> plan(deals=8, rates={"proposal_to_won": 0.8}, working_days=20).to_frame()[
        ...     ["stage", "required", "per_week"]]
               stage  required  per_week
        0      deals         8       2.0
        1  proposals        10       2.5
        """
        rows = []
        for s in self.steps:
            r = self.rates.get(s.rate_name) if s.rate_name else None
            rows.append(
                {
                    "stage": s.stage,
                    "required": s.required,
                    "rate_name": s.rate_name,
                    "rate": s.rate if s.rate is not None else np.nan,
                    "rate_source": s.rate_source,
                    "successes": r.successes if r and r.n is not None else np.nan,
                    "n": r.n if r and r.n is not None else np.nan,
                    "window": r.window if r else None,
                    "per_day": s.per_day,
                    "per_week": s.per_week,
                    "per_day_ceil": s.per_day_ceil,
                    "per_week_ceil": s.per_week_ceil,
                    "p10": np.nan if s.p10 is None else s.p10,
                    "p90": np.nan if s.p90 is None else s.p90,
                    "formula": s.formula_text,
                }
            )
        df = pd.DataFrame(rows)
        types = {"required": "int64", "rate": float, "successes": float, "n": float}
        return df.astype(types | {"p10": float, "p90": float})


# ---------------------------------------------------------------------------------------------
# the planner


def plan(
    *,
    goal: float | None = None,
    deals: int | None = None,
    avg_deal: float | None = None,
    rates: Mapping[str, RateInput],
    working_days: int,
    weeks: float | None = None,
    won_so_far: float = 0.0,
    weighted_pipeline: float = 0.0,
    period: Period | str | None = None,
    as_of: date | None = None,
    median_cycle_days: float | None = None,
    simulations: int = 20000,
    seed: int = 0,
    fallback_rates: Mapping[str, RateInput] | None = None,
) -> Plan:
    """Plan the activity that reaches a revenue goal (or a number of deals).

    Formulas (see the module docstring for which stages are planned)::

        remaining = max(goal - won_so_far - weighted_pipeline, 0)
        deals     = ceil(remaining / avg_deal)
        stage     = ceil(next stage / rate)       walking up the funnel
        per_day   = stage / working_days,  per_week = stage / weeks  (weeks = working_days / 5)
        latest_lead_date = last day of period - ceil(median_cycle_days)

    Parameters
    ----------
    goal, avg_deal
        Revenue goal and average won deal size (same currency). ``goal`` needs ``avg_deal``.
    deals
        Plan for this many deals instead of a revenue goal (give ``goal`` or ``deals``).
        With ``won_so_far`` / ``weighted_pipeline`` it also needs ``avg_deal``.
    rates
        Rate name (:data:`RATE_NAMES`) -> fraction in (0, 1] or :class:`Rate`.
    working_days, weeks
        The time to spread the work over; ``weeks`` defaults to ``working_days / 5``.
    won_so_far, weighted_pipeline
        Revenue already won in the period, and the open pipeline weighted by win probability.
    period, as_of, median_cycle_days
        With the median days from lead to won, the last day a new lead can still be
        expected to close within ``period``; ``as_of`` adds a note once that day has passed.
    simulations, seed
        Monte Carlo draws for the P10-P90 ranges (0: no ranges); same seed, same ranges.
    fallback_rates
        The team's rates: offered in the error when a rep's rate is 0 or has no history.

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        Bad numbers, goal without avg_deal, no goal or deals, an unknown rate name, a
        rate outside (0, 1], a rate of 0 or without history.

    Examples
    --------
    >>> p = plan(deals=8, working_days=20, rates={
    ...     "proposal_to_won": 0.8, "meeting_to_proposal": 0.4, "sql_to_meeting": 0.5})
    >>> p.to_dict()["proposals"], p.to_dict()["meetings"], p.to_dict()["sqls"]
    (10, 25, 50)
    >>> for line in p.explain():
    ...     print(line)
    deals = 8 (given)
    proposals = ceil(8 / 0.80) = 10
    meetings = ceil(10 / 0.40) = 25
    sqls = ceil(25 / 0.50) = 50
    spread over 20 working days = 4 weeks
    """
    # -- inputs
    won = _number("won_so_far", won_so_far)
    pipe = _number("weighted_pipeline", weighted_pipeline)
    wd = _count("working_days", working_days, positive=True)
    wk = wd / 5 if weeks is None else _number("weeks", weeks, positive=True)
    if isinstance(simulations, bool) or not _is_int(simulations) or simulations < 0:
        raise PlanError(f"simulations must be a whole number >= 0, got {simulations!r}")
    avg = None if avg_deal is None else _number("avg_deal", avg_deal, positive=True)
    head: list[str] = []
    if goal is not None and deals is not None:
        raise PlanError("give a revenue goal or a number of deals, not both")
    if goal is None and deals is None:
        raise PlanError("nothing to plan: give a revenue goal (with avg_deal) or a number of deals")
    if goal is not None:
        g = _number("goal", goal)
        if avg is None:
            raise PlanError(
                f"a goal of {_money(g)} needs an average deal size to turn into deals: "
                f"pass avg_deal (e.g. the rep's average won deal)"
            )
        head.append(f"goal = {_money(g)}")
    else:
        n_deals = _count("deals", deals)
        if avg is None and (won or pipe):
            raise PlanError(
                "won_so_far / weighted_pipeline are revenue: planning from deals needs avg_deal "
                "to subtract them"
            )
        g = None if avg is None else n_deals * avg
        if g is not None and (won or pipe):
            head.append(f"goal = {n_deals} deals x {_money(avg)} = {_money(g)}")
    remaining = None
    if g is not None:
        remaining = max(g - won - pipe, 0.0)
        if won or pipe:
            head.append(
                f"remaining = max({_money(g)} - {_money(won)} won - {_money(pipe)} pipeline, 0)"
                f" = {_money(remaining)}"
                + (": the goal is covered, nothing more to plan" if remaining == 0 else "")
            )
    if goal is not None or won or pipe:
        n_deals = int(_ceil_div(remaining, avg))
        deals_line = f"deals = ceil({_money(remaining)} / {_money(avg)}) = {n_deals:,}"
    else:
        deals_line = f"deals = {n_deals:,} (given)"

    used = _check_rates(rates, fallback_rates)
    walk, notes = _walk(used)

    # -- point requirements and Monte Carlo ranges, same walk
    required: dict[str, int] = {"deals": n_deals}
    for stage, name, below in walk:
        required[stage] = int(_ceil_div(required[below], used[name].value))
    ranges = _simulate(n_deals, walk, used, simulations, seed)

    steps = [_step("deals", n_deals, None, None, deals_line, wd, wk, ranges)]
    for stage, name, below in walk:
        r = used[name]
        formula = (
            f"{stage} = ceil({required[below]:,} / {_fmt_rate(r.value)}) = {required[stage]:,}"
        )
        steps.append(_step(stage, required[stage], name, r, formula, wd, wk, ranges))

    walked = {name for _, name, _ in walk}
    rate_notes = [
        f"{n} = {_fmt_rate(used[n].value)}: {used[n].describe(n)}" for n in RATE_NAMES if n in walked
    ]
    notes = rate_notes + notes
    notes += _range_notes(walk, used, simulations)
    if remaining == 0:
        notes.insert(0, "goal covered: won deals and the weighted pipeline reach the goal")

    tail = [f"spread over {wd} working days = {_fmt_num(wk)} weeks"]
    per = Period.parse(period) if period is not None else None
    day = None if as_of is None else pd.Timestamp(as_of).date()
    cycle = None
    latest = None
    if median_cycle_days is not None:
        cycle = _number("median_cycle_days", median_cycle_days)
        if per is None:
            notes.append("median_cycle_days given without a period: no latest lead date")
        else:
            latest, line, phase_notes = _time_phase(per, cycle, day)
            tail.append(line)
            notes += phase_notes

    return Plan(
        steps=steps,
        goal=g,
        deals=n_deals,
        avg_deal=avg,
        won_so_far=won,
        weighted_pipeline=pipe,
        remaining=remaining,
        working_days=wd,
        weeks=wk,
        latest_lead_date=latest,
        notes=notes,
        rates={n: used[n] for n in RATE_NAMES if n in walked},
        period=per.label if per else None,
        as_of=day,
        median_cycle_days=cycle,
        _head=head,
        _tail=tail,
    )


def parse_rate_args(args: Iterable[str]) -> dict[str, float]:
    """Parse CLI ``--rate NAME=VALUE`` arguments (``0.2`` or ``20%``) into manual rates.

    >>> parse_rate_args(["lead_to_sql=0.2", "proposal_to_won=25%"])
    {'lead_to_sql': 0.2, 'proposal_to_won': 0.25}
    """
    out: dict[str, float] = {}
    for arg in args:
        name, sep, text = str(arg).partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise PlanError(f"--rate {arg!r} is not NAME=VALUE, e.g. --rate lead_to_sql=0.2")
        if name not in RATE_NAMES:
            raise PlanError(f"--rate {arg!r}: unknown rate {name!r}; use one of {_known()}")
        if name in out:
            raise PlanError(f"--rate {name} is given twice; give each rate once")
        pct = text.endswith("%")
        try:
            value = float(text[:-1] if pct else text) / (100 if pct else 1)
        except ValueError:
            raise PlanError(
                f"--rate {arg!r}: {text!r} is not a number; write a fraction (0.2) or a percent (20%)"
            ) from None
        if not 0 < value <= 1:  # also rejects NaN
            hint = f" (did you mean {text}%?)" if not pct and 1 < value <= 100 else ""
            raise PlanError(
                f"--rate {arg!r}: a rate must be in (0, 1] (0% < rate <= 100%){hint}"
            )
        out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# helpers


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _number(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PlanError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise PlanError(f"{name} must be a finite number, got {value!r}")
    if v < 0:
        raise PlanError(f"{name} cannot be negative, got {value!r}")
    if positive and v == 0:
        raise PlanError(f"{name} must be greater than 0, got {value!r}")
    return v


def _count(name: str, value: Any, *, positive: bool = False) -> int:
    v = _number(name, value, positive=positive)
    if not v.is_integer():
        raise PlanError(f"{name} must be a whole number, got {value!r}")
    return int(v)


def _ceil_div(need: Any, rate: Any) -> Any:
    """``ceil(need / rate)``, ignoring float noise within 1e-12 relative of an integer.

    >>> float(_ceil_div(7, 0.7)), float(_ceil_div(8, 0.8)), float(_ceil_div(10, 0.8))
    (10.0, 10.0, 13.0)
    """
    x = np.asarray(need, dtype=float) / rate
    r = np.rint(x)
    return np.where(np.abs(x - r) <= _REL_TOL * np.maximum(1.0, np.abs(r)), r, np.ceil(x))


def _known() -> str:
    return ", ".join(RATE_NAMES)


def _check_rates(
    rates: Mapping[str, RateInput], fallback: Mapping[str, RateInput] | None
) -> dict[str, Rate]:
    """Normalise every given rate to a :class:`Rate` and reject unusable ones."""
    if not isinstance(rates, Mapping):
        raise PlanError(f"rates must be a mapping of rate name -> rate, got {type(rates).__name__}")
    out: dict[str, Rate] = {}
    for name, given in rates.items():
        if name not in RATE_NAMES:
            raise PlanError(f"unknown rate {name!r}; use one of {_known()}")
        r = _as_rate(name, given)
        v = r.value
        if math.isnan(v):
            what = (
                f" (no {_COUNTS[name][1]}" + (f" in {r.window})" if r.window else ")")
                if r.n == 0
                else ""
            )
            raise PlanError(
                f"cannot plan: {name} has no history{_WHOSE[r.source]}{what}"
                + _offer(name, fallback)
            )
        if v < 0 or v > 1:
            hint = f" (write {v / 100:g} or {v:g}% for a percentage)" if 1 < v <= 100 else ""
            raise PlanError(f"rate {name} must be a fraction in (0, 1], got {v!r}{hint}")
        if v == 0:
            counts = f" ({_COUNTS[name][0].format(s=r.successes, n=r.n)})" if r.n else ""
            raise PlanError(
                f"cannot plan: {name} is 0{_WHOSE[r.source]}{counts}" + _offer(name, fallback)
            )
        out[name] = r
    return out


def _as_rate(name: str, given: Any) -> Rate:
    if isinstance(given, Rate):
        value = given.value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise PlanError(f"rate {name} must be a number, got {value!r}")
        return given
    if isinstance(given, bool) or not isinstance(given, numbers.Real):
        raise PlanError(f"rate {name} must be a number or a Rate, got {given!r}")
    return Rate(float(given))


def _offer(name: str, fallback: Mapping[str, RateInput] | None) -> str:
    """The tail of a cannot-plan message: the team's rate when there is a usable one."""
    team = (fallback or {}).get(name)
    if team is not None:
        try:
            t = _as_rate(name, team).value
        except PlanError:
            t = math.nan
        if 0 < t <= 1:
            return (
                f"; the team's rate is {_pct(t)} — rerun with --rate {name}={t:.4g} "
                f"or use team rates"
            )
    return f"; give a rate with --rate {name}=VALUE (for example the team's rate)"


def _walk(rates: Mapping[str, Rate]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The stages to plan as ``(stage, rate name, stage below)``, and notes on unused rates."""
    walk: list[tuple[str, str, str]] = []
    notes: list[str] = []
    below = "deals"
    for name, stage in _STAGE_CHAIN:
        if name not in rates:
            break
        walk.append((stage, name, below))
        below = stage
    top = below  # where the climb up the stage chain stopped
    if below != "leads" and "lead_to_customer" in rates:
        walk.append(("leads", "lead_to_customer", "deals"))
        below = "leads"
    elif "lead_to_customer" in rates:
        notes.append("lead_to_customer not used: the stage rates reach leads")
    if not walk:
        raise PlanError(
            "no rate to walk up from deals: give proposal_to_won (and the stage rates above it: "
            "meeting_to_proposal, sql_to_meeting, lead_to_sql) or lead_to_customer"
        )
    if below == "leads" and "outreach_to_lead" in rates:
        walk.append(("touches", "outreach_to_lead", "leads"))
    walked = {name for _, name, _ in walk}
    chain = [name for name, _ in _STAGE_CHAIN]
    for name in RATE_NAMES:
        if name in rates and name not in walked and name != "lead_to_customer":
            if name == "outreach_to_lead":
                gap = f"the walk stops at {below}, below leads"
            else:
                missing = next(n for n in chain[: chain.index(name)] if n not in rates)
                gap = f"the walk stops at {top} because {missing} is not given"
            notes.append(f"{name} not used: {gap}")
    return walk, notes


def _simulate(
    deals: int,
    walk: list[tuple[str, str, str]],
    rates: Mapping[str, Rate],
    simulations: int,
    seed: int,
) -> dict[str, tuple[int, int] | None]:
    """P10 / P90 of each stage's requirement over Beta draws of the rates with a sample size."""
    out: dict[str, tuple[int, int] | None] = {"deals": None}
    if simulations == 0:
        return {stage: None for stage, _, _ in walk} | out
    rng = np.random.default_rng(seed)
    draws = {"deals": np.full(simulations, float(deals))}
    uncertain = {"deals": False}
    for stage, name, below in walk:
        r = rates[name]
        if r.has_sample:
            p = rng.beta(r.value * r.n + 1, (1 - r.value) * r.n + 1, size=simulations)
            p = np.maximum(p, np.finfo(float).tiny)
        else:
            p = r.value
        draws[stage] = _ceil_div(draws[below], p)
        uncertain[stage] = uncertain[below] or r.has_sample
        if uncertain[stage]:
            lo, hi = np.quantile(draws[stage], [0.1, 0.9], method="inverted_cdf")
            out[stage] = (int(lo), int(hi))
        else:
            out[stage] = None
    return out


def _step(
    stage: str,
    required: int,
    name: str | None,
    rate: Rate | None,
    formula: str,
    working_days: int,
    weeks: float,
    ranges: Mapping[str, tuple[int, int] | None],
) -> PlanStep:
    rng = ranges.get(stage)
    return PlanStep(
        stage=stage,
        required=required,
        rate_name=name,
        rate=None if rate is None else rate.value,
        rate_source=None if rate is None else rate.source,
        per_day=round(required / working_days, 1),
        per_week=round(required / weeks, 1),
        p10=None if rng is None else rng[0],
        p90=None if rng is None else rng[1],
        formula_text=formula,
        per_day_ceil=int(_ceil_div(required, working_days)),
        per_week_ceil=int(_ceil_div(required, weeks)),
    )


def _range_notes(
    walk: list[tuple[str, str, str]], rates: Mapping[str, Rate], simulations: int
) -> list[str]:
    sampled = [name for _, name, _ in walk if rates[name].has_sample]
    manual = [name for _, name, _ in walk if not rates[name].has_sample]
    if not sampled:
        return ["no P10-P90 range: the rates have no sample size (manual rates are taken as exact)"]
    if simulations == 0:
        return ["no P10-P90 range: simulations=0"]
    note = (
        f"P10-P90 ranges from {simulations:,} draws of p ~ Beta(successes + 1, "
        f"n - successes + 1) for {', '.join(sampled)}"
    )
    if manual:
        note += f"; {', '.join(manual)} without a sample size taken as exact"
    return [note]


def _time_phase(per: Period, cycle: float, as_of: date | None) -> tuple[date, str, list[str]]:
    """Latest lead date = last day of the period - ceil(median cycle days)."""
    last_day = (per.end - pd.Timedelta(days=1)).date()
    days = math.ceil(cycle)
    latest = last_day - timedelta(days=days)
    line = f"latest lead date = {_date(last_day)} - {days} days = {_date(latest)}"
    notes = [
        f"leads created after {_date(latest)} are unlikely to close this period "
        f"(median sales cycle {_fmt_num(cycle)} days)"
    ]
    if latest < per.start.date():
        notes.append(
            f"the median sales cycle ({_fmt_num(cycle)} days) is longer than {per.label}: "
            f"leads created in the period are unlikely to close within it"
        )
    elif as_of is not None and as_of > latest:
        notes.append(
            f"as of {_date(as_of)} the latest lead date has passed: new leads are unlikely "
            f"to close in {per.label}; work the open pipeline"
        )
    return latest, line, notes


def _money(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _fmt_num(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def _fmt_rate(v: float) -> str:
    """At least two decimals, up to four, exact when short: 0.80, 0.125, 0.1667."""
    text = f"{v:.4f}".rstrip("0")
    return text if len(text.split(".")[1]) >= 2 else f"{v:.2f}"


def _pct(v: float) -> str:
    return f"{v * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _date(d: date) -> str:
    return f"{d.day} {d:%b %Y}"
