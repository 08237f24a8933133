"""Rendering coaching reports: execute ``notebooks/rep_coaching.ipynb`` for a rep with
papermill, then export it with the kpikit template to a self-contained HTML file.

The pieces here are shared by :func:`render_rep_report` (one rep, a fresh kernel) and
:func:`kpikit.batch.run_batch` (every rep, a few reused kernels):

* :func:`safe_name` and :func:`file_stems`: file names for any rep id, safe and unique;
* :func:`check_parameters`: parameters reach the notebook only as plain JSON values;
* :func:`publish`: the executed notebook, its HTML (and PDF), each written atomically;
* :func:`html_to_pdf`: offline printing with headless Chromium.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpikit.errors import KpikitError

if TYPE_CHECKING:  # pragma: no cover
    from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
REP_NOTEBOOK = "rep_coaching.ipynb"
#: parameters the report notebook accepts (anything else is refused)
REP_PARAMETERS = ("data", "rep_id", "period", "static")
#: output formats a report can be written in
FORMATS = ("html", "ipynb", "pdf")
#: the formats written unless asked otherwise
DEFAULT_FORMATS = ("html", "ipynb")
#: file stems a rep can never get (they name the batch's own files or are reserved by Windows)
RESERVED_STEMS = frozenset(
    {"index", "manifest", "con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
)
#: executables tried, in order, for PDF output (``KPIKIT_CHROMIUM`` overrides)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


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


# -- names -------------------------------------------------------------------------------------


def safe_name(rep_id: str) -> str:
    """A file name for a rep id: letters, digits, ``-`` and ``_`` only, never ``.``/``..``,
    unique (a short hash is added whenever the id had to be changed).

    >>> safe_name("R005")
    'R005'
    >>> safe_name("../etc/passwd")
    'etc_passwd-7fef78f5'
    """
    text = unicodedata.normalize("NFKD", str(rep_id)).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:60]
    if cleaned == str(rep_id) and cleaned:
        return cleaned
    digest = hashlib.sha256(str(rep_id).encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'rep'}-{digest}"


def file_stems(rep_ids: Iterable[str]) -> dict[str, str]:
    """The file stem of each rep of a folder of reports: :func:`safe_name`, made unique.

    Stems stay unique on case-insensitive file systems too (``R1`` and ``r1`` both get a
    hash), never name the batch's own files (``index``, ``manifest``) or a reserved
    Windows device (``CON``, ``NUL``, ...). Give every rep id of the dataset, so that a
    rep keeps its file name whichever reps a run selects.

    >>> file_stems(["R1", "r1", "R2", "index"])
    {'R1': 'R1-a791366f', 'r1': 'r1-82f3e9c6', 'R2': 'R2', 'index': 'index-1bc04b52'}
    """
    ids = list(dict.fromkeys(str(r) for r in rep_ids))
    stems = {r: safe_name(r) for r in ids}
    for length in (8, 16, 64):
        seen: dict[str, list[str]] = {}
        for r, stem in stems.items():
            seen.setdefault(stem.casefold(), []).append(r)
        clash = {
            r for key, group in seen.items() if len(group) > 1 or key in RESERVED_STEMS for r in group
        }
        if not clash:
            return stems
        for r in clash:
            digest = hashlib.sha256(r.encode("utf-8")).hexdigest()[:length]
            base = safe_name(r)
            base = base.rsplit("-", 1)[0] if base != r else base
            stems[r] = f"{base}-{digest}"
    raise ReportError("could not give every rep a unique file name")  # pragma: no cover


# -- parameters --------------------------------------------------------------------------------


def check_parameters(parameters: Mapping[str, object]) -> dict[str, object]:
    """Refuse unknown names and non-JSON values: parameters reach the notebook as plain JSON.

    papermill writes strings escaped into the injected parameters cell, but other types
    as their ``str()``; so only text, finite numbers, true/false and None pass.

    >>> check_parameters({"rep_id": "R'1", "static": True})
    {'rep_id': "R'1", 'static': True}
    """
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
        if isinstance(value, float) and not math.isfinite(value):
            raise ReportError(f"report parameter {name} must be a finite number, got {value}")
    return json.loads(json.dumps(dict(parameters)))


def rep_parameters(data: str | Path | None, rep_id: str, period: str) -> dict[str, object]:
    """The notebook parameters of one rep's report (``data`` as an absolute path)."""
    return check_parameters(
        {
            "data": str(Path(data).resolve()) if data else None,
            "rep_id": str(rep_id),
            "period": str(period),
            "static": True,
        }
    )


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"html,ipynb,pdf"`` (or a sequence) -> the known formats asked for, in canonical order.

    >>> parse_formats("pdf, html")
    ('html', 'pdf')
    """
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    wanted = {str(f).strip().lower() for f in items if str(f).strip()}
    unknown = sorted(wanted - set(FORMATS))
    if unknown or not wanted:
        raise ReportError(
            f"--format {','.join(unknown) or '(nothing)'} is not supported; "
            f"give one or more of {', '.join(FORMATS)} separated by commas"
        )
    return tuple(f for f in FORMATS if f in wanted)


# -- outputs -----------------------------------------------------------------------------------


def output_paths(out: Path, stem: str) -> dict[str, Path]:
    """Where each format of a rep's report goes, and its kept failed notebook (``failed``)."""
    return {
        "html": out / f"{stem}.html",
        "ipynb": out / f"{stem}.ipynb",
        "pdf": out / f"{stem}.pdf",
        "failed": out / f"{stem}.failed.ipynb",
    }


