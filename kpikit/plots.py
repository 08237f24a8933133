"""Charts for coaching reports and notebooks (Altair), and their static SVG form.

Every chart function takes a small, already-aggregated DataFrame and returns an
Altair chart. It computes nothing beyond trivial reshaping, shows and saves
nothing and touches no global state.

Privacy: Altair embeds a chart's data in its spec, so each function selects the
columns it documents (and nothing else: not the index, not extra columns)
before building the chart, and adds no other data and no URLs. A frame with no
rows gives a chart that says "No ... data to show" instead of raising.

The look lives in the Altair theme ``"kpikit"``: registered at import but never
enabled globally; :func:`kpikit_theme` enables it inside a ``with`` block, and
:func:`to_svg`, :func:`static` and :func:`show` apply it for you. The colours
that carry meaning are constants used by the charts themselves, so a chart
reads the same under any theme: :data:`ACCENT` is "you, the rep",
:data:`PEER` the peers, :data:`WARN` the leak or the gap.

Rates are fractions; axes show them with ``format="%"``.

Examples
--------
>>> import pandas as pd
>>> chart = channel_bars(pd.DataFrame({"channel": ["Inbound", "Outbound"],
...                                    "revenue": [120_000.0, 80_000.0]}))
>>> svg = to_svg(chart)
>>> svg.startswith("<svg") and "Inbound" in svg
True
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import vl_convert

from kpikit.errors import KpikitError, MissingDataError

if TYPE_CHECKING:  # pragma: no cover
    from IPython.display import SVG

__all__ = [
    "ACCENT",
    "FONT",
    "INK",
    "PEER",
    "PEER_BAND",
    "THEME",
    "WARN",
    "attainment_distribution",
    "channel_bars",
    "funnel",
    "kpikit_theme",
    "pipeline_chart",
    "plan_chart",
    "ratio_vs_peers",
    "show",
    "static",
    "to_svg",
    "trend",
]

#: Name of the registered Altair theme.
THEME = "kpikit"
#: "You, the rep".
ACCENT = "#1f5fa8"
#: Peers (medians, other reps).
PEER = "#767676"
#: Peer interquartile band.
PEER_BAND = "#d9d9d9"
#: The leak, the gap: what needs attention.
WARN = "#d95f02"
#: Text and axes.
INK = "#333333"
#: Common system fonts only (no web fonts), so rendering never fetches anything.
FONT = "Helvetica, Arial, 'DejaVu Sans', sans-serif"

# d3 formats per registry unit. Axes: "%" for fractions, else ",f" (Vega picks the
# tick precision for both: 0%, 20%, ...; 1,000, 2,000, ...). Labels and tooltips: fixed.
_AXIS_FORMAT = {"fraction": "%"}
_LABEL_FORMAT = {"fraction": ".1%", "count": ",.0f", "currency": ",.0f", "currency_per_day": ",.0f"}
_FLAT = alt.Axis(labelAngle=0)
_TOP = alt.Legend(orient="top", symbolType="stroke")
# "You" vs "Peer median" lines of :func:`trend`.
_SERIES_COLOR = alt.Scale(domain=["You", "Peer median"], range=[ACCENT, PEER])
_SERIES_DASH = alt.Scale(domain=["You", "Peer median"], range=[[1, 0], [4, 3]])


# --------------------------------------------------------------------------- theme


@alt.theme.register(THEME, enable=False)
def _kpikit_theme_config() -> alt.theme.ThemeConfig:
    """The kpikit look: white background, sans-serif, quiet grid, print-friendly sizes."""
    axis = {
        "labelFontSize": 11,
        "titleFontSize": 12,
        "titleFontWeight": "normal",
        "labelColor": INK,
        "titleColor": INK,
        "domainColor": "#9a9a9a",
        "tickColor": "#9a9a9a",
        "gridColor": "#ebebeb",
    }
    return alt.theme.ThemeConfig(
        config={
            "background": "white",
            "font": FONT,
            "padding": 8,
            "view": {"continuousWidth": 360, "continuousHeight": 200, "step": 24, "stroke": None},
            "axis": axis,
            "axisQuantitative": {"tickCount": 6, "labelOverlap": "greedy"},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal"},
            "header": {"labelFontSize": 12, "titleFontSize": 12},
            "title": {
                "fontSize": 14,
                "anchor": "start",
                "color": INK,
                "subtitleFontSize": 11,
                "subtitleColor": "#555555",
            },
            "mark": {"color": ACCENT},
            "text": {"fontSize": 11, "color": INK},
            "range": {"ordinal": {"scheme": "blues", "extent": [0.35, 1.0]}},
            "concat": {"spacing": 24},
        }
    )


@contextlib.contextmanager
def kpikit_theme() -> Iterator[None]:
    """Enable the ``"kpikit"`` Altair theme inside a ``with`` block only.

    The previous theme is restored on exit, also when the block raises.

    Examples
    --------
    >>> import altair as alt
    >>> with kpikit_theme():
    ...     alt.theme.active
    'kpikit'
    >>> alt.theme.active != "kpikit"
    True
    """
    with alt.theme.enable(THEME):
        yield


# ------------------------------------------------------------------ static output


def _vl_version() -> str:
    """Vega-Lite ``major.minor`` Altair writes (``"v6.4.1"`` -> ``"6.4"``)."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to a self-contained SVG string, with the kpikit theme.

    Rendering is local (vl-convert's bundled Vega-Lite): external data URLs are
    refused (``allowed_base_urls=[]``) and the theme names only system fonts,
    so nothing is fetched. The SVG holds drawn marks and text only: no spec, no
    script, no data JSON (marks carry accessibility ``aria-label`` text with
    their encoded values). The only URLs in it are XML namespaces
    (``http://www.w3.org/2000/svg``, ``.../1999/xlink``).

    Cost: the first call in a process starts vl-convert's JavaScript engine
    (about 1-1.5 s); later calls take about 0.03-0.25 s for a simple chart and up
    to about 0.7 s for :func:`ratio_vs_peers` (a third of that is Altair's schema
    validation in ``to_dict``).

    Examples
    --------
    >>> import pandas as pd
    >>> svg = to_svg(channel_bars(pd.DataFrame({"channel": ["Web"], "revenue": [5.0]})))
    >>> svg.startswith("<svg")
    True
    """
    with kpikit_theme():
        # No JSON-schema validation here: it costs a third of the rendering and the
        # chart functions' specs are validated by their tests (``chart.to_dict()``).
        spec = chart.to_dict(validate=False)
    return vl_convert.vegalite_to_svg(spec, vl_version=_vl_version(), allowed_base_urls=[])


def static(chart: alt.TopLevelMixin) -> SVG:
    """Display object holding only the chart's SVG (for executed reports).

    An executed notebook stores its ``image/svg+xml`` output: no Vega spec, no
    JavaScript, no embedded data, so the HTML report opens offline and in email.

    Examples
    --------
    >>> import pandas as pd
    >>> shown = static(channel_bars(pd.DataFrame({"channel": ["Web"], "revenue": [5.0]})))
    >>> shown._repr_svg_().startswith("<svg")
    True
    """
    return _svg_display(chart)


def _svg_display(chart: alt.TopLevelMixin) -> SVG:
    return _svg_class()(data=to_svg(chart))


@functools.cache
def _svg_class() -> type:
    """IPython's ``SVG`` display object without its XML round trip.

    ``IPython.display.SVG`` parses the markup with minidom and serialises its ``<svg>``
    element again (to drop an XML prolog); vl-convert's SVG is a lone ``<svg>`` element
    already, and the round trip costs as much as drawing a simple chart.
    """
    from IPython.display import SVG as IPythonSVG  # imported late: only notebooks need IPython

    class SVG(IPythonSVG):
        @property
        def data(self) -> str | None:
            return self._data

        @data.setter
        def data(self, svg: str | bytes | None) -> None:
            if isinstance(svg, str) and svg.lstrip().startswith("<svg"):
                self._data = svg
            else:
                IPythonSVG.data.fset(self, svg)

    return SVG


def show(chart: alt.TopLevelMixin, *, static: bool) -> Any:
    """Return what a notebook cell should display for ``chart``.

    Parameters
    ----------
    chart
        Any chart of this module (or any top-level Altair chart).
    static
        ``True`` (reports): an SVG display object, see :func:`static`.
        ``False`` (analysts): the interactive chart itself, as a copy with the
        kpikit theme written into its ``config``, so it looks like the report
        without enabling a theme globally. The original chart is not changed.

    Examples
    --------
    >>> import pandas as pd
    >>> chart = channel_bars(pd.DataFrame({"channel": ["Web"], "revenue": [5.0]}))
    >>> show(chart, static=False).to_dict()["config"]["font"] == FONT
    True
    >>> type(show(chart, static=True)).__name__
    'SVG'
    """
    if static:
        return _svg_display(chart)
    themed = chart.copy(deep=False)
    own = {} if alt.utils.is_undefined(chart.config) else chart.config.to_dict()
    config = alt.utils.update_nested(_kpikit_theme_config()["config"], own, copy=True)
    themed.config = alt.Config.from_dict(config)
    return themed


# ------------------------------------------------------------------------ helpers


def _select(
    frame: pd.DataFrame, required: Sequence[str], optional: Sequence[str] = (), *, what: str
) -> pd.DataFrame:
    """The columns a chart needs (and only those), with a fresh index; clear error if absent."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        got = ", ".join(map(str, frame.columns)) or "no columns"
        raise MissingDataError(
            missing, what=f"{what}(frame) expects columns {', '.join(required)} (got {got})"
        )
    columns = [*required, *(c for c in optional if c in frame.columns)]
    return frame.loc[:, columns].reset_index(drop=True)


def _no_data(what: str) -> alt.Chart:
    """A chart that says there is nothing to show (its data is one empty record)."""
    return (
        alt.Chart()
        .mark_text(text=f"No {what} data to show", fontSize=13, color="#555555")
        .properties(width=360, height=60)
    )


def _ordered(values: pd.Series) -> list:
    """Distinct values in first-appearance order (the caller's order), for ``sort=``."""
    return list(pd.unique(values.dropna()))


# ------------------------------------------------------------------------- charts


def funnel(frame: pd.DataFrame) -> alt.LayerChart | alt.Chart:
    """The rep's funnel as horizontal bars, the leak highlighted with its rate.

    Each bar is labelled with its count and, for every step but the last, the
    conversion rate to the next stage; the leaking step's bar and label are in
    :data:`WARN`.

    Parameters
    ----------
    frame
        One row per stage, in funnel order:

        - ``stage`` (str): stage label;
        - ``count`` (number): how many reached the stage;
        - ``rate_to_next`` (fraction): conversion to the next stage, NaN on the last;
        - ``is_leak`` (bool): True on the stage whose transition to the next is the leak.

    Returns
    -------
    alt.LayerChart
        Bars plus labels; a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"stage": ["Lead", "SQL", "Won"], "count": [200, 50, 10],
    ...                       "rate_to_next": [0.25, 0.2, float("nan")],
    ...                       "is_leak": [False, True, False]})
    >>> spec = funnel(frame).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['bar', 'text']
    """
    if len(frame) == 0:
        return _no_data("funnel")
    data = _select(frame, ["stage", "count", "rate_to_next", "is_leak"], what="funnel")
    leak = alt.FieldEqualPredicate(field="is_leak", equal=True)
    base = alt.Chart(data).encode(
        y=alt.Y("stage:N", sort=_ordered(data["stage"]), title=None),
        x=alt.X("count:Q", title="Count", axis=alt.Axis(format=",f", tickMinStep=1)),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("count:Q", title="Count", format=","),
            alt.Tooltip("rate_to_next:Q", title="To next stage", format=".1%"),
        ],
    )
    bars = base.mark_bar().encode(color=alt.condition(leak, alt.value(WARN), alt.value(ACCENT)))
    labels = (
        base.transform_calculate(
            label="format(datum.count, ',') + (isValid(datum.rate_to_next)"
            " ? '  (' + format(datum.rate_to_next, '.0%') + ' to next'"
            " + (datum.is_leak ? ': the leak)' : ')') : '')"
        )
        .mark_text(align="left", dx=4)
        .encode(text="label:N", color=alt.condition(leak, alt.value(WARN), alt.value(INK)))
    )
    return alt.layer(bars, labels)


def _ratio_panel(unit: str, label: str | None, labels: list) -> alt.LayerChart:
    """Rows of :func:`ratio_vs_peers` of one unit (and one ``label`` unless None), own x axis."""
    fmt = _LABEL_FORMAT.get(unit, ",.2~f")
    tooltip = [
        alt.Tooltip("label:N", title="Metric"),
        alt.Tooltip("value:Q", title="You", format=fmt),
        alt.Tooltip("ci_low:Q", title="Your range from", format=fmt),
        alt.Tooltip("ci_high:Q", title="to", format=fmt),
        alt.Tooltip("peer_median:Q", title="Peer median", format=fmt),
        alt.Tooltip("peer_p25:Q", title="Peers 25th pct", format=fmt),
        alt.Tooltip("peer_p75:Q", title="Peers 75th pct", format=fmt),
    ]
    base = alt.Chart().encode(y=alt.Y("label:N", sort=labels, title=None), tooltip=tooltip)
    x = alt.X("peer_p25:Q", title=None, axis=alt.Axis(format=_AXIS_FORMAT.get(unit, ",f")))
    band = base.mark_bar(color=PEER_BAND, height={"band": 0.7}).encode(x=x, x2="peer_p75:Q")
    median = base.mark_tick(color=PEER, thickness=2).encode(x="peer_median:Q")
    interval = base.mark_rule(color=ACCENT, strokeWidth=2).encode(x="ci_low:Q", x2="ci_high:Q")
    you = base.mark_circle(color=ACCENT, size=70, opacity=1).encode(x="value:Q")
    rows = alt.FieldEqualPredicate(field="unit", equal=unit)
    if label is not None:
        rows = rows & alt.FieldEqualPredicate(field="label", equal=label)
    return alt.layer(band, median, interval, you).transform_filter(rows)


def ratio_vs_peers(frame: pd.DataFrame) -> alt.VConcatChart | alt.Chart:
    """The rep's metrics against their peers, on axes that never mix units.

    Per metric: the peers' interquartile range as a grey band, the peer median
    as a dark tick, the rep as an :data:`ACCENT` dot with its interval as a
    line. All ``fraction`` metrics share one panel with a ``%`` axis (0-100%
    compares well); every other metric gets its own compact panel and axis,
    since counts and amounts of different metrics differ in size (calls vs
    meetings). Panels follow the frame's order. NaN peer values (small groups
    suppressed) draw no band or tick; a NaN interval draws no line.

    Parameters
    ----------
    frame
        One row per metric, in display order:

        - ``label`` (str): metric display name;
        - ``value``, ``ci_low``, ``ci_high`` (number): the rep's value and interval;
        - ``peer_median``, ``peer_p25``, ``peer_p75`` (number): the peer distribution;
        - ``unit`` (str): registry unit, e.g. ``"fraction"``, ``"count"``, ``"currency"``.

    Returns
    -------
    alt.VConcatChart
        One layered panel per axis; a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> nan = float("nan")
    >>> frame = pd.DataFrame({"label": ["Win rate", "Meetings"], "value": [0.3, 12.0],
    ...                       "ci_low": [0.2, nan], "ci_high": [0.4, nan],
    ...                       "peer_median": [0.25, 10.0], "peer_p25": [0.2, 8.0],
    ...                       "peer_p75": [0.35, 14.0], "unit": ["fraction", "count"]})
    >>> spec = ratio_vs_peers(frame).to_dict()
    >>> len(spec["vconcat"]), spec["vconcat"][0]["layer"][0]["encoding"]["x"]["axis"]["format"]
    (2, '%')
    """
    if len(frame) == 0:
        return _no_data("peer comparison")
    columns = ["label", "value", "ci_low", "ci_high", "peer_median", "peer_p25", "peer_p75", "unit"]
    data = _select(frame, columns, what="ratio_vs_peers")
    if data["unit"].isna().any():
        rows = ", ".join(map(str, data.loc[data["unit"].isna(), "label"]))
        raise KpikitError(
            f"ratio_vs_peers(frame): missing unit for metric(s) {rows}; "
            "set unit to the registry unit (e.g. 'fraction', 'count', 'currency')"
        )
    chart = _ratio_layout(tuple(zip(data["label"], data["unit"], strict=True))).copy(deep=False)
    chart.data = data
    return chart


@functools.lru_cache(maxsize=64)
def _ratio_layout(rows: tuple[tuple[str, str], ...]) -> alt.VConcatChart:
    """The panels of :func:`ratio_vs_peers` for these ``(label, unit)`` rows, without data.

    Memoised: building the Altair objects costs more than drawing them, and a batch of
    reports draws the same layout for every rep of a role. Callers get a shallow copy
    with their data; the nested panels are shared, so copy deeply before changing them.
    """
    rates = list(dict.fromkeys(label for label, unit in rows if unit == "fraction"))
    panels, rates_shown = [], False
    for label, unit in rows:
        if unit != "fraction":
            panels.append(_ratio_panel(unit, label, [label]))
        elif not rates_shown:  # all rates in one panel, placed where the first rate is
            panels.append(_ratio_panel(unit, None, rates))
            rates_shown = True
    return alt.vconcat(*panels, spacing=14).properties(
        title=alt.Title(
            "You vs your peers",
            subtitle="Blue dot and line: you, with your likely range. "
            "Grey band: the middle half of your peers; dark tick: their median.",
        )
    )


def _trend_panel(metric: str, unit: str, periods: list, with_peers: bool) -> alt.LayerChart:
    """One metric's line of :func:`trend` with its own y axis."""
    fmt = _LABEL_FORMAT.get(unit, ",.2~f")
    axis = alt.Axis(format=_AXIS_FORMAT.get(unit, ",f"))
    base = alt.Chart().encode(
        x=alt.X("period:O", sort=periods, title=None, axis=alt.Axis(labelAngle=-45)),
        color=alt.Color("series:N", scale=_SERIES_COLOR, title=None, legend=_TOP),
        strokeDash=alt.StrokeDash("series:N", scale=_SERIES_DASH, title=None),
    )
    you = (
        base.transform_calculate(series="'You'")
        .mark_line(point=True)
        .encode(
            y=alt.Y("value:Q", title=None, axis=axis),
            tooltip=[
                alt.Tooltip("period:O", title="Period"),
                alt.Tooltip("value:Q", title="You", format=fmt),
            ],
        )
    )
    layers = [you]
    if with_peers:
        peers = (
            base.transform_calculate(series="'Peer median'")
            .mark_line()
            .encode(
                y="peer_median:Q",
                tooltip=[
                    alt.Tooltip("period:O", title="Period"),
                    alt.Tooltip("peer_median:Q", title="Peer median", format=fmt),
                ],
            )
        )
        layers.insert(0, peers)
    return (
        alt.layer(*layers)
        .transform_filter(alt.FieldEqualPredicate(field="metric", equal=metric))
        .properties(title=str(metric), width=240, height=140)
    )


def trend(frame: pd.DataFrame) -> alt.ConcatChart | alt.Chart:
    """The rep's metrics over periods: one small chart per metric, own y axis.

    The rep is a solid :data:`ACCENT` line with points; the peer median, when
    given, a dashed grey line.

    Parameters
    ----------
    frame
        Long format, one row per metric and period, periods in order:

        - ``period`` (str): period label (``"2025-01"``), rows in period order;
        - ``metric`` (str): metric display name (one small chart each);
        - ``value`` (number): the rep's value;
        - ``peer_median`` (number, optional): the peers' median that period;
        - ``unit`` (str, optional): registry unit; ``"fraction"`` gets a ``%`` axis.

    Returns
    -------
    alt.ConcatChart
        Two panels per row; a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"period": ["2025-01", "2025-02"] * 2,
    ...                       "metric": ["Win rate"] * 2 + ["Calls"] * 2,
    ...                       "value": [0.2, 0.3, 150, 170],
    ...                       "unit": ["fraction"] * 2 + ["count"] * 2})
    >>> spec = trend(frame).to_dict()
    >>> [panel["title"] for panel in spec["concat"]]
    ['Win rate', 'Calls']
    """
    if len(frame) == 0:
        return _no_data("trend")
    data = _select(frame, ["period", "metric", "value"], ["peer_median", "unit"], what="trend")
    units = data.groupby("metric", sort=False)["unit"].first() if "unit" in data else {}
    metrics = tuple((m, str(units.get(m, "number"))) for m in _ordered(data["metric"]))
    chart = _trend_layout(metrics, tuple(_ordered(data["period"])), "peer_median" in data)
    chart = chart.copy(deep=False)
    chart.data = data
    return chart


@functools.lru_cache(maxsize=64)
def _trend_layout(
    metrics: tuple[tuple[str, str], ...], periods: tuple, with_peers: bool
) -> alt.ConcatChart:
    """The panels of :func:`trend`, without data (memoised like :func:`_ratio_layout`)."""
    panels = [_trend_panel(metric, unit, list(periods), with_peers) for metric, unit in metrics]
    return alt.concat(*panels, columns=2).resolve_scale(y="independent")


def plan_chart(frame: pd.DataFrame) -> alt.LayerChart | alt.Chart:
    """The reverse-funnel plan: the count each stage needs, with its P10-P90 range.

    Bars of ``required`` in funnel order, a dark error bar from ``p10`` to
    ``p90``, and a label with the required count (and ``per_day`` when given).

    Parameters
    ----------
    frame
        One row per stage, in funnel order:

        - ``stage`` (str): stage label;
        - ``required`` (number): count needed to reach the goal;
        - ``p10``, ``p90`` (number): the 10th and 90th percentile of that count;
        - ``per_day`` (number, optional): ``required`` per working day.

    Returns
    -------
    alt.LayerChart
        Bars, error bars and labels; a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"stage": ["Lead", "Meeting", "Won"], "required": [400, 40, 8],
    ...                       "p10": [300, 30, 8], "p90": [520, 55, 8], "per_day": [20, 2, 0.4]})
    >>> [layer["mark"]["type"] for layer in plan_chart(frame).to_dict()["layer"]]
    ['bar', 'errorbar', 'text']
    """
    if len(frame) == 0:
        return _no_data("plan")
    data = _select(frame, ["stage", "required", "p10", "p90"], ["per_day"], what="plan_chart")
    per_day = (
        " + (isValid(datum.per_day) ? '  (' + format(datum.per_day, ',.1f') + ' per day)' : '')"
        if "per_day" in data
        else ""
    )
    base = alt.Chart(data).encode(y=alt.Y("stage:N", sort=_ordered(data["stage"]), title=None))
    title = "Needed (line: 10th to 90th percentile)"
    bars = base.mark_bar(color=ACCENT, opacity=0.85).encode(
        x=alt.X("required:Q", title=title, axis=alt.Axis(format=",f", tickMinStep=1)),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("required:Q", title="Needed", format=",.0f"),
            alt.Tooltip("p10:Q", title="P10", format=",.0f"),
            alt.Tooltip("p90:Q", title="P90", format=",.0f"),
        ],
    )
    spread = base.mark_errorbar(ticks=True, color=INK).encode(
        x=alt.X("p10:Q", title=title), x2="p90:Q"
    )
    labels = (
        base.transform_calculate(
            label_x="isValid(datum.p90) ? max(datum.required, datum.p90) : datum.required",
            label=f"format(datum.required, ',.0f'){per_day}",
        )
        .mark_text(align="left", dx=6)
        .encode(x=alt.X("label_x:Q", title=title), text="label:N")
    )
    return alt.layer(bars, spread, labels)


