"""The delivery ledger (raw_audit.report_deliveries), the alert ledger (raw_audit.alert_events, alert_state) and
the command log (raw_audit.report_commands).

Exactly once: a delivery row is keyed by (report, period, recipient, channel). A sender first inserts the rows it
owes (`on conflict do nothing`), then takes each unsent row with `for update skip locked` and holds that lock
while it talks to the SMTP server: a second scheduler, a re-run or a retry either waits for nothing (skips the
locked row) or finds it `sent`. Only a crash between the server's 250 and the commit can repeat a message;
that window is one statement long (D172).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration import settings

A = f'"{settings.AUDIT_SCHEMA}"'

DDL = [
    f"create schema if not exists {A}",
    f"""create table if not exists {A}.report_deliveries (
        report text not null,
        period text not null,
        recipient text not null,
        channel text not null check (channel in ('email', 'webhook')),
        status text not null check (status in ('pending', 'sent', 'failed', 'superseded')),
        due_at timestamptz not null,
        attempts integer not null default 0,
        last_attempt_at timestamptz,
        sent_at timestamptz,
        late boolean,
        error text,
        subject text,
        primary key (report, period, recipient, channel))""",
    f"""create table if not exists {A}.alert_state (
        rule text not null,
        subject text not null,
        firing boolean not null,
        since timestamptz not null,
        value numeric,
        detail text,
        primary key (rule, subject))""",
    f"""create table if not exists {A}.alert_events (
        id bigserial primary key,
        at timestamptz not null default clock_timestamp(),
        evaluated_as_of timestamptz not null,
        rule text not null,
        subject text not null,
        event text not null check (event in ('fired', 'resolved', 'not_evaluated')),
        value numeric,
        threshold numeric,
        detail text not null,
        notified text)""",
    f"""create table if not exists {A}.report_commands (
        id bigserial primary key,
        at timestamptz not null default clock_timestamp(),
        who name not null default session_user,
        command text not null,
        arguments jsonb not null,
        outcome text not null)""",
]


def ensure(conn) -> None:
    with conn.transaction():
        for statement in DDL:
            conn.execute(statement)


@dataclass(frozen=True)
class Owed:
    report: str
    period: str
    recipient: str
    channel: str


def owe(conn, rows: list[Owed], due_at: datetime) -> None:
    with conn.transaction():
        for r in rows:
            conn.execute(
                f"""insert into {A}.report_deliveries (report, period, recipient, channel, status, due_at)
                             values (%s, %s, %s, %s, 'pending', %s) on conflict do nothing""",
                (r.report, r.period, r.recipient, r.channel, due_at),
            )


@contextmanager
def claim(conn, row: Owed) -> Iterator[dict[str, Any] | None]:
    """The unsent delivery row, locked for this sender until the block ends; None when it is sent, superseded or
    being sent by someone else right now."""
    with conn.transaction():
        found = conn.execute(
            f"""select status, attempts, due_at from {A}.report_deliveries
                where report = %s and period = %s and recipient = %s and channel = %s
                  and status in ('pending', 'failed')
                for update skip locked""",
            (row.report, row.period, row.recipient, row.channel),
        ).fetchone()
        yield None if found is None else {"status": found[0], "attempts": found[1], "due_at": found[2]}


def record(
    conn, row: Owed, *, sent: bool, at: datetime, late: bool, subject: str, error: str | None, tries: int = 1
) -> None:
    """Inside `claim`'s block: the outcome after `tries` attempts (the last failure's reason when not sent)."""
    conn.execute(
        f"""update {A}.report_deliveries
                     set status = %s, attempts = attempts + %s, last_attempt_at = %s,
                         sent_at = case when %s then %s end, late = %s, error = %s, subject = %s
                     where report = %s and period = %s and recipient = %s and channel = %s""",
        (
            "sent" if sent else "failed",
            tries,
            at,
            sent,
            at,
            late,
            error,
            subject,
            row.report,
            row.period,
            row.recipient,
            row.channel,
        ),
    )


def supersede(conn, report: str, before_period: str) -> int:
    """Older periods never sent are closed as superseded: after downtime only the latest one goes out (D173)."""
    with conn.transaction():
        return conn.execute(
            f"""update {A}.report_deliveries set status = 'superseded'
                                where report = %s and period < %s and status in ('pending', 'failed')""",
            (report, before_period),
        ).rowcount


def log_command(conn, command: str, arguments: dict[str, Any], outcome: str) -> None:
    """The command log, and h9's access log (raw_audit.access_log, action `delivery`) where it exists."""
    with conn.transaction():
        conn.execute(
            f"insert into {A}.report_commands (command, arguments, outcome) values (%s, %s::jsonb, %s)",
            (command, json.dumps(arguments, default=str, sort_keys=True), outcome),
        )
        has_access_log = conn.execute(
            "select to_regprocedure('access.log_access(text, text, jsonb, bigint)')"
        ).fetchone()[0]
        if has_access_log:
            conn.execute(
                "select access.log_access('delivery', %s, %s::jsonb, null)",
                (command, json.dumps(arguments, default=str, sort_keys=True)),
            )
