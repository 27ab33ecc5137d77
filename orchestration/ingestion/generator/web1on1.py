"""Web1on1 (conversational commerce for car dealers, seed 003): organizations with configured
potentials, locations/departments, configured channels (some active but never used), users (role
incl. guest, level 0-3; guests join a few sessions), bots, contacts,
conversations (channel/device/inbox mixes), sessions, messages, results, website visitor events
(cookies repeating within 30 minutes), bot events and the after-sales invitation funnel.
All ids are MongoDB ObjectIds whose timestamp is the record's creation time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.ingestion.generator.core import (
    DAY,
    HOUR,
    MINUTE,
    NULL_INT,
    Context,
    People,
    TableData,
    format_emails,
    format_phones,
    make_people,
    null_where,
    obj,
    object_ids,
    pick,
    rng_for,
    stable_hash,
    versioned,
)

ORG_NAMES = [
    "Lakeside Motors",
    "Prairie Auto Group",
    "Windy City Cars",
    "Heartland Ford",
    "Riverbend Toyota",
    "Northshore Honda",
    "Great Lakes Kia",
    "Midway Hyundai",
    "Lincoln Park Volvo",
    "Oak Brook BMW",
    "Fox Valley Chevrolet",
    "Cornerstone Finance",
    "Summit Subaru",
    "Gateway Nissan",
    "Liberty Mazda",
]
CITIES = [
    "Chicago",
    "Evanston",
    "Naperville",
    "Schaumburg",
    "Joliet",
    "Aurora",
    "Oak Park",
    "Skokie",
    "Milwaukee",
    "Rockford",
    "Elgin",
    "Waukegan",
]
BOT_NAMES = ["Lead Qualifier", "Service Booking", "Trade-in Valuator", "After Hours Assistant", "Test Drive Planner"]
PAGES = [
    "/",
    "/new-cars",
    "/used-cars",
    "/service",
    "/financing",
    "/trade-in",
    "/contact",
    "/offers",
    "/used-cars/suv",
    "/new-cars/electric",
]


def _machine(ctx: Context, table: str) -> int:
    return (stable_hash(f"web1on1:{table}:{ctx.seed}") << 8) | 0x5A


def build(ctx: Context) -> dict[str, TableData]:
    """Every Web1on1 table. The calls share one random stream, so their order is part of the output."""
    rng = rng_for(ctx.seed, "web1on1")
    organizations, orgs = _organizations(ctx, rng)
    locations, locs = _locations(ctx, rng, orgs)
    departments, depts = _departments(ctx, rng, orgs, locs)
    channels = _channels(ctx, orgs)
    users, staff = _users(ctx, rng, orgs, locs, depts)
    bots, bot_pool = _bots(ctx, rng, orgs)
    started = _conversation_starts(ctx, rng, orgs, locs, depts)
    contacts, known = _contacts(ctx, rng, orgs, started)
    conversations, closing = _conversations(ctx, rng, orgs, locs, depts, started, known)
    sessions, sess = _sessions(ctx, rng, orgs, staff, started, closing)
    messages, conv_bot = _messages(ctx, rng, orgs, staff, bot_pool, started, sess)
    results = _results(ctx, rng, orgs, staff, bot_pool, started, known, sess, conv_bot)
    visitor_events = _visitor_events(ctx, rng, orgs)
    bot_events = _bot_events(ctx, rng, orgs, bot_pool, started, conv_bot)
    invitations = _after_sales_invitations(ctx, rng, orgs, locs, depts, staff, started, known)
    return {
        "organizations": organizations,
        "locations": locations,
        "departments": departments,
        "channels": channels,
        "users": users,
        "bots": bots,
        "contacts": contacts,
        "conversations": conversations,
        "sessions": sessions,
        "messages": messages,
        "results": results,
        "visitor_events": visitor_events,
        "bot_events": bot_events,
        "after_sales_invitations": invitations,
    }


@dataclass(frozen=True)
class Orgs:
    ids: np.ndarray
    created: np.ndarray
    names: np.ndarray
    size: np.ndarray  # relative size (mean 1)
    potentials: dict[str, np.ndarray]  # as first configured
    active_share: np.ndarray  # the share of the period each organization exists in


@dataclass(frozen=True)
class Locations:
    ids: np.ndarray
    org: np.ndarray  # index into Orgs
    created: np.ndarray
    active: np.ndarray
    per_org: np.ndarray
    first_of_org: np.ndarray  # index of each organization's first location


@dataclass(frozen=True)
class Departments:
    ids: np.ndarray
    first_of_location: np.ndarray  # Sales is the first, Service the second department of each location


@dataclass(frozen=True)
class Staff:
    """Users, and the human users per organization: Web1on1 agents (level 0/1) for the Web1on1 inbox, client
    users (level 2/3) otherwise, and guests."""

    ids: np.ndarray
    client_users: list[np.ndarray]
    agent_users: list[np.ndarray]
    guests: list[np.ndarray]

    def pick(self, rng: np.random.Generator, orgs: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """A human user for each (organization, Web1on1 agent or not)."""
        out = np.empty(len(orgs), np.int64)
        r = rng.random(len(orgs))
        for o in range(len(self.client_users)):
            for flag, pool in ((True, self.agent_users[o]), (False, self.client_users[o])):
                sel = (orgs == o) & (agents == flag)
                out[sel] = pool[(r[sel] * len(pool)).astype(np.int64)]
        return out


@dataclass(frozen=True)
class Bots:
    ids: np.ndarray
    per_org: np.ndarray
    first_of_org: np.ndarray


@dataclass(frozen=True)
class ConversationStarts:
    """Each conversation as it starts: when, where, on which channel and inbox, from which contact."""

    ids: np.ndarray
    org: np.ndarray  # index into Orgs; conversations are ordered by organization, then time
    created: np.ndarray
    after_sales: np.ndarray
    channel: np.ndarray
    device: np.ndarray
    bot_only: np.ndarray
    bot_involved: np.ndarray
    w1o1_inbox: np.ndarray
    inbox_id: np.ndarray
    inbox_name: np.ndarray
    inbox_owner: np.ndarray
    location: np.ndarray  # index into Locations
    department: np.ndarray  # index into Departments
    no_location: np.ndarray
    contact_of: np.ndarray  # the conversation whose contact this one is (itself for a new contact)


@dataclass(frozen=True)
class Contacts:
    """The contacts: one per new contact, and each conversation's."""

    ids: np.ndarray
    people: People
    of_conversation: np.ndarray  # contact index of each conversation


