"""`lead-analytics send`: render one report for its latest due period and deliver it once per recipient.

The period is the one of the latest scheduled send at or before the as-of moment (`--as-of`, default now): at
Tuesday 12:00 the daily report covers Monday. A send later than its due time by more than GRACE says so in the
e-mail. Older periods never sent are marked superseded, not sent (D173). Without SMTP settings nothing is sent
and the one-line reason is returned; a dry run writes the e-mails (.eml) and their PDFs to a folder instead and
touches no ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration import settings as settings_module
from orchestration import warehouse
from orchestration.reporting import channels, ledger, render, specs
from orchestration.reporting.calendar import Period

GRACE = timedelta(hours=1)


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    sent: int = 0
    already: int = 0
    failed: int = 0
    written: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def select(reports: dict[str, specs.ReportSpec], which: str) -> list[specs.ReportSpec]:
    chosen = [r for r in reports.values() if which in (r.key, r.schedule.cadence)]
    if not chosen:
        raise specs.ReportSpecError(
            f"no report {which!r} (cadences daily, weekly, monthly; reports: {', '.join(sorted(reports))})"
        )
    return chosen


def firing_alerts(conn) -> list[str]:
    ledger.ensure(conn)
    rows = conn.execute(f"""select rule, subject, detail from {ledger.A}.alert_state where firing
                            order by rule, subject""").fetchall()
    return [
        f"{rule} ({subject}): {detail}" if subject != "-" else f"{rule}: {detail}" for rule, subject, detail in rows
    ]


def send(
    info: warehouse.ConnectionInfo,
    config: settings_module.Settings,
    which: str,
    as_of: datetime,
    *,
    dry_run_dir: Path | None = None,
    specs_dir: Path = specs.SPECS_DIR,
    attempts: int = 3,
    retry_wait: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    from orchestration.bi.compiler import compile_specs

    out = Outcome()
    reports = select(specs.load_reports(specs_dir), which)
    if config.smtp is None and dry_run_dir is None:
        out.lines.append(f"delivery skipped: {settings_module.ENV_SMTP['host']} is not set (no SMTP server configured)")
        return out
    roles = specs.load_recipients(specs_dir)
    compiled = compile_specs(specs_dir)
    with warehouse.connect(info) as conn:
        ledger.ensure(conn)
        alerts = firing_alerts(conn)
        for spec in reports:
            schedule = spec.schedule.resolve(config.timezone)
            due = schedule.last_fire(as_of)
            period = schedule.period(due)
            late = as_of - due > GRACE
            late_note = (
                (
                    f"Sent late: this report was due {render.local_text(due, schedule.zone)} and goes out "
                    f"{render.local_text(as_of, schedule.zone)}."
                )
                if late
                else None
            )
            people = specs.recipients_of(spec, roles)
            groups: dict[tuple, list[specs.Recipient]] = {}
            for person in people:
                scope = tuple(person.scope.get(spec.scope, ())) if spec.scope else ()
                groups.setdefault(scope, []).append(person)
            if dry_run_dir is None:
                superseded = ledger.supersede(conn, spec.key, period.key)
                if superseded:
                    out.lines.append(f"{spec.key}: {superseded} older unsent deliveries superseded by {period.key}")
                ledger.owe(conn, [ledger.Owed(spec.key, period.key, p.email.lower(), "email") for p in people], due)
            for scope, group in groups.items():
                delivery = _Delivery(
                    conn=conn,
                    info=info,
                    config=config,
                    compiled=compiled,
                    spec=spec,
                    period=period,
                    late=late,
                    late_note=late_note,
                    alerts=alerts,
                    dry_run_dir=dry_run_dir,
                    attempts=attempts,
                    retry_wait=retry_wait,
                    sleep=sleep,
                    out=out,
                )
                _send_group(delivery, scope, group)
    return out


def _unsent(conn, spec: specs.ReportSpec, period: Period, group: list[specs.Recipient]) -> list[specs.Recipient]:
    sent = {
        r[0]
        for r in conn.execute(
            f"""select recipient from {ledger.A}.report_deliveries
            where report = %s and period = %s and channel = 'email' and status in ('sent', 'superseded')""",
            (spec.key, period.key),
        ).fetchall()
    }
    return [p for p in group if p.email.lower() not in sent]


@dataclass(frozen=True)
class _Delivery:
    """What every recipient group of one report's period shares: where to read, what to send, how to retry."""

    conn: Any
    info: warehouse.ConnectionInfo
    config: settings_module.Settings
    compiled: Any  # CompiledSpecs
    spec: specs.ReportSpec
    period: Period
    late: bool
    late_note: str | None
    alerts: list[str]
    dry_run_dir: Path | None
    attempts: int
    retry_wait: float
    sleep: Callable[[float], None]
    out: Outcome


