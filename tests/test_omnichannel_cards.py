"""The "Omnichannel usage" dashboard (seed 002): every card compiled by MetricFlow from the semantic layer, run
against a hand-built fixture warehouse with the dashboard's filters bound as Metabase binds them.

The fixture (tests/fixtures/omnichannel/) is loaded by the real loader and built by dbt as of 2025-12-03 18:00 UTC
(12:00 CST, a Wednesday), reporting time zone America/Chicago: CST = UTC-6, CDT = UTC-5 from 2025-03-09 08:00 UTC
(02:00 CST -> 03:00 CDT) to 2025-11-02 07:00 UTC (02:00 CDT -> 01:00 CST). Every expected value below was worked
out BY HAND from those rows (comments show the arithmetic); none is read back from the SQL under test.

Users (registered = activation time), local:
    U1 Mon 02-10 09:00   U2 Sun 03-02 23:30 (UTC Mon 03-03: ISO-week boundary)
    U3 Mon 03-31 22:00 (UTC 04-01: month boundary)   U8 Mon 05-05 09:00   U4 Tue 06-10 09:00
    U5 Sun 11-02 01:30 CST (autumn DST day)   U6 Tue 12-02 (after the default range)   U7 12-04 (after as-of)
Invited people (first invitation, local date; e-mails matched in any case):
    ann 02-07 -> U1 -> charged 03-04          bo " Bo@Example.com" 02-27 -> U2, re-invited "BO@EXAMPLE.COM" 03-05;
    cy 03-28 -> U3 -> charged 04-01           U2's only charge (03-02 18:30Z) is BEFORE its activation (03-03 05:30Z)
    gus 03-10, kim "Kim@Example.com" 03-31 21:00 CDT (UTC 04-01), hal "Hal@Example.com " 06-12: never activated
    max 05-02 -> U8, never charged            di 06-09 -> U4 -> charged 11-02    ed 10-30 -> U5 -> charged 11-04
    ivy 11-05, activated 12-04 (after as-of)  fay 11-28 -> U6 12-02 -> charged 12-02    jo 12-04: after as-of
Active days (local; event ids): U1 02-10, 03-04 (blast, Tue 9h), 03-09 (01:30 CST login, blast 03:20 CDT), 11-30
    (22:00 CST = UTC 12-01), [12-03 19:00Z after as-of]; U2 03-02 (blast Sun 23h, UTC Mon), 10-31 (23:30 CDT =
    UTC 11-01); U3 03-31 (blast Mon 22h, UTC 04-01), 04-01, 10-20; U8 05-06; U4 06-10, 06-11 (blast Wed 8h),
    11-02 (blast 01:30 CDT and 01:35 CST: one wall-clock hour 1), 11-04; U5 11-02, 11-04 (blast Tue 8h); U6 12-02.
Blasts and charges (local):
    B03 U2 sms promo     20/19   sent Sun 03-02 12:10   C03 0.43 (19 msgs) Sun 03-02 12:30 (before activation)
    B01 U1 WhatsApp Promo 100/95 sent Tue 03-04 09:20   C01 33.25 (95) Tue 09:30
    B02 U1 email trans   50/48   sent Sun 03-09 03:30 CDT  C02 6.72 (48) Sun 03:40 CDT
    B04 U3 ivr trans     40/34   sent Mon 03-31 23:00   C04 3.23 (17) Mon 03-31 23:10, C05 3.23 (17) Tue 04-01 00:10
    B06 U4 whatsapp promo 300/-  sent Wed 06-11 09:00 (delivery unknown), no charge
    B05 U4 whatsapp trans 200/190 sent Sun 11-02 01:40 CDT  C06 66.50 (190) Sun 11-02 01:40 CST
    B07 U5 sms trans     80/76   sent Tue 11-04 09:00   C07 1.71 (76) Tue 09:05
    B09 U1 whatsapp promo: never sent     B08 U6 email promo 30/30 sent 12-02, C08 4.20 (30) 12-02, C09 after as-of
The marts cover the local dates 2025-02-07 (the first invitation) to 2025-12-03 (the as-of date).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cards import dashcard_rows, normalised  # tests/ is on sys.path
from conftest import assert_suite_passes, build_fixture_warehouse

from orchestration import settings, warehouse
from orchestration.bi import compiled as c
from orchestration.bi import compiler
from orchestration.defs import checks

SPECS = compiler.compile_specs(settings.PROJECT_ROOT / "metabase")
DASHBOARD = SPECS.dashboards["omnichannel_usage"]
DASHCARDS = {p.card: p for p in DASHBOARD.cards if p.card}
CARDS = {k: card for k, card in SPECS.cards.items() if k.startswith("omnichannel__")}
AS_OF = "2025-12-03T18:00:00Z"
AS_OF_DATE = date(2025, 12, 3)
FIXTURE = Path(__file__).parent / "fixtures" / "omnichannel"
TABLES = ("users", "invitations", "user_activity", "message_blasts", "blast_charges")


@pytest.fixture(scope="module")
def omni_db(warehouse_info, tmp_path_factory):
    info = build_fixture_warehouse(
        warehouse_info,
        tmp_path_factory,
        "omni",
        {f"omnichannel__{t}": FIXTURE / t for t in TABLES},
        ["+marts.omnichannel"],
        AS_OF,
    )
    yield info
    warehouse.drop_database(info)


# ---------------------------------------------------------------- helpers for hand-written rows

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def grid(cells: dict[tuple[int, int], str]) -> list[tuple]:
    """Every weekday (1 = Monday) x hour 0-23 in order, with the given cells' values and 0 elsewhere."""
    return [(d, DAY_NAMES[d - 1], h, dec(cells.get((d, h), "0"))) for d in range(1, 8) for h in range(24)]


