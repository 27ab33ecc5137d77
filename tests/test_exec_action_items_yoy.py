"""Two things the monthly business review and the alerts read from the Executive summary (issue 20), on the
hand-built CRM fixture (tests/fixtures/crm, its README) plus its year-earlier extension (tests/fixtures/crm_year_ago,
its README: four leads and one deal of autumn 2024), built **as of Monday 2025-11-03 12:00Z** (06:00 CST) in
America/Chicago. One warehouse for both, to spare a build; every expected value below is worked out by hand.

High-priority leads waiting (D13, D189). The high-priority leads: L-01, L-08, L-09 are won; L-07 (Oct 15) was
called by AG-002 a quarter of an hour after it arrived; L-06 and L-12 are high priority in the fixture for this:
    L-06 arrives Sun 2025-11-02 05:30Z (00:30 CDT, local date Nov 2), automated SMS 45 s later, AG-002 calls Mon
        2025-11-03 13:10Z. At 12:00Z only the automation has answered: listed, 05:30Z -> 12:00Z next day = 30.5 h
        (the old rule, "no touch at all", missed it). At 14:00Z a person has called: gone.
    L-12 arrives Wed 2025-06-18 20:00Z (15:00 CDT), never touched, status new: Jun 18 20:00Z -> Nov 3 20:00Z is
        12 + 31 + 31 + 30 + 31 + 3 = 138 days, less 8 h: 3,304 h at 12:00Z, 3,306 h at 14:00Z; over the 7-day cap,
        so counted in the backlog row, not listed (the old rule listed it, for ever).

Year over year (D190), card exec__year_over_year, every month up to the as-of month (November 2025):
    leads by local arrival month, 2025 (CRM README): Mar 1, May 1, Jun 2, Jul 2, Aug 4, Sep 1, Oct 1, Nov 1 (L-06);
        2024 (extension): Oct 2 (L-14, L-15), Nov 1 (L-16), Dec 1 (L-17)
    won leads among them: May L-01, Jun L-10, Jul L-08, Aug L-09; Oct 2024 L-14
    won revenue by close month: May 9,000, Jun 7,200, Jul 12,300, Sep 8,950 (2025); Oct 2024 5,000
    Oct 2025 against Oct 2024: leads 1 vs 2 (-50 %), close rate 0 vs 1/2, revenue 0 vs 5,000 (-100 %)
    Nov 2025 (to date) against Nov 2024: leads 1 vs 1 (0 %), close rate 0 vs 0, revenue 0 vs none closed (empty,
        and no change)
    Dec 2025 would compare with L-17's December but lies after the as-of month: not listed.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cards import dashcard_rows  # tests/ is on sys.path
from conftest import CRM_FIXTURE, CRM_STORY_TABLES, build_fixture_warehouse, crm_tables, run_dbt

from orchestration import settings, warehouse
from orchestration.bi import compiler
from orchestration.reporting import alerts, ledger

FIXTURES = Path(__file__).parent / "fixtures"
CRM = CRM_FIXTURE
YEAR_AGO = FIXTURES / "crm_year_ago"
AS_OF = "2025-11-03T12:00:00Z"
AFTER_THE_CALL = "2025-11-03T14:00:00Z"
TABLES = (*CRM_STORY_TABLES, "system_costs")
SELECT = ["path:models/staging/crm", "+fct_exec_action_items", "+fct_crm_leads", "+fct_crm_won_deals"]

SPECS = compiler.compile_specs(settings.PROJECT_ROOT / "metabase")
EXEC = SPECS.dashboards["executive_summary"]


def _with_year_ago(tmp_path_factory, table: str) -> Path:
    """The CRM fixture's landing files of `table` plus the extension's."""
    folder = tmp_path_factory.mktemp(f"yoy_{table}")
    for source in (CRM / table, YEAR_AGO / table):
        for f in source.glob("*.csv"):
            shutil.copy(f, folder)
    return folder


@pytest.fixture(scope="module")
def built(warehouse_info, tmp_path_factory):
    target = tmp_path_factory.mktemp("yoy_dbt_target")
    tables = crm_tables(*TABLES)
    tables["crm__leads"] = _with_year_ago(tmp_path_factory, "leads")
    tables["crm__deals"] = _with_year_ago(tmp_path_factory, "deals")
    info = build_fixture_warehouse(
        warehouse_info, tmp_path_factory, "exec_yoy", tables, SELECT, AS_OF, target_path=target
    )
    yield info, target
    warehouse.drop_database(info)


def rebuild_as_of(info: warehouse.ConnectionInfo, target: Path, as_of: str) -> None:
    """The as-of moment and date and everything between them and the action items, rebuilt at another as-of."""
    selection = ["dim_as_of+,+fct_exec_action_items", "int_common__as_of_date+,+fct_exec_action_items"]
    proc = run_dbt(info, "run", ["--select", *selection], as_of, target)
    assert proc.returncode == 0, proc.stdout[-4000:]


def lead_items(info: warehouse.ConnectionInfo) -> list[tuple]:
    with warehouse.connect(info) as conn:
        return conn.execute(
            """select action_item_key, kind, subject, detail, since_date, waiting_hours, lead_count
               from marts.fct_exec_action_items where kind_order = 1 order by action_item_key"""
        ).fetchall()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


BACKLOG = ("lead-backlog", "High-priority backlog", "1 high-priority lead(s) waiting over 7 days")
L06 = (
    "lead|L-06",
    "High-priority lead waiting",
    "L-06 (Manhattan, Paid Ads)",
    "waiting 30.5 h without a person's touch (automated message only)",
    date(2025, 11, 2),
    Decimal("30.5"),
    1,
)


def test_year_over_year_card_compares_each_month_with_the_same_month_a_year_earlier(built):
    """(month, leads, a year earlier, change, close rate, a year earlier, revenue, a year earlier, change); a
    month without a year-earlier month shows it empty and no change. The card ignores the date filter (D90), so
    the review's month ("2025-10") lists the same rows."""
    info, _ = built
    placement = next(p for p in EXEC.cards if p.card == "exec__year_over_year")
    expected = [
        (date(2025, 11, 1), 1, 1, 0, 0, 0, 0, None, None),
        (date(2025, 10, 1), 1, 2, Decimal("-0.5"), 0, Decimal("0.5"), 0, Decimal(5000), -1),
        (date(2025, 9, 1), 1, None, None, 0, None, Decimal(8950), None, None),
        (date(2025, 8, 1), 4, None, None, Decimal("0.25"), None, 0, None, None),
        (date(2025, 7, 1), 2, None, None, Decimal("0.5"), None, Decimal(12300), None, None),
        (date(2025, 6, 1), 2, None, None, Decimal("0.5"), None, Decimal(7200), None, None),
        (date(2025, 5, 1), 1, None, None, 1, None, Decimal(9000), None, None),
        (date(2025, 3, 1), 1, None, None, 0, None, 0, None, None),
        (date(2024, 12, 1), 1, None, None, 0, None, 0, None, None),
        (date(2024, 11, 1), 1, None, None, 0, None, 0, None, None),
        (date(2024, 10, 1), 2, None, None, Decimal("0.5"), None, Decimal(5000), None, None),
    ]
    card = SPECS.cards["exec__year_over_year"]
    for filters in ({}, {"date": "2025-10"}):
        assert dashcard_rows(info, card, EXEC, placement, filters, date(2025, 11, 3)) == expected, filters


