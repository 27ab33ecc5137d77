"""What the provisioner sends Metabase for a compiled card or a dashboard, and how it compares with what it reads.

Payload shapes: /work/shared/METABASE_API.md (Metabase 0.50 – 0.64; its §13 overrides the rest). A card is a
native question in legacy MBQL 4 form (accepted on every version; read back with `?legacy-mbql=true`). Its field
filters are `dimension` template tags on synced field ids, so string filters offer the column's values and date
filters are real date pickers; a metric selector is a plain text variable offered as a static list.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from orchestration.bi.compiled import CompiledCard, Presentation, TemplateTag
from orchestration.bi.formats import DURATION_SUFFIXES, STATUS_COLOURS
from orchestration.bi.specs import DashboardSpec, Placement, SpecError

_ID_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4f7e-9a57-1ead0a7a1c5e")  # fixed: ids must be stable across runs
_SAME_DISPLAY = {"scalar", "smartscalar", "bar", "row", "line", "area", "pie", "funnel", "table", "combo"}
_CHARTS = {"bar", "row", "line", "area", "combo"}
HEATMAP_COLOURS = ["#FFFFFF", "#509EE3"]  # white for the lowest cell, Metabase blue for the highest


def tag_id(card_key: str, tag: str) -> str:
    """Stable template-tag id (a UUID) derived from the card key and tag name."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"card:{card_key}:tag:{tag}"))


def filter_id(dashboard_key: str, slug: str) -> str:
    """Stable dashboard-parameter id (8 hex chars, like the ones Metabase's UI makes)."""
    return uuid.uuid5(_ID_NAMESPACE, f"dashboard:{dashboard_key}:filter:{slug}").hex[:8]


def column_key(column: str) -> str:
    """Metabase's `column_settings` key for a native-query column."""
    return json.dumps(["name", column], separators=(",", ":"))


# ---------------------------------------------------------------- comparing with what Metabase returns


def _canonical_key(key: str) -> str:
    try:
        return json.dumps(json.loads(key), separators=(",", ":"))
    except ValueError:
        return key


def canonical(value: Any) -> Any:
    """A value as Metabase may return it: no null entries, `column_settings` keys in one JSON spelling."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            v = canonical(v)
            if k == "column_settings" and isinstance(v, dict):
                v = {_canonical_key(ck): cv for ck, cv in v.items()}
            out[k] = v
        return out
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def covers(actual: Any, desired: Any) -> bool:
    """`actual` (read back) says everything `desired` says: dicts may carry extra keys the server adds, lists
    match item by item. Both sides are compared in canonical form."""
    return _covers(canonical(actual), canonical(desired))


def _covers(actual: Any, desired: Any) -> bool:
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(_covers(actual.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(_covers(a, d) for a, d in zip(actual, desired, strict=False))
        )
    return actual == desired


def same(actual: Any, desired: Any) -> bool:
    """Equal in canonical form (for settings, where an extra key read back is a real difference)."""
    return canonical(actual) == canonical(desired)


# ---------------------------------------------------------------- cards


def _dimensions(card: CompiledCard) -> list[str]:
    """The chart's dimensions: the spec's `graph.dimensions` when it names them (a label column such as a
    weekday name beside its sort key), else every group-by column."""
    measures = set(card.measure_columns)
    chosen = card.visualization_settings.get("graph.dimensions")
    if isinstance(chosen, list) and chosen and all(c in card.columns for c in chosen):
        return list(chosen)
    return [c for c in card.columns if c not in measures]


def presentation_settings(p: Presentation | None) -> dict[str, Any]:
    """A metric's presentation as a Metabase `column_settings` entry (what the HTML report writes, formats.py)."""
    if p is None:
        return {}
    out: dict[str, Any] = {}
    if p.format == "percent":
        out["number_style"] = "percent"
    elif p.format == "currency":
        out.update(number_style="currency", currency=p.unit or "USD")
    if p.decimals is not None:
        out["decimals"] = p.decimals
    suffix = (DURATION_SUFFIXES[p.unit or "hours"] if p.format == "duration" else "") + p.suffix
    if suffix:
        out["suffix"] = suffix
    return out


