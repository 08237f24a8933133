"""The built-in sample org: a realistic synthetic sales dataset with a known hidden truth.

:func:`generate` builds every table of the data model (``shared/DATA_MODEL.md``)
for a fake B2B sales org; :func:`write_demo_data` writes it as a dataset folder
(``kpikit demo-data``). Each rep has hidden "true" behaviour (stage conversion
rates, response speed, persistence, deal size, and for some reps a *weak stage*
where they are clearly below their team), stored in ``truth`` so that metrics,
benchmarks and coaching findings can be checked against what was planted.

How the org works
-----------------
- Reps are SDRs (work leads, hand qualified ones to an AE of their team and log
  the ``appointment_set``), AEs (full cycle: own leads and opportunities) and
  account managers (AM: own a book of existing customers, touch their key
  accounts and open upsell opportunities without a lead).
- A lead is qualified with probability ``lead_to_sql`` of its owner (adjusted
  by source so that the owner's average over its own source mix is exactly that
  rate on average); at ``qualified_at`` an opportunity opens at the ``SQL`` stage. The
  opportunity owner's ``sql_to_meeting``, ``meeting_to_proposal`` and
  ``proposal_to_won`` then decide, independently of everything else, how far it
  goes (``docs/funnel.md``): so cohort conversion rates estimate the truth
  without bias once cohorts are mature.
- The data covers the ``months`` calendar months ending with ``end``. Nothing
  happens after the end of ``end``: later events are cut off, which leaves the
  recent leads and opportunities open (immature cohorts). Opportunities still
  open at the first month come from a three-month warm-up: they keep their
  ``created_at`` (before the window) and stage history, but not their lead.
- SDRs and AEs also log cold dials (calls tied to no lead, account or
  opportunity). SDRs have no quota rows: their goal is not revenue.
- Timestamps are naive local times, mostly on weekdays in working hours; only
  the first response to a lead is a plain number of hours after it arrived
  (the rep's response delay), so ``lead_response_time_h`` recovers
  ``response_median_h``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from kpikit.errors import KpikitError
from kpikit.schema import ACTIVITY_TYPES, TABLE_NAMES, TABLES, TITLE_LEVELS

__all__ = ["STAGE_RATES", "SyntheticOrg", "generate", "write_demo_data"]

#: the four per-rep conversion rates of the standard funnel, as named in ``truth``
STAGE_RATES: tuple[str, ...] = (
    "lead_to_sql",
    "sql_to_meeting",
    "meeting_to_proposal",
    "proposal_to_won",
)
MAX_REPS = 2000
MAX_MONTHS = 60
MAX_REP_MONTHS = 24_000  # about 6 million activity rows and 2.5 GB of memory
FORMATS = ("csv", "parquet")
WARMUP_MONTHS = 3
QUOTA_MONTHS_AHEAD = 3

_DAY = 86_400
_HOUR = 3_600

ROLES = ("SDR", "AE", "AM")
_SDR, _AE, _AM = 0, 1, 2
LEVELS = ("junior", "mid", "senior")
SOURCES = ("marketing", "website", "event", "referral", "partner", "outbound", "expansion")
_OUTBOUND, _EXPANSION = 5, 6
STAGES = ("SQL", "Meeting", "Proposal", "Won", "Lost")
_ST_SQL, _ST_MEETING, _ST_PROPOSAL, _ST_WON, _ST_LOST = range(5)
_CALL, _EMAIL, _MEETING, _APPT, _LINKEDIN, _SOCIAL, _DEMO, _PROPOSAL = range(8)
OUTCOMES = ("connected", "no_answer", "voicemail", "booked", "held", "no_show")
_CONNECTED, _NO_ANSWER, _VOICEMAIL, _BOOKED, _HELD, _NO_SHOW = range(6)
PRODUCTS = ("Starter", "Professional", "Enterprise", "Add-on")
LOST_REASONS = ("no response", "not a fit", "no budget", "no need", "timing", "competitor",
                "price", "no decision")
_LOST_AT_SQL = (0, 1, 2)
_LOST_AT_MEETING = (3, 2, 4, 5)
_LOST_AT_PROPOSAL = (6, 5, 7, 4)
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
N_COLLATERAL = 12

# --- the org's average behaviour (the "truth" varies around it) ---------------------------
_BASE_RATES = np.array([0.22, 0.62, 0.52, 0.36])  # lead_to_sql .. proposal_to_won
_LEVEL_LOGIT = np.array([-0.08, 0.0, 0.08])  # junior, mid, senior
_TEAM_SD, _REP_SD = 0.10, 0.18  # logit-scale spread of teams and of reps within a team
_WEAK_FACTOR = (0.45, 0.60)  # a weak stage's rate is this fraction of the rep's normal rate
_WEAK_SHARE = 0.3  # share of reps with one weak stage
# leads per month at activity volume 1 (SDR, AE, AM): inbound and self-sourced outbound
_INBOUND_RATE = np.array([24.0, 26.0, 0.0])
_OUTBOUND_RATE = np.array([75.0, 12.0, 0.0])
_UPSELLS_PER_MONTH = 5.0  # AM upsell opportunities per month
_COLD_DIALS_PER_DAY = np.array([10.0, 3.0, 0.0])  # prospecting calls not tied to a lead
# inbound source mix (marketing, website, event, referral, partner) per lead-owning role
_INBOUND_MIX = {
    _SDR: np.array([0.45, 0.35, 0.20, 0.0, 0.0]),
    _AE: np.array([0.32, 0.28, 0.12, 0.17, 0.11]),
}
_SRC_QUALIFY = np.array([0.9, 1.0, 1.1, 1.6, 1.3, 0.75, 1.0])  # relative odds of qualifying
_SRC_DEAL = np.array([0.95, 0.85, 1.05, 1.3, 1.2, 1.0, 1.0])  # relative deal size
_SRC_RECORDED = np.array([0.75, 0.8, 0.5, 0.35, 0.4, 0.3, 0.0])  # first_response_at recorded
_SRC_SIZE = np.array([120.0, 60.0, 250.0, 300.0, 400.0, 200.0, 800.0])  # median employees
_SRC_CPL = np.array([110.0, 55.0, 240.0, 60.0, 150.0, 12.0, 0.0])  # marketing cost per lead
_DEAL_BASE = np.array([np.nan, 18_000.0, 12_000.0])  # average won deal per role, mid level
_DEAL_LEVEL = np.array([0.85, 1.0, 1.2])
_SALARY = np.array([62_000.0, 90_000.0, 82_000.0])  # yearly, mid level
_SALARY_LEVEL = np.array([0.85, 1.0, 1.25])
_MANAGER_SALARY = 140_000.0
_COMMISSION = 0.08
_CHURN_NEW, _CHURN_BOOK, _CHURN_KEY = 0.012, 0.014, 0.004  # monthly customer churn hazards
_MEAN_MONTH_DAYS = 30.44

_FIRST_NAMES = (
    "Aaron", "Abigail", "Adam", "Aisha", "Alex", "Alice", "Amara", "Amelia", "Andre", "Anna",
    "Ben", "Bianca", "Carlos", "Chloe", "Chris", "Clara", "Daniel", "Diana", "Dmitri", "Elena",
    "Eli", "Emma", "Ethan", "Fatima", "Felix", "Fiona", "Gabriel", "Grace", "Hannah", "Hugo",
    "Ian", "Ines", "Isaac", "Isabel", "Jack", "Jade", "James", "Jasmine", "Jonas", "Julia", "Kai",
    "Kara", "Kenji", "Laura", "Leo", "Lena", "Liam", "Lucia", "Maria", "Marcus", "Maya", "Mei",
    "Nadia", "Nathan", "Nina", "Noah", "Olivia", "Omar", "Oscar", "Paula", "Priya", "Rafael",
    "Rachel", "Ravi", "Rosa", "Ruby", "Ryan", "Samir", "Sara", "Sean", "Sofia", "Tariq", "Tessa",
    "Theo", "Tom", "Uma", "Valentin", "Vera", "Victor", "Wei", "Will", "Xavier", "Yara", "Yusuf",
    "Zoe", "Zara", "Mateo", "Leila", "Hiro", "Ingrid", "Kofi", "Lars", "Mira", "Noor", "Pedro",
    "Quinn", "Rhea", "Sven", "Talia"
)
_LAST_NAMES = (
    "Adams", "Alvarez", "Andersen", "Baker", "Bauer", "Becker", "Bennett", "Brooks", "Campbell",
    "Carter", "Chen", "Clarke", "Costa", "Cruz", "Dawson", "Diaz", "Dubois", "Edwards", "Evans",
    "Fischer", "Fleming", "Foster", "Garcia", "Gomez", "Grant", "Gupta", "Hansen", "Harris",
    "Hayes", "Herrera", "Hoffmann", "Hughes", "Ibrahim", "Ito", "Jensen", "Johnson", "Kaur",
    "Keller", "Khan", "Kim", "Klein", "Kowalski", "Larsen", "Lee", "Lopez", "Martin", "Meyer",
    "Miller", "Moreau", "Murphy", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Ortiz",
    "Park", "Patel", "Perez", "Petrov", "Quinn", "Ramos", "Reed", "Reyes", "Richter", "Rossi",
    "Russo", "Sato", "Schmidt", "Silva", "Singh", "Sousa", "Stewart", "Suzuki", "Tanaka", "Taylor",
    "Thomas", "Torres", "Tran", "Turner", "Varga", "Vega", "Wagner", "Walsh", "Wang", "Watson",
    "Weber", "Wilson", "Wong", "Wright", "Yamamoto", "Young", "Zhang", "Ziegler", "Moretti",
    "Lindqvist"
)
_TEAM_NAMES = ("East", "West", "Central", "North", "South", "Pacific", "Mountain", "Atlantic",
               "Gulf", "Lakes", "Plains", "Coastal")
_CO_PREFIX = (
    "Acme", "Apex", "Arbor", "Aster", "Atlas", "Beacon", "Birch", "Blue", "Bright", "Cedar",
    "Cobalt", "Copper", "Crest", "Delta", "Ember", "Evergreen", "Falcon", "Fern", "Granite",
    "Harbor", "Helix", "Horizon", "Iron", "Juniper", "Keystone", "Lumen", "Maple", "Meridian",
    "Nimbus", "North", "Oak", "Onyx", "Orbit", "Pioneer", "Prairie", "Quartz", "Redwood", "Ridge",
    "Sierra", "Silver", "Summit", "Tidal", "True", "Vector", "Willow", "Zenith"
)
_CO_CORE = (
    "Analytics", "Logistics", "Health", "Foods", "Robotics", "Labs", "Systems", "Energy",
    "Capital", "Media", "Software", "Networks", "Outfitters", "Builders", "Pharma", "Motors",
    "Retail", "Textiles", "Security", "Learning", "Travel", "Dynamics", "Biotech", "Payments",
    "Insurance", "Realty", "Farms", "Machines", "Studios"
)
_CO_LEGAL = ("Inc", "LLC", "Group", "Corp", "Ltd", "& Co")


@dataclass
class SyntheticOrg:
    """A generated sample org: its tables and the hidden truth they were drawn from.

    ``tables`` maps every canonical table name to a DataFrame with the canonical
    columns (ids as strings, timestamps as naive ``datetime64``, money as
    floats). ``truth`` is JSON-serialisable: ``truth["params"]`` holds the
    generator arguments, ``truth["reps"][rep_id]`` each rep's hidden behaviour
    and ``truth["teams"][team]`` each team's base rates.
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, Any] = field(default_factory=dict)

    def to_dataset(self):
        """Validate the tables into a :class:`kpikit.Dataset` (default stages, USD)."""
        from kpikit.dataset import Dataset

        return Dataset.from_frames(**self.tables)


