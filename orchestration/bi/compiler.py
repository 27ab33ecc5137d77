"""Compiles card specs into SQL with MetricFlow, once per build, cached under `target/bi/`.

A card names metrics and group-bys; MetricFlow (dbt Semantic Layer, Python API, no cloud service) writes
the SQL from the metric definitions in the dbt project. The compiled SQL then gets two edits that make it a
Metabase question:

* every mart relation is written by its published name (`marts.fct_bot_leads`), without the database;
* the mart a card's dashboard filters apply to is read through an un-aliased sub-select carrying the field
  filters, `(select * from marts.fct_bot_leads where {{source}} and {{created}})`, because Metabase's field
  filters name the table's own columns and do not work behind MetricFlow's table aliases;

and one outer select that names the result columns and orders them (or, for a metric selector, picks the
chosen metric). Which dashboard filters a card takes, and so its filter tags, is resolved by concept before
(`orchestration.bi.concepts`). The cache key is the semantic manifest plus every card as compiled (its spec with
the filter tags its dashboards give it), so a rebuild with unchanged inputs compiles nothing.

Two additions MetricFlow has no query option for, both generic:

* **range-wide metrics** (`config.meta.range_wide: true` on a metric, e.g. the weeks in the date range): a card
  computes them once over its whole filtered range instead of per group, and a derived metric that uses one as
  an input is evaluated over the card's groups with that one value (a heatmap's "sum / weeks in the range", one
  divisor for every cell). MetricFlow would group the input like every other;
* **listed groups** (`listed_by` on a card): the group-by values of the mart's listed rows (its active entities)
  are added with 0 for the metrics, so an entity without data in the date range still appears.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestration import settings
from orchestration.bi.compiled import (
    CompiledCard,
    FieldRef,
    MetricInfo,
    Presentation,
    StatusTone,
    TemplateTag,
    Window,
    statuses_from_meta,
)
from orchestration.bi.concepts import wire
from orchestration.bi.specs import DIMENSION_FILTER_TYPES, CardSpec, DashboardSpec, SpecError, load_specs
from orchestration.dbt_project import SEMANTIC_MANIFEST, ensure_manifest

log = logging.getLogger(__name__)

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
CACHE_DIR = settings.DBT_PROJECT_DIR / "target" / "bi"
_COMPILER_VERSION = "6"  # bump when the SQL this module writes changes
_THREE_PART_NAME = re.compile(r'"[^"]+"\."[^"]+"\."[^"]+"')
_FLAG_FILTER = re.compile(r"^\{\{\s*Dimension\('([a-z0-9_]+)'\)\s*\}\}$")  # a bare boolean dimension
_DAY_OR_COARSER = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Dimension:
    """A dimension of a semantic model, resolved to the mart column behind it."""

    semantic_model: str
    entity: str
    name: str
    column: str | None  # None when its expr is not a plain column (cannot be a field filter)
    kind: str  # categorical | time
    label: str
    granularity: str | None = None  # time dimensions: hour, day, week, month, ...


@dataclass(frozen=True)
class CompiledSpecs:
    """The dashboards and their compiled cards: what the provisioner, the HTML report and the tests read."""

    cards: dict[str, CompiledCard]
    dashboards: dict[str, DashboardSpec]


class SemanticLayer:
    """The semantic manifest dbt writes, plus a MetricFlow engine that compiles queries locally."""

    def __init__(self, manifest_path: Path = SEMANTIC_MANIFEST):
        if not manifest_path.exists():
            raise SpecError(f"{manifest_path} is missing: run `lead-analytics dbt -- parse` first")
        self.raw = json.loads(manifest_path.read_text())
        self.relations: dict[str, str] = {}  # relation_name as MetricFlow writes it -> published name
        self.dimensions: dict[str, Dimension] = {}  # "<entity>__<dimension>" -> Dimension
        self.metrics: dict[str, dict] = {m["name"]: m for m in self.raw["metrics"]}
        self.presentations: dict[str, Presentation] = {  # every metric's, so a bad one fails before any card
            name: Presentation.from_meta(name, (m.get("config") or {}).get("meta") or {})
            for name, m in self.metrics.items()
        }
        self.measure_models: dict[str, str] = {}  # measure -> semantic model
        self.statuses: dict[str, dict[str, StatusTone]] = {}  # "<entity>__<dimension>" -> status value -> tone
        for model in self.raw["semantic_models"]:
            self._add_relation(model["node_relation"])
            primaries = [e["name"] for e in model["entities"] if e["type"] in ("primary", "unique", "natural")]
            for measure in model.get("measures") or []:
                self.measure_models[measure["name"]] = model["name"]
            for entity in primaries:
                for dim in model.get("dimensions") or []:
                    expr = (dim.get("expr") or dim["name"]).strip()
                    column = expr if expr.replace("_", "").isalnum() and not expr[0].isdigit() else None
                    self.dimensions[f"{entity}__{dim['name']}"] = Dimension(
                        model["name"],
                        entity,
                        dim["name"],
                        column,
                        dim["type"].lower(),
                        dim.get("label") or dim["name"].replace("_", " ").capitalize(),
                        (dim.get("type_params") or {}).get("time_granularity"),
                    )
                    tones = statuses_from_meta(dim["name"], (dim.get("config") or {}).get("meta") or {})
                    if tones:
                        self.statuses[f"{entity}__{dim['name']}"] = tones
        self._spine_dates: dict[str, str] = {}  # relation name of a time spine -> its date column
        for spine in self.raw["project_configuration"].get("time_spines") or []:
            self._add_relation(spine["node_relation"])
            self._spine_dates[spine["node_relation"]["relation_name"]] = spine["primary_column"]["name"]
        self._models = {m["name"]: m for m in self.raw["semantic_models"]}
        self._engine = None

    def _add_relation(self, node_relation: dict) -> None:
        schema = node_relation["schema_name"]
        if not schema.startswith(settings.MARTS_SCHEMA):
            raise SpecError(f"semantic model on {node_relation['relation_name']}: semantic models read marts only")
        self.relations[node_relation["relation_name"]] = f"{settings.MARTS_SCHEMA}.{node_relation['alias']}"

    def model_relation(self, semantic_model: str) -> tuple[str, str]:
        """(relation name as MetricFlow writes it, published name) of a semantic model's mart."""
        relation = self._models[semantic_model]["node_relation"]
        return relation["relation_name"], self.relations[relation["relation_name"]]

    def _metric(self, metric: str) -> dict:
        spec = self.metrics.get(metric)
        if spec is None:
            raise SpecError(f"unknown metric {metric!r}")
        return spec

    @staticmethod
    def _inputs(spec: dict) -> list[dict]:
        """The metric references a ratio (numerator, denominator) or derived metric (its metrics) is computed from."""
        params = spec["type_params"]
        return [params[k] for k in ("numerator", "denominator") if params.get(k)] + (params.get("metrics") or [])

    def metric_models(self, metric: str) -> set[str]:
        """The semantic models whose measures a metric reads (through ratios and derived metrics)."""
        spec = self._metric(metric)
        measure = spec["type_params"].get("measure")
        out = {self.measure_models[measure["name"]]} if measure else set()
        for child in self._inputs(spec):
            out |= self.metric_models(child["name"])
        return out

    def measure_uses(
        self, metric: str, narrowed: frozenset[str] = frozenset()
    ) -> set[tuple[str | None, frozenset[str]]]:
        """(measure, how it is narrowed) for every simple metric a metric is computed from: the filters, offsets
        and time-spine joins met on the way down (the metrics' own, their measures', and those a ratio or derived
        metric puts on its inputs). A metric of another type (cumulative, conversion) is reported as the measure
        `None`, which `passes_through` refuses: it is computed in a branch of its own."""
        spec = self._metric(metric)
        if spec["type"] not in ("simple", "ratio", "derived"):
            return {(None, narrowed)}
        if spec.get("filter"):
            narrowed |= {json.dumps(spec["filter"], sort_keys=True)}
        measure = spec["type_params"].get("measure")
        if measure:
            own = {k: measure.get(k) for k in ("filter", "join_to_timespine") if measure.get(k)}
            return {(measure["name"], narrowed | ({json.dumps(own, sort_keys=True)} if own else set()))}
        out: set[tuple[str | None, frozenset[str]]] = set()
        for child in self._inputs(spec):
            on_input = {
                json.dumps({k: child[k]}, sort_keys=True, default=str)
                for k in ("filter", "offset_window", "offset_to_grain")
                if child.get(k) is not None
            }
            out |= self.measure_uses(child["name"], narrowed | on_input)
        return out

    def passes_through(self, metrics: Iterable[str]) -> bool:
        """Whether MetricFlow may compute the metrics from one aggregation of each measure (its passthrough
        metric evaluation, off by default): only for simple, ratio and derived metrics, and only when no measure is
        read twice, narrowed two ways. A funnel's steps (one measure, a filter per step) compile to a repeated
        column with it (D203)."""
        narrowings: dict[str | None, set[frozenset[str]]] = {}
        for metric in metrics:
            for measure, narrowed in self.measure_uses(metric):
                narrowings.setdefault(measure, set()).add(narrowed)
        return None not in narrowings and all(len(ways) == 1 for ways in narrowings.values())

    def card_models(self, metrics: Iterable[str]) -> set[str]:
        """The semantic models whose marts a card's metrics read, besides the calendar and the as-of moment."""
        return set().union(*(self.metric_models(m) for m in metrics)) - {"calendar", "as_of"}

    def dimension_named(self, semantic_model: str, names: Iterable[str]) -> str | None:
        """The first of `names` that is a dimension on a column of the model's mart, as `<entity>__<name>`."""
        for name in names:
            for key, dim in self.dimensions.items():
                if dim.semantic_model == semantic_model and dim.name == name and dim.column is not None:
                    return key
        return None

    def date_dimension(self, semantic_model: str) -> str | None:
        """The time dimension a date filter narrows in a model: its aggregation time dimension when that is by
        day or coarser (a date filter picks whole days), else its one time dimension that is."""
        days = {
            key: dim
            for key, dim in self.dimensions.items()
            if dim.semantic_model == semantic_model
            and dim.kind == "time"
            and dim.column is not None
            and dim.granularity in _DAY_OR_COARSER
        }
        default = (self._models[semantic_model].get("defaults") or {}).get("agg_time_dimension")
        chosen = [key for key, dim in days.items() if dim.name == default] or sorted(days)
        return chosen[0] if len(chosen) == 1 else None

    def metric_windows(self, metric: str) -> tuple[Window, ...]:
        """The calendar windows a metric is restricted to: filters on a boolean dimension of a time-spine
        table (`{{ Dimension('calendar_date__is_month_to_date') }}`), its own and those of the metrics it
        is computed from, in definition order."""
        spec = self.metrics[metric]
        found: list[Window] = []
        for where in (spec.get("filter") or {}).get("where_filters") or []:
            match = _FLAG_FILTER.match(where["where_sql_template"].strip())
            dim = self.dimensions.get(match[1]) if match else None
            if dim is None or dim.column is None:
                continue
            relation, published = self.model_relation(dim.semantic_model)
            if relation in self._spine_dates:
                found.append(
                    Window(
                        label=dim.label,
                        table=published,
                        date_column=self._spine_dates[relation],
                        flag_column=dim.column,
                    )
                )
        params = spec["type_params"]
        children = [params[k]["name"] for k in ("numerator", "denominator") if params.get(k)]
        children += [child["name"] for child in params.get("metrics") or []]
        for child in children:
            found += self.metric_windows(child)
        return tuple(dict.fromkeys(found))

    def is_range_wide(self, metric: str) -> bool:
        """A metric computed once over a card's whole filtered range (`config.meta.range_wide`)."""
        meta = ((self.metrics.get(metric) or {}).get("config") or {}).get("meta") or {}
        return bool(meta.get("range_wide"))

    def fills_nulls_with_zero(self, metric: str) -> bool:
        """A simple metric whose measure says an empty result is 0 (`fill_nulls_with: 0`)."""
        spec = self.metrics[metric]
        measure = spec["type_params"].get("measure") or {}
        return spec["type"] == "simple" and measure.get("fill_nulls_with") == 0

    def engine(self):
        if self._engine is None:
            for name in ("metricflow", "metricflow_semantics"):  # it logs every step of every query at INFO
                logging.getLogger(name).setLevel(logging.WARNING)
            from metricflow.engine.metricflow_engine import MetricFlowEngine
            from metricflow.protocols.sql_client import SqlEngine
            from metricflow.sql.render.postgres import PostgresSQLSqlPlanRenderer
            from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
            from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

            class CompileOnlyClient:
                """MetricFlow needs a SQL client for its dialect; compiling never runs a query."""

                sql_engine_type = SqlEngine.POSTGRES
                sql_plan_renderer = PostgresSQLSqlPlanRenderer()

                def __getattr__(self, name: str):
                    raise RuntimeError(f"compile-only MetricFlow client: {name} is not available")

            manifest = parse_manifest_from_dbt_generated_manifest(json.dumps(self.raw))
            self._engine = MetricFlowEngine(
                semantic_manifest_lookup=SemanticManifestLookup(manifest), sql_client=CompileOnlyClient()
            )
        return self._engine

    def explain(
        self,
        metrics: list[str],
        group_by: list[str] | None = None,
        where: list[str] | None = None,
        order_by: list[str] | None = None,
        limit: int | None = None,
    ) -> str:
        """MetricFlow's SQL for a metric query, relations as MetricFlow writes them. Metrics computed from the
        same measures are evaluated from one aggregation of each where `passes_through` allows it (D203)."""
        from metricflow.dataflow.optimizer.dataflow_optimizer_factory import DataflowPlanOptimization
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        request = MetricFlowQueryRequest.create(
            metric_names=metrics,
            group_by_names=group_by or None,
            where_constraints=where or None,
            order_by_names=order_by or None,
            limit=limit,
            dataflow_plan_optimizations=(
                set(DataflowPlanOptimization.all_optimizations()) if self.passes_through(metrics) else None
            ),
        )
        return self.engine().explain(request).sql_statement.sql

    def publish(self, sql: str, filtered: dict[str, str] | None = None) -> str:
        """Write every relation by its published name; `filtered` maps a semantic model to the field-filter
        condition its mart is read through (an un-aliased sub-select Metabase can fill in)."""
        filtered = filtered or {}
        for relation, published in self.relations.items():
            replacement = published
            for model, condition in filtered.items():
                if self.model_relation(model)[0] == relation:
                    replacement = f"(select * from {published} where {condition})"
            sql = sql.replace(relation, replacement)
        leftover = _THREE_PART_NAME.findall(sql)
        if leftover:
            raise SpecError(
                f"compiled SQL reads a relation that is not a semantic model or time spine: {sorted(set(leftover))}"
            )
        return sql

    def metric_sql(self, metrics: list[str], group_by: list[str] | None = None) -> str:
        """Runnable SQL for metrics (optionally grouped), unfiltered: for analysts and tests."""
        return self.publish(self.explain(metrics, group_by))


