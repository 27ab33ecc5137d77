"""The HTML report (orchestration/bi/html_report.py: run.py, tiles.py, page.py, charts.py) against the hand-built
fixture database.

Two dashboards are rendered: the real lead-capture dashboard (metabase/) and the chart-kinds test
dashboard (tests/fixtures/chart_kinds: one card per display, tabs, a text block, a metric selector).
Both are opened in headless Chromium (tests/browser.py: the DevTools protocol on a pipe, no network), which
runs the page's one script under its Content-Security-Policy; the tests read what the browser draws:
each chart mark's aria-label, written from the same text as the tile.

Every expected value is worked out BY HAND from the 19 fixture leads tabled in the docstring of
tests/test_lead_capture_cards.py (as of 2025-03-31 17:00 UTC = 12:00 CDT, a Monday); none is read back
from the SQL under test. The lead of each cell is named beside it.
"""

from __future__ import annotations

import html
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import get_args

import pytest
from browser import Page, open_report, tiles  # tests/ is on sys.path
from conftest import LEAD_CAPTURE_AS_OF, LEAD_CAPTURE_FIXTURE, build_fixture_warehouse

from orchestration import cli, pipeline
from orchestration.bi import charts, compiler, formats, run
from orchestration.bi import html_report as hr
from orchestration.bi.compiled import Window
from orchestration.bi.page import script_hash
from orchestration.bi.specs import AsOf, DashboardFilter, Display
from orchestration.bi.tiles import BODIES, chart_roles

ROOT = Path(__file__).resolve().parent.parent
CHART_KINDS_DIR = Path(__file__).parent / "fixtures" / "chart_kinds"
CHART_KINDS = compiler.compile_specs(CHART_KINDS_DIR, cache_dir=compiler.CACHE_DIR / "chart_kinds")
REPO = compiler.compile_specs(ROOT / "metabase")
GENERATED_AT = datetime(2025, 3, 31, 18, 5, tzinfo=UTC)
NOTICE = "Data last published 2025-03-31 12:05 CDT <b>(test notice)</b>"


@pytest.fixture(autouse=True)
def _chicago(monkeypatch):
    monkeypatch.setenv("LEAD_ANALYTICS_TIMEZONE", "America/Chicago")


@pytest.fixture(scope="module")
def chart_kinds_report(lead_capture_fixture_db) -> hr.Report:
    started = time.perf_counter()
    report = hr.build_report(
        lead_capture_fixture_db,
        CHART_KINDS.cards,
        CHART_KINDS.dashboards["chart_kinds"],
        notices=[NOTICE],
        generated_at=GENERATED_AT,
    )
    print(
        f"chart_kinds: {len(report.results)} queries in {report.query_seconds * 1000:.0f} ms, {report.charts} "
        f"charts in {report.chart_seconds * 1000:.0f} ms, {time.perf_counter() - started:.2f} s in all"
    )
    return report


@pytest.fixture(scope="module")
def chart_kinds_page(chart_kinds_report, browser, tmp_path_factory) -> Page:
    return open_report(browser, chart_kinds_report.write(tmp_path_factory.mktemp("chart_kinds")))


@pytest.fixture(scope="module")
def lead_capture_report(lead_capture_fixture_db) -> hr.Report:
    started = time.perf_counter()
    report = hr.build_report(
        lead_capture_fixture_db, REPO.cards, REPO.dashboards["lead_capture"], generated_at=GENERATED_AT
    )
    print(
        f"lead_capture: {len(report.results)} queries in {report.query_seconds * 1000:.0f} ms, {report.charts} "
        f"charts in {report.chart_seconds * 1000:.0f} ms, {time.perf_counter() - started:.2f} s in all"
    )
    return report


@pytest.fixture(scope="module")
def lead_capture_page(lead_capture_report, browser, tmp_path_factory) -> Page:
    return open_report(browser, lead_capture_report.write(tmp_path_factory.mktemp("lead_capture")))


# ---------------------------------------------------------------- every display, drawn by the browser


def test_every_display_has_a_renderer_and_a_card_on_the_test_dashboard():
    assert set(BODIES) == set(get_args(Display))
    assert {c.display for c in CHART_KINDS.cards.values()} == set(get_args(Display))


def test_every_chart_spec_is_valid_vega_lite(chart_kinds_report, lead_capture_report):
    import altair as alt

    checked = 0
    for result in chart_kinds_report.results + lead_capture_report.results:
        if result.card.display in charts.CHART_DISPLAYS:
            dims, measures = chart_roles(result)
            alt.LayerChart.from_dict(
                charts.chart_spec(result.card.display, result.card.name, dims, measures, 400, 200)
            )  # raises on a schema error
            checked += 1
    assert checked == chart_kinds_report.charts + lead_capture_report.charts
    assert checked >= len(charts.CHART_DISPLAYS)  # the test dashboard has a card of every chart display


def test_page_is_one_offline_file_and_its_script_runs_under_the_csp(chart_kinds_report, chart_kinds_page):
    page = chart_kinds_report.html
    assert (
        page.count("<script") == 1
        and "src=" not in page
        and "http://"
        not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
        )
    )
    csp = html.unescape(page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0])
    assert f"script-src '{script_hash()}'" in csp and csp.startswith("default-src 'none';")
    # the script ran (the CSP let its hash through) and nothing else did: the text block's <script> is text
    assert chart_kinds_page.eval("document.body.dataset.ready") == "true"
    assert chart_kinds_page.eval("document.scripts.length") == 1
    assert "<script>alert('x')</script> Raw HTML stays text." in chart_kinds_page.eval(
        "document.querySelector('.text-block').textContent"
    )
    assert chart_kinds_page.eval("document.querySelector('.text-block strong').textContent") == "Charts"
    assert "<b>Not bold</b> & escaped." in chart_kinds_page.eval("document.querySelector('.description').textContent")
    assert chart_kinds_page.eval("Array.from(document.querySelectorAll('#notices li')).map(l => l.textContent)") == [
        NOTICE
    ]


def _marks(tile: dict) -> list[str]:
    assert len(tile["figures"]) == 1, tile["key"]
    figure = tile["figures"][0]
    assert figure["width"] > 100 and figure["height"] > 80, tile["key"]
    return figure["marks"]


