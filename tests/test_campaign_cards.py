"""The Campaign analytics dashboard (seed 004, EmailBison) on a hand-built fixture: every card compiled by MetricFlow
and run with its dashboard filters bound as Metabase binds them, the seed's rules (generated total_costs, "costs
missing", dedupe, local calendar months), the reconciliation with Bison's own totals and the Dagster check.

The fixture (tests/fixtures/bison) is loaded by the real loader and built by dbt as of 2025-11-05 18:00 UTC
(Wednesday 12:00 CST) in America/Chicago. Every expected value below was worked out BY HAND from those files;
none is read back from the SQL under test. Local (Chicago) times; CST = UTC-6, CDT (9 Mar - 2 Nov 2025) = UTC-5.

Workspaces: Acme Roofing (1001, renewal day 1), Brightline Dental (1008, renewal day 15), both created in
December 2024. Campaigns: Winter = "Acme - Winter outreach" (tracks opens), Plain = "Acme - Plain text" (does NOT
track opens), Q1 = "Brightline - Q1 recall" (tracks), Fall = "Brightline - Fall" (tracks).

    lead  campaign  uploaded      e-mails (S = scheduled e-mail), local dates
    L1    Winter    Jan 20        S1 sent Jan 21, opened Jan 21, replied Jan 22, interested Jan 23
    L2    Winter    Jan 30        S2 sent Jan 31 23:30 CST (= 1 Feb 05:30 UTC), opened Feb 1, replied Feb 3
                                  (that reply delivered twice): uploaded in January, replies in February
    L3    Winter    Jan 20        S3 sent Jan 21 (EMAIL_SENT delivered twice), bounced Jan 21, then replied Jan 24
    L4    Winter    Feb 10        S4 sent Feb 11 (never opened); S5 sent Feb 13, opened Feb 14 and again Feb 17,
                                  unsubscribed Feb 18
    L5    Winter    Mar 8         S6 sent Mar 9 01:30 CST, S7 sent Mar 9 23:30 CDT (spring-forward day), S7 opened
                                  Mar 10 00:30 CDT (a fixed UTC-6 would say Mar 9 23:30)
    L6    Plain     Jan 20        S8 sent Jan 21, replied Jan 22 with is_interested=true (no separate event)
    L7    Plain     Jan 20        S9 sent Jan 21, nothing else
    L8    Plain     Oct 31        S10 sent Nov 2 01:30 CDT, S11 sent Nov 2 01:30 CST (fall-back day, the repeated
                                  hour), S11 replied Nov 2 23:30 CST (= Nov 3 UTC)
    L9    Q1        Jan 15        S12 sent Jan 16, opened Jan 16, replied Jan 17
    L10   Q1        Jan 15        S13 sent Jan 16, bounced Jan 16
    L11   Q1        Feb 14        S14 sent Feb 17, opened Feb 17, replied Feb 18, interested Feb 18
    L12   Q1        Mar 3         never e-mailed
    L18   (none)    Feb 20        uploaded without a campaign, never e-mailed
    L13   Fall      Oct 1         S15 sent Oct 2, opened Oct 2
    L14   Fall      Oct 3         S16 sent Oct 6, replied Oct 7 (no open recorded; its open on Nov 6 is after as-of)
    L15   Fall      Nov 3         S17 sent Nov 4, opened Nov 4, replied Nov 5 09:00, interested Nov 5 10:00
    L16   Fall      Nov 5         S18 sent Nov 5 13:00 CST: after the as-of moment, not counted
    L17   Fall      Nov 5 13:00   uploaded after the as-of moment: not counted

Client costs (email account / labour / other = total, revenue), per calendar month Dec 2024 - Nov 2025:
Acme: Dec, Jan, Apr-Sep 100/300/100 = 500, 2000; Feb 120/330/50 = 500, 2500; Mar 100.25/299.50/0.25 = 400.00,
1800; Oct first 150/300/50, corrected in the November file to 150/350/50 = 550, 3000; Nov not entered yet.
Brightline: Dec 80/200/20 = 300, 900; Jan same costs, 1200; Feb NOT entered; Mar costs without revenue;
Apr-Sep 300, 900; Oct 0/0/0 = 0, 1000; Nov 90/250/60 = 400, 1000; Dec 2025 entered early (after the as-of month).

Previous month ("same days last month"): a day's counts move onto the same day of the next month, clipped
(Jan 30 and 31 -> Feb 28); in November only Oct 1-5 land on or before the as-of date Nov 5.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cards import dashcard_rows  # tests/ is on sys.path
from conftest import assert_suite_passes, build_fixture_warehouse

from orchestration import settings, warehouse
from orchestration.bi import compiler
from orchestration.ingestion import contracts, loaders

FIXTURE = Path(__file__).parent / "fixtures" / "bison"
AS_OF = "2025-11-05T18:00:00Z"
AS_OF_DATE = date(2025, 11, 5)
SELECT = [
    "dim_as_of",  # the dashboard's as-of moment (the marts read only the date, int_common__as_of_date)
    "+fct_campaign_daily",
    "+fct_lead_funnel_daily",
    "+fct_workspace_months",
    "+rpt_campaigns__data_loads",
    "+int_bison__vendor_reconciliation",
]

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
SPECS = compiler.compile_specs(SPECS_DIR)
DASHBOARD = SPECS.dashboards["campaign_analytics"]
PLACED = {p.card: p for p in DASHBOARD.cards if p.card}
CARDS = sorted(k for k in SPECS.cards if k.startswith("campaigns__"))
LOAD_TIME_CARDS = {"campaigns__data_last_loaded", "campaigns__costs_last_loaded"}  # depend on the clock
S004_ITEMS = 27  # docs/KPI_INVENTORY.md, seed 004 without the one ops item

ACME, BRIGHT = "Acme Roofing", "Brightline Dental"
WINTER, PLAIN = "Acme - Winter outreach", "Acme - Plain text"
Q1, FALL, NO_CAMPAIGN = "Brightline - Q1 recall", "Brightline - Fall", "No campaign"


@pytest.fixture(scope="module")
def bison_db(warehouse_info, tmp_path_factory):
    """The fixture loaded and built once for the module; yields (connection info, the moment loading began)."""
    started = datetime.now(UTC)
    tables = {f"bison__{folder.name}": folder for folder in sorted(FIXTURE.iterdir()) if folder.is_dir()}
    info = build_fixture_warehouse(warehouse_info, tmp_path_factory, "bison", tables, SELECT, AS_OF)
    yield info, started
    warehouse.drop_database(info)


@pytest.fixture(scope="module")
def db(bison_db):
    return bison_db[0]


def query(info, sql: str, *params) -> list[tuple]:
    with warehouse.connect(info) as conn:
        return conn.execute(sql, params).fetchall()


# ---------------------------------------------------------------- hand-written rows


def M(year: int, month: int) -> date:
    return date(year, month, 1)


def D(month: int, day: int, year: int = 2025) -> date:
    return date(year, month, day)


def dec(text):
    return None if text is None else Decimal(text)


def tile(*rows) -> list[tuple]:
    """(month, value, value one month earlier); ratios as decimal strings."""
    return [(m, dec(v) if isinstance(v, str) else v, dec(p) if isinstance(p, str) else p) for m, v, p in rows]


def volume(*rows) -> list[tuple]:
    """(day or week, sent, opened, replied, bounced)."""
    return list(rows)


def perf(
    workspace,
    campaign,
    uploaded,
    sent,
    opens,
    open_rate,
    emailed,
    replied,
    reply_rate,
    per_email,
    interested,
    bounced,
    unsubscribed,
) -> tuple:
    return (
        workspace,
        campaign,
        uploaded,
        sent,
        opens,
        dec(open_rate),
        emailed,
        replied,
        dec(reply_rate),
        dec(per_email),
        interested,
        bounced,
        unsubscribed,
    )


def funnel(uploaded, emailed, opened, replied, interested) -> list[tuple]:
    return [
        ("Uploaded", 1, uploaded),
        ("E-mailed", 2, emailed),
        ("Opened", 3, opened),
        ("Replied", 4, replied),
        ("Interested", 5, interested),
    ]


def exits(bounced, unsubscribed) -> list[tuple]:
    return [("Bounced", 6, bounced), ("Unsubscribed", 7, unsubscribed)]


def one(value) -> list[tuple]:
    return [(dec(value) if isinstance(value, str) else value,)]


def costs(client, month, status, email=None, labour=None, other=None, total=None) -> tuple:
    return (client, month, status, dec(email), dec(labour), dec(other), dec(total))


def roi_row(client, month, status, revenue=None, total=None, roi=None) -> tuple:
    return (client, month, status, dec(revenue), dec(total), dec(roi))


class NonZero(list):
    """Expected rows of a day series listing only the days with activity: every other row must be all zeros."""


def expected_rows(
    *,
    uploaded,
    sent,
    open_rate,
    reply_rate,
    per_email,
    interested,
    roi,
    daily,
    weekly,
    campaigns,
    steps,
    left,
    revenue,
    total_costs,
    roi_selection,
    costs_missing,
    client_costs,
    breakdown,
) -> dict:
    return {
        "campaigns__contacts_uploaded": tile(*uploaded),
        "campaigns__emails_sent": tile(*sent),
        "campaigns__open_rate": tile(*open_rate),
        "campaigns__reply_rate": tile(*reply_rate),
        "campaigns__reply_rate_per_email": tile(*per_email),
        "campaigns__interested_leads": tile(*interested),
        "campaigns__roi": tile(*roi),
        "campaigns__email_volume_daily": daily,
        "campaigns__email_volume_weekly": weekly,
        "campaigns__campaign_performance": campaigns,
        "campaigns__lead_funnel": steps,
        "campaigns__funnel_exits": left,
        "campaigns__revenue": one(revenue),
        "campaigns__total_costs": one(total_costs),
        "campaigns__roi_of_selection": one(roi_selection),
        "campaigns__months_costs_missing": one(costs_missing),
        "campaigns__client_costs": client_costs,
        "campaigns__roi_breakdown": breakdown,
    }


ACME_STEADY = [M(2025, m) for m in range(4, 10)]  # Apr-Sep: the same costs every month
ALL_COSTS = (
    [
        costs(ACME, M(2024, 12), "complete", "100", "300", "100", "500"),
        costs(ACME, M(2025, 1), "complete", "100", "300", "100", "500"),
        costs(ACME, M(2025, 2), "complete", "120", "330", "50", "500"),
        costs(ACME, M(2025, 3), "complete", "100.25", "299.50", "0.25", "400.00"),
    ]
    + [costs(ACME, m, "complete", "100", "300", "100", "500") for m in ACME_STEADY]
    + [
        costs(ACME, M(2025, 10), "complete", "150", "350", "50", "550"),  # the corrected row: 150 + 350 + 50
        costs(ACME, M(2025, 11), "costs missing"),
        costs(BRIGHT, M(2024, 12), "complete", "80", "200", "20", "300"),
        costs(BRIGHT, M(2025, 1), "complete", "80", "200", "20", "300"),
        costs(BRIGHT, M(2025, 2), "costs missing"),
        costs(BRIGHT, M(2025, 3), "revenue missing", "80", "200", "20", "300"),
    ]
    + [costs(BRIGHT, m, "complete", "80", "200", "20", "300") for m in ACME_STEADY]
    + [
        costs(BRIGHT, M(2025, 10), "total costs are 0", "0", "0", "0", "0"),
        costs(BRIGHT, M(2025, 11), "complete", "90", "250", "60", "400"),
    ]
)
ALL_BREAKDOWN = (
    [
        roi_row(ACME, M(2024, 12), "complete", "2000", "500", "4"),
        roi_row(ACME, M(2025, 1), "complete", "2000", "500", "4"),
        roi_row(ACME, M(2025, 2), "complete", "2500", "500", "5"),
        roi_row(ACME, M(2025, 3), "complete", "1800", "400.00", "4.5"),
    ]
    + [roi_row(ACME, m, "complete", "2000", "500", "4") for m in ACME_STEADY]
    + [
        roi_row(ACME, M(2025, 10), "complete", "3000", "550", "5.4545"),  # 3000 / 550
        roi_row(ACME, M(2025, 11), "costs missing"),
        roi_row(BRIGHT, M(2024, 12), "complete", "900", "300", "3"),
        roi_row(BRIGHT, M(2025, 1), "complete", "1200", "300", "4"),
        roi_row(BRIGHT, M(2025, 2), "costs missing"),
        roi_row(BRIGHT, M(2025, 3), "revenue missing", None, "300"),
    ]
    + [roi_row(BRIGHT, m, "complete", "900", "300", "3") for m in ACME_STEADY]
    + [
        roi_row(BRIGHT, M(2025, 10), "total costs are 0", "1000", "0"),  # never 1000 / 0
        roi_row(BRIGHT, M(2025, 11), "complete", "1000", "400", "2.5"),
    ]
)

SCENARIOS: dict[str, tuple[dict, dict]] = {}

# No filters: every month. The tiles' last row is the as-of month, November to date, against Oct 1-5.
SCENARIOS["no_filters"] = (
    {},
    expected_rows(
        # Jan L1 L2 L3 L6 L7 L9 L10; Feb L4 L11 L18; Mar L5 L12; Apr only March moved on; Oct L8 L13 L14;
        # Nov L15 L16 (L17 after as-of) against Oct 1-5: L13 L14 (L8 on Oct 31 would land on Nov 30)
        uploaded=[
            (M(2025, 1), 7, 0),
            (M(2025, 2), 3, 7),
            (M(2025, 3), 2, 3),
            (M(2025, 4), 0, 2),
            (M(2025, 10), 3, 0),
            (M(2025, 11), 2, 2),
        ],
        # Jan S1 S2 S3 S8 S9 S12 S13 (S2 is 31 Jan locally; S3 twice counts once); Feb S4 S5 S14; Mar S6 S7;
        # Oct S15 S16; Nov S10 S11 S17 (S18 after as-of) against Oct 1-5: S15
        sent=[
            (M(2025, 1), 7, 0),
            (M(2025, 2), 3, 7),
            (M(2025, 3), 2, 3),
            (M(2025, 4), 0, 2),
            (M(2025, 10), 2, 0),
            (M(2025, 11), 3, 1),
        ],
        # tracked Jan S1 S2 S3 S12 S13, opened S1 S2 S12: 3/5; Feb S4 S5 S14, opened S5 S14: 2/3; Mar S6 S7, S7: 1/2;
        # Oct S15 S16, S15: 1/2 (S16's open is after as-of); Nov S17 1/1 against Oct 1-5 S15 1/1. Plain never counts.
        open_rate=[
            (M(2025, 1), "0.6", None),
            (M(2025, 2), "0.6667", "0.6"),
            (M(2025, 3), "0.5", "0.6667"),
            (M(2025, 4), None, "0.5"),
            (M(2025, 10), "0.5", None),
            (M(2025, 11), "1", "1"),
        ],
        # first e-mailed Jan L1 L2 L3 L6 L7 L9 L10, replied L1 L2 L3 L6 L9: 5/7; Feb L4 L11, L11: 1/2; Mar L5 0/1;
        # Oct L13 L14, L14: 1/2; Nov L8 L15, both: 2/2 against Oct 1-5 L13 0/1
        reply_rate=[
            (M(2025, 1), "0.7143", None),
            (M(2025, 2), "0.5", "0.7143"),
            (M(2025, 3), "0", "0.5"),
            (M(2025, 4), None, "0"),
            (M(2025, 10), "0.5", None),
            (M(2025, 11), "1", "0"),
        ],
        # replied e-mails Jan S1 S2 S3 S8 S12: 5/7; Feb S14 1/3; Mar 0/2; Oct S16 1/2; Nov S11 S17 2/3 against S15 0/1
        per_email=[
            (M(2025, 1), "0.7143", None),
            (M(2025, 2), "0.3333", "0.7143"),
            (M(2025, 3), "0", "0.3333"),
            (M(2025, 4), None, "0"),
            (M(2025, 10), "0.5", None),
            (M(2025, 11), "0.6667", "0"),
        ],
        # Jan L6 (Jan 22) L1 (Jan 23); Feb L11; Nov L15
        interested=[
            (M(2025, 1), 2, 0),
            (M(2025, 2), 1, 2),
            (M(2025, 3), 0, 1),
            (M(2025, 4), 0, 0),
            (M(2025, 10), 0, 0),
            (M(2025, 11), 1, 0),
        ],
        # Dec (2000 + 900) / (500 + 300) = 3.625, nothing before it; Jan 3200 / 800 = 4; Feb Brightline missing;
        # Mar Brightline revenue missing; Apr-Sep 3.625; Oct Brightline costs 0; Nov Acme missing
        roi=[
            (M(2024, 12), "3.625", None),
            (M(2025, 1), "4", "3.625"),
            (M(2025, 2), None, "4"),
            (M(2025, 3), None, None),
            (M(2025, 4), "3.625", None),
        ]
        + [(M(2025, m), "3.625", "3.625") for m in range(5, 10)]
        + [(M(2025, 10), None, "3.625"), (M(2025, 11), None, None)],
        daily=NonZero(
            [
                (D(1, 16), 2, 1, 0, 1),  # S12 S13 sent, S12 opened, S13 bounced
                (D(1, 17), 0, 0, 1, 0),  # S12 replied
                (D(1, 21), 4, 1, 0, 1),  # S1 S3 S8 S9 sent, S1 opened, S3 bounced
                (D(1, 22), 0, 0, 2, 0),  # S1 S8 replied
                (D(1, 24), 0, 0, 1, 0),  # S3 replied after its bounce
                (D(1, 31), 1, 0, 0, 0),  # S2 at 23:30 CST
                (D(2, 1), 0, 1, 0, 0),  # S2 opened
                (D(2, 3), 0, 0, 1, 0),  # S2 replied (delivered twice)
                (D(2, 11), 1, 0, 0, 0),
                (D(2, 13), 1, 0, 0, 0),
                (D(2, 14), 0, 1, 0, 0),  # S5 first open (the re-open on Feb 17 is not a first open)
                (D(2, 17), 1, 1, 0, 0),
                (D(2, 18), 0, 0, 1, 0),  # S14
                (D(3, 9), 2, 0, 0, 0),  # S6 01:30 CST and S7 23:30 CDT, both on the spring-forward day
                (D(3, 10), 0, 1, 0, 0),  # S7 opened 00:30 CDT
                (D(10, 2), 1, 1, 0, 0),
                (D(10, 6), 1, 0, 0, 0),
                (D(10, 7), 0, 0, 1, 0),
                (D(11, 2), 2, 0, 1, 0),  # S10 and S11 in the two 01:30s of the fall-back day, S11 replied 23:30 CST
                (D(11, 4), 1, 1, 0, 0),
                (D(11, 5), 0, 0, 1, 0),
            ]
        ),
        weekly=volume(  # ISO weeks, Monday first; weeks with rows but no e-mail activity are zeros
            (D(1, 13), 2, 1, 1, 1),
            (D(1, 20), 4, 1, 3, 1),
            (D(1, 27), 1, 1, 0, 0),
            (D(2, 3), 0, 0, 1, 0),
            (D(2, 10), 2, 1, 0, 0),
            (D(2, 17), 1, 1, 1, 0),
            (D(2, 24), 0, 0, 0, 0),
            (D(3, 3), 2, 0, 0, 0),
            (D(3, 10), 0, 1, 0, 0),
            (D(3, 17), 0, 0, 0, 0),
            (D(3, 31), 0, 0, 0, 0),
            (D(4, 7), 0, 0, 0, 0),
            (D(9, 29), 1, 1, 0, 0),
            (D(10, 6), 1, 0, 1, 0),
            (D(10, 27), 2, 0, 1, 0),
            (D(11, 3), 1, 1, 1, 0),
        ),
        campaigns=[
            # uploaded L6 L7 L8; sent S8 S9 S10 S11; no open tracking; e-mailed L6 L7 L8, replied L6 L8; S8 S11 replied
            perf(ACME, PLAIN, 3, 4, 0, None, 3, 2, "0.6667", "0.5", 1, 0, 0),
            # uploaded L1-L5; sent S1-S7, opened S1 S2 S5 S7: 4/7; replied L1 L2 L3: 3/5; S1 S2 S3: 3/7;
            # S3 bounced, L4 left
            perf(ACME, WINTER, 5, 7, 4, "0.5714", 5, 3, "0.6", "0.4286", 1, 1, 1),
            # uploaded L13-L16; sent S15 S16 S17, opened S15 S17; e-mailed L13 L14 L15, replied L14 L15; S16 S17
            perf(BRIGHT, FALL, 4, 3, 2, "0.6667", 3, 2, "0.6667", "0.6667", 1, 0, 0),
            # uploaded L9-L12; sent S12 S13 S14, opened S12 S14; e-mailed L9 L10 L11, replied L9 L11; S13 bounced
            perf(BRIGHT, Q1, 4, 3, 2, "0.6667", 3, 2, "0.6667", "0.6667", 1, 1, 0),
            perf(BRIGHT, NO_CAMPAIGN, 1, 0, 0, None, 0, 0, None, None, 0, 0, 0),  # L18
        ],
        # 17 uploaded (L1-L16, L18); 14 e-mailed (not L12 L16 L18); opened or replied: all e-mailed but L7 L10;
        # replied L1 L2 L3 L6 L8 L9 L11 L14 L15; interested L1 L6 L11 L15; bounced without a reply L10 (L3 replied);
        # unsubscribed L4
        steps=funnel(17, 14, 12, 9, 4),
        left=exits(1, 1),
        # Acme 2000 + 2000 + 2500 + 1800 + 6 x 2000 + 3000 = 23300; Brightline 900 + 1200 + 6 x 900 + 1000 + 1000 = 9500
        revenue="32800",
        # Acme 500 x 3 + 400 + 6 x 500 + 550 = 5450; Brightline 300 x 3 + 6 x 300 + 0 + 400 = 3100
        total_costs="8550",
        roi_selection=None,  # four workspace-months without an ROI
        costs_missing=2,  # Acme Nov, Brightline Feb
        client_costs=ALL_COSTS,
        breakdown=ALL_BREAKDOWN,
    ),
)

# Month = January 2025: activity in the calendar month in Chicago time; S2 (1 Feb UTC) is in.
SCENARIOS["month_january"] = (
    {"month": "2025-01"},
    expected_rows(
        uploaded=[(M(2025, 1), 7, 0)],
        sent=[(M(2025, 1), 7, 0)],
        open_rate=[(M(2025, 1), "0.6", None)],
        reply_rate=[(M(2025, 1), "0.7143", None)],
        per_email=[(M(2025, 1), "0.7143", None)],
        interested=[(M(2025, 1), 2, 0)],
        roi=[(M(2025, 1), "4", "3.625")],
        daily=volume(
            (D(1, 15), 0, 0, 0, 0),  # L9 L10 uploaded
            (D(1, 16), 2, 1, 0, 1),
            (D(1, 17), 0, 0, 1, 0),
            (D(1, 20), 0, 0, 0, 0),  # L1 L3 L6 L7 uploaded
            (D(1, 21), 4, 1, 0, 1),
            (D(1, 22), 0, 0, 2, 0),
            (D(1, 23), 0, 0, 0, 0),  # L1 marked interested
            (D(1, 24), 0, 0, 1, 0),
            (D(1, 30), 0, 0, 0, 0),  # L2 uploaded
            (D(1, 31), 1, 0, 0, 0),
        ),
        weekly=volume((D(1, 13), 2, 1, 1, 1), (D(1, 20), 4, 1, 3, 1), (D(1, 27), 1, 0, 0, 0)),  # S2's open is in Feb
        campaigns=[
            perf(ACME, PLAIN, 2, 2, 0, None, 2, 1, "0.5", "0.5", 1, 0, 0),  # L6 L7; S8 S9; L6 replied, interested
            perf(ACME, WINTER, 3, 3, 2, "0.6667", 3, 3, "1", "1", 1, 1, 0),  # L1 L2 L3; S1 S2 S3; S1 S2 opened
            perf(BRIGHT, Q1, 2, 2, 1, "0.5", 2, 1, "0.5", "0.5", 0, 1, 0),  # L9 L10; S12 S13
        ],
        # uploaded in January: L1 L2 L3 L6 L7 L9 L10, all e-mailed; opened or replied L1 L2 L3 L6 L9; replied the same
        # five (L2 in February, L3 after its bounce); interested L1 L6; L10 bounced without replying
        steps=funnel(7, 7, 5, 5, 2),
        left=exits(1, 0),
        revenue="3200",
        total_costs="800",
        roi_selection="4",
        costs_missing=0,  # (2000 + 1200) / (500 + 300)
        client_costs=[
            costs(ACME, M(2025, 1), "complete", "100", "300", "100", "500"),
            costs(BRIGHT, M(2025, 1), "complete", "80", "200", "20", "300"),
        ],
        breakdown=[
            roi_row(ACME, M(2025, 1), "complete", "2000", "500", "4"),
            roi_row(BRIGHT, M(2025, 1), "complete", "1200", "300", "4"),
        ],
    ),
)

# Brightline in November (the as-of month, to date): against Oct 1-5.
SCENARIOS["brightline_november"] = (
    {"workspace": [BRIGHT], "month": "2025-11"},
    expected_rows(
        uploaded=[(M(2025, 11), 2, 2)],  # L15 L16 against L13 (Oct 1) L14 (Oct 3)
        sent=[(M(2025, 11), 1, 1)],  # S17 against S15
        open_rate=[(M(2025, 11), "1", "1")],  # S17 1/1 against S15 1/1
        reply_rate=[(M(2025, 11), "1", "0")],  # L15 1/1 against L13 0/1
        per_email=[(M(2025, 11), "1", "0")],  # S17 1/1 against S15 0/1
        interested=[(M(2025, 11), 1, 0)],  # L15
        roi=[(M(2025, 11), "2.5", None)],  # 1000 / 400; October's costs are 0
        daily=volume(
            (D(11, 1), 0, 0, 0, 0),
            (D(11, 2), 0, 0, 0, 0),
            (D(11, 3), 0, 0, 0, 0),  # October moved on
            (D(11, 4), 1, 1, 0, 0),
            (D(11, 5), 0, 0, 1, 0),
        ),
        weekly=volume((D(10, 27), 0, 0, 0, 0), (D(11, 3), 1, 1, 1, 0)),
        campaigns=[perf(BRIGHT, FALL, 2, 1, 1, "1", 1, 1, "1", "1", 1, 0, 0)],  # L15 L16; S17 (S18 after as-of)
        steps=funnel(2, 1, 1, 1, 1),
        left=exits(0, 0),  # L15 all the way; L16's e-mail is after as-of
        revenue="1000",
        total_costs="400",
        roi_selection="2.5",
        costs_missing=0,
        client_costs=[costs(BRIGHT, M(2025, 11), "complete", "90", "250", "60", "400")],
        breakdown=[roi_row(BRIGHT, M(2025, 11), "complete", "1000", "400", "2.5")],
    ),
)

# A date range across the January/February boundary, 31 Jan - 3 Feb (local): S2 sent 31 Jan 23:30 is in January.
# Revenue panels take the months whose first day is in the range: February only.
SCENARIOS["range_across_month_end"] = (
    {"period": "2025-01-31~2025-02-03"},
    expected_rows(
        uploaded=[(M(2025, 1), 0, 0), (M(2025, 2), 0, 0)],
        sent=[(M(2025, 1), 1, 0), (M(2025, 2), 0, 0)],
        open_rate=[(M(2025, 1), "1", None), (M(2025, 2), None, None)],
        reply_rate=[(M(2025, 1), "1", None), (M(2025, 2), None, None)],  # L2 first e-mailed Jan 31, replied
        per_email=[(M(2025, 1), "1", None), (M(2025, 2), None, None)],
        interested=[(M(2025, 1), 0, 0), (M(2025, 2), 0, 0)],
        roi=[(M(2025, 2), None, "4")],  # Brightline has no February costs
        daily=volume((D(1, 31), 1, 0, 0, 0), (D(2, 1), 0, 1, 0, 0), (D(2, 3), 0, 0, 1, 0)),
        weekly=volume((D(1, 27), 1, 1, 0, 0), (D(2, 3), 0, 0, 1, 0)),
        campaigns=[perf(ACME, WINTER, 0, 1, 1, "1", 1, 1, "1", "1", 0, 0, 0)],
        steps=[],
        left=[],  # nobody was uploaded in those four days
        revenue="2500",
        total_costs="500",
        roi_selection=None,
        costs_missing=1,
        client_costs=[
            costs(ACME, M(2025, 2), "complete", "120", "330", "50", "500"),
            costs(BRIGHT, M(2025, 2), "costs missing"),
        ],
        breakdown=[
            roi_row(ACME, M(2025, 2), "complete", "2500", "500", "5"),
            roi_row(BRIGHT, M(2025, 2), "costs missing"),
        ],
    ),
)

# Acme in February: against Acme's January.
SCENARIOS["acme_february"] = (
    {"workspace": [ACME], "month": "2025-02"},
    expected_rows(
        uploaded=[(M(2025, 2), 1, 5)],  # L4 against L1 L2 L3 L6 L7
        sent=[(M(2025, 2), 2, 5)],  # S4 S5 against S1 S2 S3 S8 S9
        open_rate=[(M(2025, 2), "0.5", "0.6667")],  # S5 of S4 S5 against S1 S2 of S1 S2 S3 (Plain not tracked)
        reply_rate=[(M(2025, 2), "0", "0.8")],  # L4 0/1 against L1 L2 L3 L6 of five
        per_email=[(M(2025, 2), "0", "0.8")],  # 0/2 against S1 S2 S3 S8 of five
        interested=[(M(2025, 2), 0, 2)],  # against L6, L1
        roi=[(M(2025, 2), "5", "4")],  # 2500 / 500 against 2000 / 500
        daily=volume(
            (D(2, 1), 0, 1, 0, 0),
            (D(2, 3), 0, 0, 1, 0),
            (D(2, 10), 0, 0, 0, 0),  # L4 uploaded
            (D(2, 11), 1, 0, 0, 0),
            (D(2, 13), 1, 0, 0, 0),
            (D(2, 14), 0, 1, 0, 0),
            (D(2, 18), 0, 0, 0, 0),  # L4 unsubscribed
            # January moved on: Jan 20 -> Feb 20, 21 -> 21, 22 -> 22, 23 -> 23, 30 and 31 -> 28
            (D(2, 20), 0, 0, 0, 0),
            (D(2, 21), 0, 0, 0, 0),
            (D(2, 22), 0, 0, 0, 0),
            (D(2, 23), 0, 0, 0, 0),
            (D(2, 28), 0, 0, 0, 0),
        ),
        weekly=volume(
            (D(1, 27), 0, 1, 0, 0),
            (D(2, 3), 0, 0, 1, 0),
            (D(2, 10), 2, 1, 0, 0),
            (D(2, 17), 0, 0, 0, 0),
            (D(2, 24), 0, 0, 0, 0),
        ),
        campaigns=[
            perf(ACME, PLAIN, 0, 0, 0, None, 0, 0, None, None, 0, 0, 0),  # active in January only
            perf(ACME, WINTER, 1, 2, 1, "0.5", 1, 0, "0", "0", 0, 0, 1),  # L4; S4 S5; S5 opened; L4 unsubscribed
        ],
        steps=funnel(1, 1, 1, 0, 0),
        left=exits(0, 1),  # L4
        revenue="2500",
        total_costs="500",
        roi_selection="5",
        costs_missing=0,
        client_costs=[costs(ACME, M(2025, 2), "complete", "120", "330", "50", "500")],
        breakdown=[roi_row(ACME, M(2025, 2), "complete", "2500", "500", "5")],
    ),
)

# A workspace that matches nothing: no rows; sums are empty, the count of missing months 0.
SCENARIOS["no_match"] = (
    {"workspace": ["Nobody Inc"]},
    expected_rows(
        uploaded=[],
        sent=[],
        open_rate=[],
        reply_rate=[],
        per_email=[],
        interested=[],
        roi=[],
        daily=[],
        weekly=[],
        campaigns=[],
        steps=[],
        left=[],
        revenue=None,
        total_costs=None,
        roi_selection=None,
        costs_missing=0,
        client_costs=[],
        breakdown=[],
    ),
)

CASES = [(scenario, key) for scenario, (_, rows) in SCENARIOS.items() for key in rows]

# The inventory items each card's rows above prove, so that a search for an id finds its test: the card's own
# `kpis` (the two load-time cards: test_data_last_loaded_is_the_latest_load). The filters and the seed's rules are
# named by the tests below that prove them.
KPIS: dict[str, tuple[str, ...]] = {
    "campaigns__contacts_uploaded": ("s004.contacts_uploaded",),
    "campaigns__emails_sent": ("s004.emails_sent",),
    "campaigns__open_rate": ("s004.open_rate",),
    "campaigns__reply_rate": ("s004.reply_rate",),
    "campaigns__reply_rate_per_email": ("s004.reply_rate",),
    "campaigns__interested_leads": ("s004.interested_leads",),
    "campaigns__roi": ("s004.roi",),
    "campaigns__email_volume_daily": ("s004.chart_email_volume_trends", "s004.rule_no_pipeline_month_for_daily_stats"),
    "campaigns__email_volume_weekly": ("s004.chart_email_volume_trends",),
    "campaigns__campaign_performance": ("s004.campaign_performance",),
    "campaigns__lead_funnel": ("s004.chart_lead_conversion_funnel",),
    "campaigns__funnel_exits": ("s004.chart_lead_conversion_funnel",),
    "campaigns__revenue": ("s004.revenue",),
    "campaigns__total_costs": ("s004.total_costs",),
    "campaigns__roi_of_selection": ("s004.roi",),
    "campaigns__months_costs_missing": ("s004.rule_revenue_zero_without_costs",),
    "campaigns__client_costs": (
        "s004.revenue_tab_per_client_costs",
        "s004.email_account_costs",
        "s004.labor_costs",
        "s004.other_costs",
        "s004.total_costs",
    ),
    "campaigns__roi_breakdown": ("s004.revenue_tab_roi_breakdown", "s004.roi", "s004.revenue"),
    "campaigns__data_last_loaded": ("s004.rule_hourly_sync",),
    "campaigns__costs_last_loaded": ("s004.rule_hourly_sync",),
}


# ---------------------------------------------------------------- running cards


def run_card(info, card_key: str, filter_values: dict) -> list[tuple]:
    return dashcard_rows(info, SPECS.cards[card_key], DASHBOARD, PLACED[card_key], filter_values, AS_OF_DATE)


@pytest.mark.parametrize(
    ("scenario", "card_key"), CASES, ids=[f"{s}-{k.removeprefix('campaigns__')}" for s, k in CASES]
)
def test_card_matches_hand_computed_rows(db, scenario, card_key):
    filter_values, expected = SCENARIOS[scenario]
    rows = run_card(db, card_key, filter_values)
    if isinstance(expected[card_key], NonZero):
        assert [r for r in rows if any(r[1:])] == list(expected[card_key])
        assert all(r[0] <= AS_OF_DATE for r in rows)
    else:
        assert rows == expected[card_key]


def test_month_and_date_range_together_show_the_days_in_both(db):
    """January and 20-22 January: S1 S3 S8 S9 sent on the 21st; relative `thismonth` is November as of Nov 5.
    The month selector and the date range (s004.filter_month_selector, s004.filter_date_range) intersect."""
    both = {"month": "2025-01", "period": "2025-01-20~2025-01-22"}
    assert run_card(db, "campaigns__emails_sent", both) == [(M(2025, 1), 4, 0)]
    assert run_card(db, "campaigns__contacts_uploaded", {"period": "thismonth"}) == [(M(2025, 11), 2, 2)]


def test_daily_volume_never_uses_the_pipeline_month(db):
    """Both daylight-saving days land on their local dates; Brightline's pipeline month starts on the 15th, but its
    e-mails of 16 January and 17 February stay in January and February, also with the Workspace filter
    (s004.rule_no_pipeline_month_for_daily_stats, s004.rule_calendar_vs_pipeline_month, s004.filter_workspace)."""
    assert [r for r in run_card(db, "campaigns__email_volume_daily", {"month": "2025-03"}) if any(r[1:])] == [
        (D(3, 9), 2, 0, 0, 0),
        (D(3, 10), 0, 1, 0, 0),
    ]
    assert [r for r in run_card(db, "campaigns__email_volume_daily", {"month": "2025-11"}) if any(r[1:])] == [
        (D(11, 2), 2, 0, 1, 0),
        (D(11, 4), 1, 1, 0, 0),
        (D(11, 5), 0, 0, 1, 0),
    ]
    february = run_card(db, "campaigns__emails_sent", {"workspace": [BRIGHT], "month": "2025-02"})
    assert february == [(M(2025, 2), 1, 2)]  # S14 on Feb 17 against S12 S13 on Jan 16


def test_data_last_loaded_is_the_latest_load(bison_db):
    """Both load-time cards read max(_loaded_at), which the loader sets while it writes the fixture: between the
    moment loading began and now, the costs' no later than the latest of all tables (s004.rule_hourly_sync)."""
    info, started = bison_db
    [(latest,)] = run_card(info, "campaigns__data_last_loaded", {})
    [(costs_loaded,)] = run_card(info, "campaigns__costs_last_loaded", {})
    assert started <= costs_loaded <= latest <= datetime.now(UTC)
    assert query(info, "select max(_loaded_at) from raw_bison.client_costs") == [(costs_loaded,)]