# ---------------------------------------------------------------- one card


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _filter_tags(spec: CardSpec, layer: SemanticLayer) -> dict[str, list[TemplateTag]]:
    """The card's field-filter tags, grouped by the semantic model whose mart they filter."""
    models_read = set().union(*(layer.metric_models(m) for m in spec.metrics))
    by_model: dict[str, list[TemplateTag]] = {}
    for tag_name, card_filter in spec.filters.items():
        dim = layer.dimensions.get(card_filter.dimension)
        if dim is None:
            raise SpecError(
                f"card {spec.key}: filter {tag_name!r}: unknown dimension {card_filter.dimension!r} "
                f"(write <entity>__<dimension>, e.g. lead__source)"
            )
        if dim.column is None:
            raise SpecError(
                f"card {spec.key}: filter {tag_name!r}: {card_filter.dimension} is an expression, "
                f"not a mart column, so Metabase cannot filter it; add the column to the mart"
            )
        if dim.semantic_model not in models_read:
            raise SpecError(
                f"card {spec.key}: filter {tag_name!r} on {card_filter.dimension} does not filter any "
                f"metric of the card (they read {sorted(models_read)})"
            )
        others = models_read - {dim.semantic_model} - {"calendar", "as_of"}
        if others:
            raise SpecError(
                f"card {spec.key}: filter {tag_name!r} would filter {dim.semantic_model} but not "
                f"{sorted(others)}; split the card or put both measures in one mart"
            )
        kind = "time" if dim.kind == "time" else "categorical"
        widget = card_filter.widget or ("date/all-options" if kind == "time" else "string/=")
        if widget not in DIMENSION_FILTER_TYPES[kind] and widget not in DIMENSION_FILTER_TYPES["number"]:
            raise SpecError(f"card {spec.key}: filter {tag_name!r}: widget {widget} does not fit a {kind} dimension")
        _, published = layer.model_relation(dim.semantic_model)
        schema, table = published.split(".")
        data_type = "date" if kind == "time" else ("number" if widget.startswith("number/") else "text")
        by_model.setdefault(dim.semantic_model, []).append(
            TemplateTag(
                name=tag_name,
                display_name=card_filter.label or dim.label,
                kind="dimension",
                widget_type=widget,
                field=FieldRef(schema_name=schema, table=table, column=dim.column),
                data_type=data_type,
                dimension=card_filter.dimension,
            )
        )
    return by_model


