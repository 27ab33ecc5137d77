"""Scheduled reports delivered to a real SMTP server (aiosmtpd on 127.0.0.1). The warehouse holds two hand-built
fixtures: the bot leads (tests/fixtures/bot_leads, built as of 2025-03-31 17:00 UTC; the lead table is in
tests/test_lead_capture_cards.py) and the automation engine's logs (tests/fixtures/crm/OPS.md, workflow_events and
health_checks), whose models are built again as of 2025-11-28 23:00 UTC on the same database, as a later run that
rebuilt only the engine's marts leaves it. Reporting zone America/Chicago.

Sent as of 2025-04-01 13:00 UTC = 08:00 CDT on Tuesday 1 April, the daily report covers Monday 31 March. Leads
created that local day, by hand: L01 (Website, new), L02 (Website, converted), L03 (WhatsApp, in progress),
L17 (Website, new), L20 (Social, in progress); L18 is after the as-of moment. So: 5 captured, 1 converted,
2 new, 0 dropped. Website alone: L01, L02, L17 = 3 captured, 1 converted, 2 new. WhatsApp alone: L03 = 1, 0, 0.

The engine's health is the same in every daily report of this warehouse, measured from its as-of moment (OPS.md):
one active error (Twilio, open since 21:52Z), three components not healthy (SMS Gateway down, Apollo Enrichment
and Email Service without a heartbeat in 30 minutes; CRM Sync and Webhook Receiver healthy). The day's processing
failures follow the period: none ran on 31 March (no data); on Friday 28 November EX-OPS-6..9 started (15:51 to
16:40 CST) and all four are stuck on Twilio's 401s: 4 of 4 = 100.0 %.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import UTC, datetime

import pytest
import smtp_server
import yaml
from conftest import (
    CRM_AS_OF,
    LEAD_CAPTURE_AS_OF,
    LEAD_CAPTURE_FIXTURE,
    OPS_SELECT,
    OPS_TABLES,
    build_fixture_warehouse,
    crm_tables,
)
from pypdf import PdfReader

from orchestration import cli, settings, warehouse
from orchestration.reporting import ledger, send, specs

SENT_AT = "2025-04-01T13:00:00Z"
AS_OF = datetime(2025, 4, 1, 13, tzinfo=UTC)


@pytest.fixture
def inbox():
    box = smtp_server.Inbox()
    controller = smtp_server.start(box)
    box.port = controller.port
    yield box
    controller.stop()


OPS_AS_OF = CRM_AS_OF
# the day the engine's fixture is about: sent at 08:00 CST on Saturday 29 November
OPS_SENT_AT = datetime(2025, 11, 29, 14, tzinfo=UTC)
ENGINE_HEALTH = {
    "Active errors (incidents still open)": "1",
    "Components not healthy": "3",
    "Component status": (
        "Down: SMS Gateway; No heartbeat: Apollo Enrichment, Email Service; Healthy: CRM Sync, Webhook Receiver"
    ),
}


@pytest.fixture(scope="module")
def delivery_db(warehouse_info, tmp_path_factory):
    """The bot leads as of LEAD_CAPTURE_AS_OF, then the engine's models rebuilt as of OPS_AS_OF (module docstring)."""
    tables = {"bot_leads__leads": LEAD_CAPTURE_FIXTURE}
    tables.update(crm_tables(*OPS_TABLES))
    info = build_fixture_warehouse(
        warehouse_info,
        tmp_path_factory,
        "delivery",
        tables,
        ["+fct_bot_leads"],  # the calendar and the as-of moment are built once, by the rebuild (OPS_SELECT)
        LEAD_CAPTURE_AS_OF,
        rebuilds=[(OPS_SELECT, OPS_AS_OF)],
    )
    yield info
    warehouse.drop_database(info)


@pytest.fixture
def db(delivery_db):
    with warehouse.connect(delivery_db) as conn:
        ledger.ensure(conn)
        conn.execute(f"truncate {ledger.A}.report_deliveries, {ledger.A}.report_commands, {ledger.A}.alert_state")
        conn.commit()
    return delivery_db


def config_for(inbox, **extra) -> settings.Settings:
    return settings.Settings.load(
        {
            "LEAD_ANALYTICS_TIMEZONE": "America/Chicago",
            "LEAD_ANALYTICS_SMTP_HOST": "127.0.0.1",
            "LEAD_ANALYTICS_SMTP_PORT": str(inbox.port),
            "LEAD_ANALYTICS_SMTP_FROM": "reports@lead-analytics.test",
            **extra,
        }
    )


def numbers(message) -> dict[str, str]:
    body = message.get_body(("html",)).get_content()
    return dict(re.findall(r"<li>([^<:]+): <strong>([^<]+)</strong></li>", body))


def pdf_text(message) -> str:
    [attachment] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages)