def test_chart_kinds_draw_the_hand_counted_values(chart_kinds_page):
    shown = tiles(chart_kinds_page)
    assert _marks(shown["chart_kinds__bar"]) == [
        "Website; Leads: 7",
        "Ads; Leads: 5",
        "Social; Leads: 4",
        "WhatsApp; Leads: 3",
    ]
    assert shown["chart_kinds__bar"]["figures"][0]["texts"] == ["7", "5", "4", "3"]
    # source x bot type: Ads chat L06 L12 L13, voice L05 L19; Social chat L07 L14 L20, voice L08;
    # Website chat L01 L09 L10 L16 L17, voice L02 L11; WhatsApp chat L03 L04, voice L15
    assert sorted(_marks(shown["chart_kinds__stacked_bar"])) == sorted(
        [
            "Ads; chat; Leads: 3",
            "Ads; voice; Leads: 2",
            "Social; chat; Leads: 3",
            "Social; voice; Leads: 1",
            "Website; chat; Leads: 5",
            "Website; voice; Leads: 2",
            "WhatsApp; chat; Leads: 2",
            "WhatsApp; voice; Leads: 1",
        ]
    )
    assert _marks(shown["chart_kinds__row"]) == ["AllyChat; Leads: 11", "AllyVoice; Leads: 5", "AllyBundle; Leads: 3"]
    # March by day: 1st L11; 9th L09 L10; 17th L08; 18th L07; 24th L06; 25th L05; 28th L19; 30th L04;
    # 31st L01 L02 L03 L17 L20; every other day 0
    march = {1: 1, 9: 2, 17: 1, 18: 1, 24: 1, 25: 1, 28: 1, 30: 1, 31: 5}
    assert _marks(shown["chart_kinds__line"]) == [f"2025-03-{d:02d}; Leads: {march.get(d, 0)}" for d in range(1, 32)]
    # local hour: 0 L03 L05 L07 L11 L13; 1 L09; 3 L10; 8 L20; 9 L16 L19; 10 L02; 11 L01; 12 L15 L17;
    # 23 L04 L06 L08 L12 L14
    hours = {0: 5, 1: 1, 3: 1, 8: 1, 9: 2, 10: 1, 11: 1, 12: 2, 23: 5}
    assert _marks(shown["chart_kinds__area"]) == [f"{h}; Leads: {hours.get(h, 0)}" for h in range(24)]
    # months: Jan L14 L15 L16 (scores .99 .8 .5), Feb L12 L13 (.85 .45), Mar 14 leads, 12 scored summing 7.84
    assert _marks(shown["chart_kinds__combo"]) == [
        "Jan 2025; Leads: 3",
        "Feb 2025; Leads: 2",
        "Mar 2025; Leads: 14",
        "Jan 2025; Average confidence score: 0.76",
        "Feb 2025; Average confidence score: 0.65",
        "Mar 2025; Average confidence score: 0.65",
    ]
    assert _marks(shown["chart_kinds__donut"]) == ["chat: 13 (68.4%)", "voice: 6 (31.6%)"]  # 13/19, 6/19


def test_funnel_step_percentages(chart_kinds_page):
    shown = tiles(chart_kinds_page)
    # 19 leads; high confidence L01 L02 L06 L09 L12 L14 L15 L19 = 8; converted L02 L06 L07 L09 L14 L16 = 6
    # 8/19 = 42.1%, 6/19 = 31.6%, 6/8 = 75.0%
    assert _marks(shown["chart_kinds__funnel"]) == [
        "Leads: 19; 100.0% of the first step; 100.0% of the previous step",
        "High confidence: 8; 42.1% of the first step; 42.1% of the previous step",
        "Converted: 6; 31.6% of the first step; 75.0% of the previous step",
    ]
    assert shown["chart_kinds__funnel"]["figures"][0]["texts"] == [
        "19",
        "8 · 42.1% of first · 42.1% of previous",
        "6 · 31.6% of first · 75.0% of previous",
    ]
    # rows as steps, most first: converted 6, new 6 (L01 L05 L11 L15 L17 L19), in progress 4 (L03 L10 L12 L20),
    # dropped 3 (L04 L08 L13): 4/6 = 66.7%, 3/6 = 50.0%, 3/4 = 75.0%
    assert _marks(shown["chart_kinds__funnel_rows"]) == [
        "converted: 6; 100.0% of the first step; 100.0% of the previous step",
        "new: 6; 100.0% of the first step; 100.0% of the previous step",
        "in progress: 4; 66.7% of the first step; 66.7% of the previous step",
        "dropped: 3; 50.0% of the first step; 75.0% of the previous step",
    ]


def test_heatmap_has_every_weekday_and_hour_and_the_hand_counted_cells(chart_kinds_page):
    marks = _marks(tiles(chart_kinds_page)["chart_kinds__heatmap"])
    assert len(marks) == 7 * 24
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    assert [m.split(",")[0] for m in marks[::24]] == list(days)  # Monday first
    assert [m.split("Hour ")[1].split(":")[0] for m in marks[:24]] == [str(h) for h in range(24)]
    cells = {m.split(": ")[0]: m.split(": ")[1] for m in marks if not m.endswith("no data")}
    assert cells == {  # local weekday and hour of each lead
        "Monday, Hour 0": "1",  # L03
        "Monday, Hour 8": "1",  # L20
        "Monday, Hour 10": "1",  # L02
        "Monday, Hour 11": "1",  # L01
        "Monday, Hour 12": "1",  # L17
        "Monday, Hour 23": "2",  # L06 L08
        "Tuesday, Hour 0": "2",  # L05 L07
        "Wednesday, Hour 12": "1",  # L15
        "Friday, Hour 9": "2",  # L16 L19
        "Friday, Hour 23": "2",  # L12 L14
        "Saturday, Hour 0": "2",  # L11 L13
        "Sunday, Hour 1": "1",  # L09 (CST)
        "Sunday, Hour 3": "1",  # L10 (CDT)
        "Sunday, Hour 23": "1",  # L04
    }


def test_heatmap_refuses_two_rows_for_one_cell():
    dims = [charts.Dim("iso_weekday", "Weekday", (1, 1)), charts.Dim("hour_of_day", "Hour", (0, 0))]
    measures = [charts.Measure("leads", "Leads", (1.0, 2.0), ("1", "2"))]
    with pytest.raises(charts.ChartError, match="two rows for the cell Weekday Monday, Hour 0"):
        charts.chart_spec("heatmap", "t", dims, measures, 400, 200)


def test_a_pie_whose_slices_are_all_zero_is_no_data_not_a_broken_report():
    """A quiet period (e.g. no leads in the last 30 days) is not an error: the report draws "No data" there."""
    dims = [charts.Dim("source", "Source", ("Ads", "Website"))]
    measures = [charts.Measure("leads", "Leads", (0.0, 0.0), ("0", "0"))]
    with pytest.raises(charts.NothingToDraw, match="every slice is 0"):
        charts.chart_spec("pie", "t", dims, measures, 400, 200)
    assert issubclass(charts.NothingToDraw, charts.ChartError)  # other chart errors still stop the report


