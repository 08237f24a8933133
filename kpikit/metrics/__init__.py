"""The KPI catalogue of ``shared/METRICS.md``: one pure function per metric.

Functions are grouped by theme (:mod:`~kpikit.metrics.activity`,
:mod:`~kpikit.metrics.conversion`, :mod:`~kpikit.metrics.results`,
:mod:`~kpikit.metrics.pipeline`) and all registered in
:data:`~kpikit.metrics.registry.REGISTRY`; :func:`metric_table` computes them
all for a period, per rep, team, level or org.
"""

from kpikit.metrics import activity, conversion, pipeline, results  # noqa: F401  (registers)
from kpikit.metrics.registry import REGISTRY, MetricDef, get, register
from kpikit.metrics.table import MetricTable, metric_table, scalar_metric_ids

__all__ = [
    "REGISTRY",
    "MetricDef",
    "MetricTable",
    "get",
    "metric_table",
    "register",
    "scalar_metric_ids",
]
