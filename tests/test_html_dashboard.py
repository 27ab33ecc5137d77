"""The HTML dashboard report (orchestration/bi/html_report.py) against the hand-built fixture database.

Every expected tile value below is worked out by hand from tests/fixtures/bot_leads/*.csv (as of
2025-03-31 17:00 UTC = 12:00 CDT; see tests/test_lead_capture_kpis.py for the row-by-row
reasoning); none is read back with SQL. Besides the example dashboard in
tests/fixtures/metabase_specs, the tests build a dashboard with one card per display type, an
erroring card, an empty one and one returning hostile strings. Every dashboard in metabase/dashboards
is rendered too, and opened in headless Chromium when it is installed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from orchestration.bi import html_report as hd
from orchestration.bi.specs import load_specs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SPECS = Path(__file__).parent / "fixtures" / "metabase_specs"
REPO_SPECS = ROOT / "metabase"
GENERATED_AT = datetime(2025, 3, 31, 18, 5, tzinfo=timezone.utc)
HOSTILE = '<script>alert("x")</script> & \'quotes\' "double"'


# ---------------------------------------------------------------- a tiny DOM over html.parser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list["Node"]:
        return [n for n in self.iter()
                if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> "Node":
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    return builder.root


def section(doc: Node, key: str) -> Node:
    return doc.find("section", data_card=key)


def tile_value(doc: Node, key: str) -> str:
    return section(doc, key).find(cls="value").text()


def chart_labels(node: Node) -> list[str]:
    return [t.text() for t in node.find_all("text", cls="label")]


def bar_values(node: Node) -> list[str]:
    return [t.text() for t in node.find_all("text", cls="value")]


def table_rows(node: Node) -> list[list[str]]:
    return [[td.text() for td in tr.find_all("td")] for tr in node.find("tbody").find_all("tr")]


# ---------------------------------------------------------------- specs: the example, plus every display type

def _card(name: str, display: str, sql: str, kpi: str = "s000.total_leads", parameters=None, settings=None) -> dict:
    card = {"name": name, "kpis": [kpi], "display": display, "sql": sql}
    if parameters:
        card["parameters"] = parameters
    if settings:
        card["visualization_settings"] = settings
    return card


SOURCE_PARAM = {"name": "source", "type": "text", "display_name": "Source"}
TEST_CARDS = {
    "html_test__total_leads": _card("Total leads", "scalar", """
        select count(*) as total_leads from marts.fct_bot_leads where true [[ and source = {{source}} ]]""",
        parameters=[SOURCE_PARAM]),
    "html_test__leads_in_week": _card("Leads in week", "scalar", """
        select count(*) as leads from marts.fct_bot_leads
        where created_date >= {{week_start}} and created_date < {{week_start}} + 7 [[ and source = {{source}} ]]""",
        kpi="s000.leads_created_this_week",
        parameters=[{"name": "week_start", "type": "date", "display_name": "Week start"}, SOURCE_PARAM]),
    "html_test__conversion_rate": _card("Conversion rate", "scalar", """
        select round(avg(is_converted::int), 4) as conversion_rate from marts.fct_bot_leads""",
        kpi="s000.converted_leads"),
    "html_test__avg_confidence": _card("Average confidence", "scalar", """
        select round(avg(confidence_score), 4) as avg_confidence_score from marts.fct_bot_leads""",
        kpi="s000.avg_confidence_score"),
    "html_test__by_source": _card("Leads and conversions by source", "bar", """
        select source, count(*) as leads, count(*) filter (where is_converted) as converted
        from marts.fct_bot_leads group by source order by leads desc, source""",
        settings={"graph.dimensions": ["source"], "graph.metrics": ["leads", "converted"]}),
    "html_test__by_region": _card("Leads by region", "row", """
        select region_label, count(*) as leads from marts.fct_bot_leads group by 1 order by 1"""),
    "html_test__by_weekday": _card("Leads by weekday", "line", """
        select created_day_name as weekday, count(*) as leads from marts.fct_bot_leads
        group by created_day_of_week, created_day_name order by created_day_of_week"""),
    "html_test__today_by_hour": _card("Leads today by hour", "area", """
        select created_hour, count(*) as leads from marts.fct_bot_leads
        where created_date = date '2025-03-31' group by 1 order by 1""", kpi="s000.leads_today"),
    "html_test__by_bot_type": _card("Leads by bot type", "pie", """
        select bot_type, count(*) as leads from marts.fct_bot_leads group by 1 order by 2 desc"""),
    "html_test__by_service": _card("Leads by service", "table", """
        select service_needed, count(*) as leads from marts.fct_bot_leads group by 1 order by 1"""),
    "html_test__hostile": _card('Tricky <b>"names"</b> & co', "table", """
        select '<script>alert("x")</script> & ''quotes'' "double"' as "<i>label</i>", 1 as n"""),
    "html_test__broken": _card("Broken card", "scalar", "select count(*) as n from marts.no_such_table"),
    "html_test__empty": _card("Nothing here", "bar", """
        select source, count(*) as leads from marts.fct_bot_leads where false group by 1"""),
    "html_test__weekly": _card("Leads per week", "smartscalar", """
        select date_trunc('week', created_date)::date as week, count(*) as leads from marts.fct_bot_leads
        where created_date >= date '2025-03-17' group by 1 order by 1"""),
}
TEST_DASHBOARD = {
    "name": "HTML report test",
    "description": "Every display type <on one page> & a broken card.",
    "collection": "Lead Analytics (test)",
    "filters": [{"slug": "source", "name": "Source", "type": "string/="},
                {"slug": "week", "name": "Week start", "type": "date/single", "default": "2025-03-24"}],
    "cards": [
        {"card": "html_test__total_leads", "row": 0, "col": 0, "size_x": 6, "size_y": 3, "mappings": {"source": "source"}},
        {"card": "html_test__leads_in_week", "row": 0, "col": 6, "size_x": 6, "size_y": 3,
         "mappings": {"source": "source", "week": "week_start"}},
        {"card": "html_test__conversion_rate", "row": 0, "col": 12, "size_x": 6, "size_y": 3},
        {"card": "html_test__avg_confidence", "row": 0, "col": 18, "size_x": 6, "size_y": 3},
        {"card": "html_test__by_source", "row": 3, "col": 0, "size_x": 12, "size_y": 7},
        {"card": "html_test__by_region", "row": 3, "col": 12, "size_x": 12, "size_y": 7},
        {"card": "html_test__by_weekday", "row": 10, "col": 0, "size_x": 12, "size_y": 6},
        {"card": "html_test__today_by_hour", "row": 10, "col": 12, "size_x": 12, "size_y": 6},
        {"card": "html_test__by_bot_type", "row": 16, "col": 0, "size_x": 8, "size_y": 5},
        {"card": "html_test__by_service", "row": 16, "col": 8, "size_x": 8, "size_y": 5},
        {"card": "html_test__hostile", "row": 16, "col": 16, "size_x": 8, "size_y": 5},
        {"card": "html_test__broken", "row": 21, "col": 0, "size_x": 6, "size_y": 3},
        {"card": "html_test__empty", "row": 21, "col": 6, "size_x": 9, "size_y": 3},
        {"card": "html_test__weekly", "row": 21, "col": 15, "size_x": 9, "size_y": 3},
    ],
}
# Marks each display draws per data point, and how many a card must have: rows × series (hand-counted).
MARKS = {"bar": ("rect", "bar"), "row": ("rect", "bar"), "line": ("circle", "point"), "area": ("circle", "point"),
         "pie": ("path", "slice")}
EXPECTED_MARKS = {"html_test__by_source": 8, "html_test__by_region": 5, "html_test__by_weekday": 6,
                  "html_test__today_by_hour": 5, "html_test__by_bot_type": 2}


@pytest.fixture(scope="module")
def test_specs_dir(tmp_path_factory) -> Path:
    """The example specs plus the every-display-type dashboard above."""
    path = tmp_path_factory.mktemp("specs")
    shutil.copytree(EXAMPLE_SPECS, path, dirs_exist_ok=True)
    for key, card in TEST_CARDS.items():
        (path / "cards" / f"{key}.yml").write_text(yaml.safe_dump(card, sort_keys=False))
    (path / "dashboards" / "html_test.yml").write_text(yaml.safe_dump(TEST_DASHBOARD, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def test_specs(test_specs_dir):
    return load_specs(test_specs_dir)


@pytest.fixture(scope="module")
def example_specs():
    return load_specs(EXAMPLE_SPECS)


@pytest.fixture(scope="module")
def rendered(lead_capture_fixture_db, test_specs) -> hd.RenderedDashboard:
    return hd.build_dashboard(lead_capture_fixture_db, test_specs.dashboards["html_test"], test_specs.cards,
                              generated_at=GENERATED_AT)


@pytest.fixture(scope="module")
def doc(rendered) -> Node:
    return parse(rendered.html)


# ---------------------------------------------------------------- formatting (no database)

@pytest.mark.parametrize("value, fmt, expected", [
    (1234567, hd.ColumnFormat(), "1,234,567"),
    (Decimal("19.0000"), hd.ColumnFormat(), "19"),
    (Decimal("0.6724"), hd.ColumnFormat(), "0.67"),
    (Decimal("3.0000"), hd.ColumnFormat(percent=True), "300.0%"),
    (Decimal("0.3158"), hd.ColumnFormat(percent=True, decimals=0), "32%"),
    (5, hd.ColumnFormat(suffix=" leads"), "5 leads"),
    (None, hd.ColumnFormat(), "—"),
    (True, hd.ColumnFormat(), "Yes"),
])
def test_format_value(value, fmt, expected):
    assert hd.format_value(value, fmt) == expected


def test_percent_by_column_name_or_visualization_settings(example_specs):
    card = example_specs.cards["lead_capture__leads_by_source"]
    assert hd.column_format(card, "week_growth_rate").percent
    assert not hd.column_format(card, "leads_created").percent
    styled = replace(card, visualization_settings={
        "column_settings": {'["name","share"]': {"number_style": "percent", "decimals": 2}}})
    assert hd.format_value(Decimal("0.25"), hd.column_format(styled, "share")) == "25.00%"


# ---------------------------------------------------------------- the example dashboard

def test_example_dashboard_with_default_filters(lead_capture_fixture_db, example_specs):
    page = hd.render_dashboard(lead_capture_fixture_db, example_specs.dashboards["lead_capture"],
                               example_specs.cards, generated_at=GENERATED_AT)
    doc = parse(page)
    assert doc.find("h1").text() == "Lead capture (example)"
    # Week of Mon 3 Mar: L09 (01:30 CST) and L10 (03:30 CDT) on Sunday 9 Mar; L11 is Saturday 1 Mar.
    assert tile_value(doc, "lead_capture__leads_created_this_week") == "2 leads"
    # The example card leaves out @example.com addresses (and NULL ones): every fixture e-mail is one.
    assert section(doc, "lead_capture__leads_by_source").find(cls="no-data").text() == "No data"
    assert doc.find(id="filters").text() == "Week start = 2025-03-03 (default) (not filtered: Source)"
    # No as-of given: the marts' own as-of moment, in the reporting time zone, with its origin.
    assert doc.find(id="as-of").text() == "2025-03-31 12:00 CDT (from marts.rpt_bot_leads__kpis.as_of_at)"
    assert doc.find(id="timezone").text() == "America/Chicago"
    assert doc.find(id="generated-at").text() == "2025-03-31 13:05 CDT"


def test_example_dashboard_with_filters(lead_capture_fixture_db, example_specs):
    page = hd.render_dashboard(lead_capture_fixture_db, example_specs.dashboards["lead_capture"], example_specs.cards,
                               {"week": "2025-03-31", "source": ["Website"]}, as_of="2025-03-31 12:00 (test)")
    doc = parse(page)
    # Week of 31 Mar, Website: L01, L02, L17 (L18 is after the as-of moment).
    assert tile_value(doc, "lead_capture__leads_created_this_week") == "3 leads"
    assert doc.find(id="filters").text() == "Week start = 2025-03-31; Source = Website"
    assert doc.find(id="as-of").text() == "2025-03-31 12:00 (test)"
    params = section(doc, "lead_capture__leads_created_this_week").find("p", cls="params").text()
    assert params == "Week start: 2025-03-31 · Source: Website"


def test_unknown_filter_is_an_error(lead_capture_fixture_db, example_specs):
    with pytest.raises(ValueError, match="has no filter.*wek"):
        hd.render_dashboard(lead_capture_fixture_db, example_specs.dashboards["lead_capture"], example_specs.cards,
                            {"wek": "2025-03-31"})


# ---------------------------------------------------------------- every display type

def test_every_card_is_placed_on_the_grid_with_its_query_time(doc):
    sections = doc.find_all("section", cls="card")
    assert [s.attrs["data-card"] for s in sections] == [c["card"] for c in TEST_DASHBOARD["cards"]]
    for s, spec in zip(sections, TEST_DASHBOARD["cards"]):
        assert s.attrs["style"] == (f"grid-column:{spec['col'] + 1} / span {spec['size_x']};"
                                    f"grid-row:{spec['row'] + 1} / span {spec['size_y']}")
        assert s.attrs["data-display"] == TEST_CARDS[spec["card"]]["display"]
        assert s.attrs["data-kpis"] == " ".join(TEST_CARDS[spec["card"]]["kpis"])
        assert float(s.attrs["data-query-ms"]) >= 0
    footer_rows = doc.find("table", cls="timings").find("tbody").find_all("tr")
    assert [r.attrs["data-card"] for r in footer_rows] == [c["card"] for c in TEST_DASHBOARD["cards"]]


def test_scalar_tiles(doc):
    assert tile_value(doc, "html_test__total_leads") == "19"
    # Default week 24-30 Mar: L06 (23:59:59 on the 24th), L05, L19, L04 (23:59 on the 30th).
    assert tile_value(doc, "html_test__leads_in_week") == "4"
    assert tile_value(doc, "html_test__conversion_rate") == "31.6%"     # 6 converted / 19, a *_rate column
    assert tile_value(doc, "html_test__avg_confidence") == "0.67"       # 11.43 / 17 scored leads
    weekly = section(doc, "html_test__weekly")
    assert weekly.find(cls="value").text() == "5"                       # week of 31 Mar: today's 5 leads
    assert weekly.find(cls="compare").text() == "vs 2025-03-24: 4 (▲25.0%)"


def test_bar_and_row_charts(doc):
    bar = section(doc, "html_test__by_source").find("svg", cls="chart")
    assert chart_labels(bar) == ["Website", "Ads", "Social", "WhatsApp"]
    rects = bar.find_all("rect", cls="bar")
    assert [(r.attrs["data-series"], r.find("title").text()) for r in rects] == [
        ("leads", "Website · Leads: 7"), ("converted", "Website · Converted: 3"),
        ("leads", "Ads · Leads: 5"), ("converted", "Ads · Converted: 1"),
        ("leads", "Social · Leads: 4"), ("converted", "Social · Converted: 2"),
        ("leads", "WhatsApp · Leads: 3"), ("converted", "WhatsApp · Converted: 0")]
    assert bar_values(bar) == ["7", "3", "5", "1", "4", "2", "3", "0"]
    heights = [float(r.attrs["height"]) for r in rects if r.attrs["data-series"] == "leads"]
    assert heights == sorted(heights, reverse=True) and heights[0] > heights[-1] > 0
    legend = section(doc, "html_test__by_source").find("ul", cls="legend").text()
    assert legend == "LeadsConverted"

    row = section(doc, "html_test__by_region").find("svg", cls="chart")
    assert [lbl.text() for lbl in row.find_all("text", cls="label")] == [
        "Midwest", "Northeast", "South", "Unknown", "West"]
    assert bar_values(row) == ["4", "2", "4", "5", "4"]
    assert len(row.find_all("rect", cls="bar")) == 5


def test_line_area_and_pie_charts(doc):
    line = section(doc, "html_test__by_weekday").find("svg", cls="chart")
    assert len(line.find_all("polyline", cls="line")) == 1
    assert [c.find("title").text() for c in line.find_all("circle", cls="point")] == [
        "Monday · Leads: 7", "Tuesday · Leads: 2", "Wednesday · Leads: 1", "Friday · Leads: 4",
        "Saturday · Leads: 2", "Sunday · Leads: 3"]
    area = section(doc, "html_test__today_by_hour").find("svg", cls="chart")
    assert len(area.find_all("path", cls="area")) == 1
    # The hour is the dimension (first column), not a second series.
    assert [c.find("title").text() for c in area.find_all("circle", cls="point")] == [
        f"{h} · Leads: 1" for h in (0, 8, 10, 11, 12)]

    pie = section(doc, "html_test__by_bot_type")
    assert [p.find("title").text() for p in pie.find_all("path", cls="slice")] == [
        "chat: 13 (68.4%)", "voice: 6 (31.6%)"]
    assert pie.find("text", cls="total").text() == "19"
    assert [li.text() for li in pie.find("ul", cls="legend").find_all("li")] == [
        "chat1368.4%", "voice631.6%"]


def test_table_empty_and_error_cards(doc, rendered):
    table = section(doc, "html_test__by_service")
    assert [th.text() for th in table.find_all("th")] == ["Service needed", "Leads"]
    assert table_rows(table) == [["AllyBundle", "3"], ["AllyChat", "11"], ["AllyVoice", "5"]]
    empty = section(doc, "html_test__empty")
    assert empty.attrs["data-status"] == "empty" and empty.find(cls="no-data").text() == "No data"
    broken = section(doc, "html_test__broken")
    assert broken.attrs["data-status"] == "error"
    assert broken.find(cls="error").text() == (
        'Query failed: UndefinedTable: relation "marts.no_such_table" does not exist')
    # The failure is exposed to callers, and the cards after it still ran (savepoints).
    assert [r.key for r in rendered.failures] == ["html_test__broken"]
    assert section(doc, "html_test__weekly").attrs["data-status"] == "ok"
    assert any(line.startswith("html_test__broken: ERROR UndefinedTable") for line in rendered.summary_lines())


def test_marks_per_data_point(doc):
    for key, expected in EXPECTED_MARKS.items():
        s = section(doc, key)
        tag, cls = MARKS[s.attrs["data-display"]]
        assert len(s.find("svg", cls="chart").find_all(tag, cls=cls)) == expected, key


# ---------------------------------------------------------------- safety: escaping, self-contained

def test_hostile_values_are_escaped(rendered, doc):
    hostile = section(doc, "html_test__hostile")
    assert hostile.find("h2").text() == 'Tricky <b>"names"</b> & co'
    assert [th.text() for th in hostile.find_all("th")] == ["<i>label</i>", "N"]
    assert table_rows(hostile) == [[HOSTILE, "1"]]
    assert doc.find(cls="description").text() == "Every display type <on one page> & a broken card."
    page = rendered.html
    assert "<script>alert" not in page and "<b>" not in page and "<i>" not in page
    assert page.count("<script") == 1  # ours


def test_hostile_filter_value_is_escaped(lead_capture_fixture_db, example_specs):
    value = '<img src=x onerror="alert(1)">'
    page = hd.render_dashboard(lead_capture_fixture_db, example_specs.dashboards["lead_capture"],
                               example_specs.cards, {"source": value})
    assert "<img" not in page
    doc = parse(page)
    assert doc.find(id="filters").text() == f"Week start = 2025-03-03 (default); Source = {value}"
    assert tile_value(doc, "lead_capture__leads_created_this_week") == "0 leads"


def test_page_is_self_contained(rendered):
    page = rendered.html
    refs = re.findall(r'\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["\']?([^"\'\s>]+)', page, re.I)
    assert refs == []
    assert not re.search(r"url\(|@import|@font-face|https?://|//[a-z0-9-]+\.", page, re.I)
    csp = parse(page).find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert csp.startswith("default-src 'none';") and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


# ---------------------------------------------------------------- writing files

def test_write_dashboard_writes_then_raises_on_failed_cards(lead_capture_fixture_db, test_specs, tmp_path):
    dashboard = test_specs.dashboards["html_test"]
    with pytest.raises(hd.DashboardRenderError, match="html_test__broken: UndefinedTable") as info:
        hd.write_dashboard(lead_capture_fixture_db, dashboard, test_specs.cards, tmp_path / "out")
    assert info.value.paths == [tmp_path / "out" / "html_test.html"]
    assert 'data-card="html_test__broken"' in (tmp_path / "out" / "html_test.html").read_text()
    path = hd.write_dashboard(lead_capture_fixture_db, dashboard, test_specs.cards, tmp_path / "out2", strict=False)
    assert path == tmp_path / "out2" / "html_test.html" and path.stat().st_size > 10_000


def test_write_all(lead_capture_fixture_db, tmp_path):
    paths = hd.write_all(lead_capture_fixture_db, EXAMPLE_SPECS, tmp_path, {"week": "2025-03-31"}, as_of="test")
    assert paths == [tmp_path / "lead_capture.html"]
    assert tile_value(parse(paths[0].read_text()), "lead_capture__leads_created_this_week") == "5 leads"
    with pytest.raises(ValueError, match="no dashboard has filter"):
        hd.write_all(lead_capture_fixture_db, EXAMPLE_SPECS, tmp_path, {"nope": 1})


# ---------------------------------------------------------------- the dashboards in metabase/

def _spec_dashboards() -> list[tuple[Path, str]]:
    found = [(EXAMPLE_SPECS, "lead_capture")]
    if (REPO_SPECS / "dashboards").is_dir():
        found += [(REPO_SPECS, p.stem) for p in sorted((REPO_SPECS / "dashboards").glob("*.yml"))]
    return found


@pytest.mark.parametrize("specs_dir, key", _spec_dashboards(),
                         ids=[f"{d.name}/{k}" for d, k in _spec_dashboards()])
def test_spec_dashboard_renders_without_errors(lead_capture_fixture_db, specs_dir, key):
    specs = load_specs(specs_dir)
    rendered = hd.build_dashboard(lead_capture_fixture_db, specs.dashboards[key], specs.cards)
    assert rendered.failures == [], rendered.summary_lines()
    doc = parse(rendered.html)
    assert {s.attrs["data-card"] for s in doc.find_all("section", cls="card")} == {
        dc.card for dc in specs.dashboards[key].cards}
    assert doc.find(id="as-of").text().startswith("2025-03-31 12:00 CDT")


# ---------------------------------------------------------------- headless Chromium

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    reason = ("chromium not installed: none of chromium, chromium-browser, google-chrome is on PATH "
              "(.ci/run installs it with apt-get install chromium)")
    if os.environ.get("LEAD_ANALYTICS_REQUIRE_CHROMIUM"):  # set by .ci/run: in CI a skip must not pass
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium_args(binary: str, profile: Path) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--virtual-time-budget=5000"]


def _run_chromium(page: Path, tmp_path: Path) -> tuple[str, Path, float]:
    """Dump the DOM after load and take a 1400×2000 screenshot, both at once; (dom, png, seconds)."""
    binary = _chromium()
    png = tmp_path / "screenshot.png"
    started = time.perf_counter()
    dump = subprocess.Popen(_chromium_args(binary, tmp_path / "profile-dom") + ["--dump-dom", page.as_uri()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shot = subprocess.Popen(_chromium_args(binary, tmp_path / "profile-png")
                            + ["--window-size=1400,2000", f"--screenshot={png}", page.as_uri()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dom, dom_err = dump.communicate(timeout=60)
        _, shot_err = shot.communicate(timeout=60)
    finally:
        for proc in (dump, shot):
            if proc.poll() is None:
                proc.kill()
    assert dump.returncode == 0, dom_err[-2000:]
    assert shot.returncode == 0, shot_err[-2000:]
    return dom, png, time.perf_counter() - started


def _chromium_cases() -> list[tuple[str, str]]:
    return [("test", "html_test"), ("repo", "lead_capture")]


@pytest.mark.parametrize("which, key", _chromium_cases(), ids=[f"{w}-{k}" for w, k in _chromium_cases()])
def test_chromium_renders_every_tile_and_chart(lead_capture_fixture_db, test_specs_dir, tmp_path, which, key):
    _chromium()
    specs = load_specs(test_specs_dir if which == "test" else REPO_SPECS)
    dashboard = specs.dashboards[key]
    page = hd.write_dashboard(lead_capture_fixture_db, dashboard, specs.cards, tmp_path / "report", strict=False)
    source = parse(page.read_text())
    dom_text, png, seconds = _run_chromium(page, tmp_path)
    print(f"chromium ({key}): dump-dom + screenshot in {seconds:.1f} s")
    dom = parse(dom_text)

    body = dom.find("body")
    assert body.attrs.get("data-render-failed") is None
    assert body.attrs.get("data-rendered") == str(len(dashboard.cards))   # set by the page's script on load
    sections = dom.find_all("section", cls="card")
    assert sorted(s.attrs["data-card"] for s in sections) == sorted(dc.card for dc in dashboard.cards)
    for s in sections:
        mark = MARKS.get(s.attrs["data-display"])
        if mark is None or s.attrs["data-status"] != "ok":
            continue
        drawn = len(s.find("svg", cls="chart").find_all(*mark))
        assert drawn == len(section(source, s.attrs["data-card"]).find("svg", cls="chart").find_all(*mark))
        rows = int(s.attrs["data-rows"])
        series = len({m.attrs.get("data-series") for m in s.find_all(*mark)}) if mark[1] != "slice" else 1
        assert drawn == rows * series, s.attrs["data-card"]
        if which == "test":
            assert drawn == EXPECTED_MARKS[s.attrs["data-card"]]
    assert png.exists() and png.stat().st_size > 10_000


# ---------------------------------------------------------------- the real lead-capture dashboard, by hand



def bars(doc: Node, key: str) -> list[tuple[str, str]]:
    """(label, value) of each bar of a one-series chart, from the bars' tooltips."""
    chart = section(doc, key).find("svg", cls="chart")
    titles = [r.find("title").text() for r in chart.find_all("rect", cls="bar")]
    pairs = [(t.split(" · ")[0], t.rsplit(": ", 1)[1]) for t in titles]
    assert [label for label, _ in pairs] == chart_labels(chart)
    return pairs


