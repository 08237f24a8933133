"""Any other CRM, driven by a mapping file (``kpikit import generic FILES --map mapping.toml``).

The mapping file (see :mod:`kpikit.importers.mapping`) names, for every
canonical table to import, the export file (``file``) and which export column
holds each canonical column (``[tables.<table>.columns]``; a column already
named canonically needs no entry). Value maps translate stage names, activity
types and other categories; ``date_format`` / ``decimal`` / ``currency`` fix
what cannot be inferred; ``[stages]`` describes the pipeline (without it the
default ``Lead -> SQL -> Meeting -> Proposal -> Won`` / ``Lost`` is used).
The owner column (``rep_id``) may hold names or ids: either becomes a stable
rep id, and the reps table is derived from the owners unless
``[tables.reps]`` maps a users export.
"""

from __future__ import annotations

from kpikit.config import StageConfig
from kpikit.importers.common import Kind, MappingError, Source, Stages
from kpikit.importers.mapping import Mapping

_DEFAULT = StageConfig()
STAGES = Stages(_DEFAULT.order, _DEFAULT.won, _DEFAULT.lost, _DEFAULT.sql, _DEFAULT.meeting,
                _DEFAULT.proposal)


def source_from_mapping(mapping: Mapping) -> tuple[Source, dict[str, Kind]]:
    """The generic source a mapping describes, and which kind reads each named file.

    >>> m = Mapping.from_dict({"tables": {"opportunities": {"file": "deals.csv",
    ...     "columns": {"opportunity_id": "Deal ID"}}}})
    >>> src, files = source_from_mapping(m)
    >>> files["deals.csv"].table, files["deals.csv"].columns["opportunity_id"]
    ('opportunities', ('Deal ID',))
    """
    if not mapping.tables:
        raise MappingError(
            f"{mapping.source}: the generic importer needs at least [tables.opportunities] with "
            "file = \"...\" and its [tables.opportunities.columns]"
        )
    if "opportunities" not in mapping.tables:
        raise MappingError(
            f"{mapping.source}: no [tables.opportunities] section; opportunities are required "
            "(reps are derived from the owners)"
        )
    files: dict[str, Kind] = {}
    kinds = []
    for kind, names in mapping.generic_kinds():
        kinds.append(kind)
        for name in names:
            if name in files:
                raise MappingError(
                    f"{mapping.source}: file {name!r} is given for both {files[name].table} and "
                    f"{kind.table}; one file holds one table"
                )
            files[name] = kind
    source = Source(
        name="generic",
        description="any CRM export, described by a mapping file",
        kinds=tuple(kinds),
        stages=STAGES,
    )
    return source, files
