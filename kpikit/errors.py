"""The errors kpikit raises on purpose.

Every error a user can cause (bad data, a bad argument, a missing table) is a
:class:`KpikitError`; its message says what is wrong and how to fix it. The CLI
prints these messages and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from kpikit.validation import ValidationReport


class KpikitError(Exception):
    """Base class of all errors kpikit raises for a user to act on."""


class DataError(KpikitError):
    """The dataset cannot be read (no such path, unreadable file, unknown format)."""


class DataValidationError(DataError):
    """The dataset was read but breaks the data contract.

    ``report`` holds every problem found (errors and warnings), each naming the
    file, row, column, bad value and what was expected.
    """

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.format_errors())


class ConfigError(KpikitError):
    """``dataset.toml`` (or a mapping file) is malformed."""


class PeriodError(KpikitError, ValueError):
    """A period string is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""


class MissingDataError(KpikitError):
    """A table or column a computation needs is absent from the dataset.

    ``needs`` lists what is missing, as ``table`` or ``table.column``.
    """

    def __init__(self, needs: str | list[str] | tuple[str, ...], what: str | None = None):
        self.needs = (needs,) if isinstance(needs, str) else tuple(needs)
        self.what = what
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}not available: needs {', '.join(self.needs)}")
