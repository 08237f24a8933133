"""Charts: marks and encodings, what data they embed, the theme's scope, static SVG."""

import json
import re
import subprocess
import sys

import altair as alt
import numpy as np
import pandas as pd
import pytest

from kpikit import plots
from kpikit.errors import KpikitError, MissingDataError

NAN = float("nan")
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# Another rep's id, put in an extra column and in the index: it must never reach a chart.
SECRET = "R-OTHER-0042"
SECRET_INDEX = "IDX-R-0099"

# ----------------------------------------------------------------------- fixtures
# Each chart's input as plain columns; the expected embedded rows are these
# columns zipped (NaN -> null), so the arithmetic is "nothing changed".

FUNNEL = {
    "stage": ["Lead", "SQL", "Meeting", "Won"],
    "count": [400, 120, 30, 6],
    "rate_to_next": [0.3, 0.25, 0.2, NAN],  # 120/400, 30/120, 6/30, last: none
    "is_leak": [False, True, False, False],
}
RATIOS = {
    "label": ["Win rate", "Lead to SQL", "Meetings held", "Calls"],
    "value": [0.32, 0.18, 14.0, 420.0],
    "ci_low": [0.2, 0.12, NAN, NAN],
    "ci_high": [0.46, 0.25, NAN, NAN],
    "peer_median": [0.28, NAN, 12.0, 380.0],  # Lead to SQL: peer group suppressed
    "peer_p25": [0.22, NAN, 9.0, 300.0],
    "peer_p75": [0.35, NAN, 16.0, 450.0],
    "unit": ["fraction", "fraction", "count", "count"],
}
TREND = {
    "period": ["2025-01", "2025-02", "2025-01", "2025-02"],
    "metric": ["Win rate", "Win rate", "Calls", "Calls"],
    "value": [0.2, 0.3, 300.0, 350.0],
    "peer_median": [0.22, 0.24, 320.0, 330.0],
    "unit": ["fraction", "fraction", "count", "count"],
}
PLAN = {
    "stage": ["Lead", "Meeting", "Won"],
    "required": [420.0, 64.0, 8.0],
    "p10": [350.0, 50.0, 8.0],
    "p90": [520.0, 80.0, 8.0],
    "per_day": [20.0, 3.0, 0.4],
}
PIPELINE = {
    "close_month": ["2025-04", "2025-04", "2025-05"],
    "stage": ["Meeting", "Proposal", "Proposal"],
    "amount": [35_000.0, 50_000.0, 30_000.0],
}
ATTAINMENT = {"attainment": [0.55, 0.8, 1.05, 1.3], "label": ["Ann", "Bo", "Cy", "Di"]}
CHANNELS = {
    "channel": ["Inbound", "Outbound", "Referral"],
    "revenue": [120_000.0, 300_000.0, 45_000.0],
}

# (function, its columns, keyword options)
CASES = {
    "funnel": (plots.funnel, FUNNEL, {}),
    "ratio_vs_peers": (plots.ratio_vs_peers, RATIOS, {}),
    "trend": (plots.trend, TREND, {}),
    "plan_chart": (plots.plan_chart, PLAN, {}),
    "pipeline_chart": (plots.pipeline_chart, PIPELINE, {"quota_gap": 80_000.0}),
    "attainment_distribution": (plots.attainment_distribution, ATTAINMENT, {"highlight": "Cy"}),
    "channel_bars": (plots.channel_bars, CHANNELS, {}),
}


def _frame(columns: dict, *, leaky: bool = False) -> pd.DataFrame:
    """The input frame; ``leaky`` adds another rep's id as a column and as the index."""
    frame = pd.DataFrame(columns)
    if leaky:
        n = len(frame)
        frame = frame.assign(rep_id=[SECRET] * n)
        frame.index = pd.Index([f"{SECRET_INDEX}-{i}" for i in range(n)], name="owner_id")
    return frame


def _records(columns: dict) -> list[dict]:
    """The rows Altair should embed: the columns zipped, NaN as None (JSON null)."""
    def null(v):
        return None if isinstance(v, float) and np.isnan(v) else v

    rows = zip(*columns.values(), strict=True)
    return [{k: null(v) for k, v in zip(columns, row, strict=True)} for row in rows]


def _datasets(spec: dict) -> list[list[dict]]:
    """Embedded datasets, without Altair's placeholder ``[{}]`` for data-less layers."""
    return [rows for rows in spec.get("datasets", {}).values() if rows != [{}]]


