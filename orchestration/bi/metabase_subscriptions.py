"""The report schedules and alert rules mirrored in Metabase, where Metabase can say them (issue 20, D171):
dashboard subscriptions (`/api/pulse`) for the reports Metabase can schedule and card alerts (`/api/notification`)
for the rules that name a card. Known by spec key in raw_audit.metabase_objects (kinds `pulse`, `notification`),
like the cards and dashboards; a second run with nothing changed sends no write (D171).

What Metabase cannot say stays with Dagster only, and `plan()` lists it with the reason: a monthly report on the
n-th business day (a Metabase monthly subscription is first, mid or last of the month), a scoped report (OSS sends
one dashboard view to every recipient), and a report page whose period filter Metabase cannot set relatively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.bi.metabase_client import Client, MetabaseError
from orchestration.bi.metabase_state import Record, WarehouseState, instance_key
from orchestration.reporting import alerts as alert_rules
from orchestration.reporting import specs as report_specs

RELATIVE = {"daily": "past1days", "weekly": "past1weeks"}  # "the period" as a Metabase relative date value
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass
class Plan:
    pulses: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {dashboard, body without ids}
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {card, body without ids}
    not_mirrored: list[str] = field(default_factory=list)


def plan(specs_dir=report_specs.SPECS_DIR) -> Plan:
    from orchestration.bi.specs import load_specs

    reports = report_specs.load_reports(specs_dir)
    dashboards = load_specs(specs_dir).dashboards
    roles = report_specs.load_recipients(specs_dir)
    out = Plan()
    for spec in reports.values():
        sched = spec.schedule
        if sched.cadence == "monthly":
            out.not_mirrored.append(
                f"{spec.key}: Metabase schedules a month only on its first, middle or last day, "
                f"not business day {sched.business_day}; Dagster sends it"
            )
            continue
        if spec.scope:
            out.not_mirrored.append(
                f"{spec.key}: scoped per recipient ({spec.scope}); Metabase OSS sends one view "
                "to every recipient; Dagster sends it"
            )
            continue
        if sched.zone != "reporting":
            out.not_mirrored.append(
                f"{spec.key}: its own time zone {sched.zone}; Metabase schedules in one "
                "report time zone; Dagster sends it"
            )
            continue
        people = [{"email": p.email} for p in report_specs.recipients_of(spec, roles)]
        channel = {
            "channel_type": "email",
            "enabled": True,
            "schedule_type": sched.cadence,
            "schedule_hour": int(sched.at.split(":")[0]),
            "recipients": people,
        }
        if sched.cadence == "weekly":
            channel["schedule_day"] = WEEKDAYS[
                ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].index(sched.weekday)
            ]
        for page in spec.pages:
            parameters = [
                {"slug": slug, "value": RELATIVE[sched.cadence] if value == "period" else value}
                for slug, value in page.filters.items()
            ]
            out.pulses[f"{spec.key}.{page.dashboard}"] = {
                "dashboard": page.dashboard,
                "body": {
                    "name": f"{spec.name}: {dashboards[page.dashboard].name}",
                    "channels": [channel],
                    "parameters": parameters,
                    "skip_if_empty": False,
                },
            }
    for rule in alert_rules.load_rules(specs_dir).values():
        if rule.metabase is None:
            out.not_mirrored.append(f"alert {rule.key}: no card shows it; evaluated by Dagster after every publish")
            continue
        people = [p.email for role in rule.audience.roles for p in roles[role]] + rule.audience.recipients
        out.notifications[rule.key] = {
            "card": rule.metabase.card,
            "body": {
                "payload_type": "notification/card",
                "payload": {"send_condition": rule.metabase.send_condition, "send_once": rule.metabase.send_once},
                "handlers": [
                    {
                        "channel_type": "channel/email",
                        "recipients": [
                            {"type": "notification-recipient/raw-value", "details": {"value": e}}
                            for e in sorted(set(people))
                        ],
                    }
                ],
                "subscriptions": [{"type": "notification-subscription/cron", "cron_schedule": rule.metabase.cron}],
            },
        }
    return out


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_mirrored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged; "
            f"{len(self.not_mirrored)} not mirrored"
        )


def provision(client: Client, store: WarehouseState, the_plan: Plan) -> Report:
    """Create or update the planned subscriptions and alerts on the dashboards and cards the provisioner recorded
    (run after `metabase.provision`); one line naming the key when a dashboard or card has no record."""
    instance = instance_key(client.url)
    records = store.load(instance)
    out = Report(not_mirrored=list(the_plan.not_mirrored))

    def object_id(kind: str, key: str, why: str) -> int:
        record = records.get((kind, key))
        if record is None:
            raise MetabaseError(f"{why}: {kind} {key!r} is not provisioned yet (run the Metabase provisioning first)")
        return record.metabase_id

    for key, item in sorted(the_plan.pulses.items()):
        dashboard_id = object_id("dashboard", item["dashboard"], f"subscription {key}")
        dashboard = client.get(f"/api/dashboard/{dashboard_id}")
        cards = [
            {"id": dc["card_id"], "dashboard_card_id": dc["id"], "include_csv": False, "include_xls": False}
            for dc in dashboard.get("dashcards", [])
            if dc.get("card_id")
        ]
        body = {
            **item["body"],
            "dashboard_id": dashboard_id,
            "cards": cards,
            "collection_id": dashboard.get("collection_id"),
        }
        _sync(client, store, instance, records, "pulse", key, "/api/pulse", body, out)
    for key, item in sorted(the_plan.notifications.items()):
        card_id = object_id("card", item["card"], f"alert {key}")
        body = {**item["body"], "payload": {**item["body"]["payload"], "card_id": card_id}}
        _sync(client, store, instance, records, "notification", key, "/api/notification", body, out)
    return out


def _same(current: dict, wanted: dict) -> bool:
    return all(current.get(k) == v for k, v in wanted.items())


def _sync(
    client: Client,
    store: WarehouseState,
    instance: str,
    records: dict,
    kind: str,
    key: str,
    path: str,
    body: dict,
    out: Report,
) -> None:
    record = records.get((kind, key))
    current = client.maybe_get(f"{path}/{record.metabase_id}") if record else None
    if current is None or current.get("archived"):
        created = client.request("POST", path, body)
        store.save(instance, Record(kind, key, created["id"], created.get("entity_id")))
        out.created.append(key)
    elif _same(current, body):
        out.unchanged.append(key)
    else:
        client.request("PUT", f"{path}/{record.metabase_id}", body)
        out.updated.append(key)
