"""CRM importers: turn a CRM's exports into a canonical kpikit dataset, then validate it.

``kpikit import SOURCE FILES... --out DIR [--map mapping.toml]`` calls
:func:`import_crm`. Sources: ``hubspot``, ``salesforce``, ``pipedrive``,
``maven`` (the public sample in ``shared/datasets/maven_crm``) and ``generic``
(any CRM, described by a mapping file). See ``docs/importers.md``.

>>> sorted(SOURCES)
['generic', 'hubspot', 'maven', 'pipedrive', 'salesforce']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kpikit.errors import KpikitError, MissingDataError
from kpikit.importers import generic, hubspot, maven, pipedrive, salesforce
from kpikit.importers.common import (
    SOURCE_FILE,
    Context,
    ExportFile,
    ImportDataError,
    ImportNote,
    Kind,
    MappingError,
    Source,
    Stages,
    assemble,
    check_out,
    convert,
    detect_kind,
    read_export,
    write_dataset,
)
from kpikit.importers.mapping import Mapping

__all__ = [
    "SOURCES",
    "ImportDataError",
    "ImportNote",
    "ImportResult",
    "MappingError",
    "import_crm",
    "unavailable_metrics",
]

#: the named sources (``generic`` is built from the mapping file)
SOURCES: dict[str, Source | None] = {
    "hubspot": hubspot.SOURCE,
    "salesforce": salesforce.SOURCE,
    "pipedrive": pipedrive.SOURCE,
    "maven": maven.SOURCE,
    "generic": None,
}

NOT_AVAILABLE = "not available in this export"


@dataclass
class ImportResult:
    """What :func:`import_crm` did: files read, tables written, notes, what is unavailable,
    and the validation report of the written dataset.

    ``unavailable`` maps a metric id to what it needs that the export lacks
    ("needs activities"); ``ok`` is True when validation found no error.
    """

    source: str
    out: Path
    files: dict[str, str]
    rows: dict[str, int]
    notes: list[ImportNote]
    unavailable: dict[str, str]
    report: Any  # kpikit.validation.ValidationReport
    dataset: Any = None  # kpikit.Dataset, None when validation found errors
    currency: str = "USD"
    stages: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.report.ok)

    def render(self) -> str:
        """The import summary printed by ``kpikit import``, then the validation report."""
        lines = [f"Imported {self.source} export(s) into {self.out}:"]
        for f, what in self.files.items():
            lines.append(f"  {f}: {what}")
        lines.append("Tables written: " + ", ".join(f"{t} {n:,}" for t, n in self.rows.items()))
        lines.append(f"Currency: {self.currency}; stages: " + " -> ".join(
            list(self.stages.get("order", [])) + ["/".join(self.stages.get("won", []))])
            + f" (lost: {', '.join(self.stages.get('lost', []))})")
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {n.format()}" for n in self.notes]
        if self.unavailable:
            lines.append(f"Metrics {NOT_AVAILABLE} ({len(self.unavailable)}):")
            by_need: dict[str, list[str]] = {}
            for mid, need in self.unavailable.items():
                by_need.setdefault(need, []).append(mid)
            for need, ids in by_need.items():
                lines.append(f"  - {need}: {', '.join(ids)}")
        lines += ["", "Validation of the written dataset:", self.report.render()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for ``--json``)."""
        return {
            "source": self.source, "out": str(self.out), "ok": self.ok, "files": self.files,
            "rows": self.rows, "currency": self.currency, "stages": self.stages,
            "notes": [n.to_dict() for n in self.notes],
            "unavailable": {k: f"{NOT_AVAILABLE}: {v}" for k, v in self.unavailable.items()},
            "validation": self.report.to_dict(),
        }