def hour_zero_and(cells: dict[tuple[int, int], str]) -> list[tuple]:
    """The charged-messages heatmap over a range holding every weekday: hour 0 of each weekday (the mart's
    zero row per date) and the hours with charges, in order."""
    keys = sorted({(d, 0) for d in range(1, 8)} | set(cells))
    return [(d, DAY_NAMES[d - 1], h, dec(cells.get((d, h), "0"))) for d, h in keys]


def runs(*spans: tuple[str, str, tuple[int, int, int]]) -> list[tuple]:
    """(day, DAU, WAU, MAU) for every day of consecutive spans (first day, last day, values)."""
    out = []
    for first, last, values in spans:
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            out.append((day, *values))
            day += timedelta(days=1)
    return out


def months(*values) -> list[tuple]:
    """(first of month, values...) from ("2025-02", v1, ...) tuples."""
    return [(date.fromisoformat(f"{m}-01"), *rest) for m, *rest in values]


def channels(*rows) -> list[tuple]:
    """Engagement rows with the delivery rate as a decimal string."""
    return [
        (ch, blasts, sent, delivered, dec(rate), users, dec(charge))
        for ch, blasts, sent, delivered, rate, users, charge in rows
    ]


# ---------------------------------------------------------------- scenarios: filter values -> hand-computed rows
# Filter values as Metabase sends them: string/= filters as lists, the date as a Metabase date value.

SCENARIOS: dict[str, tuple[dict, dict]] = {}