# --------------------------------------------------------------------------- arguments
def _check_args(reps: Any, months: Any, end: Any, seed: Any, lead_volume: Any) -> tuple[int, int]:
    def whole(v: Any) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool)

    if not whole(reps) or not 1 <= reps <= MAX_REPS:
        raise KpikitError(
            f"demo data: reps must be a whole number from 1 to {MAX_REPS}, got {reps!r}"
        )
    if not whole(months) or not 1 <= months <= MAX_MONTHS:
        raise KpikitError(
            f"demo data: months must be a whole number from 1 to {MAX_MONTHS}, got {months!r}"
        )
    m = re.fullmatch(r"(\d{4})-(\d{2})", end) if isinstance(end, str) else None
    if m is None or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1900:
        raise KpikitError(
            f"demo data: end must be the last month of the data as 'YYYY-MM' (e.g. '2026-10'), "
            f"got {end!r}"
        )
    if not whole(seed) or seed < 0:
        raise KpikitError(f"demo data: seed must be a whole number >= 0, got {seed!r}")
    if (
        isinstance(lead_volume, bool)
        or not isinstance(lead_volume, int | float | np.integer | np.floating)
        or not 0 < lead_volume <= 20
    ):
        raise KpikitError(
            f"demo data: lead_volume must be a number above 0 and at most 20 (1 = about 40 "
            f"leads per AE a month), got {lead_volume!r}"
        )
    if reps * months * max(float(lead_volume), 1.0) > MAX_REP_MONTHS:
        raise KpikitError(
            f"demo data: reps x months x lead_volume must be at most {MAX_REP_MONTHS:,} "
            f"(e.g. 2,000 reps x 12 months) to fit in memory, got {reps} x {months} x "
            f"{lead_volume} = {reps * months * max(float(lead_volume), 1.0):,.0f}"
        )
    return int(m[1]), int(m[2])


# --------------------------------------------------------------------------- helpers
def _draw(rng: np.random.Generator, probs: np.ndarray | list[float], n: int) -> np.ndarray:
    """``n`` category codes drawn with the given probabilities."""
    cum = np.cumsum(np.asarray(probs, dtype=float))
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"), len(cum) - 1)


def _stratified(rng: np.random.Generator, shares: list[float], n: int) -> np.ndarray:
    """``n`` category codes with counts as close as possible to ``shares``, shuffled."""
    exact = np.asarray(shares) * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _to_d(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, dtype=np.int64).astype("datetime64[D]")