def test_a_chart_is_drawn_once_for_its_spec_and_read_back_after(tmp_path, monkeypatch):
    """A refresh cycle redraws only the charts whose data changed: the SVG of a spec already drawn is read back from
    the state folder. A changed value is a new spec, so it is drawn; old drawings beyond the limit are pruned."""
    monkeypatch.setattr(charts, "_svg_cache", lambda: tmp_path / "svgs")
    dims = [charts.Dim("source", "Source", ("Ads", "Website"))]

    def spec(website: float) -> dict:
        measures = [charts.Measure("leads", "Leads", (3.0, website), ("3", f"{website:.0f}"))]
        return charts.chart_spec("bar", "Leads by source", dims, measures, 400, 200)

    [first] = charts.render_svgs([("c1", spec(5.0))])
    [drawn] = list((tmp_path / "svgs").glob("*.svg"))
    assert 'aria-label="Website; Leads: 5"' in first
    # what is read back is the stored drawing, not a new one: mark it and see the mark come back
    drawn.write_text(drawn.read_text().replace("Website; Leads: 5", "Website; Leads: 5 (stored)"))
    [again] = charts.render_svgs([("c1", spec(5.0))])
    assert 'aria-label="Website; Leads: 5 (stored)"' in again
    [changed] = charts.render_svgs([("c1", spec(6.0))])  # new data: drawn, not the stored one
    assert 'aria-label="Website; Leads: 6"' in changed and len(list((tmp_path / "svgs").glob("*.svg"))) == 2
    drawn.write_text(drawn.read_text()[:200])  # cut short (a crash mid-write): drawn again, not read back
    [redrawn] = charts.render_svgs([("c1", spec(5.0))])
    assert 'aria-label="Website; Leads: 5"' in redrawn and drawn.read_text().rstrip().endswith("</svg>")
    monkeypatch.setattr(charts, "SVG_CACHE_FILES", 1)
    os.utime(drawn, (1, 1))  # the first drawing is the oldest used
    charts.render_svgs([("c1", spec(6.0))])
    assert not drawn.exists() and len(list((tmp_path / "svgs").glob("*.svg"))) == 1


def test_a_combo_on_one_shared_axis_titles_it_once_with_every_measure():
    """Bars and a line of the same scale share the left axis: each layer gives it the same title, which Vega-Lite
    shows once ("Potential MECs, MECs"; differing layer titles would be joined, repeats included)."""
    dims = [charts.Dim("month", "Month", ("2025-01-01", "2025-02-01"))]
    measures = [
        charts.Measure("mecs", "MECs", (3.0, 4.0), ("3", "4"), ",~r", "line"),
        charts.Measure("potential", "Potential MECs", (5.0, 6.0), ("5", "6"), ",~r", "bar"),
    ]
    spec = charts.chart_spec("combo", "t", dims, measures, 400, 200)
    titles = {layer["encoding"]["y"]["axis"]["title"] for layer in spec["layer"]}
    assert titles == {"MECs, Potential MECs"}


# Of each chart: its box; each axis label Vega draws (not hidden by labelOverlap) and axis title (its lines joined by
# " / ") with the corners of its glyph box on the page (turned with its text); the labels whose turned boxes meet.
AXES_JS = """
Array.from(document.querySelectorAll('svg')).map(svg => {
  const quad = t => { const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(m); return [p.x, p.y]; }); };
  const apart = (a, b) => [a, b].some(q => q.some((p, i) => {  // a side of either box separates them
    const [x1, y1] = p, [x2, y2] = q[(i + 1) % 4], n = [y2 - y1, x1 - x2];
    const pa = a.map(([x, y]) => x * n[0] + y * n[1]), pb = b.map(([x, y]) => x * n[0] + y * n[1]);
    return Math.max(...pa) <= Math.min(...pb) + 0.5 || Math.max(...pb) <= Math.min(...pa) + 0.5; }));
  const texts = sel => Array.from(svg.querySelectorAll(sel))
    .filter(t => t.getAttribute('opacity') !== '0' && t.textContent !== '').map(t => [
      t.querySelector('tspan') ? Array.from(t.querySelectorAll('tspan')).map(s => s.textContent).join(' / ')
                               : t.textContent, quad(t)]);
  const labels = texts('.role-axis-label text'), r = svg.getBoundingClientRect();
  const clashes = [];
  labels.forEach(([x, a], i) => labels.slice(i + 1).forEach(([y, b]) => { if (!apart(a, b)) clashes.push([x, y]); }));
  return {svg: [r.left, r.top, r.right, r.bottom], labels: labels, titles: texts('.role-axis-title text'), clashes};
})
"""