def temp_path(folder: Path, name: str) -> Path:
    """A new hidden temporary file beside its final ``name`` (same file system: atomic rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{Path(name).stem}-", suffix=Path(name).suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: a reader (or an
    interrupted run) never sees a half-written file, and the temporary file never stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path.parent, path.name)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(
    nb: NotebookNode,
    out: Path,
    stem: str,
    *,
    formats: Iterable[str] = DEFAULT_FORMATS,
    metadata: Mapping[str, Any] | None = None,
    pdf_timeout: float = 120,
) -> dict[str, Path]:
    """Write an executed report notebook in ``formats``: ``<stem>.ipynb``, ``.pdf``, ``.html``.

    ``metadata`` becomes ``nb.metadata["kpikit"]`` (the report header). Each file is
    written atomically; the HTML comes last, so a report whose HTML exists is complete.
    A stale failed notebook of the rep is removed. Returns the written paths by format.
    """
    import nbformat

    from kpikit.render import export_html

    formats = tuple(formats)
    paths = output_paths(out, stem)
    if metadata is not None:
        nb.metadata["kpikit"] = dict(metadata)
    if "papermill" in nb.metadata:
        nb.metadata["papermill"]["output_path"] = str(paths["ipynb"]) if "ipynb" in formats else None
    written: dict[str, Path] = {}
    if "ipynb" in formats:
        write_atomic(paths["ipynb"], nbformat.writes(nb))
        written["ipynb"] = paths["ipynb"]
    page = export_html(nb)
    if "pdf" in formats:
        tmp_html = temp_path(out, f"{stem}.html")
        try:
            tmp_html.write_text(page, encoding="utf-8")
            html_to_pdf(tmp_html, paths["pdf"], timeout=pdf_timeout)
        finally:
            tmp_html.unlink(missing_ok=True)
        written["pdf"] = paths["pdf"]
    if "html" in formats:
        write_atomic(paths["html"], page)
        written["html"] = paths["html"]
    paths["failed"].unlink(missing_ok=True)
    return written


def remove_outputs(out: Path, stem: str) -> None:
    """Remove a rep's published files (its HTML, PDF and notebook), e.g. after a failed rerun."""
    paths = output_paths(out, stem)
    for kind in ("html", "pdf", "ipynb"):
        paths[kind].unlink(missing_ok=True)


def keep_failed(nb: NotebookNode | None, out: Path, stem: str, tmp: Path | None = None) -> Path | None:
    """Keep a failed run's notebook as ``<stem>.failed.ipynb`` (from ``tmp`` when papermill
    wrote it there, else from ``nb``); the rep's published files are removed."""
    import nbformat

    remove_outputs(out, stem)
    target = output_paths(out, stem)["failed"]
    if tmp is not None and tmp.exists() and tmp.stat().st_size > 0:
        os.replace(tmp, target)
        return target
    if nb is not None:
        write_atomic(target, nbformat.writes(nb))
        return target
    return None