def test_daily_report_reaches_the_operations_team_once(db, inbox, monkeypatch, capsys):
    """The command as run by hand: one e-mail per operations person, the period in the subject, the numbers
    in the body and in the PDF; run again, nothing is sent; both runs in the command log."""
    for name, value in config_for(inbox).child_env({}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(settings.ENV_DATABASE_URL, db.conninfo())
    assert cli.main(["send", "daily", "--as-of", SENT_AT]) == 0
    assert [m["To"] for m in inbox.messages] == ["ops-desk@example.com", "ops-lead@example.com"]
    assert inbox.envelopes == [["ops-desk@example.com"], ["ops-lead@example.com"]]
    message = inbox.messages[0]
    assert message["Subject"] == "Daily operations report: Mon 31 Mar 2025"
    assert numbers(message) == {
        "Leads captured": "5",
        "Leads converted": "1",
        "Leads still new (not yet worked)": "2",
        "Leads dropped": "0",
        **ENGINE_HEALTH,
        "Workflow runs that failed": "no data",
    }
    assert "Sent late" not in message.get_body(("html",)).get_content()
    text = pdf_text(message)
    assert "Lead capture" in text and "31 Mar 2025" in text
    assert re.search(r"Total leads\s.*?\b5\b", text, re.DOTALL), text[:1500]
    assert cli.main(["send", "daily", "--as-of", SENT_AT]) == 0
    assert len(inbox.messages) == 2
    assert "0 sent, 2 already sent, 0 failed" in capsys.readouterr().out
    with warehouse.connect(db) as conn:
        rows = conn.execute(
            f"select recipient, status, attempts, late from {ledger.A}.report_deliveries order by recipient"
        ).fetchall()
        log = conn.execute(f"select command, outcome from {ledger.A}.report_commands order by id").fetchall()
    assert rows == [("ops-desk@example.com", "sent", 1, False), ("ops-lead@example.com", "sent", 1, False)]
    assert [c for c, _ in log] == ["send", "send"]
    assert log[0][1].startswith("2 sent, 0 already sent") and log[1][1].startswith("0 sent, 2 already sent")


def test_the_daily_report_says_how_the_engine_did_the_day_before(db, inbox):
    """Sent on Saturday 29 November: Friday's leads (none in the bot-lead fixture) and the engine's health, in the
    body's words and in the printed operations page."""
    outcome = send.send(db, config_for(inbox), "daily", OPS_SENT_AT)
    assert (outcome.sent, outcome.failed) == (2, 0)
    message = inbox.messages[0]
    assert message["Subject"] == "Daily operations report: Fri 28 Nov 2025"
    assert numbers(message) == {
        "Leads captured": "0",
        "Leads converted": "0",
        "Leads still new (not yet worked)": "0",
        "Leads dropped": "0",
        **ENGINE_HEALTH,
        "Workflow runs that failed": "100.0%",
    }
    body = message.get_body(("html",)).get_content()
    assert "Data as of 2025-11-28 17:00 CST" in body
    text = " ".join(pdf_text(message).split())
    assert "Operations monitor" in text and "28 Nov 2025" in text
    assert re.search(r"Active errors 1\b", text), text[:3000]
    assert re.search(r"Components not healthy 3\b", text), text[:3000]
    for component, status in [
        ("Apollo Enrichment", "No heartbeat"),
        ("CRM Sync", "Healthy"),
        ("Email Service", "No heartbeat"),
        ("SMS Gateway", "Down"),
        ("Webhook Receiver", "Healthy"),
    ]:
        assert f"{component} {status}" in text, (component, text[:3000])
    assert re.search(r"Processing failures 100\.0%", text), text[:3000]


def scoped_specs(tmp_path):
    """The real specs plus a report scoped by source, for a Website manager, a WhatsApp manager and a head of
    sales who sees everything (and is also in operations: one e-mail, not two): the daily report's lead-capture
    page and numbers (its operations page has no source to scope by)."""
    root = tmp_path / "metabase"
    shutil.copytree(specs.SPECS_DIR, root)
    people = yaml.safe_load((root / "recipients.yml").read_text())
    people["source_managers"] = [
        {"email": "web@example.com", "scope": {"source": ["Website"]}},
        {"email": "whatsapp@example.com", "scope": {"source": ["WhatsApp"]}},
        {"email": "head@example.com"},
    ]
    (root / "recipients.yml").write_text(yaml.safe_dump(people))
    spec = yaml.safe_load((root / "reports" / "daily.yml").read_text())
    spec.update(name="Daily source report", audience={"roles": ["source_managers"]}, scope="source")
    spec["pages"] = [p for p in spec["pages"] if p["dashboard"] == "lead_capture"]
    spec["highlights"] = [h for h in spec["highlights"] if h["card"].startswith("lead_capture__")]
    (root / "reports" / "daily_by_source.yml").write_text(yaml.safe_dump(spec))
    return root


def test_a_scoped_report_gives_each_person_their_own_numbers(db, inbox, tmp_path):
    root = scoped_specs(tmp_path)
    outcome = send.send(db, config_for(inbox), "daily_by_source", AS_OF, specs_dir=root)
    assert outcome.sent == 3
    got = {m["To"]: (m["Subject"], numbers(m)) for m in inbox.messages}
    assert got == {
        "head@example.com": (
            "Daily source report: Mon 31 Mar 2025",
            {
                "Leads captured": "5",
                "Leads converted": "1",
                "Leads still new (not yet worked)": "2",
                "Leads dropped": "0",
            },
        ),
        "web@example.com": (
            "Daily source report: Mon 31 Mar 2025 (source: Website)",
            {
                "Leads captured": "3",
                "Leads converted": "1",
                "Leads still new (not yet worked)": "2",
                "Leads dropped": "0",
            },
        ),
        "whatsapp@example.com": (
            "Daily source report: Mon 31 Mar 2025 (source: WhatsApp)",
            {
                "Leads captured": "1",
                "Leads converted": "0",
                "Leads still new (not yet worked)": "0",
                "Leads dropped": "0",
            },
        ),
    }


def test_a_refusing_server_gets_exactly_one_message_once_it_accepts(db, inbox):
    inbox.refuse = 1  # the first DATA is refused, the retry accepted
    outcome = send.send(db, config_for(inbox), "daily", AS_OF, sleep=lambda s: None)
    assert (outcome.sent, outcome.failed) == (2, 0)
    assert [m["To"] for m in inbox.messages] == ["ops-desk@example.com", "ops-lead@example.com"]
    inbox.refuse = 10  # now it refuses every attempt for the next period: recorded with its reason, retried later
    next_day = datetime(2025, 4, 2, 13, tzinfo=UTC)
    failed = send.send(db, config_for(inbox), "daily", next_day, sleep=lambda s: None)
    assert (failed.sent, failed.failed) == (0, 2)
    with warehouse.connect(db) as conn:
        rows = conn.execute(
            f"select period, recipient, status, attempts, error from {ledger.A}.report_deliveries "
            "order by period, recipient"
        ).fetchall()
    assert rows == [
        ("2025-03-31", "ops-desk@example.com", "sent", 2, None),
        ("2025-03-31", "ops-lead@example.com", "sent", 1, None),
        ("2025-04-01", "ops-desk@example.com", "failed", 3, "SMTP 451: 4.3.0 mailbox busy, try again later"),
        ("2025-04-01", "ops-lead@example.com", "failed", 3, "SMTP 451: 4.3.0 mailbox busy, try again later"),
    ]
    inbox.refuse = 0
    retried = send.send(db, config_for(inbox), "daily", next_day, sleep=lambda s: None)
    assert retried.sent == 2 and len(inbox.messages) == 4


def test_after_downtime_the_missed_period_goes_once_late_and_says_so(db, inbox):
    """Back up at 07:00 CDT on Thursday 3 April after being down since Tuesday morning: the latest send due is
    Wednesday 08:00's (covering Tuesday 1 April); it goes once, 23 hours late, and says so."""
    outcome = send.send(db, config_for(inbox), "daily", datetime(2025, 4, 3, 12, tzinfo=UTC))
    assert outcome.sent == 2
    message = inbox.messages[0]
    assert message["Subject"] == "Daily operations report: Tue 1 Apr 2025"
    body = message.get_body(("html",)).get_content()
    assert "Sent late: this report was due Wed 2 Apr 2025 08:00 CDT and goes out Thu 3 Apr 2025 07:00 CDT." in body
    again = send.send(db, config_for(inbox), "daily", datetime(2025, 4, 3, 12, 30, tzinfo=UTC))
    assert again.sent == 0 and len(inbox.messages) == 2


def test_without_smtp_settings_delivery_is_skipped_in_one_line(db):
    config = settings.Settings.load({"LEAD_ANALYTICS_TIMEZONE": "America/Chicago"})
    outcome = send.send(db, config, "daily", AS_OF)
    assert outcome.lines == ["delivery skipped: LEAD_ANALYTICS_SMTP_HOST is not set (no SMTP server configured)"]
    assert outcome.sent == 0


def test_a_dry_run_writes_the_emails_and_sends_nothing(db, inbox, tmp_path):
    outcome = send.send(db, config_for(inbox), "daily", AS_OF, dry_run_dir=tmp_path / "outbox")
    assert sorted(p.name for p in outcome.written) == [
        "daily_2025-03-31_ops-desk@example.com.eml",
        "daily_2025-03-31_ops-lead@example.com.eml",
    ]
    assert inbox.messages == []
    with warehouse.connect(db) as conn:
        assert conn.execute(f"select count(*) from {ledger.A}.report_deliveries").fetchone()[0] == 0
