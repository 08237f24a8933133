"""The HTML report: self-contained, no code, no parameters, a header from metadata."""

import base64
import os
import re
import threading
import warnings

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import kpikit
from kpikit.errors import KpikitError
from kpikit.render import (
    TEMPLATE_NAME,
    TEMPLATES_DIR,
    OfflineReportError,
    RenderError,
    ReportContentWarning,
    assert_offline,
    export_html,
    html_exporter,
    strip_notebook,
)

# Distinctive strings: each one appears in exactly one place of the notebook,
# so finding it (or not) in the HTML says which part was rendered.
CODE_SOURCE = "make_activity_chart(rep_id_SOURCE_MARKER)"
DEFAULT_PARAM = "rep_id = 'DEFAULT_PARAM_MARKER'"
INJECTED_PARAM = "rep_id = 'INJECTED_PARAM_MARKER'"
REMOVED_SOURCE = "debug_dump()  # REMOVED_SOURCE_MARKER"
REMOVED_OUTPUT = "REMOVED_OUTPUT_MARKER"
WIDGET_FALLBACK = "IntSlider(value=3, WIDGET_FALLBACK_MARKER)"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80">'
    '<rect x="5" y="5" width="90" height="70" fill="#1c5d99"/>'
    '<text x="100" y="40">SVG_CHART_MARKER</text></svg>'
)
META = {
    "title": "Monthly coaching report",
    "rep_name": "Ana Ruiz",
    "period": "2026-03",
    "data_date": "2026-04-02",
    "kpikit_version": "9.8.7",
    "generated_at": "2026-04-03 08:15",
}


def _frame_html() -> str:
    frame = pd.DataFrame(
        {"team": ["North", "South"], "calls": [120, 98], "win rate": ["31.2%", "n/a"]},
        index=pd.Index(["Ana Ruiz", "Bo Chen"], name="rep"),
    )
    return frame._repr_html_()


def _notebook(metadata: dict | None = None) -> nbformat.NotebookNode:
    """A papermill-executed notebook in miniature: every kind of cell the report meets."""
    widget_view = {"model_id": "m1", "version_major": 2, "version_minor": 0}
    cells = [
        new_code_cell(DEFAULT_PARAM, metadata={"tags": ["parameters"]}),
        new_code_cell(
            INJECTED_PARAM,
            metadata={"tags": ["injected-parameters"]},
            outputs=[new_output("stream", name="stdout", text="INJECTED_OUTPUT_MARKER")],
        ),
        new_markdown_cell("## Activity\n\nYou made **438 calls** this month."),
        new_code_cell(
            CODE_SOURCE,
            execution_count=3,
            outputs=[
                new_output("display_data", data={"image/svg+xml": SVG, "text/plain": "<Chart>"})
            ],
        ),
        new_code_cell(
            "summary_table",
            execution_count=4,
            outputs=[
                new_output(
                    "execute_result",
                    data={"text/html": _frame_html(), "text/plain": "frame"},
                    execution_count=4,
                )
            ],
        ),
        new_code_cell(
            "slider",
            execution_count=5,
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "application/vnd.jupyter.widget-view+json": widget_view,
                        "text/plain": WIDGET_FALLBACK,
                    },
                )
            ],
        ),
        new_code_cell(
            REMOVED_SOURCE,
            metadata={"tags": ["remove"]},
            execution_count=6,
            outputs=[new_output("stream", name="stdout", text=REMOVED_OUTPUT)],
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kpikit"] = dict(META if metadata is None else metadata)
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m1": {"model_name": "IntSliderModel", "state": {"value": 3}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nb


def _export(nb, **kw) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportContentWarning)  # the widget's text fallback
        return export_html(nb, **kw)


@pytest.fixture(scope="module")
def page() -> str:
    return _export(_notebook())


def _header(page: str) -> str:
    match = re.search(r'<header class="kp-header">(.*?)</header>', page, re.DOTALL)
    assert match, "no report header"
    return match[1]


# --- what a reader must not see ---------------------------------------------


def test_report_shows_no_code_input(page):
    assert "SOURCE_MARKER" not in page
    assert "summary_table" not in page


def test_report_shows_no_prompts(page):
    for prompt in ("In [", "In&nbsp;[", "Out[", "jp-InputPrompt", "jp-OutputPrompt"):
        assert prompt not in page


