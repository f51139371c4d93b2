"""Charts drawn on the server (ponte.charts), and the pictures on the hub's and node's home
pages: organisations and services per country, the node's cases by status."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from directory.models import Organization
from hub.extensions import db as hub_db
from ponte.charts import (
    BACKGROUND,
    INK,
    SERIES_COLOURS,
    BarChart,
    Row,
    bar_chart_svg,
    bar_chart_table,
)
from tests.test_enrolment import hub
from tests.test_referral_pages import nodes_with_caseworkers, page, signed_in
from tests.test_referrals import change, refer

__all__ = ["hub"]

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>\"&'"  # short enough to be drawn in full
TABLE_ROW = re.compile(
    r'<tr><th scope="row">(?:<a href="([^"]+)">)?(.*?)(?:</a>)?</th>'
    r'((?:<td class="num">[^<]*</td>)+)</tr>'
)


def chart(rows: tuple[Row, ...], series: tuple[str, ...] = ("Organisations", "Services")):
    return BarChart(
        chart_id="test",
        title="Per country",
        description="Organisations and services per country.",
        label_heading="Country",
        series=series,
        rows=rows,
        empty_text="No data yet.",
    )


def svg_of(markup: str) -> ET.Element:
    """The chart parsed as XML: it must be well-formed on its own."""
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "chart-bar" in rect.get("class", "")]


def texts(root: ET.Element, css_class: str) -> list[str]:
    return [text.text or "" for text in root.iter(f"{SVG}text") if text.get("class") == css_class]


# --- the chart module ----------------------------------------------------------------------------


def test_hostile_labels_are_escaped_in_the_svg_and_the_table():
    hostile = chart((Row(HOSTILE, (3, 4), href="/directory/countries/IT?a=1&b=\"'"),))
    svg = str(bar_chart_svg(hostile, str))
    table = str(bar_chart_table(hostile, str))
    for markup in (svg, table):
        assert "<script" not in markup and "\"&'" not in markup
    # Escaped, not dropped: the label reads as it was given.
    assert texts(svg_of(svg), "chart-label") == [HOSTILE]
    assert "&lt;script&gt;&#34;&amp;&#39;" in table
    assert 'href="/directory/countries/IT?a=1&amp;b=&#34;&#39;"' in table


def test_a_long_label_is_shortened_in_the_picture_and_whole_in_the_table():
    name = "Saint Vincent and the Grenadines & <Islands>"
    long = chart((Row(name, (1, 2)),))
    [drawn] = texts(svg_of(bar_chart_svg(long, str)), "chart-label")
    assert drawn.endswith("…") and name.startswith(drawn[:-1]) and len(drawn) < len(name)
    assert "Saint Vincent and the Grenadines &amp; &lt;Islands&gt;" in bar_chart_table(long, str)


def test_the_svg_has_no_script_style_handler_or_outside_reference():
    svg = svg_of(bar_chart_svg(chart((Row("Italy", (47, 137)), Row("Spain", (30, 39)))), str))
    for element in svg.iter():
        assert element.tag not in (f"{SVG}script", f"{SVG}style", f"{SVG}foreignObject")
        for name, value in element.attrib.items():
            assert name != "style" and not name.lower().startswith("on")
            assert "href" not in name  # nothing loaded or linked from inside the picture
            assert "http" not in value or name == "xmlns"
            if "url(" in value:  # only the chart's own hatching pattern
                assert value == "url(#test-hatch)"


def test_links_must_stay_on_the_site():
    for href in ("javascript:alert(1)", "//evil.example/x", "https://evil.example/", "/\\evil"):
        with pytest.raises(ValueError, match="outside the site"):
            chart((Row("Italy", (1, 2), href=href),))


def test_rows_must_match_the_series():
    with pytest.raises(ValueError, match="2 values for 1 series"):
        chart((Row("Italy", (1, 2)),), series=("Organisations",))
    with pytest.raises(ValueError, match="negative"):
        chart((Row("Italy", (1, -2)),))


def test_bar_lengths_are_proportional_to_the_values_on_one_scale():
    rows = (Row("Italy", (40, 160)), Row("Spain", (30, 8)), Row("Malta", (1, 0)))
    svg = svg_of(bar_chart_svg(chart(rows), str))
    drawn = [(int(rect.get("data-value")), float(rect.get("width"))) for rect in bars(svg)]
    assert [value for value, _ in drawn] == [40, 160, 30, 8, 1, 0]
    longest = max(width for _, width in drawn)
    for value, width in drawn:
        assert width == pytest.approx(longest * value / 160, abs=0.01)
    # Both series start at the same place.
    assert len({rect.get("x") for rect in bars(svg)}) == 1


def test_each_bar_ends_with_its_value_written_by_the_given_function():
    rows = (Row("Italy", (1234, 5)),)
    svg = svg_of(bar_chart_svg(chart(rows), lambda number: f"{number:,}".replace(",", "\u202f")))
    assert texts(svg, "chart-value") == ["1\u202f234", "5"]
    table = str(bar_chart_table(chart(rows), lambda number: f"{number:,}"))
    assert '<td class="num">1,234</td><td class="num">5</td>' in table


def test_the_second_series_differs_by_pattern_and_is_named_in_the_legend():
    svg = svg_of(bar_chart_svg(chart((Row("Italy", (2, 3)),)), str))
    first, second = bars(svg)
    assert first.get("fill") == SERIES_COLOURS[0]
    assert second.get("fill") == "url(#test-hatch)" and second.get("stroke") == SERIES_COLOURS[1]
    assert svg.find(f".//{SVG}pattern[@id='test-hatch']") is not None
    assert texts(svg, "chart-series-name") == ["Organisations", "Services"]


def test_long_series_names_go_one_under_the_other_inside_the_picture():
    names = ("Organisationen in diesem Verzeichnis", "Dienste dieser Organisationen")
    svg = svg_of(bar_chart_svg(chart((Row("Italien", (2, 3)),), series=names), str))
    swatches = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "chart-swatch"]
    assert len({swatch.get("y") for swatch in swatches}) == 2
    assert all(float(swatch.get("x")) > 0 for swatch in swatches)
    first_bar = min(float(bar.get("y")) for bar in bars(svg))
    assert all(float(swatch.get("y")) + 14 < first_bar for swatch in swatches)


def test_title_and_description_name_the_picture():
    svg = svg_of(bar_chart_svg(chart((Row("Italy", (2, 3)),)), str))
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert (title.text, desc.text) == ("Per country", "Organisations and services per country.")
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"


def test_no_rows_say_so_in_the_picture_and_instead_of_the_table():
    empty = chart(())
    svg = svg_of(bar_chart_svg(empty, str))
    assert svg.find(f"{SVG}desc").text == "No data yet."
    assert texts(svg, "chart-empty") == ["No data yet."] and not bars(svg)
    assert str(bar_chart_table(empty, str)) == '<p class="chart-empty">No data yet.</p>'


def test_the_table_has_a_caption_headings_and_one_row_per_label():
    rows = (Row("Italy", (47, 137), href="/directory/countries/IT"), Row("Malta", (1, 0)))
    table = str(bar_chart_table(chart(rows), str))
    assert "<caption>Per country</caption>" in table
    assert '<th scope="col">Country</th><th scope="col" class="num">Organisations</th>' in table
    found = [(href, label, cells) for href, label, cells in TABLE_ROW.findall(table)]
    assert [(href, label) for href, label, _ in found] == [
        ("/directory/countries/IT", "Italy"),
        ("", "Malta"),
    ]


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_colours_meet_wcag_aa_on_the_background():
    assert contrast(INK, BACKGROUND) >= 4.5  # text
    assert all(contrast(colour, BACKGROUND) >= 3 for colour in SERIES_COLOURS)  # graphics


# --- the hub's home page -------------------------------------------------------------------------


def directory_counts(app) -> dict[str, tuple[int, int]]:
    """Organisations and active services per country, counted the long way round."""
    counts: dict[str, list[int]] = {}
    with app.app_context():
        query = select(Organization).options(selectinload(Organization.services))
        for org in hub_db.session.scalars(query):
            country = counts.setdefault(org.country, [0, 0])
            country[0] += 1
            country[1] += sum(1 for service in org.services if service.status == "active")
    return {code: (orgs, services) for code, (orgs, services) in counts.items()}


def test_the_hub_home_shows_organisations_and_services_per_country(hub):
    client = hub.app.test_client()
    html = page(client, "/")
    expected = directory_counts(hub.app)
    rows = TABLE_ROW.findall(html)
    shown = {
        href.rsplit("/", 1)[1]: tuple(int(n) for n in re.findall(r">(\d+)<", cells))
        for href, _, cells in rows
    }
    assert shown == expected and len(rows) == len(expected)
    organisations = [shown[href.rsplit("/", 1)[1]][0] for href, _, _ in rows]
    assert organisations == sorted(organisations, reverse=True)
    assert ("/directory/countries/IT", "Italy") in [(href, label) for href, label, _ in rows]
    total_services = sum(services for _, services in expected.values())
    summary = f"225 organisations in {len(expected)} countries, {total_services} services"
    assert f'<p class="chart-summary">{summary}</p>' in html

    svg = svg_of(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])
    assert len(texts(svg, "chart-label")) == len(expected)
    assert len(bars(svg)) == 2 * len(expected)
    assert client.get(rows[0][0]).status_code == 200  # the links lead to the country pages


def test_the_hub_home_names_countries_in_the_page_language(hub):
    response = hub.app.test_client().get("/", headers={"Accept-Language": "fr"})
    html = response.get_data(as_text=True)
    assert '<a href="/directory/countries/IT">Italie</a>' in html


# --- the node's home page ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(hub, tmp_path_factory):
    """Atina's and Payoke's nodes, each with a caseworker; no cases yet."""
    with nodes_with_caseworkers(hub, tmp_path_factory, "chart") as (a, b):
        yield a, b


def overview(html: str) -> dict[str, tuple[int, int]]:
    """The node home's table of cases: status label → (referred by us, referred to us)."""
    table = html[html.index('<table class="chart-table">') : html.index("</table>")]
    return {
        label: tuple(int(n) for n in re.findall(r">(\d+)<", cells))
        for _, label, cells in TABLE_ROW.findall(table)
    }


