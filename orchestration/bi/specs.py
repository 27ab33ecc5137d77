"""Card and dashboard specs (`metabase/cards/*.yml`, `metabase/dashboards/*.yml`), validated with pydantic.

A card names semantic-layer metrics, the dimensions it groups by and how it is drawn; it holds no SQL. Which
dashboard filters narrow it is decided by concept (`metabase/concepts.yml`, resolved by the compiler against
the card's own semantic model); a card only says which concepts it `ignores`, and why. Metric selectors shared
by several cards are named once in `metabase/selectors.yml`; one card file may draw the same query twice
(`variants`). `orchestration.bi.compiler` turns a card into a `CompiledCard` (SQL from
MetricFlow with Metabase field-filter tags), which the provisioner, the HTML report and the tests all use.
The format is documented in `metabase/README.md`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

GRID_WIDTH = 24  # Metabase dashboards are 24 columns wide

# How a card is drawn. Each maps to a Metabase display (and settings) in the provisioner and to a chart
# in the HTML report; anything else is a spec error, not a blank chart.
Display = Literal[
    "scalar",  # one number
    "smartscalar",  # the last period's number and its change against the period before (rows by time)
    "bar",
    "stacked_bar",
    "row",
    "line",
    "area",
    "combo",  # bars and a line on one chart (e.g. actual vs potential): `series` says which is which
    "pie",  # drawn as a donut
    "funnel",  # steps in row order, with the share of the first step and of the step before
    "table",
    "rollup",  # a table whose leading columns nest (location > department > user > channel), expandable
    "heatmap",  # two dimensions (e.g. weekday x hour) and one measure as colour
]

# Dashboard filter types (Metabase parameter types) by the kind of template tag they can feed.
DIMENSION_FILTER_TYPES = {
    "categorical": (
        "string/=",
        "string/!=",
        "string/contains",
        "string/does-not-contain",
        "string/starts-with",
        "string/ends-with",
    ),
    "time": ("date/all-options", "date/range", "date/single", "date/relative", "date/month-year", "date/quarter-year"),
    "number": ("number/=", "number/!=", "number/between", "number/>=", "number/<="),
}
SELECTOR_FILTER_TYPES = ("string/=",)  # a selector is a plain text tag: Metabase runs it as equality (§13.4)
FILTER_TYPES = tuple(sorted({t for ts in DIMENSION_FILTER_TYPES.values() for t in ts} | set(SELECTOR_FILTER_TYPES)))

_IDENT = r"^[a-z_][a-z0-9_]*$"
_KPI_ID = r"^s\d{3}\.[a-z0-9_.]+$"
_KEY = re.compile(r"^[a-z0-9_]+__[a-z0-9_]+$")
Identifier = Annotated[str, Field(pattern=_IDENT)]
KpiId = Annotated[str, Field(pattern=_KPI_ID)]
NonBlank = Annotated[str, Field(min_length=1, pattern=r"\S")]


class SpecError(ValueError):
    """A card or dashboard spec is invalid; the message names the file and the problem in one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- cards


class GroupBy(_Strict):
    """A dimension to group by (MetricFlow name, e.g. `lead__source`, `metric_time__day`) and the name of
    its output column (default: the part after the last `__`)."""

    name: NonBlank
    alias: Identifier | None = None

    @property
    def column(self) -> str:
        return self.alias or self.name.rsplit("__", 1)[-1]


class CardFilter(_Strict):
    """A template tag the card exposes to dashboard filters: a Metabase field filter on `dimension`. Most tags
    are not written by hand: the compiler derives them from the dashboard filters the card is placed under."""

    dimension: NonBlank  # MetricFlow dimension name, e.g. lead__source or lead__created_date
    label: NonBlank | None = None  # the widget's label in Metabase; default from the dimension
    widget: Literal[FILTER_TYPES] | None = None  # type: ignore[valid-type]  # default date/all-options or string/=


class Selector(_Strict):
    """A metric selector: one card that shows the metric a dashboard filter picks (the others stay compiled
    beside it). The chosen metric comes out as column `value`."""

    tag: Identifier  # the template tag, and the concept of the dashboard filter that feeds it
    label: NonBlank
    options: dict[Identifier, NonBlank]  # metric name -> label shown in the dropdown
    default: Identifier

    @model_validator(mode="after")
    def _default_is_an_option(self) -> Selector:
        if self.default not in self.options:
            raise ValueError(f"selector default {self.default!r} is not one of its options")
        return self