def _selector_tag(spec: CardSpec, layer: SemanticLayer) -> TemplateTag | None:
    if spec.selector is None:
        return None
    labels = dict(spec.selector.options)
    return TemplateTag(
        name=spec.selector.tag,
        display_name=spec.selector.label,
        kind="text",
        widget_type="string/=",
        default=labels[spec.selector.default],
        options={label: m for m, label in labels.items()},
    )


def _order_clause(spec: CardSpec) -> str:
    by_name = {g.name: g.column for g in spec.group_by}
    items = []
    for item in spec.order_by or [g.name for g in spec.group_by]:
        name = item.lstrip("-")
        column = by_name.get(name, name)
        if spec.selector and column in spec.metrics:
            column = "value"
        items.append(f"{_quote(column)}{' desc' if item.startswith('-') else ''}")
    return ("\norder by " + ", ".join(items)) if items else ""


def _indented(sql: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in sql.strip().splitlines())


def _explain(spec: CardSpec, layer: SemanticLayer, metrics: list[str], group_by: list[str], ordered: bool) -> str:
    try:
        return layer.explain(
            metrics,
            group_by,
            spec.where,
            spec.order_by if ordered and spec.limit else None,
            spec.limit if ordered else None,
        )
    except Exception as exc:  # MetricFlow's own message says what is wrong with the query
        message = " ".join(str(exc).split())
        raise SpecError(f"card {spec.key}: MetricFlow cannot compile it: {message[:600]}") from None


