"""Dashboard filters resolved by concept: which tag of which card each dashboard filter feeds.

A dashboard filter names a concept (`organisation`, `workspace`, `date`, `channel`, a metric selector's name, ...).
For every card placed under it, the concept becomes the dimension of the card's own semantic model that stands
for it, and the card gets a field-filter tag named after the filter's slug:

* a date filter narrows the model's time dimension by day or coarser (its aggregation time dimension first);
* any other concept narrows the dimension `concepts.yml` names for it in that model (default: the dimension named
  like the concept), so "Organisation" is `organization_name` on one mart and could be another column on the next;
* a metric selector's filter (its concept is the selector's name) feeds the cards that show that selector and no
  other card.

A card that must not be narrowed by a concept says so, with the reason (`ignores: {date: ...}`); a filter that a
placed card neither takes nor ignores is a spec error. Hand-written `mappings` on a placement and `filters` on a
card win over the resolution. The result is the cards with every tag they take and the dashboards with every
placement's `mappings` filled in, so nothing downstream (provisioner, HTML report, tests) resolves anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestration.bi.specs import (
    CardFilter,
    CardSpec,
    DashboardFilter,
    DashboardSpec,
    SpecError,
    Specs,
)

if TYPE_CHECKING:
    from orchestration.bi.compiler import SemanticLayer


@dataclass(frozen=True)
class Wiring:
    cards: dict[str, CardSpec]  # each with the tags it takes from its dashboards added to `filters`
    dashboards: dict[str, DashboardSpec]  # each placement's `mappings` filled in


def _dimension(
    card: CardSpec, f: DashboardFilter, dashboard: DashboardSpec, concepts: dict[str, list[str]], layer: SemanticLayer
) -> str:
    """The dimension that stands for the filter's concept in the card's own semantic model."""

    def refuse(why: str) -> SpecError:
        return SpecError(
            f"dashboard {dashboard.key}: card {card.key} neither takes nor ignores filter {f.slug!r} "
            f"(concept {f.concept}): {why}; add `ignores: {{{f.concept}: <reason>}}` to the card, or a "
            f"`filters: {{{f.slug}: <dimension>}}` entry"
        )

    models = layer.card_models(card.metrics)
    if len(models) != 1:
        raise refuse(f"its metrics read {', '.join(sorted(models)) or 'no mart but the calendar'}, not one mart")
    (model,) = models
    if f.is_date:
        found = layer.date_dimension(model)
        if found is None:
            raise refuse(f"{model} has no single time dimension by day or coarser")
        return found
    names = concepts.get(f.concept, [f.concept])
    found = layer.dimension_named(model, names)
    if found is None:
        raise refuse(f"{model} has no dimension {' or '.join(names)} on a mart column")
    return found


def wire(specs: Specs, layer: SemanticLayer) -> Wiring:
    """Every placed card's tags and every placement's mappings, resolved by concept (see the module docstring)."""
    taken: dict[str, dict[str, tuple[CardFilter, str]]] = {}  # card -> tag -> (its filter, the dashboard it is from)
    concepts_around: dict[str, set[str]] = {}  # card -> concepts of the dashboards it is on
    dashboards: dict[str, DashboardSpec] = {}
    for dashboard in specs.dashboards.values():
        selectors = {
            c.selector.tag for p in dashboard.cards if p.card for c in [specs.cards[p.card]] if c.selector is not None
        }
        placements = []
        for p in dashboard.cards:
            if p.card is None:
                placements.append(p)
                continue
            card = specs.cards[p.card]
            concepts_around.setdefault(card.key, set()).update(f.concept for f in dashboard.filters)
            mappings = dict(p.mappings)
            for f in dashboard.filters:
                if f.slug in mappings:
                    if f.concept in card.ignores:
                        raise SpecError(
                            f"dashboard {dashboard.key}: card {card.key} maps filter {f.slug!r} but "
                            f"ignores its concept {f.concept}"
                        )
                elif f.concept in card.ignores:
                    continue
                elif card.selector is not None and f.concept == card.selector.tag:
                    mappings[f.slug] = card.selector.tag
                elif f.concept in selectors:
                    continue  # another card's metric selector
                elif f.slug in card.filters:
                    mappings[f.slug] = f.slug
                else:
                    tag = CardFilter(
                        dimension=_dimension(card, f, dashboard, specs.concepts, layer), label=f.name, widget=f.type
                    )
                    before = taken.setdefault(card.key, {}).get(f.slug)
                    if before is not None and before[0] != tag:
                        raise SpecError(
                            f"card {card.key}: filter {f.slug!r} of dashboards {before[1]} and "
                            f"{dashboard.key} differ ({before[0].label}, {before[0].widget} vs {f.name}, "
                            f"{f.type}); give one of them another slug"
                        )
                    taken[card.key][f.slug] = (tag, dashboard.key)
                    mappings[f.slug] = f.slug
            placements.append(p.model_copy(update={"mappings": mappings}))
        dashboards[dashboard.key] = dashboard.model_copy(update={"cards": placements})
    for key, around in concepts_around.items():
        stale = sorted(set(specs.cards[key].ignores) - around)
        if stale:
            raise SpecError(f"card {key} ignores {', '.join(stale)}, which no filter of its dashboards is")
    cards = {
        key: card.model_copy(update={"filters": {**{t: f for t, (f, _) in taken.get(key, {}).items()}, **card.filters}})
        for key, card in specs.cards.items()
    }
    return Wiring(cards=cards, dashboards=dashboards)