def import_crm(
    source: str,
    files: Sequence[str | Path],
    out: str | Path,
    *,
    mapping: str | Path | None = None,
    overwrite: bool = False,
    as_of: pd.Timestamp | str | None = None,
) -> ImportResult:
    """Import a CRM's export files into a canonical dataset folder and validate it.

    Parameters
    ----------
    source
        ``hubspot``, ``salesforce``, ``pipedrive``, ``maven`` or ``generic``.
    files
        The export files (CSV/TSV/TXT or ``.xlsx``); which table each one feeds is
        recognised from its headers (or given in the mapping file).
    out
        The folder to write ``<table>.csv``, ``dataset.toml`` and ``import.json``
        into. It must not hold a dataset already unless ``overwrite``.
    mapping
        A mapping file (TOML): required for ``generic``, overrides for the others
        (localised stage names, a custom pipeline, date format, currency, columns).
    overwrite
        Replace a dataset already in ``out``.
    as_of
        The "now" of the validator's future-date warnings (default: now).

    Returns
    -------
    ImportResult
        Files read, rows written per table, notes (encoding, delimiter, rows not
        imported and why), the metrics not available in this export, and the
        validation report (whose problems point back to export file and row).

    Raises
    ------
    ImportDataError
        An export cannot be read or mapped (missing column, unknown stage,
        unreadable dates or amounts): the message names the file, column, rows
        and how to fix it. Nothing is written then.
    MappingError
        The mapping file is malformed or does not fit the files.
    KpikitError
        Unknown source, no files, or ``out`` already holds a dataset.

    Input files are only read.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "deals.csv").write_text(
    ...     "Record ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Deal owner\\n"
    ...     "1,Acme,Closed Won,\\"$1,200.00\\",2026-01-05,2026-02-01,Ann Lee\\n")
    >>> res = import_crm("hubspot", [d / "deals.csv"], d / "out", as_of="2026-03-01")
    >>> res.ok, res.rows["opportunities"], float(res.dataset.opportunities.loc[0, "amount"])
    (True, 1, 1200.0)
    """
    name = str(source).strip().lower()
    if name not in SOURCES:
        raise KpikitError(
            f"unknown source {source!r}; the sources are {', '.join(sorted(SOURCES))} (generic "
            "reads any CRM's export with a mapping file given by --map)"
        )
    paths = [Path(f) for f in files]
    if not paths:
        raise KpikitError(f"give the {name} export file(s) to import")
    if len({p.resolve() for p in paths}) < len(paths):
        raise KpikitError("the same export file is given twice")
    out = Path(out)
    check_out(out, paths, overwrite=overwrite)
    m = Mapping.read(mapping) if mapping is not None else None
    forced: dict[str, Kind] = {}
    if name == "generic":
        if m is None:
            raise MappingError(
                "the generic importer needs a mapping file: --map mapping.toml naming, per table, "
                "the export file and its columns (see docs/importers.md)"
            )
        src, forced = generic.source_from_mapping(m)
    else:
        src = SOURCES[name]
        assert src is not None
    ctx = Context(source=name, stages=dataclasses.replace(src.stages,
                                                          aliases=dict(src.stages.aliases)))
    if m is not None:
        m.apply(ctx)
        if name != "generic":
            forced = _forced_kinds(m, src)
    exports = [read_export(p) for p in paths]
    for ex in exports:
        ctx.notes.extend(ex.notes)
    assigned = _assign(exports, src, forced, m)
    parts: dict[str, list[pd.DataFrame]] = {}
    for ex, kind in assigned:
        if kind.table == "":
            ctx.side[kind.name] = ex
            ctx.files[ex.name] = f"{kind.name} export -> extra columns of the opportunities"
            continue
        df = convert(ex, kind, ctx)
        parts.setdefault(kind.table, []).append(df)
        ctx.files[ex.name] = f"{kind.name} export -> {kind.table}"
    for table, frames in ctx.extra_parts.items():
        parts.setdefault(table, []).extend(frames)
    if src.finish is not None:
        src.finish(parts, ctx)
    if not parts.get("opportunities"):
        readers = ", ".join(k.name for k in src.kinds if k.table == "opportunities")
        raise ImportDataError(
            f"none of the files is an opportunities export ({', '.join(str(p) for p in paths)} "
            f"were read as: {'; '.join(ctx.files.values()) or 'nothing'}); kpikit needs the "
            f"{name} {readers or 'opportunities'} export"
        )
    tables = assemble(parts, ctx)
    currency = _currency(ctx, tables, src)
    config: dict[str, object] = {"currency": currency, "stages": ctx.stages.toml()}
    rows = {t: len(df) for t, df in tables.items()}
    log = {"source": name, "files": ctx.files, "rows": rows,
           "notes": [n.to_dict() for n in ctx.notes]}
    check_out(out, paths, overwrite=overwrite)
    write_dataset(out, tables, config, log)

    from kpikit.validation import validate_path

    ds, report = validate_path(out, as_of=as_of)
    unavailable = unavailable_metrics(ds, tables, ctx.stages)
    log["unavailable"] = {k: f"{NOT_AVAILABLE}: {v}" for k, v in unavailable.items()}
    (out / "import.json").write_text(_json(log), encoding="utf-8")
    return ImportResult(name, out, dict(ctx.files), rows, list(ctx.notes), unavailable, report,
                        ds, currency, config["stages"])  # type: ignore[arg-type]


def _json(log: dict[str, object]) -> str:
    import json

    return json.dumps(log, indent=2, default=str) + "\n"


def _forced_kinds(m: Mapping, src: Source) -> dict[str, Kind]:
    """Files a mapping assigns to a table (``[tables.<t>] file = ...``) for a named source."""
    out: dict[str, Kind] = {}
    for table, tm in m.tables.items():
        if not tm.files:
            continue
        kinds = [k for k in src.kinds if k.table == table]
        if tm.kind:
            kinds = [k for k in kinds if k.name == tm.kind]
        if not kinds:
            names = sorted({f"{k.table} ({k.name})" for k in src.kinds if k.table})
            raise MappingError(
                f"{m.source}: [tables.{table}]: the {src.name} importer has no "
                f"{tm.kind + ' ' if tm.kind else ''}export for {table}; it reads {', '.join(names)}"
            )
        for f in tm.files:
            out[f] = kinds[0]
    return out