@dataclass(frozen=True)
class Closing:
    is_closed: np.ndarray
    closed_at: np.ndarray  # NULL_INT while open


@dataclass(frozen=True)
class Sessions:
    conversation: np.ndarray
    start: np.ndarray
    length: np.ndarray
    human: np.ndarray
    user: np.ndarray  # index into Staff.ids


def _organizations(ctx: Context, rng: np.random.Generator) -> tuple[TableData, Orgs]:
    clock, start, end = ctx.clock, ctx.start, ctx.end
    n_org = ctx.organizations
    late = rng.random(n_org) < 0.3
    late[0] = False
    lo = start + np.where(late, (rng.random(n_org) * 0.5 * (end - start)).astype(np.int64), 0)
    org_created = np.sort(clock.sample(rng, n_org, "business", lo=lo, hi=lo + 20 * DAY))
    org_ids = object_ids(org_created, _machine(ctx, "organizations"))
    size = rng.lognormal(0.0, 0.45, n_org)
    size = size / size.mean()
    names = obj(
        [
            ORG_NAMES[i % len(ORG_NAMES)] + ("" if i < len(ORG_NAMES) else f" {i // len(ORG_NAMES) + 1}")
            for i in range(n_org)
        ]
    )
    btype = pick(rng, ["dealership", "brand", "financial_services"], [70, 20, 10], n_org)
    btype[0] = "dealership"
    pot = {
        "potential_inbound_leads": np.round(size * rng.uniform(250, 450, n_org)).astype(np.int64),
        "potential_workshop_jobs": np.round(size * rng.uniform(150, 350, n_org)).astype(np.int64),
        "potential_sales_advisors": np.maximum(2, np.round(size * rng.uniform(6, 14, n_org))).astype(np.int64),
        "potential_service_advisors": np.maximum(1, np.round(size * rng.uniform(4, 9, n_org))).astype(np.int64),
        "potential_monthly_visitors": np.round(size * rng.uniform(1000, 1800, n_org)).astype(np.int64),
    }
    first = {"id": org_ids, "name": names, "business_type": btype, **pot, "created_at": org_created}
    second = dict(first)
    for k in pot:
        second[k] = np.round(pot[k] * rng.uniform(0.9, 1.25, n_org)).astype(np.int64)
    org_changed_at = clock.sample(rng, n_org, "business", lo=org_created + 30 * DAY)
    org_changed = (rng.random(n_org) < 0.6) & (org_created + 30 * DAY < end)
    table = versioned(first, org_created, second, org_changed_at, org_changed)
    return table, Orgs(org_ids, org_created, names, size, pot, (end - org_created) / (end - start))


