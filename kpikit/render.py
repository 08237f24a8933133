"""Render an executed kpikit notebook to a self-contained HTML report.

The report is what a rep reads: the notebook's markdown and outputs (tables,
static SVG charts, text) without code, prompts, parameter cells or anything
interactive, under a header with the report's title, the rep, the period and
the data date, in one HTML file that loads nothing from anywhere (no CDN
script, no web font, no linked stylesheet) and prints cleanly.

The page comes from the nbconvert template ``templates/kpikit_report/``
(it extends nbconvert's ``lab`` cell rendering). nbconvert is given the
template folder's absolute path (:data:`TEMPLATES_DIR`), so the working
directory never matters.

Three steps, each usable on its own:

* :func:`strip_notebook` returns a reader-only copy of a notebook;
* :func:`export_html` renders it (and writes the file atomically);
* :func:`assert_offline` checks that an HTML page references nothing outside
  itself.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html as html_lib
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Mapping
from html.parser import HTMLParser
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import nbformat
import pandas as pd
from nbconvert import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters import DataTypeFilter, Highlight2HTML
from nbformat import NotebookNode

from kpikit._version import __version__
from kpikit.errors import KpikitError

__all__ = [
    "REMOVE_CELL_TAGS",
    "TEMPLATE_NAME",
    "TEMPLATES_DIR",
    "OfflineReportError",
    "RenderError",
    "ReportContentWarning",
    "assert_offline",
    "export_html",
    "html_exporter",
    "strip_notebook",
]

TEMPLATE_NAME = "kpikit_report"
"""Name of the nbconvert template folder inside :data:`TEMPLATES_DIR`."""

REMOVE_CELL_TAGS = frozenset(
    {"remove", "remove-cell", "remove_cell", "parameters", "injected-parameters"}
)
"""Cells carrying any of these tags never reach the report (papermill tags its
parameter cells ``parameters`` and ``injected-parameters``)."""

# Outputs that need a live kernel or JavaScript: dropped from an output when a
# static representation of the same output exists.
_INTERACTIVE_PREFIXES = (
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.vegalite",
    "application/vnd.vega",
    "application/javascript",
)
_STATIC_MIMETYPES = (
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/latex",
    "text/plain",
)


def _find_templates_dir() -> Path:
    """The folder holding ``kpikit_report/``.

    The canonical copy is the repository's ``templates/`` (found from this
    file, so an editable install and a source checkout use it); a wheel that
    ships the template as package data under ``kpikit/templates/`` is the
    fallback.
    """
    repo = Path(__file__).resolve().parents[1] / "templates"
    if (repo / TEMPLATE_NAME / "index.html.j2").is_file():
        return repo
    packaged = importlib_resources.files("kpikit") / "templates"
    if isinstance(packaged, Path) and (packaged / TEMPLATE_NAME / "index.html.j2").is_file():
        return packaged.resolve()
    return repo  # html_exporter() says it is missing


TEMPLATES_DIR: Path = _find_templates_dir()
"""Absolute path of the folder that holds the ``kpikit_report`` template."""


class RenderError(KpikitError):
    """A notebook cannot be rendered to a report (unreadable file, missing template)."""


class OfflineReportError(RenderError):
    """A report's HTML references something outside the file.

    ``references`` lists each offending reference as ``"line N: <tag attr=...>"``.
    """

    def __init__(self, references: list[str] | tuple[str, ...]):
        self.references = tuple(references)
        listed = "\n".join(f"  - {ref}" for ref in self.references)
        super().__init__(
            f"report HTML is not self-contained: {len(self.references)} reference(s) to "
            f"resources outside the file:\n{listed}\n"
            "A report must open offline: embed images as data: URIs, put CSS in an inline "
            "<style>, and drop scripts and links (use the kpikit_report template)."
        )


class ReportContentWarning(UserWarning):
    """Interactive output (a widget, a Vega spec, JavaScript) lost its content in the report.

    Raised when such an output had no static representation (it is left out)
    or only its ``text/plain`` fallback (that text is shown instead).
    """


# ---------------------------------------------------------------------------
# The reader-only notebook


def strip_notebook(nb: NotebookNode, *, metadata: Mapping[str, Any] | None = None) -> NotebookNode:
    """Return a copy of ``nb`` holding only what a reader should see.

    On a deep copy (``nb`` itself is never modified):

    * cells tagged with any of :data:`REMOVE_CELL_TAGS` are dropped;
    * ``metadata.widgets`` (saved widget state) is dropped;
    * in each output, widget views, Vega/Vega-Lite specs and JavaScript are
      dropped when a static representation (SVG, PNG, JPEG, HTML, Markdown,
      LaTeX or text) is there too; an output with nothing static left is
      dropped. Both that and an output left with only its ``text/plain``
      fallback (``IntSlider(value=3)``, ``alt.Chart(...)``) raise a
      :class:`ReportContentWarning`, since the reader misses the content;
    * ``stderr`` streams (warnings, logging) are dropped: they are for the
      notebook's author, and stay in the executed ``.ipynb``;
    * code cells left without outputs are dropped (their code is never shown);
    * plain ``<td>`` cells of HTML tables whose text is not a number get the
      class ``kp-text`` so the stylesheet right-aligns numbers only;
    * ``metadata["kpikit"]`` becomes the notebook's ``kpikit`` metadata
      updated with ``metadata``, without empty values, every value a string.

    Parameters
    ----------
    nb : NotebookNode
        An nbformat v4 notebook.
    metadata : mapping, optional
        Header values (``title``, ``rep_name``, ``period``, ``data_date``,
        ``kpikit_version``, ``generated_at``) that override the notebook's.

    Returns
    -------
    NotebookNode
        The reader-only copy.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
    >>> params = new_code_cell("rep_id = 'R001'", metadata={"tags": ["parameters"]})
    >>> nb = new_notebook(cells=[params, new_markdown_cell("## Pipeline")])
    >>> [c.cell_type for c in strip_notebook(nb).cells], len(nb.cells)
    (['markdown'], 2)
    """
    out = copy.deepcopy(nb)
    out.metadata.pop("widgets", None)
    out.metadata["kpikit"] = _report_metadata(nb.metadata.get("kpikit"), metadata)

    kept = []
    for index, cell in enumerate(out.cells):
        tags = cell.get("metadata", {}).get("tags") or []
        if REMOVE_CELL_TAGS.intersection(tags):
            continue
        if cell.cell_type == "code":
            cell.outputs = _reader_outputs(cell.get("outputs", []), index)
            if not cell.outputs:
                continue
        kept.append(cell)
    out.cells = kept
    return out


def _report_metadata(from_notebook: Any, override: Mapping[str, Any] | None) -> NotebookNode:
    if from_notebook is None:
        from_notebook = {}
    if not isinstance(from_notebook, Mapping):
        raise RenderError(
            f"notebook metadata 'kpikit' must be a mapping of header values "
            f"(title, rep_name, period, data_date, kpikit_version), got "
            f"{type(from_notebook).__name__}: {from_notebook!r}"
        )
    if override is not None and not isinstance(override, Mapping):
        raise TypeError(f"metadata= must be a mapping, got {type(override).__name__}")
    merged = {**from_notebook, **(override or {})}
    clean = {}
    for key, value in merged.items():
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            continue  # None, NaN, NaT, pd.NA: missing, not the text "nan"
        text = str(value).strip()
        if text:
            clean[str(key)] = text
    return NotebookNode(clean)


def _reader_outputs(outputs: list, cell_index: int) -> list:
    kept = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stderr":
            continue
        if kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            interactive = [m for m in data if m.startswith(_INTERACTIVE_PREFIXES)]
            if interactive:
                for mimetype in interactive:
                    del data[mimetype]
                static = [m for m in _STATIC_MIMETYPES if m in data]
                if not static or static == ["text/plain"]:
                    shown = "left out of" if not static else "shown as its text fallback in"
                    warnings.warn(
                        f"cell {cell_index + 1} (counting from 1): interactive output "
                        f"({', '.join(sorted(interactive))}) {shown} the report; "
                        "display a static version (SVG, PNG or HTML) instead",
                        ReportContentWarning,
                        stacklevel=3,
                    )
                if not static:
                    continue
                output.metadata = NotebookNode(
                    {k: v for k, v in output.get("metadata", {}).items() if k not in interactive}
                )
            if "<table" in data.get("text/html", ""):
                data["text/html"] = _mark_text_cells(data["text/html"])
        kept.append(output)
    return kept


_PLAIN_TD = re.compile(r"<td>([^<]*)</td>")
_NUMBERISH = re.compile(
    r"""^[(+\-\u2212\u2013]?\s*[$\u20ac\u00a3\u00a5]?\s*
        (?:\d[\d,.\u202f\u00a0 ]*|\.\d+)
        \s*(?:%|pp|[kKMB]|[xX\u00d7])?\s*[$\u20ac\u00a3\u00a5]?\s*\)?$""",
    re.VERBOSE,
)
_MISSING = {"", "nan", "n/a", "<na>", "nat", "none", "-", "\u2013", "\u2014", "inf", "-inf"}


def _mark_text_cells(table_html: str) -> str:
    """Give plain ``<td>`` cells that hold text (not a number) the class ``kp-text``."""

    def mark(match: re.Match[str]) -> str:
        text = html_lib.unescape(match[1]).strip()
        if text.lower() in _MISSING or _NUMBERISH.match(text):
            return match[0]
        return f'<td class="kp-text">{match[1]}</td>'

    return _PLAIN_TD.sub(mark, table_html)


# ---------------------------------------------------------------------------
# The exporter

_local = threading.local()


def html_exporter() -> HTMLExporter:
    """Return this thread's configured nbconvert ``HTMLExporter`` for reports.

    It is built once (template lookup, Jinja environment, preprocessors) and
    reused, so rendering one more notebook costs a few tens of milliseconds.
    The exporter is not thread-safe; each thread gets its own. Do not change
    its configuration: build your own ``HTMLExporter`` for other output.

    Settings: the ``kpikit_report`` template from :data:`TEMPLATES_DIR`
    (absolute path), no code input, no prompts, no heading anchor links,
    local markdown images embedded, and display priority limited to static
    mimetypes.

    Raises
    ------
    RenderError
        When the template folder is missing.

    Examples
    --------
    >>> html_exporter() is html_exporter()
    True
    """
    exporter = getattr(_local, "exporter", None)
    if exporter is None:
        exporter = _local.exporter = _new_exporter()
    return exporter


class _ReportExporter(HTMLExporter):
    """``HTMLExporter`` without its BeautifulSoup pass.

    ``HTMLExporter.from_notebook_node`` re-parses the whole rendered page to
    add ``alt`` text to images and ``tabindex`` to input areas. The report
    template writes ``alt`` itself and has no input areas, and that re-parse
    costs more than rendering the page, so this exporter renders with
    ``TemplateExporter.from_notebook_node`` directly. The two filters
    ``HTMLExporter`` registers on every call are registered once instead:
    ``filter_data_type`` picks the first mimetype of the (static-only)
    display priority, ``highlight_code`` is referenced by the lab input block
    (never rendered here) and must exist for the template to compile.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.register_filter("filter_data_type", DataTypeFilter(parent=self))
        self.register_filter("highlight_code", Highlight2HTML(parent=self))

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        resources = self._init_resources(resources)
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)


