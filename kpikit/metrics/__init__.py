"""The KPI catalogue of ``shared/METRICS.md``: one pure function per metric.

Functions are grouped by theme (:mod:`~kpikit.metrics.activity`,
:mod:`~kpikit.metrics.conversion`, :mod:`~kpikit.metrics.results`,
:mod:`~kpikit.metrics.pipeline`) and all registered in
:data:`~kpikit.metrics.registry.REGISTRY`.
"""

from kpikit.metrics.registry import REGISTRY, MetricDef, get, register

__all__ = ["REGISTRY", "MetricDef", "get", "register"]