@pytest.fixture(scope="module")
def lead_capture_doc(lead_capture_fixture_db) -> Node:
    specs = load_specs(REPO_SPECS)
    return parse(hd.render_dashboard(lead_capture_fixture_db, specs.dashboards["lead_capture"], specs.cards))


def test_lead_capture_tiles_match_hand_values(lead_capture_doc):
    doc = lead_capture_doc
    # Hand values of tests/test_lead_capture_kpis.py (as of 2025-03-31 12:00 CDT, no filter).
    assert {key: tile_value(doc, f"lead_capture__{key}") for key in (
        "total_leads", "leads_today", "leads_this_week", "leads_this_month", "week_growth_rate",
        "month_growth_rate", "avg_leads_per_hour_today", "avg_confidence_score", "repeat_leads",
        "top_lead_source", "top_service_requested", "new_leads", "in_progress_leads", "converted_leads",
        "dropped_leads")} == {
        "total_leads": "19 leads", "leads_today": "5 leads", "leads_this_week": "8 leads",
        "leads_this_month": "14 leads", "week_growth_rate": "300.0%", "month_growth_rate": "600.0%",
        "avg_leads_per_hour_today": "0.38 leads/hour", "avg_confidence_score": "0.67", "repeat_leads": "3 leads",
        "top_lead_source": "Website", "top_service_requested": "AllyChat", "new_leads": "6 leads",
        "in_progress_leads": "4 leads", "converted_leads": "6 leads", "dropped_leads": "3 leads"}
    assert doc.find(id="filters").text().startswith("none — all data")