def _range_wide_plan(spec: CardSpec, layer: SemanticLayer) -> tuple[list[str], list[str], dict[str, str]] | None:
    """(metrics per group, range-wide metrics, SQL expression of each card metric over both), or None when no
    card metric is or uses a range-wide metric."""
    grouped: list[str] = []
    wide: list[str] = []
    expressions: dict[str, str] = {}

    def add(names: list[str], name: str) -> None:
        if name not in names:
            names.append(name)

    for metric in spec.metrics:
        definition = layer.metrics.get(metric)
        if definition is None:
            raise SpecError(f"card {spec.key}: unknown metric {metric!r}")
        inputs = definition["type_params"].get("metrics") or []
        if layer.is_range_wide(metric):
            add(wide, metric)
            expressions[metric] = _quote(metric)
        elif definition["type"] == "derived" and any(layer.is_range_wide(i["name"]) for i in inputs):
            for i in inputs:
                if i.get("alias") or i.get("filter") or i.get("offset_window") or i.get("offset_to_grain"):
                    raise SpecError(
                        f"card {spec.key}: metric {metric} combines a range-wide input with input "
                        f"{i['name']} that has an alias, filter or offset; not supported"
                    )
                add(wide if layer.is_range_wide(i["name"]) else grouped, i["name"])
            expressions[metric] = f"({definition['type_params']['expr']})"
        else:
            add(grouped, metric)
            expressions[metric] = _quote(metric)
    if not wide:
        return None
    if spec.group_by and not grouped:
        raise SpecError(f"card {spec.key}: a grouped card needs a metric that is not range-wide")
    return grouped, wide, expressions