def test_parameter_cells_are_absent(page):
    # papermill's default parameters cell and its injected cell, source and output
    assert "DEFAULT_PARAM_MARKER" not in page
    assert "INJECTED_PARAM_MARKER" not in page
    assert "INJECTED_OUTPUT_MARKER" not in page


def test_cells_tagged_remove_are_absent(page):
    assert "REMOVED_SOURCE_MARKER" not in page
    assert REMOVED_OUTPUT not in page


def test_template_alone_hides_code_prompts_and_tagged_cells():
    # A plain exporter with only the template, no exclude_* flags and no
    # strip_notebook (as `jupyter nbconvert --template kpikit_report` would run):
    # the template itself drops tagged cells and never shows code or scripts.
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)]
    )
    page, _ = exporter.from_notebook_node(_notebook())
    assert "INJECTED_OUTPUT_MARKER" not in page
    assert REMOVED_OUTPUT not in page
    assert "SOURCE_MARKER" not in page
    assert "In&nbsp;[" not in page and "Out[" not in page
    assert "<script" not in page
    assert "data:image/svg+xml;base64," in page  # the chart is there


def test_report_has_no_scripts_and_no_stylesheet_links(page):
    assert "<script" not in page
    assert "<link" not in page
    assert "require" not in page.lower()
    assert "mathjax" not in page.lower()
    assert "mermaid" not in page.lower()
    assert "unpkg" not in page and "googleapis" not in page


def test_widget_state_is_not_embedded(page):
    assert "widget-state" not in page
    assert "widget-view" not in page
    assert "IntSliderModel" not in page


def test_stderr_streams_are_dropped():
    nb = new_notebook(
        cells=[
            new_code_cell(
                "x",
                outputs=[
                    new_output("stream", name="stdout", text="STDOUT_MARKER"),
                    new_output("stream", name="stderr", text="FutureWarning: STDERR_MARKER"),
                ],
            )
        ]
    )
    page = export_html(nb)
    assert "STDOUT_MARKER" in page
    assert "STDERR_MARKER" not in page


# --- what a reader sees ------------------------------------------------------


def test_header_shows_title_rep_period_data_date_and_version(page):
    header = _header(page)
    assert '<h1 class="kp-title">Monthly coaching report</h1>' in header
    assert "<dt>Rep</dt><dd>Ana Ruiz</dd>" in header
    assert "<dt>Period</dt><dd>2026-03</dd>" in header
    assert "<dt>Data as of</dt><dd>2026-04-02</dd>" in header
    assert "<dt>kpikit</dt><dd>9.8.7</dd>" in header
    assert "<title>Monthly coaching report · Ana Ruiz · 2026-03</title>" in page


def test_footer_names_the_kpikit_version_and_generation_time(page):
    assert "Generated by kpikit 9.8.7 on 2026-04-03 08:15" in page


def test_footer_falls_back_to_the_running_kpikit_version():
    page = _export(_notebook(metadata={"rep_name": "Ana Ruiz"}))
    assert f"Generated by kpikit {kpikit.__version__}</p>" in page


def test_missing_header_keys_are_omitted():
    page = _export(_notebook(metadata={"rep_name": "Ana Ruiz", "data_date": None}))
    header = _header(page)
    assert "<dd>Ana Ruiz</dd>" in header
    for label in ("Period", "Data as of", "kpikit</dt>", "kp-title"):
        assert label not in header
    assert "None" not in header


def test_missing_values_are_dropped_but_a_rep_named_nan_is_kept():
    page = _export(
        _notebook(metadata={"rep_name": "Nan", "period": float("nan")}),
        metadata={"data_date": pd.NaT},
    )
    header = _header(page)
    assert "<dd>Nan</dd>" in header
    assert "Period" not in header and "Data as of" not in header


def test_no_header_without_report_metadata():
    page = _export(_notebook(metadata={}))
    assert 'class="kp-header"' not in page
    assert "<title>kpikit report</title>" in page


def test_metadata_argument_overrides_the_notebook_metadata():
    page = _export(_notebook(), metadata={"rep_name": "Bo Chen", "period": "2026-Q1"})
    header = _header(page)
    assert "<dd>Bo Chen</dd>" in header and "Ana Ruiz" not in header
    assert "<dd>2026-Q1</dd>" in header
    assert "<dd>2026-04-02</dd>" in header  # data_date kept from the notebook