def test_two_years_of_months_and_a_long_axis_title_fit_a_half_width_chart(browser, tmp_path):
    """A combo of 24 months on half the page (the executive summary's manual cost vs investment) and an area with a
    45-character value axis title (time savings): no month label drawn over another, every axis title inside its
    chart. Before, the month labels ran into each other and the title was cut at the top and bottom."""
    months = tuple(date(2024 + (11 + i) // 12, (11 + i) % 12 + 1, 1) for i in range(24))
    dim = charts.Dim("month", "Month", months)
    cost = tuple(5000.0 + 300 * i for i in range(24))
    spent = tuple(None if i < 3 else 2500.0 for i in range(24))
    hours = tuple(100.0 * i + 50 for i in range(24))

    def measure(column: str, title: str, values: tuple, fmt: str, mark: str = "bar") -> charts.Measure:
        return charts.Measure(column, title, values, tuple("" if v is None else f"{v:,.0f}" for v in values), fmt, mark)

    width, height = 12 * 57 - 40, 6 * 40 - 40  # a 12 x 6 tile, as tiles.py sizes it
    specs = [
        (
            "combo",
            charts.chart_spec(
                "combo",
                "Manual process cost vs automation investment",
                [dim],
                [
                    measure("roi_time_savings_value", "Manual process cost avoided", cost, "$,.0f"),
                    measure("roi_system_costs", "Automation investment", spent, "$,.0f", "line"),
                ],
                width,
                height,
            ),
        ),
        (
            "area",
            charts.chart_spec(
                "area",
                "Time savings accumulation",
                [dim],
                [measure("roi_cumulative_hours_saved", "Hours saved since go-live (team, cumulative)", hours, ",.1f")],
                width,
                height,
            ),
        ),
    ]
    combo_axis = specs[0][1]["layer"][0]["encoding"]["x"]["axis"]
    assert combo_axis["labelAngle"] == -40  # 24 labels side by side need about 990 px of the 644
    svgs = charts.render_svgs(specs)
    page = tmp_path / "axes.html"
    page.write_text(
        "<!doctype html><html><body style='margin:20px'>"
        + "".join(f"<div style='width:{width}px;margin-bottom:20px'>{svg}</div>" for svg in svgs)
        + "</body></html>"
    )
    opened = browser.open(page.as_uri())
    opened.screenshot(page.with_suffix(".png"))
    combo, area = opened.eval(AXES_JS)

    def inside(corners, box) -> bool:
        return all(box[0] - 1 <= x <= box[2] + 1 and box[1] - 1 <= y <= box[3] + 1 for x, y in corners)

    for chart in (combo, area):
        assert chart["titles"] and all(inside(q, chart["svg"]) for _, q in chart["titles"]), chart["titles"]
        assert chart["clashes"] == [] and all(inside(q, chart["svg"]) for _, q in chart["labels"])
    shown = [t for t, _ in combo["labels"]]
    assert shown[:3] == ["Dec 2024", "Jan 2025", "Feb 2025"] and "Nov 2026" in shown  # the months, with their year
    assert sorted(t for t, _ in area["titles"]) == ["Hours saved since go-live / (team, cumulative)", "Month"]


def test_metric_selector_switches_offline(chart_kinds_page):
    page = chart_kinds_page
    tile = tiles(page)["chart_kinds__selector"]
    # default option Converted leads: Ads L06, Social L07 L14, Website L02 L09 L16, WhatsApp none
    assert tile["selected"] == "Converted leads"
    assert _marks(tile) == [
        "Ads; Converted leads: 1",
        "Social; Converted leads: 2",
        "Website; Converted leads: 3",
        "WhatsApp; Converted leads: 0",
    ]
    page.eval("""(() => { const s = document.querySelector('select[data-selector="chart_kinds__selector"]');
                 s.value = s.querySelector('option:first-child').value; s.dispatchEvent(new Event('change')); })()""")
    tile = tiles(page)["chart_kinds__selector"]
    assert tile["selected"] == "Leads"
    assert _marks(tile) == ["Ads; Leads: 5", "Social; Leads: 4", "Website; Leads: 7", "WhatsApp; Leads: 3"]


def test_tabs_switch_and_the_numbers_tab_shows_its_tiles(chart_kinds_page):
    page = chart_kinds_page
    before = tiles(page)
    assert page.eval("document.body.dataset.tab") == "charts"
    assert before["chart_kinds__bar"]["visible"] and not before["chart_kinds__scalar"]["visible"]
    page.eval("document.getElementById('tab-button-numbers').click()")
    after = tiles(page)
    assert not after["chart_kinds__bar"]["visible"] and after["chart_kinds__scalar"]["visible"]
    assert after["chart_kinds__scalar"]["value"] == "19 leads"
    # calendar week of Monday 31 March: L01 L02 L03 L17 L20 (5); week of 24 March: L04 L05 L06 L19 (4)
    smart = after["chart_kinds__smartscalar"]
    assert smart["value"] == "5"
    assert smart["caption"] == "Week of 31 Mar 2025, so far: 31 Mar 2025 (1 of 7 days)"  # the as-of: on the header
    assert smart["compare"] == "▲ 25.0% vs week of 24 Mar 2025: 4"
    assert after["chart_kinds__this_month"]["windows"] == ["This month to date: 1–31 Mar 2025 (31 days)"]
    assert after["chart_kinds__this_month"]["value"] == "14 leads"  # the metric's unit (its config.meta)
    page.eval("document.getElementById('tab-button-charts').click()")


ROLLUP_JS = """
(() => {
  const root = document.querySelector('section[data-card="chart_kinds__rollup"] .rollup');
  root.querySelectorAll('details').forEach(d => d.open = true);
  const nums = line => Array.from(line.querySelectorAll(':scope > .num')).map(n => n.textContent);
  const walk = container => Array.from(container.children).filter(c => c.matches('details, .leaf')).map(c => {
    const line = c.matches('details') ? c.querySelector(':scope > summary') : c;
    return {name: line.querySelector('.name').textContent, nums: nums(line),
            visible: line.checkVisibility(),
            children: c.matches('details') ? walk(c) : []};
  });
  return {tree: walk(root), total: nums(root.querySelector('.total'))};
})()
"""


def test_rollup_nests_and_every_level_adds_up(chart_kinds_page):
    page = chart_kinds_page
    page.eval("document.getElementById('tab-button-numbers').click()")
    assert (
        page.eval("""document.querySelector('section[data-card="chart_kinds__rollup"] .leaf')
                        .checkVisibility()""")
        is False
    )  # collapsed at first
    rollup = page.eval(ROLLUP_JS)
    page.eval("document.getElementById('tab-button-charts').click()")
    tree = rollup["tree"]
    # leads, converted (converted: L02 Website voice, L06 Ads chat, L07 Social chat, L09 Website chat,
    # L14 Social chat, L16 Website chat)
    assert [(n["name"], n["nums"]) for n in tree] == [
        ("Ads", ["5", "1"]),
        ("Social", ["4", "2"]),
        ("Website", ["7", "3"]),
        ("WhatsApp", ["3", "0"]),
    ]
    assert rollup["total"] == ["19", "6"]
    ads = tree[0]["children"]
    assert [(n["name"], n["nums"]) for n in ads] == [("chat", ["3", "1"]), ("voice", ["2", "0"])]
    assert [(n["name"], n["nums"]) for n in ads[0]["children"]] == [
        ("AllyBundle", ["1", "0"]),
        ("AllyChat", ["2", "1"]),
    ]

    def check(nodes: list[dict]) -> list[int]:
        sums = [0, 0]
        for node in nodes:
            assert node["visible"]
            if node["children"]:
                assert check(node["children"]) == [int(x) for x in node["nums"]], node["name"]
            sums = [a + int(b) for a, b in zip(sums, node["nums"], strict=True)]
        return sums

    assert check(tree) == [19, 6]


# ---------------------------------------------------------------- the lead-capture dashboard for business users


def test_lead_capture_tiles_and_charts_in_the_browser(lead_capture_page):
    shown = tiles(lead_capture_page)
    assert set(shown) == {p.card for p in REPO.dashboards["lead_capture"].cards if p.card}
    values = {k.removeprefix("lead_capture__"): t["value"] for k, t in shown.items() if t["display"] == "scalar"}
    assert values == {  # hand values of tests/test_lead_capture_kpis.py
        "total_leads": "19 leads",
        "leads_today": "5 leads",
        "leads_this_week": "8 leads",
        "leads_this_month": "14 leads",
        "week_growth_rate": "300.0%",
        "month_growth_rate": "600.0%",
        "avg_leads_per_hour_today": "0.38 leads/hour",
        "avg_confidence_score": "0.67",
        "repeat_leads": "3 leads",
        "top_lead_source": "Website",
        "top_service_requested": "AllyChat",
        "new_leads": "6 leads",
        "in_progress_leads": "4 leads",
        "converted_leads": "6 leads",
        "dropped_leads": "3 leads",
    }
    for key, tile in shown.items():
        if tile["display"] in charts.CHART_DISPLAYS:
            assert _marks(tile), key
    assert _marks(shown["lead_capture__top_3_lead_sources"]) == [
        "Website; Leads: 7",
        "Ads; Leads: 5",
        "Social; Leads: 4",
    ]
    assert _marks(shown["lead_capture__conversion_rate_by_source"]) == [  # converted / leads per source
        "Ads; Conversion rate: 20.0%",
        "Social; Conversion rate: 50.0%",
        "Website; Conversion rate: 42.9%",
        "WhatsApp; Conversion rate: 0.0%",
    ]
    assert _marks(shown["lead_capture__high_vs_low_confidence"]) == [
        "High confidence (>= 0.8): 8",
        "Low confidence (< 0.5): 4",
    ]
    assert _marks(shown["lead_capture__leads_by_day_of_week"]) == [
        f"{d}; Leads: {n}"
        for d, n in (
            ("Monday", 7),
            ("Tuesday", 2),
            ("Wednesday", 1),
            ("Thursday", 0),
            ("Friday", 4),
            ("Saturday", 2),
            ("Sunday", 3),
        )
    ]
    assert _marks(shown["lead_capture__leads_by_bot_type"]) == ["chat: 13 (68.4%)", "voice: 6 (31.6%)"]


def test_tiles_say_what_they_count_for_which_dates(lead_capture_page):
    shown = tiles(lead_capture_page)
    for key, tile in shown.items():
        assert tile["desc"] == REPO.cards[key].description  # the card's plain words, whole
        assert "s000." not in tile["desc"] and "marts." not in tile["desc"]
    # as of Monday 31 March: today; the rolling week 25-31 March; the month to date; the bases of the growth rates
    assert shown["lead_capture__leads_today"]["windows"] == ["Today: 31 Mar 2025 (1 day)"]
    assert shown["lead_capture__leads_this_week"]["windows"] == ["This week (rolling 7 days): 25–31 Mar 2025 (7 days)"]
    assert shown["lead_capture__leads_this_month"]["windows"] == ["This month to date: 1–31 Mar 2025 (31 days)"]
    assert shown["lead_capture__month_growth_rate"]["windows"] == [
        "This month to date: 1–31 Mar 2025 (31 days)",
        "Previous month to the same day: 1–28 Feb 2025 (28 days)",
    ]
    assert shown["lead_capture__total_leads"]["windows"] == []


def test_the_smart_numbers_period_is_the_cards_compiled_grain():
    """The period a smart number names is the grain of its card's time group-by, not a guess from the dates."""
    assert CHART_KINDS.cards["chart_kinds__smartscalar"].time_grain == "week"  # metric_time__week
    assert REPO.cards["campaigns__roi"].time_grain == "month"  # metric_time__month
    assert REPO.cards["lead_capture__total_leads"].time_grain is None  # no time group-by


def test_the_as_of_effect_on_the_first_of_a_month_is_spelled_out():
    """On 1 April "this month" is one day while the rolling week is seven: the window line says so."""
    month = Window(
        label="This month to date",
        table="marts.dim_calendar",
        date_column="calendar_date",
        flag_column="is_month_to_date",
    )
    week = Window(
        label="This week (rolling 7 days)",
        table="marts.dim_calendar",
        date_column="calendar_date",
        flag_column="is_in_rolling_7d",
    )
    assert (
        run.WindowDates(month, date(2025, 4, 1), date(2025, 4, 1), 1).text() == "This month to date: 1 Apr 2025 (1 day)"
    )
    assert run.WindowDates(week, date(2025, 3, 26), date(2025, 4, 1), 7).text() == (
        "This week (rolling 7 days): 26 Mar – 1 Apr 2025 (7 days)"
    )


def test_definition_detail_holds_the_metric_definitions(lead_capture_report):
    page = lead_capture_report.html
    section = page[page.index('data-card="lead_capture__total_leads"') :]
    section = section[: section.index("</section>")]
    detail = section[section.index('<details class="definition">') :]
    assert "<summary>Definition</summary>" in detail
    assert "<strong>Total Leads</strong>" in detail and "<code>count(lead_id)</code>" in detail  # markdown rendered
    assert "s000.total_leads" in detail


def test_no_query_timings_unless_asked(lead_capture_fixture_db, lead_capture_report):
    assert "Query times" not in lead_capture_report.html and "data-query-ms" not in lead_capture_report.html
    timed = hr.build_report(
        lead_capture_fixture_db, CHART_KINDS.cards, CHART_KINDS.dashboards["chart_kinds"], timings=True
    )
    assert "<caption>Query times</caption>" in timed.html and 'data-query-ms="' in timed.html


def test_filters_ignore_case_and_are_written_as_the_data_spells_them(lead_capture_fixture_db):
    report = hr.build_report(
        lead_capture_fixture_db,
        REPO.cards,
        REPO.dashboards["lead_capture"],
        {"source": ["website"], "created": "2025-03-01~2025-03-31"},
    )
    assert report.filters == {"source": ["Website"], "created": "2025-03-01~2025-03-31"}
    # Website in March: L01 L02 L09 L10 L11 L17; today and the rolling week ignore the Created range: L01 L02 L17
    by_key = {r.card.key: r.rows for r in report.results}
    assert by_key["lead_capture__total_leads"] == [(6,)]
    assert by_key["lead_capture__leads_this_week"] == [(3,)]
    assert report.filename == "lead_capture--created-2025-03-01_2025-03-31--source-website.html"
    assert "Created = 2025-03-01~2025-03-31 (1–31 Mar 2025); Source = Website" in report.html
    week = report.html[report.html.index('data-card="lead_capture__leads_this_week"') :]
    week = week[: week.index("</section>")]
    assert "Source: Website" in week and ">Not narrowed by Created<" in week


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"source": ["Email"]}, "source: no 'Email' in Source (its values: Ads, Social, Website, WhatsApp)"),
        ({"created": "2025-02-30"}, "created: '2025-02-30' is not a date filter value (use 2025-03-01~2025-03-31"),
        ({"created": "2025-03-31~2025-03-01"}, "created: '2025-03-31~2025-03-01' starts after it ends"),
        ({"created": ["2025-03", "2025-04"]}, "created: takes one date value"),
        (
            {"region": ["West"]},
            "dashboard 'lead_capture' has no filter 'region'; its filters: created (a date: 2025-03-01~2025-03-31",
        ),
    ],
)
def test_bad_filter_values_stop_before_any_query(lead_capture_fixture_db, filters, message):
    with pytest.raises(run.FilterError) as caught:
        hr.build_report(lead_capture_fixture_db, REPO.cards, REPO.dashboards["lead_capture"], filters)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_failing_card_stops_the_report(lead_capture_fixture_db):
    cards = dict(REPO.cards)
    broken = cards["lead_capture__leads_by_region"]
    cards[broken.key] = broken.model_copy(update={"sql": "select 1 / 0 as leads"})
    with pytest.raises(
        run.ReportError,
        match=r"tile 'Leads by region' \(lead_capture__leads_by_region\) failed: "
        r"division by zero",
    ):
        hr.build_report(lead_capture_fixture_db, cards, REPO.dashboards["lead_capture"])