def test_the_node_home_shows_cases_by_status_to_signed_in_caseworkers(nodes, fast_hashing):
    a, b = nodes
    anonymous = a.app.test_client().get("/")
    assert anonymous.status_code == 200
    assert "Our cases by status" not in anonymous.get_data(as_text=True)
    atina = signed_in(a, "case@atina.example")
    assert "No cases yet." in page(atina, "/")

    sent = [refer(a, b) for _ in range(4)]
    a.sync()
    b.sync()
    a.sync()  # the receipts: A's four are delivered
    change(b, sent[0], "accepted")
    change(b, sent[1], "declined", reason="No place before August.")
    change(a, sent[2], "withdrawn", reason="She found help nearer home.")
    received = refer(b, a)
    b.sync()
    a.sync()
    b.sync()

    statuses = Counter((a.case(case_id).status, "out") for case_id in sent)
    statuses[a.case(received).status, "in"] += 1
    assert statuses == {
        ("delivered", "out"): 1,
        ("accepted", "out"): 1,
        ("declined", "out"): 1,
        ("withdrawn", "out"): 1,
        ("delivered", "in"): 1,
    }
    response = atina.get("/")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert overview(html) == {
        "delivered": (1, 1),
        "accepted": (1, 0),
        "declined": (1, 0),
        "withdrawn": (1, 0),
    }
    svg = svg_of(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])
    assert svg.find(f"{SVG}desc").text.startswith("5 cases")
    assert texts(svg, "chart-label") == ["delivered", "accepted", "declined", "withdrawn"]

    # Payoke's side of the same cases, whatever the relay has carried back so far.
    theirs = Counter((b.case(case_id).status, 1) for case_id in sent)
    theirs[b.case(received).status, 0] += 1
    expected: dict[str, list[int]] = {}
    for (status, column), count in theirs.items():
        expected.setdefault(status, [0, 0])[column] += count
    payoke = page(signed_in(b, "case@payoke.example"), "/")
    assert overview(payoke) == {status: tuple(pair) for status, pair in expected.items()}
    assert theirs[("withdrawn", 1)] == 1 and sum(theirs.values()) == 5
