"""Every item of a live seed is live: its id is in the dbt project and on a card or dashboard.

docs/KPI_INVENTORY.md (a copy of the product team's inventory) lists every metric, chart, table, filter,
alert, report and rule of the five product documents with an id like `s000.total_leads`. An item is live
when its id is in the dbt project (a metric's or model's meta, a doc block, a test) and, unless it is a
rule, on a card or dashboard under metabase/. Items of kind `ops` (running the software itself) are
scoped separately and not checked. A seed joins LIVE_SEEDS when its domain is built.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration import settings

INVENTORY = settings.PROJECT_ROOT / "docs" / "KPI_INVENTORY.md"
LIVE_SEEDS = ("s000", "s002", "s003", "s004")
DBT_DIRS = ("models", "macros", "seeds", "snapshots", "tests/dbt")


def inventory() -> dict[str, str]:
    """id -> kind, from the inventory's tables."""
    items = {}
    for line in INVENTORY.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 5 and re.fullmatch(r"`s\d{3}\.[a-z0-9_.]+`", cells[1]):
            items[cells[1].strip("`")] = cells[4]
    return items


def _text_under(folders: tuple[str, ...]) -> str:
    root = settings.PROJECT_ROOT
    return "\n".join(p.read_text(errors="replace") for folder in folders if (root / folder).exists()
                     for p in sorted((root / folder).rglob("*")) if p.is_file() and p.suffix in (".yml", ".sql", ".md", ".csv"))


def _mentions(text: str, item_id: str) -> bool:
    return re.search(rf"(?<![a-z0-9_.]){re.escape(item_id)}(?![a-z0-9_.])", text) is not None


def test_the_inventory_is_the_product_teams():
    items = inventory()
    assert len(items) == 382
    assert sum(1 for kind in items.values() if kind != "ops") == 302
    shared = Path(__file__).resolve().parents[2] / "shared" / "KPI_INVENTORY.md"
    if shared.exists():  # the monorepo checkout; CI clones only this repository
        assert shared.read_text() == INVENTORY.read_text(), "docs/KPI_INVENTORY.md is out of date"


@pytest.mark.parametrize("seed", LIVE_SEEDS)
def test_every_item_of_a_live_seed_is_live(seed):
    dbt_text = _text_under(DBT_DIRS)
    bi_text = _text_under(("metabase",))
    items = {k: kind for k, kind in inventory().items() if k.startswith(f"{seed}.") and kind != "ops"}
    assert items
    missing_in_dbt = sorted(k for k in items if not _mentions(dbt_text, k))
    missing_on_dashboards = sorted(k for k, kind in items.items() if kind != "rule" and not _mentions(bi_text, k))
    assert missing_in_dbt == [], "not in the dbt project"
    assert missing_on_dashboards == [], "on no card or dashboard"