def test_a_high_priority_lead_waits_until_a_person_touches_it_and_old_ones_are_counted(built):
    """At 12:00Z L-06 (automated SMS only) is listed and L-12 is the backlog; the alert fires on L-06 and names the
    backlog. At 14:00Z, after AG-002's call, L-06 is gone, the backlog stays, and the alert resolves."""
    info, target = built
    with warehouse.connect(info) as conn:
        ledger.ensure(conn)
        conn.execute(f"truncate {ledger.A}.alert_state, {ledger.A}.alert_events")
        conn.commit()
    config = settings.Settings.load({"LEAD_ANALYTICS_TIMEZONE": "America/Chicago"})

    assert lead_items(info) == [
        (*BACKLOG, "not listed one by one; the oldest has waited 3304.0 h", date(2025, 6, 18), Decimal("3304.0"), 1),
        L06,
    ]
    fired = alerts.evaluate_and_notify(info, config, at(AS_OF))
    assert [f for f in fired.fired if f[0] == "high_priority_leads_waiting"] == [
        ("high_priority_leads_waiting", "team")
    ]
    assert (
        "high_priority_leads_waiting (team): fired: 1 high-priority lead(s) waiting over 2 h, since 2025-11-02: "
        "L-06 (Manhattan, Paid Ads); and 1 waiting over 7 days, counted on the Executive summary"
    ) in fired.lines

    # the module's warehouse stays as of the call: it is dropped after this module, and the year-over-year rows
    # read by the other test are the same at either moment of 3 November
    rebuild_as_of(info, target, AFTER_THE_CALL)
    assert lead_items(info) == [
        (*BACKLOG, "not listed one by one; the oldest has waited 3306.0 h", date(2025, 6, 18), Decimal("3306.0"), 1)
    ]
    resolved = alerts.evaluate_and_notify(info, config, at(AFTER_THE_CALL))
    assert [r for r in resolved.resolved if r[0] == "high_priority_leads_waiting"] == [
        ("high_priority_leads_waiting", "team")
    ]
    assert [f for f in resolved.fired if f[0] == "high_priority_leads_waiting"] == []