# ---------------------------------------------------------------- the seed's rules


def test_total_costs_is_generated_from_its_three_parts(db):
    """Acme's October row came as 150 + 300 + 50 and was corrected to 150 + 350 + 50 in the November file: the
    stored total followed (550, not 500). The database refuses a written total (s004.rule_total_costs_generated)."""
    assert query(
        db,
        "select email_account_costs, labor_costs, other_costs, total_costs from raw_bison.client_costs "
        "where workspace_id = 1001 and month = '2025-10-01'",
    ) == [(Decimal(150), Decimal(350), Decimal(50), Decimal(550))]
    import psycopg

    with warehouse.connect(db) as conn:
        with pytest.raises(psycopg.errors.GeneratedAlways):
            conn.execute("update raw_bison.client_costs set total_costs = 1 where workspace_id = 1001")
        conn.rollback()
        conn.execute(
            "update raw_bison.client_costs set labor_costs = labor_costs + 1 "
            "where workspace_id = 1001 and month = '2025-10-01'"
        )
        assert conn.execute(
            "select total_costs from raw_bison.client_costs where workspace_id = 1001 and month = '2025-10-01'"
        ).fetchone() == (Decimal(551),)
        conn.rollback()


def test_a_landing_file_with_total_costs_is_refused_with_a_clear_message(db, tmp_path):
    contract = contracts.get("bison", "client_costs")
    path = tmp_path / "bison" / "client_costs" / "client_costs_2025-12.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "workspace_id,month,email_account_costs,labor_costs,other_costs,total_costs,client_revenue,"
        "updated_at\n1001,2025-12-01,1,1,1,999,100,2025-12-02T00:00:00Z\n"
    )
    with warehouse.connect(db) as conn:
        result = loaders.load_file(conn, contract, path, tmp_path)
    assert (result.status, result.reason) == (
        "failed",
        "bison/client_costs/client_costs_2025-12.csv: columns do not "
        "match raw_bison.client_costs: unexpected total_costs",
    )
    assert query(
        db, "select count(*) from raw_bison.client_costs where month = '2025-12-01' and workspace_id = 1001"
    ) == [(0,)]


