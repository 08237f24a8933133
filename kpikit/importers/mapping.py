"""The mapping file (``--map mapping.toml``): column renames, value maps, formats, stages.

For the ``generic`` source the mapping file *is* the importer: it names, per
canonical table, the export file and the export column of each canonical
column. For the named sources (``hubspot``, ``salesforce``, ``pipedrive``,
``maven``) the same file overrides their defaults: localised stage names, a
custom pipeline, a date format, the currency, a renamed column.

.. code-block:: toml

    currency = "EUR"
    date_format = "%d/%m/%Y"    # optional; else inferred per column
    decimal = ","               # optional; else inferred per column
    [stages]                    # optional: the pipeline (replaces the source's default)
    order = ["Qualifiziert", "Angebot"]
    won = ["Gewonnen"]
    lost = ["Verloren"]
    sql = "Qualifiziert"        # optional funnel steps
    proposal = "Angebot"
    [tables.opportunities]
    file = "deals.csv"          # generic: required; named sources: optional
    date_format = "%d.%m.%Y"    # optional, this table only
    [tables.opportunities.columns]
    opportunity_id = "Deal ID"
    rep_id = "Owner"
    [tables.opportunities.values.stage]
    "Abgeschlossen" = "Gewonnen"
    [tables.activities.constants]
    type = "call"               # a fixed value for every row of that file
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpikit.config import DatasetConfig
from kpikit.errors import ConfigError
from kpikit.importers.common import Context, Kind, MappingError, Stages
from kpikit.schema import TABLE_NAMES, TABLES

_TOP = {"currency", "date_format", "decimal", "stages", "tables"}
_TABLE_KEYS = {"file", "kind", "date_format", "columns", "values", "constants", "extras"}


@dataclass
class TableMapping:
    """One ``[tables.<name>]`` section."""

    table: str
    files: tuple[str, ...] = ()
    kind: str | None = None
    date_format: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)


@dataclass
class Mapping:
    """A parsed mapping file.

    >>> m = Mapping.from_dict({"currency": "EUR", "tables": {"opportunities": {
    ...     "file": "deals.csv", "columns": {"opportunity_id": "Deal ID"}}}})
    >>> m.currency, m.tables["opportunities"].files, m.tables["opportunities"].columns
    ('EUR', ('deals.csv',), {'opportunity_id': 'Deal ID'})
    """

    currency: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    stages: Stages | None = None
    tables: dict[str, TableMapping] = field(default_factory=dict)
    source: str = "mapping file"

    @classmethod
    def read(cls, path: str | Path) -> Mapping:
        """Read and check a mapping file."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        except FileNotFoundError as exc:
            raise MappingError(f"{p}: no such mapping file") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{p}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "mapping file") -> Mapping:
        unknown = sorted(set(data) - _TOP)
        if unknown:
            raise MappingError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known settings are "
                f"{', '.join(sorted(_TOP))}"
            )
        m = cls(source=source)
        for key in ("currency", "date_format", "decimal"):
            v = data.get(key)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise MappingError(f"{source}: {key} must be a text, got {v!r}")
            setattr(m, key, v.strip() if isinstance(v, str) else None)
        if m.decimal not in (None, ".", ","):
            raise MappingError(f'{source}: decimal must be "." or ",", got {m.decimal!r}')
        if "stages" in data:
            m.stages = _stages(data["stages"], source)
        tables = data.get("tables", {})
        if not isinstance(tables, dict):
            raise MappingError(f"{source}: [tables] must hold one [tables.<name>] section per table")
        for name, raw in tables.items():
            m.tables[name] = _table(name, raw, source)
        return m

    def apply(self, ctx: Context) -> None:
        """Put the overrides into an import's context (stages, formats, columns, values)."""
        if self.stages is not None:
            old = ctx.stages
            keep = {k: v for k, v in old.aliases.items() if v in self.stages.all}
            self.stages.aliases = {**keep, **self.stages.aliases}
            self.stages.strip_suffix = old.strip_suffix
            ctx.stages = self.stages
        ctx.currency = self.currency or ctx.currency
        ctx.date_format = self.date_format or ctx.date_format
        ctx.decimal = self.decimal or ctx.decimal
        for name, tm in self.tables.items():
            if tm.date_format:
                ctx.table_date_format[name] = tm.date_format
            for col, header in tm.columns.items():
                ctx.columns[(name, col)] = header
            for col, vmap in tm.values.items():
                ctx.values[(name, col)] = vmap
        # value maps onto stages must name configured stages
        for (table, col), vmap in ctx.values.items():
            if col != "stage":
                continue
            bad = {k: v for k, v in vmap.items() if ctx.stages.lookup(v) is None}
            if bad:
                k, v = next(iter(bad.items()))
                raise MappingError(
                    f"{self.source}: [tables.{table}.values.stage] maps {k!r} to {v!r}, which is "
                    f"not a stage of the configuration ({', '.join(ctx.stages.all)}); map it to "
                    "one of those, or list it in [stages]"
                )

    def generic_kinds(self) -> list[tuple[Kind, tuple[str, ...]]]:
        """The generic source's kinds: one per ``[tables.<name>]``, with the files it reads."""
        kinds = []
        for name, tm in self.tables.items():
            if not tm.files:
                raise MappingError(
                    f"{self.source}: [tables.{name}] needs file = \"...\" (the export file that "
                    "holds this table, one of the FILES given on the command line)"
                )
            spec = TABLES[name]
            columns = {c: (tm.columns[c],) if c in tm.columns else (c,) for c in spec.column_names}
            kinds.append((
                Kind(name=name, table=name, signature=(), columns=columns, values=tm.values,
                     constants=tm.constants, extras={k: (v,) for k, v in tm.extras.items()},
                     date_format=tm.date_format, description=f"{name} (mapping file)"),
                tm.files,
            ))
        return kinds