class CardSpec(_Strict):
    """One card: a file, or one variant of a file. `key` is the file stem (`<area>__<name>`), or
    `<stem>_<variant>`: the card's identity in code and in Metabase."""

    key: str = Field(exclude=True)
    name: NonBlank
    description: str = ""  # the tile's one-line subtitle: what it counts, in plain words (no formula, no filters)
    notes: str = ""  # what the metrics' own descriptions do not say (shown with them behind "Definition")
    kpis: list[KpiId] = Field(min_length=1)
    display: Display
    metrics: list[Identifier] = Field(min_length=1)
    group_by: list[GroupBy] = []
    order_by: list[NonBlank] = []  # metric or group-by names, `-` in front for descending
    limit: int | None = Field(default=None, ge=1)
    where: list[NonBlank] = []  # fixed MetricFlow filters, e.g. "{{ Dimension('lead__status') }} = 'new'"
    filters: dict[Identifier, CardFilter] = {}  # explicit tags, only where resolving by concept does not fit
    ignores: dict[Identifier, NonBlank] = {}  # concept -> why no dashboard filter of that concept narrows the card
    selector: Selector | None = None  # inline, or the name of one in selectors.yml
    # A boolean dimension of the mart the card's filters apply to: the group-by values of the rows where it is true
    # (the mart's "listed" rows, e.g. every active channel) always appear, with 0 when they have no data in the
    # date range. The card's other filters still narrow them; date filters do not.
    listed_by: NonBlank | None = None
    labels: dict[Identifier, NonBlank] = {}  # output column -> heading
    series: dict[Identifier, Literal["bar", "line"]] = {}  # combo: how each measure column is drawn
    visualization_settings: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _named_selector(cls, data: Any, info: ValidationInfo) -> Any:
        """`selector: metric` names a selector of selectors.yml; without `metrics` the card shows its options."""
        if not isinstance(data, dict) or not data.get("selector"):
            return data
        selector = data["selector"]
        if isinstance(selector, str):
            shared: dict[str, Selector] = (info.context or {}).get("selectors") or {}
            if selector not in shared:
                raise ValueError(
                    f"unknown selector {selector!r} (selectors.yml has {', '.join(sorted(shared)) or 'none'})"
                )
            data = {**data, "selector": shared[selector]}
        chosen = data["selector"]
        options = chosen.options if isinstance(chosen, Selector) else chosen.get("options")
        if "metrics" not in data and isinstance(options, dict):
            data = {**data, "metrics": list(options)}
        return data

    @field_validator("group_by", mode="before")
    @classmethod
    def _group_by_shorthand(cls, value: Any) -> Any:
        return [{"name": v} if isinstance(v, str) else v for v in value or []]

    @field_validator("filters", mode="before")
    @classmethod
    def _filter_shorthand(cls, value: Any) -> Any:
        return {k: {"dimension": v} if isinstance(v, str) else v for k, v in (value or {}).items()}

    @model_validator(mode="after")
    def _consistent(self) -> CardSpec:
        if self.selector:
            missing = sorted(set(self.selector.options) - set(self.metrics))
            if missing:
                raise ValueError(f"selector options {missing} are not among the card's metrics")
            if self.selector.tag in self.filters:
                raise ValueError(f"selector tag {self.selector.tag!r} is also a filter tag")
        columns = [g.column for g in self.group_by]
        if len(set(columns)) != len(columns):
            raise ValueError(f"two group-by columns have the same name: {columns}")
        known = {g.name for g in self.group_by} | set(columns) | set(self.metrics)
        unknown = [o for o in self.order_by if o.lstrip("-") not in known]
        if unknown:
            raise ValueError(f"order_by {unknown} names neither a metric nor a group-by")
        if self.display == "scalar" and self.selector is None and len(self.metrics) > 1:
            raise ValueError("a scalar card shows one metric")
        if self.listed_by and not self.group_by:
            raise ValueError("listed_by lists group-by values: the card needs a group_by")
        if self.display == "combo" and not self.series:
            raise ValueError("a combo card says in `series` which measures are bars and which are lines")
        return self

    @property
    def output_columns(self) -> list[str]:
        """The columns of the card's result, in order: group-bys, then metrics (or `value` for a selector)."""
        return [g.column for g in self.group_by] + (["value"] if self.selector else list(self.metrics))


# ---------------------------------------------------------------- dashboards


class Tab(_Strict):
    key: Identifier
    name: NonBlank
    kpis: list[KpiId] = []  # inventory items this page is (e.g. a seed's page or section)


class AsOf(_Strict):
    """Where a dashboard's as-of moment is read from (one row, one timestamptz column)."""

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]
    column: Identifier