def test_hostile_metadata_is_escaped():
    hostile = "<script>alert(1)</script>"
    page = _export(
        _notebook(metadata={"title": hostile, "rep_name": hostile, "period": '"><img src=x>'})
    )
    assert "<script" not in page
    assert "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _header(page)
    assert "<title>&lt;script&gt;" in page


def test_svg_chart_is_embedded_as_a_data_uri(page):
    match = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="Chart">', page)
    assert match, "no embedded SVG chart"
    assert base64.b64decode(match[1]).decode() == SVG


def test_png_image_is_embedded_with_alt_text_and_size():
    png = base64.b64encode(b"\x89PNG fake bytes").decode()
    output = new_output(
        "display_data",
        data={"image/png": png, "text/plain": "<Figure>"},
        metadata={"image/png": {"width": 320}},
    )
    page = export_html(new_notebook(cells=[new_code_cell("fig", outputs=[output])]))
    assert f'<img src="data:image/png;base64,{png}" width="320" alt="Image">' in page
    assert "&lt;Figure&gt;" not in page  # the image wins over its text fallback


def test_dataframe_table_is_rendered_with_text_cells_marked(page):
    assert 'class="dataframe"' in page
    # numbers stay plain <td> (right-aligned by the stylesheet), text gets kp-text
    assert "<td>120</td>" in page and "<td>31.2%</td>" in page and "<td>n/a</td>" in page
    assert '<td class="kp-text">North</td>' in page


def test_widget_output_falls_back_to_its_text_with_a_warning():
    with pytest.warns(ReportContentWarning, match="text fallback"):
        page = export_html(_notebook())
    assert WIDGET_FALLBACK in page


def test_vegalite_spec_is_dropped_when_an_svg_is_there():
    nb = new_notebook(
        cells=[
            new_code_cell(
                "chart",
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "application/vnd.vegalite.v5+json": {"mark": "VEGA_SPEC_MARKER"},
                            "image/svg+xml": SVG,
                        },
                    )
                ],
            )
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an SVG is a full static version: no warning
        page = export_html(nb)
    assert "VEGA_SPEC_MARKER" not in page
    assert "data:image/svg+xml;base64," in page


def test_javascript_only_output_is_dropped_with_a_warning():
    nb = new_notebook(
        cells=[
            new_markdown_cell("## Section"),
            new_code_cell(
                "js",
                outputs=[
                    new_output("display_data", data={"application/javascript": "JS_MARKER()"})
                ],
            ),
        ]
    )
    with pytest.warns(ReportContentWarning, match="left out"):
        page = export_html(nb)
    assert "JS_MARKER" not in page
    assert "kp-output-cell" not in page  # the cell had nothing left to show


def test_level_two_headings_start_print_sections(page):
    assert re.search(r'<div class="kp-cell kp-markdown kp-section">\s*<h2', page)


def test_report_passes_the_offline_check(page):
    assert_offline(page)


# --- the input is left alone ------------------------------------------------


def test_input_notebook_is_not_modified():
    nb = _notebook()
    before = nbformat.writes(nb)
    _export(nb, metadata={"rep_name": "Bo Chen"})
    assert nbformat.writes(nb) == before


def test_strip_notebook_keeps_only_reader_cells():
    with pytest.warns(ReportContentWarning):  # the widget's text fallback
        stripped = strip_notebook(_notebook())
    # markdown, chart, table, widget: the 2 parameter cells and the removed cell are gone
    assert [c.cell_type for c in stripped.cells] == ["markdown", "code", "code", "code"]
    assert "widgets" not in stripped.metadata
    assert stripped.metadata["kpikit"]["rep_name"] == "Ana Ruiz"


# --- files -------------------------------------------------------------------


def test_export_writes_the_file_atomically(tmp_path):
    out = tmp_path / "reports" / "R001.html"
    page = _export(_notebook(), out_path=out)
    assert out.read_text(encoding="utf-8") == page
    assert os.listdir(out.parent) == ["R001.html"]  # no temp file left behind