def _marks(spec: dict) -> list[str]:
    return [layer["mark"]["type"] for layer in spec["layer"]]


# ----------------------------------------------------------------------- privacy


@pytest.mark.parametrize("name", list(CASES))
def test_chart_embeds_exactly_the_given_rows_and_columns(name):
    func, columns, options = CASES[name]
    spec = func(_frame(columns, leaky=True), **options).to_dict()
    assert _datasets(spec) == [_records(columns)]


@pytest.mark.parametrize("name", list(CASES))
def test_chart_never_embeds_other_columns_or_the_index(name):
    func, columns, options = CASES[name]
    text = json.dumps(func(_frame(columns, leaky=True), **options).to_dict())
    assert "rep_id" not in text
    assert SECRET not in text
    assert SECRET_INDEX not in text
    assert "owner_id" not in text


@pytest.mark.parametrize("name", list(CASES))
def test_chart_spec_holds_no_url_but_the_schema(name):
    func, columns, options = CASES[name]
    spec = func(_frame(columns), **options).to_dict()
    del spec["$schema"]
    assert "http" not in json.dumps(spec)


def test_attainment_without_label_column_embeds_no_names():
    spec = plots.attainment_distribution(_frame(ATTAINMENT).drop(columns="label")).to_dict()
    assert _datasets(spec) == [[{"attainment": 0.55}, {"attainment": 0.8},
                                {"attainment": 1.05}, {"attainment": 1.3}]]


def test_chart_functions_do_not_mutate_their_input():
    frame = _frame(FUNNEL, leaky=True)
    before = frame.copy()
    plots.funnel(frame)
    pd.testing.assert_frame_equal(frame, before)


# ------------------------------------------------------------------------- theme