def _month_x(data: pd.DataFrame) -> tuple[pd.DataFrame, alt.X]:
    """X encoding for ``close_month``: labels stay labels, dates become year-month."""
    kind = data["close_month"].dtype
    if isinstance(kind, pd.PeriodDtype):
        data = data.assign(close_month=data["close_month"].astype(str))
    if pd.api.types.is_datetime64_any_dtype(kind):
        return data, alt.X("yearmonth(close_month):O", title="Close month", axis=_FLAT)
    return data, alt.X("close_month:O", sort="ascending", title="Close month", axis=_FLAT)


_PIPELINE_WIDTH = 360


def pipeline_chart(frame: pd.DataFrame, *, quota_gap: float | None) -> alt.LayerChart | alt.Chart:
    """Open pipeline by expected close month, stacked by stage, against the quota gap.

    Parameters
    ----------
    frame
        One row per close month and stage (stages in funnel order):

        - ``close_month`` (str ``"YYYY-MM"``, ``pd.Period`` or datetime): expected close month;
        - ``stage`` (str): current stage of the open opportunities;
        - ``amount`` (number): their total open amount.
    quota_gap
        Quota still to win; drawn as a :data:`WARN` rule. ``None`` or NaN: no rule.

    Returns
    -------
    alt.LayerChart
        Stacked bars (and the rule); a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"close_month": ["2025-03", "2025-03", "2025-04"],
    ...                       "stage": ["Meeting", "Proposal", "Proposal"],
    ...                       "amount": [20_000.0, 35_000.0, 10_000.0]})
    >>> spec = pipeline_chart(frame, quota_gap=50_000).to_dict()
    >>> spec["layer"][1]["encoding"]["y"]["datum"]
    50000
    """
    if len(frame) == 0:
        return _no_data("pipeline")
    data, x = _month_x(_select(frame, ["close_month", "stage", "amount"], what="pipeline_chart"))
    stages = _ordered(data["stage"])
    bars = (
        alt.Chart(data)
        .transform_calculate(stage_order=f"indexof({json.dumps(stages)}, datum.stage)")
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("amount:Q", title="Open pipeline amount", axis=alt.Axis(format=",f")),
            color=alt.Color("stage:O", sort=stages, scale=alt.Scale(domain=stages), title="Stage"),
            order=alt.Order("stage_order:Q"),  # first stage at the bottom
            tooltip=[
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip("amount:Q", title="Amount", format=",.0f"),
            ],
        )
    )
    if quota_gap is None or pd.isna(quota_gap):
        return alt.layer(bars).properties(width=_PIPELINE_WIDTH)
    rule = alt.Chart().mark_rule(color=WARN, strokeWidth=2, strokeDash=[6, 3])
    gap = rule.encode(y=alt.datum(quota_gap))
    text = alt.value(f"Gap to quota: {quota_gap:,.0f}")
    note = (
        alt.Chart()
        .mark_text(align="right", dy=-7, color=WARN, fontWeight="bold")
        .encode(y=alt.datum(quota_gap), x=alt.value(_PIPELINE_WIDTH), text=text)
    )
    return alt.layer(bars, gap, note).properties(width=_PIPELINE_WIDTH)