def _range_wide_sql(
    spec: CardSpec, layer: SemanticLayer, plan: tuple[list[str], list[str], dict[str, str]], conditions: dict[str, str]
) -> str:
    """The card's metrics per group, with the range-wide inputs computed once over the filtered range and
    joined to every group (the filters apply to both queries)."""
    grouped, wide, expressions = plan
    wide_sql = layer.publish(_explain(spec, layer, wide, [], ordered=False), conditions)
    columns = [f"{_quote(g.name)}" for g in spec.group_by]
    columns += [f"{expressions[m]} as {_quote(m)}" for m in spec.metrics]
    if not grouped:
        return f"select {', '.join(columns)}\nfrom (\n{_indented(wide_sql)}\n) as range_wide"
    grouped_sql = layer.publish(
        _explain(spec, layer, grouped, [g.name for g in spec.group_by], ordered=True), conditions
    )
    return (
        f"select {', '.join(columns)}\nfrom (\n{_indented(grouped_sql)}\n) as grouped\n"
        f"cross join (\n{_indented(wide_sql)}\n) as range_wide"
    )


def _listed_groups_sql(
    spec: CardSpec, layer: SemanticLayer, sql: str, tags_by_model: dict[str, list[TemplateTag]]
) -> str:
    """`sql` (one row per group) plus the groups of the listed rows of the card's mart, with 0 for the metrics.
    The listed rows take the card's filters except the date filters (an active entity is listed whatever the
    date range)."""
    listed = layer.dimensions.get(spec.listed_by or "")
    if listed is None or listed.column is None:
        raise SpecError(f"card {spec.key}: listed_by {spec.listed_by!r} is not a dimension on a mart column")
    models_read = set().union(*(layer.metric_models(m) for m in spec.metrics)) - {"calendar", "as_of"}
    if models_read != {listed.semantic_model}:
        raise SpecError(
            f"card {spec.key}: listed_by {spec.listed_by} is on {listed.semantic_model}, but the "
            f"card's metrics read {sorted(models_read)}"
        )
    unfilled = [m for m in spec.metrics if not layer.fills_nulls_with_zero(m)]
    if unfilled:
        raise SpecError(
            f"card {spec.key}: listed groups show 0 for their metrics, so every metric must be a simple "
            f"metric with fill_nulls_with: 0; not {unfilled}"
        )
    columns = []
    for g in spec.group_by:
        dim = layer.dimensions.get(g.name)
        if dim is None or dim.column is None or dim.semantic_model != listed.semantic_model:
            raise SpecError(
                f"card {spec.key}: with listed_by every group-by must be a column of "
                f"{listed.semantic_model}; {g.name} is not"
            )
        columns.append(f"{_quote(dim.column)} as {_quote(g.name)}")
    _, published = layer.model_relation(listed.semantic_model)
    conditions = [_quote(listed.column)] + [
        "{{" + t.name + "}}"
        for t in tags_by_model.get(listed.semantic_model, [])
        if not t.widget_type.startswith("date/")
    ]
    groups = ", ".join(_quote(g.name) for g in spec.group_by)
    metrics = ", ".join(_quote(m) for m in spec.metrics)
    nulls = ", ".join("null" for _ in spec.metrics)
    body = _indented(sql)
    return (
        f"select {groups}, {', '.join(f'coalesce(max({_quote(m)}), 0) as {_quote(m)}' for m in spec.metrics)}\n"
        f"from (\n  select {groups}, {metrics}\n  from (\n{body}\n  ) as metricflow\n"
        f"  union all\n  select {groups}, {nulls}\n  from (\n    select distinct {', '.join(columns)}\n"
        f"    from {published}\n    where {' and '.join(conditions)}\n  ) as listed\n"
        f") as listed_groups\ngroup by {groups}"
    )