def _locations(ctx: Context, rng: np.random.Generator, orgs: Orgs) -> tuple[TableData, Locations]:
    clock, end, n_org, org_created = ctx.clock, ctx.end, len(orgs.ids), orgs.created
    n_loc_per = rng.integers(1, 5, n_org)
    loc_org = np.repeat(np.arange(n_org), n_loc_per)
    n_loc = len(loc_org)
    loc_created = clock.sample(rng, n_loc, "business", lo=org_created[loc_org], hi=org_created[loc_org] + 5 * DAY)
    loc_ids = object_ids(loc_created, _machine(ctx, "locations"))
    loc_names = obj(
        [
            f"{CITIES[(o * 3 + k) % len(CITIES)]}"
            for o, k in zip(
                loc_org.tolist(), (np.arange(n_loc) - np.searchsorted(loc_org, loc_org)).tolist(), strict=False
            )
        ]
    )
    loc_active = rng.random(n_loc) < 0.92
    loc_active[np.searchsorted(loc_org, np.arange(n_org))] = True  # every org keeps its first location
    loc_first = {
        "id": loc_ids,
        "organization_id": orgs.ids[loc_org],
        "name": loc_names,
        "active": loc_active,
        "created_at": loc_created,
    }
    loc_second = dict(loc_first, active=np.zeros(n_loc, bool))
    loc_closed_at = clock.sample(rng, n_loc, "business", lo=loc_created + 60 * DAY)
    loc_changed = loc_active & (rng.random(n_loc) < 0.08) & (loc_created + 60 * DAY < end)
    loc_changed[np.searchsorted(loc_org, np.arange(n_org))] = False
    table = versioned(loc_first, loc_created, loc_second, loc_closed_at, loc_changed)
    return table, Locations(
        loc_ids, loc_org, loc_created, loc_active, n_loc_per, np.searchsorted(loc_org, np.arange(n_org))
    )


def _departments(ctx: Context, rng: np.random.Generator, orgs: Orgs, locs: Locations) -> tuple[TableData, Departments]:
    n_loc = len(locs.ids)
    dept_kinds = ["Sales", "Service", "Parts"]
    dept_loc, dept_name = [], []
    has_parts = rng.random(n_loc) < 0.4
    for li in range(n_loc):
        for k in range(3 if has_parts[li] else 2):
            dept_loc.append(li)
            dept_name.append(dept_kinds[k])
    dept_loc_a = np.array(dept_loc)
    n_dept = len(dept_loc_a)
    dept_created = locs.created[dept_loc_a] + rng.integers(60, 2 * HOUR, n_dept)
    dept_ids = object_ids(dept_created, _machine(ctx, "departments"))
    dept_active = locs.active[dept_loc_a] & (rng.random(n_dept) < 0.96)
    dept_first = {
        "id": dept_ids,
        "organization_id": orgs.ids[locs.org[dept_loc_a]],
        "location_id": locs.ids[dept_loc_a],
        "name": obj(dept_name),
        "active": dept_active,
        "created_at": dept_created,
    }
    table = versioned(dept_first, dept_created, dept_first, dept_created, np.zeros(n_dept, bool))
    return table, Departments(dept_ids, np.searchsorted(dept_loc_a, np.arange(n_loc)))


def _channels(ctx: Context, orgs: Orgs) -> TableData:
    """Touchpoints configured per organization: web and WhatsApp everywhere; Facebook for most (switched off
    later by some); Instagram enabled by a few but never used, so after-sales tables list a channel at zero."""
    ch_rng = rng_for(ctx.seed, "web1on1:channels")  # its own stream: the other tables stay as they were
    ch_org, ch_kind, ch_active, ch_off = [], [], [], []
    for o in range(len(orgs.ids)):
        kinds = ["web", "whatsapp", "facebook"] + (["instagram"] if ch_rng.random() < 0.35 or o == 0 else [])
        for kind in kinds:
            ch_org.append(o)
            ch_kind.append(kind)
            ch_active.append(True)
            ch_off.append(kind == "facebook" and (ch_rng.random() < 0.3 or o == 0))
    ch_org_a = np.array(ch_org)
    n_ch = len(ch_org_a)
    ch_created = orgs.created[ch_org_a] + ch_rng.integers(HOUR, 3 * DAY, n_ch)
    ch_ids = object_ids(ch_created, _machine(ctx, "channels"))
    ch_names = obj(
        [
            {
                "web": "Website chat",
                "whatsapp": "WhatsApp Business",
                "facebook": "Facebook Messenger",
                "instagram": "Instagram Direct",
            }[k]
            for k in ch_kind
        ]
    )
    ch_first = {
        "id": ch_ids,
        "organization_id": orgs.ids[ch_org_a],
        "channel": obj(ch_kind),
        "name": ch_names,
        "active": np.array(ch_active),
        "created_at": ch_created,
    }
    ch_off_at = ctx.clock.sample(ch_rng, n_ch, "business", lo=ch_created + 30 * DAY)
    ch_changed = np.array(ch_off) & (ch_created + 30 * DAY < ctx.end)
    return versioned(ch_first, ch_created, dict(ch_first, active=np.zeros(n_ch, bool)), ch_off_at, ch_changed)


