"""Metabase card and dashboard specs as code: load, validate, and render their SQL for psycopg.

The YAML format is documented in `metabase/README.md`. This module has no Metabase dependency: the
provisioner (`orchestration.bi.metabase`) turns the dataclasses into API payloads, tests run
every card's SQL against the warehouse with `render_sql`, and the HTML report renders dashboards
from the same objects.

Template syntax (a subset of Metabase's native-query syntax):

* `{{name}}` is a variable (a Metabase template tag of type `text`, `number` or `date`);
* `[[ ... ]]` is an optional clause: kept when every variable inside has a value, dropped otherwise.
  Optional clauses do not nest and must contain at least one variable.

Snippets (`{{snippet: x}}`), card references (`{{#12}}`) and field filters are not supported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Union

import yaml

VARIABLE_TYPES = ("text", "number", "date")

# Metabase parameter types (lib `parameter/types`, METABASE_API.md §6.3) usable on a dashboard filter,
# grouped by the template-tag type a filter of that type may feed.
FILTER_TYPES_BY_TAG_TYPE: dict[str, tuple[str, ...]] = {
    "date": ("date/single", "date/all-options", "date", "date/range", "date/relative",
             "date/month-year", "date/quarter-year"),
    "text": ("string/=", "string/!=", "string/contains", "string/does-not-contain",
             "string/starts-with", "string/ends-with", "category", "text", "id",
             "location/city", "location/state", "location/zip_code", "location/country"),
    "number": ("number/=", "number/!=", "number/<=", "number/>=", "number", "category", "id"),
}
FILTER_TYPES = tuple(sorted({t for types in FILTER_TYPES_BY_TAG_TYPE.values() for t in types}))

GRID_WIDTH = 24  # Metabase dashboards are 24 columns wide

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KPI_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
_KEY = re.compile(r"^[a-z0-9_]+(__[a-z0-9_]+)?$")


class SpecError(ValueError):
    """A card or dashboard spec is invalid; the message names the file and the problem."""


class RenderError(ValueError):
    """A card cannot be rendered with the given values (missing or malformed variable)."""


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Parameter:
    """One template tag of a card: `{{name}}` in its SQL."""

    name: str
    type: str  # text | number | date
    display_name: str
    default: Any = None


@dataclass(frozen=True)
class Card:
    """One native-SQL question. `key` is the file stem (`<area>__<name>`), its identity in code."""

    key: str
    name: str
    description: str
    kpis: tuple[str, ...]
    display: str
    sql: str
    parameters: tuple[Parameter, ...]
    visualization_settings: dict = field(default_factory=dict, hash=False, compare=True)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(f"card {self.key!r} has no parameter {name!r}")

    @property
    def required_variables(self) -> tuple[str, ...]:
        """Variables used outside every optional clause (a query cannot run without them)."""
        return tuple(dict.fromkeys(v for v in _variables(_parse(self.sql), optional=False)))


@dataclass(frozen=True)
class Filter:
    """A dashboard filter (a Metabase dashboard parameter)."""

    slug: str
    name: str
    type: str  # a Metabase parameter type, e.g. date/single, string/=
    default: Any = None


@dataclass(frozen=True)
class DashboardCard:
    """A card placed on a dashboard grid; `mappings` maps filter slug → template tag of the card."""

    card: str
    row: int
    col: int
    size_x: int
    size_y: int
    mappings: dict[str, str] = field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class Dashboard:
    key: str
    name: str
    description: str
    collection: str
    filters: tuple[Filter, ...]
    cards: tuple[DashboardCard, ...]

    def filter(self, slug: str) -> Filter:
        for f in self.filters:
            if f.slug == slug:
                return f
        raise KeyError(f"dashboard {self.key!r} has no filter {slug!r}")


@dataclass(frozen=True)
class Specs:
    """All cards and dashboards of one specs directory, cross-validated."""

    cards: dict[str, Card]
    dashboards: dict[str, Dashboard]


# ---------------------------------------------------------------- template parsing

# A parsed template is a list of segments: ("text", str) | ("var", name) | ("optional", [segments]).
Segment = tuple[str, Union[str, list]]

_TOKEN = re.compile(r"\[\[|\]\]|\{\{(.*?)\}\}", re.DOTALL)


def _parse(sql: str) -> list[Segment]:
    """Split SQL into text, variables and optional clauses; raises SpecError on bad syntax."""
    top: list[Segment] = []
    current = top
    in_optional = False
    pos = 0
    for match in _TOKEN.finditer(sql):
        if match.start() > pos:
            current.append(("text", sql[pos:match.start()]))
        token = match.group(0)
        if token == "[[":
            if in_optional:
                raise SpecError("optional clauses '[[ ... ]]' cannot be nested")
            block: list[Segment] = []
            top.append(("optional", block))
            current, in_optional = block, True
        elif token == "]]":
            if not in_optional:
                raise SpecError("found ']]' with no matching '[['")
            if not list(_variables(current, optional=True)):
                raise SpecError("an optional clause '[[ ... ]]' must contain a {{variable}}")
            current, in_optional = top, False
        else:
            name = match.group(1).strip()
            if not _NAME.match(name):
                raise SpecError(f"unsupported template tag {token!r} (only {{{{variable}}}} is supported)")
            current.append(("var", name))
        pos = match.end()
    if in_optional:
        raise SpecError("'[[' with no matching ']]'")
    if pos < len(sql):
        current.append(("text", sql[pos:]))
    return top


def _variables(segments: list[Segment], optional: bool):
    """Variable names in order; with optional=False only those outside optional clauses."""
    for kind, value in segments:
        if kind == "var":
            yield value
        elif kind == "optional" and optional:
            yield from _variables(value, optional=True)


def template_variables(sql: str) -> tuple[str, ...]:
    """Every variable in a SQL template, first occurrence order, without duplicates."""
    return tuple(dict.fromkeys(_variables(_parse(sql), optional=True)))


# ---------------------------------------------------------------- rendering


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != ()


def _coerce(card: Card, parameter: Parameter, value: Any) -> Any:
    """Turn a value into the Python type psycopg binds as the variable's SQL type."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise RenderError(f"card {card.key!r}: variable {parameter.name!r} takes one value, got {list(value)!r}")
        value = value[0]
    try:
        if parameter.type == "date":
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            return date.fromisoformat(str(value))
        if parameter.type == "number":
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return Decimal(str(value))
        return str(value)
    except (ValueError, InvalidOperation) as exc:
        raise RenderError(
            f"card {card.key!r}: variable {parameter.name!r} ({parameter.type}) got {value!r}: {exc}"
        ) from None