# No values: the date range takes its default, past12months = 2024-12-01 .. 2025-11-30 as of 2025-12-03; the marts
# start on 2025-02-07, so the range holds 297 days with data: 22 (Feb) + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 30.
SCENARIOS["default_last_12_months"] = (
    {},
    {
        "omnichannel__total_registered_users": [(6,)],  # U1 U2 U3 U8 U4 U5 (U6 on 12-02 is after the range)
        "omnichannel__new_registered_users": [(6,)],  # all six signed up within it
        "omnichannel__active_users": [(6,)],  # the same six; U6 is active only on 12-02
        "omnichannel__transacting_users": [(5,)],  # U1 U2 U3 U4 U5 charged (U2 before activating); U8 never
        "omnichannel__new_registered_users_trend": months(
            ("2025-02", 1),
            ("2025-03", 2),
            ("2025-04", 0),
            ("2025-05", 1),
            ("2025-06", 1),
            ("2025-07", 0),
            ("2025-08", 0),
            ("2025-09", 0),
            ("2025-10", 0),
            ("2025-11", 1),
        ),  # U3 is March (local 03-31)
        "omnichannel__transacting_users_trend": months(
            ("2025-02", 0),
            ("2025-03", 3),
            ("2025-04", 1),
            ("2025-05", 0),
            ("2025-06", 0),
            ("2025-07", 0),
            ("2025-08", 0),
            ("2025-09", 0),
            ("2025-10", 0),
            ("2025-11", 2),
        ),  # Mar U1 U2 U3 (C04 03-31), Apr U3 (C05)
        "omnichannel__busy_hours_active_users": grid(
            {
                (2, 9): "0.0236",  # U1 Tue 03-04 09h: 1 x 7/297
                (7, 23): "0.0236",  # U2 Sun 03-02 23:35 CST (UTC Monday)
                (7, 3): "0.0236",  # U1 Sun 03-09 03:20 CDT (spring day; the 01:30 event is a login)
                (1, 22): "0.0236",  # U3 Mon 03-31 22:50 CDT (UTC 04-01)
                (3, 8): "0.0236",  # U4 Wed 06-11 08:50
                (7, 1): "0.0236",  # U4 Sun 11-02 01:30 CDT and 01:35 CST: one user in hour 1
                (2, 8): "0.0236",  # U5 Tue 11-04 08:50
            }
        ),
        "omnichannel__busy_hours_charged_messages": hour_zero_and(
            {
                (1, 23): "0.4007",  # C04 17 x 7/297
                (2, 0): "0.4007",  # C05 17 (Tue 04-01 00:10 CDT)
                (2, 9): "4.0303",  # C01 95 + C07 76 = 171 x 7/297
                (7, 1): "4.4781",  # C06 190 x 7/297 (01:40 CST on the autumn day)
                (7, 3): "1.1313",  # C02 48 x 7/297 (03:40 CDT on the spring day)
                (7, 12): "0.4478",  # C03 19 x 7/297
            }
        ),
        "omnichannel__blast_charge_by_channel": [
            ("WhatsApp", dec("99.75")),  # C01 33.25 + C06 66.50
            ("Email", dec("6.72")),  # C02
            ("IVR", dec("6.46")),  # C04 + C05 3.23 each
            ("SMS", dec("2.14")),  # C03 0.43 + C07 1.71
        ],
        "omnichannel__engagement_by_channel": channels(
            (
                "WhatsApp",
                3,
                600,
                285,
                "0.9500",
                2,
                "99.75",
            ),  # B01 B05 B06; delivered 95 + 190 of 100 + 200 (B06 unknown)
            ("Email", 1, 50, 48, "0.9600", 1, "6.72"),
            ("IVR", 1, 40, 34, "0.8500", 1, "6.46"),
            ("SMS", 2, 100, 95, "0.9500", 2, "2.14"),  # B03 B07: (19 + 76) / (20 + 80), U2 U5
        ),
        "omnichannel__delivery_success_rate": [(dec("0.9429"),)],  # 462 / 490: B01 B02 B03 B04 B05 B07
        "omnichannel__blast_usage_trend": months(
            ("2025-02", 0, 0),
            ("2025-03", 4, 3),
            ("2025-04", 0, 0),
            ("2025-05", 0, 0),
            ("2025-06", 1, 1),
            ("2025-07", 0, 0),
            ("2025-08", 0, 0),
            ("2025-09", 0, 0),
            ("2025-10", 0, 0),
            ("2025-11", 2, 2),
        ),
        "omnichannel__invitation_funnel": [(1, "Invited", 11), (2, "Activated", 7), (3, "Transacting", 5)],
        # invited: ann bo cy gus kim max di hal ed ivy fay (bo once; jo after as-of); activated: ann bo cy max di ed
        # fay (ivy only after as-of); transacting: ann cy di ed fay (bo's charge precedes activation, max none)
        "omnichannel__invitation_conversion": [(11, 7, dec("0.6364"), 5, dec("0.4545"), dec("0.3636"), dec("0.2857"))],
        # 7/11, 5/11, 1 - 7/11, 1 - 5/7
    },
)