# -- PDF ---------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """The headless browser used for PDF output: ``$KPIKIT_CHROMIUM`` or the first of
    :data:`CHROMIUM_NAMES` on the PATH (None when there is none)."""
    explicit = os.environ.get("KPIKIT_CHROMIUM")
    if explicit:
        return shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """:func:`find_chromium`, or a clear error saying how to install it."""
    found = find_chromium()
    if found is None:
        raise ReportError(
            "pdf needs chromium: apt-get install chromium (headless Chromium prints the HTML "
            "report offline; or set KPIKIT_CHROMIUM to a Chrome/Chromium binary), "
            "or leave pdf out of --format"
        )
    return found


def html_to_pdf(html_path: Path, pdf_path: Path, *, timeout: float = 120) -> Path:
    """Print a self-contained HTML report to PDF with headless Chromium, offline.

    The page loads nothing (the report is self-contained) and Chromium gets a throwaway
    profile with background networking off. The PDF is written atomically.
    """
    binary = require_chromium()
    pdf_path = Path(pdf_path)
    tmp_pdf = temp_path(pdf_path.parent, pdf_path.name)
    profile = tempfile.mkdtemp(prefix="kpikit-chromium-")
    cmd = [
        binary,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={tmp_pdf}",
        Path(html_path).resolve().as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0 or tmp_pdf.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise ReportError(f"chromium could not print {html_path.name} to PDF: {tail[0][:300]}")
        os.replace(tmp_pdf, pdf_path)
    except subprocess.TimeoutExpired:
        raise ReportError(f"chromium took more than {timeout:.0f} s to print {html_path.name}") from None
    finally:
        tmp_pdf.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    return pdf_path


# -- one rep, a fresh kernel ---------------------------------------------------------------------


@dataclass
class RenderedReport:
    rep_id: str
    html: Path | None
    notebook: Path | None


def render_rep_report(
    data: str | Path | None,
    rep_id: str,
    period: str,
    out_dir: str | Path,
    *,
    timeout: int = 600,
    kernel_name: str = "python3",
    formats: Iterable[str] = DEFAULT_FORMATS,
) -> RenderedReport:
    """Execute the coaching notebook for one rep and write ``<rep>.ipynb`` and ``<rep>.html``.

    Files are written atomically (a temporary file renamed into place). The
    executed notebook is kept even when execution fails (for debugging, as
    ``<rep>.failed.ipynb``); the HTML is only written for a successful run.
    For many reps use :func:`kpikit.batch.run_batch`, which reuses kernels.
    """
    import papermill as pm

    from kpikit import report
    from kpikit.demo import open_dataset

    formats = parse_formats(formats)
    if "pdf" in formats:
        require_chromium()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = rep_parameters(data, rep_id, period)
    ds = open_dataset(data)
    meta = report.header_metadata(ds, rep_id, period)
    name = safe_name(rep_id)
    tmp_nb = temp_path(out, f"{name}.ipynb")
    try:
        try:
            nb = pm.execute_notebook(
                str(notebook_path(REP_NOTEBOOK)),
                str(tmp_nb),
                parameters=params,
                kernel_name=kernel_name,
                progress_bar=False,
                execution_timeout=timeout,
                cwd=str(NOTEBOOKS_DIR),
            )
        except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
            failed = keep_failed(None, out, name, tmp_nb)
            raise ReportError(
                f"the report for {rep_id} failed: {_first_line(exc)} (the failed notebook is {failed})"
            ) from exc
        written = publish(nb, out, name, formats=formats, metadata=meta)
    finally:
        tmp_nb.unlink(missing_ok=True)
    return RenderedReport(rep_id, written.get("html"), written.get("ipynb"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    for line in reversed(text):
        if line.strip() and not line.startswith("-"):
            return line.strip()[:300]
    return type(exc).__name__