def _users(
    ctx: Context, rng: np.random.Generator, orgs: Orgs, locs: Locations, depts: Departments
) -> tuple[TableData, Staff]:
    clock, end, n_org, pot = ctx.clock, ctx.end, len(orgs.ids), orgs.potentials
    u_org, u_role, u_level = [], [], []
    for o in range(n_org):
        advisors = round(
            (pot["potential_sales_advisors"][o] + pot["potential_service_advisors"][o]) * rng.uniform(0.6, 1.0)
        )
        spec = (
            [("admin", 2)] * int(rng.integers(1, 3))
            + [("agent", 2)] * int(rng.integers(1, 3))
            + [("agent", 3)] * advisors
            + [("guest", 3)] * int(rng.integers(1, 4))
            + [("admin", 0)]
            + [("agent", 1)] * int(rng.integers(3, 6))
        )
        for role, level in spec:
            u_org.append(o)
            u_role.append(role)
            u_level.append(level)
    user_org = np.array(u_org)
    n_user = len(user_org)
    user_role = obj(u_role)
    user_level = np.array(u_level, np.int64)
    user_created = clock.sample(
        rng,
        n_user,
        "business",
        lo=orgs.created[user_org],
        hi=orgs.created[user_org] + np.where(rng.random(n_user) < 0.8, 14 * DAY, 365 * DAY),
    )
    user_ids = object_ids(user_created, _machine(ctx, "users"))
    people = make_people(rng, n_user, "w1o1")
    user_loc = locs.first_of_org[user_org] + (rng.random(n_user) * locs.per_org[user_org]).astype(np.int64)
    client_user = user_level >= 2
    has_home = client_user & (rng.random(n_user) < 0.85)
    user_dept = depts.first_of_location[user_loc] + (rng.random(n_user) < 0.45).astype(np.int64)
    user_first = {
        "id": user_ids,
        "organization_id": orgs.ids[user_org],
        "location_id": null_where(locs.ids[user_loc], ~has_home),
        "department_id": null_where(depts.ids[user_dept], ~has_home),
        "name": people.names,
        "role": user_role,
        "level": user_level,
        "active": np.ones(n_user, bool),
        "created_at": user_created,
    }
    user_left_at = clock.sample(rng, n_user, "business", lo=user_created + 45 * DAY)
    user_changed = (rng.random(n_user) < 0.12) & (user_created + 45 * DAY < end) & (user_role == "agent")
    table = versioned(
        user_first, user_created, dict(user_first, active=np.zeros(n_user, bool)), user_left_at, user_changed
    )
    non_guest = user_role != "guest"
    staff = Staff(
        user_ids,
        client_users=[np.flatnonzero((user_org == o) & non_guest & (user_level >= 2)) for o in range(n_org)],
        agent_users=[np.flatnonzero((user_org == o) & non_guest & (user_level <= 1)) for o in range(n_org)],
        guests=[np.flatnonzero((user_org == o) & (user_role == "guest")) for o in range(n_org)],
    )
    return table, staff


def _bots(ctx: Context, rng: np.random.Generator, orgs: Orgs) -> tuple[TableData, Bots]:
    clock, end, n_org = ctx.clock, ctx.end, len(orgs.ids)
    n_bot_per = rng.integers(2, 5, n_org)
    bot_org = np.repeat(np.arange(n_org), n_bot_per)
    n_bot = len(bot_org)
    bot_created = clock.sample(rng, n_bot, "business", lo=orgs.created[bot_org], hi=orgs.created[bot_org] + 30 * DAY)
    bot_ids = object_ids(bot_created, _machine(ctx, "bots"))
    bot_k = np.arange(n_bot) - np.searchsorted(bot_org, bot_org)
    bot_names = obj(
        [BOT_NAMES[(k + o) % len(BOT_NAMES)] for k, o in zip(bot_k.tolist(), bot_org.tolist(), strict=False)]
    )
    custom = rng.random(n_bot) < 0.6
    bot_desc = obj(
        [
            f"{n} ({orgs.names[o]})" if c else n
            for n, o, c in zip(bot_names, bot_org.tolist(), custom.tolist(), strict=False)
        ]
    )
    bot_first = {
        "id": bot_ids,
        "organization_id": orgs.ids[bot_org],
        "name": bot_names,
        "description": bot_desc,
        "active": rng.random(n_bot) < 0.9,
        "created_at": bot_created,
    }
    bot_desc2 = obj([f"{n} v2" for n in bot_names])
    bot_changed_at = clock.sample(rng, n_bot, "business", lo=bot_created + 30 * DAY)
    bot_changed = (rng.random(n_bot) < 0.3) & (bot_created + 30 * DAY < end)
    table = versioned(bot_first, bot_created, dict(bot_first, description=bot_desc2), bot_changed_at, bot_changed)
    return table, Bots(bot_ids, n_bot_per, np.searchsorted(bot_org, np.arange(n_org)))