# 1-10 November (10 days: not whole weeks, holding the autumn DST day). WAU and MAU look back into October.
SCENARIOS["ten_days_in_november"] = (
    {"date": "2025-11-01~2025-11-10"},
    {
        "omnichannel__total_registered_users": [(6,)],  # everyone registered by 11-10
        "omnichannel__new_registered_users": [(1,)],  # U5, 11-02 01:30 CST
        "omnichannel__active_users": [(2,)],  # U4 U5; U2's 11-01 04:30 UTC is 10-31 locally
        "omnichannel__transacting_users": [(2,)],  # U4 (C06), U5 (C07)
        "omnichannel__new_registered_users_trend": months(("2025-11", 1)),
        "omnichannel__transacting_users_trend": months(("2025-11", 2)),
        "omnichannel__dau_wau_mau": runs(
            ("2025-11-01", "2025-11-01", (0, 1, 2)),  # WAU U2 (10-31); MAU U3 (10-20) U2
            ("2025-11-02", "2025-11-02", (2, 3, 4)),  # U4 U5 active; + U2 in WAU, + U3 U2 in MAU
            ("2025-11-03", "2025-11-03", (0, 3, 4)),
            ("2025-11-04", "2025-11-04", (2, 3, 4)),
            ("2025-11-05", "2025-11-06", (0, 3, 4)),  # 10-31 is still among the 7 days through 11-06
            ("2025-11-07", "2025-11-10", (0, 2, 4)),  # WAU U4 U5; MAU keeps U3 (10-20 is within 29 days of 11-10)
        ),
        "omnichannel__busy_hours_active_users": grid(
            {
                (7, 1): "0.7000",  # U4 in hour 1 of 11-02 (01:30 CDT and 01:35 CST count once): 1 x 7/10
                (2, 8): "0.7000",  # U5 Tue 11-04 08h
            }
        ),
        "omnichannel__busy_hours_charged_messages": hour_zero_and(
            {
                (7, 1): "133.0000",  # C06 190 x 7/10
                (2, 9): "53.2000",  # C07 76 x 7/10
            }
        ),
        "omnichannel__blast_charge_by_channel": [
            ("WhatsApp", dec("66.50")),
            ("SMS", dec("1.71")),
            ("Email", dec("0")),
            ("IVR", dec("0")),
        ],
        "omnichannel__engagement_by_channel": channels(
            ("WhatsApp", 1, 200, 190, "0.9500", 1, "66.50"),
            ("SMS", 1, 80, 76, "0.9500", 1, "1.71"),
            ("Email", 0, 0, 0, None, 0, "0"),  # listed with zeros; no rate without delivered messages
            ("IVR", 0, 0, 0, None, 0, "0"),
        ),
        "omnichannel__delivery_success_rate": [(dec("0.9500"),)],  # (190 + 76) / (200 + 80)
        "omnichannel__blast_usage_trend": months(("2025-11", 2, 2)),  # B05 U4, B07 U5
        "omnichannel__invitation_funnel": [(1, "Invited", 1), (2, "Activated", 0), (3, "Transacting", 0)],  # ivy
        "omnichannel__invitation_conversion": [
            (1, 0, dec("0"), 0, dec("0"), dec("1"), None)
        ],  # no activated: no 2nd drop-off
    },
)

# March with two channels and one category (multi-select): date-only cards see all of March.
SCENARIOS["march_whatsapp_sms_promotional"] = (
    {"date": "2025-03", "channel": ["WhatsApp", "SMS"], "category": ["Promotional"]},
    {
        "omnichannel__total_registered_users": [(3,)],  # U1 U2 U3 by 03-31
        "omnichannel__new_registered_users": [(2,)],  # U2 (local 03-02), U3 (local 03-31)
        # with a channel: users who composed or sent a blast on it in March: U2 (B03 SMS 03-02), U1 (B01 WhatsApp
        # 03-04); U3's B04 (03-31) is IVR. Without the Channel filter it would be U1 U2 U3 (activity events).
        "omnichannel__active_users": [(2,)],
        "omnichannel__transacting_users": [(2,)],  # C01 U1 (WhatsApp promo), C03 U2 (SMS promo)
        "omnichannel__new_registered_users_trend": months(("2025-03", 2)),
        "omnichannel__transacting_users_trend": months(("2025-03", 2)),
        "omnichannel__dau_wau_mau": runs(
            ("2025-03-01", "2025-03-01", (0, 0, 1)),  # MAU: U1's 02-10, before the range's first day
            ("2025-03-02", "2025-03-02", (1, 1, 2)),  # U2 (23:30 CST; UTC 03-03)
            ("2025-03-03", "2025-03-03", (0, 1, 2)),
            ("2025-03-04", "2025-03-04", (1, 2, 2)),  # U1; WAU U2 U1
            ("2025-03-05", "2025-03-08", (0, 2, 2)),  # 03-02 is among the 7 days through 03-08
            ("2025-03-09", "2025-03-09", (1, 1, 2)),  # U1 on the spring DST day; U2 left the WAU window
            ("2025-03-10", "2025-03-15", (0, 1, 2)),
            ("2025-03-16", "2025-03-30", (0, 0, 2)),
            ("2025-03-31", "2025-03-31", (1, 1, 3)),  # U3 (22:00 CDT; UTC 04-01); MAU U1 U2 U3
        ),
        "omnichannel__busy_hours_active_users": grid(
            {
                (7, 23): "0.2258",
                (2, 9): "0.2258",
                (7, 3): "0.2258",
                (1, 22): "0.2258",  # 1 x 7/31 each
            }
        ),
        "omnichannel__busy_hours_charged_messages": hour_zero_and(
            {
                (2, 9): "21.4516",  # C01 95 x 7/31
                (7, 12): "4.2903",  # C03 19 x 7/31
            }
        ),
        "omnichannel__blast_charge_by_channel": [("WhatsApp", dec("33.25")), ("SMS", dec("0.43"))],
        "omnichannel__engagement_by_channel": channels(
            ("WhatsApp", 1, 100, 95, "0.9500", 1, "33.25"),  # B01
            ("SMS", 1, 20, 19, "0.9500", 1, "0.43"),  # B03
        ),
        "omnichannel__delivery_success_rate": [(dec("0.9500"),)],  # (95 + 19) / (100 + 20)
        "omnichannel__blast_usage_trend": months(("2025-03", 2, 2)),
        "omnichannel__invitation_funnel": [(1, "Invited", 3), (2, "Activated", 1), (3, "Transacting", 1)],
        # cy, gus, kim (03-31 local); bo's first invitation is in February
        "omnichannel__invitation_conversion": [(3, 1, dec("0.3333"), 1, dec("0.3333"), dec("0.6667"), dec("0"))],
    },
)

