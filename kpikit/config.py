"""The dataset configuration: ``dataset.toml`` beside the tables (optional).

.. code-block:: toml

    currency = "USD"
    timezone = "UTC"                 # timezone-aware timestamps are converted to this
    working_days_per_month = 21      # optional; default: Monday-Friday count of each month
    holidays = ["2026-12-25"]        # optional; excluded from working days
    [stages]
    order = ["Qualification", "Discovery", "Proposal", "Negotiation"]
    won = ["Closed Won"]
    lost = ["Closed Lost"]
    sql = "Qualification"            # optional: which configured stage is the SQL step,
    meeting = "Discovery"            #   the discovery-meeting step
    proposal = "Proposal"            #   and the proposal step of the standard funnel

Without it, the default funnel is ``Lead -> SQL -> Meeting -> Proposal -> Won`` with
``Lost`` as the terminal losing stage.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kpikit.errors import ConfigError


@dataclass(frozen=True)
class StageConfig:
    """The pipeline: open stages in order, then the won and lost terminal stages.

    >>> StageConfig().status_of("Proposal"), StageConfig().status_of("Won")
    ('open', 'won')
    """

    order: tuple[str, ...] = ("Lead", "SQL", "Meeting", "Proposal")
    won: tuple[str, ...] = ("Won",)
    lost: tuple[str, ...] = ("Lost",)
    sql: str | None = "SQL"
    meeting: str | None = "Meeting"
    proposal: str | None = "Proposal"

    @property
    def all(self) -> tuple[str, ...]:
        """Every configured stage: open ones in order, then won, then lost."""
        return self.order + self.won + self.lost

    def status_of(self, stage: str) -> str | None:
        """``open``, ``won`` or ``lost`` for a configured stage; ``None`` if unknown."""
        if stage in self.won:
            return "won"
        if stage in self.lost:
            return "lost"
        if stage in self.order:
            return "open"
        return None

    def index(self, stage: str) -> int | None:
        """Position of a stage in the funnel (won stages come after all open ones)."""
        if stage in self.order:
            return self.order.index(stage)
        if stage in self.won:
            return len(self.order)
        return None


@dataclass(frozen=True)
class DatasetConfig:
    """Dataset-wide settings read from ``dataset.toml``."""

    currency: str = "USD"
    timezone: str = "UTC"
    working_days_per_month: int | None = None
    holidays: tuple[str, ...] = ()
    stages: StageConfig = field(default_factory=StageConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "dataset.toml") -> DatasetConfig:
        """Build from a parsed TOML document, with clear errors for bad values."""
        known = {"currency", "timezone", "working_days_per_month", "holidays", "stages"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; "
                f"known settings are {', '.join(sorted(known))}"
            )
        currency = data.get("currency", "USD")
        if not isinstance(currency, str) or not currency.strip():
            raise ConfigError(f"{source}: currency must be a text such as \"USD\", got {currency!r}")
        tz = data.get("timezone", "UTC")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"{source}: timezone {tz!r} is not a known IANA timezone (e.g. \"Europe/Paris\")"
            ) from exc
        wd = data.get("working_days_per_month")
        if wd is not None and (not isinstance(wd, int) or isinstance(wd, bool) or not 1 <= wd <= 31):
            raise ConfigError(
                f"{source}: working_days_per_month must be a whole number from 1 to 31, got {wd!r}"
            )
        holidays = data.get("holidays", [])
        if not isinstance(holidays, list):
            raise ConfigError(f"{source}: holidays must be a list of ISO dates")
        hol = tuple(str(h) for h in holidays)
        stages = cls._stages(data.get("stages", {}), source)
        return cls(currency.strip(), str(tz), wd, hol, stages)

    @staticmethod
    def _stages(raw: Any, source: str) -> StageConfig:
        if not raw:
            return StageConfig()
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: [stages] must be a table with order, won and lost")
        allowed = {"order", "won", "lost", "sql", "meeting", "proposal"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) in [stages]: {', '.join(unknown)}; "
                f"known keys are {', '.join(sorted(allowed))}"
            )
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("order", "won", "lost"):
            val = raw.get(key)
            if val is None:
                raise ConfigError(f"{source}: [stages] needs '{key}' (a list of stage names)")
            if isinstance(val, str):
                val = [val]
            if not isinstance(val, list) or not val or not all(isinstance(v, str) for v in val):
                raise ConfigError(
                    f"{source}: [stages].{key} must be a non-empty list of stage names, got {val!r}"
                )
            lists[key] = tuple(v.strip() for v in val)
        every = lists["order"] + lists["won"] + lists["lost"]
        dupes = sorted({s for s in every if every.count(s) > 1})
        if dupes:
            raise ConfigError(f"{source}: stage(s) listed twice in [stages]: {', '.join(dupes)}")

        def pick(key: str, default_name: str) -> str | None:
            if key in raw:
                val = raw[key]
                if val not in lists["order"]:
                    raise ConfigError(
                        f"{source}: [stages].{key} = {val!r} is not one of the open stages "
                        f"{list(lists['order'])}"
                    )
                return val
            for s in lists["order"]:
                if default_name in s.lower():
                    return s
            return None

        return StageConfig(
            order=lists["order"],
            won=lists["won"],
            lost=lists["lost"],
            sql=pick("sql", "sql") or pick("sql", "qualif"),
            meeting=pick("meeting", "meeting") or pick("meeting", "discovery"),
            proposal=pick("proposal", "proposal"),
        )


def read_config(path: str | Path) -> DatasetConfig:
    """Read ``dataset.toml``; a missing file gives the defaults."""
    p = Path(path)
    if not p.exists():
        return DatasetConfig()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}); fix the file or remove it") from exc
    return DatasetConfig.from_dict(data, source=str(p))