HOSTILE = """<script>alert("x")</script> & 'quotes'"""


def test_hostile_values_are_text_in_tiles_tables_and_charts(lead_capture_fixture_db):
    cards = dict(CHART_KINDS.cards)
    hostile_sql = "select %s as source, 3 as leads" % ("'" + HOSTILE.replace("'", "''") + "'")
    for key in ("chart_kinds__bar", "chart_kinds__rollup"):
        cards[key] = cards[key].model_copy(update={"sql": hostile_sql, "columns": ("source", "leads")})
    report = hr.build_report(lead_capture_fixture_db, cards, CHART_KINDS.dashboards["chart_kinds"])
    assert report.html.count("<script") == 1  # the page's own
    assert html.escape(HOSTILE, quote=False) in report.html or html.escape(HOSTILE) in report.html
    bar = report.html[report.html.index('data-card="chart_kinds__bar"') :]
    assert 'aria-label="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; ' in bar[: bar.index("</section>")]


def test_a_link_column_reads_as_its_link_text_and_moments_stay_on_one_line(lead_capture_fixture_db):
    """Metabase's `view_as: link` on a table column: a web address becomes a link with the card's link text; any
    other value stays text. A moment in a table is one unbroken line ("2025-06-06" above "09:00" read badly)."""
    cards = dict(CHART_KINDS.cards)
    cards["chart_kinds__table"] = cards["chart_kinds__table"].model_copy(
        update={
            "sql": "select * from (values ('https://app.example/c/8', timestamp '2025-06-06 09:00'), "
            "('javascript:alert(1)', timestamp '2025-06-07 10:00')) as t(conversation_url, invited_at)",
            "columns": ("conversation_url", "invited_at"),
            "visualization_settings": {
                "column_settings": {
                    '["name","conversation_url"]': {"view_as": "link", "link_text": "Open conversation"}
                }
            },
        }
    )
    report = hr.build_report(lead_capture_fixture_db, cards, CHART_KINDS.dashboards["chart_kinds"])
    table = report.html[report.html.index('data-card="chart_kinds__table"') :]
    table = table[: table.index("</section>")]
    assert (
        '<td><a href="https://app.example/c/8" target="_blank" rel="noopener noreferrer">Open conversation</a></td>'
        in table
    )
    assert "<td>javascript:alert(1)</td>" in table and 'href="javascript' not in table
    assert "<td class=when>2025-06-06 09:00</td>" in table