def _new_exporter() -> HTMLExporter:
    from traitlets.config import Config

    template_dir = TEMPLATES_DIR / TEMPLATE_NAME
    if not (template_dir / "index.html.j2").is_file():
        raise RenderError(
            f"report template not found: {template_dir / 'index.html.j2'} is missing. "
            "kpikit looks for templates/kpikit_report/ next to the kpikit package "
            "(a source checkout or `pip install -e .`) or under kpikit/templates/ "
            "in an installed wheel; reinstall kpikit from its repository."
        )
    config = Config()
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES_DIR)]
    config.HTMLExporter.template_name = TEMPLATE_NAME
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.exclude_anchor_links = True
    config.HTMLExporter.embed_images = True  # local markdown images become data: URIs
    config.NbConvertBase.display_data_priority = list(_STATIC_MIMETYPES)
    # Validate the notebook once after the preprocessors, not after each one
    # (twelve full validations cost more than the rendering).
    config.HTMLExporter.optimistic_validation = True
    # strip_notebook() already did what these do, and nothing here shows code
    # or needs its highlighting CSS.
    for name in (
        "TagRemovePreprocessor",
        "RegexRemovePreprocessor",
        "HighlightMagicsPreprocessor",
        "CSSHTMLHeaderPreprocessor",
    ):
        config[name].enabled = False
    return _ReportExporter(config=config)