def _stages(raw: Any, source: str) -> Stages:
    try:
        cfg = DatasetConfig._stages(raw, f"{source} [stages]")
    except ConfigError as exc:
        raise MappingError(str(exc)) from exc
    if not isinstance(raw, dict):  # pragma: no cover - _stages raised already
        raise MappingError(f"{source}: [stages] must be a table")
    return Stages(cfg.order, cfg.won, cfg.lost, cfg.sql, cfg.meeting, cfg.proposal)


def _table(name: str, raw: Any, source: str) -> TableMapping:
    if name not in TABLES:
        raise MappingError(
            f"{source}: [tables.{name}]: {name!r} is not a canonical table; the tables are "
            f"{', '.join(TABLE_NAMES)}"
        )
    if not isinstance(raw, dict):
        raise MappingError(f"{source}: [tables.{name}] must be a table of settings")
    unknown = sorted(set(raw) - _TABLE_KEYS)
    if unknown:
        raise MappingError(
            f"{source}: [tables.{name}]: unknown key(s) {', '.join(unknown)}; known keys are "
            f"{', '.join(sorted(_TABLE_KEYS))}"
        )
    cols = TABLES[name].column_names
    tm = TableMapping(name)
    files = raw.get("file")
    if files is not None:
        files = [files] if isinstance(files, str) else files
        if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
            raise MappingError(f"{source}: [tables.{name}].file must be a file name or a list of them")
        tm.files = tuple(files)
    for key in ("kind", "date_format"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise MappingError(f"{source}: [tables.{name}].{key} must be a text")
            setattr(tm, key, raw[key])
    for key in ("columns", "constants"):
        section = raw.get(key, {})
        if not isinstance(section, dict):
            raise MappingError(f"{source}: [tables.{name}.{key}] must map canonical columns to texts")
        for col, v in section.items():
            _check_column(name, col, cols, source, key)
            if not isinstance(v, str) or not v.strip():
                raise MappingError(
                    f"{source}: [tables.{name}.{key}].{col} must be a text (the export's column "
                    f"name), got {v!r}"
                )
            getattr(tm, key)[col] = v.strip()
    extras = raw.get("extras", {})
    if not isinstance(extras, dict) or not all(isinstance(v, str) for v in extras.values()):
        raise MappingError(
            f"{source}: [tables.{name}.extras] must map output column names to export columns"
        )
    tm.extras = dict(extras)
    values = raw.get("values", {})
    if not isinstance(values, dict):
        raise MappingError(f"{source}: [tables.{name}.values] must hold one table per column")
    for col, vmap in values.items():
        _check_column(name, col, cols, source, "values")
        if not isinstance(vmap, dict) or not all(isinstance(v, str) for v in vmap.values()):
            raise MappingError(
                f"{source}: [tables.{name}.values.{col}] must map export values to canonical values "
                '(e.g. "Gewonnen" = "Closed Won")'
            )
        tm.values[col] = dict(vmap)
    return tm


def _check_column(table: str, col: str, cols: tuple[str, ...], source: str, key: str) -> None:
    if col not in cols:
        raise MappingError(
            f"{source}: [tables.{table}.{key}]: {col!r} is not a canonical column of {table}; its "
            f"columns are {', '.join(cols)}"
        )