def _column_presentation(card: CompiledCard, column: str) -> Presentation | None:
    """A column's metric presentation; a selector's `value` column has one only when every option shares it
    (Metabase formats a column one way whichever metric is chosen)."""
    if column == "value" and card.selector is not None:
        shared = {card.presentation.get(metric) for metric in card.selector.options.values()}
        return shared.pop() if len(shared) == 1 else None
    return card.presentation.get(column)


def _scalar_suffix(card: CompiledCard, display: str) -> str | None:
    """The unit of a count on a big-number tile (`19 leads`), as `scalar.suffix`."""
    if display not in ("scalar", "smartscalar"):
        return None
    measures = list(card.measure_columns)
    field = card.visualization_settings.get("scalar.field") or (measures[0] if measures else None)
    p = _column_presentation(card, field) if field in measures else None
    return f" {p.unit}" if p is not None and p.format == "number" and p.unit else None


def visualization(card: CompiledCard) -> tuple[str, dict[str, Any]]:
    """(Metabase display, visualization_settings) for a card: our display mapped to Metabase's, chart axes from
    the group-bys and measures, labels as column titles and the metrics' presentation as column formats; the
    spec's own settings win, key by key."""
    dims, measures = _dimensions(card), list(card.measure_columns)
    settings: dict[str, Any] = {}
    if card.display in _SAME_DISPLAY:
        display = card.display
    elif card.display == "stacked_bar":
        display = "bar"
        settings["stackable.stack_type"] = "stacked"
    elif card.display == "rollup":
        display = "table"
    elif card.display == "heatmap":
        if len(dims) != 2 or len(measures) != 1:
            raise SpecError(
                f"card {card.key}: a heatmap groups by two dimensions and shows one measure "
                f"(it has {dims} and {measures})"
            )
        display = "table"
        settings.update(
            {
                "table.pivot": True,
                "table.pivot_column": dims[1],
                "table.cell_column": measures[0],
                "table.column_formatting": [
                    {"columns": [measures[0]], "type": "range", "colors": HEATMAP_COLOURS, "highlight_row": False}
                ],
            }
        )
    else:  # specs.Display and this function must list the same displays
        raise SpecError(f"card {card.key}: display {card.display!r} has no Metabase visualization")
    if display == "table" and card.statuses:  # each status value in its tone's colour, as the HTML table shows it
        settings["table.column_formatting"] = settings.get("table.column_formatting", []) + [
            {
                "columns": [column],
                "type": "single",
                "operator": "=",
                "value": value,
                "color": STATUS_COLOURS[tone],
                "highlight_row": False,
            }
            for column, tones in card.statuses.items()
            for value, tone in tones.items()
        ]
    if display in _CHARTS and dims:
        settings["graph.dimensions"] = dims
        settings["graph.metrics"] = measures
    if display == "combo":
        settings["series_settings"] = {column: {"display": kind} for column, kind in card.series.items()}
    if display in ("pie", "funnel") and dims:
        settings[f"{display}.dimension"] = dims[0]
        settings[f"{display}.metric"] = measures[0]
    if suffix := _scalar_suffix(card, display):
        settings["scalar.suffix"] = suffix
    column_settings = {
        column_key(c): {"column_title": card.labels[c], **presentation_settings(_column_presentation(card, c))}
        for c in card.columns
    }
    own = dict(card.visualization_settings)
    for key, value in (own.pop("column_settings", None) or {}).items():
        key = _canonical_key(key)
        column_settings[key] = {**column_settings.get(key, {}), **value}
    settings["column_settings"] = column_settings
    settings.update(own)
    return display, settings