def _read_notebook(path: Path) -> NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise RenderError(f"notebook not found: {path}") from None
    except (OSError, ValueError) as exc:  # NotJSONError is a ValueError
        raise RenderError(
            f"cannot read notebook {path}: {exc}. Expected a Jupyter .ipynb file "
            "(nbformat 4), such as the one papermill writes."
        ) from None


def export_html(
    nb: NotebookNode | str | Path,
    out_path: str | Path | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """Render a notebook to the report's self-contained HTML.

    The notebook is stripped with :func:`strip_notebook` (on a copy) and
    rendered with :func:`html_exporter`. When ``out_path`` is given the HTML
    is also written there atomically: to a temporary file in the same folder,
    then ``os.replace``, so a reader never sees a half-written report.

    Parameters
    ----------
    nb : NotebookNode, str or Path
        A notebook object, or the path of an ``.ipynb`` file.
    out_path : str or Path, optional
        Where to write the HTML (parent folders are created).
    metadata : mapping, optional
        Header values that override ``nb.metadata["kpikit"]``: ``title``,
        ``rep_name``, ``period``, ``data_date``, ``kpikit_version``,
        ``generated_at``. Missing ones are left out of the header; the footer
        falls back to the running kpikit version.

    Returns
    -------
    str
        The HTML.

    Raises
    ------
    RenderError
        When the notebook file cannot be read or the template is missing.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_markdown_cell
    >>> nb = new_notebook(cells=[new_markdown_cell("## Your month")])
    >>> page = export_html(nb, metadata={"rep_name": "Ana Ruiz", "period": "2026-03"})
    >>> "Ana Ruiz" in page and "<script" not in page
    True
    """
    resources: dict[str, Any] = {"kpikit_version": __version__}
    if isinstance(nb, (str, Path)):
        path = Path(nb).resolve()
        nb = _read_notebook(path)
        # markdown images like ![](img/logo.png) are embedded from beside the notebook
        resources["metadata"] = {"name": path.stem, "path": str(path.parent)}
    elif isinstance(nb, Mapping) and not isinstance(nb, NotebookNode):
        nb = nbformat.from_dict(nb)
    reader_nb = strip_notebook(nb, metadata=metadata)
    page, _ = html_exporter().from_notebook_node(reader_nb, resources=resources)
    if out_path is not None:
        _write_atomic(Path(out_path), page)
    return page


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # a report is for reading (mkstemp makes it private)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------
# Offline check

# Attributes whose value is a URL the browser loads or navigates to.
_URL_ATTRS = frozenset(
    {
        "src",
        "href",
        "xlink:href",
        "srcset",
        "imagesrcset",
        "poster",
        "data",
        "action",
        "formaction",
        "background",
        "manifest",
        "ping",
        "longdesc",
        "codebase",
        "archive",
    }
)
_CSS_URL = re.compile(r"""url\(\s*(?P<q>['"]?)(?P<url>.*?)(?P=q)\s*\)""", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"""@import\s+(?!url\()(?P<q>['"])(?P<url>.*?)(?P=q)""", re.IGNORECASE)
_META_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?(?P<url>[^'\";]+)", re.IGNORECASE)
_EMBEDDED_SVG = re.compile(r"^data:image/svg\+xml(?P<b64>;base64)?,(?P<payload>.*)$", re.DOTALL)


def _is_embedded(url: str) -> bool:
    """True when ``url`` points inside the document: a fragment or a ``data:`` URI."""
    value = url.strip()
    return value == "" or value.startswith("#") or value.lower().startswith("data:")


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_refresh(attrs: list[tuple[str, str | None]]) -> bool:
    return any(k.lower() == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs)


class _ReferenceFinder(HTMLParser):
    def __init__(self, where: str = ""):
        super().__init__(convert_charrefs=True)
        self.where = where
        self.found: list[str] = []
        self._in_style = False

    def _add(self, what: str) -> None:
        line, _ = self.getpos()
        self.found.append(f"{self.where}line {line}: {_short(what)}")

    def _check_css(self, css: str, context: str) -> None:
        for match in _CSS_URL.finditer(css):
            if not _is_embedded(match["url"]):
                self._add(f"{context} url({match['url']})")
        for match in _CSS_IMPORT.finditer(css):
            if not _is_embedded(match["url"]):
                self._add(f"{context} @import {match['url']!r}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            name = name.lower()
            if name in _URL_ATTRS and not _is_embedded(value):
                self._add(f'<{tag} {name}="{value}">')
            elif name in _URL_ATTRS:
                self._check_embedded_svg(value)
            elif name == "style":
                self._check_css(value, f"<{tag} style>")
            elif name == "content" and tag == "meta" and _is_refresh(attrs):
                match = _META_REFRESH_URL.search(value)
                if match and not _is_embedded(match["url"]):
                    self._add(f'<meta http-equiv="refresh" content="{value}">')

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._check_css(data, "<style>")

    def _check_embedded_svg(self, value: str) -> None:
        match = _EMBEDDED_SVG.match(value.strip())
        if not match:
            return
        try:
            if match["b64"]:
                svg = base64.b64decode(match["payload"], validate=False).decode("utf-8", "replace")
            else:
                svg = unquote(match["payload"])
        except (binascii.Error, ValueError):
            return
        line, _ = self.getpos()
        inner = _ReferenceFinder(where=f"{self.where}line {line}, embedded SVG image, ")
        inner.feed(svg)
        inner.close()
        self.found.extend(inner.found)


def assert_offline(html: str) -> None:
    """Raise :class:`OfflineReportError` if ``html`` loads or links anything outside itself.

    Checked: every URL-valued attribute (``src``, ``href``, ``xlink:href``,
    ``srcset``, ``poster``, ``data``, ``action``, ...), CSS ``url(...)`` and
    ``@import`` in ``<style>`` blocks and ``style`` attributes, meta refresh,
    and the same inside SVG images embedded as ``data:`` URIs. Allowed values
    are ``data:`` URIs and ``#fragment`` links; everything else is reported:
    ``http(s)://`` and protocol-relative ``//`` URLs, but also relative paths
    (a file next to the report is not in the email) and plain ``<a href>``
    links out. Namespace declarations such as
    ``xmlns="http://www.w3.org/2000/svg"`` load nothing and are fine.

    Parameters
    ----------
    html : str
        A whole HTML page.

    Raises
    ------
    OfflineReportError
        Listing every offending reference with its line number.

    Examples
    --------
    >>> assert_offline('<svg xmlns="http://www.w3.org/2000/svg"></svg><a href="#top">top</a>')
    >>> assert_offline('<script src="https://cdn.example.org/require.js"></script>')
    Traceback (most recent call last):
    ...
    kpikit.render.OfflineReportError: report HTML is not self-contained: 1 reference(s) ...
    """
    finder = _ReferenceFinder()
    finder.feed(html)
    finder.close()
    if finder.found:
        raise OfflineReportError(finder.found)