def _match_file(name: str, exports: Iterable[ExportFile]) -> ExportFile | None:
    for ex in exports:
        if name in (str(ex.path), ex.path.name) or Path(name).resolve() == ex.path.resolve():
            return ex
    return None


def _assign(exports: list[ExportFile], src: Source, forced: dict[str, Kind],
            m: Mapping | None) -> list[tuple[ExportFile, Kind]]:
    by_file: dict[int, Kind] = {}
    for fname, kind in forced.items():
        ex = _match_file(fname, exports)
        if ex is None:
            given = ", ".join(str(e.path) for e in exports)
            raise MappingError(
                f"{m.source if m else 'mapping file'}: names the file {fname!r} for "
                f"{kind.table}, but it is not among the files given ({given}); give it on the "
                "command line or fix the name"
            )
        by_file[id(ex)] = kind
    out = []
    for ex in exports:
        kind = by_file.get(id(ex))
        if kind is None:
            if src.name == "generic":
                raise MappingError(
                    f"{m.source if m else 'mapping file'}: the file {ex.name} is not named in any "
                    "[tables.<table>] file = \"...\"; say which table it holds, or leave it out"
                )
            kind = detect_kind(ex, src.kinds, src.name)
        out.append((ex, kind))
    return out


def _currency(ctx: Context, tables: dict[str, pd.DataFrame], src: Source) -> str:
    """The dataset's currency: the mapping's, else the one the amounts show, else the source's."""
    seen = dict(ctx.currencies)
    for df in tables.values():
        if "currency" in df.columns:
            for c in df["currency"].dropna().astype("str").str.strip().str.upper().unique():
                if c:
                    seen.setdefault(c, str(df[SOURCE_FILE].iloc[0]))
    if len(seen) > 1:
        listed = ", ".join(f"{c} ({f})" for c, f in seen.items())
        raise ImportDataError(
            f"amounts are in several currencies: {listed}; a kpikit dataset has one currency. "
            "Export the amounts converted to one currency (HubSpot: 'Amount in company "
            "currency'; Salesforce: 'Amount (converted)'), or import each currency separately"
        )
    if ctx.currency:
        if seen and ctx.currency.upper() not in {c.upper() for c in seen}:
            c, f = next(iter(seen.items()))
            raise ImportDataError(
                f"the mapping file says currency = {ctx.currency!r}, but the amounts in {f} are "
                f"in {c}; fix the mapping's currency or export the amounts in {ctx.currency}"
            )
        return ctx.currency
    if seen:
        return next(iter(seen))
    if src.currency:
        return src.currency
    ctx.note("warning", "the exports do not say which currency the amounts are in; USD is "
             'assumed (set currency = "EUR" etc. in a mapping file given with --map)')
    return "USD"


def unavailable_metrics(ds: Any, tables: dict[str, pd.DataFrame],
                        stages: Stages | None = None) -> dict[str, str]:
    """Metric id -> what it needs that the imported data lacks ("needs activities").

    A metric's ``needs`` (tables / ``table.column`` with at least one value) are
    checked against ``tables``; when the dataset validated (``ds`` not None),
    each remaining metric is also computed once for the latest month, and a
    :class:`~kpikit.errors.MissingDataError` it raises (e.g. a funnel step the
    stage configuration leaves unset) is reported too.

    >>> unavailable_metrics(None, {"reps": pd.DataFrame({"rep_id": ["a"]})})["calls_made"]
    'needs activities'
    """
    from kpikit.metrics import REGISTRY
    from kpikit.periods import Period

    def has(need: str) -> bool:
        table, _, column = need.partition(".")
        df = tables.get(table)
        if df is None:
            return False
        return not column or (column in df.columns and bool(df[column].notna().any()))

    out: dict[str, str] = {}
    period = None
    if ds is not None and ds.opportunities is not None and len(ds.opportunities):
        last = ds.opportunities["created_at"].max()
        period = Period.parse(f"{last:%Y-%m}")
    for mid, m in REGISTRY.items():
        missing = [n for n in m.needs if not has(n)]
        if missing:
            out[mid] = "needs " + ", ".join(missing)
            continue
        if period is None:
            continue
        by = "org" if "org" in m.groupings else m.groupings[0]
        try:
            m.func(ds, period, by=by)
        except MissingDataError as exc:
            out[mid] = "needs " + ", ".join(exc.needs)
        except Exception:  # noqa: BLE001 - any other failure is not about missing inputs
            continue
    return out