def _send_group(d: _Delivery, scope: tuple, group: list[specs.Recipient]) -> None:
    conn, info, config, compiled, spec, period = d.conn, d.info, d.config, d.compiled, d.spec, d.period
    late, late_note, alerts, dry_run_dir, out = d.late, d.late_note, d.alerts, d.dry_run_dir, d.out
    attempts, retry_wait, sleep = d.attempts, d.retry_wait, d.sleep
    todo = group if dry_run_dir is not None else _unsent(conn, spec, period, group)
    out.already += len(group) - len(todo)
    if not todo:
        out.lines.append(f"{spec.key} {period.key}{_scope(scope)}: already sent to all {len(group)}; nothing to do")
        return
    notices = [late_note] if late_note else []
    rendered = render.render(info, compiled, spec, period, {spec.scope: list(scope)} if scope else {}, notices)
    pdf = render.print_pdf(rendered)
    subject = render.subject(rendered)
    html_body = render.body_html(rendered, late_note=late_note, alerts=alerts, zone=config.timezone)
    text_body = render.body_text(rendered, late_note=late_note, alerts=alerts)
    sender = config.smtp or settings_module.Smtp(host="localhost", sender="reports@localhost", starttls=False)
    pdf_name = f"{spec.key}_{period.key}{'_' + '_'.join(scope) if scope else ''}.pdf".replace(" ", "_")
    for person in todo:
        msg = channels.email(sender, person.email, subject, html_body, text_body, pdf, pdf_name)
        if dry_run_dir is not None:
            dry_run_dir.mkdir(parents=True, exist_ok=True)
            path = dry_run_dir / f"{spec.key}_{period.key}_{person.email}.eml"
            path.write_bytes(bytes(msg))
            out.written.append(path)
            continue
        row = ledger.Owed(spec.key, period.key, person.email.lower(), "email")
        with ledger.claim(conn, row) as claimed:
            if claimed is None:
                out.already += 1
                continue
            error, tries = None, 0
            for attempt in range(attempts):
                tries += 1
                try:
                    channels.send_email(config.smtp, msg)
                    error = None
                    break
                except channels.SendError as exc:
                    error = str(exc)
                    if attempt + 1 < attempts:
                        sleep(retry_wait * (attempt + 1))
            ledger.record(
                conn,
                row,
                sent=error is None,
                at=datetime.now().astimezone(),
                late=late,
                subject=subject,
                error=error,
                tries=tries,
            )
        if error is None:
            out.sent += 1
        else:
            out.failed += 1
            out.lines.append(f"{spec.key} {period.key}: not delivered to {person.email}: {error} (retried next run)")
    if config.webhook_url and dry_run_dir is None:
        _webhook(conn, config, spec, period, scope, rendered, late, subject, out)
    out.lines.append(
        f"{spec.key} {period.key}{_scope(scope)}: {len(todo)} e-mail(s) {'written' if dry_run_dir else 'processed'}"
        f"{' (late)' if late else ''}"
    )


def _webhook(conn, config, spec, period, scope, rendered, late, subject, out: Outcome) -> None:
    row = ledger.Owed(spec.key, period.key, f"webhook:{','.join(scope) or 'all'}", "webhook")
    ledger.owe(conn, [row], rendered.pages[0].as_of or datetime.now().astimezone())
    with ledger.claim(conn, row) as claimed:
        if claimed is None:
            return
        payload = {
            "report": spec.key,
            "period": period.key,
            "title": subject,
            "late": late,
            "numbers": {h.label: h.text for h in rendered.highlights},
        }
        try:
            channels.post_webhook(config.webhook_url, payload)
            error = None
        except channels.SendError as exc:
            error = str(exc)
            out.lines.append(f"{spec.key} {period.key}: webhook failed: {error}")
        ledger.record(
            conn, row, sent=error is None, at=datetime.now().astimezone(), late=late, subject=subject, error=error
        )


def _scope(scope: tuple) -> str:
    return f" [{', '.join(scope)}]" if scope else ""