def _conversation_starts(
    ctx: Context, rng: np.random.Generator, orgs: Orgs, locs: Locations, depts: Departments
) -> ConversationStarts:
    n_org = len(orgs.ids)
    conv_counts = rng.poisson(ctx.scaled(150 * 24) * orgs.size * orgs.active_share)
    conv_org = np.repeat(np.arange(n_org), conv_counts)
    n_conv = len(conv_org)
    conv_created = ctx.clock.sample(rng, n_conv, "consumer", lo=orgs.created[conv_org] + HOUR)
    order = np.lexsort((conv_created, conv_org))
    conv_org, conv_created = conv_org[order], conv_created[order]
    conv_ids = object_ids(conv_created, _machine(ctx, "conversations"))
    after_sales = rng.random(n_conv) < 0.15
    channel = pick(rng, ["web", "whatsapp", "facebook", None], [55, 35, 5, 5], n_conv)
    channel[after_sales] = "whatsapp"
    dev_web = pick(rng, ["desktop", "mobile", "tablet", None], [45, 44, 6, 5], n_conv)
    dev_app = pick(rng, ["mobile", "desktop", "tablet", None], [86, 5, 2, 7], n_conv)
    dev_none = pick(rng, [None, "desktop", "mobile"], [70, 20, 10], n_conv)
    device = np.where(channel == "web", dev_web, np.where(channel == None, dev_none, dev_app))  # noqa: E711
    bot_only = ~after_sales & (rng.random(n_conv) < 0.2)
    bot_involved = bot_only | (~after_sales & (rng.random(n_conv) < 0.3))
    w1o1_inbox = ~bot_only & ~after_sales & (rng.random(n_conv) < 0.35)
    # three inboxes per organization: Sales and Service (the organization's) and Web1on1 Agents
    inbox_ts = orgs.created + 60
    inbox_ids = [object_ids(inbox_ts, _machine(ctx, f"inbox{k}")) for k in range(3)]
    inbox_k = np.where(after_sales, 1, np.where(w1o1_inbox, 2, 0))
    inbox_id = np.where(
        inbox_k == 0, inbox_ids[0][conv_org], np.where(inbox_k == 1, inbox_ids[1][conv_org], inbox_ids[2][conv_org])
    )
    inbox_name = obj(np.array(["Sales", "Service", "Web1on1 Agents"], dtype=object)[inbox_k])
    inbox_owner = obj(np.array(["organization", "organization", "web1on1"], dtype=object)[inbox_k])
    conv_loc = locs.first_of_org[conv_org] + (rng.random(n_conv) * locs.per_org[conv_org]).astype(np.int64)
    conv_dept = depts.first_of_location[conv_loc] + after_sales.astype(np.int64)
    no_loc = w1o1_inbox & (rng.random(n_conv) < 0.5)
    # contacts: ~15% of conversations come from a returning contact of the same organization
    repeat = rng.random(n_conv) < 0.15
    group_start = np.searchsorted(conv_org, conv_org)
    earlier = group_start + (rng.random(n_conv) * (np.arange(n_conv) - group_start)).astype(np.int64)
    contact_of = np.arange(n_conv)
    for i in np.flatnonzero(repeat & (earlier < np.arange(n_conv))).tolist():
        contact_of[i] = contact_of[earlier[i]]
    return ConversationStarts(
        conv_ids,
        conv_org,
        conv_created,
        after_sales,
        channel,
        device,
        bot_only,
        bot_involved,
        w1o1_inbox,
        inbox_id,
        inbox_name,
        inbox_owner,
        conv_loc,
        conv_dept,
        no_loc,
        contact_of,
    )


def _contacts(
    ctx: Context, rng: np.random.Generator, orgs: Orgs, started: ConversationStarts
) -> tuple[TableData, Contacts]:
    n_conv = len(started.ids)
    new_contact = started.contact_of == np.arange(n_conv)
    contact_conv = np.flatnonzero(new_contact)
    n_contact = len(contact_conv)
    contact_index = np.cumsum(new_contact) - 1
    conv_contact = contact_index[started.contact_of]
    c_created = started.created[contact_conv]
    c_ids = object_ids(c_created, _machine(ctx, "contacts"))
    cp = make_people(rng, n_contact, "chat")
    c_phone_known = (started.channel[contact_conv] == "whatsapp") | (rng.random(n_contact) < 0.4)
    c_email_known = rng.random(n_contact) < 0.55
    c_email = null_where(format_emails(rng, cp.emails, 0.1), ~c_email_known)
    c_phone = null_where(format_phones(rng, cp.phones), ~c_phone_known)
    c_first = {
        "id": c_ids,
        "organization_id": orgs.ids[started.org[contact_conv]],
        "email": c_email,
        "phone": c_phone,
        "created_at": c_created,
    }
    c_changed_at = c_created + (rng.exponential(20, n_contact) * DAY).astype(np.int64) + HOUR
    c_changed = (~c_email_known | ~c_phone_known) & (rng.random(n_contact) < 0.3) & (c_changed_at < ctx.end)
    c_second = dict(c_first, email=format_emails(rng, cp.emails, 0.1), phone=format_phones(rng, cp.phones))
    table = versioned(c_first, c_created, c_second, c_changed_at, c_changed)
    return table, Contacts(c_ids, cp, conv_contact)