def _next_bday(day: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """The ``k``-th working day (Mon-Fri) strictly after ``day`` (days since 1970), k >= 1."""
    return np.busday_offset(_to_d(day + 1), np.asarray(k) - 1, roll="forward").astype(np.int64)


def _group_offsets(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows repeated ``counts`` times: the owner of each row and its rank in the group."""
    owner = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - start[owner]


def _strings(codes: np.ndarray, values: Any) -> pd.Series:
    """A ``str`` Series taking ``values[code]`` (code -1 = missing), built through Arrow."""
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask)
    dic = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    return pa.DictionaryArray.from_arrays(idx, dic).cast(pa.string()).to_pandas()


@dataclass(frozen=True)
class _IdFormat:
    """Formats integer codes as ids: ``prefix`` + zero-padded ``code + 1`` (code -1 = missing).

    >>> _IdFormat("R", 3)(np.array([0, 24, -1])).tolist()
    ['R001', 'R025', nan]
    """

    prefix: str
    width: int

    @classmethod
    def for_count(cls, prefix: str, n: int, min_width: int) -> _IdFormat:
        return cls(prefix, max(min_width, len(str(n))))

    def __call__(self, codes: np.ndarray) -> pd.Series:
        codes = np.asarray(codes, dtype=np.int64)
        n = len(codes)
        missing = codes < 0
        x = np.where(missing, 0, codes + 1)
        pre = np.frombuffer(self.prefix.encode("ascii"), dtype=np.uint8)
        size = len(pre) + self.width
        mat = np.empty((n, size), dtype=np.uint8)
        mat[:, : len(pre)] = pre
        for j in range(self.width):  # a loop over digits
            mat[:, size - 1 - j] = x % 10 + 48
            x //= 10
        validity = None
        if missing.any():
            validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
        arr = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(size), n, [validity, pa.py_buffer(mat)], null_count=int(missing.sum())
        )
        return arr.cast(pa.string()).to_pandas()


def _ts(sec: np.ndarray) -> pd.Series:
    """Seconds since 1970 (negative = missing) to a naive ``datetime64[us]`` Series."""
    sec = np.asarray(sec, dtype=np.int64)
    out = sec.astype("datetime64[s]")
    out[sec < 0] = np.datetime64("NaT")
    return pd.Series(out.astype("datetime64[us]"))


def _dates(day: np.ndarray) -> pd.Series:
    """Days since 1970 (negative = missing) to midnight ``datetime64[us]`` timestamps."""
    day = np.asarray(day, dtype=np.int64)
    return _ts(np.where(day < 0, -1, day * _DAY))


def _ints(values: np.ndarray) -> pd.Series:
    """Whole numbers (negative = missing) as nullable ``Int64``."""
    values = np.asarray(values, dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(values, values < 0))


def _month_label(month: np.datetime64) -> str:
    return str(np.datetime64(month, "M"))


# --------------------------------------------------------------------------- generator
class _Generator:
    """Builds one org. Every random draw comes from one ``default_rng(seed)``, in a fixed order."""

    def __init__(self, reps: int, months: int, year: int, month: int, seed: int, volume: float):
        self.rng = np.random.default_rng(seed)
        self.n = reps
        self.months = months
        self.seed = seed
        self.volume = float(volume)
        self.end_month = np.datetime64(f"{year:04d}-{month:02d}", "M")
        self.first_month = self.end_month - (months - 1)
        self.gen_first = self.first_month - WARMUP_MONTHS
        self.n_gen_months = months + WARMUP_MONTHS
        # month boundaries (days since 1970): gen_first .. end of data
        self.mdays = (self.gen_first + np.arange(self.n_gen_months + 1)).astype(
            "datetime64[D]"
        ).astype(np.int64)
        self.start_day = int(self.mdays[WARMUP_MONTHS])
        self.end_day = int(self.mdays[-1])
        self.start_sec = self.start_day * _DAY
        self.end_sec = self.end_day * _DAY
        self.acts: list[tuple[int, dict[str, np.ndarray | int]]] = []

    # ---- time helpers ----------------------------------------------------------------
    def tod_work(self, n: int) -> np.ndarray:
        """Seconds after midnight in working hours (08:00-18:00, busiest mid-day)."""
        return (8 * _HOUR + np.floor(self.rng.beta(2.2, 2.2, n) * 600) * 60).astype(np.int64)

    def work_times(
        self, lo_day: np.ndarray, hi_day: np.ndarray, *, weekend: float = 0.03,
        offhours: float = 0.05,
    ) -> np.ndarray:
        """Random timestamps (seconds) in ``[lo_day, hi_day)``, mostly weekdays in working hours."""
        rng = self.rng
        n = len(lo_day)
        day = lo_day + np.floor(rng.random(n) * (hi_day - lo_day)).astype(np.int64)
        fix = ~np.is_busday(_to_d(day)) & (rng.random(n) >= weekend)
        if fix.any():
            d = _to_d(day[fix])
            back = np.busday_offset(d, 0, roll="backward").astype(np.int64)
            fwd = np.busday_offset(d, 0, roll="forward").astype(np.int64)
            cand = np.where(back >= lo_day[fix], back, fwd)
            day[fix] = np.where(cand < hi_day[fix], cand, day[fix])
        tod = self.tod_work(n)
        night = rng.random(n) < offhours
        tod[night] = (np.floor(rng.random(int(night.sum())) * 1440) * 60).astype(np.int64)
        return day * _DAY + tod

    def bday_time(self, t: np.ndarray, k: np.ndarray) -> np.ndarray:
        """A working-hours time on the ``k``-th working day after the day of ``t``."""
        return _next_bday(t // _DAY, k) * _DAY + self.tod_work(len(t))

    def between(self, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
        """A time strictly between ``ta`` and ``tb``: a working day between them if any."""
        rng = self.rng
        da, db = ta // _DAY, tb // _DAY
        nb = np.maximum(np.busday_count(_to_d(da + 1), _to_d(db)), 0)
        k = 1 + np.floor(rng.random(len(ta)) * nb).astype(np.int64)
        t = _next_bday(da, np.maximum(k, 1)) * _DAY + self.tod_work(len(ta))
        frac = rng.uniform(0.2, 0.8, len(ta))
        inner = ta + ((tb - ta) * frac).astype(np.int64)
        return np.where(nb > 0, t, inner)

    #: activity columns while generating: name -> (dtype, value when not given)
    _ACT_COLS: dict[str, tuple[type, int]] = {
        "rep": (np.int32, -1), "type": (np.int8, -1), "time": (np.int64, -1),
        "outcome": (np.int8, -1), "lead": (np.int32, -1), "acc": (np.int32, -1),
        "opp": (np.int32, -1), "inbound": (np.int8, 0),
    }

    def add_acts(self, n: int, **cols: np.ndarray | int) -> None:
        """Queue ``n`` activity rows (arrays or scalars); missing columns get their default."""
        if n:
            self.acts.append((n, cols))

    def collect_acts(self) -> dict[str, np.ndarray]:
        """Every queued activity row, one compact array per column."""
        total = sum(n for n, _ in self.acts)
        out = {}
        for name, (dtype, default) in self._ACT_COLS.items():
            col = np.empty(total, dtype=dtype)
            pos = 0
            for n, cols in self.acts:  # a loop over the few generating steps
                col[pos: pos + n] = cols.get(name, default)
                pos += n
            out[name] = col
        self.acts = []
        return out

    # ---- reps ------------------------------------------------------------------------
    def build_reps(self) -> None:
        rng, n = self.rng, self.n
        n_sdr = round(0.2 * n) if n >= 5 else 0
        n_am = round(0.2 * n) if n >= 5 else 0
        n_ae = n - n_sdr - n_am
        n_teams = max(1, round(n / 8.5))
        role = np.repeat([_SDR, _AE, _AM], [n_sdr, n_ae, n_am])
        team = np.empty(n, dtype=np.int64)
        level = np.empty(n, dtype=np.int64)
        patterns = {_SDR: [0, 1, 0, 2, 1], _AE: [1, 2, 0], _AM: [2, 1, 2, 0, 1]}
        pos = 0
        for r in (_SDR, _AE, _AM):
            idx = np.flatnonzero(role == r)
            team[idx] = (np.arange(len(idx)) + pos) % n_teams
            pos += len(idx)
            level[idx] = rng.permutation(np.resize(patterns[r], len(idx)))
        order = np.lexsort((role, team))
        role, team, level = role[order], team[order], level[order]

        people = rng.choice(len(_FIRST_NAMES) * len(_LAST_NAMES), n + n_teams, replace=False)
        names = [f"{_FIRST_NAMES[i // len(_LAST_NAMES)]} {_LAST_NAMES[i % len(_LAST_NAMES)]}"
                 for i in people]
        team_names = [
            _TEAM_NAMES[t % len(_TEAM_NAMES)]
            + ("" if t < len(_TEAM_NAMES) else f" {t // len(_TEAM_NAMES) + 1}")
            for t in range(n_teams)
        ]

        # hire dates: seniors years ago, juniors recently, a few juniors join during the window
        years = np.array([[0.25, 1.5], [1.2, 4.0], [3.0, 9.0]])[level]
        hire = self.start_day - np.floor(rng.uniform(years[:, 0], years[:, 1]) * 365.25)
        window_days = self.end_day - self.start_day
        new_hire = (level == 0) & (rng.random(n) < 0.15) & (self.months >= 4)
        hire = np.where(
            new_hire,
            self.start_day + 30 + np.floor(rng.random(n) * max(window_days - 90, 1)),
            hire,
        ).astype(np.int64)
        hire = np.busday_offset(_to_d(hire), 0, roll="forward").astype(np.int64)

        # hidden behaviour -----------------------------------------------------------
        team_logit = _logit(_BASE_RATES)[None, :] + rng.normal(0, _TEAM_SD, (n_teams, 4))
        logit = team_logit[team] + _LEVEL_LOGIT[level][:, None] + rng.normal(0, _REP_SD, (n, 4))
        rates = np.clip(_expit(logit), 0.03, 0.9)
        owns = np.ones((n, 4), dtype=bool)
        owns[role == _SDR, 1:] = False
        owns[role == _AM, 0] = False
        # weak spots: about 30% of reps, at most one per team and stage, so that the team
        # benchmark stays representative; the weak rate is a fraction of the team's level rate
        n_weak = round(_WEAK_SHARE * n)
        weak_stage = np.full(n, -1)
        taken = np.zeros((n_teams, 4), dtype=bool)
        for i in rng.choice(n, n_weak, replace=False):  # a loop over a few reps
            free = np.flatnonzero(owns[i] & ~taken[team[i]])
            if len(free):
                weak_stage[i] = rng.choice(free)
                taken[team[i], weak_stage[i]] = True
        is_weak = np.flatnonzero(weak_stage >= 0)
        ws = weak_stage[is_weak]
        typical = _expit(team_logit[team[is_weak], ws] + _LEVEL_LOGIT[level[is_weak]])
        rates[is_weak, ws] = typical * rng.uniform(*_WEAK_FACTOR, len(is_weak))
        rates[~owns] = np.nan

        leads_reps = role != _AM
        k = int(leads_reps.sum())
        resp = np.full(n, np.nan)
        kind = _stratified(rng, [0.3, 0.5, 0.2], k)  # fast, normal, slow responders
        lows, highs = np.array([0.15, 1.5, 14.0]), np.array([0.9, 6.0, 30.0])
        resp[leads_reps] = rng.uniform(lows[kind], highs[kind])
        follow = np.full(n, np.nan)
        persist = np.full(n, np.nan)
        never = _stratified(rng, [0.25, 0.75], k) == 0  # reps who never follow up a second time
        follow[leads_reps] = np.where(never, rng.uniform(0.02, 0.08, k), rng.uniform(0.55, 0.95, k))
        persist[leads_reps] = np.where(never, rng.uniform(2.0, 3.0, k), rng.uniform(2.5, 6.5, k))
        volume = np.clip(np.exp(rng.normal(0, 0.22, n)), 0.6, 1.6)
        cycle = np.exp(rng.normal(0, 0.15, n))
        link_rate = rng.uniform(0.1, 0.7, n)
        connect = rng.uniform(0.2, 0.38, n)
        targeting = np.exp(rng.normal(0, 0.25, n))
        deal = _DEAL_BASE[role] * _DEAL_LEVEL[level] * np.exp(rng.normal(0, 0.2, n))
        deal = np.round(deal * np.sqrt(targeting), -2)

        self.role, self.team, self.level, self.hire = role, team, level, hire
        self.names, self.team_names = names[:n], team_names
        self.managers = names[n:]
        self.n_teams = n_teams
        self.team_rates = _expit(team_logit)
        self.rates, self.weak_stage = rates, weak_stage
        self.resp, self.follow, self.persist = resp, follow, persist
        self.vol, self.cycle, self.link_rate, self.connect = volume, cycle, link_rate, connect
        self.targeting, self.deal = targeting, deal
        # expected leads per month at full activity, and the average source odds of each rep
        self.inb = _INBOUND_RATE[role] * self.volume
        self.outb = _OUTBOUND_RATE[role] * volume * self.volume
        mix_q = np.zeros(n)
        for r, mix in _INBOUND_MIX.items():
            mix_q[role == r] = mix @ _SRC_QUALIFY[:5]
        tot = self.inb + self.outb
        self.src_norm = np.where(
            tot > 0, (self.inb * mix_q + self.outb * _SRC_QUALIFY[_OUTBOUND]) / np.maximum(tot, 1e-9),
            1.0,
        )
        # month activity fraction (0 before hire, partial in the hire month)
        lo = np.maximum(self.mdays[None, :-1], hire[:, None])
        self.active = np.clip(
            (self.mdays[None, 1:] - lo) / (self.mdays[None, 1:] - self.mdays[None, :-1]), 0, 1
        )
        # AEs per team, for handing SDR leads over
        ae = np.flatnonzero(role == _AE)
        self.ae_sorted = ae[np.lexsort((hire[ae], team[ae]))]
        self.ae_count = np.bincount(team[ae], minlength=n_teams)
        self.ae_start = np.cumsum(self.ae_count) - self.ae_count

    # ---- customer book of the account managers ----------------------------------------
    def build_book(self) -> None:
        rng = self.rng
        am = np.flatnonzero(self.role == _AM)
        per = 20 + rng.poisson(8, len(am))
        owner, rank = _group_offsets(per)
        owner = am[owner]
        n = len(owner)
        key = (rank == 0) | (rng.random(n) < 0.28)
        employees = np.where(
            key, np.exp(rng.normal(np.log(900), 0.8, n)), np.exp(rng.normal(np.log(220), 0.9, n))
        )
        start = self.start_day - np.floor(rng.uniform(60, 2200, n)).astype(np.int64)
        hazard = np.where(key, _CHURN_KEY, _CHURN_BOOK)
        churn = self.start_day + np.floor(rng.exponential(1 / hazard) * _MEAN_MONTH_DAYS).astype(
            np.int64
        )
        self.book_owner = owner
        self.book_key = key
        self.book_employees = np.maximum(np.round(employees), 5).astype(np.int64)
        self.book_start = start
        self.book_end = np.where(churn < self.end_day, churn, -1)  # -1: still a customer
        self.book_active_until = np.where(self.book_end < 0, self.end_day + 10_000, self.book_end)
        keys = np.flatnonzero(key)
        self.key_sorted = keys[np.argsort(owner[keys], kind="stable")]
        self.key_count = np.bincount(owner[keys], minlength=self.n)
        self.key_start = np.cumsum(self.key_count) - self.key_count

    # ---- leads -----------------------------------------------------------------------
    def build_leads(self) -> None:
        rng, n, mg = self.rng, self.n, self.n_gen_months
        lam = ((self.inb + self.outb)[:, None] * self.active)
        counts = rng.poisson(lam).ravel()
        cell = np.repeat(np.arange(n * mg), counts)
        rep, mon = cell // mg, cell % mg
        num = len(rep)
        lo = np.maximum(self.mdays[mon], self.hire[rep])
        created = self.work_times(lo, self.mdays[mon + 1], weekend=0.06, offhours=0.12)
        role = self.role[rep]

        tot = (self.inb + self.outb)[rep]
        outbound = rng.random(num) < self.outb[rep] / np.maximum(tot, 1e-9)
        src = np.full(num, _OUTBOUND)
        for r, mix in _INBOUND_MIX.items():
            sel = ~outbound & (role == r)
            src[sel] = _draw(rng, mix, int(sel.sum()))

        p = self.rates[rep, 0] * _SRC_QUALIFY[src] / self.src_norm[rep]
        qual = rng.random(num) < np.clip(p, 0, 0.97)
        ignored = ~qual & (rng.random(num) < 0.04)

        # touches before qualification / giving up: the rep's follow-up habit and persistence
        follows = rng.random(num) < self.follow[rep]
        n_nq = np.where(follows, 2 + rng.poisson(np.maximum(self.persist[rep] - 2, 0)), 1)
        n_q = np.where(follows, 1 + rng.poisson(1.6, num), 1)
        ntouch = np.minimum(np.where(ignored, 0, np.where(qual, n_q, n_nq)), 12).astype(np.int64)

        delay = np.exp(rng.normal(np.log(np.nan_to_num(self.resp[rep], nan=1.0)), 0.8, num))
        t1 = created + np.round(delay * _HOUR).astype(np.int64)
        lead_t, j = _group_offsets(ntouch)
        ttl = len(lead_t)
        gap = 1 + rng.poisson(1.3, ttl)
        gap[j == 0] = 0
        cs = np.cumsum(gap)
        has = ntouch > 0
        first_idx = (np.cumsum(ntouch) - ntouch)[has]
        cumgap = cs - np.repeat(cs[first_idx], ntouch[has])
        t_touch = t1[lead_t].copy()
        later = j > 0
        t_touch[later] = self.bday_time(t1[lead_t[later]], cumgap[later])
        last_idx = first_idx + ntouch[has] - 1
        t_last = np.full(num, -1, dtype=np.int64)
        t_last[has] = t_touch[last_idx]

        ttype = np.where(j == 0, _draw(rng, [0.5, 0.4, 0, 0, 0.1], ttl),
                         _draw(rng, [0.42, 0.40, 0, 0, 0.10, 0.08], ttl))
        outcome = np.full(ttl, -1)
        connected = rng.random(ttl) < self.connect[rep[lead_t]]
        qual_touch = np.zeros(ttl, dtype=bool)
        qual_touch[last_idx] = qual[has]
        ttype[qual_touch] = _CALL
        calls = ttype == _CALL
        outcome[calls] = np.where(
            connected[calls] | qual_touch[calls], _CONNECTED,
            np.where(rng.random(int(calls.sum())) < 0.63, _NO_ANSWER, _VOICEMAIL),
        )
        self.add_acts(ttl, rep=rep[lead_t], type=ttype, time=t_touch, outcome=outcome, lead=lead_t)

        qualified_at = np.where(qual, t_last + rng.integers(2, 46, num) * 60, -1)

        # prospects' replies: inbound activities after the first outbound touch
        rq = qual & (ntouch >= 2) & (rng.random(num) < 0.5)
        ti = t1[rq] + ((t_last[rq] - t1[rq]) * rng.uniform(0.3, 0.9, int(rq.sum()))).astype(
            np.int64)
        rn = ~qual & has & (rng.random(num) < 0.06)
        tn = t_last[rn] + (rng.uniform(1, 30, int(rn.sum())) * _HOUR).astype(np.int64)
        li = np.concatenate([np.flatnonzero(rq), np.flatnonzero(rn)])
        it = np.where(rng.random(len(li)) < 0.75, _EMAIL, _CALL)
        self.add_acts(len(li), rep=rep[li], type=it, time=np.concatenate([ti, tn]), lead=li,
                      inbound=1, outcome=np.where(it == _CALL, _CONNECTED, -1))

        disq = np.full(num, -1, dtype=np.int64)
        dq = ~qual & has & (rng.random(num) < 0.7)
        disq[dq] = self.bday_time(t_last[dq], 2 + rng.poisson(4, int(dq.sum())))
        di = ignored & (rng.random(num) < 0.5)
        disq[di] = self.bday_time(created[di], 8 + rng.poisson(6, int(di.sum())))

        recorded = has & (rng.random(num) < _SRC_RECORDED[src])
        first_resp = np.where(recorded, t1, -1)

        # prospect profile: qualified leads of good "targeters" are bigger, more senior
        size_med = _SRC_SIZE[src] * np.where(qual, 1.6 * self.targeting[rep], 1.0)
        size = np.clip(np.round(np.exp(rng.normal(np.log(size_med), 1.0))), 2, 200_000)
        title = np.where(
            qual,
            _draw(rng, [0.14, 0.22, 0.26, 0.25, 0.13], num),
            _draw(rng, [0.08, 0.14, 0.22, 0.30, 0.26], num),
        )

        # cut off at the end of the data
        end = self.end_sec
        qual_now = qual & (qualified_at < end)
        self.l_rep, self.l_created, self.l_src = rep, created, src
        self.l_first_resp = np.where(first_resp < end, first_resp, -1)
        self.l_qualified = np.where(qual_now, qualified_at, -1)
        self.l_disq = np.where((disq >= 0) & (disq < end), disq, -1)
        self.l_size, self.l_title = size.astype(np.int64), title
        self.l_qual = qual_now

    # ---- opportunities ----------------------------------------------------------------
    def build_opportunities(self) -> None:
        rng, n = self.rng, self.n
        # from qualified leads: SDR leads go to an AE of the same team
        ql = np.flatnonzero(self.l_qual)
        lrep = self.l_rep[ql]
        created_l = self.l_qualified[ql]
        owner_l = lrep.copy()
        sdr = self.role[lrep] == _SDR
        if sdr.any():
            t = self.team[lrep[sdr]]
            # a team without AEs (not produced by build_reps) would fall back to the org's first
            none = self.ae_count[t] == 0
            cnt = np.where(none, len(self.ae_sorted), self.ae_count[t])
            lo = np.where(none, 0, self.ae_start[t])
            pick = self.ae_sorted[lo + np.floor(rng.random(len(t)) * cnt).astype(np.int64)]
            first = self.ae_sorted[lo]  # the longest-serving AE of the team
            owner_l[sdr] = np.where(self.hire[pick] <= created_l[sdr] // _DAY, pick, first)

        # upsells: AMs on their active key accounts
        mg = self.n_gen_months
        am_rate = np.where(self.role == _AM, _UPSELLS_PER_MONTH * self.volume, 0.0)
        counts = rng.poisson(am_rate[:, None] * self.active * (self.key_count > 0)[:, None]).ravel()
        cell = np.repeat(np.arange(n * mg), counts)
        urep, umon = cell // mg, cell % mg
        ucreated = self.work_times(np.maximum(self.mdays[umon], self.hire[urep]),
                                   self.mdays[umon + 1])
        uacc = self.key_sorted[
            self.key_start[urep] + np.floor(rng.random(len(urep)) * self.key_count[urep]).astype(
                np.int64)
        ]
        alive = ucreated // _DAY < self.book_active_until[uacc]
        urep, ucreated, uacc = urep[alive], ucreated[alive], uacc[alive]

        nl, nu = len(ql), len(urep)
        n_book = len(self.book_owner)
        owner = np.concatenate([owner_l, urep])
        created = np.concatenate([created_l, ucreated])
        lead = np.concatenate([ql, np.full(nu, -1)])
        acc = np.concatenate([n_book + np.arange(nl), uacc])  # each qualified lead: a new account
        src = np.concatenate([self.l_src[ql], np.full(nu, _EXPANSION)])
        size = np.concatenate([self.l_size[ql], self.book_employees[uacc]])
        upsell = np.arange(nl + nu) >= nl
        num = nl + nu

        # product and amount (deal size by rep, source, product and company size)
        prod = np.where(size < 100, _draw(rng, [0.65, 0.30, 0.05], num),
                        np.where(size < 1000, _draw(rng, [0.30, 0.55, 0.15], num),
                                 _draw(rng, [0.10, 0.45, 0.45], num)))
        prod = np.where(upsell, np.where(rng.random(num) < 0.7, 3, 1), prod)
        mult = (_SRC_DEAL[src] * np.array([0.5, 1.0, 2.2, 0.6])[prod]
                * np.clip((size / 200) ** 0.12, 0.7, 1.6) * np.exp(rng.normal(-0.045, 0.3, num)))
        # normalise per owner: the mean amount of a rep's opportunities is its avg_deal_size
        norm = np.bincount(owner, mult, minlength=n) / np.maximum(np.bincount(owner, minlength=n), 1)
        amount = np.round(self.deal[owner] * mult / norm[owner], -1)

        # how far it goes (owner's rates) and when
        r = self.rates[owner]
        cf = self.cycle[owner]
        m = rng.random(num) < r[:, 1]
        p = m & (rng.random(num) < r[:, 2])
        w = p & (rng.random(num) < r[:, 3])
        t_meet = self.bday_time(created, np.clip(2 + rng.poisson(5 * cf), 1, 20))
        t_prop = self.bday_time(t_meet, np.clip(3 + rng.poisson(9 * cf), 2, 30))
        back = p & (rng.random(num) < 0.04)
        t_back = self.bday_time(t_prop, 2 + rng.poisson(3, num))
        t_reprop = self.bday_time(t_back, 2 + rng.poisson(3, num))
        t_plast = np.where(back, t_reprop, t_prop)
        anchor = np.where(p, t_plast, t_meet)
        d_close = np.where(
            w, np.clip(5 + rng.poisson(12 * cf), 3, 45),
            np.where(p, np.clip(5 + rng.poisson(15 * cf), 4, 50),
                     np.where(m, np.clip(4 + rng.poisson(12 * cf), 3, 40),
                              np.clip(3 + rng.poisson(6, num), 2, 25))),
        )
        t_close = self.bday_time(anchor, d_close)

        # stage history (planned), then cut at the end of the data
        times = np.stack([
            created,
            np.where(m, t_meet, -1),
            np.where(p, t_prop, -1),
            np.where(back, t_back, -1),
            np.where(back, t_reprop, -1),
            t_close,
        ], axis=1)
        stage_codes = np.array([_ST_SQL, _ST_MEETING, _ST_PROPOSAL, _ST_MEETING, _ST_PROPOSAL, 0])
        stages = np.broadcast_to(stage_codes, times.shape).copy()
        stages[:, 5] = np.where(w, _ST_WON, _ST_LOST)
        valid = (times >= 0) & (times < self.end_sec)
        last_col = 5 - np.argmax(valid[:, ::-1], axis=1)
        stage_now = stages[np.arange(num), last_col]
        closed = valid[:, 5]
        status = np.where(closed, np.where(w, 1, 2), 0)  # open, won, lost

        reason = np.full(num, -1)
        lost = closed & ~w
        for mask, choices in ((lost & ~m, _LOST_AT_SQL), (lost & m & ~p, _LOST_AT_MEETING),
                              (lost & p, _LOST_AT_PROPOSAL)):
            reason[mask] = np.asarray(choices)[_draw(rng, [1] * len(choices), int(mask.sum()))]

        # activities on the opportunity (kept or not is decided at the end)
        oi = np.arange(num)
        orep = owner
        lead_owner = np.where(lead >= 0, self.l_rep[np.maximum(lead, 0)], owner)
        self.add_acts(num, rep=lead_owner, type=_APPT, time=created, outcome=_BOOKED, lead=lead,
                      acc=acc, opp=oi)
        self.add_acts(int(m.sum()), rep=orep[m], type=_MEETING, time=t_meet[m], outcome=_HELD,
                      lead=lead[m], acc=acc[m], opp=oi[m])
        self.add_acts(int(back.sum()), rep=orep[back], type=_MEETING, time=t_back[back],
                      outcome=_HELD, lead=lead[back], acc=acc[back], opp=oi[back])
        ns = ~m & (rng.random(num) < 0.5)
        self.add_acts(int(ns.sum()), rep=orep[ns], type=_MEETING, time=t_meet[ns],
                      outcome=_NO_SHOW, lead=lead[ns], acc=acc[ns], opp=oi[ns])
        self.add_acts(int(p.sum()), rep=orep[p], type=_PROPOSAL, time=t_prop[p], lead=lead[p],
                      acc=acc[p], opp=oi[p])
        self.add_acts(int(back.sum()), rep=orep[back], type=_PROPOSAL, time=t_reprop[back],
                      lead=lead[back], acc=acc[back], opp=oi[back])
        demo = p & (rng.random(num) < 0.6)
        self.add_acts(int(demo.sum()), rep=orep[demo], type=_DEMO,
                      time=self.between(t_meet[demo], t_prop[demo]), outcome=_HELD,
                      lead=lead[demo], acc=acc[demo], opp=oi[demo])
        # follow-up touches between the steps: (from, to, how many)
        spans = (
            (~m, created, t_close, 1 + rng.poisson(0.8, num)),
            (m, t_meet, np.where(p, t_prop, t_close), rng.poisson(0.8, num)),
            (p, t_plast, t_close, 1 + rng.poisson(1.5, num)),
        )
        for mask, ta, tb, cnt in spans:
            cnt = np.where(mask, cnt, 0)
            o, _ = _group_offsets(cnt)
            ft = _draw(rng, [0.45, 0.55], len(o))
            fo = np.where(ft == _CALL, np.where(rng.random(len(o)) < self.connect[orep[o]],
                                                _CONNECTED, _VOICEMAIL), -1)
            self.add_acts(len(o), rep=orep[o], type=ft, time=self.between(ta[o], tb[o]),
                          outcome=fo, lead=lead[o], acc=acc[o], opp=o)
        inb = rng.random(num) < 0.35
        self.add_acts(int(inb.sum()), rep=orep[inb], type=_EMAIL,
                      time=self.between(created[inb], t_close[inb]), lead=lead[inb],
                      acc=acc[inb], opp=oi[inb], inbound=1)

        self.o = dict(owner=owner, created=created, lead=lead, acc=acc, src=src, prod=prod,
                      amount=amount, stage=stage_now, status=status, close=t_close // _DAY,
                      reason=reason, times=times, stages=stages, valid=valid, upsell=upsell)

    # ---- account managers' touches on their book --------------------------------------
    def build_account_activity(self) -> None:
        rng = self.rng
        owner = self.book_owner
        w0 = WARMUP_MONTHS
        months = np.arange(w0, self.n_gen_months)
        lo = np.maximum(self.mdays[months][None, :], self.hire[owner][:, None])
        hi = np.minimum(self.mdays[months + 1][None, :], self.book_active_until[:, None])
        frac = np.clip((hi - lo) / (self.mdays[months + 1] - self.mdays[months])[None, :], 0, 1)
        rate = np.where(self.book_key, 10.0, 1.5) * self.vol[owner]
        counts = rng.poisson(rate[:, None] * frac).ravel()
        cell = np.repeat(np.arange(counts.size), counts)
        acc = cell // len(months)
        num = len(acc)
        t = self.work_times(lo.ravel()[cell], hi.ravel()[cell], weekend=0.01, offhours=0.02)
        ty = np.array([_MEETING, _CALL, _EMAIL])[_draw(rng, [0.3, 0.4, 0.3], num)]
        u = rng.random(num)
        out = np.where(ty == _MEETING, np.where(u < 0.9, _HELD, _NO_SHOW),
                       np.where(ty == _CALL, np.where(u < 0.6, _CONNECTED, np.where(
                           u < 0.85, _NO_ANSWER, _VOICEMAIL)), -1))
        inbound = (rng.random(num) < 0.2) & (out != _NO_ANSWER) & (out != _VOICEMAIL)
        out = np.where(inbound & (ty == _CALL), _CONNECTED, out)
        self.add_acts(num, rep=owner[acc], type=ty, time=t, outcome=out, acc=acc,
                      inbound=inbound.astype(np.int64))

    # ---- cold dials: prospecting calls to people who are not (yet) leads ---------------
    def build_cold_calls(self) -> None:
        rng = self.rng
        months = np.arange(WARMUP_MONTHS, self.n_gen_months)
        lo = np.maximum(self.mdays[months][None, :], self.hire[:, None])
        hi = np.broadcast_to(self.mdays[months + 1][None, :], lo.shape)
        wd = np.maximum(np.busday_count(_to_d(np.minimum(lo, hi)), _to_d(hi)), 0)
        rate = _COLD_DIALS_PER_DAY[self.role] * self.vol
        counts = rng.poisson(rate[:, None] * wd).ravel()
        cell = np.repeat(np.arange(counts.size), counts)
        num = len(cell)
        t = self.work_times(lo.ravel()[cell], hi.ravel()[cell], weekend=0.0, offhours=0.01)
        out = np.array([_CONNECTED, _NO_ANSWER, _VOICEMAIL])[_draw(rng, [0.12, 0.58, 0.30], num)]
        self.add_acts(num, rep=cell // len(months), type=_CALL, time=t, outcome=out)

    # ---- assemble the tables ----------------------------------------------------------
    def assemble(self) -> dict[str, pd.DataFrame]:
        rng, n = self.rng, self.n
        start = self.start_sec
        o = self.o
        n_book = len(self.book_owner)

        # which leads and opportunities are in the window
        lead_keep = self.l_created >= start
        opp_keep = (o["created"] >= start) | (o["times"][:, 5] >= start)
        lead_order = np.flatnonzero(lead_keep)
        lead_order = lead_order[np.argsort(self.l_created[lead_order], kind="stable")]
        lead_new = np.full(len(lead_keep), -1)
        lead_new[lead_order] = np.arange(len(lead_order))
        opp_order = np.flatnonzero(opp_keep)
        opp_order = opp_order[np.argsort(o["created"][opp_order], kind="stable")]
        opp_new = np.full(len(opp_keep), -1)
        opp_new[opp_order] = np.arange(len(opp_order))
        # accounts: the AM book, then one per kept new-business opportunity
        nb_opps = opp_order[~o["upsell"][opp_order]]
        acc_new = np.full(n_book + len(o["created"]), -1)
        acc_new[:n_book] = np.arange(n_book)
        acc_new[o["acc"][nb_opps]] = n_book + np.arange(len(nb_opps))
        n_acc = n_book + len(nb_opps)

        rep_ids = _IdFormat.for_count("R", n, 3)
        lead_ids = _IdFormat.for_count("L", len(lead_order), 6)
        opp_ids = _IdFormat.for_count("O", len(opp_order), 5)
        acc_ids = _IdFormat.for_count("AC", n_acc, 5)

        tables: dict[str, pd.DataFrame] = {}
        # reps
        tables["reps"] = pd.DataFrame({
            "rep_id": rep_ids(np.arange(n)),
            "name": _strings(np.arange(n), self.names),
            "team": _strings(self.team, self.team_names),
            "manager": _strings(self.team, self.managers),
            "role": _strings(self.role, ROLES),
            "level": _strings(self.level, LEVELS),
            "hire_date": _dates(self.hire),
        })

        # quotas: AEs and AMs (SDRs have no revenue goal), window months and 3 ahead
        months = self.first_month + np.arange(self.months + QUOTA_MONTHS_AHEAD)
        mstart = months.astype("datetime64[D]").astype(np.int64)
        mend = (months + 1).astype("datetime64[D]").astype(np.int64)
        cap = self.capacity()
        base = self.quota_base(cap)
        sellers = np.flatnonzero(self.role != _SDR)
        frac = np.clip((mend[None, :] - np.maximum(mstart[None, :], self.hire[sellers][:, None]))
                       / (mend - mstart)[None, :], 0, 1)
        grow = np.where(np.arange(len(months)) >= self.months, 1.05, 1.0)
        q = np.maximum(np.round(base[sellers][:, None] * frac * grow[None, :], -2), 100.0)
        qr, qm = np.nonzero(frac > 0)
        tables["quotas"] = pd.DataFrame({
            "rep_id": rep_ids(sellers[qr]),
            "period": _strings(qm, [_month_label(x) for x in months]),
            "quota": q[qr, qm].astype(float),
        })
        self.cap, self.quota = cap, base

        # leads
        li = lead_order
        lead_opp = np.full(len(lead_keep), -1)
        lo_src = o["lead"] >= 0
        lead_opp[o["lead"][lo_src]] = opp_new[np.flatnonzero(lo_src)]
        tables["leads"] = pd.DataFrame({
            "lead_id": lead_ids(np.arange(len(li))),
            "rep_id": rep_ids(self.l_rep[li]),
            "created_at": _ts(self.l_created[li]),
            "source": _strings(self.l_src[li], SOURCES),
            "first_response_at": _ts(self.l_first_resp[li]),
            "qualified_at": _ts(self.l_qualified[li]),
            "disqualified_at": _ts(self.l_disq[li]),
            "company_size": _ints(self.l_size[li]),
            "title_level": _strings(self.l_title[li], TITLE_LEVELS),
            "opportunity_id": opp_ids(lead_opp[li]),
        })

        # opportunities
        oo = opp_order
        o_lead = np.where(o["lead"][oo] >= 0, lead_new[np.maximum(o["lead"][oo], 0)], -1)
        tables["opportunities"] = pd.DataFrame({
            "opportunity_id": opp_ids(np.arange(len(oo))),
            "rep_id": rep_ids(o["owner"][oo]),
            "created_at": _ts(o["created"][oo]),
            "stage": _strings(o["stage"][oo], STAGES),
            "amount": o["amount"][oo].astype(float),
            "close_date": _dates(o["close"][oo]),
            "status": _strings(o["status"][oo], ("open", "won", "lost")),
            "account_id": acc_ids(acc_new[o["acc"][oo]]),
            "lead_id": lead_ids(o_lead),
            "source": _strings(o["src"][oo], SOURCES),
            "product": _strings(o["prod"][oo], PRODUCTS),
            "lost_reason": _strings(o["reason"][oo], LOST_REASONS),
        })

        # stage history: one row per stage entry up to the end of the data
        valid = o["valid"][oo]
        sh_opp, sh_col = np.nonzero(valid)  # row-major: per opportunity, in time order
        tables["stage_history"] = pd.DataFrame({
            "opportunity_id": opp_ids(sh_opp),
            "stage": _strings(o["stages"][oo][sh_opp, sh_col], STAGES),
            "entered_at": _ts(o["times"][oo][sh_opp, sh_col]),
        })

        # accounts
        nbl = o["lead"][nb_opps]
        emp = np.concatenate([self.book_employees, self.l_size[nbl]]).astype(float)
        revenue = np.round(emp * np.exp(rng.normal(np.log(180_000), 0.5, n_acc)), -3)
        names = np.array([f"{a} {b} {c}" for a in _CO_PREFIX for b in _CO_CORE for c in _CO_LEGAL])
        name_idx = rng.permutation(len(names))[np.arange(n_acc) % len(names)]
        seg = np.where(emp < 200, 0, np.where(emp < 2000, 1, 2))
        tables["accounts"] = pd.DataFrame({
            "account_id": acc_ids(np.arange(n_acc)),
            "name": _strings(name_idx, names),
            "segment": _strings(seg, SEGMENTS),
            "rep_id": rep_ids(np.concatenate([self.book_owner, o["owner"][nb_opps]])),
            "employees": emp,
            "annual_revenue": revenue.astype(float),
            "key_account": pd.array(
                np.concatenate([self.book_key, np.zeros(len(nb_opps), dtype=bool)]),
                dtype="boolean"),
        })

        # customers: the AM book, and every new-business deal won in the window
        won_nb = nb_opps[(o["status"][nb_opps] == 1)]
        c_start = o["close"][won_nb]
        churn = c_start + 1 + np.floor(
            rng.exponential(1 / _CHURN_NEW, len(won_nb)) * _MEAN_MONTH_DAYS).astype(np.int64)
        c_end = np.where(churn < self.end_day, churn, -1)
        tables["customers"] = pd.DataFrame({
            "account_id": acc_ids(np.concatenate([np.arange(n_book),
                                                   acc_new[o["acc"][won_nb]]])),
            "start_date": _dates(np.concatenate([self.book_start, c_start])),
            "end_date": _dates(np.concatenate([self.book_end, c_end])),
        })

        tables["activities"] = self.activities_table(rep_ids, lead_new, opp_new, acc_new,
                                                     lead_ids, opp_ids, acc_ids)
        tables["costs"] = self.costs_table(tables, lead_order, opp_order)
        return {name: tables[name][list(TABLES[name].column_names)] for name in TABLE_NAMES}

    def activities_table(self, rep_ids, lead_new, opp_new, acc_new, lead_ids, opp_ids,
                         acc_ids) -> pd.DataFrame:
        rng = self.rng
        cols = self.collect_acts()
        lead_ok = np.where(cols["lead"] >= 0, lead_new[np.maximum(cols["lead"], 0)], -1)
        opp_ok = np.where(cols["opp"] >= 0, opp_new[np.maximum(cols["opp"], 0)], -1)
        keep = (cols["time"] >= self.start_sec) & (cols["time"] < self.end_sec)
        # a lead's own touches go with the lead; an opportunity's with the opportunity
        keep &= np.where(cols["opp"] >= 0, opp_ok >= 0, (cols["lead"] < 0) | (lead_ok >= 0))
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(cols["time"][idx], kind="stable")]
        num = len(idx)
        ty, out, rep = cols["type"][idx], cols["outcome"][idx], cols["rep"][idx]
        inbound = cols["inbound"][idx] == 1

        dur = np.full(num, np.nan)
        calls = ty == _CALL
        dur[calls] = np.where(out[calls] == _CONNECTED, 3 + np.round(rng.gamma(2.0, 4.0,
                              int(calls.sum()))), np.where(out[calls] == _VOICEMAIL, 2.0, 1.0))
        meet = ty == _MEETING
        dur[meet] = np.where(out[meet] == _NO_SHOW, 15.0,
                             np.array([30.0, 45.0, 60.0, 90.0])[_draw(rng, [.35, .3, .3, .05],
                                                                       int(meet.sum()))])
        dur[ty == _DEMO] = np.where(rng.random(int((ty == _DEMO).sum())) < 0.5, 45.0, 60.0)
        dur[ty == _EMAIL] = 5.0
        dur[ty == _LINKEDIN] = 3.0
        dur[ty == _APPT] = 5.0
        dur[ty == _PROPOSAL] = 20.0 + rng.poisson(25, int((ty == _PROPOSAL).sum()))

        out_email = (ty == _EMAIL) & ~inbound
        links = np.full(num, -1)
        k = int(out_email.sum())
        links[out_email] = np.where(rng.random(k) < self.link_rate[rep[out_email]],
                                    1 + rng.binomial(2, 0.25, k), 0)
        clicks = np.full(num, -1)
        clicks[out_email] = rng.binomial(np.maximum(links[out_email], 0), 0.3)
        collat = np.full(num, -1)
        uses = (~inbound & np.isin(ty, [_EMAIL, _MEETING, _DEMO, _PROPOSAL])
                & (rng.random(num) < 0.15))
        collat[uses] = rng.integers(0, N_COLLATERAL, int(uses.sum()))
        collateral_names = [f"COL{i + 1:02d}" for i in range(N_COLLATERAL)]

        return pd.DataFrame({
            "activity_id": _IdFormat.for_count("A", num, 7)(np.arange(num)),
            "rep_id": rep_ids(rep),
            "type": _strings(ty, ACTIVITY_TYPES),
            "occurred_at": _ts(cols["time"][idx]),
            "direction": _strings(inbound.astype(np.int64), ("outbound", "inbound")),
            "outcome": _strings(out, OUTCOMES),
            "lead_id": lead_ids(lead_ok[idx]),
            "account_id": acc_ids(np.where(cols["acc"][idx] >= 0,
                                            acc_new[np.maximum(cols["acc"][idx], 0)], -1)),
            "opportunity_id": opp_ids(opp_ok[idx]),
            "duration_min": dur,
            "content_links": _ints(links),
            "clicks": _ints(clicks),
            "collateral_id": _strings(collat, collateral_names),
        })

    def costs_table(self, tables, lead_order, opp_order) -> pd.DataFrame:
        rng = self.rng
        months = self.first_month + np.arange(self.months)
        mi = np.arange(WARMUP_MONTHS, self.n_gen_months)
        nch = len(SOURCES)
        o = self.o
        lead_m = np.searchsorted(self.mdays, self.l_created[lead_order] // _DAY, side="right") - 1
        leads = np.zeros((self.n_gen_months, nch))
        np.add.at(leads, (lead_m, self.l_src[lead_order]), 1)
        up = opp_order[o["upsell"][opp_order]]
        up_m = np.searchsorted(self.mdays, o["created"][up] // _DAY, side="right") - 1
        np.add.at(leads[:, _EXPANSION], up_m, 8)  # an upsell weighs like 8 leads of sales time
        won = opp_order[o["status"][opp_order] == 1]
        won_m = np.searchsorted(self.mdays, o["close"][won], side="right") - 1
        revenue = np.zeros((self.n_gen_months, nch))
        np.add.at(revenue, (won_m, o["src"][won]), o["amount"][won])
        leads, revenue = leads[mi], revenue[mi]
        salary = _SALARY[self.role] * _SALARY_LEVEL[self.level] / 12
        payroll = (salary[:, None] * self.active[:, mi]).sum(axis=0) + (
            _MANAGER_SALARY / 12 * self.n_teams)
        share = leads / np.maximum(leads.sum(axis=1, keepdims=True), 1)
        sales = payroll[:, None] * share + _COMMISSION * revenue
        mkt_leads = np.where(np.arange(nch) == _EXPANSION, 0, leads)
        marketing = mkt_leads * _SRC_CPL[None, :] * np.exp(rng.normal(0, 0.1, leads.shape))
        mm, cc = np.meshgrid(np.arange(self.months), np.arange(nch), indexing="ij")
        return pd.DataFrame({
            "period": _strings(mm.ravel(), [_month_label(x) for x in months]),
            "sales_cost": np.round(sales.ravel(), 0),
            "marketing_cost": np.round(marketing.ravel(), 0),
            "channel": _strings(cc.ravel(), SOURCES),
        })

    # ---- capacity, quota and truth ------------------------------------------------------
    def capacity(self) -> np.ndarray:
        """Expected won revenue per month at full activity (the rep's own funnel)."""
        r = np.nan_to_num(self.rates)
        sql_own = (self.inb + self.outb) * r[:, 0]
        sdr = self.role == _SDR
        sdr_sql = np.bincount(self.team[sdr], sql_own[sdr], minlength=self.n_teams)
        per_ae = sdr_sql / np.maximum(self.ae_count, 1)
        sql = np.where(self.role == _AE, sql_own + per_ae[self.team],
                       np.where(self.role == _AM, _UPSELLS_PER_MONTH * self.volume, 0.0))
        cap = sql * r[:, 1] * r[:, 2] * r[:, 3] * np.nan_to_num(self.deal)
        return np.where(sdr, np.nan, cap)

    def quota_base(self, cap: np.ndarray) -> np.ndarray:
        """Monthly quota: 95% of the mean capacity of the rep's role and level, so some hit it."""
        base = np.full(self.n, np.nan)
        for r in (_AE, _AM):
            for lv in range(3):
                sel = (self.role == r) & (self.level == lv)
                if sel.any():
                    base[sel] = max(np.round(0.95 * cap[sel].mean(), -2), 500.0)
        return base

    def truth(self, params: dict[str, Any]) -> dict[str, Any]:
        def num(x: float, nd: int = 4) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), nd)

        rep_ids = _IdFormat.for_count("R", self.n, 3)(np.arange(self.n)).tolist()
        reps: dict[str, Any] = {}
        for i, rid in enumerate(rep_ids):  # a loop over reps, for the JSON only
            reps[rid] = {
                "name": self.names[i],
                "team": self.team_names[self.team[i]],
                "role": ROLES[self.role[i]],
                "level": LEVELS[self.level[i]],
                "hire_date": str(np.datetime64(int(self.hire[i]), "D")),
                **{s: num(self.rates[i, k]) for k, s in enumerate(STAGE_RATES)},
                "weak_stage": STAGE_RATES[self.weak_stage[i]] if self.weak_stage[i] >= 0 else None,
                "avg_deal_size": num(self.deal[i], 2),
                "response_median_h": num(self.resp[i]),
                "follow_up_rate": num(self.follow[i]),
                "persistence": num(self.persist[i]),
                "activity_volume": num(self.vol[i]),
                "leads_per_month": num((self.inb + self.outb)[i], 2)
                if self.role[i] != _AM else None,
                "connect_rate": num(self.connect[i]),
                "email_link_rate": num(self.link_rate[i]),
                "cycle_factor": num(self.cycle[i]),
                "capacity_per_month": num(self.cap[i], 2),
                "quota_per_month": num(self.quota[i], 2),
            }
        teams = {
            name: {
                "manager": self.managers[t],
                "base_rates": {s: num(self.team_rates[t, k]) for k, s in enumerate(STAGE_RATES)},
            }
            for t, name in enumerate(self.team_names)
        }
        return {
            "generator": "kpikit.synth",
            "params": params,
            "definitions": {
                "lead_to_sql": "P(lead gets qualified_at), averaged over the rep's own source mix",
                "sql_to_meeting": "P(opportunity reaches Meeting), for opportunities the rep owns",
                "meeting_to_proposal": "P(reaches Proposal | reached Meeting)",
                "proposal_to_won": "P(won | reached Proposal)",
                "avg_deal_size": "mean amount of the rep's opportunities (won ones included)",
                "response_median_h": "median hours from lead created_at to the first outbound touch",
                "follow_up_rate": "share of unqualified contacted leads that get a second touch",
                "persistence": "mean touches on a lead when the rep follows up",
                "weak_stage": "the stage where the rep's rate was cut to about half (or null)",
                "capacity_per_month": "expected won revenue a month at full activity",
                "quota_per_month": "base monthly quota (prorated in the hire month, +5% ahead)",
            },
            "teams": teams,
            "reps": reps,
        }


# --------------------------------------------------------------------------- public API
def generate(
    *,
    reps: int = 25,
    months: int = 12,
    end: str = "2026-10",
    seed: int = 7,
    lead_volume: float = 1.0,
) -> SyntheticOrg:
    """Generate a realistic sample sales org with a known hidden truth.

    The org has ``reps`` reps (about 20% SDRs, 60% AEs, 20% account managers,
    in teams of about 8.5, junior / mid / senior) and covers the ``months``
    calendar months ending with ``end``. Every rep's funnel follows
    ``docs/funnel.md`` with its own hidden rates, so that for a mature cohort

    ``conv_lead_to_sql = qualified leads / leads created`` estimates
    ``truth["reps"][rep_id]["lead_to_sql"]`` (and likewise for the other steps).

    Parameters
    ----------
    reps : int
        Number of reps, 1 to 2,000.
    months : int
        Number of calendar months of data, 1 to 60 (and ``reps x months x
        lead_volume`` at most 24,000: about 6 million activities).
    end : str
        The last month of data, ``YYYY-MM``.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same tables.
    lead_volume : float
        Multiplies every rep's lead and upsell volume (1 = about 40 leads a month
        per AE); larger samples make the hidden rates easier to recover.

    Returns
    -------
    SyntheticOrg
        ``tables`` (all nine canonical tables) and ``truth`` (JSON-serialisable).

    Examples
    --------
    >>> org = generate(reps=6, months=2, seed=1)
    >>> sorted(org.tables) == sorted(TABLE_NAMES), org.truth["params"]["reps"]
    (True, 6)
    """
    year, month = _check_args(reps, months, end, seed, lead_volume)
    g = _Generator(int(reps), int(months), year, month, int(seed), float(lead_volume))
    g.build_reps()
    g.build_book()
    g.build_leads()
    g.build_opportunities()
    g.build_account_activity()
    g.build_cold_calls()
    tables = g.assemble()
    params = {
        "seed": int(seed),
        "reps": int(reps),
        "months": int(months),
        "end": end,
        "lead_volume": float(lead_volume),
        "start": _month_label(g.first_month),
        "warmup_months": WARMUP_MONTHS,
    }
    return SyntheticOrg(tables=tables, truth=g.truth(params))


_DATASET_TOML = """\
# kpikit demo data: a synthetic sales org (not real people or companies).
# Default stages: Lead -> SQL -> Meeting -> Proposal -> Won, with Lost.
# truth.json beside this file holds the hidden behaviour the data was drawn from.
currency = "USD"
"""


def _existing_dataset_files(folder: Path) -> list[Path]:
    names = {f"{t}{s}" for t in TABLE_NAMES for s in (".csv", ".parquet", ".xlsx")}
    names |= {"dataset.toml", "truth.json"}
    return sorted(p for p in folder.iterdir() if p.name in names)


def _csv_frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO 8601 text (``2026-10-05T09:30:00``, dates ``2026-10-05``)."""
    out = df.copy()
    for col in TABLES[name].columns:
        if col.kind in ("datetime", "date") and col.name in out.columns:
            values = out[col.name].to_numpy(dtype="datetime64[s]")
            text = np.datetime_as_string(values, unit="s" if col.kind == "datetime" else "D")
            out[col.name] = pd.Series(text, index=out.index).where(~np.isnat(values), None)
    return out


def write_demo_data(
    out_dir: str | Path,
    *,
    reps: int = 25,
    months: int = 12,
    end: str = "2026-10",
    seed: int = 7,
    fmt: str = "csv",
    overwrite: bool = False,
) -> Path:
    """Write the sample org as a dataset folder that :func:`kpikit.load` reads.

    Writes one file per table (``reps.csv``, ... or ``.parquet``), a
    ``dataset.toml`` (``currency = "USD"``, default stages) and ``truth.json``
    (the hidden behaviour, see :func:`generate`). CSV timestamps are ISO 8601
    text. A folder that already holds a dataset is only replaced with
    ``overwrite=True`` (which removes the old table files, ``dataset.toml`` and
    ``truth.json``, and nothing else).

    Returns
    -------
    Path
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_demo_data(Path(tmp) / "demo", reps=6, months=2)
    ...     sorted(p.name for p in path.iterdir())[:3]
    ['accounts.csv', 'activities.csv', 'costs.csv']
    """
    if fmt not in FORMATS:
        raise KpikitError(f"demo data: fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    _check_args(reps, months, end, seed, 1.0)
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise KpikitError(f"demo data: {folder} is a file, not a folder; give a folder path")
    if folder.is_dir():
        existing = _existing_dataset_files(folder)
        if existing and not overwrite:
            raise KpikitError(
                f"demo data: {folder} already holds a dataset ({existing[0].name}, ...); "
                f"choose an empty folder or pass overwrite=True (--overwrite) to replace it"
            )
        for p in existing:
            p.unlink()
    org = generate(reps=reps, months=months, end=end, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in org.tables.items():
        if fmt == "csv":
            _csv_frame(name, df).to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "dataset.toml").write_text(_DATASET_TOML, encoding="utf-8")
    (folder / "truth.json").write_text(json.dumps(org.truth, indent=2) + "\n", encoding="utf-8")
    return folder