def test_a_rollup_refuses_to_sum_a_percentage(lead_capture_fixture_db):
    cards = dict(CHART_KINDS.cards)
    cards["chart_kinds__rollup"] = CHART_KINDS.cards["chart_kinds__table"].model_copy(
        update={"key": "chart_kinds__rollup", "display": "rollup"}
    )
    with pytest.raises(run.ReportError, match="Conversion rate is a percentage, which does not add up"):
        hr.build_report(lead_capture_fixture_db, cards, CHART_KINDS.dashboards["chart_kinds"])


def test_the_as_of_moment_comes_from_where_the_dashboard_says(lead_capture_fixture_db, lead_capture_report):
    assert lead_capture_report.as_of_text == "2025-03-31 12:00 CDT"
    assert 'id="as-of" title="read from marts.dim_as_of.as_of_at">2025-03-31 12:00 CDT<' in lead_capture_report.html
    elsewhere = REPO.dashboards["lead_capture"].model_copy(
        update={"as_of": AsOf(table="marts.no_such_table", column="as_of_at")}
    )
    with pytest.raises(run.ReportError, match=r"cannot read its as-of moment from marts\.no_such_table\.as_of_at"):
        hr.build_report(lead_capture_fixture_db, REPO.cards, elsewhere)


def _numbers_tab(report: hr.Report, browser, tmp_path: Path) -> Page:
    page = open_report(browser, report.write(tmp_path))
    page.eval("document.getElementById('tab-button-numbers').click()")
    return page


def test_a_tile_says_which_set_filter_does_not_narrow_it_and_why(lead_capture_fixture_db, browser, tmp_path):
    """The number tile placed without the Created filter, its card ignoring that concept: with Created set to
    March, the tile says "Not narrowed by Created" (the card's reason as the tooltip) and counts all 19 leads,
    while the roll-up, which takes Created, counts March's 14 and names the dates under its body."""
    dashboard = CHART_KINDS.dashboards["chart_kinds"]
    reason = "Counts every lead up to the as-of moment."
    cards = dict(CHART_KINDS.cards)
    cards["chart_kinds__scalar"] = cards["chart_kinds__scalar"].model_copy(
        update={"ignores": {dashboard.filter("created").concept: reason}}
    )
    placements = [
        p.model_copy(update={"mappings": {"source": "source"}}) if p.card == "chart_kinds__scalar" else p
        for p in dashboard.cards
    ]
    report = hr.build_report(
        lead_capture_fixture_db, cards, dashboard.model_copy(update={"cards": placements}), {"created": "2025-03"}
    )
    page = _numbers_tab(report, browser, tmp_path)
    shown = tiles(page)
    assert shown["chart_kinds__scalar"]["value"] == "19 leads"
    assert shown["chart_kinds__scalar"]["notNarrowed"] == ["Not narrowed by Created"]
    assert shown["chart_kinds__scalar"]["filters"] is None  # no dates: it is not narrowed to any
    assert (
        page.eval("""document.querySelector('section[data-card="chart_kinds__scalar"] .not-narrowed .ignored')
                        .title""")
        == reason
    )
    # March: L01-L11, L17, L19, L20 = 14 leads, 19 without the filter
    assert (
        page.eval("""document.querySelector('section[data-card="chart_kinds__rollup"] .total .num')
                        .textContent""")
        == "14"
    )
    assert shown["chart_kinds__rollup"]["filters"] == "Created: 1–31 Mar 2025"
    assert shown["chart_kinds__rollup"]["notNarrowed"] == []
    assert "Created = 2025-03 (1–31 Mar 2025)" in page.eval("document.getElementById('filters').textContent")


