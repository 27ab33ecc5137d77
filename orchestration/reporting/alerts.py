"""Alert rules: metabase/alerts/<rule>.yml (what it is, whom it tells, which marts it reads), its query in
orchestration/reporting/rules/<rule>.sql (the rows it returns are the subjects firing now: subject, value, detail;
parameters %(as_of)s, %(timezone)s, %(threshold)s and every threshold by its key) and its threshold a row of
seeds/alert_thresholds.csv (the seed the executive action items read too).

Evaluated after every publish and by `lead-analytics alerts`: a subject that starts firing is notified once, one
that stops is notified once as resolved, and nothing is sent while it stays on (raw_audit.alert_state holds what is
on, raw_audit.alert_events the history). A rule whose mart is missing is reported "not evaluated: <mart> missing",
never failed. The evaluation takes a lock, so two evaluators cannot both see the same start.
"""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestration import settings as settings_module
from orchestration import warehouse
from orchestration.reporting import channels, ledger, specs

RULES_DIR = Path(__file__).parent / "rules"
THRESHOLDS = settings_module.PROJECT_ROOT / "seeds" / "alert_thresholds.csv"
LOCK_KEY = 2020_0001  # pg_advisory_xact_lock: one evaluation at a time per warehouse


class AlertSpecError(ValueError):
    """A rule that cannot be used; one line naming the file."""