# A channel no blast has: the blast and charge panels are empty or 0; the others are those of the default range.
SCENARIOS["unknown_channel"] = (
    {"channel": ["Fax"]},
    {
        "omnichannel__transacting_users": [(0,)],
        "omnichannel__transacting_users_trend": [],
        "omnichannel__busy_hours_charged_messages": [],
        "omnichannel__blast_charge_by_channel": [],
        "omnichannel__engagement_by_channel": [],
        "omnichannel__delivery_success_rate": [(None,)],
        "omnichannel__blast_usage_trend": [],
        "omnichannel__active_users": [(0,)],  # nobody composed or sent a blast on it
        **{
            k: v
            for k, v in SCENARIOS["default_last_12_months"][1].items()
            if k in ("omnichannel__total_registered_users", "omnichannel__invitation_funnel")
        },
    },
)

# Active users on one channel (D31): users who composed or sent a WhatsApp blast in the default range: U1 (B01 sent
# 03-04; B09 composed 11-20 and never sent still counts), U4 (B06 06-11, B05 11-02). Charged on WhatsApp: U1 (C01),
# U4 (C06); B06 and B09 were never charged, so the same two.
SCENARIOS["whatsapp"] = (
    {"channel": ["WhatsApp"]},
    {
        "omnichannel__active_users": [(2,)],
        "omnichannel__transacting_users": [(2,)],
    },
)

# The default range's DAU / WAU / MAU has one row per day (297); these days are checked by hand.
DEFAULT_DAU_WAU_MAU = {
    date(2025, 2, 7): (0, 0, 0),  # the first day with data (ann's invitation), nobody active yet
    date(2025, 2, 10): (1, 1, 1),  # U1
    date(2025, 2, 16): (0, 1, 1),  # the 7th day from 02-10
    date(2025, 2, 17): (0, 0, 1),
    date(2025, 3, 31): (1, 1, 3),  # as in March
    date(2025, 4, 1): (1, 1, 2),  # U3 again; MAU 03-03..04-01: U1 (03-09) U3, not U2 (03-02)
    date(2025, 6, 4): (0, 0, 1),  # U8's 05-06 is the 30th day back
    date(2025, 6, 5): (0, 0, 0),
    date(2025, 6, 11): (1, 1, 1),  # U4
    date(2025, 11, 29): (0, 0, 3),  # MAU 10-31..11-29: U2 U4 U5
    date(2025, 11, 30): (1, 1, 3),  # U1 22:00 CST (UTC 12-01); MAU U1 U4 U5 (U2's 10-31 is 31 days back)
}


# ---------------------------------------------------------------- what the hand-computed rows prove

