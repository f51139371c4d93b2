"""Small charts drawn on the server as SVG, for the hub's and the node's home pages.

A chart is markup built here, never by the browser: no script, no event handler, no external
file, no inline ``style`` (the Content-Security-Policy forbids them); colours are SVG
presentation attributes, sizes and fonts come from the app's CSS through class names. Every
text is escaped. The SVG is one picture for assistive technology (``role="img"`` with a title
and a description); :func:`bar_chart_table` gives the same figures as an HTML table, with the
rows' links. Colour never carries meaning alone: each bar ends with its value printed, and the
second series is hatched as well as coloured and named in the legend.

Texts arrive already translated and numbers are written by the caller's function (a locale's
``format_number``): this module knows nothing of Flask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

NumberFormat = Callable[[int], str]

# WCAG AA on the white page: text #1d2329 is 15.9:1; the bars, #0b5cad 6.7:1 and #b35900
# 4.8:1, are well above the 3:1 that graphics need, and differ in pattern as well.
INK = "#1d2329"
BACKGROUND = "#ffffff"
SERIES_COLOURS = ("#0b5cad", "#b35900")

WIDTH = 400  # drawn at 1:1 up to the CSS max-width; a phone scales it down
FONT_SIZE = 14
CHAR_WIDTH = 0.63 * FONT_SIZE  # generous for a proportional font: the server cannot measure
LABEL_GAP = 8
MAX_LABEL_WIDTH = 0.4 * WIDTH
VALUE_ROOM = 56  # right of the longest bar, for its printed value
BAR_HEIGHT = 14
BAR_GAP = 2  # between the bars of one row
ROW_GAP = 10
LEGEND_LINE = 28
LEGEND_SPACING = 24  # between two series' names on one line
SWATCH = 14
EMPTY_HEIGHT = 40

CHART_ID = re.compile(r"[a-z][a-z0-9-]*\Z")


@dataclass(frozen=True)
class Row:
    """One row of a bar chart: a label, one value per series, and where the label leads."""

    label: str
    values: tuple[int, ...]
    href: str | None = None  # a path on this site, never another origin or a scheme


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart with one or two series, every text already localised.

    ``chart_id`` prefixes the ids inside the SVG, so it must be unique on its page."""

    chart_id: str
    title: str
    description: str
    label_heading: str  # the table's first column, e.g. "Country"
    series: tuple[str, ...]  # the series' names, e.g. ("Organisations", "Services")
    rows: tuple[Row, ...]
    empty_text: str  # said instead of the chart when there are no rows

    def __post_init__(self) -> None:
        if not CHART_ID.match(self.chart_id):
            raise ValueError(f"chart id {self.chart_id!r} is not a-z, 0-9 and hyphens")
        if len(self.series) not in (1, 2):
            raise ValueError("a bar chart has one or two series")
        for row in self.rows:
            _check_row(row, len(self.series))

    @property
    def largest(self) -> int:
        return max((value for row in self.rows for value in row.values), default=0)


def _check_row(row: Row, series: int) -> None:
    if len(row.values) != series:
        raise ValueError(f"row {row.label!r} has {len(row.values)} values for {series} series")
    if any(value < 0 for value in row.values):
        raise ValueError(f"row {row.label!r} has a negative value")
    if row.href is not None and not is_local_path(row.href):
        raise ValueError(f"row {row.label!r} links outside the site: {row.href!r}")


def is_local_path(href: str) -> bool:
    """A path on this site: "/directory/countries/IT", not "//evil", "javascript:" or "http:"."""
    return href.startswith("/") and not href.startswith("//") and "\\" not in href


# --- the SVG -------------------------------------------------------------------------------------


def bar_chart_svg(chart: BarChart, number: NumberFormat) -> Markup:
    """The chart as an inline ``<svg>`` element, or its empty text when there are no rows."""
    ids = _Ids(chart.chart_id)
    if not chart.rows:
        body = _text(LABEL_GAP, EMPTY_HEIGHT / 2, chart.empty_text, "chart-empty")
        return _svg(chart, ids, EMPTY_HEIGHT, chart.empty_text, body)
    layout = _Layout.of(chart)
    parts = [_defs(ids, len(chart.series)), _legend(chart, ids, layout)]
    for index, row in enumerate(chart.rows):
        parts.append(_row(row, index, layout, ids, number))
    return _svg(chart, ids, layout.height, chart.description, Markup("").join(parts))