def test_costs_missing_is_never_zero(db):
    """A workspace-month without a cost row is a row with NULL money and status 'costs missing'; ROI is NULL, not 0,
    and not infinite where costs are 0 (s004.rule_revenue_zero_without_costs). Costs are one row per workspace and
    month (s004.rule_costs_per_workspace)."""
    assert query(
        db,
        "select workspace_name, month_start, cost_status, client_revenue, total_costs "
        "from marts.fct_workspace_months where cost_status <> 'complete' order by 1, 2",
    ) == [
        (ACME, M(2025, 11), "costs missing", None, None),
        (BRIGHT, M(2025, 2), "costs missing", None, None),
        (BRIGHT, M(2025, 3), "revenue missing", None, Decimal(300)),
        (BRIGHT, M(2025, 10), "total costs are 0", Decimal(1000), Decimal(0)),
    ]
    # Dec 2024 to Nov 2025 for both; the December 2025 row entered early is after the as-of month
    assert query(db, "select count(*), min(month_start), max(month_start) from marts.fct_workspace_months") == [
        (24, M(2024, 12), M(2025, 11))
    ]


def test_webhook_events_delivered_twice_count_once(db):
    """45 deliveries in the files; S3's send and S2's reply arrived twice: 43 events, those two with 2 deliveries."""
    assert query(db, "select count(*) from raw_bison.email_events") == [(45,)]
    assert query(
        db,
        "select event_type, scheduled_email_id, deliveries from intermediate.int_bison__email_events_deduped "
        "where deliveries > 1 order by 2",
    ) == [("contact_replied", 9002, 2), ("email_sent", 9003, 2)]
    assert query(db, "select count(*) from intermediate.int_bison__email_events_deduped") == [(43,)]


