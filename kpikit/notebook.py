"""Helpers for kpikit's notebooks: a clean start and small display utilities."""

from __future__ import annotations

import pandas as pd


def setup(*, max_rows: int = 60, max_columns: int = 30) -> None:
    """Reset the state a previous run could leave: pandas display options.

    Altair's theme is never enabled globally (``kpikit.plots`` scopes it), so
    there is nothing to reset there. Call it first thing after the parameters.
    """
    pd.reset_option("display.*")
    pd.set_option("display.max_rows", max_rows)
    pd.set_option("display.max_columns", max_columns)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_colwidth", None)


def is_papermill() -> bool:
    """Whether the kernel runs under papermill (reports) rather than interactively."""
    import os

    return bool(os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("KPIKIT_REPORT"))