@dataclass(frozen=True)
class _Ids:
    chart: str

    @property
    def title(self) -> str:
        return f"{self.chart}-title"

    @property
    def desc(self) -> str:
        return f"{self.chart}-desc"

    @property
    def hatch(self) -> str:
        return f"{self.chart}-hatch"


@dataclass(frozen=True)
class _Layout:
    """Where things go, in viewBox units: the legend on top, then per row the label on the
    left, the bars, and room for their values."""

    series: int
    label_width: float
    largest: int
    rows: int
    legend: tuple[tuple[float, float], ...]  # each series name's swatch: (x, middle y)

    @classmethod
    def of(cls, chart: BarChart) -> _Layout:
        longest = max(len(row.label) for row in chart.rows)
        label_width = min(longest * CHAR_WIDTH, MAX_LABEL_WIDTH)
        legend = _legend_places(chart.series)
        return cls(len(chart.series), label_width, chart.largest, len(chart.rows), legend)

    @property
    def legend_height(self) -> float:
        return self.legend[-1][1] + LEGEND_LINE / 2

    @property
    def bars_x(self) -> float:
        return self.label_width + LABEL_GAP

    @property
    def bars_width(self) -> float:
        return WIDTH - self.bars_x - VALUE_ROOM

    @property
    def row_height(self) -> float:
        return self.series * BAR_HEIGHT + (self.series - 1) * BAR_GAP + ROW_GAP

    @property
    def height(self) -> float:
        return self.legend_height + self.rows * self.row_height

    def row_top(self, index: int) -> float:
        return self.legend_height + index * self.row_height + ROW_GAP / 2

    def bar_length(self, value: int) -> float:
        # Proportional to the value on one scale for all series, so bars compare honestly.
        return self.bars_width * value / self.largest if self.largest else 0.0

    @property
    def label_chars(self) -> int:
        return int(MAX_LABEL_WIDTH // CHAR_WIDTH)


def _legend_places(names: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    """The series' names side by side, or one under the other when they are too long for
    one line (a translation can be twice as long as the English)."""
    widths = [SWATCH + 6 + len(name) * CHAR_WIDTH for name in names]
    # 1, not 0: the hatched swatch's outline must not be clipped at the edge.
    if sum(widths) + LEGEND_SPACING * (len(names) - 1) <= WIDTH - 1:
        starts = [1 + sum(widths[:i]) + LEGEND_SPACING * i for i in range(len(names))]
        return tuple((x, LEGEND_LINE / 2) for x in starts)
    return tuple((1.0, LEGEND_LINE * (i + 0.5)) for i in range(len(names)))


def _svg(chart: BarChart, ids: _Ids, height: float, desc: str, body: Markup) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
        ' viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        ' font-size="{font}" aria-labelledby="{title_id} {desc_id}">'
        '<title id="{title_id}">{title}</title><desc id="{desc_id}">{desc}</desc>'
        '<rect class="chart-background" width="100%" height="100%" fill="{background}"/>'
        "{body}</svg>"
    ).format(
        width=WIDTH,
        height=_n(height),
        font=FONT_SIZE,
        title_id=ids.title,
        desc_id=ids.desc,
        title=chart.title,
        desc=desc,
        background=BACKGROUND,
        body=body,
    )


def _defs(ids: _Ids, series: int) -> Markup:
    """The second series' hatching: a pattern inside this SVG, referred to by its id."""
    if series < 2:
        return Markup("")
    return Markup(
        '<defs><pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)"><rect width="6" height="6" fill="{background}"/>'
        '<rect width="3" height="6" fill="{colour}"/></pattern></defs>'
    ).format(id=ids.hatch, background=BACKGROUND, colour=SERIES_COLOURS[1])


def _bar_paint(ids: _Ids, series: int) -> Markup:
    colour = SERIES_COLOURS[series]
    if series == 0:
        return Markup('fill="{colour}"').format(colour=colour)
    return Markup('fill="url(#{hatch})" stroke="{colour}" stroke-width="1.5"').format(
        hatch=ids.hatch, colour=colour
    )


def _legend(chart: BarChart, ids: _Ids, layout: _Layout) -> Markup:
    parts = []
    for series, (name, (x, middle)) in enumerate(zip(chart.series, layout.legend, strict=True)):
        parts.append(
            Markup(
                '<rect class="chart-swatch" x="{x}" y="{y}" width="{size}" height="{size}"'
                " {paint}/>"
            ).format(x=_n(x), y=_n(middle - SWATCH / 2), size=SWATCH, paint=_bar_paint(ids, series))
        )
        parts.append(_text(x + SWATCH + 6, middle, name, "chart-series-name"))
    return Markup('<g class="chart-legend">{}</g>').format(Markup("").join(parts))


def _row(row: Row, index: int, layout: _Layout, ids: _Ids, number: NumberFormat) -> Markup:
    top = layout.row_top(index)
    bars_height = layout.row_height - ROW_GAP
    label = _text(
        layout.label_width,
        top + bars_height / 2,
        _shorten(row.label, layout.label_chars),
        "chart-label",
        anchor="end",
    )
    bars = [
        _bar(layout, ids, series, value, top + series * (BAR_HEIGHT + BAR_GAP), number)
        for series, value in enumerate(row.values)
    ]
    return Markup('<g class="chart-row">{}{}</g>').format(label, Markup("").join(bars))


def _bar(
    layout: _Layout, ids: _Ids, series: int, value: int, y: float, number: NumberFormat
) -> Markup:
    length = layout.bar_length(value)
    rect = Markup(
        '<rect class="chart-bar chart-series-{series}" x="{x}" y="{y}" width="{width}"'
        ' height="{height}" {paint} data-value="{value}"/>'
    ).format(
        series=series + 1,
        x=_n(layout.bars_x),
        y=_n(y),
        width=_n(length),
        height=BAR_HEIGHT,
        paint=_bar_paint(ids, series),
        value=value,
    )
    text = _text(layout.bars_x + length + 4, y + BAR_HEIGHT / 2, number(value), "chart-value")
    return rect + text


def _text(x: float, y: float, content: str, css_class: str, anchor: str = "start") -> Markup:
    # dy centres the text on y without dominant-baseline, which not every renderer honours.
    return Markup(
        '<text class="{css_class}" x="{x}" y="{y}" dy="0.35em" text-anchor="{anchor}"'
        ' fill="{ink}">{content}</text>'
    ).format(css_class=css_class, x=_n(x), y=_n(y), anchor=anchor, ink=INK, content=content)


def _shorten(label: str, limit: int) -> str:
    """A label cut to fit the label column; the table carries it in full."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _n(value: float) -> str:
    """A coordinate, short and locale-independent: 12, 12.5, 12.33."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- the table -----------------------------------------------------------------------------------


def bar_chart_table(chart: BarChart, number: NumberFormat) -> Markup:
    """The chart's figures as an HTML table (with the rows' links), or its empty text."""
    if not chart.rows:
        return Markup('<p class="chart-empty">{}</p>').format(chart.empty_text)
    headings = _cells("th", [chart.label_heading], Markup(' scope="col"')) + _cells(
        "th", chart.series, Markup(' scope="col" class="num"')
    )
    rows = Markup("").join(_table_row(row, number) for row in chart.rows)
    return Markup(
        '<table class="chart-table"><caption>{caption}</caption>'
        "<thead><tr>{headings}</tr></thead><tbody>{rows}</tbody></table>"
    ).format(caption=chart.title, headings=headings, rows=rows)


def _table_row(row: Row, number: NumberFormat) -> Markup:
    label = Markup('<a href="{}">{}</a>').format(row.href, row.label) if row.href else row.label
    values = _cells("td", [number(value) for value in row.values], Markup(' class="num"'))
    return Markup('<tr><th scope="row">{}</th>{}</tr>').format(label, values)


def _cells(tag: str, contents: Sequence[str], attributes: Markup) -> Markup:
    return Markup("").join(
        Markup("<{tag}{attributes}>{content}</{tag}>").format(
            tag=Markup(tag), attributes=attributes, content=content
        )
        for content in contents
    )