class MetabaseAlert(BaseModel):
    """The same rule as a Metabase card alert (`/api/notification`), where a card shows what the rule counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card: str  # a card key of metabase/cards
    send_condition: Literal["has_result", "goal_above", "goal_below"] = "has_result"
    send_once: bool = False
    cron: str = Field(default="0 0 * * * ?", description="Quartz cron, with seconds (Metabase's)")


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    name: str
    kpis: list[str] = Field(min_length=1)
    category: Literal["critical", "performance", "business", "maintenance"]
    reads: list[str] = Field(min_length=1)  # schema.table of every relation the query reads
    # The seed row (column `alert`) the query compares with, as %(threshold)s; every row is also passed by its key.
    # None: the mart the rule reads applies its thresholds itself (a status, an action item).
    threshold: str | None = None
    audience: specs.Audience
    metabase: MetabaseAlert | None = None  # mirrored as a Metabase card alert


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    fired: list[tuple[str, str]] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)


def load_thresholds(path: Path = THRESHOLDS) -> dict[str, Decimal]:
    with path.open(newline="") as f:
        return {r["alert"]: Decimal(r["threshold"]) for r in csv.DictReader(f)}


def load_rules(
    specs_dir: Path = specs.SPECS_DIR, rules_dir: Path = RULES_DIR, thresholds: dict[str, Decimal] | None = None
) -> dict[str, AlertRule]:
    thresholds = load_thresholds() if thresholds is None else thresholds
    roles = specs.load_recipients(specs_dir)
    rules = {}
    for path in sorted((specs_dir / "alerts").glob("*.yml")):
        try:
            rule = AlertRule(key=path.stem, **(yaml.safe_load(path.read_text()) or {}))
        except (ValidationError, TypeError) as exc:
            raise AlertSpecError(str(specs._one_line(path, exc))) from None
        if not (rules_dir / f"{rule.key}.sql").exists():
            raise AlertSpecError(f"{path.name}: no query {rules_dir / (rule.key + '.sql')}")
        if rule.threshold is not None and rule.threshold not in thresholds:
            raise AlertSpecError(f"{path.name}: no threshold {rule.threshold!r} in seeds/alert_thresholds.csv")
        unknown = [r for r in rule.audience.roles if r not in roles]
        if unknown:
            raise AlertSpecError(f"{path.name}: no role {', '.join(unknown)} in recipients.yml")
        rules[rule.key] = rule
    return rules


def _missing(conn, relations: list[str]) -> list[str]:
    return [r for r in relations if conn.execute("select to_regclass(%s)", (r,)).fetchone()[0] is None]


def evaluate_and_notify(
    info: warehouse.ConnectionInfo,
    config: settings_module.Settings,
    as_of: datetime,
    *,
    specs_dir: Path = specs.SPECS_DIR,
    rules_dir: Path = RULES_DIR,
    thresholds: dict[str, Decimal] | None = None,
) -> Outcome:
    thresholds = load_thresholds() if thresholds is None else thresholds
    rules = load_rules(specs_dir, rules_dir, thresholds)
    roles = specs.load_recipients(specs_dir)
    out = Outcome()
    with warehouse.connect(info) as conn:
        ledger.ensure(conn)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            for rule in rules.values():
                _evaluate(conn, rule, rules_dir, thresholds, config.timezone, as_of, out)
        _notify(conn, config, rules, roles, out)
    return out


def _evaluate(
    conn, rule: AlertRule, rules_dir: Path, thresholds: dict[str, Decimal], zone: str, as_of: datetime, out: Outcome
) -> None:
    threshold = thresholds.get(rule.threshold) if rule.threshold else None
    missing = _missing(conn, rule.reads)
    if missing:
        line = f"{rule.key}: not evaluated: {', '.join(missing)} missing"
        out.lines.append(line)
        out.not_evaluated.append(rule.key)
        return
    sql = (rules_dir / f"{rule.key}.sql").read_text()
    with conn.transaction():  # a savepoint: one broken rule does not stop the others
        params = {**thresholds, "as_of": as_of, "timezone": zone, "threshold": threshold}
        rows = conn.execute(sql, params).fetchall()
    now = {str(subject): (value, detail) for subject, value, detail in rows}
    state = {
        s: (firing, detail)
        for s, firing, detail in conn.execute(
            f"select subject, firing, detail from {ledger.A}.alert_state where rule = %s", (rule.key,)
        ).fetchall()
    }
    for subject, (value, detail) in now.items():
        if state.get(subject, (False, None))[0]:
            continue  # still on: quiet
        conn.execute(
            f"""insert into {ledger.A}.alert_state (rule, subject, firing, since, value, detail)
                         values (%s, %s, true, %s, %s, %s)
                         on conflict (rule, subject) do update set firing = true, since = excluded.since,
                             value = excluded.value, detail = excluded.detail""",
            (rule.key, subject, as_of, value, detail),
        )
        _event(conn, rule, subject, "fired", value, threshold, detail, as_of)
        out.fired.append((rule.key, subject))
        out.lines.append(f"{rule.key} ({subject}): fired: {detail}")
    for subject, (firing, detail) in state.items():
        if firing and subject not in now:
            conn.execute(
                f"""update {ledger.A}.alert_state set firing = false, since = %s
                             where rule = %s and subject = %s""",
                (as_of, rule.key, subject),
            )
            _event(conn, rule, subject, "resolved", None, threshold, f"resolved (was: {detail})", as_of)
            out.resolved.append((rule.key, subject))
            out.lines.append(f"{rule.key} ({subject}): resolved")


def _event(conn, rule, subject, event, value, threshold, detail, as_of) -> None:
    conn.execute(
        f"""insert into {ledger.A}.alert_events
                     (evaluated_as_of, rule, subject, event, value, threshold, detail)
                     values (%s, %s, %s, %s, %s, %s, %s)""",
        (as_of, rule.key, subject, event, value, threshold, detail),
    )


def _notify(conn, config, rules: dict[str, AlertRule], roles, out: Outcome) -> None:
    """Every event not yet notified (this evaluation's, and earlier ones whose send failed), once each."""
    with conn.transaction():
        pending = conn.execute(f"""
            select id, rule, subject, event, detail from {ledger.A}.alert_events
            where event in ('fired', 'resolved') and (notified is null or notified like 'failed%%')
            order by id for update skip locked""").fetchall()
        for event_id, rule_key, subject, event, detail in pending:
            rule = rules.get(rule_key)
            if rule is None:
                continue
            title = f"[{rule.category}] {rule.name}: {'FIRING' if event == 'fired' else 'resolved'} ({subject})"
            results = []
            if config.smtp is not None:
                people = [p.email for role in rule.audience.roles for p in roles[role]] + rule.audience.recipients
                for email in sorted(set(people)):
                    msg = channels.email(config.smtp, email, title, f"<p>{html.escape(detail)}</p>", detail + "\n")
                    try:
                        channels.send_email(config.smtp, msg)
                        results.append(f"email {email}")
                    except channels.SendError as exc:
                        results.append(f"failed: email {email}: {exc}")
            if config.webhook_url:
                try:
                    channels.post_webhook(
                        config.webhook_url,
                        {
                            "rule": rule_key,
                            "subject": subject,
                            "event": event,
                            "category": rule.category,
                            "text": f"{title}: {detail}",
                        },
                    )
                    results.append("webhook")
                except channels.SendError as exc:
                    results.append(f"failed: webhook: {exc}")
            failed = [r for r in results if r.startswith("failed")]
            notified = failed[0] if failed else ("; ".join(results) or "no channel configured")
            conn.execute(f"update {ledger.A}.alert_events set notified = %s where id = %s", (notified, event_id))