def test_lead_capture_charts_match_hand_values(lead_capture_doc):
    doc = lead_capture_doc
    assert bars(doc, "lead_capture__top_3_lead_sources") == [("Website", "7"), ("Ads", "5"), ("Social", "4")]
    assert bars(doc, "lead_capture__leads_by_source") == [
        ("Website", "7"), ("Ads", "5"), ("Social", "4"), ("WhatsApp", "3")]
    assert bars(doc, "lead_capture__conversion_rate_by_source") == [      # converted / leads per source
        ("Ads", "20.0%"), ("Social", "50.0%"), ("Website", "42.9%"), ("WhatsApp", "0.0%")]
    assert bars(doc, "lead_capture__leads_by_service") == [("AllyChat", "11"), ("AllyVoice", "5"), ("AllyBundle", "3")]
    assert bars(doc, "lead_capture__high_vs_low_confidence") == [("High (>= 0.8)", "8"), ("Low (< 0.5)", "4")]
    assert bars(doc, "lead_capture__leads_by_region") == [
        ("Unknown", "5"), ("Midwest", "4"), ("South", "4"), ("West", "4"), ("Northeast", "2")]
    assert bars(doc, "lead_capture__leads_by_day_of_week") == [
        ("Monday", "7"), ("Tuesday", "2"), ("Wednesday", "1"), ("Thursday", "0"), ("Friday", "4"),
        ("Saturday", "2"), ("Sunday", "3")]
    # Local hour of each lead: 0 L03 L05 L07 L11 L13; 1 L09 (CST); 3 L10 (CDT); 8 L20; 9 L16 L19; 10 L02;
    # 11 L01; 12 L15 L17; 23 L04 L06 L08 L12 L14.
    by_hour = {0: "5", 1: "1", 3: "1", 8: "1", 9: "2", 10: "1", 11: "1", 12: "2", 23: "5"}
    assert bars(doc, "lead_capture__leads_by_hour_of_day") == [(str(h), by_hour.get(h, "0")) for h in range(24)]
    # 24 bars: the written values leave out the zeros (their tooltips keep them).
    assert bar_values(section(doc, "lead_capture__leads_by_hour_of_day")) == list(by_hour.values())
    today = {0: "1", 8: "1", 10: "1", 11: "1", 12: "1"}
    assert bars(doc, "lead_capture__leads_by_hour_today") == [(str(h), today.get(h, "0")) for h in range(24)]
    pie = section(doc, "lead_capture__leads_by_bot_type")
    assert [p.find("title").text() for p in pie.find_all("path", cls="slice")] == [
        "chat: 13 (68.4%)", "voice: 6 (31.6%)"]


def test_lead_capture_with_a_source_filter(lead_capture_fixture_db):
    specs = load_specs(REPO_SPECS)
    doc = parse(hd.render_dashboard(lead_capture_fixture_db, specs.dashboards["lead_capture"], specs.cards,
                                    {"source": ["Website"]}))
    # Website: L01 L02 L09 L10 L11 L16 L17; today and this week L01 L02 L17.
    assert [tile_value(doc, f"lead_capture__{k}") for k in ("total_leads", "leads_today", "leads_this_week")] == [
        "7 leads", "3 leads", "3 leads"]
    assert doc.find(id="filters").text().startswith("Source = Website")