def test_importing_plots_does_not_enable_the_theme():
    # a fresh interpreter: the active theme before and after the import is the same
    code = (
        "import altair as alt; before = alt.theme.active; import kpikit.plots; "
        "print(before, alt.theme.active, 'kpikit' in alt.theme.names())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["default", "default", "True"]


def test_kpikit_theme_is_active_only_inside_the_with_block():
    before = alt.theme.active
    with plots.kpikit_theme():
        assert alt.theme.active == "kpikit"
    assert alt.theme.active == before


def test_kpikit_theme_is_restored_when_the_block_raises():
    before = alt.theme.active
    with pytest.raises(RuntimeError), plots.kpikit_theme():
        raise RuntimeError("boom")
    assert alt.theme.active == before


def test_calling_kpikit_theme_without_with_enables_nothing():
    before = alt.theme.active
    plots.kpikit_theme()
    assert alt.theme.active == before


def test_theme_sets_font_background_and_accent_only_when_enabled():
    chart = plots.channel_bars(_frame(CHANNELS))
    with plots.kpikit_theme():
        config = chart.to_dict()["config"]
    assert config["font"] == plots.FONT
    assert config["background"] == "white"
    assert config["mark"]["color"] == plots.ACCENT
    assert "font" not in chart.to_dict().get("config", {})


@pytest.mark.parametrize("name", list(CASES))
def test_building_a_chart_leaves_the_active_theme_alone(name):
    func, columns, options = CASES[name]
    before = alt.theme.active
    func(_frame(columns), **options)
    assert alt.theme.active == before


# -------------------------------------------------------------------- no data


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("empty", ["with_columns", "bare"])
def test_empty_frame_gives_a_no_data_chart(name, empty):
    func, columns, options = CASES[name]
    frame = _frame(columns).iloc[0:0] if empty == "with_columns" else pd.DataFrame()
    spec = func(frame, **options).to_dict()
    assert spec["mark"]["type"] == "text"
    assert spec["mark"]["text"].startswith("No ")
    assert spec["mark"]["text"].endswith(" data to show")
    assert _datasets(spec) == []


def test_no_data_chart_renders_its_message():
    assert "No funnel data to show" in plots.to_svg(plots.funnel(pd.DataFrame()))


def test_missing_column_names_it_and_the_expected_columns():
    frame = _frame(FUNNEL).drop(columns="is_leak")
    with pytest.raises(MissingDataError, match=r"funnel\(frame\) expects columns .*is_leak") as err:
        plots.funnel(frame)
    assert err.value.needs == ("is_leak",)


# ------------------------------------------------------------------------ funnel


def test_funnel_draws_stages_in_the_given_order_as_horizontal_bars():
    spec = plots.funnel(_frame(FUNNEL)).to_dict()
    assert _marks(spec) == ["bar", "text"]
    bars = spec["layer"][0]["encoding"]
    assert bars["y"] == {"field": "stage", "type": "nominal", "sort": FUNNEL["stage"],
                         "title": None}
    assert (bars["x"]["field"], bars["x"]["type"]) == ("count", "quantitative")


def test_funnel_colours_the_leak_bar_with_the_warning_colour():
    color = plots.funnel(_frame(FUNNEL)).to_dict()["layer"][0]["encoding"]["color"]
    assert color["condition"]["test"] == {"field": "is_leak", "equal": True}
    assert color["condition"]["value"] == plots.WARN
    assert color["value"] == plots.ACCENT


def test_funnel_labels_the_leak_with_its_conversion_rate():
    # SQL -> Meeting: 30 / 120 = 25%, the leak; Lead -> SQL 120 / 400 = 30%; Won has no rate
    svg = plots.to_svg(plots.funnel(_frame(FUNNEL)))
    assert "25% to next: the leak" in svg
    assert "30% to next)" in svg
    assert ">6<" in svg  # the last stage: its count alone


# --------------------------------------------------------------- ratio_vs_peers


def _panel_filters(spec: dict) -> list[dict]:
    return [panel["transform"][0]["filter"] for panel in spec["vconcat"]]


def test_ratio_vs_peers_puts_all_rates_on_one_percent_axis():
    spec = plots.ratio_vs_peers(_frame(RATIOS)).to_dict()
    rates = spec["vconcat"][0]
    assert rates["transform"][0]["filter"] == {"field": "unit", "equal": "fraction"}
    band = rates["layer"][0]["encoding"]
    assert band["y"]["sort"] == ["Win rate", "Lead to SQL"]
    assert band["x"]["axis"]["format"] == "%"


def test_ratio_vs_peers_gives_every_non_rate_metric_its_own_axis():
    spec = plots.ratio_vs_peers(_frame(RATIOS)).to_dict()
    # 1 panel for the two rates, then 1 per count metric (14 meetings vs 420 calls)
    assert len(spec["vconcat"]) == 3
    count = {"field": "unit", "equal": "count"}
    assert _panel_filters(spec)[1:] == [
        {"and": [count, {"field": "label", "equal": "Meetings held"}]},
        {"and": [count, {"field": "label", "equal": "Calls"}]},
    ]
    assert spec["vconcat"][1]["layer"][0]["encoding"]["x"]["axis"]["format"] == ",f"


def test_ratio_vs_peers_layers_band_median_interval_and_rep():
    layers = plots.ratio_vs_peers(_frame(RATIOS)).to_dict()["vconcat"][0]["layer"]
    assert _marks({"layer": layers}) == ["bar", "tick", "rule", "circle"]
    band, median, interval, rep = (layer["encoding"] for layer in layers)
    assert (band["x"]["field"], band["x2"]["field"]) == ("peer_p25", "peer_p75")
    assert median["x"]["field"] == "peer_median"
    assert (interval["x"]["field"], interval["x2"]["field"]) == ("ci_low", "ci_high")
    assert rep["x"]["field"] == "value"
    assert layers[3]["mark"]["color"] == plots.ACCENT
    assert layers[0]["mark"]["color"] == plots.PEER_BAND


def test_ratio_vs_peers_draws_no_band_where_peers_are_suppressed():
    # 4 metrics, Lead to SQL has NaN peers: 3 bands and 3 median ticks are drawn
    svg = plots.to_svg(plots.ratio_vs_peers(_frame(RATIOS)))
    assert svg.count('aria-roledescription="bar"') == 3
    assert svg.count('aria-roledescription="tick"') == 3
    assert "Lead to SQL" in svg


def test_ratio_vs_peers_refuses_a_metric_without_unit():
    frame = _frame(RATIOS).assign(unit=["fraction", None, "count", "count"])
    with pytest.raises(KpikitError, match="missing unit for metric.*Lead to SQL"):
        plots.ratio_vs_peers(frame)


# ------------------------------------------------------------------------- trend


def test_trend_makes_one_panel_per_metric_with_independent_y():
    spec = plots.trend(_frame(TREND)).to_dict()
    assert [panel["title"] for panel in spec["concat"]] == ["Win rate", "Calls"]
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert spec["columns"] == 2


def test_trend_draws_the_rep_line_and_a_dashed_peer_median():
    panel = plots.trend(_frame(TREND)).to_dict()["concat"][0]
    peers, rep = panel["layer"]
    assert rep["mark"] == {"type": "line", "point": True}
    assert rep["encoding"]["y"]["field"] == "value"
    assert rep["encoding"]["y"]["axis"]["format"] == "%"  # Win rate is a fraction
    assert rep["encoding"]["x"] == {
        "field": "period", "type": "ordinal", "sort": ["2025-01", "2025-02"],
        "title": None, "axis": {"labelAngle": -45},
    }
    assert peers["encoding"]["y"]["field"] == "peer_median"
    assert peers["encoding"]["strokeDash"]["scale"]["range"] == [[1, 0], [4, 3]]
    assert peers["encoding"]["color"]["scale"]["range"] == [plots.ACCENT, plots.PEER]


def test_trend_without_peer_median_draws_only_the_rep():
    frame = _frame(TREND).drop(columns=["peer_median", "unit"])
    panel = plots.trend(frame).to_dict()["concat"][1]
    assert len(panel["layer"]) == 1
    assert panel["layer"][0]["encoding"]["y"]["axis"]["format"] == ",f"


# -------------------------------------------------------------------------- plan


def test_plan_chart_draws_required_bars_with_p10_p90_error_bars():
    spec = plots.plan_chart(_frame(PLAN)).to_dict()
    assert _marks(spec) == ["bar", "errorbar", "text"]
    bars, spread, _ = (layer["encoding"] for layer in spec["layer"])
    assert bars["y"]["sort"] == ["Lead", "Meeting", "Won"]
    assert bars["x"]["field"] == "required"
    assert (spread["x"]["field"], spread["x2"]["field"]) == ("p10", "p90")


def test_plan_chart_labels_required_and_per_day():
    svg = plots.to_svg(plots.plan_chart(_frame(PLAN)))
    assert "420  (20.0 per day)" in svg
    assert "8  (0.4 per day)" in svg


def test_plan_chart_without_per_day_labels_only_the_count():
    spec = plots.plan_chart(_frame(PLAN).drop(columns="per_day")).to_dict()
    assert "per_day" not in json.dumps(spec)


# ---------------------------------------------------------------------- pipeline


def test_pipeline_chart_stacks_amount_by_stage_per_month():
    bars = plots.pipeline_chart(_frame(PIPELINE), quota_gap=None).to_dict()["layer"][0]
    enc = bars["encoding"]
    assert bars["mark"]["type"] == "bar"
    assert (enc["x"]["field"], enc["x"]["type"]) == ("close_month", "ordinal")
    assert (enc["y"]["field"], enc["y"]["axis"]["format"]) == ("amount", ",f")
    assert enc["color"]["field"] == "stage"
    assert enc["color"]["scale"]["domain"] == ["Meeting", "Proposal"]


def test_pipeline_chart_draws_the_quota_gap_as_a_labelled_rule():
    chart = plots.pipeline_chart(_frame(PIPELINE), quota_gap=80_000.0)
    rule = chart.to_dict()["layer"][1]
    assert rule["mark"]["type"] == "rule"
    assert rule["encoding"]["y"] == {"datum": 80_000.0}
    assert rule["mark"]["color"] == plots.WARN
    assert "Gap to quota: 80,000" in plots.to_svg(chart)


@pytest.mark.parametrize("gap", [None, NAN])
def test_pipeline_chart_without_a_quota_gap_has_no_rule(gap):
    spec = plots.pipeline_chart(_frame(PIPELINE), quota_gap=gap).to_dict()
    assert _marks(spec) == ["bar"]


def test_pipeline_chart_reads_datetime_months_as_year_month():
    frame = _frame(PIPELINE).assign(close_month=pd.to_datetime(PIPELINE["close_month"]))
    x = plots.pipeline_chart(frame, quota_gap=None).to_dict()["layer"][0]["encoding"]["x"]
    assert (x["field"], x["timeUnit"], x["type"]) == ("close_month", "yearmonth", "ordinal")


def test_pipeline_chart_turns_period_months_into_labels():
    frame = _frame(PIPELINE).assign(close_month=pd.PeriodIndex(PIPELINE["close_month"], freq="M"))
    spec = plots.pipeline_chart(frame, quota_gap=None).to_dict()
    assert [row["close_month"] for row in _datasets(spec)[0]] == PIPELINE["close_month"]


# -------------------------------------------------------------------- attainment


def test_attainment_distribution_has_a_rule_at_100_percent():
    spec = plots.attainment_distribution(_frame(ATTAINMENT)).to_dict()
    assert _marks(spec) == ["rule", "circle"]
    assert spec["layer"][0]["encoding"]["x"] == {"datum": 1.0}
    dots = spec["layer"][1]["encoding"]["x"]
    assert (dots["field"], dots["axis"]["format"]) == ("attainment", "%")


def test_attainment_distribution_highlights_one_label():
    spec = plots.attainment_distribution(_frame(ATTAINMENT), highlight="Cy").to_dict()
    assert _marks(spec) == ["rule", "circle", "circle", "text"]
    mine = spec["layer"][2]
    assert mine["transform"] == [{"filter": {"field": "label", "equal": "Cy"}}]
    assert mine["mark"]["color"] == plots.ACCENT
    svg = plots.to_svg(plots.attainment_distribution(_frame(ATTAINMENT), highlight="Cy"))
    assert ">Cy<" in svg and ">Ann<" not in svg  # only the highlighted name is written


def test_attainment_highlight_needs_a_label_column():
    frame = _frame(ATTAINMENT).drop(columns="label")
    with pytest.raises(KpikitError, match="highlight='Cy'.*'label' column"):
        plots.attainment_distribution(frame, highlight="Cy")


def test_attainment_highlight_must_match_a_row():
    with pytest.raises(KpikitError, match="no row has that label"):
        plots.attainment_distribution(_frame(ATTAINMENT), highlight="Zed")


# ----------------------------------------------------------------------- channels


def test_channel_bars_sorts_channels_by_revenue_and_labels_them():
    spec = plots.channel_bars(_frame(CHANNELS)).to_dict()
    assert _marks(spec) == ["bar", "text"]
    enc = spec["layer"][0]["encoding"]
    assert enc["y"] == {"field": "channel", "type": "nominal", "sort": "-x", "title": None}
    assert (enc["x"]["field"], enc["x"]["axis"]["format"]) == ("revenue", ",f")
    assert spec["layer"][1]["encoding"]["text"]["format"] == ",.0f"
    assert "300,000" in plots.to_svg(plots.channel_bars(_frame(CHANNELS)))


# ---------------------------------------------------------------- static output


def _urls(svg: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", svg)


@pytest.mark.parametrize("name", list(CASES))
def test_to_svg_holds_no_url_but_xml_namespaces(name):
    func, columns, options = CASES[name]
    svg = plots.to_svg(func(_frame(columns), **options))
    assert svg.startswith("<svg")
    assert set(_urls(svg)) <= {SVG_NS, XLINK_NS}
    assert len(_urls(svg)) == len(re.findall(r'xmlns(?::\w+)?="http', svg))
    assert "<script" not in svg and "datasets" not in svg


def test_to_svg_refuses_to_fetch_external_data():
    # the URL is rejected before any request (and .invalid never resolves anyway)
    chart = alt.Chart("http://example.invalid/data.csv").mark_point().encode(x="a:Q")
    with pytest.raises(ValueError, match="not allowed"):
        plots.to_svg(chart)


def test_to_svg_applies_the_theme_font_and_leaves_the_theme_off():
    before = alt.theme.active
    svg = plots.to_svg(plots.channel_bars(_frame(CHANNELS)))
    assert "Helvetica" in svg
    assert alt.theme.active == before


def test_static_gives_a_display_object_that_a_notebook_stores_as_svg_only():
    from IPython.core.formatters import DisplayFormatter

    shown = plots.static(plots.channel_bars(_frame(CHANNELS)))
    bundle, _ = DisplayFormatter().format(shown)  # what an executed notebook cell stores
    assert sorted(bundle) == ["image/svg+xml", "text/plain"]  # no Vega spec, no JS
    assert bundle["image/svg+xml"].startswith("<svg") and "Outbound" in bundle["image/svg+xml"]


def test_show_static_is_svg_and_interactive_is_the_themed_chart():
    chart = plots.channel_bars(_frame(CHANNELS))
    assert plots.show(chart, static=True)._repr_svg_().startswith("<svg")
    interactive = plots.show(chart, static=False)
    assert isinstance(interactive, alt.LayerChart)
    assert interactive.to_dict()["config"]["font"] == plots.FONT
    assert interactive.to_dict()["layer"] == chart.to_dict()["layer"]
    assert "font" not in chart.to_dict().get("config", {})  # the original is untouched


def test_show_keeps_the_charts_own_config_over_the_theme():
    chart = plots.channel_bars(_frame(CHANNELS)).configure(font="Courier")
    assert plots.show(chart, static=False).to_dict()["config"]["font"] == "Courier"