def _conversations(
    ctx: Context,
    rng: np.random.Generator,
    orgs: Orgs,
    locs: Locations,
    depts: Departments,
    started: ConversationStarts,
    contacts: Contacts,
) -> tuple[TableData, Closing]:
    n_conv, conv_created = len(started.ids), started.created
    close_kind = rng.choice(3, size=n_conv, p=[0.8, 0.12, 0.08])
    close_delay = np.where(
        close_kind == 0, rng.lognormal(np.log(40 * MINUTE), 1.0, n_conv), rng.uniform(2 * DAY, 30 * DAY, n_conv)
    ).astype(np.int64)
    closed_at = conv_created + close_delay
    is_closed = (close_kind < 2) & (closed_at < ctx.end)
    closed_at = np.where(is_closed, closed_at, NULL_INT)
    no_loc, bot_only = started.no_location, started.bot_only
    conv_first = {
        "id": started.ids,
        "organization_id": orgs.ids[started.org],
        "contact_id": contacts.ids[contacts.of_conversation],
        "location_id": null_where(locs.ids[started.location], no_loc),
        "department_id": null_where(depts.ids[started.department], no_loc),
        "channel": started.channel,
        "device": started.device,
        "inbox_id": null_where(started.inbox_id, bot_only),
        "inbox_name": null_where(started.inbox_name, bot_only),
        "inbox_owner": null_where(started.inbox_owner, bot_only),
        "is_after_sales": started.after_sales,
        "url": obj([f"https://app.web1on1.chat/conversations/{i}" for i in started.ids]),
        "created_at": conv_created,
        "closed_at": np.full(n_conv, NULL_INT),
    }
    table = versioned(
        conv_first,
        conv_created,
        dict(conv_first, closed_at=closed_at),
        np.where(is_closed, closed_at, conv_created),
        is_closed,
    )
    return table, Closing(is_closed, closed_at)


def _sessions(
    ctx: Context, rng: np.random.Generator, orgs: Orgs, staff: Staff, started: ConversationStarts, closing: Closing
) -> tuple[TableData, Sessions]:
    clock, end, conv_created = ctx.clock, ctx.end, started.created
    n_sess_per = 1 + rng.poisson(np.where(started.after_sales, 1.5, 0.35))
    sess_conv = np.repeat(np.arange(len(started.ids)), n_sess_per)
    n_sess = len(sess_conv)
    first_sess = np.r_[True, sess_conv[1:] != sess_conv[:-1]]
    span_end = np.where(closing.is_closed, closing.closed_at, conv_created + 3 * DAY)[sess_conv]
    sess_start = np.where(
        first_sess,
        conv_created[sess_conv],
        clock.sample(rng, n_sess, "consumer", lo=conv_created[sess_conv] + MINUTE, hi=span_end),
    )
    sess_len = rng.lognormal(np.log(12 * MINUTE), 0.8, n_sess).astype(np.int64) + 30
    sess_end = sess_start + sess_len
    human = ~started.bot_only[sess_conv] & (rng.random(n_sess) < 0.9)
    sess_user = staff.pick(rng, started.org[sess_conv], started.w1o1_inbox[sess_conv])
    # guests (invited outsiders, role guest) join ~3% of the human sessions in the organization's own inbox:
    # they write messages but never count as active users (seed 003)
    guest_rng = rng_for(ctx.seed, "web1on1:guests")
    by_guest = human & ~started.w1o1_inbox[sess_conv] & (guest_rng.random(n_sess) < 0.03)
    for i in np.flatnonzero(by_guest).tolist():
        pool = staff.guests[started.org[sess_conv[i]]]
        if len(pool):
            sess_user[i] = pool[int(guest_rng.integers(0, len(pool)))]
    sess_ids = object_ids(sess_start, _machine(ctx, "sessions"))
    sess_open = (sess_end >= end) | (rng.random(n_sess) < 0.03)
    table = TableData(
        {
            "id": sess_ids,
            "organization_id": orgs.ids[started.org[sess_conv]],
            "conversation_id": started.ids[sess_conv],
            "user_id": null_where(staff.ids[sess_user], ~human),
            "channel": started.channel[sess_conv],
            "started_at": sess_start,
            "ended_at": np.where(sess_open, NULL_INT, sess_end),
        },
        sess_start,
    )
    return table, Sessions(sess_conv, sess_start, sess_len, human, sess_user)


def _messages(
    ctx: Context,
    rng: np.random.Generator,
    orgs: Orgs,
    staff: Staff,
    bots: Bots,
    started: ConversationStarts,
    sess: Sessions,
) -> tuple[TableData, np.ndarray]:
    """The messages, and the bot of each conversation (drawn here, also used by results and bot events)."""
    n_conv, conv_org = len(started.ids), started.org
    n_msg_per = 1 + rng.poisson(4.0, len(sess.conversation))
    msg_sess = np.repeat(np.arange(len(sess.conversation)), n_msg_per)
    n_msg = len(msg_sess)
    msg_conv = sess.conversation[msg_sess]
    msg_ts = np.minimum(
        sess.start[msg_sess] + (rng.random(n_msg) * sess.length[msg_sess]).astype(np.int64), ctx.end - 1
    )
    a_bot = pick(rng, ["contact", "bot", "system"], [50, 45, 5], n_msg)
    a_human = pick(rng, ["contact", "user", "bot", "system"], [45, 42, 6, 7], n_msg)
    author = np.where(sess.human[msg_sess], a_human, a_bot)
    author[(author == "bot") & ~started.bot_involved[msg_conv] & sess.human[msg_sess]] = "user"
    m_org = conv_org[msg_conv]
    conv_bot = bots.first_of_org[conv_org] + (rng.random(n_conv) * bots.per_org[conv_org]).astype(np.int64)
    author_id = np.where(
        author == "user", staff.ids[sess.user[msg_sess]], np.where(author == "bot", bots.ids[conv_bot[msg_conv]], None)
    )
    msg_ids = object_ids(msg_ts, _machine(ctx, "messages"))
    table = TableData(
        {
            "id": msg_ids,
            "organization_id": orgs.ids[m_org],
            "conversation_id": started.ids[msg_conv],
            "author_type": author,
            "author_id": author_id,
            "channel": started.channel[msg_conv],
            "created_at": msg_ts,
        },
        msg_ts,
    )
    return table, conv_bot