def template_tag(card: CompiledCard, tag: TemplateTag, field_ids: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": tag_id(card.key, tag.name), "name": tag.name, "display-name": tag.display_name}
    if tag.kind == "dimension":
        assert tag.field is not None
        out.update(
            {
                "type": "dimension",
                "dimension": ["field", field_ids[tag.field.qualified], None],
                "widget-type": tag.widget_type,
                "required": False,
            }
        )
    else:
        out.update({"type": "text", "required": tag.default is not None})
        if tag.default is not None:
            out["default"] = tag.default
    return out


def card_parameter(card: CompiledCard, tag: TemplateTag) -> dict[str, Any]:
    """The card's own parameter for a tag, derived as Metabase's front end does (fact sheet §5.6)."""
    if tag.kind == "dimension":
        return {
            "id": tag_id(card.key, tag.name),
            "type": tag.widget_type,
            "name": tag.display_name,
            "slug": tag.name,
            "target": ["dimension", ["template-tag", tag.name]],
            "required": False,
        }
    out = {
        "id": tag_id(card.key, tag.name),
        "type": "category",
        "name": tag.display_name,
        "slug": tag.name,
        "target": ["variable", ["template-tag", tag.name]],
        "required": tag.default is not None,
        "values_source_type": "static-list",
        "values_source_config": {"values": list(tag.options)},
        "values_query_type": "list",
    }
    if tag.default is not None:
        out["default"] = tag.default
    return out


def card_payload(
    card: CompiledCard, database_id: int, collection_id: int | None, field_ids: dict[str, int]
) -> dict[str, Any]:
    """The POST/PUT /api/card body (legacy MBQL 4 native query). `collection_id` None leaves it out (a card that
    lives inside one of our dashboards keeps the dashboard's collection)."""
    display, settings = visualization(card)
    payload: dict[str, Any] = {
        "name": card.name,
        "description": card.description or None,  # "" is rejected on create
        "display": display,
        "type": "question",
        "visualization_settings": settings,
        "parameters": [card_parameter(card, t) for t in card.tags],
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {
                "query": card.sql,
                "template-tags": {t.name: template_tag(card, t, field_ids) for t in card.tags},
            },
        },
    }
    if collection_id is not None:
        payload["collection_id"] = collection_id
    return payload


def legacy_query(query: Any) -> Any:
    """Legacy MBQL 4 view of a stored native query (0.57+ may return MBQL 5 `stages` despite the request)."""
    if isinstance(query, dict) and isinstance(query.get("stages"), list) and query["stages"]:
        stage = query["stages"][0]
        return {
            "type": "native",
            "database": query.get("database"),
            "native": {"query": stage.get("native"), "template-tags": stage.get("template-tags") or {}},
        }
    return query


def card_differences(payload: dict[str, Any], existing: dict[str, Any]) -> list[str]:
    """The top-level keys of `payload` that the card read back from Metabase does not match (empty: unchanged)."""
    diffs = []
    for key, desired in payload.items():
        actual = existing.get(key)
        if key == "description":
            ok = (actual or None) == desired
        elif key == "visualization_settings":
            ok = same(actual, desired)
        elif key == "dataset_query":
            actual = legacy_query(actual) or {}
            tags = (actual.get("native") or {}).get("template-tags") or {}
            ok = set(tags) == set(desired["native"]["template-tags"]) and covers(actual, desired)
        else:
            ok = covers(actual, desired)
        if not ok:
            diffs.append(key)
    return diffs


# ---------------------------------------------------------------- dashboards

_SECTION = {"date": "date", "string": "string", "number": "number"}


def selector_options(dashboard: DashboardSpec, cards: dict[str, CompiledCard]) -> dict[str, list[str]]:
    """Filter slug -> the options of the metric selectors it feeds (a static list), for selector filters."""
    options: dict[str, list[str]] = {}
    fields: set[str] = set()
    for p in dashboard.cards:
        if p.card is None:
            continue
        for slug, tag_name in p.mappings.items():
            tag = cards[p.card].tag(tag_name)
            if tag.kind == "text":
                options.setdefault(slug, [])
                options[slug] += [o for o in tag.options if o not in options[slug]]
            else:
                fields.add(slug)
    both = sorted(fields & set(options))
    if both:
        raise SpecError(
            f"dashboard {dashboard.key}: filter {both[0]!r} feeds both a metric selector and a field "
            f"filter; give the selector its own filter"
        )
    return options