def compile_card(spec: CardSpec, layer: SemanticLayer) -> CompiledCard:
    plan = _range_wide_plan(spec, layer)
    if plan is None:
        sql = _explain(spec, layer, list(spec.metrics), [g.name for g in spec.group_by], ordered=True)
    tags_by_model = _filter_tags(spec, layer)
    conditions = {model: " and ".join("{{" + t.name + "}}" for t in tags) for model, tags in tags_by_model.items()}
    try:
        sql = layer.publish(sql, conditions) if plan is None else _range_wide_sql(spec, layer, plan, conditions)
    except SpecError as exc:
        message = str(exc)
        raise SpecError(message if message.startswith(f"card {spec.key}:") else f"card {spec.key}: {message}") from None
    if spec.listed_by:
        if plan is not None:
            raise SpecError(f"card {spec.key}: listed_by cannot be combined with range-wide metrics")
        sql = _listed_groups_sql(spec, layer, sql, tags_by_model)

    dims = [f"{_quote(g.name)} as {_quote(g.column)}" for g in spec.group_by]
    if spec.selector:
        cases = " ".join(
            f"when '{label.replace(chr(39), chr(39) * 2)}' then {_quote(metric)}"
            for metric, label in spec.selector.options.items()
        )
        measures = ["case {{" + spec.selector.tag + "}} " + cases + ' end as "value"']
    else:
        measures = [_quote(m) for m in spec.metrics]
    body = _indented(sql, "  ")
    final = (
        f"-- card {spec.key}: compiled by MetricFlow from metrics {', '.join(spec.metrics)}\n"
        f"select {', '.join(dims + measures)}\nfrom (\n{body}\n) as metricflow{_order_clause(spec)}"
    )

    tags = [t for ts in tags_by_model.values() for t in ts]
    selector = _selector_tag(spec, layer)
    if selector:
        tags.append(selector)
    metrics = tuple(
        MetricInfo(
            name=m,
            label=layer.metrics[m].get("label") or m,
            description=" ".join((layer.metrics[m].get("description") or "").split()),
            windows=layer.metric_windows(m),
        )
        for m in spec.metrics
    )
    labels: dict[str, str] = {}
    for g in spec.group_by:
        dim = layer.dimensions.get(g.name)
        labels[g.column] = spec.labels.get(g.column) or (dim.label if dim else g.column.replace("_", " ").capitalize())
    for m in metrics:
        labels[m.name] = spec.labels.get(m.name) or m.label
    if spec.selector:
        labels["value"] = spec.labels.get("value") or spec.selector.label
    relations = sorted({p for p in layer.relations.values() if re.search(rf"\b{re.escape(p)}\b", final)})
    return CompiledCard(
        key=spec.key,
        name=spec.name,
        description=spec.description.strip() or metrics[0].description,
        notes=" ".join(spec.notes.split()),
        ignores=dict(spec.ignores),
        kpis=tuple(spec.kpis),
        display=spec.display,
        sql=final,
        tags=tuple(tags),
        columns=tuple(spec.output_columns),
        labels={c: labels[c] for c in spec.output_columns},
        series=dict(spec.series),
        metrics=metrics,
        relations=tuple(relations),
        visualization_settings=dict(spec.visualization_settings),
        presentation={m: layer.presentations[m] for m in spec.metrics},
        statuses={g.column: layer.statuses[g.name] for g in spec.group_by if g.name in layer.statuses},
        time_grain=next(
            (
                g.name.rsplit("__", 1)[1]
                for g in spec.group_by
                if g.name.startswith("metric_time__")
                and g.name.rsplit("__", 1)[1] in ("hour", "day", "week", "month", "quarter", "year")
            ),
            None,
        ),
    )