def _results(
    ctx: Context,
    rng: np.random.Generator,
    orgs: Orgs,
    staff: Staff,
    bots: Bots,
    started: ConversationStarts,
    contacts: Contacts,
    sess: Sessions,
    conv_bot: np.ndarray,
) -> TableData:
    n_conv, after_sales, cp = len(started.ids), started.after_sales, contacts.people
    has_result = rng.random(n_conv) < np.where(after_sales, 0.5, 0.42)
    res_conv = np.flatnonzero(has_result)
    n_res = len(res_conv)
    res_created = np.minimum(started.created[res_conv] + rng.integers(2 * MINUTE, 30 * MINUTE, n_res), ctx.end - 1)
    res_type = np.where(started.bot_only[res_conv], "bot", pick(rng, ["lead", "service"], [60, 40], n_res))
    res_cat = np.where(
        after_sales[res_conv],
        "aftersales",
        pick(rng, ["sales", "financing", "trade_in", "aftersales", "other"], [52, 12, 13, 8, 15], n_res),
    )
    rc = contacts.of_conversation[res_conv]
    fields = []
    for t, i in zip(res_type.tolist(), rc.tolist(), strict=False):
        if t == "lead" or (t == "bot" and cp.emails[i].endswith("m") and i % 2 == 0):
            fields.append({"name": cp.names[i], "email": cp.emails[i], "phone": cp.phones[i]})
        elif t == "service":
            fields.append({"topic": ["opening hours", "service booking", "recall", "parts"][i % 4]})
        else:
            fields.append({"name": cp.names[i]})
    res_user = sess.user[np.searchsorted(sess.conversation, res_conv)]
    res_ids = object_ids(res_created, _machine(ctx, "results"))
    res_first = {
        "id": res_ids,
        "organization_id": orgs.ids[started.org[res_conv]],
        "conversation_id": started.ids[res_conv],
        "user_id": null_where(staff.ids[res_user], res_type == "bot"),
        "bot_id": null_where(bots.ids[conv_bot[res_conv]], res_type != "bot"),
        "category": obj(res_cat),
        "result_type": obj(res_type),
        "fields": obj(fields),
        "created_at": res_created,
    }
    enriched = obj([dict(f, budget=int(15000 + (i * 7919) % 40000)) for f, i in zip(fields, rc.tolist(), strict=False)])
    res_changed_at = res_created + (rng.exponential(6, n_res) * DAY).astype(np.int64) + HOUR
    res_changed = (rng.random(n_res) < 0.12) & (res_changed_at < ctx.end)
    return versioned(res_first, res_created, dict(res_first, fields=enriched), res_changed_at, res_changed)


def _visitor_events(ctx: Context, rng: np.random.Generator, orgs: Orgs) -> TableData:
    """Website visits; a cookie comes back within 30 minutes, later the same day, or days later."""
    n_org, end = len(orgs.ids), ctx.end
    coverage = rng.uniform(0.35, 0.8, n_org)
    visit_counts = rng.poisson(
        24 * ctx.scale * orgs.potentials["potential_monthly_visitors"] * coverage * orgs.active_share
    )
    v_org = np.repeat(np.arange(n_org), visit_counts)
    n_visit = len(v_org)
    v_ts = ctx.clock.sample(rng, n_visit, "consumer", lo=orgs.created[v_org])
    cookies = obj([f"{c:016x}" for c in rng.integers(0, 2**62, n_visit).tolist()])
    again = rng.choice(4, size=n_visit, p=[0.74, 0.12, 0.06, 0.08])  # none / <30 min / 31-180 min / days later
    rep = np.flatnonzero(again > 0)
    gap = np.where(
        again[rep] == 1,
        rng.integers(MINUTE, 29 * MINUTE, len(rep)),
        np.where(
            again[rep] == 2, rng.integers(31 * MINUTE, 180 * MINUTE, len(rep)), rng.integers(DAY, 20 * DAY, len(rep))
        ),
    )
    ve_src = np.concatenate([np.arange(n_visit), rep])
    ve_ts = np.concatenate([v_ts, v_ts[rep] + gap])
    keep = ve_ts < end
    ve_src, ve_ts = ve_src[keep], ve_ts[keep]
    domains = obj([f"www.{n.lower().replace(' ', '')}.com" for n in orgs.names])
    pages = pick(rng, PAGES, [30, 15, 20, 10, 6, 5, 4, 5, 3, 2], len(ve_src))
    ve_ids = object_ids(ve_ts, _machine(ctx, "visitor_events"))
    return TableData(
        {
            "id": ve_ids,
            "organization_id": orgs.ids[v_org[ve_src]],
            "cookie_id": cookies[ve_src],
            "page_url": obj([f"https://{d}{p}" for d, p in zip(domains[v_org[ve_src]], pages, strict=False)]),
            "occurred_at": ve_ts,
        },
        ve_ts,
    )


