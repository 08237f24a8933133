"""kpikit: coach sales reps with KPIs.

Load and validate a sales dataset, compute the KPI catalogue per rep and
period, plan the activity that reaches a revenue goal, and render per-rep
coaching reports.
"""

from kpikit import notebook
from kpikit._version import __version__
from kpikit.config import DatasetConfig, StageConfig
from kpikit.dataset import Dataset, load
from kpikit.demo import open_dataset, sample_dataset
from kpikit.errors import (
    ConfigError,
    DataError,
    DataValidationError,
    KpikitError,
    MissingDataError,
    PeriodError,
)
from kpikit.periods import Period

__all__ = [
    "__version__",
    "ConfigError",
    "DataError",
    "DataValidationError",
    "Dataset",
    "DatasetConfig",
    "KpikitError",
    "MissingDataError",
    "Period",
    "PeriodError",
    "StageConfig",
    "load",
    "notebook",
    "open_dataset",
    "sample_dataset",
]