def _check_dashboards(dashboards: dict[str, DashboardSpec], cards: dict[str, CompiledCard]) -> None:
    """A dashboard filter and the card tag it feeds must have the same Metabase type."""
    for dashboard in dashboards.values():
        for placement in dashboard.cards:
            if placement.card is None:
                continue
            card = cards[placement.card]
            for slug, tag_name in placement.mappings.items():
                tag = card.tag(tag_name)
                filter_type = dashboard.filter(slug).type
                if tag.widget_type != filter_type:
                    raise SpecError(
                        f"dashboard {dashboard.key}: filter {slug!r} is {filter_type} but card "
                        f"{card.key} tag {tag_name!r} takes {tag.widget_type} (set its `widget`)"
                    )


# ---------------------------------------------------------------- all cards, cached


def _cache_key(cards: dict[str, CardSpec], manifest_path: Path) -> str:
    """The compiler version, the semantic manifest and every card as compiled: with the tags its dashboards give
    it, so moving a card on a dashboard recompiles nothing, while a filter it newly takes does."""
    digest = hashlib.sha256(_COMPILER_VERSION.encode())
    digest.update(manifest_path.read_bytes())
    digest.update(
        json.dumps(
            {k: {**c.model_dump(mode="json"), "key": k} for k, c in sorted(cards.items())}, sort_keys=True
        ).encode()
    )
    return digest.hexdigest()[:20]