class DashboardFilter(_Strict):
    """A dashboard filter. Its `concept` (organisation, workspace, date, a selector's name, ...) is what the
    compiler resolves on every card placed under it: date filters default to `date`, the others to their slug."""

    slug: Identifier
    name: NonBlank
    type: Literal[FILTER_TYPES]  # type: ignore[valid-type]
    concept: Identifier
    default: Any = None
    description: str = ""  # which panels it drives, shown beside the filter in the HTML report
    kpis: list[KpiId] = []  # inventory items of kind `filter` this filter is

    @model_validator(mode="before")
    @classmethod
    def _default_concept(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("concept") is None and isinstance(data.get("slug"), str):
            is_date = str(data.get("type", "")).startswith("date/")
            data = {**data, "concept": "date" if is_date else data["slug"]}
        return data

    @property
    def is_date(self) -> bool:
        return self.type.startswith("date/")


class Placement(_Strict):
    """A card (or a text block) on the dashboard grid. `mappings`: dashboard filter slug -> card tag; written by
    hand only where a card feeds a tag of another name, filled in for every filter the card takes when compiled."""

    card: str | None = None
    text: str | None = None  # markdown text block instead of a card
    tab: Identifier | None = None
    row: int = Field(ge=0)
    col: int = Field(ge=0)
    size_x: int = Field(ge=1, le=GRID_WIDTH)
    size_y: int = Field(ge=1)
    mappings: dict[Identifier, Identifier] = {}
    kpis: list[KpiId] = []  # text blocks: inventory items they state (e.g. an assumption or a rule)

    @model_validator(mode="after")
    def _card_or_text(self) -> Placement:
        if (self.card is None) == (self.text is None):
            raise ValueError("a placement has either `card` or `text`")
        if self.text is not None and self.mappings:
            raise ValueError("a text block takes no filter mappings")
        if self.col + self.size_x > GRID_WIDTH:
            raise ValueError(f"{self.card or 'text'} extends past column {GRID_WIDTH}")
        return self

    @property
    def label(self) -> str:
        return self.card or "text block"


class DashboardSpec(_Strict):
    key: str = Field(exclude=True)
    name: NonBlank
    description: str = ""
    collection: NonBlank
    kpis: list[KpiId] = []  # inventory items the dashboard as a whole is (a report, a page)
    as_of: AsOf | None = None
    tabs: list[Tab] = []
    filters: list[DashboardFilter] = []
    cards: list[Placement] = Field(min_length=1)

    @model_validator(mode="after")
    def _layout(self) -> DashboardSpec:
        slugs = [f.slug for f in self.filters]
        if len(set(slugs)) != len(slugs):
            raise ValueError("duplicate filter slugs")
        tab_keys = [t.key for t in self.tabs]
        if len(set(tab_keys)) != len(tab_keys):
            raise ValueError("duplicate tab keys")
        occupied: dict[tuple[str | None, int, int], str] = {}
        for p in self.cards:
            if self.tabs and p.tab not in tab_keys:
                raise ValueError(f"{p.label} must name one of the tabs {tab_keys} (got {p.tab!r})")
            if not self.tabs and p.tab is not None:
                raise ValueError(f"{p.label} names tab {p.tab!r} but the dashboard has no tabs")
            for slug in p.mappings:
                if slug not in slugs:
                    raise ValueError(f"{p.label} maps unknown filter {slug!r}")
            for r in range(p.row, p.row + p.size_y):
                for c in range(p.col, p.col + p.size_x):
                    if (p.tab, r, c) in occupied:
                        raise ValueError(f"{occupied[(p.tab, r, c)]} and {p.label} overlap at row {r}, col {c}")
                    occupied[(p.tab, r, c)] = p.label
        return self

    def filter(self, slug: str) -> DashboardFilter:
        for f in self.filters:
            if f.slug == slug:
                return f
        raise KeyError(f"dashboard {self.key!r} has no filter {slug!r}")

    def placements(self, tab: str | None = None) -> list[Placement]:
        """Placements of one tab (all when the dashboard has no tabs), in reading order."""
        return sorted((p for p in self.cards if tab is None or p.tab == tab), key=lambda p: (p.row, p.col))


class Specs(_Strict):
    """All cards and dashboards of one specs directory, and the concepts their filters resolve by."""

    cards: dict[str, CardSpec]
    dashboards: dict[str, DashboardSpec]
    concepts: dict[Identifier, list[Identifier]] = {}  # concept -> dimension names that stand for it in a model


# ---------------------------------------------------------------- loading

CONCEPTS_FILE = "concepts.yml"
SELECTORS_FILE = "selectors.yml"


def _one_line(error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(x) for x in e["loc"])
        message = e["msg"].removeprefix("Value error, ")  # our own checks' words, without pydantic's label
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return data


def load_selectors(path: Path) -> dict[str, Selector]:
    """`selectors.yml`: name -> {label, options, default}; the tag is the name unless the entry sets `tag` (absent
    file: none)."""
    path = Path(path)
    if not path.exists():
        return {}
    out: dict[str, Selector] = {}
    for name, entry in _read_yaml(path).items():
        try:
            if not isinstance(entry, dict):
                raise SpecError(f"{path}: {name}: expected a mapping with label, options and default")
            out[name] = Selector(**{"tag": name, **entry})
        except ValidationError as exc:
            raise SpecError(f"{path}: {name}: {_one_line(exc)}") from None
    return out


def load_concepts(path: Path) -> dict[str, list[str]]:
    """`concepts.yml`: concept -> the dimension names that stand for it (absent file, or a concept not listed:
    the dimension named like the concept)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return TypeAdapter(dict[Identifier, list[Identifier]]).validate_python(_read_yaml(path))
    except ValidationError as exc:
        raise SpecError(f"{path}: {_one_line(exc)}") from None


def load_cards(path: Path, selectors: dict[str, Selector] | None = None) -> list[CardSpec]:
    """The card of one file, or one card per entry of its `variants` (key `<stem>_<variant>`): a variant's keys
    replace the file's, except `kpis`, which add to them."""
    path = Path(path)
    if not _KEY.match(path.stem):
        raise SpecError(f"{path}: file name must be <area>__<name>.yml in lower snake case")
    data = _read_yaml(path)
    variants = data.pop("variants", None)
    if variants is None:
        drafts = {path.stem: data}
    elif not isinstance(variants, dict) or not variants:
        raise SpecError(f"{path}: variants: expected a mapping of variant name -> the keys it changes")
    else:
        drafts = {}
        for name, changes in variants.items():
            if not re.match(_IDENT, str(name)) or not isinstance(changes, dict) or "variants" in changes:
                raise SpecError(f"{path}: variant {name!r}: a lower snake case name and a mapping of card keys")
            drafts[f"{path.stem}_{name}"] = {
                **data,
                **changes,
                "kpis": [*data.get("kpis", []), *changes.get("kpis", [])],
            }
    cards = []
    for key, draft in drafts.items():
        where = path if variants is None else f"{path}: variant {key.removeprefix(path.stem + '_')}"
        try:
            cards.append(CardSpec.model_validate({**draft, "key": key}, context={"selectors": selectors or {}}))
        except ValidationError as exc:
            raise SpecError(f"{where}: {_one_line(exc)}") from None
    return cards


def load_dashboard(path: Path) -> DashboardSpec:
    path = Path(path)
    try:
        return DashboardSpec(key=path.stem, **_read_yaml(path))
    except ValidationError as exc:
        raise SpecError(f"{path}: {_one_line(exc)}") from None


def load_specs(specs_dir: Path) -> Specs:
    """Load `<specs_dir>/cards/*.yml`, `<specs_dir>/dashboards/*.yml`, `selectors.yml` and `concepts.yml` and
    cross-check them: every placed card exists, every hand-written mapping feeds a tag of the card with a filter
    type that fits it. The filters a card takes by concept are resolved by the compiler."""
    specs_dir = Path(specs_dir)
    selectors = load_selectors(specs_dir / SELECTORS_FILE)
    cards: dict[str, CardSpec] = {}
    for path in sorted((specs_dir / "cards").glob("*.yml")):
        for card in load_cards(path, selectors):
            if card.key in cards:
                raise SpecError(f"{path}: card key {card.key} is already used by another file")
            cards[card.key] = card
    dashboards = {p.stem: load_dashboard(p) for p in sorted((specs_dir / "dashboards").glob("*.yml"))}
    for kind, objects in (("cards", cards), ("dashboards", dashboards)):
        names: dict[str, str] = {}
        for key, obj in objects.items():
            if obj.name in names:
                raise SpecError(f"{kind} {names[obj.name]} and {key} have the same name {obj.name!r}")
            names[obj.name] = key
    for dashboard in dashboards.values():
        for p in dashboard.cards:
            if p.card is None:
                continue
            card = cards.get(p.card)
            if card is None:
                raise SpecError(f"dashboard {dashboard.key}: unknown card {p.card!r}")
            for slug, tag in p.mappings.items():
                filter_type = dashboard.filter(slug).type
                if card.selector and tag == card.selector.tag:
                    allowed: tuple[str, ...] = SELECTOR_FILTER_TYPES
                elif tag in card.filters:
                    allowed = FILTER_TYPES  # narrowed by the dimension's kind when the card is compiled
                else:
                    raise SpecError(f"dashboard {dashboard.key}: card {card.key} has no filter tag {tag!r}")
                if filter_type not in allowed:
                    raise SpecError(
                        f"dashboard {dashboard.key}: filter {slug!r} ({filter_type}) cannot feed "
                        f"tag {tag!r} of card {card.key}"
                    )
    return Specs(cards=cards, dashboards=dashboards, concepts=load_concepts(specs_dir / CONCEPTS_FILE))