# The inventory items each card's rows above prove, so that a search for an id finds its test (the card's own
# `kpis`; the filters are proven by test_filters_defaults_and_mappings and the scenarios that set them).
KPIS: dict[str, tuple[str, ...]] = {
    "omnichannel__total_registered_users": ("s002.total_registered_users",),
    "omnichannel__new_registered_users": ("s002.new_registered_users",),
    "omnichannel__active_users": ("s002.active_users",),
    "omnichannel__transacting_users": ("s002.total_transacting_users",),
    "omnichannel__new_registered_users_trend": ("s002.chart_new_registered_users_trend", "s002.new_registered_users"),
    "omnichannel__transacting_users_trend": ("s002.chart_transacting_users_trend", "s002.total_transacting_users"),
    "omnichannel__dau_wau_mau": ("s002.chart_dau_wau_mau", "s002.dau", "s002.wau", "s002.mau", "s002.usage_trends"),
    "omnichannel__busy_hours_active_users": ("s002.heatmap_active_users",),
    "omnichannel__busy_hours_charged_messages": ("s002.heatmap_charged_messages",),
    "omnichannel__blast_charge_by_channel": ("s002.chart_total_blast_by_channel", "s002.total_blast_charge_by_channel"),
    "omnichannel__engagement_by_channel": ("s002.engagement_metrics_per_channel", "s002.message_delivery_success_rate"),
    "omnichannel__delivery_success_rate": ("s002.message_delivery_success_rate",),
    "omnichannel__blast_usage_trend": ("s002.usage_trends",),
    "omnichannel__invitation_funnel": (
        "s002.chart_invitation_funnel",
        "s002.funnel.invited_users",
        "s002.funnel.activated_users",
        "s002.funnel.transacting_users",
    ),
    "omnichannel__invitation_conversion": (
        "s002.chart_invitation_funnel",
        "s002.funnel.invited_users",
        "s002.funnel.activated_users",
        "s002.funnel.transacting_users",
        "s002.funnel.dropoff_rates",
    ),
}


# ---------------------------------------------------------------- running cards


def run_dashcard(info: warehouse.ConnectionInfo, card_key: str, filter_values: dict) -> list[tuple]:
    return dashcard_rows(info, CARDS[card_key], DASHBOARD, DASHCARDS[card_key], filter_values, AS_OF_DATE)


CASES = [(scenario, key) for scenario, (_, rows) in SCENARIOS.items() for key in rows]


@pytest.mark.parametrize(
    ("scenario", "card_key"), CASES, ids=[f"{s}-{k.removeprefix('omnichannel__')}" for s, k in CASES]
)
def test_card_matches_hand_computed_rows(omni_db, scenario, card_key):
    filter_values, expected = SCENARIOS[scenario]
    assert run_dashcard(omni_db, card_key, filter_values) == normalised(expected[card_key])


def test_dau_wau_mau_of_the_default_range(omni_db):
    rows = run_dashcard(omni_db, "omnichannel__dau_wau_mau", {})
    assert len(rows) == 297 and rows[0][0] == date(2025, 2, 7) and rows[-1][0] == date(2025, 11, 30)
    by_day = {row[0]: row[1:] for row in rows}
    assert {day: by_day[day] for day in DEFAULT_DAU_WAU_MAU} == DEFAULT_DAU_WAU_MAU


def test_fixture_loads_without_rejects_and_as_of_bounds_the_marts(omni_db):
    with warehouse.connect(omni_db) as conn:
        assert conn.execute("select count(*) from raw_audit.rejected_rows").fetchone() == (0,)
        # the marts end on the as-of date; E22 and C09 (after 18:00 UTC on 12-03) are not in them
        assert conn.execute("select max(usage_date) from marts.fct_omnichannel_daily_usage").fetchone() == (AS_OF_DATE,)
        # U1: 4 days with activity events (channel null) and 3 with a blast on a channel: 03-04 WhatsApp, 03-09 Email,
        # 11-20 WhatsApp (B09 composed, never sent; no activity event that day)
        assert conn.execute(
            "select count(*) from marts.fct_omnichannel_user_days where user_id = 'U1' and channel is null"
        ).fetchone() == (4,)
        assert conn.execute(
            "select activity_date::text, channel from marts.fct_omnichannel_user_days "
            "where user_id = 'U1' and channel is not null order by activity_date"
        ).fetchall() == [("2025-03-04", "WhatsApp"), ("2025-03-09", "Email"), ("2025-11-20", "WhatsApp")]
        assert conn.execute("select sum(charges) from marts.fct_omnichannel_channel_usage").fetchone() == (8,)
        # "bo" is one invited person although invited twice, once as " Bo@Example.com" and once in capitals; the
        # mart knows the person by the hash of the normalised address only (D152)
        assert conn.execute(
            "select invitations from marts.fct_omnichannel_invitation_steps where person_key = %s order by step_order",
            [hashlib.sha256(b"bo@example.com").hexdigest()],
        ).fetchall() == [(2,), (2,)]
        assert conn.execute(
            "select count(*) from marts.fct_omnichannel_invitation_steps where person_key like '%@%'"
        ).fetchone() == (0,)