def test_source_freshness_follows_the_hourly_sync():
    """The synced Bison tables warn after 2 hours without a load (s004.rule_hourly_sync)."""
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    freshness = {s["name"]: s.get("freshness") for s in manifest["sources"].values() if s["source_name"] == "bison"}
    hourly = {"warn_after": {"count": 2, "period": "hour"}, "error_after": {"count": 24, "period": "hour"}}
    for table in ("email_events", "leads", "pipeline_stats_cache"):
        assert {k: freshness[table][k] for k in hourly} == hourly, table
    for table in ("workspaces", "campaigns", "client_costs"):  # slowly changing or typed in by hand
        assert not (freshness[table] or {}).get("warn_after", {}).get("count"), table
    assert {s["loaded_at_field"] for s in manifest["sources"].values() if s["source_name"] == "bison"} == {"_loaded_at"}


# ---------------------------------------------------------------- reconciliation with Bison's own totals


def test_reconciliation_view_counts_bisons_windows_in_utc_and_in_chicago_time(db):
    """Acme's January pipeline month (renewal day 1) in UTC has S1 S3 S8 S9; in Chicago time S2 (31 Jan 23:30) too.
    Whole months only: Acme's November and Brightline's Oct 15 month are still open as of Nov 5. Bison counts in UTC,
    the dashboard in Chicago time (s004.rule_tz_utc_vs_cst)."""
    rows = query(
        db,
        "select workspace_id, pipeline_month, is_whole_month, vendor_emails_sent, warehouse_emails_sent, "
        "warehouse_emails_sent_local from intermediate.int_bison__vendor_reconciliation order by 1, 2",
    )
    assert rows == [
        (1001, D(1, 1), True, 4, 4, 5),
        (1001, D(2, 1), True, 3, 3, 2),
        (1001, D(3, 1), True, 3, 2, 2),
        (1001, D(10, 1), True, 0, 0, 0),
        (1001, D(11, 1), False, 1, 2, 2),
        (1008, D(1, 15), True, 5, 2, 2),  # the planted mismatch: Bison says 5 (S12 S13 are all there is)
        (1008, D(2, 15), True, 1, 1, 1),
        (1008, D(9, 15), True, 2, 2, 2),
        (1008, D(10, 15), False, 2, 2, 2),
    ]


