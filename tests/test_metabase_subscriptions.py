"""Report subscriptions (/api/pulse) and card alerts (/api/notification) provisioned as code on the fake Metabase
(tests/fake_metabase.py, §14 of the Metabase fact sheet): what each sends, a second run that writes nothing, a
change updated in place, and what Metabase cannot schedule stated."""

from __future__ import annotations

import shutil

import yaml
from fake_metabase import FakeMetabase

from orchestration.bi import metabase_subscriptions as subs
from orchestration.bi.metabase_client import Client
from orchestration.bi.metabase_state import Record, WarehouseState, instance_key
from orchestration.reporting import specs

USER, PASSWORD = "admin@example.com", "s3cret-pass"


def specs_with_card_alert(tmp_path):
    root = tmp_path / "metabase"
    shutil.copytree(specs.SPECS_DIR, root)
    rule = yaml.safe_load((root / "alerts" / "system_down.yml").read_text())
    rule["metabase"] = {"card": "lead_capture__dropped_leads", "cron": "0 0 8 * * ?"}
    (root / "alerts" / "system_down.yml").write_text(yaml.safe_dump(rule))
    return root


def test_subscriptions_and_card_alerts_are_provisioned_once_and_updated_in_place(fresh_db, tmp_path):
    root = specs_with_card_alert(tmp_path)
    with FakeMetabase(strict=False) as fake:
        client = Client(fake.url, USER, PASSWORD)  # plain http is allowed for a local host
        collection = client.request("POST", "/api/collection", {"name": "Lead Analytics"})
        store = WarehouseState(fresh_db)
        instance = instance_key(fake.url)
        dashboards = ("lead_capture", "operations_monitor", "lead_analytics", "agent_performance", "campaign_analytics")
        for key in (*dashboards, "executive_summary"):
            dash = client.request("POST", "/api/dashboard", {"name": key, "collection_id": collection["id"]})
            store.save(instance, Record("dashboard", key, dash["id"], dash.get("entity_id")))
        card = client.request(
            "POST",
            "/api/card",
            {"name": "Dropped leads", "display": "scalar", "dataset_query": {}, "visualization_settings": {}},
        )
        store.save(instance, Record("card", "lead_capture__dropped_leads", card["id"], card.get("entity_id")))

        report = subs.provision(client, store, subs.plan(root))
        assert sorted(report.created) == [
            "daily.lead_capture",
            "daily.operations_monitor",
            "system_down",
            "weekly_executive.agent_performance",
            "weekly_executive.campaign_analytics",
            "weekly_executive.executive_summary",
            "weekly_executive.lead_analytics",
            "weekly_executive.lead_capture",
        ]
        assert report.not_mirrored[:2] == [
            f"{key}: Metabase schedules a month only on its first, middle or last day, not business day 2; "
            "Dagster sends it"
            for key in ("compliance", "monthly_review")
        ]
        pulses = {p["name"]: p for p in fake.pulses.values()}
        daily = pulses["Daily operations report: Lead capture"]
        assert daily["channels"] == [
            {
                "channel_type": "email",
                "enabled": True,
                "schedule_type": "daily",
                "schedule_hour": 8,
                "recipients": [{"email": "ops-desk@example.com"}, {"email": "ops-lead@example.com"}],
            }
        ]
        assert daily["parameters"] == [{"slug": "created", "value": "past1days"}]
        operations = pulses["Daily operations report: Operations monitor"]
        assert operations["channels"] == daily["channels"]
        assert operations["parameters"] == [{"slug": "date", "value": "past1days"}]
        weekly = pulses["Weekly executive report: Campaign analytics"]
        assert (
            weekly["channels"][0]["schedule_type"],
            weekly["channels"][0]["schedule_day"],
            weekly["channels"][0]["schedule_hour"],
        ) == ("weekly", "mon", 9)
        assert weekly["parameters"] == [{"slug": "period", "value": "past1weeks"}]
        [alert] = fake.notifications.values()
        assert alert["payload"] == {"send_condition": "has_result", "send_once": False, "card_id": card["id"]}
        assert alert["subscriptions"] == [{"type": "notification-subscription/cron", "cron_schedule": "0 0 8 * * ?"}]
        assert [r["details"]["value"] for r in alert["handlers"][0]["recipients"]] == [
            "ceo@example.com",
            "ops-desk@example.com",
            "ops-lead@example.com",
            "sales-director@example.com",
        ]

        writes = len(fake.writes())
        again = subs.provision(client, store, subs.plan(root))
        assert (again.created, again.updated, len(again.unchanged)) == ([], [], 8)
        assert len(fake.writes()) == writes

        daily_spec = root / "reports" / "daily.yml"
        daily_spec.write_text(daily_spec.read_text().replace('at: "08:00"', 'at: "07:00"'))
        changed = subs.provision(client, store, subs.plan(root))
        assert changed.updated == ["daily.lead_capture", "daily.operations_monitor"] and changed.created == []
        assert fake.pulses[daily["id"]]["channels"][0]["schedule_hour"] == 7
