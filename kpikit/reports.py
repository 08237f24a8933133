"""Rendering coaching reports: execute ``notebooks/rep_coaching.ipynb`` for a rep with
papermill, then export it with the kpikit template to a self-contained HTML file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from kpikit.errors import KpikitError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
REP_NOTEBOOK = "rep_coaching.ipynb"
#: parameters the report notebook accepts (anything else is refused)
REP_PARAMETERS = ("data", "rep_id", "period", "static")


class ReportError(KpikitError):
    """A report could not be produced (the notebook failed, bad parameters, ...)."""


def notebook_path(name: str) -> Path:
    """The path of one of kpikit's notebooks (clear error when they are not installed)."""
    path = NOTEBOOKS_DIR / name
    if not path.exists():
        raise ReportError(
            f"kpikit's notebook {name} is not at {path}: install kpikit from a source checkout "
            f"(pip install -e .) so that notebooks/ and templates/ are available"
        )
    return path


def safe_name(rep_id: str) -> str:
    """A file name for a rep id: letters, digits, ``-`` and ``_`` only, never ``.``/``..``,
    unique (a short hash is added whenever the id had to be changed).

    >>> safe_name("R005")
    'R005'
    >>> safe_name("../etc/passwd")
    'etc_passwd-9d5d1f7f'
    """
    text = unicodedata.normalize("NFKD", str(rep_id)).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:60]
    if cleaned == str(rep_id) and cleaned:
        return cleaned
    digest = hashlib.sha256(str(rep_id).encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'rep'}-{digest}"


def check_parameters(parameters: dict[str, object]) -> dict[str, object]:
    """Refuse unknown names and non-JSON values: parameters reach the notebook as plain JSON."""
    unknown = sorted(set(parameters) - set(REP_PARAMETERS))
    if unknown:
        raise ReportError(
            f"unknown report parameter(s) {', '.join(unknown)}; known: {', '.join(REP_PARAMETERS)}"
        )
    for name, value in parameters.items():
        if value is not None and not isinstance(value, str | bool | int | float):
            raise ReportError(
                f"report parameter {name} must be text, a number or true/false, got {type(value).__name__}"
            )
    return json.loads(json.dumps(parameters))


@dataclass
class RenderedReport:
    rep_id: str
    html: Path | None
    notebook: Path


def render_rep_report(
    data: str | Path | None,
    rep_id: str,
    period: str,
    out_dir: str | Path,
    *,
    timeout: int = 600,
    kernel_name: str = "python3",
) -> RenderedReport:
    """Execute the coaching notebook for one rep and write ``<rep>.ipynb`` and ``<rep>.html``.

    Files are written atomically (a temporary file renamed into place). The
    executed notebook is kept even when execution fails (for debugging); the HTML
    is only written for a successful run.
    """
    import nbformat
    import papermill as pm

    from kpikit import report
    from kpikit.demo import open_dataset
    from kpikit.render import export_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = check_parameters(
        {
            "data": str(Path(data).resolve()) if data else None,
            "rep_id": rep_id,
            "period": period,
            "static": True,
        }
    )
    ds = open_dataset(data)
    ctx_meta = report.report_metadata(report.context(ds, rep_id, period))
    name = safe_name(rep_id)
    nb_path = out / f"{name}.ipynb"
    tmp_nb = _temp_path(out, nb_path.name)
    try:
        pm.execute_notebook(
            str(notebook_path(REP_NOTEBOOK)),
            str(tmp_nb),
            parameters=params,
            kernel_name=kernel_name,
            progress_bar=False,
            execution_timeout=timeout,
            cwd=str(NOTEBOOKS_DIR),
        )
    except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
        if tmp_nb.exists():
            os.replace(tmp_nb, out / f"{name}.failed.ipynb")
        raise ReportError(
            f"the report for {rep_id} failed: {_first_line(exc)} "
            f"(the failed notebook is {out / (name + '.failed.ipynb')})"
        ) from exc
    nb = nbformat.read(tmp_nb, as_version=4)
    nb.metadata["kpikit"] = ctx_meta
    nbformat.write(nb, tmp_nb)
    os.replace(tmp_nb, nb_path)
    html_path = out / f"{name}.html"
    export_html(nb, html_path)
    return RenderedReport(rep_id, html_path, nb_path)


def _temp_path(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{Path(name).stem}-", suffix=Path(name).suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    for line in reversed(text):
        if line.strip() and not line.startswith("-"):
            return line.strip()[:300]
    return type(exc).__name__