def attainment_distribution(
    frame: pd.DataFrame, *, highlight: str | None = None
) -> alt.LayerChart | alt.Chart:
    """A team's quota attainment as a strip of dots, with a rule at 100%.

    Each rep is a grey, half-transparent dot (overlaps show density); with
    ``highlight`` the rep with that ``label`` is a larger :data:`ACCENT` dot,
    named, on top.

    Parameters
    ----------
    frame
        One row per rep:

        - ``attainment`` (fraction): won revenue / quota (1.0 = 100%);
        - ``label`` (str, optional): the rep's display name. Include it only when
          names may appear in the chart; without it no name is embedded.
    highlight
        A ``label`` value to mark; needs the ``label`` column and a matching row.

    Returns
    -------
    alt.LayerChart
        Dots, the 100% rule (and the highlight); a "no data" chart for a frame without rows.

    Raises
    ------
    KpikitError
        ``highlight`` given without a ``label`` column or matching no row.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"attainment": [0.6, 0.95, 1.2], "label": ["Ann", "Bo", "Cy"]})
    >>> spec = attainment_distribution(frame, highlight="Bo").to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rule', 'circle', 'circle', 'text']
    """
    if len(frame) == 0:
        return _no_data("attainment")
    data = _select(frame, ["attainment"], ["label"], what="attainment_distribution")
    if highlight is not None and ("label" not in data or not (data["label"] == highlight).any()):
        raise KpikitError(
            f"attainment_distribution(frame, highlight={highlight!r}): no row has that label; "
            "pass a frame with a 'label' column containing it, or highlight=None"
        )
    x = alt.X("attainment:Q", title="Quota attainment", axis=alt.Axis(format="%"))
    tooltip = [alt.Tooltip("attainment:Q", title="Attainment", format=".0%")]
    if "label" in data:
        tooltip.insert(0, alt.Tooltip("label:N", title="Rep"))
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    target = alt.Chart().mark_rule(color=INK, strokeDash=[4, 3]).encode(x=alt.datum(1.0))
    layers = [target, base.mark_circle(color=PEER, size=110, opacity=0.5)]
    if highlight is not None:
        mine = base.transform_filter(alt.FieldEqualPredicate(field="label", equal=highlight))
        layers += [
            mine.mark_circle(color=ACCENT, size=180, opacity=1),
            mine.mark_text(dy=-14, color=ACCENT, fontWeight="bold").encode(text="label:N"),
        ]
    return alt.layer(*layers).properties(height=70)