# ---------------------------------------------------------------- the dashboard spec


def test_every_card_is_placed_once_and_checked_by_hand_in_two_scenarios_or_more():
    assert set(DASHCARDS) == set(CARDS), "every omnichannel card is on the Omnichannel usage dashboard"
    assert len(DASHCARDS) == len([p for p in DASHBOARD.cards if p.card])
    for key in CARDS:
        checked = [s for s, (_, rows) in SCENARIOS.items() if key in rows]
        assert len(checked) >= 2, (key, checked)
    for scenario in ("ten_days_in_november", "march_whatsapp_sms_promotional"):
        missing = set(CARDS) - set(SCENARIOS[scenario][1])
        assert missing == set(), (scenario, missing)


def test_each_card_proves_the_items_it_shows():
    assert set(KPIS) == set(CARDS)
    for key, card in CARDS.items():
        assert set(card.kpis) <= set(KPIS[key]), (key, set(card.kpis) - set(KPIS[key]))


def test_filters_defaults_and_mappings():
    assert DASHBOARD.name == "Omnichannel usage" and DASHBOARD.collection == "Lead Analytics"
    assert [(f.slug, f.type, f.default) for f in DASHBOARD.filters] == [
        ("date", "date/all-options", "past12months"),
        ("channel", "string/=", None),
        ("category", "string/=", None),
    ]
    assert {kpi for f in DASHBOARD.filters for kpi in f.kpis} == {
        "s002.filter_date_range",
        "s002.filter_channel",
        "s002.filter_category_type",
    }
    channel_panels = {
        "omnichannel__transacting_users",
        "omnichannel__transacting_users_trend",
        "omnichannel__busy_hours_charged_messages",
        "omnichannel__blast_charge_by_channel",
        "omnichannel__engagement_by_channel",
        "omnichannel__delivery_success_rate",
        "omnichannel__blast_usage_trend",
    }
    channel_only = {"omnichannel__active_users"}  # users active on the channel; activity has no category (D31)
    for key, placement in DASHCARDS.items():
        card = CARDS[key]
        expected = (
            {"date", "channel", "category"}
            if key in channel_panels
            else {"date", "channel"}
            if key in channel_only
            else {"date"}
        )
        assert set(placement.mappings) == expected, key
        assert set(placement.mappings.values()) == {t.name for t in card.tags}, key
        # a panel the Channel filter does not drive says so to the reader
        if key not in channel_panels | channel_only:
            assert set(card.ignores) == {"channel", "category"}, key
    assert set(CARDS["omnichannel__active_users"].ignores) == {"category"}
    # without values the date range is the last 12 whole months; the text block says so and names the panels
    assert c.card_values(DASHBOARD, DASHCARDS["omnichannel__active_users"], {}) == {"date": "past12months"}
    assert c.date_bounds("past12months", AS_OF_DATE) == (date(2024, 12, 1), date(2025, 11, 30))
    (text,) = [p.text for p in DASHBOARD.cards if p.text]
    assert "last 12 whole months" in text and "Channel" in text and "ignore them" in text


def test_one_dashboard_filter_feeds_several_values():
    """string/= filters are multi-select: two channels bind as one IN list on the mart's own column."""
    card = CARDS["omnichannel__blast_charge_by_channel"]
    sql, params = c.render_sql(card, {"channel": ["WhatsApp", "SMS"]}, today=AS_OF_DATE)
    assert '"channel" in (%(p0)s, %(p1)s)' in sql and params == {"p0": "WhatsApp", "p1": "SMS"}
    assert {t.field.qualified for t in card.tags} == {
        "marts.fct_omnichannel_channel_usage.usage_date",
        "marts.fct_omnichannel_channel_usage.channel",
        "marts.fct_omnichannel_channel_usage.category",
    }