def render_sql(card: Card, values: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Render a card's SQL for psycopg: `{{var}}` → `%(var)s`, optional clauses kept or dropped.

    A variable's value is `values[name]`, or the parameter's default when that is missing/None/"".
    An optional clause is kept only when all its variables have a value. A variable outside optional
    clauses with no value raises RenderError naming it. Values are typed: date → `datetime.date`,
    number → `Decimal` (bound as numeric), text → `str`; a one-element list counts as its element.
    Literal `%` in the SQL is doubled, so always pass the returned dict to `execute`, even if empty.
    """
    values = dict(values or {})
    declared = {p.name: p for p in card.parameters}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise RenderError(f"card {card.key!r} has no variable(s) {', '.join(unknown)}")

    effective: dict[str, Any] = {}
    for name, parameter in declared.items():
        value = values.get(name)
        if not _has_value(value):
            value = parameter.default
        if _has_value(value):
            effective[name] = _coerce(card, parameter, value)

    params: dict[str, Any] = {}
    parts: list[str] = []

    def emit(segments: list[Segment]) -> None:
        for kind, value in segments:
            if kind == "text":
                parts.append(value.replace("%", "%%"))
            elif kind == "var":
                if value not in effective:
                    raise RenderError(
                        f"card {card.key!r} needs a value for variable {value!r} (no value and no default)"
                    )
                params[value] = effective[value]
                parts.append(f"%({value})s")
            elif all(v in effective for v in _variables(value, optional=True)):
                emit(value)

    emit(_parse(card.sql))
    return "".join(parts), params


def card_values(dashboard: Dashboard, dashcard: DashboardCard, filter_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template-tag values a dashcard runs with: each mapped filter's value, else its default."""
    filter_values = filter_values or {}
    out: dict[str, Any] = {}
    for slug, tag in dashcard.mappings.items():
        value = filter_values.get(slug)
        if not _has_value(value):
            value = dashboard.filter(slug).default
        if _has_value(value):
            out[tag] = value
    return out


# ---------------------------------------------------------------- loading and validation


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return data


def _check_keys(path: Path, where: str, data: dict, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(data))
    if missing:
        raise SpecError(f"{path}: {where}missing key(s) {', '.join(missing)}")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise SpecError(f"{path}: {where}unknown key(s) {', '.join(unknown)}")


def _non_blank(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{path}: {where} must be a non-blank string")
    return value


def _identifier(path: Path, where: str, value: Any) -> str:
    name = _non_blank(path, where, value)
    if not _NAME.match(name):
        raise SpecError(f"{path}: {where} {name!r} is not an identifier")
    return name


def _int(path: Path, where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{path}: {where} must be an integer >= {minimum}")
    return value


def _load_parameter(path: Path, index: int, data: Any) -> Parameter:
    where = f"parameters[{index}]"
    if not isinstance(data, dict):
        raise SpecError(f"{path}: {where} must be a mapping")
    _check_keys(path, f"{where}: ", data, {"name", "type", "display_name"}, {"default"})
    name = _identifier(path, f"{where}.name", data["name"])
    if data["type"] not in VARIABLE_TYPES:
        raise SpecError(f"{path}: {where}.type must be one of {', '.join(VARIABLE_TYPES)}")
    return Parameter(name=name, type=data["type"],
                     display_name=_non_blank(path, f"{where}.display_name", data["display_name"]),
                     default=data.get("default"))


def load_card(path: Path) -> Card:
    """Load and validate one card file."""
    path = Path(path)
    key = path.stem
    if not _KEY.match(key):
        raise SpecError(f"{path}: file name must be <area>__<name>.yml in lower snake case")
    data = _read_yaml(path)
    _check_keys(path, "", data, {"name", "kpis", "display", "sql"},
                {"description", "parameters", "visualization_settings"})
    kpis = data["kpis"]
    if not isinstance(kpis, list) or not kpis or not all(isinstance(k, str) and _KPI_ID.match(k) for k in kpis):
        raise SpecError(f"{path}: kpis must be a non-empty list of KPI ids like s000.leads_created_this_week")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{path}: description must be a string")
    settings = data.get("visualization_settings") or {}
    if not isinstance(settings, dict):
        raise SpecError(f"{path}: visualization_settings must be a mapping")
    raw_parameters = data.get("parameters") or []
    if not isinstance(raw_parameters, list):
        raise SpecError(f"{path}: parameters must be a list")
    parameters = tuple(_load_parameter(path, i, p) for i, p in enumerate(raw_parameters))
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: duplicate parameter names")
    sql = _non_blank(path, "sql", data["sql"])
    try:
        used = template_variables(sql)
    except SpecError as exc:
        raise SpecError(f"{path}: sql: {exc}") from None
    undeclared = [v for v in used if v not in names]
    if undeclared:
        raise SpecError(f"{path}: sql uses undeclared variable(s) {', '.join(undeclared)}")
    unused = [n for n in names if n not in used]
    if unused:
        raise SpecError(f"{path}: parameter(s) {', '.join(unused)} not used in sql")
    card = Card(key=key, name=_non_blank(path, "name", data["name"]), description=description.strip(),
                kpis=tuple(kpis), display=_non_blank(path, "display", data["display"]), sql=sql,
                parameters=parameters, visualization_settings=settings)
    for parameter in parameters:  # defaults must be valid values of their type
        if _has_value(parameter.default):
            try:
                _coerce(card, parameter, parameter.default)
            except RenderError as exc:
                raise SpecError(f"{path}: default: {exc}") from None
    return card


def _load_filter(path: Path, index: int, data: Any) -> Filter:
    where = f"filters[{index}]"
    if not isinstance(data, dict):
        raise SpecError(f"{path}: {where} must be a mapping")
    _check_keys(path, f"{where}: ", data, {"slug", "name", "type"}, {"default"})
    slug = _identifier(path, f"{where}.slug", data["slug"])
    if data["type"] not in FILTER_TYPES:
        raise SpecError(f"{path}: {where}.type {data['type']!r} is not a supported Metabase parameter type")
    return Filter(slug=slug, name=_non_blank(path, f"{where}.name", data["name"]), type=data["type"],
                  default=data.get("default"))


def _load_dashcard(path: Path, index: int, data: Any) -> DashboardCard:
    where = f"cards[{index}]"
    if not isinstance(data, dict):
        raise SpecError(f"{path}: {where} must be a mapping")
    _check_keys(path, f"{where}: ", data, {"card", "row", "col", "size_x", "size_y"}, {"mappings"})
    mappings = data.get("mappings") or {}
    if not isinstance(mappings, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mappings.items()):
        raise SpecError(f"{path}: {where}.mappings must map filter slug → template tag name")
    return DashboardCard(
        card=_non_blank(path, f"{where}.card", data["card"]),
        row=_int(path, f"{where}.row", data["row"], 0),
        col=_int(path, f"{where}.col", data["col"], 0),
        size_x=_int(path, f"{where}.size_x", data["size_x"], 1),
        size_y=_int(path, f"{where}.size_y", data["size_y"], 1),
        mappings=dict(mappings),
    )


def load_dashboard(path: Path) -> Dashboard:
    """Load and validate one dashboard file (card references are checked by `load_specs`)."""
    path = Path(path)
    data = _read_yaml(path)
    _check_keys(path, "", data, {"name", "collection", "cards"}, {"description", "filters"})
    filters = tuple(_load_filter(path, i, f) for i, f in enumerate(data.get("filters") or []))
    if len({f.slug for f in filters}) != len(filters):
        raise SpecError(f"{path}: duplicate filter slugs")
    if not isinstance(data["cards"], list) or not data["cards"]:
        raise SpecError(f"{path}: cards must be a non-empty list")
    dashcards = tuple(_load_dashcard(path, i, c) for i, c in enumerate(data["cards"]))
    occupied: dict[tuple[int, int], str] = {}
    for dc in dashcards:
        if dc.col + dc.size_x > GRID_WIDTH:
            raise SpecError(f"{path}: card {dc.card} extends past column {GRID_WIDTH}")
        for r in range(dc.row, dc.row + dc.size_y):
            for c in range(dc.col, dc.col + dc.size_x):
                if (r, c) in occupied:
                    raise SpecError(f"{path}: cards {occupied[(r, c)]} and {dc.card} overlap at row {r}, col {c}")
                occupied[(r, c)] = dc.card
        for slug in dc.mappings:
            if slug not in {f.slug for f in filters}:
                raise SpecError(f"{path}: card {dc.card} maps unknown filter {slug!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{path}: description must be a string")
    return Dashboard(key=path.stem, name=_non_blank(path, "name", data["name"]), description=description.strip(),
                     collection=_non_blank(path, "collection", data["collection"]), filters=filters, cards=dashcards)


def load_cards(directory: Path) -> dict[str, Card]:
    """Every `*.yml` card in a directory, by key; card names must be unique."""
    cards = {p.stem: load_card(p) for p in sorted(Path(directory).glob("*.yml"))}
    names: dict[str, str] = {}
    for card in cards.values():
        if card.name in names:
            raise SpecError(f"cards {names[card.name]} and {card.key} have the same name {card.name!r}")
        names[card.name] = card.key
    return cards


def load_dashboards(directory: Path) -> dict[str, Dashboard]:
    """Every `*.yml` dashboard in a directory, by key; dashboard names must be unique."""
    dashboards = {p.stem: load_dashboard(p) for p in sorted(Path(directory).glob("*.yml"))}
    if len({d.name for d in dashboards.values()}) != len(dashboards):
        raise SpecError(f"{directory}: two dashboards have the same name")
    return dashboards


def check_dashboard(dashboard: Dashboard, cards: dict[str, Card]) -> None:
    """Cross-check a dashboard against the cards: cards exist, mapped tags exist and types fit."""
    for dc in dashboard.cards:
        card = cards.get(dc.card)
        if card is None:
            raise SpecError(f"dashboard {dashboard.key}: unknown card {dc.card!r}")
        for slug, tag in dc.mappings.items():
            try:
                parameter = card.parameter(tag)
            except KeyError:
                raise SpecError(f"dashboard {dashboard.key}: card {card.key} has no template tag {tag!r}") from None
            filter_type = dashboard.filter(slug).type
            if filter_type not in FILTER_TYPES_BY_TAG_TYPE[parameter.type]:
                raise SpecError(f"dashboard {dashboard.key}: filter {slug!r} ({filter_type}) cannot feed "
                                f"{parameter.type} variable {tag!r} of card {card.key}")


def load_specs(specs_dir: Path) -> Specs:
    """Load `<specs_dir>/cards/*.yml` and `<specs_dir>/dashboards/*.yml` and cross-check them."""
    specs_dir = Path(specs_dir)
    cards = load_cards(specs_dir / "cards")
    dashboards = load_dashboards(specs_dir / "dashboards")
    for dashboard in dashboards.values():
        check_dashboard(dashboard, cards)
    return Specs(cards=cards, dashboards=dashboards)
