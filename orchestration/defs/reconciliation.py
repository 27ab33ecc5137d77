"""Bison's own totals against the warehouse's, over whole pipeline months: a non-blocking Dagster asset check.

Seed 004 lists "Numbers don't match Bison dashboard" (cause: sync lag or different date boundaries; Bison uses
UTC, the dashboard CST). The dbt view `intermediate.int_bison__vendor_reconciliation` puts Bison's
`pipeline_stats_cache` figures (uploaded, emails_sent, replied, interested) beside the warehouse's count of the same
thing over the same UTC window, and the same month counted in America/Chicago. This check compares them for every
whole pipeline month (ended by the as-of moment, refreshed by Bison after its end) and warns, naming each
workspace, month and measure, when a difference exceeds the tolerance: the larger of ABSOLUTE_TOLERANCE and
RELATIVE_TOLERANCE of Bison's figure. A measure Bison did not report (null) is not compared. It never blocks:
the dashboards are still right by their own definition; the warning says where Bison and we disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from orchestration import publishing
from orchestration.defs.resources import WarehouseResource

RECONCILIATION_VIEW = "intermediate.int_bison__vendor_reconciliation"
RECONCILIATION_ASSET = AssetKey(["intermediate", "int_bison__vendor_reconciliation"])
MEASURES = ("uploaded", "emails_sent", "replied", "interested")
ABSOLUTE_TOLERANCE = 1  # a single late webhook or upload is sync lag, not a disagreement
RELATIVE_TOLERANCE = 0.01  # 1 % of Bison's figure on busy months


@dataclass(frozen=True)
class Difference:
    """One measure of one workspace's pipeline month where Bison and the warehouse differ."""

    workspace_id: int
    workspace_name: str | None
    pipeline_month: date
    measure: str
    vendor: int
    warehouse: int  # same UTC window as Bison
    warehouse_local: int  # the same pipeline month in America/Chicago

    @property
    def difference(self) -> int:
        return self.warehouse - self.vendor

    @property
    def beyond_tolerance(self) -> bool:
        return abs(self.difference) > allowed_difference(self.vendor)


@dataclass(frozen=True)
class Reconciliation:
    months_compared: int
    differences: list[Difference]  # every non-zero difference, tolerated or not

    @property
    def mismatches(self) -> list[Difference]:
        return [d for d in self.differences if d.beyond_tolerance]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def allowed_difference(vendor_value: int) -> float:
    return max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * abs(vendor_value))


def reconcile(conn) -> Reconciliation:
    """Compare every whole pipeline month of the reconciliation view (read through `conn`): the audited build's
    view during a write-audit-publish run (it runs before publishing), else the published one."""
    audited = publishing.build_relation(RECONCILIATION_VIEW)
    view = audited if conn.execute("select to_regclass(%s)", (audited,)).fetchone()[0] else RECONCILIATION_VIEW
    columns = ", ".join(f"vendor_{m}, warehouse_{m}, warehouse_{m}_local" for m in MEASURES)
    rows = conn.execute(
        f"select workspace_id, workspace_name, pipeline_month, {columns} from {view} "
        f"where is_whole_month order by workspace_name, workspace_id, pipeline_month"
    ).fetchall()
    differences = []
    for row in rows:
        workspace_id, workspace_name, month = row[:3]
        for i, measure in enumerate(MEASURES):
            vendor, warehouse, local = row[3 + 3 * i : 6 + 3 * i]
            if vendor is not None and vendor != warehouse:
                differences.append(Difference(workspace_id, workspace_name, month, measure, vendor, warehouse, local))
    return Reconciliation(months_compared=len(rows), differences=differences)


def differences_markdown(differences: list[Difference]) -> str:
    if not differences:
        return "_none_"
    lines = [
        "| workspace | pipeline month | measure | Bison | warehouse (UTC) | difference | warehouse (Chicago time) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {d.workspace_name or d.workspace_id} | {d.pipeline_month.isoformat()} | {d.measure} | {d.vendor} | "
        f"{d.warehouse} | {d.difference:+d} | {d.warehouse_local} |"
        for d in differences
    ]
    return "\n".join(lines)


def check_result(result: Reconciliation) -> AssetCheckResult:
    mismatches = result.mismatches
    tolerated = [d for d in result.differences if not d.beyond_tolerance]
    months = sorted({(d.workspace_name or str(d.workspace_id), d.pipeline_month.isoformat()) for d in mismatches})
    return AssetCheckResult(
        passed=result.passed,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{len(result.differences)} differences within tolerance over {result.months_compared} whole "
            f"pipeline months"
            if result.passed
            else f"Bison's totals differ from the warehouse's beyond tolerance in {len(months)} workspace-month(s): "
            + "; ".join(f"{w} {m}" for w, m in months)
        ),
        metadata={
            "months_compared": result.months_compared,
            "workspace_months_differing": MetadataValue.json(
                [{"workspace": w, "pipeline_month": m} for w, m in months]
            ),
            "differences_beyond_tolerance": MetadataValue.md(differences_markdown(mismatches)),
            "differences_within_tolerance": MetadataValue.md(differences_markdown(tolerated)),
            "tolerance": f"max({ABSOLUTE_TOLERANCE}, {RELATIVE_TOLERANCE:.0%} of Bison's figure) per measure",
            "how_to_read": (
                "Bison counts per pipeline (renewal) month in UTC; 'warehouse (UTC)' counts the same window, "
                "so a difference there is sync lag or data Bison has and we do not (or the reverse). "
                "'warehouse (Chicago time)' shows what the same month holds in dashboard time."
            ),
        },
    )


@asset_check(
    asset=RECONCILIATION_ASSET,
    name="bison_totals_match_vendor_aggregates",
    blocking=False,
    description=(
        "Bison's pipeline_stats_cache totals (uploaded, emails_sent, replied, interested) equal the "
        "warehouse's over every whole pipeline month, within max(1, 1 %); warns naming the workspaces and "
        "months that differ."
    ),
)
def bison_totals_match_vendor_aggregates(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        return check_result(reconcile(conn))


reconciliation_checks = [bison_totals_match_vendor_aggregates]