# ---------------------------------------------------------------- Great Expectations suites (blocking checks)

OMNI_SUITES = (
    "fct_omnichannel_daily_usage",
    "fct_omnichannel_channel_usage",
    "fct_omnichannel_hourly_charges",
    "fct_omnichannel_invitation_steps",
)


def test_gx_suites_pass_on_the_fixture_marts(omni_db):
    for name in OMNI_SUITES:
        assert_suite_passes(omni_db, checks.EXPECTATIONS_DIR / f"marts__{name}.json")


def test_gx_suites_fail_on_windows_that_do_not_nest_and_more_delivered_than_sent(fresh_db):
    with warehouse.connect(fresh_db) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.fct_omnichannel_daily_usage (usage_date date, new_registered_users integer, "
            "registered_users_to_date integer, daily_active_users integer, weekly_active_users integer, "
            "monthly_active_users integer)"
        )
        conn.execute(
            "insert into marts.fct_omnichannel_daily_usage values ('2025-03-01', 0, 1, 0, 0, 1), "
            "('2025-03-02', 1, 2, 1, 1, 2), ('2025-03-02', 0, 2, 0, 1, 2), "  # a date twice
            "('2025-03-03', 0, 2, 3, 2, 2)"
        )  # 3 users today but 2 in the week that ends today
        conn.execute(
            "create table marts.fct_omnichannel_channel_usage (usage_date date, channel text, category text, "
            "user_id text, user_key integer, blasts_sent integer, messages_sent bigint, "
            "messages_with_delivery_status bigint, messages_delivered bigint, charges integer, "
            "charged_messages bigint, charge_amount numeric)"
        )
        conn.execute(
            "insert into marts.fct_omnichannel_channel_usage values "
            "('2025-03-01', 'WhatsApp', 'Promotional', 'U1', 1, 1, 100, 100, 95, 1, 95, 33.25), "
            "('2025-03-01', 'Fax', 'Promotional', 'U2', 2, 1, 20, 20, 21, 0, 0, 0)"
        )  # unknown, 21 of 20
    daily = checks.validate_suite(fresh_db, checks.EXPECTATIONS_DIR / "marts__fct_omnichannel_daily_usage.json")
    assert not daily.passed
    assert sorted((f.type, f.column, f.unexpected_count) for f in daily.failures) == [
        ("expect_column_pair_values_a_to_be_greater_than_b", "weekly_active_users, daily_active_users", 1),
        ("expect_column_values_to_be_unique", "usage_date", 2),
    ]
    usage = checks.validate_suite(fresh_db, checks.EXPECTATIONS_DIR / "marts__fct_omnichannel_channel_usage.json")
    assert sorted((f.type, f.column, f.unexpected_count) for f in usage.failures) == [
        ("expect_column_pair_values_a_to_be_greater_than_b", "messages_with_delivery_status, messages_delivered", 1),
        ("expect_column_values_to_be_in_set", "channel", 1),
    ]


def test_the_dashboard_draws_every_card_in_chromium_with_the_hand_counted_values(omni_db, browser, tmp_path):
    """The HTML dashboard as written by `make demo`, with its default filters (the last 12 months)."""
    from browser import draw_dashboard

    filters, expected = SCENARIOS["default_last_12_months"]
    shown = draw_dashboard(browser, omni_db, SPECS, DASHBOARD, filters, tmp_path)
    for key in ("omnichannel__total_registered_users", "omnichannel__active_users", "omnichannel__transacting_users"):
        [(n,)] = expected[key]
        assert shown[key]["value"].split()[0] == str(n), (key, shown[key]["value"])
        # the default range in dates, not Metabase's "past12months": the 12 whole months before December 2025
        assert shown[key]["filters"] == "Date range: 1 Dec 2024 – 30 Nov 2025", shown[key]["filters"]
    # the heatmap's non-empty cells: (ISO weekday, hour) of the hand grid, the average shown to 2 places
    cells = {
        m.split(": ")[0]: m.split(": ")[1]
        for m in shown["omnichannel__busy_hours_active_users"]["figures"][0]["marks"]
        if not m.endswith(("no data", ": 0"))
    }
    want = {
        f"{DAY_NAMES[d - 1]}, Hour of day {h}": f"{Decimal(v):.2f}"
        for d, h, v in [(row[0], row[2], row[3]) for row in expected["omnichannel__busy_hours_active_users"]]
        if v
    }
    assert cells == want