def channel_bars(frame: pd.DataFrame) -> alt.LayerChart | alt.Chart:
    """Won revenue per channel as labelled horizontal bars, largest first.

    Parameters
    ----------
    frame
        One row per channel:

        - ``channel`` (str): channel or lead source label;
        - ``revenue`` (number): won revenue.

    Returns
    -------
    alt.LayerChart
        Bars and value labels; a "no data" chart for a frame without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"channel": ["Inbound", "Referral"], "revenue": [50_000.0, 20_000.0]})
    >>> channel_bars(frame).to_dict()["layer"][0]["encoding"]["x"]["field"]
    'revenue'
    """
    if len(frame) == 0:
        return _no_data("channel")
    data = _select(frame, ["channel", "revenue"], what="channel_bars")
    base = alt.Chart(data).encode(
        y=alt.Y("channel:N", sort="-x", title=None),
        x=alt.X("revenue:Q", title="Won revenue", axis=alt.Axis(format=",f")),
        tooltip=[
            alt.Tooltip("channel:N", title="Channel"),
            alt.Tooltip("revenue:Q", title="Won revenue", format=",.0f"),
        ],
    )
    bars = base.mark_bar(color=ACCENT)
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("revenue:Q", format=",.0f"))
    return alt.layer(bars, labels)