def _read_cache(cache: Path | None) -> dict[str, CompiledCard] | None:
    """The cached cards, or None when there is no cache or it does not fit CompiledCard any more (the shape
    changed without a _COMPILER_VERSION bump): compiling again is the answer, not an error."""
    if cache is None or not cache.exists():
        return None
    try:
        return {k: CompiledCard.model_validate(v) for k, v in json.loads(cache.read_text()).items()}
    except ValueError:  # bad JSON, or a pydantic ValidationError
        return None


def compile_specs(
    specs_dir: Path = SPECS_DIR, manifest_path: Path = SEMANTIC_MANIFEST, cache_dir: Path | None = CACHE_DIR
) -> CompiledSpecs:
    """Every card of `specs_dir` compiled (from the cache when neither the cards nor the semantic manifest
    changed), with the dashboard filters it takes resolved by concept, and the dashboards with every
    placement's `mappings` filled in."""
    specs = load_specs(specs_dir)
    if manifest_path == SEMANTIC_MANIFEST:
        ensure_manifest()
    layer = SemanticLayer(manifest_path)
    wiring = wire(specs, layer)
    key = _cache_key(wiring.cards, manifest_path)
    cache = cache_dir / f"cards-{key}.json" if cache_dir else None
    cards = _read_cache(cache)
    if cards is None:
        started = time.perf_counter()
        cards = {k: compile_card(spec, layer) for k, spec in wiring.cards.items()}
        log.info("compiled %d cards with MetricFlow in %.1fs", len(cards), time.perf_counter() - started)
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            for old in cache.parent.glob("cards-*.json"):
                old.unlink(missing_ok=True)  # another process (a Dagster step, a test worker) may be here too
            # written whole, then renamed: a reader never sees half a cache
            partial = cache.with_name(f".{cache.name}.{os.getpid()}")
            partial.write_text(json.dumps({k: c.model_dump(mode="json") for k, c in cards.items()}, indent=1))
            partial.replace(cache)
    _check_dashboards(wiring.dashboards, cards)
    return CompiledSpecs(cards=cards, dashboards=wiring.dashboards)


def marts_read(compiled: CompiledSpecs, dashboards: Iterable[str] | None = None) -> list[str]:
    """The mart tables (`marts.x`) the cards of the given dashboards (default all) read."""
    keys = set(dashboards) if dashboards is not None else set(compiled.dashboards)
    out: set[str] = set()
    for key in keys:
        for placement in compiled.dashboards[key].cards:
            if placement.card:
                out.update(compiled.cards[placement.card].relations)
    return sorted(out)
