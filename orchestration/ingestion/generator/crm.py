"""Lead-automation CRM (seed 001), shaped like a real one (issue 16, DECISIONLOG D100-D104; issue 18, D140-D141).

Three locations in three time zones under two client organisations; agents who join and leave, with a rate
history and daily time entries; leads with hot/warm/cold scores (23/51/26 %). The automation goes live in a fixed
month of the window (`go_live`): before it every first touch is an agent's, in the business hours of the lead's
location (hours, not seconds); after it the workflow web_form -> first_response -> enrichment -> scoring ->
routing -> nurture runs each step only when the previous one succeeded, retrying as the failure type says (crm_ops:
rate limits with backoff, credential outages parked until they end, bad data never), and the automated first
response usually lands within a minute; the engine's heartbeats are `health_checks`. Conversion falls with the
first-response delay and rises with the number of follow-up touches up to six. Deals carry the channel they
closed through; the CRM's own attribution label mostly, but not always, agrees with the class the touches imply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from orchestration.ingestion.generator import crm_ops
from orchestration.ingestion.generator.core import (
    DAY,
    HOUR,
    MINUTE,
    NULL_INT,
    Context,
    TableData,
    format_emails,
    format_phones,
    make_people,
    month_index,
    null_where,
    obj,
    pick,
    prefixed_ids,
    repeat_people,
    rng_for,
    utc_epoch,
    versioned,
)
from orchestration.ingestion.generator.crm_calendar import LOCATIONS, LocationCalendar, calendars, day_of
from orchestration.ingestion.generator.web1on1 import ORG_NAMES

AGENT_NAMES = [
    "Sarah Miller",
    "Mike Rossi",
    "Lisa Kim",
    "David Lee",
    "Anna Novak",
    "Tom Becker",
    "Rosa Diaz",
    "Ken Adams",
    "Jill Parker",
    "Omar Haddad",
    "Grace Liu",
    "Ben Carter",
]
AGENT_LOCATION = [0, 1, 2, 0, 1, 2, 0, 1, 0, 2]  # index into LOCATIONS
LEAVERS = (3, 5)  # agents who leave during the window
JOINERS = (8, 9)  # agents hired during the window
STEPS = ["web_form", "first_response", "enrichment", "scoring", "routing", "nurture"]
STEP_SUCCESS = [0.998, 0.93, 0.82, 0.95, 0.96, 0.97]  # per attempt
STEP_GAP = [(0, 5), (20, 50), (30, 60), (20, 40), (20, 40), (400, 800)]  # seconds after the previous step
STEP_COMPONENT = ["webhook_receiver", "sms_gateway", "apollo_enrichment", "crm_sync", "crm_sync", "email_service"]
COMPONENT_LATENCY_MS = {
    "webhook_receiver": 127,
    "apollo_enrichment": 2300,
    "sms_gateway": 890,
    "email_service": 4200,
    "crm_sync": 1800,
}
MAX_ATTEMPTS = 3
GO_LIVE_MONTH = 6  # months after the first month of the window (month 7 of 24)
CLASSES = ["direct", "assisted", "influenced"]
TIME_SHARES_BEFORE = (45, 35, 20)  # selling, administrative, follow_up (the seed baseline)
TIME_SHARES_AFTER = (78, 12, 10)


def go_live_month_offset(months: int) -> int:
    """The go-live month's offset into the window: month 7 when there are 12 or more months, else a quarter in."""
    return GO_LIVE_MONTH if months >= 12 else months // 4