def test_a_filter_that_picks_a_selectors_metric_narrows_no_tile(lead_capture_fixture_db, browser, tmp_path):
    """A dashboard filter feeding the selector's tag (with a default, as Metabase needs) does not narrow the other
    tiles: none of them says "Not narrowed by Metric"; the selector tile has the dropdown with every option."""
    dashboard = CHART_KINDS.dashboards["chart_kinds"]
    metric = DashboardFilter(slug="metric", name="Metric", type="string/=", default="Converted leads")
    placements = [
        p.model_copy(update={"mappings": {**p.mappings, "metric": "metric"}})
        if p.card == "chart_kinds__selector"
        else p
        for p in dashboard.cards
    ]
    report = hr.build_report(
        lead_capture_fixture_db,
        CHART_KINDS.cards,
        dashboard.model_copy(update={"filters": [*dashboard.filters, metric], "cards": placements}),
    )
    page = open_report(browser, report.write(tmp_path))
    shown = tiles(page)
    assert {key: t["notNarrowed"] for key, t in shown.items() if t["notNarrowed"]} == {}
    assert shown["chart_kinds__selector"]["selected"] == "Converted leads"
    assert "Narrowed by" not in report.html
    assert page.eval("document.getElementById('filters').textContent") == "none — all data (not set: Created, Source)"
    # a value given to that filter is the option the tile shows first: Leads by source, Ads L05 L06 L12 L13 L19,
    # Social L07 L08 L14 L20, Website L01 L02 L09 L10 L11 L16 L17, WhatsApp L03 L04 L15
    picked = hr.build_report(
        lead_capture_fixture_db,
        CHART_KINDS.cards,
        dashboard.model_copy(update={"filters": [*dashboard.filters, metric], "cards": placements}),
        {"metric": "leads"},
    )
    tile = tiles(open_report(browser, picked.write(tmp_path / "picked")))["chart_kinds__selector"]
    assert tile["selected"] == "Leads"
    assert _marks(tile) == ["Ads; Leads: 5", "Social; Leads: 4", "Website; Leads: 7", "WhatsApp; Leads: 3"]


def test_a_moment_in_a_number_tile_is_smaller_and_breaks_only_between_date_and_time(
    lead_capture_fixture_db, browser, tmp_path
):
    """ "Data last loaded" style tiles: the moment in the reporting time zone, in a smaller font than a count,
    its date and its time each kept whole on one line."""
    cards = dict(CHART_KINDS.cards)
    cards["chart_kinds__scalar"] = cards["chart_kinds__scalar"].model_copy(
        update={"sql": "select timestamptz '2025-03-31 17:05:00+00' as loaded_at", "columns": ("loaded_at",)}
    )
    page = _numbers_tab(
        hr.build_report(lead_capture_fixture_db, cards, CHART_KINDS.dashboards["chart_kinds"]), browser, tmp_path
    )
    assert tiles(page)["chart_kinds__scalar"]["value"] == "2025-03-31 12:05 CDT"  # 17:05 UTC in Chicago
    looks = page.eval("""(() => {
      const moment = document.querySelector('section[data-card="chart_kinds__scalar"] .value');
      const count = document.querySelector('section[data-card="chart_kinds__this_month"] .value');
      const size = el => parseFloat(getComputedStyle(el).fontSize);
      return {moment: size(moment), count: size(count),
              pieces: Array.from(moment.querySelectorAll('span')).map(s => s.getClientRects().length)};
    })()""")
    assert looks["moment"] < looks["count"] * 0.7, looks
    assert looks["pieces"] == [1, 1], looks  # "2025-03-31" and "12:05 CDT", neither broken


# ---------------------------------------------------------------- another reporting time zone


@pytest.fixture(scope="module")
def amsterdam_fixture_db(warehouse_info, tmp_path_factory):
    """The same 19 fixture leads, built by dbt with the reporting time zone Europe/Amsterdam, as of the same
    moment: 2025-03-31 17:00 UTC, which is 19:00 CEST there (summer time began on 30 March at 01:00 UTC)."""
    from orchestration import warehouse

    info = build_fixture_warehouse(
        warehouse_info,
        tmp_path_factory,
        "kpi_ams",
        {"bot_leads__leads": LEAD_CAPTURE_FIXTURE},
        ["+fct_bot_leads", "+marts.common"],
        LEAD_CAPTURE_AS_OF,
        timezone="Europe/Amsterdam",
    )
    yield info
    warehouse.drop_database(info)