def test_reconciliation_finds_the_planted_mismatch_and_tolerates_one_late_email(db):
    from orchestration.defs import reconciliation as rec

    with warehouse.connect(db) as conn:
        result = rec.reconcile(conn)
        assert result.months_compared == 7
        assert [
            (d.workspace_name, d.pipeline_month, d.measure, d.vendor, d.warehouse, d.beyond_tolerance)
            for d in result.differences
        ] == [
            (ACME, D(3, 1), "emails_sent", 3, 2, False),  # |2 - 3| = 1 <= max(1, 1 % of 3)
            (BRIGHT, D(1, 15), "emails_sent", 5, 2, True),  # |2 - 5| = 3 > 1
        ]
        assert not result.passed
        # Bison's figure corrected: the month reconciles; Brightline's unreported `replied` (null) is skipped
        conn.execute(
            "update raw_bison.pipeline_stats_cache set emails_sent = 2 "
            "where workspace_id = 1008 and pipeline_month = '2025-01-15'"
        )
        assert rec.reconcile(conn).passed
        conn.rollback()


def test_reconciliation_check_warns_in_a_dagster_run_without_blocking(db, monkeypatch):
    from dagster import AssetCheckSeverity, asset, materialize

    from orchestration.defs import reconciliation as rec
    from orchestration.defs.resources import WarehouseResource

    monkeypatch.setenv("LEAD_ANALYTICS_DATABASE_URL", db.conninfo())

    @asset(key=rec.RECONCILIATION_ASSET)
    def reconciliation_view() -> None:  # the dbt view is already built in the fixture database
        return None

    result = materialize(
        [reconciliation_view, *rec.reconciliation_checks],
        resources={"warehouse": WarehouseResource()},
        raise_on_error=False,
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert result.success  # a warning does not fail the run
    assert (evaluation.check_name, evaluation.passed, evaluation.severity) == (
        "bison_totals_match_vendor_aggregates",
        False,
        AssetCheckSeverity.WARN,
    )
    assert not evaluation.blocking
    assert evaluation.metadata["workspace_months_differing"].value == [
        {"workspace": BRIGHT, "pipeline_month": "2025-01-15"}
    ]
    assert evaluation.metadata["months_compared"].value == 7
    assert (
        "| Brightline Dental | 2025-01-15 | emails_sent | 5 | 2 | -3 | 2 |"
        in evaluation.metadata["differences_beyond_tolerance"].value
    )


# ---------------------------------------------------------------- Great Expectations on the new marts


@pytest.mark.parametrize(
    "suite", ["marts__fct_campaign_daily", "marts__fct_lead_funnel_daily", "marts__fct_workspace_months"]
)
def test_great_expectations_suite_passes_on_the_fixture(db, suite):
    from orchestration.defs import checks

    assert_suite_passes(db, checks.EXPECTATIONS_DIR / f"{suite}.json")


# ---------------------------------------------------------------- the specs


def test_every_campaign_card_is_placed_once_and_checked():
    assert set(PLACED) == set(CARDS) and len(PLACED) == len([p for p in DASHBOARD.cards if p.card])
    for scenario, (_, rows) in SCENARIOS.items():
        assert set(rows) == set(CARDS) - LOAD_TIME_CARDS, scenario


def test_each_card_proves_the_items_it_shows():
    assert set(KPIS) == set(CARDS)
    for key in CARDS:
        assert set(SPECS.cards[key].kpis) <= set(KPIS[key]), key


def test_dashboard_tabs_filters_and_mappings():
    assert (DASHBOARD.name, DASHBOARD.collection) == ("Campaign analytics", "Lead Analytics")
    assert [(t.key, t.name) for t in DASHBOARD.tabs] == [("analytics", "Analytics"), ("revenue", "Revenue")]
    assert [(f.slug, f.type) for f in DASHBOARD.filters] == [
        ("workspace", "string/="),
        ("period", "date/all-options"),
        ("month", "date/month-year"),
    ]
    for placement in (p for p in DASHBOARD.cards if p.card):
        card = SPECS.cards[placement.card]
        if placement.card in LOAD_TIME_CARDS:
            assert placement.mappings == {} and card.tags == () and set(card.ignores) == {"workspace", "date"}
            continue
        assert placement.mappings == {"workspace": "workspace", "period": "period", "month": "month"}, placement.card
        tags = {t.name: t for t in card.tags}
        assert set(tags) == {"workspace", "period", "month"}
        # the date filters are on the local date of the activity (or the calendar month), never a pipeline month
        assert (
            tags["period"].field.column
            == tags["month"].field.column
            in ("activity_date", "uploaded_date", "month_start")
        ), placement.card
        assert tags["month"].widget_type == "date/month-year" and tags["workspace"].field.column == "workspace_name"


def test_every_s004_item_is_on_the_dashboard_and_every_card_shows_ids_its_metrics_define():
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    meta = {m["name"]: set((m.get("meta") or {}).get("kpis", [])) for m in manifest["metrics"].values()}
    shown = set()
    for key in CARDS:
        card = SPECS.cards[key]
        defined = set().union(*(meta[m.name] for m in card.metrics))
        assert set(card.kpis) <= defined, (key, set(card.kpis) - defined)
        shown |= set(card.kpis)
    shown |= {k for f in DASHBOARD.filters for k in f.kpis} | {k for t in DASHBOARD.tabs for k in t.kpis}
    shown |= {k for p in DASHBOARD.cards for k in p.kpis}
    inventory = [
        line.split("|")[1].strip().strip("`")
        for line in (settings.PROJECT_ROOT / "docs" / "KPI_INVENTORY.md").read_text().splitlines()
        if line.startswith("| `s004.") and "| ops |" not in line
    ]
    assert len(inventory) == S004_ITEMS
    assert sorted(set(inventory) - shown) == []


_RELATION = re.compile(r"\b(?:from|join)\s+(?!\()([a-z_][a-z0-9_.]*)", re.IGNORECASE)


@pytest.mark.parametrize("card_key", CARDS)
def test_card_sql_reads_the_campaign_marts_and_descriptions_speak_plainly(card_key):
    card = SPECS.cards[card_key]
    code = re.sub(r"--[^\n]*", "", card.sql)
    ctes = set(re.findall(r"\b(\w+)\s+as\s*\(", code, re.IGNORECASE))
    assert set(_RELATION.findall(code)) - ctes <= {
        "marts.fct_campaign_daily",
        "marts.fct_lead_funnel_daily",
        "marts.fct_workspace_months",
        "marts.rpt_campaigns__data_loads",
    }
    assert (
        "s004." not in card.description
        and "marts." not in card.description
        and "pipeline_stats" not in card.description
    )
    assert all(card.labels.get(column) for column in card.columns)


def test_the_domain_in_the_dagster_graph():
    """One Dagster group per dbt folder; the dashboards wait for the campaign marts and their blocking GX checks;
    the reconciliation check sits on its view and does not block: the analytics are read-only derived data with no
    alert of their own (s004.rule_no_analytics_alerts)."""
    from dagster import AssetCheckKey, AssetKey

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    marts = {
        AssetKey(["marts", m])
        for m in ("fct_campaign_daily", "fct_lead_funnel_daily", "fct_workspace_months", "rpt_campaigns__data_loads")
    }
    for key in (*marts, AssetKey(["intermediate", "int_bison__vendor_reconciliation"])):
        assert graph.get(key).group_name == "campaigns", key
    assert marts <= set(graph.get(AssetKey(["reports", "html_dashboards"])).parent_keys)
    assert marts <= set(graph.get(AssetKey(["metabase", "dashboards"])).parent_keys)
    reconciliation = graph.get_check_spec(
        AssetCheckKey(
            AssetKey(["intermediate", "int_bison__vendor_reconciliation"]), "bison_totals_match_vendor_aggregates"
        )
    )
    assert not reconciliation.blocking
    for mart in ("fct_campaign_daily", "fct_lead_funnel_daily", "fct_workspace_months"):
        assert graph.get_check_spec(AssetCheckKey(AssetKey(["marts", mart]), f"gx_marts__{mart}")).blocking


def test_the_dashboard_draws_both_tabs_in_chromium_with_the_hand_counted_values(db, browser, tmp_path):
    """The HTML dashboard as `make demo` writes it (no filters), both tabs clicked through in the browser."""
    from browser import draw_dashboard

    shown = draw_dashboard(browser, db, SPECS, DASHBOARD, SCENARIOS["no_filters"][0], tmp_path)
    # the count tiles show the as-of month (November to date) against the same days of October: the last rows of
    # the hand tables above (uploaded 2 vs 2, sent 3 vs 1, interested 1 vs 0) and the funnel 17 -> 14 -> 12 -> 9 -> 4
    assert {
        key: (shown[key]["value"], shown[key]["compare"])
        for key in ("campaigns__contacts_uploaded", "campaigns__emails_sent", "campaigns__interested_leads")
    } == {
        "campaigns__contacts_uploaded": ("2", "no change vs same days last month: 2"),
        "campaigns__emails_sent": ("3", "▲ 200.0% vs same days last month: 1"),
        "campaigns__interested_leads": ("1", "new vs same days last month: 0"),
    }
    assert shown["campaigns__lead_funnel"]["figures"][0]["marks"] == [
        "Uploaded: 17; 100.0% of the first step; 100.0% of the previous step",
        "E-mailed: 14; 82.4% of the first step; 82.4% of the previous step",  # 14/17
        "Opened: 12; 70.6% of the first step; 85.7% of the previous step",  # 12/17, 12/14
        "Replied: 9; 52.9% of the first step; 75.0% of the previous step",  # 9/17, 9/12
        "Interested: 4; 23.5% of the first step; 44.4% of the previous step",
    ]  # 4/17, 4/9