def dashboard_parameters(dashboard: DashboardSpec, cards: dict[str, CompiledCard]) -> list[dict[str, Any]]:
    """The dashboard's filters as Metabase parameters: field-filter ones list the column's values, selector ones
    offer the selector's options."""
    static = selector_options(dashboard, cards)
    out = []
    for f in dashboard.filters:
        parameter: dict[str, Any] = {
            "id": filter_id(dashboard.key, f.slug),
            "name": f.name,
            "slug": f.slug,
            "type": f.type,
            "sectionId": _SECTION[f.type.split("/")[0]],
        }
        if f.slug in static:
            parameter.update(
                {
                    "values_source_type": "static-list",
                    "values_source_config": {"values": static[f.slug]},
                    "values_query_type": "list",
                }
            )
        elif f.type.startswith("string/"):
            parameter["values_query_type"] = "list"  # a dropdown of the field's values
        if f.default is not None:
            multi = f.type.startswith(("string/", "number/"))
            parameter["default"] = [f.default] if multi and not isinstance(f.default, list) else f.default
        out.append(parameter)
    return out


def mappings(dashboard: DashboardSpec, placement: Placement, card: CompiledCard, card_id: int) -> list[dict]:
    """Filter -> tag wiring of a placed card: field filters by dimension, selectors by variable."""
    out = []
    for slug, tag_name in sorted(placement.mappings.items()):
        kind = "dimension" if card.tag(tag_name).kind == "dimension" else "variable"
        out.append(
            {
                "parameter_id": filter_id(dashboard.key, slug),
                "card_id": card_id,
                "target": [kind, ["template-tag", tag_name]],
            }
        )
    return out


def text_settings(text: str) -> dict[str, Any]:
    """visualization_settings of a virtual text dashcard (Metabase's markdown text box)."""
    return {
        "virtual_card": {"display": "text", "visualization_settings": {}, "dataset_query": {}, "archived": False},
        "text": text,
    }


def placement_slots(dashboard: DashboardSpec) -> list[tuple[str, Placement]]:
    """A stable name for every placement (`card:<key>`, `card:<key>#2` for a repeat, `text:<n>`), which the state
    record maps to the dashcard id, so an edit moves or changes a dashcard rather than replacing it."""
    seen: dict[str, int] = {}
    out = []
    texts = 0
    for p in dashboard.cards:
        if p.card is not None:
            seen[p.card] = seen.get(p.card, 0) + 1
            out.append((f"card:{p.card}" + (f"#{seen[p.card]}" if seen[p.card] > 1 else ""), p))
        else:
            texts += 1
            out.append((f"text:{texts}", p))
    return out


DASHCARD_KEYS = (
    "card_id",
    "dashboard_tab_id",
    "row",
    "col",
    "size_x",
    "size_y",
    "parameter_mappings",
    "visualization_settings",
    "series",
)


def dashcard_view(dashcard: dict[str, Any]) -> dict[str, Any]:
    """The parts of a dashcard the provisioner sends (and compares)."""
    out = {k: dashcard.get(k) for k in DASHCARD_KEYS}
    out["id"] = dashcard["id"]
    out["parameter_mappings"] = out["parameter_mappings"] or []
    out["visualization_settings"] = out["visualization_settings"] or {}
    out["series"] = [{"id": s["id"]} for s in out["series"] or [] if isinstance(s, dict) and "id" in s]
    return out


def _in_order(mappings: list[dict] | None) -> list[dict]:
    return sorted(mappings or [], key=lambda m: (m.get("parameter_id"), json.dumps(m.get("target"))))


def dashcards_match(actual: Iterable[dict], desired: Iterable[dict]) -> bool:
    """The dashboard read back has exactly the desired dashcards (by id) with the desired contents."""
    actual_by_id = {dc["id"]: dc for dc in actual}
    desired = list(desired)
    if set(actual_by_id) != {dc["id"] for dc in desired}:
        return False
    for want in desired:
        have = actual_by_id[want["id"]]
        for key in DASHCARD_KEYS:
            if key == "visualization_settings":
                if not same(have.get(key) or {}, want.get(key) or {}):
                    return False
            elif key == "parameter_mappings":
                if not covers(_in_order(have.get(key)), _in_order(want.get(key))):
                    return False
            elif key == "series":
                if [s.get("id") for s in have.get(key) or []] != [s.get("id") for s in want.get(key) or []]:
                    return False
            elif have.get(key) != want.get(key):
                return False
    return True