def test_in_amsterdam_the_page_names_that_zone_and_the_numbers_follow_it(
    amsterdam_fixture_db, monkeypatch, browser, tmp_path
):
    monkeypatch.setenv("LEAD_ANALYTICS_TIMEZONE", "Europe/Amsterdam")
    report = hr.build_report(
        amsterdam_fixture_db, REPO.cards, REPO.dashboards["lead_capture"], generated_at=GENERATED_AT
    )
    page = open_report(browser, report.write(tmp_path))
    assert page.eval("document.getElementById('timezone').textContent") == "Europe/Amsterdam"
    assert page.eval("document.getElementById('as-of').textContent") == "2025-03-31 19:00 CEST"
    assert "in Europe/Amsterdam" in page.eval("document.getElementById('as-of-rule').textContent")
    shown = tiles(page)
    # Local days in Amsterdam (UTC+1 until 30 March 01:00 UTC, UTC+2 after), against Chicago's (UTC-6/-5):
    # L04 2025-03-31T04:59Z is Monday 31 March 06:59 in Amsterdam but Sunday 30 March 23:59 in Chicago, so
    # today (31 March) has 6 leads, L01 L02 L03 L04 L17 L20, where Chicago has 5;
    # L06 2025-03-25T04:59:59Z is 25 March 05:59 in Amsterdam (24 March 23:59 in Chicago), so the rolling week
    # 25-31 March has 9 leads, L01 L02 L03 L04 L05 L06 L17 L19 L20, where Chicago has 8;
    # L12 2025-03-01T05:59Z is 1 March 06:59 in Amsterdam (28 February 23:59 in Chicago), so March to date has
    # 15 leads, Chicago's 14 and L12. All 19 leads count in the total either way.
    assert shown["lead_capture__leads_today"]["value"] == "6 leads"
    assert shown["lead_capture__leads_this_week"]["value"] == "9 leads"
    assert shown["lead_capture__leads_this_month"]["value"] == "15 leads"
    assert shown["lead_capture__total_leads"]["value"] == "19 leads"
    assert shown["lead_capture__leads_today"]["windows"] == ["Today: 31 Mar 2025 (1 day)"]
    # the dashboard and card texts write {timezone}; nothing on the page (nor in its markup) names another zone
    assert "America/Chicago" not in page.eval("document.documentElement.textContent")
    assert "Chicago" not in report.html


def test_minimal_dashboard_in_the_terminal(lead_capture_fixture_db):
    assert pipeline.format_minimal_dashboard(lead_capture_fixture_db).splitlines() == [
        "",
        "Lead capture: Recommended Minimal Dashboard (seed 000), as of 2025-03-31 12:00 CDT",
        "  Total leads                   19 leads",
        "  Leads today                   5 leads",
        "  Leads this week               8 leads",
        "  Top 3 lead sources            Website 7 · Ads 5 · Social 4",
        "  Leads by service requested    AllyChat 11 · AllyVoice 5 · AllyBundle 3",
        "  High vs low confidence leads  High confidence (>= 0.8) 8 · Low confidence (< 0.5) 4",
    ]


def test_number_and_period_formats():
    assert formats.format_date_range(date(2025, 3, 25), date(2025, 3, 31)) == "25–31 Mar 2025"
    assert formats.format_date_range(date(2024, 12, 28), date(2025, 1, 3)) == "28 Dec 2024 – 3 Jan 2025"
    assert formats.format_number(0.421052, formats.ColumnFormat(percent=True)) == "42.1%"
    assert formats.format_number(1234) == "1,234"
    assert formats.as_period(datetime(2025, 3, 24, tzinfo=UTC)) == date(2025, 3, 24)  # not shifted


# ---------------------------------------------------------------- lead-analytics report


@pytest.fixture
def cli_env(lead_capture_fixture_db, monkeypatch, tmp_path):
    monkeypatch.setenv("LEAD_ANALYTICS_DATABASE_URL", lead_capture_fixture_db.conninfo())
    monkeypatch.setenv("LEAD_ANALYTICS_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "source=Email"], "source: no 'Email' in Source (its values: Ads, Social, Website, WhatsApp)"),
        (["--filter", "created=2025-02-30"], "created: '2025-02-30' is not a date filter value"),
        (["--filter", "region=West"], "dashboard 'lead_capture' has no filter 'region'; its filters: created"),
        (
            ["--filter", "source"],
            "--filter takes SLUG=VALUE: one of the dashboard's filter slugs and a value (got 'source')",
        ),
        (
            ["--dashboard", "nope"],
            "no dashboard 'nope' (dashboards: after_sales, agent_performance, bots, "
            "campaign_analytics, compliance, cost_benefit, executive_summary, lead_analytics, lead_capture, "
            "messaging, omnichannel_usage, operations_monitor, potential, system_health)",
        ),
    ],
)
def test_report_cli_bad_input_is_one_line_and_exit_2(cli_env, capsys, args, message):
    # the fixture database holds the lead-capture marts only, so the tests name that dashboard
    dashboard = [] if "--dashboard" in args else ["--dashboard", "lead_capture"]
    assert cli.main(["report", *dashboard, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lead-analytics: error: {message}") and "\n" not in err, err
    assert not cli_env.exists() or not any(cli_env.iterdir())


def test_report_cli_filtered_report_in_its_own_file(cli_env, capsys):
    assert cli.main(["report", "--dashboard", "lead_capture"]) == 0
    default = cli_env / "lead_capture.html"
    before = default.read_text()
    assert (
        cli.main(
            [
                "report",
                "--dashboard",
                "lead_capture",
                "--filter",
                "created=2025-03-01~2025-03-31",
                "--filter",
                "source=website,ADS",
                "--timings",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    filtered = cli_env / "lead_capture--created-2025-03-01_2025-03-31--source-ads_website.html"
    assert f"{filtered}  (as of 2025-03-31 12:00 CDT)" in out
    assert "lead_capture__total_leads: 1 row(s)" in out and " ms" in out
    assert filtered.exists() and default.read_text() == before


def test_report_cli_failing_card_writes_nothing_and_exits_1(cli_env, capsys, monkeypatch):
    real = compiler.compile_specs

    def broken(*args, **kwargs):
        specs = real(*args, **kwargs)
        card = specs.cards["lead_capture__leads_by_region"]
        specs.cards[card.key] = card.model_copy(update={"sql": "select 1 / 0 as leads"})
        return specs

    monkeypatch.setattr(compiler, "compile_specs", broken)
    assert cli.main(["report", "--dashboard", "lead_capture"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "lead-analytics: error: no report written: tile 'Leads by region' (lead_capture__leads_by_region) "
        "failed: division by zero"
    )
    assert not cli_env.exists() or not any(cli_env.iterdir())


def test_report_help_explains_the_value_formats(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["report", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "2025-03-01~2025-03-31" in text and "source=Website,Ads" in text and "ignoring case" in text


def test_the_header_says_when_the_newest_source_row_arrived(lead_capture_fixture_db, lead_capture_report):
    # The fixture's raw rows were loaded minutes ago by the real loader: within every freshness rule.
    import re

    from orchestration.bi import freshness

    line = re.search(r'<dd id="freshness">([^<]*)</dd>', lead_capture_report.html).group(1)
    assert re.fullmatch(r"newest source row arrived \d{4}-\d\d-\d\d \d\d:\d\d [A-Za-z_/]+", line), line
    read = freshness.raw_tables_of(
        {rel for r in lead_capture_report.results for rel in r.card.relations}, freshness.lineage()
    )
    assert "raw_bot_leads.leads" in read