def _bot_events(
    ctx: Context, rng: np.random.Generator, orgs: Orgs, bots: Bots, started: ConversationStarts, conv_bot: np.ndarray
) -> TableData:
    bconv = np.flatnonzero(started.bot_involved)
    nb = len(bconv)
    per_kind = {
        "bot_started": np.ones(nb, np.int64),
        "message": rng.poisson(5.0, nb),
        "lead": (rng.random(nb) < 0.25).astype(np.int64),
        "chatpoint": (rng.random(nb) < 0.5).astype(np.int64),
        "point_v1": (rng.random(nb) < 0.3).astype(np.int64),
    }
    be_conv_parts, be_type_parts = [], []
    for kind, counts in per_kind.items():
        be_conv_parts.append(np.repeat(bconv, counts))
        be_type_parts.append(np.full(int(counts.sum()), kind, dtype=object))
    be_conv = np.concatenate(be_conv_parts)
    be_type = np.concatenate(be_type_parts)
    n_be = len(be_conv)
    offset = np.where(be_type == "bot_started", rng.integers(0, 5, n_be), rng.integers(5, 20 * MINUTE, n_be))
    be_ts = np.minimum(started.created[be_conv] + offset, ctx.end - 1)
    points = np.where(
        be_type == "chatpoint", rng.integers(1, 6, n_be), np.where(be_type == "point_v1", rng.integers(1, 11, n_be), -1)
    ).astype(float)
    points[points < 0] = np.nan
    be_ids = object_ids(be_ts, _machine(ctx, "bot_events"))
    no_conv = (be_type == "point_v1") & (rng.random(n_be) < 0.05)
    return TableData(
        {
            "id": be_ids,
            "organization_id": orgs.ids[started.org[be_conv]],
            "bot_id": bots.ids[conv_bot[be_conv]],
            "conversation_id": null_where(started.ids[be_conv], no_conv),
            "event_type": be_type,
            "points": points,
            "occurred_at": be_ts,
        },
        be_ts,
    )


def _after_sales_invitations(
    ctx: Context,
    rng: np.random.Generator,
    orgs: Orgs,
    locs: Locations,
    depts: Departments,
    staff: Staff,
    started: ConversationStarts,
    contacts: Contacts,
) -> TableData:
    """The after-sales funnel: invitation sent, contact joined, dealer joined, first update shared."""
    end = ctx.end
    ai = np.flatnonzero(started.after_sales)
    na = len(ai)
    sent = started.created[ai]
    joined = sent + rng.lognormal(np.log(40 * MINUTE), 1.1, na).astype(np.int64)
    did_join = (rng.random(na) < 0.68) & (joined < end)
    dealer = joined + rng.lognormal(np.log(30 * MINUTE), 1.0, na).astype(np.int64)
    did_dealer = did_join & (rng.random(na) < 0.85) & (dealer < end)
    update = dealer + rng.lognormal(np.log(5 * HOUR), 1.0, na).astype(np.int64)
    did_update = did_dealer & (rng.random(na) < 0.8) & (update < end)
    n_updates = np.where(did_update, 1 + rng.poisson(1.5, na), 0)
    last = np.where(did_update, update, np.where(did_dealer, dealer, np.where(did_join, joined, sent)))
    advisor = staff.pick(rng, started.org[ai], np.zeros(na, bool))
    inv_ids = object_ids(sent, _machine(ctx, "after_sales_invitations"))
    inv_first = {
        "id": inv_ids,
        "organization_id": orgs.ids[started.org[ai]],
        "conversation_id": started.ids[ai],
        "contact_id": contacts.ids[contacts.of_conversation[ai]],
        "location_id": locs.ids[started.location[ai]],
        "department_id": depts.ids[started.department[ai]],
        "user_id": staff.ids[advisor],
        "sent_at": sent,
        "contact_joined_at": np.full(na, NULL_INT),
        "dealer_joined_at": np.full(na, NULL_INT),
        "first_update_shared_at": np.full(na, NULL_INT),
        "updates_shared": np.zeros(na, np.int64),
    }
    inv_second = dict(
        inv_first,
        contact_joined_at=np.where(did_join, joined, NULL_INT),
        dealer_joined_at=np.where(did_dealer, dealer, NULL_INT),
        first_update_shared_at=np.where(did_update, update, NULL_INT),
        updates_shared=n_updates,
    )
    return versioned(inv_first, sent, inv_second, last, did_join)
