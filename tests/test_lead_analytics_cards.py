"""The Lead analytics dashboard (seed 001, the CRM) on the hand-built CRM fixture: the shared CRM intermediate layer
(business-hours clock, lead journeys, go-live), then every card compiled by MetricFlow and run with its dashboard
filters bound as Metabase binds them.

The fixture (tests/fixtures/crm, one story per lead in its README) is loaded by the real loader and built by dbt as
of 2025-11-28 23:00 UTC (Friday 17:00 CST, the day after Thanksgiving) in America/Chicago. Every expected value
below was worked out BY HAND from those files; none is read back from the SQL under test. Times are local to the
lead's location unless marked Z. CDT = UTC-5 until 2 Nov 2025, CST = UTC-6; New York one hour ahead of Chicago,
Los Angeles two behind. Opening hours (seed crm_business_hours): Chicago and New York Mon-Fri 08:00-19:00, Los
Angeles 09:00-18:00; closed on Labor Day, Monday 1 September 2025 (seed crm_holidays).

    lead  location  source         score  arrives (local)       first outbound touch        outcome
    L-01  CHI       Referrals      85     Tue 05-13 14:00        agent call 16:00 (2 h)      won D-01 9,000 (agent)
    L-02  CHI       Website Forms  62     Fri 08-29 18:30        auto SMS 40 s               open
    L-03  CHI       Website Forms  55     Fri 08-29 18:30:10     auto SMS 40 s               open
    L-04  CHI       Paid Ads       48     Fri 08-29 19:05        auto e-mail 35 s            open
    L-05  CHI       Social Media   30     Sun 03-09 01:30 CST    agent Mon 08:30 CDT (30 h)  open
    L-06  NYC       Paid Ads       71     Sun 11-02 01:30 EDT    auto SMS 45 s               open
    L-07  NYC       Website Forms  90     Wed 10-15 08:30        auto SMS 40 s               open
    L-08  LAX       Referrals      88     Tue 07-08 10:00        auto SMS 40 s              won D-02 12,300 (automation)
    L-09  CHI       Website Forms  81     Wed 08-20 10:00        auto e-mail 35 s            won D-03 8,950 (agent)
    L-10  CHI       Social Media   66     Tue 06-10 10:00        auto SMS 40 s               won D-04 7,200 (other)
    L-11  NYC       Paid Ads       -      Tue 07-15 10:00        auto SMS 40 s               open, unassigned
    L-12  CHI       Paid Ads       20     Wed 06-18 15:00        never answered              new
    L-13  NYC       Website Forms  58     Tue 09-16 10:00        auto e-mail 35 s            lost D-05

Appointments: L-01, L-08, L-09, L-10, L-13. Organisations: Lakeside Motors (CHI, NYC; go-live 2025-06-10, L-10's
first workflow event), Prairie Auto Group (LAX; go-live 2025-07-08, L-08's). Before go-live: L-01, L-05.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from cards import dashcard_rows  # tests/ is on sys.path
from conftest import CRM_AS_OF, assert_suite_passes

from orchestration import settings, warehouse
from orchestration.bi import compiler

AS_OF = CRM_AS_OF
AS_OF_DATE = date(2025, 11, 28)
MARTS = ("fct_crm_leads", "fct_crm_won_deals", "fct_crm_touches", "fct_crm_lead_funnel", "fct_crm_attribution")

SPECS = compiler.compile_specs(settings.PROJECT_ROOT / "metabase")
DASHBOARD = SPECS.dashboards["lead_analytics"]
PLACED = {p.card: p for p in DASHBOARD.cards if p.card}
CARDS = sorted(k for k in SPECS.cards if k.startswith("lead_analytics__"))

RULE, POSITION = "Rule 90/50/25 (class of the deal)", "Position-based 40/20/40"
LAKESIDE, PRAIRIE = "Lakeside Motors", "Prairie Auto Group"


@pytest.fixture(scope="module")
def db(crm_fixture_db):
    return crm_fixture_db.info


def query(info, sql: str) -> list[tuple]:
    with warehouse.connect(info) as conn:
        return conn.execute(sql).fetchall()


def dec(text):
    return None if text is None else Decimal(text)


# ---------------------------------------------------------------- the intermediate layer


def test_business_seconds_stop_at_closing_skip_the_holiday_and_follow_daylight_saving(db):
    """Agent response (assignment -> the assigned agent's first outbound touch) and lead response, wall clock and
    business hours of the lead's location (D10, D110):
    - L-02 routed Fri 18:32, called 18:59: 27 min both ways (1,620 s).
    - L-03 routed 18:32:10, called 19:01: 28 min 50 s wall clock (1,730 s) but 27 min 50 s (1,670 s) of business
      time: the clock stops at the 19:00 close.
    - L-04 routed Fri 19:06:50 (after closing), called Tue 09-02 08:20 after Labor Day: 3 d 13 h 13 min 10 s
      (306,790 s) wall clock, 20 min (1,200 s) business: Saturday, Sunday and the holiday Monday are closed.
    - L-05 arrives Sun 03-09 01:30 CST (07:30Z), the spring-forward night; called Mon 08:30 CDT (13:30Z): 30 h
      (108,000 s) wall clock, not 31, and 30 min (1,800 s) business. Assigned Mon 08:05: agent response 25 min.
    - L-06 routed Sun 11-02 05:32Z (the first 01:32 EDT of the fall-back night), called Mon 08:10 EST (13:10Z):
      31 h 38 min (113,880 s) wall clock, 10 min (600 s) business. Its automated SMS 45 s after arrival, on a
      Sunday, is 0 business seconds.
    - L-07 in New York: routed 08:32 EDT, called 08:45: 13 min in New York's hours (Chicago was still closed).
    - L-08 (Los Angeles, opens 09:00): automated SMS 40 s after 10:00 PDT: 40 s both ways; AG-004 only took an
      inbound call, so no agent response.
    - L-12 never answered: no response at all (null), bucket 'never'.
    Proves s001.lead_response_time_avg's inputs (the wall clock and business seconds of every lead)."""
    assert query(
        db,
        "select lead_id, lead_response_seconds, lead_response_business_seconds, agent_response_seconds, "
        "agent_response_business_seconds, response_time_bucket "
        "from intermediate.int_crm__lead_journeys order by lead_id",
    ) == [
        ("L-01", 7200, 7200, 5400, 5400, "1-24 h"),  # assigned 14:30, called 16:00
        ("L-02", 40, 40, 1620, 1620, "< 1 min"),
        ("L-03", 40, 40, 1730, 1670, "< 1 min"),
        ("L-04", 35, 0, 306790, 1200, "< 1 min"),  # arrived 19:05, after closing: 0 business seconds
        ("L-05", 108000, 1800, 1500, 1500, "> 24 h"),
        ("L-06", 45, 0, 113880, 600, "< 1 min"),
        ("L-07", 40, 40, 780, 780, "< 1 min"),
        ("L-08", 40, 40, None, None, "< 1 min"),
        ("L-09", 35, 35, 3490, 3490, "< 1 min"),  # routed 15:01:50Z, called 16:00Z
        ("L-10", 40, 40, 7085, 7085, "< 1 min"),  # routed 15:01:55Z, called 17:00Z
        ("L-11", 40, 40, None, None, "< 1 min"),  # unassigned
        ("L-12", None, None, None, None, "never"),
        ("L-13", 35, 35, 3490, 3490, "< 1 min"),
    ]


def test_business_days_are_dst_correct_and_closed_on_holidays(db):
    """Chicago opens 08:00-19:00 local: 13:00Z-00:00Z in CDT, 14:00Z-01:00Z in CST, 39,600 s either way; Labor Day
    and weekends are closed (0 s). The clock is the open seconds of all earlier dates."""
    rows = query(
        db,
        "select * from (select local_date, to_char(opens_at at time zone 'UTC', 'HH24:MI'), "
        "open_seconds, open_seconds_before - lag(open_seconds_before) over (order by local_date) "
        "from intermediate.int_crm__business_days where location_id = 'LOC-CHI') as days "
        "where local_date between '2025-08-29' and '2025-09-02' order by 1",
    )
    # the clock grows by the previous day's open seconds: Thursday 08-28 was open
    assert rows == [
        (date(2025, 8, 29), "13:00", 39600, 39600),
        (date(2025, 8, 30), None, 0, 39600),
        (date(2025, 8, 31), None, 0, 0),
        (date(2025, 9, 1), None, 0, 0),
        (date(2025, 9, 2), "13:00", 39600, 0),
    ]
    assert query(
        db,
        "select to_char(opens_at at time zone 'UTC', 'HH24:MI'), open_seconds "
        "from intermediate.int_crm__business_days where location_id = 'LOC-CHI' "
        "and local_date = '2025-11-03'",
    ) == [("14:00", 39600)]


def test_go_live_is_the_first_automation_of_each_organisation(db):
    """Lakeside's first workflow event is L-10's web form on 2025-06-10; Prairie's L-08's on 2025-07-08. L-01 and
    L-05 (Lakeside, March and May) arrived before it (D26, D111)."""
    assert query(db, "select organization_name, go_live_date from intermediate.int_crm__go_live order by 1") == [
        (LAKESIDE, date(2025, 6, 10)),
        (PRAIRIE, date(2025, 7, 8)),
    ]
    assert query(db, "select lead_id from marts.fct_crm_leads where not after_go_live order by 1") == [
        ("L-01",),
        ("L-05",),
    ]


def test_attribution_class_is_derived_from_the_touches(db):
    """D102, first rule that holds: L-10 closed through another channel after the automation touched it:
    influenced (although an agent called after the automated SMS; the CRM said assisted, the one reconciliation
    mismatch). L-09: AG-003 called after the automated e-mail: assisted. L-08: only automated touches (the agent's
    call was inbound): direct. L-01: before go-live, never automated: none. Weights 0.90/0.50/0.25/0.
    Proves s001.attr.automation_attribution's classes."""
    assert query(
        db,
        "select lead_id, attribution_class, crm_attribution_type, attribution_weight, "
        "attributed_value_usd, attribution_label_differs from intermediate.int_crm__lead_journeys "
        "where is_won order by 1",
    ) == [
        ("L-01", "none", None, Decimal(0), Decimal(0), False),
        ("L-08", "direct", "direct", Decimal("0.90"), Decimal(11070), False),
        ("L-09", "assisted", "assisted", Decimal("0.50"), Decimal(4475), False),
        ("L-10", "influenced", "assisted", Decimal("0.25"), Decimal(1800), True),
    ]


def test_retention_keeps_every_lead_whatever_its_age(db):
    """s001.rule_data_retention (D53): nothing is pruned; the oldest lead (L-05, March 2025) is in the mart and
    the mart holds every raw lead (its dbt test row_count_equals compares it with the raw table)."""
    assert query(db, "select count(*), min(created_date) from marts.fct_crm_leads") == [(13, date(2025, 3, 9))]
    assert query(db, "select count(*) from raw_crm.leads") == [(13,)]


@pytest.mark.parametrize("mart", MARTS)
def test_great_expectations_suite_passes_on_the_fixture(db, mart):
    from orchestration.defs import checks

    assert_suite_passes(db, checks.EXPECTATIONS_DIR / f"marts__{mart}.json")


@pytest.mark.parametrize(
    ("mart", "key"),
    [
        ("fct_crm_leads", "lead_id"),
        ("fct_crm_won_deals", "won_deal_id"),
        ("fct_crm_touches", "activity_id"),
        ("fct_crm_lead_funnel", "lead_id, stage_order"),
        ("fct_crm_attribution", "lead_id, model_order"),
    ],
)
def test_grain(db, mart, key):
    assert query(db, f"select count(*) = count(distinct ({key})) from marts.{mart}") == [(True,)]


# ---------------------------------------------------------------- the cards, by scenario


def funnel(*counts) -> list[tuple]:
    stages = ("Total leads", "Automated response", "Appointments scheduled", "Deals closed")
    return [(stages[i], i + 1, n) for i, n in enumerate(counts)]


SCENARIOS: dict[str, tuple[dict, dict]] = {}

# No filter: all 13 leads, 31 outbound touches, 4 won deals.
SCENARIOS["no_filters"] = (
    {},
    {
        "lead_analytics__leads": [(13,)],
        # appointments L-01 L-08 L-09 L-10 L-13: 5/13; won L-01 L-08 L-09 L-10: 4/13
        "lead_analytics__conversion_rates": [(dec("0.3846"), dec("0.3077"))],
        # 12 answered leads: 7200 + 108000 + 6 x 40 (L-02 L-03 L-07 L-08 L-10 L-11) + 3 x 35 (L-04 L-09 L-13) + 45
        # = 115,590 / 12 = 9,632.5; sorted 35 35 35 40 40 40 40 40 40 45 7200 108000: median (40 + 40) / 2;
        # p95 at position 0.95 x 11 = 10.45: 7200 + 0.45 x (108000 - 7200) = 52,560; L-12 never answered
        "lead_analytics__lead_response_time": [(dec("9632.5"), 40, 52560, 1)],
        # business: 7200 + 1800 (L-05) + 6 x 40 + 2 x 35 (L-09 L-13) + 0 (L-04 after closing) + 0 (L-06 Sunday)
        # = 9,310 / 12 = 775.8333; sorted 0 0 35 35 40 40 40 40 40 40 1800 7200: median 40;
        # p95 1800 + 0.45 x 5400 = 4,230
        "lead_analytics__lead_response_business_time": [(dec("775.8333"), 40, 4230)],
        "lead_analytics__source_performance": [
            # L-02 L-03 L-07 L-09 L-13: all answered; appointments L-09 L-13; won L-09 8,950
            ("Website Forms", 5, 1, dec("0.4"), dec("0.2"), 8950, 8950),
            # L-04 L-06 L-11 L-12: L-12 never answered; nothing booked or won; no deal value (empty, not 0)
            ("Paid Ads", 4, dec("0.75"), 0, 0, None, 0),
            # L-01 L-08: both booked and won, 9,000 + 12,300
            ("Referrals", 2, 1, 1, 1, 10650, 21300),
            # L-05 L-10: L-10 booked and won 7,200
            ("Social Media", 2, 1, dec("0.5"), dec("0.5"), 7200, 7200),
        ],
        "lead_analytics__lead_quality": [
            (1, "hot", 4, dec("0.3077"), dec("0.75")),  # 85 90 88 81; won L-01 L-08 L-09
            (2, "warm", 6, dec("0.4615"), dec("0.1667")),  # 62 55 48 71 66 58; won L-10
            (3, "cold", 2, dec("0.1538"), 0),  # 30 20
            (4, "unscored", 1, dec("0.0769"), 0),  # L-11
        ],
        "lead_analytics__locations": [
            # L-01 L-02 L-03 L-04 L-05 L-09 L-10 L-12: wall clock 35 35 40 40 40 7200 108000 -> 40; business
            # 0 35 40 40 40 1800 7200 -> 40; booked and won L-01 L-09 L-10: 3/8; 9,000 + 8,950 + 7,200
            (LAKESIDE, "Chicago Loop", 8, 40, 40, dec("0.375"), dec("0.375"), 25150),
            # L-06 L-07 L-11 L-13: wall 35 40 40 45 -> 40; business 0 35 40 40 -> 37.5; booked L-13
            (LAKESIDE, "Manhattan", 4, 40, dec("37.5"), dec("0.25"), 0, 0),
            (PRAIRIE, "Los Angeles", 1, 40, 40, 1, 1, 12300),  # L-08
        ],
        # automated first touch: every answered lead but L-01 and L-05 (agents, before go-live)
        "lead_analytics__attribution_funnel": funnel(13, 10, 5, 4),
        # revenue 9,000 + 12,300 + 8,950 + 7,200 = 37,450; attributed 0 + 11,070 + 4,475 + 1,800 = 17,345 (46.32 %)
        "lead_analytics__attribution_summary": [
            (13, 10, dec("0.7692"), 5, dec("0.3846"), 4, dec("0.3077"), 37450, 17345, dec("0.4632"))
        ],
        "lead_analytics__revenue_closed": [(4, 37450, 17345, dec("0.4632"), 1)],  # L-10 mislabelled
        # position-based over the outbound touches up to the close: L-01 phone + e-mail, both manual: 0; L-08 SMS,
        # e-mail, e-mail, all automated: 12,300; L-09 auto e-mail 0.4, agent call 0.1, auto e-mail 0.1, agent e-mail
        # 0.4: 0.5 x 8,950 = 4,475; L-10 auto SMS 0.4, agent call 0.2, auto e-mail 0.4: 0.8 x 7,200 = 5,760
        "lead_analytics__attribution_models": [
            (1, RULE, 37450, 17345, dec("0.4632")),
            (2, POSITION, 37450, 22535, dec("0.6017")),
        ],
        "lead_analytics__response_time_impact": [
            (1, "< 1 min", 10, dec("0.3")),  # the ten automated first touches; won L-08 L-09 L-10
            (4, "1-24 h", 1, 1),  # L-01, 2 h
            (5, "> 24 h", 1, 0),  # L-05, 30 h
            (6, "never", 1, 0),  # L-12
        ],
        "lead_analytics__followup_effectiveness": [
            (0, "0", 1, 0),  # L-12
            (1, "1", 2, 0),  # L-05 L-11
            (2, "2", 2, dec("0.5")),  # L-01 (both before its close) L-07; L-01 won
            # L-02 L-03 L-04 L-06 (open: every touch), L-08 L-10 (up to the close), L-13 (up to the lost deal)
            (3, "3", 7, dec("0.2857")),
            (4, "4", 1, 1),  # L-09
        ],
        # e-mail 14 touches, A-0802 and A-0803 answered by L-08's inbound call (07-11 18:00Z, 50 h and 2 h later);
        # L-08's SMS of 07-08 17:00:40Z is 73 h before that call: outside the 72 h
        "lead_analytics__channel_performance": [
            ("E-mail", 14, 2, dec("0.1429")),
            ("Phone", 10, 0, 0),
            ("SMS", 7, 0, 0),
        ],
        # ISO weekday (1 = Monday) and hour at the lead's location
        "lead_analytics__timing_attempts": [
            (1, 8, 2),  # A-0501 08:30 CDT, A-0602 08:10 EST (New York)
            (1, 9, 1),  # A-0402 Labor Day 09:00 (automated)
            (1, 10, 1),  # A-0904
            (2, 8, 1),  # A-0403 08:20
            (2, 10, 5),  # A-0603 (NYC EST), A-0801 (LA PDT), A-1001, A-1101 (NYC), A-1301 (NYC)
            (2, 11, 1),
            (2, 12, 1),
            (2, 16, 1),  # A-1302, A-1002, A-0101
            (3, 8, 2),  # A-0701 08:30, A-0702 08:45 New York time
            (3, 9, 1),
            (3, 10, 1),
            (3, 11, 1),  # A-0802 (LA), A-0901, A-0902
            (4, 9, 1),
            (4, 10, 2),  # A-1003; A-0102, A-1303
            (5, 9, 2),  # A-0803 (LA), A-0903
            (5, 18, 3),  # A-0201, A-0202 (18:59), A-0301
            (5, 19, 2),  # A-0302 (19:01), A-0401 (19:05)
            (7, 1, 1),  # A-0601 01:30 EDT, the first 01:30 of the fall-back night
            (7, 9, 2),  # A-0203, A-0303
        ],
        "lead_analytics__timing_response_rate": [
            (1, 8, 0),
            (1, 9, 0),
            (1, 10, 0),
            (2, 8, 0),
            (2, 10, 0),
            (2, 11, 0),
            (2, 12, 0),
            (2, 16, 0),
            (3, 8, 0),
            (3, 9, 1),
            (3, 10, 0),
            (3, 11, 0),
            (4, 9, 0),
            (4, 10, 0),
            (5, 9, dec("0.5")),  # A-0803 answered, A-0903 not
            (5, 18, 0),
            (5, 19, 0),
            (7, 1, 0),
            (7, 9, 0),
        ],
        # before: L-01 (booked, won) L-05: 1/2 each; after: 11 leads, booked L-08 L-09 L-10 L-13, won L-08 L-09 L-10
        "lead_analytics__before_after_go_live": [
            ("Before go-live", dec("0.5"), dec("0.5")),
            ("After go-live", dec("0.3636"), dec("0.2727")),
        ],
        # as of 2025-11-28: open pipeline = arrived 08-31 .. 11-28 without a won or lost deal: L-06 L-07 (L-13 lost);
        # trailing cohort = arrived 06-01 .. 08-30: L-02 L-03 L-04 (08-29) L-08 L-09 L-10 L-11 L-12, won 12,300 +
        # 8,950 + 7,200 = 28,450; projection 2 x 28,450 / 8 = 7,112.5
        "lead_analytics__revenue_forecast": [(2, 8, 28450, dec("7112.5"))],
        "lead_analytics__score_calibration": [
            (2, "20-29", 1, 20, 0),
            (3, "30-39", 1, 30, 0),
            (4, "40-49", 1, 48, 0),
            (5, "50-59", 2, dec("56.5"), 0),  # 55 58
            (6, "60-69", 2, 64, dec("0.5")),  # 62 66; L-10 won
            (7, "70-79", 1, 71, 0),
            (8, "80-89", 3, dec("84.6667"), 1),  # 85 88 81, all won
            (9, "90-100", 1, 90, 0),  # L-07
            (None, "unscored", 1, None, 0),  # L-11: no decile, no average
        ],
    },
)

# Organisation = Prairie Auto Group: only L-08 (Los Angeles, Referrals, 88, won 12,300 direct).
SCENARIOS["org_prairie"] = (
    {"org": [PRAIRIE]},
    {
        "lead_analytics__leads": [(1,)],
        "lead_analytics__conversion_rates": [(1, 1)],
        "lead_analytics__lead_response_time": [(40, 40, 40, 0)],
        "lead_analytics__lead_response_business_time": [(40, 40, 40)],  # 10:00 PDT, open since 09:00
        "lead_analytics__source_performance": [("Referrals", 1, 1, 1, 1, 12300, 12300)],
        "lead_analytics__lead_quality": [(1, "hot", 1, 1, 1)],
        "lead_analytics__locations": [(PRAIRIE, "Los Angeles", 1, 40, 40, 1, 1, 12300)],
        "lead_analytics__attribution_funnel": funnel(1, 1, 1, 1),
        "lead_analytics__attribution_summary": [(1, 1, 1, 1, 1, 1, 1, 12300, 11070, dec("0.9"))],
        "lead_analytics__revenue_closed": [(1, 12300, 11070, dec("0.9"), 0)],
        "lead_analytics__attribution_models": [(1, RULE, 12300, 11070, dec("0.9")), (2, POSITION, 12300, 12300, 1)],
        "lead_analytics__response_time_impact": [(1, "< 1 min", 1, 1)],
        "lead_analytics__followup_effectiveness": [(3, "3", 1, 1)],
        "lead_analytics__channel_performance": [("E-mail", 2, 2, 1), ("SMS", 1, 0, 0)],
        # Los Angeles time: SMS Tue 10:00, e-mails Wed 07-09 and Fri 07-11 09:00 PDT
        "lead_analytics__timing_attempts": [(2, 10, 1), (3, 9, 1), (5, 9, 1)],
        "lead_analytics__timing_response_rate": [(2, 10, 0), (3, 9, 1), (5, 9, 1)],
        "lead_analytics__before_after_go_live": [("After go-live", 1, 1)],
        # no open lead; the trailing cohort is L-08 alone: 0 x 12,300 / 1
        "lead_analytics__revenue_forecast": [(0, 1, 12300, 0)],
        "lead_analytics__score_calibration": [(8, "80-89", 1, 88, 1)],
    },
)

# Agent = Unassigned: only L-11 (New York, Paid Ads, no score, automated SMS 40 s after 10:00 EDT, nothing else).
SCENARIOS["agent_unassigned"] = (
    {"agent": ["Unassigned"]},
    {
        "lead_analytics__leads": [(1,)],
        "lead_analytics__conversion_rates": [(0, 0)],
        "lead_analytics__lead_response_time": [(40, 40, 40, 0)],
        "lead_analytics__lead_response_business_time": [(40, 40, 40)],
        "lead_analytics__source_performance": [("Paid Ads", 1, 1, 0, 0, None, 0)],
        "lead_analytics__lead_quality": [(4, "unscored", 1, 1, 0)],
        "lead_analytics__locations": [(LAKESIDE, "Manhattan", 1, 40, 40, 0, 0, 0)],
        "lead_analytics__attribution_funnel": funnel(1, 1),
        "lead_analytics__attribution_summary": [(1, 1, 1, 0, 0, 0, 0, 0, 0, None)],  # nothing won: no share
        "lead_analytics__revenue_closed": [(0, 0, 0, None, 0)],
        "lead_analytics__attribution_models": [],
        "lead_analytics__response_time_impact": [(1, "< 1 min", 1, 0)],
        "lead_analytics__followup_effectiveness": [(1, "1", 1, 0)],
        "lead_analytics__channel_performance": [("SMS", 1, 0, 0)],
        "lead_analytics__timing_attempts": [(2, 10, 1)],
        "lead_analytics__timing_response_rate": [(2, 10, 0)],
        "lead_analytics__before_after_go_live": [("After go-live", 0, 0)],
        "lead_analytics__revenue_forecast": [(0, 1, 0, 0)],  # 07-15: in the trailing cohort, nothing won
        "lead_analytics__score_calibration": [(None, "unscored", 1, None, 0)],
    },
)

# Location = Manhattan (New York time): L-06, L-07, L-11, L-13.
SCENARIOS["location_manhattan"] = (
    {"location": ["Manhattan"]},
    {
        "lead_analytics__leads": [(4,)],
        "lead_analytics__conversion_rates": [(dec("0.25"), 0)],  # L-13 booked, then lost
        # 45 40 40 35: mean 40, median 40, p95 at 0.95 x 3 = 2.85: 40 + 0.85 x 5 = 44.25
        "lead_analytics__lead_response_time": [(40, 40, dec("44.25"), 0)],
        # business 0 (L-06 on a Sunday) 40 40 35: mean 28.75, median 37.5, p95 40
        "lead_analytics__lead_response_business_time": [(dec("28.75"), dec("37.5"), 40)],
        "lead_analytics__source_performance": [
            ("Paid Ads", 2, 1, 0, 0, None, 0),
            ("Website Forms", 2, 1, dec("0.5"), 0, None, 0),
        ],
        "lead_analytics__lead_quality": [
            (1, "hot", 1, dec("0.25"), 0),
            (2, "warm", 2, dec("0.5"), 0),
            (4, "unscored", 1, dec("0.25"), 0),
        ],
        "lead_analytics__locations": [(LAKESIDE, "Manhattan", 4, 40, dec("37.5"), dec("0.25"), 0, 0)],
        "lead_analytics__attribution_funnel": funnel(4, 4, 1),
        "lead_analytics__attribution_summary": [(4, 4, 1, 1, dec("0.25"), 0, 0, 0, 0, None)],
        "lead_analytics__revenue_closed": [(0, 0, 0, None, 0)],
        "lead_analytics__attribution_models": [],
        "lead_analytics__response_time_impact": [(1, "< 1 min", 4, 0)],
        "lead_analytics__followup_effectiveness": [
            (1, "1", 1, 0),
            (2, "2", 1, 0),
            (3, "3", 2, 0),
        ],  # L-11; L-07; L-06 L-13
        "lead_analytics__channel_performance": [("E-mail", 3, 0, 0), ("Phone", 3, 0, 0), ("SMS", 3, 0, 0)],
        "lead_analytics__timing_attempts": [
            (1, 8, 1),  # A-0602 08:10 EST
            (2, 10, 3),  # A-0603 11-04 10:00 EST, A-1101 10:00 EDT, A-1301 10:00 EDT
            (2, 11, 1),  # A-1302
            (3, 8, 2),  # A-0701, A-0702
            (4, 10, 1),  # A-1303
            (7, 1, 1),  # A-0601
        ],
        "lead_analytics__timing_response_rate": [(1, 8, 0), (2, 10, 0), (2, 11, 0), (3, 8, 0), (4, 10, 0), (7, 1, 0)],
        "lead_analytics__before_after_go_live": [("After go-live", dec("0.25"), 0)],
        # open L-06 L-07; trailing cohort L-11 without revenue: 2 x 0 / 1
        "lead_analytics__revenue_forecast": [(2, 1, 0, 0)],
        "lead_analytics__score_calibration": [
            (5, "50-59", 1, 58, 0),
            (7, "70-79", 1, 71, 0),
            (9, "90-100", 1, 90, 0),
            (None, "unscored", 1, None, 0),
        ],
    },
)

# Date range = Friday 2025-08-29 (Chicago): L-02, L-03 and L-04 (19:05 CDT, already 08-30 in UTC) arrived; the
# touches dated that evening: A-0201 A-0202 A-0301 A-0302 (19:01, 00:01Z next day) A-0401 (19:05).
SCENARIOS["friday_before_labor_day"] = (
    {"date": "2025-08-29~2025-08-29"},
    {
        "lead_analytics__leads": [(3,)],
        "lead_analytics__conversion_rates": [(0, 0)],
        "lead_analytics__lead_response_time": [(dec("38.3333"), 40, 40, 0)],  # 40 40 35
        "lead_analytics__lead_response_business_time": [(dec("26.6667"), 40, 40)],  # 40 40 0
        "lead_analytics__source_performance": [
            ("Website Forms", 2, 1, 0, 0, None, 0),
            ("Paid Ads", 1, 1, 0, 0, None, 0),
        ],
        "lead_analytics__lead_quality": [(2, "warm", 3, 1, 0)],
        "lead_analytics__locations": [(LAKESIDE, "Chicago Loop", 3, 40, 40, 0, 0, 0)],
        "lead_analytics__attribution_funnel": funnel(3, 3),
        "lead_analytics__attribution_summary": [(3, 3, 1, 0, 0, 0, 0, 0, 0, None)],
        "lead_analytics__revenue_closed": [(0, 0, 0, None, 0)],  # nothing closed that day
        "lead_analytics__attribution_models": [],
        "lead_analytics__response_time_impact": [(1, "< 1 min", 3, 0)],
        "lead_analytics__followup_effectiveness": [(3, "3", 3, 0)],
        "lead_analytics__channel_performance": [("E-mail", 1, 0, 0), ("Phone", 2, 0, 0), ("SMS", 2, 0, 0)],
        "lead_analytics__timing_attempts": [(5, 18, 3), (5, 19, 2)],
        "lead_analytics__timing_response_rate": [(5, 18, 0), (5, 19, 0)],
        "lead_analytics__before_after_go_live": [("After go-live", 0, 0)],
        "lead_analytics__revenue_forecast": [(2, 8, 28450, dec("7112.5"))],  # ignores the date: as without filters
        "lead_analytics__score_calibration": [(4, "40-49", 1, 48, 0), (5, "50-59", 1, 55, 0), (6, "60-69", 1, 62, 0)],
    },
)

KPIS: dict[str, tuple[str, ...]] = {
    "test_card_matches_hand_computed_rows": (
        "s001.attr.total_monthly_leads",
        "s001.conv_rate_lead_to_appointment",
        "s001.conv_rate_lead_to_close",
        "s001.lead_response_time_avg",
        "s001.lead_response_time_median",
        "s001.lead_response_time_p95",
        "s001.source_perf_table",
        "s001.source_perf.volume",
        "s001.source_perf.response_rate",
        "s001.source_perf.appointment_rate",
        "s001.source_perf.close_rate",
        "s001.source_perf.avg_deal_value",
        "s001.source_perf.total_revenue",
        "s001.rule_lead_score_bands",
        "s001.lead_quality.share_of_volume",
        "s001.lead_quality.conversion_rate",
        "s001.ent_multi_location",
        "s001.attr_funnel",
        "s001.attr.automated_response",
        "s001.attr.appointments_scheduled",
        "s001.attr.deals_closed",
        "s001.attr.revenue_generated",
        "s001.attr.automation_attribution",
        "s001.behav_response_time_impact",
        "s001.behav_followup_effectiveness",
        "s001.behav_channel_performance",
        "s001.behav_timing_analysis",
        "s001.addon_forecasting",
        "s001.addon_predictive_analytics",
        "s001.addon_multi_touch_attribution",
    ),
    "test_retention_keeps_every_lead_whatever_its_age": ("s001.rule_data_retention",),
}


def run_card(info, card_key: str, filter_values: dict) -> list[tuple]:
    return dashcard_rows(info, SPECS.cards[card_key], DASHBOARD, PLACED[card_key], filter_values, AS_OF_DATE)


def test_every_card_is_placed_and_has_expected_rows_in_every_scenario():
    assert set(PLACED) == set(CARDS)
    for scenario, (_, expected) in SCENARIOS.items():
        assert set(expected) == set(CARDS), scenario


@pytest.mark.parametrize("card_key", CARDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_card_matches_hand_computed_rows(db, scenario, card_key):
    filter_values, expected = SCENARIOS[scenario]
    assert run_card(db, card_key, filter_values) == expected[card_key]


def test_revenue_closed_is_dated_by_the_close_and_the_cohort_by_arrival(db):
    """July 2025: D-02 (L-08) closed on 07-25 -> won revenue 12,300, attributed 11,070. The leads that arrived in
    July are L-08 and L-11: the same 12,300 in the cohort. June: L-10 (arrived 06-10, closed 06-27, 7,200,
    influenced 1,800) and L-12 arrived; D-01 (L-01, arrived in May) closed on 05-30, so it is in neither June
    figure. Proves s001.attr.revenue_generated dated both ways."""
    july = {"date": "2025-07-01~2025-07-31"}
    assert run_card(db, "lead_analytics__revenue_closed", july) == [(1, 12300, 11070, dec("0.9"), 0)]
    june = {"date": "2025-06-01~2025-06-30"}
    assert run_card(db, "lead_analytics__revenue_closed", june) == [
        (1, 7200, 1800, dec("0.25"), 1)
    ]  # labelled assisted
    assert run_card(db, "lead_analytics__attribution_summary", june) == [
        (2, 1, dec("0.5"), 1, dec("0.5"), 1, dec("0.5"), 7200, 1800, dec("0.25"))
    ]
    may = {"date": "2025-05-01~2025-05-31"}
    assert run_card(db, "lead_analytics__revenue_closed", may) == [(1, 9000, 0, 0, 0)]  # D-01: class none, no label


def test_source_and_location_filters_combine(db):
    """Source = Website Forms and Location = Manhattan: L-07 and L-13; L-13 booked, neither won."""
    values = {"source": ["Website Forms"], "location": ["Manhattan"]}
    assert run_card(db, "lead_analytics__source_performance", values) == [
        ("Website Forms", 2, 1, dec("0.5"), 0, None, 0)
    ]


def test_the_html_dashboard_draws_the_funnel_the_heatmaps_and_the_curves(db, browser, tmp_path):
    """The HTML report of the dashboard in Chromium: every card on its tab, the funnel's steps with their shares,
    the contact-attempts heatmap with all 7 x 24 cells (hand counts of the no-filter scenario), the response-time
    and follow-up curves and the before/after bars (s001.attr_funnel, s001.behav_timing_analysis,
    s001.behav_response_time_impact, s001.behav_followup_effectiveness)."""
    from browser import draw_dashboard

    shown = draw_dashboard(browser, db, SPECS, DASHBOARD, {}, tmp_path)
    assert shown["lead_analytics__leads"]["value"] == "13 leads"
    # 10/13 = 76.9 %, 5/13 = 38.5 % (5/10 = 50.0 %), 4/13 = 30.8 % (4/5 = 80.0 %)
    assert shown["lead_analytics__attribution_funnel"]["figures"][0]["marks"] == [
        "Total leads: 13; 100.0% of the first step; 100.0% of the previous step",
        "Automated response: 10; 76.9% of the first step; 76.9% of the previous step",
        "Appointments scheduled: 5; 38.5% of the first step; 50.0% of the previous step",
        "Deals closed: 4; 30.8% of the first step; 80.0% of the previous step",
    ]
    marks = shown["lead_analytics__timing_attempts"]["figures"][0]["marks"]
    assert len(marks) == 7 * 24
    cells = {
        m.split(": ")[0].replace("Hour (location time) ", ""): m.split(": ")[1]
        for m in marks
        if not m.endswith("no data")
    }
    assert cells == {
        "Monday, 8": "2",
        "Monday, 9": "1",
        "Monday, 10": "1",
        "Tuesday, 8": "1",
        "Tuesday, 10": "5",
        "Tuesday, 11": "1",
        "Tuesday, 12": "1",
        "Tuesday, 16": "1",
        "Wednesday, 8": "2",
        "Wednesday, 9": "1",
        "Wednesday, 10": "1",
        "Wednesday, 11": "1",
        "Thursday, 9": "1",
        "Thursday, 10": "2",
        "Friday, 9": "2",
        "Friday, 18": "3",
        "Friday, 19": "2",  # 18:59 and 19:01 fall in different hours
        "Sunday, 1": "1",
        "Sunday, 9": "2",
    }
    assert shown["lead_analytics__response_time_impact"]["figures"][0]["marks"] == [
        "< 1 min; CRM leads: 10",
        "1-24 h; CRM leads: 1",
        "> 24 h; CRM leads: 1",
        "never; CRM leads: 1",
        "< 1 min; Lead-to-close rate: 30.0%",
        "1-24 h; Lead-to-close rate: 100.0%",
        "> 24 h; Lead-to-close rate: 0.0%",
        "never; Lead-to-close rate: 0.0%",
    ]
    assert shown["lead_analytics__followup_effectiveness"]["figures"][0]["marks"][5:] == [
        "0; Lead-to-close rate: 0.0%",
        "1; Lead-to-close rate: 0.0%",
        "2; Lead-to-close rate: 50.0%",
        "3; Lead-to-close rate: 28.6%",
        "4; Lead-to-close rate: 100.0%",
    ]
    assert shown["lead_analytics__before_after_go_live"]["figures"][0]["marks"] == [
        "Before go-live; Lead-to-appointment rate: 50.0%",
        "Before go-live; Lead-to-close rate: 50.0%",
        "After go-live; Lead-to-appointment rate: 36.4%",
        "After go-live; Lead-to-close rate: 27.3%",
    ]
