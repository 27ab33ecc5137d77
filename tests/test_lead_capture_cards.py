"""The real lead-capture Metabase cards (metabase/cards, metabase/dashboards/lead_capture.yml), compiled by
MetricFlow from the semantic layer, run against the hand-built fixture warehouse, with dashboard filter values
bound as Metabase binds them.

Every dashcard is rendered with `card_values` + `render_sql` and executed against the database of the
`lead_capture_fixture_db` fixture (tests/fixtures/bot_leads, built as of 2025-03-31 17:00 UTC = 12:00 CDT,
a Monday, reporting time zone America/Chicago). The expected rows below were worked out BY HAND from
the fixture CSVs; none is read back from the SQL under test. The no-filter values are those of
tests/test_lead_capture_kpis.py. The 19 leads in the marts, local (Chicago) date and hour:

    id   source   bot   service     score status       region     local created
    L01  Website  chat  AllyChat    0.9   new          Midwest    Mon 03-31 11h  repeat (e-mail of L02)
    L02  Website  voice AllyVoice   0.8   converted    Midwest    Mon 03-31 10h
    L03  WhatsApp chat  AllyBundle  0.5   in progress  South      Mon 03-31 00h  repeat (phone of L04)
    L04  WhatsApp chat  AllyChat    0.49  dropped      South      Sun 03-30 23h
    L05  Ads      voice AllyVoice   -     new          (Unknown)  Tue 03-25 00h
    L06  Ads      chat  AllyChat    0.95  converted    West       Mon 03-24 23h  (23:59:59)
    L07  Social   chat  AllyChat    0.3   converted*   West       Tue 03-18 00h  *converted in the April file
    L08  Social   voice AllyBundle  0.7   dropped      (Unknown)  Mon 03-17 23h
    L09  Website  chat  AllyChat    0.81  converted    Midwest    Sun 03-09 01h  (CST, before the DST change)
    L10  Website  chat  AllyChat    0.6   in progress  Northeast  Sun 03-09 03h  (CDT)
    L11  Website  voice AllyVoice   0.2   new          (Unknown)  Sat 03-01 00h
    L12  Ads      chat  AllyChat    0.85  in progress  West       Fri 02-28 23h
    L13  Ads      chat  AllyBundle  0.45  dropped      South      Sat 02-01 00h
    L14  Social   chat  AllyChat    0.99  converted    Northeast  Fri 01-31 23h
    L15  WhatsApp voice AllyVoice   0.8   new          South      Wed 01-15 12h
    L16  Website  chat  AllyChat    0.5   converted    (Unknown)  Fri 01-10 09h
    L17  Website  chat  AllyChat    -     new          Midwest    Mon 03-31 12h  repeat (e-mail of L16); = as-of
    L19  Ads      voice AllyVoice   0.8   new          (Unknown)  Fri 03-28 09h  (region blank)
    L20  Social   chat  AllyChat    0.79  in progress  West       Mon 03-31 08h

(L18 is one second after the as-of moment, L21 was rejected.) Windows as of Monday 2025-03-31: today =
03-31, this week = 03-25..03-31, previous week = 03-18..03-24, this month = 03-01..03-31, previous month to
date = 02-01..02-28; 13 hours have begun today (12:00 local).
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from cards import dashcard_rows  # tests/ is on sys.path (rootdir-relative test modules)
from conftest import run_dbt
from fake_metabase import FakeMetabase

from orchestration import settings, warehouse
from orchestration.bi import compiled as c
from orchestration.bi import compiler

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
SPECS = compiler.compile_specs(SPECS_DIR)
DASHBOARD = SPECS.dashboards["lead_capture"]
DASHCARDS = {dc.card: dc for dc in DASHBOARD.cards}
CARDS = {
    key: card for key, card in SPECS.cards.items() if key.startswith("lead_capture__")
}  # other domains test theirs
AS_OF_DATE = date(2025, 3, 31)

# Cards relative to the as-of moment: read rpt_bot_leads__snapshot (or today's leads) and take only
# source / bot type / service; the date range does not apply to them.
AS_OF_CARDS = {
    "lead_capture__leads_today",
    "lead_capture__leads_this_week",
    "lead_capture__leads_this_month",
    "lead_capture__week_growth_rate",
    "lead_capture__month_growth_rate",
    "lead_capture__avg_leads_per_hour_today",
    "lead_capture__leads_by_hour_today",
}
MINIMAL_DASHBOARD = {  # seed 000 "Recommended Minimal Dashboard", laid out first
    "lead_capture__total_leads",
    "lead_capture__leads_today",
    "lead_capture__leads_this_week",
    "lead_capture__top_3_lead_sources",
    "lead_capture__leads_by_service",
    "lead_capture__high_vs_low_confidence",
}

# The 26 seed-000 metric ids of /work/shared/KPI_INVENTORY.md (kind `metric`). Hard-coded because CI
# clones only this repository; when the inventory is present the test also checks it still says this.
S000_METRICS = (
    "s000.leads_created_this_week",
    "s000.leads_created_this_month",
    "s000.lead_growth_rate",
    "s000.leads_by_source",
    "s000.top_lead_source",
    "s000.conversion_rate_by_source",
    "s000.leads_by_bot_type",
    "s000.leads_by_service_needed",
    "s000.top_service_requested",
    "s000.avg_leads_per_hour_today",
    "s000.leads_by_day_of_week",
    "s000.avg_confidence_score",
    "s000.high_confidence_leads",
    "s000.low_confidence_leads",
    "s000.new_leads",
    "s000.in_progress_leads",
    "s000.closed_converted_leads",
    "s000.dropoff_leads",
    "s000.leads_by_region",
    "s000.repeat_leads",
    "s000.total_leads",
    "s000.leads_today",
    "s000.leads_this_week",
    "s000.leads_by_source_top3",
    "s000.leads_by_service_requested",
    "s000.high_vs_low_confidence",
)
S000_RULES = ("s000.rule_week_is_rolling_7d", "s000.rule_confidence_bands", "s000.rule_repeat_lead_match")
KPI_INVENTORY = settings.PROJECT_ROOT / "docs" / "KPI_INVENTORY.md"  # the product team's inventory, copied in


# ---------------------------------------------------------------- helpers for hand-written rows

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def one(value):
    """A one-row, one-column result."""
    return [(value,)]


def hours(counts: dict[int, int]) -> list[tuple[int, int]]:
    """All 24 local hours in order, 0 where not given."""
    return [(h, counts.get(h, 0)) for h in range(24)]


def days(counts: dict[int, int]) -> list[tuple[int, str, int]]:
    """Monday..Sunday (ISO 1..7) with their names, 0 where not given."""
    return [(i, name, counts.get(i, 0)) for i, name in enumerate(DAY_NAMES, start=1)]


def bands(high: int, low: int) -> list[tuple[int, int]]:
    """One row: high-confidence leads, low-confidence leads."""
    return [(high, low)]


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def expected_rows(
    *,
    total,
    today,
    week,
    month,
    week_growth,
    month_growth,
    per_hour,
    avg_score,
    high,
    low,
    new,
    in_progress,
    converted,
    dropped,
    repeats,
    top_source,
    top3,
    top_service,
    by_source,
    conversion,
    by_bot_type,
    by_service,
    by_hour,
    by_hour_today,
    by_day,
    by_region,
) -> dict:
    """The rows every card returns, by card key (growth rates and averages as decimal strings)."""
    return {
        "lead_capture__total_leads": one(total),
        "lead_capture__leads_today": one(today),
        "lead_capture__leads_this_week": one(week),
        "lead_capture__leads_this_month": one(month),
        "lead_capture__week_growth_rate": one(dec(week_growth)),
        "lead_capture__month_growth_rate": one(dec(month_growth)),
        "lead_capture__avg_leads_per_hour_today": one(dec(per_hour)),
        "lead_capture__avg_confidence_score": one(dec(avg_score)),
        "lead_capture__high_vs_low_confidence": bands(high, low),
        "lead_capture__new_leads": one(new),
        "lead_capture__in_progress_leads": one(in_progress),
        "lead_capture__converted_leads": one(converted),
        "lead_capture__dropped_leads": one(dropped),
        "lead_capture__repeat_leads": one(repeats),
        "lead_capture__top_lead_source": top_source,
        "lead_capture__top_3_lead_sources": top3,
        "lead_capture__top_service_requested": top_service,
        "lead_capture__leads_by_source": by_source,
        "lead_capture__conversion_rate_by_source": [(s, n, c, dec(r)) for s, n, c, r in conversion],
        "lead_capture__leads_by_bot_type": by_bot_type,
        "lead_capture__leads_by_service": by_service,
        "lead_capture__leads_by_hour_of_day": hours(by_hour),
        "lead_capture__leads_by_hour_today": hours(by_hour_today),
        "lead_capture__leads_by_day_of_week": days(by_day),
        "lead_capture__leads_by_region": by_region,
    }


# ---------------------------------------------------------------- scenarios: filter values → hand-computed rows
# Filter values as Metabase sends them: string/= filters as one-element lists, dates as ISO strings.

SCENARIOS: dict[str, tuple[dict, dict]] = {}

# No filters: every value equals test_lead_capture_kpis.py (the KPI row and the breakdowns).
SCENARIOS["no_filters"] = (
    {},
    expected_rows(
        total=19,  # L01-L17, L19, L20
        today=5,  # L01 L02 L03 L17 L20
        week=8,  # + L04 (03-30), L05 (03-25), L19 (03-28)
        month=14,  # + L06 L07 L08 L09 L10 L11
        week_growth="3.0000",  # (8 - 2) / 2: previous week L06, L07
        month_growth="6.0000",  # (14 - 2) / 2: 1-28 Feb L12, L13
        per_hour="0.3846",  # 5 / 13
        avg_score="0.6724",  # 11.43 / 17
        high=8,
        low=4,  # L01 L02 L06 L09 L12 L14 L15 L19 / L04 L07 L11 L13
        new=6,
        in_progress=4,
        converted=6,
        dropped=3,
        repeats=3,  # L01 L03 L17
        top_source=[("Website", 7)],
        top3=[("Website", 7), ("Ads", 5), ("Social", 4)],
        top_service=[("AllyChat", 11)],
        by_source=[("Website", 7), ("Ads", 5), ("Social", 4), ("WhatsApp", 3)],
        conversion=[
            ("Ads", 5, 1, "0.2000"),
            ("Social", 4, 2, "0.5000"),
            ("Website", 7, 3, "0.4286"),
            ("WhatsApp", 3, 0, "0.0000"),
        ],  # converted: L06 / L07 L14 / L02 L09 L16 / none
        by_bot_type=[("chat", 13), ("voice", 6)],
        by_service=[("AllyChat", 11), ("AllyVoice", 5), ("AllyBundle", 3)],
        by_hour={0: 5, 1: 1, 3: 1, 8: 1, 9: 2, 10: 1, 11: 1, 12: 2, 23: 5},
        # 0h L03 L05 L07 L11 L13; 9h L16 L19; 12h L15 L17; 23h L04 L06 L08 L12 L14
        by_hour_today={0: 1, 8: 1, 10: 1, 11: 1, 12: 1},  # L03 L20 L02 L01 L17
        by_day={1: 7, 2: 2, 3: 1, 5: 4, 6: 2, 7: 3},  # no lead on a Thursday
        by_region=[("Unknown", 5), ("Midwest", 4), ("South", 4), ("West", 4), ("Northeast", 2)],
    ),
)

# Source = Website (as in test_snapshot_sums_to_the_kpi_row_for_any_filter): L01 L02 L09 L10 L11 L16 L17.
SCENARIOS["source_website"] = (
    {"source": ["Website"]},
    expected_rows(
        total=7,
        today=3,
        week=3,  # L01 L02 L17
        month=6,  # + L09 L10 L11
        week_growth=None,  # previous week: no Website lead
        month_growth=None,  # 1-28 Feb: none
        per_hour="0.2308",  # 3 / 13
        avg_score="0.6350",  # (0.9 + 0.8 + 0.81 + 0.6 + 0.2 + 0.5) / 6, L17 unscored
        high=3,
        low=1,  # L01 L02 L09 / L11
        new=3,
        in_progress=1,
        converted=3,
        dropped=0,  # L01 L11 L17 / L10 / L02 L09 L16
        repeats=2,  # L01 L17
        top_source=[("Website", 7)],
        top3=[("Website", 7)],
        top_service=[("AllyChat", 5)],
        by_source=[("Website", 7)],
        conversion=[("Website", 7, 3, "0.4286")],
        by_bot_type=[("chat", 5), ("voice", 2)],  # voice L02 L11
        by_service=[("AllyChat", 5), ("AllyVoice", 2)],
        by_hour={0: 1, 1: 1, 3: 1, 9: 1, 10: 1, 11: 1, 12: 1},  # L11 L09 L10 L16 L02 L01 L17
        by_hour_today={10: 1, 11: 1, 12: 1},
        by_day={1: 3, 5: 1, 6: 1, 7: 2},  # Mon L01 L02 L17, Fri L16, Sat L11, Sun L09 L10
        by_region=[("Midwest", 4), ("Unknown", 2), ("Northeast", 1)],  # L01 L02 L09 L17 / L11 L16 / L10
    ),
)

# Created 2025-03-24 .. 2025-03-31 (inclusive, local dates): L06 (03-24 23:59:59) is in, L07 (03-18) out.
# In range: L01 L02 L03 L04 L05 L06 L17 L19 L20. As-of-relative tiles ignore the range (no-filter values).
SCENARIOS["date_range"] = (
    {"created": "2025-03-24~2025-03-31"},
    expected_rows(
        total=9,
        today=5,
        week=8,
        month=14,
        week_growth="3.0000",
        month_growth="6.0000",
        per_hour="0.3846",
        avg_score="0.7471",  # (0.9 + 0.8 + 0.5 + 0.49 + 0.95 + 0.8 + 0.79) / 7 = 5.23 / 7
        high=4,
        low=1,  # L01 L02 L06 L19 / L04
        new=4,
        in_progress=2,
        converted=2,
        dropped=1,  # L01 L05 L17 L19 / L03 L20 / L02 L06 / L04
        repeats=3,  # L01 L03 L17 (L17's earlier lead L16 is outside the range)
        top_source=[("Ads", 3)],  # Ads and Website tie at 3: alphabetically first
        top3=[("Ads", 3), ("Website", 3), ("WhatsApp", 2)],
        top_service=[("AllyChat", 5)],  # L01 L04 L06 L17 L20
        by_source=[("Ads", 3), ("Website", 3), ("WhatsApp", 2), ("Social", 1)],
        conversion=[
            ("Ads", 3, 1, "0.3333"),
            ("Social", 1, 0, "0.0000"),
            ("Website", 3, 1, "0.3333"),
            ("WhatsApp", 2, 0, "0.0000"),
        ],  # converted: L06 / - / L02 / -
        by_bot_type=[("chat", 6), ("voice", 3)],  # voice L02 L05 L19
        by_service=[("AllyChat", 5), ("AllyVoice", 3), ("AllyBundle", 1)],
        by_hour={0: 2, 8: 1, 9: 1, 10: 1, 11: 1, 12: 1, 23: 2},  # 0h L03 L05; 23h L04 L06
        by_hour_today={0: 1, 8: 1, 10: 1, 11: 1, 12: 1},
        by_day={1: 6, 2: 1, 5: 1, 7: 1},  # Mon L01 L02 L03 L06 L17 L20, Tue L05, Fri L19, Sun L04
        by_region=[("Midwest", 3), ("South", 2), ("Unknown", 2), ("West", 2)],
    ),
)

# Service = AllyChat: L01 L04 L06 L07 L09 L10 L12 L14 L16 L17 L20 (all chat).
SCENARIOS["service_allychat"] = (
    {"service": ["AllyChat"]},
    expected_rows(
        total=11,
        today=3,  # L01 L17 L20
        week=4,  # + L04
        month=8,  # + L06 L07 L09 L10
        week_growth="1.0000",  # (4 - 2) / 2: previous week L06, L07
        month_growth="7.0000",  # (8 - 1) / 1: 1-28 Feb L12
        per_hour="0.2308",  # 3 / 13
        avg_score="0.7180",  # 7.18 / 10, L17 unscored
        high=5,
        low=2,  # L01 L06 L09 L12 L14 / L04 L07
        new=2,
        in_progress=3,
        converted=5,
        dropped=1,  # L01 L17 / L10 L12 L20 / L06 L07 L09 L14 L16 / L04
        repeats=2,  # L01 L17 (L03 is AllyBundle)
        top_source=[("Website", 5)],
        top3=[("Website", 5), ("Social", 3), ("Ads", 2)],
        top_service=[("AllyChat", 11)],
        by_source=[("Website", 5), ("Social", 3), ("Ads", 2), ("WhatsApp", 1)],
        conversion=[
            ("Ads", 2, 1, "0.5000"),
            ("Social", 3, 2, "0.6667"),
            ("Website", 5, 2, "0.4000"),
            ("WhatsApp", 1, 0, "0.0000"),
        ],  # L06 / L07 L14 / L09 L16 / -
        by_bot_type=[("chat", 11)],
        by_service=[("AllyChat", 11)],
        by_hour={0: 1, 1: 1, 3: 1, 8: 1, 9: 1, 11: 1, 12: 1, 23: 4},  # 23h L04 L06 L12 L14
        by_hour_today={8: 1, 11: 1, 12: 1},  # L20 L01 L17
        by_day={1: 4, 2: 1, 5: 3, 7: 3},  # Mon L01 L06 L17 L20, Tue L07, Fri L12 L14 L16, Sun L04 L09 L10
        by_region=[("West", 4), ("Midwest", 3), ("Northeast", 2), ("South", 1), ("Unknown", 1)],
    ),
)

# Bot type = voice: L02 L05 L08 L11 L15 L19.
SCENARIOS["bot_type_voice"] = (
    {"bot_type": ["voice"]},
    expected_rows(
        total=6,
        today=1,  # L02
        week=3,  # + L05 L19
        month=5,  # + L08 (03-17) L11 (03-01)
        week_growth=None,
        month_growth=None,  # no voice lead on 03-18..03-24 nor on 02-01..02-28
        per_hour="0.0769",  # 1 / 13
        avg_score="0.6600",  # (0.8 + 0.7 + 0.2 + 0.8 + 0.8) / 5, L05 unscored
        high=3,
        low=1,  # L02 L15 L19 / L11
        new=4,
        in_progress=0,
        converted=1,
        dropped=1,  # L05 L11 L15 L19 / - / L02 / L08
        repeats=0,  # L02 precedes L01, so L02 is not the repeat
        top_source=[("Ads", 2)],  # Ads and Website tie at 2
        top3=[("Ads", 2), ("Website", 2), ("Social", 1)],  # Social before WhatsApp on the tie at 1
        top_service=[("AllyVoice", 5)],
        by_source=[("Ads", 2), ("Website", 2), ("Social", 1), ("WhatsApp", 1)],
        conversion=[
            ("Ads", 2, 0, "0.0000"),
            ("Social", 1, 0, "0.0000"),
            ("Website", 2, 1, "0.5000"),
            ("WhatsApp", 1, 0, "0.0000"),
        ],
        by_bot_type=[("voice", 6)],
        by_service=[("AllyVoice", 5), ("AllyBundle", 1)],  # AllyBundle L08
        by_hour={0: 2, 9: 1, 10: 1, 12: 1, 23: 1},  # L05 L11 / L19 / L02 / L15 / L08
        by_hour_today={10: 1},
        by_day={1: 2, 2: 1, 3: 1, 5: 1, 6: 1},  # Mon L02 L08, Tue L05, Wed L15, Fri L19, Sat L11
        by_region=[("Unknown", 4), ("Midwest", 1), ("South", 1)],
    ),
)

# Every filter set: March, Website, chat, AllyChat → L01 L09 L10 L17 (L16 is in January).
# The as-of tiles see Website/chat/AllyChat only: today L01 L17; month L01 L09 L10 L17.
SCENARIOS["every_filter"] = (
    {"created": "2025-03", "source": ["Website"], "bot_type": ["chat"], "service": ["AllyChat"]},
    expected_rows(
        total=4,
        today=2,
        week=2,
        month=4,
        week_growth=None,
        month_growth=None,
        per_hour="0.1538",  # 2 / 13
        avg_score="0.7700",  # (0.9 + 0.81 + 0.6) / 3, L17 unscored
        high=2,
        low=0,  # L01 L09
        new=2,
        in_progress=1,
        converted=1,
        dropped=0,  # L01 L17 / L10 / L09
        repeats=2,  # L01 L17
        top_source=[("Website", 4)],
        top3=[("Website", 4)],
        top_service=[("AllyChat", 4)],
        by_source=[("Website", 4)],
        conversion=[("Website", 4, 1, "0.2500")],
        by_bot_type=[("chat", 4)],
        by_service=[("AllyChat", 4)],
        by_hour={1: 1, 3: 1, 11: 1, 12: 1},
        by_hour_today={11: 1, 12: 1},
        by_day={1: 2, 7: 2},
        by_region=[("Midwest", 3), ("Northeast", 1)],
    ),
)

# A value that matches no lead: counts are 0, ratios empty, rankings have no row.
SCENARIOS["no_match"] = (
    {"source": ["Email"]},
    expected_rows(
        total=0,
        today=0,
        week=0,
        month=0,
        week_growth=None,
        month_growth=None,
        per_hour="0.0000",  # 0 / 13 (the divisor comes from the whole snapshot)
        avg_score=None,
        high=0,
        low=0,
        new=0,
        in_progress=0,
        converted=0,
        dropped=0,
        repeats=0,
        top_source=[],
        top3=[],
        top_service=[],
        by_source=[],
        conversion=[],
        by_bot_type=[],
        by_service=[],
        by_hour={},
        by_hour_today={},
        by_day={},
        by_region=[],
    ),
)

CASES = [(scenario, key) for scenario, (_, rows) in SCENARIOS.items() for key in rows]


# ---------------------------------------------------------------- running cards


def run_dashcard(info: warehouse.ConnectionInfo, card_key: str, filter_values: dict) -> list[tuple]:
    return dashcard_rows(info, SPECS.cards[card_key], DASHBOARD, DASHCARDS[card_key], filter_values, AS_OF_DATE)


@pytest.mark.parametrize(
    ("scenario", "card_key"), CASES, ids=[f"{s}-{k.removeprefix('lead_capture__')}" for s, k in CASES]
)
def test_card_matches_hand_computed_rows(lead_capture_fixture_db, scenario, card_key):
    filter_values, expected = SCENARIOS[scenario]
    assert run_dashcard(lead_capture_fixture_db, card_key, filter_values) == expected[card_key]


def test_relative_date_values_count_from_the_as_of_date(lead_capture_fixture_db):
    """`thismonth` (as Metabase's date picker sends it) is March 2025 as of 2025-03-31: L01-L11, L17, L19, L20."""
    assert run_dashcard(lead_capture_fixture_db, "lead_capture__total_leads", {"created": "thismonth"}) == [(14,)]
    # past1weeks = the whole week before the current one (weeks start on Monday): 24-30 March, L04 L05 L06 L19
    assert run_dashcard(lead_capture_fixture_db, "lead_capture__total_leads", {"created": "past1weeks"}) == [(4,)]


def test_every_card_is_on_the_dashboard_and_checked_in_every_scenario():
    assert set(DASHCARDS) == set(CARDS), "every card file is placed on the Lead capture dashboard"
    assert len(DASHCARDS) == len(DASHBOARD.cards), "no card is placed twice"
    for scenario, (_, rows) in SCENARIOS.items():
        assert set(rows) == set(CARDS), f"scenario {scenario} must give hand values for every card"


def test_every_filter_binds_every_tag_and_no_filter_leaves_none():
    every = SCENARIOS["every_filter"][0]
    for key, card in CARDS.items():
        values = c.card_values(DASHBOARD, DASHCARDS[key], every)
        assert set(values) == {t.name for t in card.tags}, key
        sql, params = c.render_sql(card, c.card_values(DASHBOARD, DASHCARDS[key], {}))
        assert params == {} and "{{" not in sql, key


# ---------------------------------------------------------------- specs: KPIs, filters, layout, SQL


def test_every_s000_metric_has_a_card_and_a_metric():
    shown = {kpi for card in CARDS.values() for kpi in card.kpis}
    assert len(S000_METRICS) == 26 and len(set(S000_METRICS)) == 26
    assert sorted(set(S000_METRICS) - shown) == []
    assert sorted(set(S000_RULES) - shown) == []
    assert shown <= set(S000_METRICS) | set(S000_RULES), "a card names an id that is not a seed-000 item"
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    in_dbt = {
        kpi
        for node in [*manifest["metrics"].values(), *manifest["nodes"].values()]
        for kpi in (node.get("meta") or {}).get("kpis", [])
    }
    assert sorted((set(S000_METRICS) | set(S000_RULES)) - in_dbt) == [], "every id is in a metric's or model's meta"
    inventory = {}
    for line in KPI_INVENTORY.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("`s000."):
            inventory[cells[1].strip("`")] = cells[4]
    assert sorted(k for k, kind in inventory.items() if kind == "metric") == sorted(S000_METRICS)
    assert sorted(k for k, kind in inventory.items() if kind == "rule") == sorted(S000_RULES)


def test_a_card_shows_ids_its_metrics_define():
    """The measure ids (kind `metric`) on a card are in the meta of the metrics it shows, so one search finds both;
    a table, chart, filter or status column the card draws (seed 001's tables and flows) is named in the dbt
    project too (the model or exposure that builds it)."""
    from test_kpi_coverage import inventory

    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    meta = {m["name"]: set((m.get("meta") or {}).get("kpis", [])) for m in manifest["metrics"].values()}
    kinds = inventory()
    dbt_text = "\n".join(p.read_text() for p in (settings.DBT_PROJECT_DIR / "models").rglob("*") if p.is_file())
    for card in SPECS.cards.values():
        defined = set().union(*(meta[m.name] for m in card.metrics))
        measures = {k for k in card.kpis if kinds.get(k) == "metric"}
        assert measures <= defined, (card.key, measures - defined)
        assert {k for k in set(card.kpis) - measures - defined if k not in dbt_text} == set(), card.key


def test_dashboard_filters_and_mappings():
    assert DASHBOARD.name == "Lead capture" and DASHBOARD.collection == "Lead Analytics"
    assert {(f.slug, f.type) for f in DASHBOARD.filters} == {
        ("created", "date/all-options"),
        ("source", "string/="),
        ("bot_type", "string/="),
        ("service", "string/="),
    }
    for dc in DASHBOARD.cards:
        card = SPECS.cards[dc.card]
        if dc.card in AS_OF_CARDS:
            assert dc.mappings == {"source": "source", "bot_type": "bot_type", "service": "service"}, dc.card
            assert set(card.ignores) == {"date"}, dc.card  # the card says why the Created range does not change it
        else:
            assert dc.mappings == {
                "created": "created",
                "source": "source",
                "bot_type": "bot_type",
                "service": "service",
            }, dc.card
            assert card.ignores == {}, dc.card
        # every tag is a field filter on the lead fact, fed by a dashboard filter
        assert set(dc.mappings.values()) == {t.name for t in card.tags}, dc.card
        assert {t.field.qualified for t in card.tags} <= {
            "marts.fct_bot_leads.created_date",
            "marts.fct_bot_leads.source",
            "marts.fct_bot_leads.bot_type",
            "marts.fct_bot_leads.service_needed",
        }, dc.card


def test_minimal_dashboard_comes_first():
    ordered = sorted(DASHBOARD.cards, key=lambda dc: (dc.row, dc.col))
    assert {dc.card for dc in ordered[:6]} == MINIMAL_DASHBOARD
    last_minimal_row = max(dc.row + dc.size_y for dc in ordered[:6])
    assert all(dc.row >= last_minimal_row for dc in ordered[6:])


_RELATION = re.compile(r"\b(?:from|join)\s+(?!\()([a-z_][a-z0-9_.]*)", re.IGNORECASE)


@pytest.mark.parametrize("card_key", sorted(SPECS.cards))
def test_compiled_sql_reads_published_marts_and_descriptions_speak_plainly(card_key):
    card = SPECS.cards[card_key]
    code = re.sub(r"--[^\n]*", "", card.sql)
    ctes = set(re.findall(r"\b(\w+)\s+as\s*\(", code, re.IGNORECASE))
    relations = set(_RELATION.findall(code)) - ctes
    assert relations and all(r.startswith("marts.") for r in relations), relations
    grouped = set(card.columns) - {m.name for m in card.metrics}
    assert card.sql.rstrip().splitlines()[-1].startswith("order by") or not grouped, "rows come in a fixed order"
    # business users read the description: words, not ids or table names
    assert card.description and "s000." not in card.description and "marts." not in card.description
    assert all(card.labels.get(column) for column in card.columns)


# ---------------------------------------------------------------- provisioning the real specs


def test_real_specs_provision_against_the_fake_metabase_and_a_second_run_changes_nothing(
    lead_capture_fixture_db, fresh_db, monkeypatch, tmp_path
):
    """Every real card and dashboard (all domains), on a fake Metabase that has synced the marts: the lead-capture
    fixture's tables as dbt built them, the other domains' marts as their contracts type them. Every dashboard
    gets its tabs, every lead-capture dashcard's filters reach the right mart columns, and a second run sends
    no write at all."""
    from fake_metabase import manifest_tables, warehouse_tables

    from orchestration.bi import metabase as mp
    from orchestration.bi.metabase_state import WarehouseState
    from orchestration.ingestion import loaders

    monkeypatch.setattr("dbtmetabase._models._SYNC_PERIOD", 0)  # dbt-metabase's 5-s pause; the sync was awaited
    user, password = "admin@example.com", "s3cret-pass"
    db = {
        "name": "Lead Analytics warehouse",
        "host": "warehouse.internal",
        "port": 5432,
        "dbname": "lead_analytics",
        "user": "metabase_reader",
        "password": "reader-pw",
    }
    # Every mart, as dbt builds it on empty raw tables (no rows but the seeds'), then the lead-capture fixture's
    # tables: what a Metabase sync of schema marts finds.
    with warehouse.connect(fresh_db) as conn:
        loaders.ensure_schemas(conn)
    models = ["--resource-type", "seed", "--resource-type", "snapshot", "--resource-type", "model"]
    proc = run_dbt(fresh_db, "build", models, None, tmp_path / "dbt_target")
    assert proc.returncode == 0, proc.stdout[-3000:]
    with warehouse.connect(fresh_db) as conn:
        tables = {**manifest_tables(settings.DBT_PROJECT_DIR / "target" / "manifest.json"), **warehouse_tables(conn)}
    with warehouse.connect(lead_capture_fixture_db) as conn:
        tables.update(warehouse_tables(conn))
    state = WarehouseState(fresh_db)
    try:
        with FakeMetabase(users={user: password}, tables=tables) as fake:
            first = mp.provision(SPECS_DIR, fake.url, user, password, db, state=state)
            writes = fake.writes()
            second = mp.provision(SPECS_DIR, fake.url, user, password, db, state=state)
            assert fake.writes() == writes, (
                "a second run must not write",
                [(m, path, body) for m, path, body, _ in fake.requests[len(writes) :] if m != "GET"][-3:],
            )
            records = state.load(mp.instance_key(fake.url))
    finally:
        state.close()

    card_keys = sorted(SPECS.cards)  # one per card file, or per variant of one
    assert len([k for k in card_keys if k.startswith("lead_capture__")]) == 25
    assert sorted(c for c in first.created if c.startswith("card:")) == [f"card:{k}" for k in card_keys]
    assert sorted(d for d in first.created if d.startswith("dashboard:")) == sorted(
        f"dashboard:{k}" for k in SPECS.dashboards
    )
    assert second.created == second.updated == second.archived == [] and first.archived == []
    assert len(fake.cards) == len(card_keys) and len(fake.dashboards) == len(SPECS.dashboards)
    key_of = {r.metabase_id: key for (kind, key), r in records.items() if kind == "card"}
    assert sorted(key_of.values()) == card_keys
    by_name = {d["name"]: d for d in fake.dashboards.values()}
    for spec in SPECS.dashboards.values():  # each dashboard's pages are its tabs, in order
        assert [t["name"] for t in by_name[spec.name]["tabs"]] == [t.name for t in spec.tabs], spec.key
        assert len([dc for dc in by_name[spec.name]["dashcards"] if dc.get("card_id")]) == len(
            [p for p in spec.cards if p.card]
        ), spec.key

    dash = by_name["Lead capture"]
    assert dash["tabs"] == []
    slug_of = {p["id"]: p["slug"] for p in dash["parameters"]}
    assert {p["slug"]: p["type"] for p in dash["parameters"]} == {
        "created": "date/all-options",
        "source": "string/=",
        "bot_type": "string/=",
        "service": "string/=",
    }
    column_of = {"created": "created_date", "source": "source", "bot_type": "bot_type", "service": "service_needed"}
    field_of = {slug: fake.field_id("marts", "fct_bot_leads", column) for slug, column in column_of.items()}
    assert len(set(field_of.values())) == 4
    assert len(dash["dashcards"]) == 25 and {key_of[dc["card_id"]] for dc in dash["dashcards"]} == set(CARDS)
    for dc in dash["dashcards"]:
        key = key_of[dc["card_id"]]
        card = fake.cards[dc["card_id"]]
        tags = card["dataset_query"]["native"]["template-tags"]
        reached = {}
        for mapping in dc["parameter_mappings"]:
            slug = slug_of[mapping["parameter_id"]]
            kind, (ref, tag_name) = mapping["target"]
            assert (kind, ref, mapping["card_id"]) == ("dimension", "template-tag", card["id"]), key
            tag = tags[tag_name]
            assert (tag["type"], tag["widget-type"]) == ("dimension", DASHBOARD.filter(slug).type), key
            reached[slug] = tag["dimension"]
        expected = {"source", "bot_type", "service"} | (set() if key in AS_OF_CARDS else {"created"})
        assert reached == {slug: ["field", field_of[slug], None] for slug in expected}, key
        assert len(tags) == len(dc["parameter_mappings"]), f"{key}: a tag no filter feeds"
    # string filters list the column's values: the fields are categories with a value list
    for slug in ("source", "bot_type", "service"):
        field = fake.fields[field_of[slug]]
        assert (field["semantic_type"], field["has_field_values"]) == ("type/Category", "list"), slug
