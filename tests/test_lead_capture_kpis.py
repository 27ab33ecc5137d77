"""Lead-capture KPIs (seed 000) on a hand-built fixture, through the real loader, dbt and the semantic layer.

The fixture (tests/fixtures/bot_leads/) holds 21 bot leads chosen for edge cases: rolling-week and
month boundaries one second apart in America/Chicago, the 2025-03-09 daylight-saving change, the same
contact written differently (e-mail case and spaces, phone punctuation and +1), confidence exactly
0.5 and 0.8, blank regions, a lead one second after the as-of moment, a malformed row, and a lead
whose status changes in a later file. Every expected value below was worked out by hand from those
rows (as of 2025-03-31 17:00 UTC = 12:00 CDT, a Monday); none is read back from the SQL under test.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from orchestration import warehouse
from orchestration.bi.compiler import SemanticLayer


@pytest.fixture(scope="module")
def kpi_db(lead_capture_fixture_db):
    return lead_capture_fixture_db


def query(info, sql: str, *params):
    with warehouse.connect(info) as conn:
        return conn.execute(sql, params).fetchall()


def test_malformed_fixture_row_is_rejected_not_counted(kpi_db):
    assert query(kpi_db, "select line_number, reason from raw_audit.rejected_rows") == [
        (18, "invalid numeric in confidence_score: 'high'")
    ]


KPI_METRICS = [
    "leads",
    "leads_today",
    "leads_this_week",
    "leads_previous_week",
    "week_growth_rate",
    "leads_this_month",
    "leads_previous_month_to_date",
    "month_growth_rate",
    "avg_leads_per_hour_today",
    "avg_confidence_score",
    "high_confidence_leads",
    "low_confidence_leads",
    "new_leads",
    "in_progress_leads",
    "converted_leads",
    "dropped_leads",
    "repeat_leads",
    "hours_begun_today",
]


def to_4_places(value):
    return Decimal(repr(value) if isinstance(value, float) else value).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def test_metrics_match_hand_computed_values(kpi_db):
    """Every seed-000 metric of the semantic layer at once, unfiltered, as MetricFlow compiles it."""
    with warehouse.connect(kpi_db) as conn:
        cursor = conn.execute(SemanticLayer().metric_sql(KPI_METRICS))
        (row,) = cursor.fetchall()
        values = dict(zip([column.name for column in cursor.description], row, strict=False))
    for ratio in ("week_growth_rate", "month_growth_rate", "avg_leads_per_hour_today", "avg_confidence_score"):
        values[ratio] = to_4_places(values[ratio])
    assert values == {
        "leads": 19,  # L01-L17, L19, L20: L18 is one second after as-of, L21 was rejected
        "leads_today": 5,  # today (31 Mar local): L01, L02, L03 (00:30 CDT), L17 (exactly as-of), L20
        "leads_this_week": 8,  # 25-31 Mar: today's 5 + L04 (23:59 on the 30th), L05 (00:00 on the 25th), L19
        "leads_previous_week": 2,  # 18-24 Mar: L06 (23:59:59 on the 24th), L07 (00:00 on the 18th)
        "week_growth_rate": Decimal("3.0000"),  # (8 - 2) / 2
        "leads_this_month": 14,  # the week's 8 + L06, L07, L08, L09, L10 (DST day), L11 (00:00 on the 1st)
        "leads_previous_month_to_date": 2,  # 1-28 Feb: L12 (23:59 on the 28th), L13; L14 is 31 Jan locally
        "month_growth_rate": Decimal("6.0000"),  # (14 - 2) / 2
        "avg_leads_per_hour_today": Decimal("0.3846"),  # 5 leads / 13 hours begun (12:00 local)
        "avg_confidence_score": Decimal("0.6724"),  # 11.43 / 17 scored leads (L05 and L17 have no score)
        "high_confidence_leads": 8,  # >= 0.8: L01, L02 (0.8), L06, L09, L12, L14, L15 (0.8), L19 (0.8)
        "low_confidence_leads": 4,  # < 0.5: L04 (0.49), L07, L11, L13; L03 and L16 (0.5) are not low
        "new_leads": 6,
        "in_progress_leads": 4,
        "converted_leads": 6,  # L07 converted in the April file
        "dropped_leads": 3,
        "repeat_leads": 3,  # L01 (e-mail of L02), L03 (phone of L04), L17 (e-mail of L16)
        "hours_begun_today": 13,
    }


def test_the_as_of_row(kpi_db):
    assert query(kpi_db, "select as_of_at::text, as_of_date::text, hours_begun_today from marts.dim_as_of") == [
        ("2025-03-31 17:00:00+00", "2025-03-31", 13)
    ]


def test_breakdowns_match_hand_computed_values(kpi_db):
    by_source = query(
        kpi_db,
        """
        select source, count(*), round(avg(is_converted::int), 4) from marts.fct_bot_leads group by 1 order by 1""",
    )
    assert by_source == [
        ("Ads", 5, Decimal("0.2000")),
        ("Social", 4, Decimal("0.5000")),
        ("Website", 7, Decimal("0.4286")),
        ("WhatsApp", 3, Decimal("0.0000")),
    ]
    assert query(kpi_db, "select bot_type, count(*) from marts.fct_bot_leads group by 1 order by 1") == [
        ("chat", 13),
        ("voice", 6),
    ]
    assert query(kpi_db, "select service_needed, count(*) from marts.fct_bot_leads group by 1 order by 1") == [
        ("AllyBundle", 3),
        ("AllyChat", 11),
        ("AllyVoice", 5),
    ]
    assert query(kpi_db, "select region_label, count(*) from marts.fct_bot_leads group by 1 order by 1") == [
        ("Midwest", 4),
        ("Northeast", 2),
        ("South", 4),
        ("Unknown", 5),
        ("West", 4),
    ]
    # weekday and hour come from the shared calendar (metric_time), not from columns of the mart
    assert query(
        kpi_db,
        """select c.iso_weekday, c.weekday_name, count(*) from marts.fct_bot_leads as l
                            join marts.dim_calendar as c on c.calendar_date = l.created_date
                            group by 1, 2 order by 1""",
    ) == [
        (1, "Monday", 7),
        (2, "Tuesday", 2),
        (3, "Wednesday", 1),
        (5, "Friday", 4),
        (6, "Saturday", 2),
        (7, "Sunday", 3),
    ]
    assert query(
        kpi_db,
        """select extract(hour from created_at_local)::int, count(*) from marts.fct_bot_leads
                            where created_date = '2025-03-31' group by 1 order by 1""",
    ) == [(0, 1), (8, 1), (10, 1), (11, 1), (12, 1)]
    assert query(
        kpi_db,
        """select lead_id, repeat_matched_on from marts.fct_bot_leads
                            where is_repeat_lead order by 1""",
    ) == [("L01", "email"), ("L03", "phone"), ("L17", "email")]
    assert query(
        kpi_db,
        """select lead_id, created_date::text, extract(hour from created_at_local)::int
                            from marts.fct_bot_leads
                            where lead_id in ('L09', 'L10') order by 1""",
    ) == [("L09", "2025-03-09", 1), ("L10", "2025-03-09", 3)]