def test_export_replaces_an_existing_report(tmp_path):
    out = tmp_path / "R001.html"
    out.write_text("old report", encoding="utf-8")
    _export(_notebook(), out_path=out)
    assert "Ana Ruiz" in out.read_text(encoding="utf-8")
    assert os.listdir(tmp_path) == ["R001.html"]


def test_failed_write_keeps_the_old_report_and_leaves_no_temp_file(tmp_path, monkeypatch):
    out = tmp_path / "R001.html"
    out.write_text("old report", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _export(_notebook(), out_path=out)
    assert out.read_text(encoding="utf-8") == "old report"
    assert os.listdir(tmp_path) == ["R001.html"]


def test_export_reads_a_notebook_file(tmp_path):
    path = tmp_path / "R001.ipynb"
    nbformat.write(_notebook(), path)
    assert "<dd>Ana Ruiz</dd>" in _export(path)
    assert "<dd>Ana Ruiz</dd>" in _export(str(path))


def test_markdown_image_beside_the_notebook_file_is_embedded(tmp_path):
    # ![logo](logo.png) next to the .ipynb becomes a data: URI, so the page stays offline
    png = b"\x89PNG fake bytes"
    (tmp_path / "logo.png").write_bytes(png)
    path = tmp_path / "R001.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("![logo](logo.png)")]), path)
    page = export_html(path)
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert_offline(page)


def test_missing_notebook_file_is_a_clear_error(tmp_path):
    with pytest.raises(RenderError, match="notebook not found: .*nope.ipynb"):
        export_html(tmp_path / "nope.ipynb")


def test_unreadable_notebook_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RenderError, match="cannot read notebook .*broken.ipynb"):
        export_html(path)


def test_kpikit_metadata_must_be_a_mapping():
    nb = _notebook()
    nb.metadata["kpikit"] = "Ana Ruiz"
    with pytest.raises(RenderError, match="metadata 'kpikit' must be a mapping"):
        export_html(nb)


# --- the template is found by absolute path ----------------------------------


def test_templates_dir_is_absolute_and_holds_the_template():
    assert TEMPLATES_DIR.is_absolute()
    assert (TEMPLATES_DIR / TEMPLATE_NAME / "index.html.j2").is_file()
    assert html_exporter().extra_template_basedirs == [str(TEMPLATES_DIR)]


def test_exporter_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    # A new thread builds its own exporter: build it from an unrelated directory.
    monkeypatch.chdir(tmp_path)
    pages = []
    thread = threading.Thread(target=lambda: pages.append(_export(_notebook())))
    thread.start()
    thread.join()
    assert pages and "<dd>Ana Ruiz</dd>" in pages[0]


# --- assert_offline ----------------------------------------------------------

CDN_PAGE = """<!DOCTYPE html>
<html><head>
<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>
<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">
<style>body { background: url('http://example.com/bg.png'); }</style>
</head><body>
<a href="https://crm.example.com/rep/R001">your CRM page</a>
<img src="chart.png">
</body></html>
"""


def test_assert_offline_lists_every_external_reference_with_its_line():
    with pytest.raises(OfflineReportError) as caught:
        assert_offline(CDN_PAGE)
    refs = caught.value.references
    assert len(refs) == 5
    assert refs[0].startswith("line 3: <script src=") and "require.min.js" in refs[0]
    assert refs[1].startswith('line 4: <link href="//fonts.googleapis.com')
    assert refs[2] == "line 5: <style> url(http://example.com/bg.png)"
    assert refs[3].startswith('line 7: <a href="https://crm.example.com')
    assert refs[4] == 'line 8: <img src="chart.png">'  # relative file: not in the email
    message = str(caught.value)
    assert "not self-contained: 5 reference(s)" in message
    assert "require.min.js" in message
    assert isinstance(caught.value, KpikitError)


def test_assert_offline_accepts_namespaces_data_uris_and_fragments():
    assert_offline(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<rect style="clip-path: url(#c1)"/><use xlink:href="#bar"/></svg>'
        '<img src="data:image/png;base64,AAAA"><a href="#activity">Activity</a>'
    )


def test_assert_offline_looks_inside_embedded_svg_images():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://example.com/logo.png"/></svg>'
    )
    page = f'<p>\n<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'
    with pytest.raises(
        OfflineReportError, match="line 2, embedded SVG image, line 1: <image href="
    ):
        assert_offline(page)