def build(ctx: Context) -> dict[str, TableData]:
    """Every CRM table. The calls share one random stream, so their order is part of the output."""
    rng = rng_for(ctx.seed, "crm")
    cal = calendars(day_of(ctx.start) - timedelta(days=2), day_of(ctx.end) + timedelta(days=150))
    first_month = int(month_index(np.array([ctx.start]))[0]) + go_live_month_offset(ctx.cfg.months)
    go_live = utc_epoch(1970 + first_month // 12, first_month % 12 + 1, 1)
    locations = _locations(ctx)
    agents, staff, rates = _agents(ctx, rng)
    time_entries = _time_entries(ctx, rng, cal, staff, go_live)
    leads = _arrivals(ctx, rng, staff, go_live)
    windows = crm_ops.outages(ctx.seed, go_live, ctx.end)
    workflow, flow = _workflow_events(ctx, rng, leads, windows)
    funnel = _outcomes(ctx, rng, cal, leads, flow)
    activities, touched = _activities(ctx, rng, cal, funnel, flow)
    appointments, booked = _appointments(ctx, rng, cal, funnel)
    deals = _deals(ctx, rng, funnel, booked, touched)
    system_costs = _system_costs(ctx, rng)
    return {
        "locations": locations,
        "agents": agents,
        "agent_rates": rates,
        "agent_time_entries": time_entries,
        "leads": _with_consent(ctx, _leads(funnel), leads),
        "lead_status_history": _lead_status_history(funnel),
        "activities": activities,
        "appointments": appointments,
        "deals": deals,
        "workflow_events": workflow,
        "system_costs": system_costs,
        "health_checks": crm_ops.health_checks(ctx.seed, go_live, ctx.end, windows),
    }


def _locations(ctx: Context) -> TableData:
    orgs = [ORG_NAMES[min(o, ctx.organizations - 1)] for _, _, o, _, _ in LOCATIONS]
    ts = np.full(len(LOCATIONS), ctx.start + 8 * HOUR, np.int64)
    return TableData(
        {
            "location_id": obj([loc[0] for loc in LOCATIONS]),
            "name": obj([loc[1] for loc in LOCATIONS]),
            "organization_name": obj(orgs),
            "timezone": obj([loc[3] for loc in LOCATIONS]),
            "updated_at": ts,
        },
        ts,
    )


@dataclass(frozen=True)
class Staff:
    ids: np.ndarray
    location: np.ndarray  # index into LOCATIONS
    hired: np.ndarray  # day
    terminated: np.ndarray  # day, NULL_INT while employed
    works_from: np.ndarray  # first instant (UTC s) the agent may act: a full day after the hire date
    works_until: np.ndarray  # last instant (exclusive): a full day before the leaving date


def _agents(ctx: Context, rng: np.random.Generator) -> tuple[TableData, Staff, TableData]:
    start, end = ctx.start, ctx.end
    n_ag = len(AGENT_LOCATION)
    start_day, end_day = start // DAY, (end - 1) // DAY
    span = max(end_day - start_day, 1)
    hired = start_day - rng.integers(30, 900, n_ag)
    hired[list(JOINERS)] = start_day + (span * rng.uniform(0.3, 0.6, len(JOINERS))).astype(np.int64)
    terminated = np.full(n_ag, NULL_INT, np.int64)
    terminated[list(LEAVERS)] = start_day + (span * rng.uniform(0.45, 0.8, len(LEAVERS))).astype(np.int64)
    works_from = (hired + 1) * DAY
    works_until = np.where(terminated == NULL_INT, np.iinfo(np.int64).max // 2, (terminated - 1) * DAY)
    ids = prefixed_ids("AG-", n_ag, width=3)
    loc = np.array(AGENT_LOCATION)

    # rate history: the hiring rate, a raise on every work anniversary, and a raise after six months for anyone
    # whose first anniversary falls outside the window (so every agent has one inside it)
    base = np.round(rng.uniform(28, 55, n_ag), 2)
    r_agent, r_from, r_rate = [], [], []
    current_rate, last_change = base.copy(), np.full(n_ag, NULL_INT, np.int64)
    for a in range(n_ag):
        stop = end_day + 1 if terminated[a] == NULL_INT else min(terminated[a], end_day + 1)
        raises = list(range(int(hired[a]) + 365, int(stop), 365))
        if not any(d >= start_day for d in raises) and max(hired[a], start_day) + 180 < stop:
            raises.append(int(max(hired[a], start_day) + 180))
        rate = float(base[a])
        r_agent.append(a), r_from.append(int(hired[a])), r_rate.append(rate)
        for d in sorted(raises):
            rate = round(rate * float(rng.uniform(1.03, 1.07)), 2)
            r_agent.append(a), r_from.append(d), r_rate.append(rate)
            current_rate[a], last_change[a] = rate, d
    r_from_a = np.array(r_from, np.int64)
    r_ts = np.maximum(r_from_a * DAY + 9 * HOUR, start + 9 * HOUR)
    rates = TableData(
        {
            "agent_id": ids[np.array(r_agent)],
            "valid_from": r_from_a,
            "hourly_rate": np.array(r_rate),
            "updated_at": r_ts,
        },
        r_ts,
    )

    first_ts = np.maximum(hired * DAY + 9 * HOUR, start + 9 * HOUR)
    first_rate = np.array(
        [
            r_rate[
                max(
                    i
                    for i, (ag, d) in enumerate(zip(r_agent, r_from, strict=False))
                    if ag == a and d <= first_ts[a] // DAY
                )
            ]
            for a in range(n_ag)
        ]
    )
    left = terminated != NULL_INT
    change_day = np.where(left, terminated, np.where(last_change == NULL_INT, 0, last_change))
    change_ts = np.maximum(change_day * DAY + 9 * HOUR, first_ts + HOUR)
    changed = (left | (last_change != NULL_INT)) & (change_ts < end)
    first = {
        "agent_id": ids,
        "name": obj(AGENT_NAMES[:n_ag]),
        "location_id": obj([LOCATIONS[i][0] for i in loc]),
        "team": pick(rng, ["Inbound", "Outbound", "Referrals"], [50, 35, 15], n_ag),
        "hourly_rate": first_rate,
        "active": np.ones(n_ag, bool),
        "hired_at": hired,
        "terminated_at": np.full(n_ag, NULL_INT, np.int64),
    }
    second = dict(first, hourly_rate=current_rate, active=~left, terminated_at=terminated)
    table = versioned(first, first_ts, second, change_ts, changed)
    return table, Staff(ids, loc, hired, terminated, works_from, works_until), rates


def _time_entries(
    ctx: Context, rng: np.random.Generator, cal: dict[str, LocationCalendar], staff: Staff, go_live: int
) -> TableData:
    """Minutes per agent, working day and category: 45/35/20 % before go-live, about 78/12/10 % after."""
    cats = obj(["selling", "administrative", "follow_up"])
    e_agent, e_day, e_min, e_ts = [], [], [], []
    for a in range(len(staff.ids)):
        lc = cal[LOCATIONS[staff.location[a]][0]]
        days = lc.working_days()
        keep = (
            (lc.opens >= staff.works_from[a])
            & (lc.closes <= staff.works_until[a])
            & (lc.closes < ctx.end)
            & (lc.opens >= ctx.start)
        )
        days, closes = days[keep], lc.closes[keep]
        total = np.clip(rng.normal(465, 35, len(days)), 300, 600)
        after = closes >= go_live
        alpha = np.where(after[:, None], np.array(TIME_SHARES_AFTER), np.array(TIME_SHARES_BEFORE)) * 2.0
        shares = rng.gamma(alpha)
        shares = shares / shares.sum(axis=1, keepdims=True)
        minutes = np.round(total[:, None] * shares).astype(np.int64)
        e_agent.append(np.full(3 * len(days), a)), e_day.append(np.repeat(days, 3))
        e_min.append(minutes.ravel()), e_ts.append(np.repeat(closes, 3))
    agent, ts = np.concatenate(e_agent), np.concatenate(e_ts)
    order = np.argsort(ts, kind="stable")
    n = len(ts)
    return TableData(
        {
            "agent_id": staff.ids[agent[order]],
            "work_date": np.concatenate(e_day)[order],
            "category": cats[np.tile(np.arange(3), n // 3)][order],
            "minutes": np.concatenate(e_min)[order],
            "updated_at": ts[order],
        },
        ts[order],
    )


@dataclass(frozen=True)
class Leads:
    """Every lead as it arrives: where, with which agent, and how much follow-up effort it will get."""

    n: int
    ids: np.ndarray
    created: np.ndarray
    source: np.ndarray
    location: np.ndarray  # index into LOCATIONS
    band: np.ndarray  # 0 hot, 1 warm, 2 cold
    score: np.ndarray
    priority: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    automated: np.ndarray  # created after go-live: the workflow runs
    agent: np.ndarray  # index into Staff, -1 when unassigned
    agent_ids: np.ndarray  # the agent's id, None when unassigned
    works_until: np.ndarray  # the agent's last working instant (far future when unassigned or staying)
    human_touches: np.ndarray  # follow-up touches the agent makes
    nurture_touches: np.ndarray  # automated nurture e-mails (when nurture succeeds)


@dataclass(frozen=True)
class Funnel:
    """Every lead and its way through the funnel."""

    leads: Leads
    assigned_at: np.ndarray  # NULL_INT when never assigned (or assigned after the end)
    first_version: dict[str, np.ndarray]  # the lead as first exported
    contacted: np.ndarray
    qualified: np.ndarray
    appt: np.ndarray
    won: np.ndarray
    t_first: np.ndarray  # first response (NULL_INT: never)
    first_is_auto: np.ndarray
    t_appt: np.ndarray
    t_close: np.ndarray
    status: np.ndarray  # at the end of the period
    status_ts: np.ndarray
    transitions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Flow:
    """What the workflow did for each lead."""

    first_response_at: np.ndarray  # NULL_INT: no automated first response
    first_response_channel: np.ndarray
    routed_at: np.ndarray  # NULL_INT: not routed by automation
    nurture_at: np.ndarray  # NULL_INT: nurture did not succeed


def _business_after(
    cal: dict[str, LocationCalendar], location: np.ndarray, after: np.ndarray, business_seconds: np.ndarray
) -> np.ndarray:
    """The instant `business_seconds` of opening hours after `after`, in each lead's location."""
    out = np.empty(len(after), np.int64)
    for i, (loc_id, *_rest) in enumerate(LOCATIONS):
        m = location == i
        lc = cal[loc_id]
        out[m] = lc.at(lc.position(after[m]) + business_seconds[m])
    return out


def _business_between(
    rng: np.random.Generator, cal: dict[str, LocationCalendar], location: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """A random instant in opening hours within [lo, hi), weighted by the weekday rhythm (at the first opening
    after lo when the window holds no opening hours)."""
    out = np.empty(len(lo), np.int64)
    u = rng.random(len(lo))
    for i, (loc_id, *_rest) in enumerate(LOCATIONS):
        m = location == i
        lc = cal[loc_id]
        p_lo, p_hi = lc.position(lo[m], weighted=True), lc.position(hi[m], weighted=True)
        out[m] = lc.at(p_lo + u[m] * (p_hi - p_lo), weighted=True)
    return np.maximum(out, lo)


def _arrivals(ctx: Context, rng: np.random.Generator, staff: Staff, go_live: int) -> Leads:
    """The leads, their location and agent, before anything happens to them."""
    clock, _end = ctx.clock, ctx.end
    n = ctx.scaled(9_600)
    created = np.sort(clock.sample(rng, n, "business"))
    ids = prefixed_ids("L-", n)
    source = pick(rng, ["Website Forms", "Social Media", "Referrals", "Paid Ads"], [42, 16, 11, 31], n)
    location = rng.choice(len(LOCATIONS), size=n, p=np.array([loc[4] for loc in LOCATIONS]) / 100)
    band = rng.choice(3, size=n, p=[0.23, 0.51, 0.26])  # hot, warm, cold
    score = np.where(
        band == 0, rng.integers(80, 101, n), np.where(band == 1, rng.integers(40, 80, n), rng.integers(0, 40, n))
    ).astype(np.int64)
    score[rng.random(n) < 0.03] = NULL_INT
    priority = np.where(band == 0, "high", np.where(band == 1, "normal", "low")).astype(object)
    flip = rng.random(n) < 0.1
    priority[flip] = pick(rng, ["high", "normal", "low"], None, int(flip.sum()))
    automated = created >= go_live

    # an agent of the lead's location (any location when none) employed from arrival through 120 days later
    employed = (staff.works_from[None, :] <= created[:, None]) & (
        staff.works_until[None, :] > created[:, None] + 120 * DAY
    )
    local = employed & (staff.location[None, :] == location[:, None])
    pool = np.where(local.any(axis=1)[:, None], local, employed)
    draw = np.where(pool, rng.random(pool.shape), -1.0)
    agent = np.where(pool.any(axis=1) & (rng.random(n) < 0.92), draw.argmax(axis=1), -1)
    assigned = agent >= 0
    works_until = np.where(assigned, staff.works_until[np.maximum(agent, 0)], np.iinfo(np.int64).max // 2)

    pool_people = make_people(rng, n, "crm")
    who = repeat_people(rng, n, pool_people, 0.08)
    email = null_where(format_emails(rng, pool_people.emails[who], 0.25), rng.random(n) < 0.1)
    phone = null_where(format_phones(rng, pool_people.phones[who]), rng.random(n) < 0.15)

    # follow-up effort: before go-live every assigned lead gets agent follow-ups; after it a third are left to
    # the automation's nurture e-mails alone
    human = np.where(assigned, 1 + rng.poisson(2.0, n), 0)
    human[automated & (rng.random(n) < 0.35)] = 0
    nurture = 1 + rng.poisson(1.5, n)
    agent_ids = null_where(staff.ids[np.maximum(agent, 0)], ~assigned)
    return Leads(
        n,
        ids,
        created,
        source,
        location,
        band,
        score,
        priority,
        email,
        phone,
        automated,
        agent,
        agent_ids,
        works_until,
        human,
        nurture,
    )


def _workflow_events(
    ctx: Context, rng: np.random.Generator, leads: Leads, windows: list[crm_ops.Outage]
) -> tuple[TableData, Flow]:
    """Each step runs only after the previous one succeeded. The failure type decides the retry (D140): an
    api_limit is retried after 1 and 4 minutes; an authentication failure happens only inside an outage of the
    component, and the step is parked until the outage ends; a data_validation failure is final. Three attempts
    at most. One execution per lead."""
    n, end = leads.n, ctx.end
    parked_rng = rng_for(ctx.seed, "crm_parked")
    sms_first = rng.random(n) < 0.7
    ok = leads.automated.copy()
    ready = leads.created.copy()
    e_lead, e_step, e_comp, e_ok, e_lat, e_err, e_ts, e_att = [], [], [], [], [], [], [], []
    done_at = []
    for k, step in enumerate(STEPS):
        lo, hi = STEP_GAP[k]
        t = ready + rng.integers(lo, hi + 1, n)
        comp = np.full(n, STEP_COMPONENT[k], dtype=object)
        if step == "first_response":
            comp[~sms_first] = "email_service"
        running = ok.copy()
        success_at = np.full(n, NULL_INT, np.int64)
        for attempt in range(MAX_ATTEMPTS):
            idx = np.flatnonzero(running)
            is_down, back = crm_ops.down(comp[idx], t[idx], windows)
            good = (rng.random(len(idx)) < STEP_SUCCESS[k]) & ~is_down
            err = np.where(
                is_down, "authentication", pick(rng, ["api_limit", "data_validation"], [65, 35], len(idx))
            ).astype(object)
            median = np.array([COMPONENT_LATENCY_MS[c] for c in comp[idx]])
            latency = (median * rng.lognormal(0, 0.45, len(idx))).astype(np.int64)
            latency[~good] = latency[~good] * 3
            latency[is_down] = latency[is_down] // 10  # a rejected credential is answered at once
            latency[rng.random(len(idx)) < 0.01] = NULL_INT
            e_lead.append(idx), e_step.append(np.full(len(idx), k)), e_comp.append(comp[idx])
            e_ok.append(good), e_lat.append(latency), e_err.append(null_where(err, good)), e_ts.append(t[idx])
            e_att.append(np.full(len(idx), attempt + 1, np.int64))
            success_at[idx[good]] = t[idx[good]]
            running[idx] = ~good & (err != "data_validation")
            t = t + 60 * 4**attempt + rng.integers(0, 15, n)
            parked = idx[is_down]
            t[parked] = np.maximum(t[parked], back[is_down] + parked_rng.integers(60, 600, len(parked)))
        ok = success_at != NULL_INT
        done_at.append(success_at)
        ready = np.where(ok, success_at, ready)
    ts = np.concatenate(e_ts)
    keep = ts < end
    order = np.argsort(ts[keep], kind="stable")
    lead = np.concatenate(e_lead)[keep][order]
    step_idx = np.concatenate(e_step)[keep][order]
    good = np.concatenate(e_ok)[keep][order]
    comp = np.concatenate(e_comp)[keep][order]
    err = np.concatenate(e_err)[keep][order]
    answer = crm_ops.responses(rng_for(ctx.seed, "crm_responses"), comp, good, err, ts[keep][order])
    table = TableData(
        {
            "event_id": prefixed_ids("WE-", len(lead), width=8),
            "execution_id": prefixed_ids("EX-", n)[lead],
            "lead_id": leads.ids[lead],
            "step": obj(STEPS)[step_idx],
            "attempt": np.concatenate(e_att)[keep][order],
            "component": comp,
            "vendor": answer["vendor"],
            "status": np.where(good, "success", "failure").astype(object),
            "http_status": answer["http_status"],
            "latency_ms": np.concatenate(e_lat)[keep][order],
            "error_category": err,
            "rate_limit_remaining": answer["rate_limit_remaining"],
            "rate_limit_limit": answer["rate_limit_limit"],
            "occurred_at": ts[keep][order],
        },
        ts[keep][order],
    )

    def before_end(t: np.ndarray) -> np.ndarray:
        return np.where((t != NULL_INT) & (t < end), t, NULL_INT)

    flow = Flow(
        before_end(done_at[1]),
        np.where(sms_first, "sms", "email").astype(object),
        before_end(done_at[4]),
        before_end(done_at[5]),
    )
    return table, flow


def _outcomes(
    ctx: Context, rng: np.random.Generator, cal: dict[str, LocationCalendar], leads: Leads, flow: Flow
) -> Funnel:
    """First response, assignment time and the way through the funnel, once the workflow's outcome is known."""
    n, end, created, location = leads.n, ctx.end, leads.created, leads.location
    assigned = leads.agent >= 0
    band, works_until = leads.band, leads.works_until
    # routing assigns at once; otherwise someone triages the lead by hand in opening hours (median 1 hour)
    triage = _business_after(cal, location, created, rng.lognormal(np.log(1 * HOUR), 1.0, n).astype(np.int64))
    assigned_at = np.where(flow.routed_at != NULL_INT, flow.routed_at, triage)
    assigned_at = np.where(assigned & (assigned_at < end), assigned_at, NULL_INT)
    # the agent's first touch: 1.5 business hours (median) after assignment; 5 % of leads are never answered
    manual_first = _business_after(
        cal,
        location,
        np.where(assigned, np.maximum(assigned_at, created), created),
        rng.lognormal(np.log(1.5 * HOUR), 1.1, n).astype(np.int64),
    )
    answered_by_hand = assigned & (rng.random(n) < 0.95)
    auto_first = flow.first_response_at != NULL_INT
    t_first = np.where(auto_first, flow.first_response_at, np.where(answered_by_hand, manual_first, NULL_INT))
    t_first = np.where(
        (t_first != NULL_INT) & (t_first < end) & (t_first < works_until) | auto_first, t_first, NULL_INT
    )
    contacted = t_first != NULL_INT

    # conversion: response factor falls from 1 (seconds) to 0.35 (a day or more); touch factor rises to 1 at 6
    delay = np.where(contacted, t_first - created, 30 * DAY).astype(float)
    response = 0.35 + 0.65 * np.exp(-delay / (3 * HOUR))
    touches = leads.human_touches + np.where(flow.nurture_at != NULL_INT, leads.nurture_touches, 0)
    follow_up = 0.3 + 0.7 * np.minimum(touches, 6) / 6
    p_qual = np.array([0.97, 0.85, 0.55])[band] * response
    p_appt = np.array([0.9, 0.72, 0.55])[band] * follow_up
    p_won = np.array([0.85, 0.62, 0.44])[band]
    qualified = contacted & assigned & (rng.random(n) < p_qual)
    appt = qualified & (rng.random(n) < p_appt)
    won = appt & (rng.random(n) < p_won)
    lost = ~won & (rng.random(n) < 0.85)
    base = np.where(contacted, t_first, created)
    t_qual = base + rng.lognormal(np.log(1 * DAY), 0.7, n).astype(np.int64)
    t_appt = t_qual + rng.lognormal(np.log(2 * DAY), 0.6, n).astype(np.int64)
    t_close = t_appt + rng.lognormal(np.log(8 * DAY), 0.6, n).astype(np.int64)
    # an agent who leaves does not close deals afterwards: such leads stall where they are
    stalls = assigned & (np.maximum(t_close, t_appt + 10 * DAY) + DAY >= works_until)
    appt, won = appt & ~stalls, won & ~stalls
    stage_t = [t_first, t_qual, t_appt, t_close]
    stage_ok = [contacted & (t_first < end), qualified & (t_qual < end), appt & (t_appt < end)]
    h_lead, h_from = [np.arange(n)], [np.full(n, None, dtype=object)]
    h_to, h_ts = [np.full(n, "new", dtype=object)], [created]
    names = ["new", "contacted", "qualified", "appointment_set"]
    status = np.full(n, "new", dtype=object)
    status_ts = created.copy()
    reached = np.ones(n, bool)
    for k in range(3):
        step = reached & stage_ok[k]
        h_lead.append(np.flatnonzero(step))
        h_from.append(np.full(int(step.sum()), names[k], dtype=object))
        h_to.append(np.full(int(step.sum()), names[k + 1], dtype=object))
        h_ts.append(stage_t[k][step])
        status[step] = names[k + 1]
        status_ts[step] = stage_t[k][step]
        reached = step
    won_now = reached & won & (t_close < end)
    lost_at = status_ts + rng.lognormal(np.log(10 * DAY), 0.7, n).astype(np.int64)
    lost_now = ~won & lost & (lost_at < end) & (status != "new")
    lost_ts = np.where(reached & ~won, np.maximum(t_close, status_ts + HOUR), lost_at)
    lost_now = lost_now & (lost_ts < end)
    for mask, label, ts in ((won_now, "won", t_close), (lost_now, "lost", lost_ts)):
        h_lead.append(np.flatnonzero(mask))
        h_from.append(status[mask].copy())
        h_to.append(np.full(int(mask.sum()), label, dtype=object))
        h_ts.append(ts[mask])
        status[mask] = label
        status_ts[mask] = ts[mask]
    first_version = {
        "lead_id": leads.ids,
        "location_id": obj([LOCATIONS[i][0] for i in location]),
        "source": leads.source,
        "score": leads.score,
        "status": obj(["new"] * n),
        "priority": leads.priority,
        "assigned_agent_id": np.full(n, None, dtype=object),
        "assigned_at": np.full(n, NULL_INT, np.int64),
        "email": leads.email,
        "phone": leads.phone,
        "created_at": created,
    }
    transitions = (np.concatenate(h_lead), np.concatenate(h_from), np.concatenate(h_to), np.concatenate(h_ts))
    return Funnel(
        leads,
        assigned_at,
        first_version,
        contacted,
        qualified,
        appt,
        won,
        t_first,
        auto_first,
        t_appt,
        t_close,
        status,
        status_ts,
        transitions,
    )


def _leads(funnel: Funnel) -> TableData:
    """First exported new and unassigned; the later version carries the assignment and the current status."""
    assigned = funnel.assigned_at != NULL_INT
    second = dict(
        funnel.first_version,
        status=funnel.status,
        assigned_agent_id=null_where(funnel.leads.agent_ids, ~assigned),
        assigned_at=funnel.assigned_at,
    )
    second_ts = np.where(assigned, np.maximum(funnel.status_ts, funnel.assigned_at), funnel.status_ts)
    return versioned(funnel.first_version, funnel.leads.created, second, second_ts, (funnel.status != "new") | assigned)


def _with_consent(ctx: Context, table: TableData, leads: Leads) -> TableData:
    """Consent and opt-out times per channel on every version of a lead (issue 20, TCPA for SMS, CAN-SPAM for
    e-mail). Consent comes with the form, at arrival: 97 % of leads for SMS, 99 % for e-mail; 4 % opt out of SMS
    and 2 % of e-mail 1-30 days later. The automation does not check either, so some SMS and e-mails go to leads
    without consent or after their opt-out: the violations the compliance report finds. A stream of its own, so
    the other tables do not change."""
    rng = rng_for(ctx.seed, "crm_consent")
    n, created = leads.n, leads.created
    out = dict(table.columns)
    row = np.searchsorted(leads.ids, out["lead_id"])  # prefixed ids are in arrival order and sorted
    for channel, consent_share, opt_out_share in (("sms", 0.97, 0.04), ("email", 0.99, 0.02)):
        consent = np.where(rng.random(n) < consent_share, created, NULL_INT)
        opt_out = np.where(rng.random(n) < opt_out_share, created + rng.integers(DAY, 30 * DAY, n), NULL_INT)
        opt_out = np.where(opt_out < ctx.end, opt_out, NULL_INT)
        out[f"{channel}_consent_at"] = consent[row]
        # a version exported before the opt-out does not know it yet
        out[f"{channel}_opt_out_at"] = np.where(opt_out[row] <= table.file_ts, opt_out[row], NULL_INT)
    return TableData(out, table.file_ts)


def _lead_status_history(funnel: Funnel) -> TableData:
    hl, h_from, h_to, hts = funnel.transitions
    order = np.argsort(hts, kind="stable")
    hl, hts = hl[order], hts[order]
    return TableData(
        {
            "history_id": prefixed_ids("H-", len(hl), width=7),
            "lead_id": funnel.leads.ids[hl],
            "from_status": h_from[order],
            "to_status": h_to[order],
            "changed_at": hts,
        },
        hts,
    )


@dataclass(frozen=True)
class Touched:
    has_auto: np.ndarray  # per lead: an automated activity
    manual_after_auto: np.ndarray  # per lead: a manual outbound touch after the first automated one


def _activities(
    ctx: Context, rng: np.random.Generator, cal: dict[str, LocationCalendar], funnel: Funnel, flow: Flow
) -> tuple[TableData, Touched]:
    """The first response (automated, or the agent's), the agent's follow-ups in the opening hours of the lead's
    location, and the nurture e-mails of leads whose whole workflow succeeded."""
    leads, end = funnel.leads, ctx.end
    n, agent = leads.n, leads.agent
    closed = np.isin(funnel.status, ["won", "lost"])
    stop = np.where(closed, funnel.status_ts, end)
    auto_fr = np.flatnonzero(flow.first_response_at != NULL_INT)
    manual_fr = np.flatnonzero(funnel.contacted & ~funnel.first_is_auto)
    follow = funnel.contacted & (agent >= 0)
    f_lead = np.repeat(np.arange(n), np.where(follow, leads.human_touches, 0))
    f_ts = _business_between(
        rng, cal, leads.location[f_lead], funnel.t_first[f_lead] + 10 * MINUTE, funnel.t_first[f_lead] + 20 * DAY
    )
    nurtured = flow.nurture_at != NULL_INT
    counts = np.where(nurtured, leads.nurture_touches, 0)
    n_lead = np.repeat(np.arange(n), counts)
    k = np.arange(len(n_lead)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_ts = flow.nurture_at[n_lead] + k * 2 * DAY + rng.integers(0, 6 * HOUR, len(n_lead))
    lead = np.concatenate([auto_fr, manual_fr, f_lead, n_lead])
    ts = np.concatenate([flow.first_response_at[auto_fr], funnel.t_first[manual_fr], f_ts, n_ts])
    auto = np.concatenate(
        [np.ones(len(auto_fr), bool), np.zeros(len(manual_fr) + len(f_lead), bool), np.ones(len(n_lead), bool)]
    )
    chan = np.concatenate(
        [
            flow.first_response_channel[auto_fr],
            pick(rng, ["phone", "email", "sms"], [60, 25, 15], len(manual_fr)),
            pick(rng, ["phone", "email", "sms"], [45, 35, 20], len(f_lead)),
            np.full(len(n_lead), "email", dtype=object),
        ]
    )
    direction = np.concatenate(
        [
            np.full(len(auto_fr) + len(manual_fr), "outbound", dtype=object),
            pick(rng, ["outbound", "inbound"], [65, 35], len(f_lead)),
            np.full(len(n_lead), "outbound", dtype=object),
        ]
    )
    first_touch = np.concatenate(
        [np.ones(len(auto_fr) + len(manual_fr), bool), np.zeros(len(f_lead) + len(n_lead), bool)]
    )
    keep = (ts < end) & (first_touch | (ts <= stop[lead])) & (auto | (ts < leads.works_until[lead]))
    order = np.argsort(ts[keep], kind="stable")
    lead, ts, auto = lead[keep][order], ts[keep][order], auto[keep][order]
    chan, direction = chan[keep][order], direction[keep][order]
    table = TableData(
        {
            "activity_id": prefixed_ids("A-", len(lead), width=7),
            "lead_id": leads.ids[lead],
            "agent_id": null_where(leads.agent_ids[lead], auto),
            "channel": chan,
            "direction": direction,
            "is_automated": auto,
            "occurred_at": ts,
        },
        ts,
    )
    first_auto = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_auto, lead[auto], ts[auto])
    manual_out = ~auto & (direction == "outbound")
    after = np.zeros(n, bool)
    after[lead[manual_out & (ts > first_auto[lead])]] = True
    return table, Touched(first_auto < np.iinfo(np.int64).max, after)


@dataclass(frozen=True)
class Appointments:
    leads: np.ndarray  # lead index of each appointment, ascending
    scheduled_for: np.ndarray
    outcome: np.ndarray
    done: np.ndarray  # the outcome is known before the end


def _appointments(
    ctx: Context, rng: np.random.Generator, cal: dict[str, LocationCalendar], funnel: Funnel
) -> tuple[TableData, Appointments]:
    ap = np.flatnonzero(funnel.appt & (funnel.t_appt < ctx.end))
    na = len(ap)
    ap_created = funnel.t_appt[ap]
    sched = _business_between(rng, cal, funnel.leads.location[ap], ap_created + 20 * HOUR, ap_created + 8 * DAY)
    sched = np.where(sched <= ap_created, ap_created + 2 * DAY, sched)
    ap_outcome = np.where(
        funnel.won[ap], "completed", pick(rng, ["completed", "no_show", "cancelled"], [60, 22, 18], na)
    )
    ap_done_at = sched + HOUR
    ap_changed = ap_done_at < ctx.end
    ap_first = {
        "appointment_id": prefixed_ids("AP-", na),
        "lead_id": funnel.leads.ids[ap],
        "agent_id": funnel.leads.agent_ids[ap],
        "status": obj(["scheduled"] * na),
        "scheduled_for": sched,
        "created_at": ap_created,
    }
    table = versioned(ap_first, ap_created, dict(ap_first, status=obj(ap_outcome)), ap_done_at, ap_changed)
    return table, Appointments(ap, sched, ap_outcome, ap_changed)


def derived_class(
    in_system: np.ndarray, close_channel: np.ndarray, has_auto: np.ndarray, manual_after_auto: np.ndarray
) -> np.ndarray:
    """Attribution class of a won deal, first rule that holds (issue 16, D102)."""
    return np.where(
        in_system & (close_channel == "other"),
        "influenced",
        np.where(manual_after_auto, "assisted", np.where(has_auto, "direct", "none")),
    ).astype(object)


def _deals(
    ctx: Context, rng: np.random.Generator, funnel: Funnel, appointments: Appointments, touched: Touched
) -> TableData:
    """Opened when the appointment completes; a won deal records the channel it closed through."""
    ap, sched = appointments.leads, appointments.scheduled_for
    dl = ap[(appointments.outcome == "completed") & appointments.done]
    nd = len(dl)
    d_created = funnel.t_appt[dl] + 2 * HOUR
    d_created = np.maximum(d_created, sched[np.searchsorted(ap, dl)] + HOUR)
    d_close = np.maximum(funnel.t_close[dl], d_created + HOUR)
    d_won = funnel.won[dl]
    d_closed = d_close < ctx.end
    source = funnel.leads.source
    base_value = np.where(
        source[dl] == "Referrals",
        12_300,
        np.where(source[dl] == "Website Forms", 8_950, np.where(source[dl] == "Social Media", 7_200, 6_800)),
    )
    value = np.round(base_value * rng.lognormal(0, 0.35, nd), 2)
    has_auto, after = touched.has_auto[dl], touched.manual_after_auto[dl]
    in_system = funnel.leads.automated[dl] | has_auto
    u = rng.random(nd)
    channel = np.where(
        in_system & (u < 0.15),
        "other",
        np.where(
            after,
            np.where(u < 0.9, "agent", "automation"),
            np.where(has_auto, np.where(u < 0.85, "automation", "agent"), np.where(u < 0.85, "agent", "other")),
        ),
    ).astype(object)
    cls = derived_class(in_system, channel, has_auto, after)
    label = null_where(cls, cls == "none")
    wrong = rng.random(nd) < 0.04  # the CRM's label is sometimes wrong: the reconciliation check finds these
    options = obj([*CLASSES, None])
    for i in np.flatnonzero(wrong).tolist():
        others = [o for o in options if o != label[i]]
        label[i] = others[int(rng.integers(0, len(others)))]
    d_status = np.where(d_won, "won", "lost").astype(object)
    d_first = {
        "deal_id": prefixed_ids("D-", nd),
        "lead_id": funnel.leads.ids[dl],
        "agent_id": funnel.leads.agent_ids[dl],
        "status": obj(["open"] * nd),
        "value": value,
        "attribution_type": label,
        "close_channel": np.full(nd, None, dtype=object),
        "created_at": d_created,
        "closed_at": np.full(nd, NULL_INT),
    }
    d_second = dict(d_first, status=d_status, closed_at=d_close, close_channel=null_where(channel, ~d_won))
    return versioned(d_first, d_created, d_second, d_close, d_closed)


def _system_costs(ctx: Context, rng: np.random.Generator) -> TableData:
    start, end = ctx.start, ctx.end
    months = np.arange(int(month_index(np.array([start]))[0]), int(month_index(np.array([end - 1]))[0]) + 1)
    sc_month, sc_cat, sc_amt, sc_ts = [], [], [], []
    for m in months.tolist():
        m_start = utc_epoch(1970 + m // 12, m % 12 + 1, 1)
        for cat, amount in (
            ("infrastructure", 12.0),
            ("api", float(np.round(rng.uniform(70, 110), 2))),
            ("support", 0.0),
        ):
            sc_month.append(m_start // DAY)
            sc_cat.append(cat)
            sc_amt.append(amount)
            sc_ts.append(min(m_start + DAY + 8 * HOUR, end - 1))
    sc_ts_a = np.array(sc_ts, np.int64)
    return TableData(
        {
            "month": np.array(sc_month, np.int64),
            "category": obj(sc_cat),
            "amount": np.array(sc_amt),
            "updated_at": sc_ts_a,
        },
        sc_ts_a,
    )
