"""Regulatory reporting (s001.ent_regulatory_reporting) on the hand-built CRM fixture (tests/fixtures/crm, as of
2025-11-28 23:00 UTC, America/Chicago): consent and opt-out times on the leads, the messages sent without consent
or after an opt-out per channel, and the monthly compliance report delivered to a real SMTP server.

Consent by hand (tests/fixtures/crm/README.md, "Consent"): every lead consented to both channels when it arrived,
except L-07 (no SMS consent: A-0701 is a TCPA violation) and L-10 (SMS consent recorded at 15:01:00, 20 s after
A-1001 went out at 15:00:40: a violation); L-08 unsubscribed from e-mail on 2025-07-10 12:00 (A-0803 on 07-11 is a
CAN-SPAM violation, A-0802 on 07-09 is not); L-13 unsubscribed at 2025-09-18 14:00:00, the very second A-1303 went
out (a violation: at or after the opt-out); L-06 opted out of SMS on 11-03 and got only an e-mail after it.
Outbound SMS: A-0201, 0301, 0601, 0701, 0801, 1001, 1101 = 7; outbound e-mails: 14.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import smtp_server

from orchestration import settings, warehouse
from orchestration.reporting import ledger, send


@pytest.fixture(scope="module")
def crm_db(crm_fixture_db):
    return crm_fixture_db.info


def test_violations_per_channel(crm_db):
    with warehouse.connect(crm_db) as conn:
        violations = conn.execute(
            "select activity_id, regulation, consent_status from marts.fct_compliance_messages "
            "where is_violation = 1 order by activity_id"
        ).fetchall()
        per_channel = conn.execute(
            "select channel, count(*), sum(is_violation) from marts.fct_compliance_messages "
            "group by channel order by channel"
        ).fetchall()
    assert violations == [
        ("A-0701", "TCPA", "no consent"),
        ("A-0803", "CAN-SPAM", "after opt-out"),
        ("A-1001", "TCPA", "no consent"),
        ("A-1303", "CAN-SPAM", "after opt-out"),
    ]
    assert per_channel == [("email", 14, 2), ("sms", 7, 2)]


def test_the_monthly_compliance_report_reaches_the_compliance_officer(crm_db):
    """Sent at 09:00 CDT on Thursday 2 October 2025 (the 2nd business day): September. Messages sent in September
    (Chicago dates): A-0402 (09-01), A-1301 (09-16), A-1303 (09-18, after the opt-out) = 3, 1 violation."""
    with warehouse.connect(crm_db) as conn:
        ledger.ensure(conn)
        conn.commit()
    box = smtp_server.Inbox()
    controller = smtp_server.start(box)
    try:
        config = settings.Settings.load(
            {
                "LEAD_ANALYTICS_TIMEZONE": "America/Chicago",
                "LEAD_ANALYTICS_SMTP_HOST": "127.0.0.1",
                "LEAD_ANALYTICS_SMTP_PORT": str(controller.port),
                "LEAD_ANALYTICS_SMTP_FROM": "reports@lead-analytics.test",
            }
        )
        outcome = send.send(crm_db, config, "compliance", datetime(2025, 10, 2, 14, tzinfo=UTC))
    finally:
        controller.stop()
    assert outcome.sent == 1
    [message] = box.messages
    assert (message["To"], message["Subject"]) == ("compliance@example.com", "Compliance report: September 2025")
    body = message.get_body(("html",)).get_content()
    assert dict(re.findall(r"<li>([^<:]+): <strong>([^<]+)</strong></li>", body)) == {
        "Messages sent without consent or after an opt-out": "1",
        "Messages sent to leads": "3",
    }
