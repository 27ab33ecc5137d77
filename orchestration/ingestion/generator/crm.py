"""Lead-automation CRM (seed 001): agents, leads with hot/warm/cold scores (23/51/26%) and source mix,
the status funnel lead -> contacted -> qualified -> appointment -> won (hot leads convert most),
status history, activities (automated first response within a minute), appointments, deals with
attribution types, the 6-step workflow events with per-step success rates, and monthly system costs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.ingestion.generator.core import (Context, DAY, HOUR, MINUTE, NULL_INT, TableData, format_emails, format_phones,
                                          make_people, month_index, null_where, obj, pick, prefixed_ids,
                                          repeat_people, rng_for, utc_epoch, versioned)

AGENT_NAMES = ["Sarah Miller", "Mike Rossi", "Lisa Kim", "David Lee", "Anna Novak", "Tom Becker", "Rosa Diaz",
               "Ken Adams", "Jill Parker", "Omar Haddad", "Grace Liu", "Ben Carter"]
STEPS = ["web_form", "first_response", "enrichment", "scoring", "routing", "nurture"]
STEP_SUCCESS = [0.998, 0.987, 0.873, 0.921, 0.948, 0.962]
STEP_COMPONENT = ["webhook_receiver", "sms_gateway", "apollo_enrichment", "crm_sync", "crm_sync", "email_service"]
COMPONENT_LATENCY_MS = {"webhook_receiver": 127, "apollo_enrichment": 2300, "sms_gateway": 890,
                        "email_service": 4200, "crm_sync": 1800}


def build(ctx: Context) -> dict[str, TableData]:
    """Every CRM table. The calls share one random stream, so their order is part of the output."""
    rng = rng_for(ctx.seed, "crm")
    agents, staff = _agents(ctx, rng)
    funnel = _funnel(ctx, rng, staff)
    activities = _activities(ctx, rng, funnel)
    appointments, booked = _appointments(ctx, rng, funnel)
    deals = _deals(ctx, rng, funnel, booked)
    workflow = _workflow_events(ctx, rng, funnel)
    system_costs = _system_costs(ctx, rng)
    return {"agents": agents, "leads": _leads(funnel), "lead_status_history": _lead_status_history(funnel),
            "activities": activities, "appointments": appointments, "deals": deals, "workflow_events": workflow,
            "system_costs": system_costs}


@dataclass(frozen=True)
class Agents:
    ids: np.ndarray
    employed: np.ndarray  # indexes of the agents still employed at the end


@dataclass(frozen=True)
class Funnel:
    """Every lead and its way through the funnel (hot leads convert most)."""

    n: int
    ids: np.ndarray
    created: np.ndarray
    source: np.ndarray
    agent_ids: np.ndarray  # the lead's agent
    first_version: dict[str, np.ndarray]  # the lead as first exported
    contacted: np.ndarray
    qualified: np.ndarray
    appt: np.ndarray
    won: np.ndarray
    t_contact: np.ndarray
    t_appt: np.ndarray
    t_close: np.ndarray
    status: np.ndarray  # at the end of the period
    status_ts: np.ndarray
    transitions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # lead index, from, to, at (unsorted)


def _agents(ctx: Context, rng: np.random.Generator) -> tuple[TableData, Agents]:
    clock, start, end = ctx.clock, ctx.start, ctx.end
    n_ag = 10
    hired = (start // DAY) - rng.integers(30, 900, n_ag)
    # two hires during the period; the modulo keeps them inside short periods (no-op for 14+ months)
    hired[-2:] = (start + rng.integers(90, 400, 2) % max((end - start) // DAY - 1, 1) * DAY) // DAY
    ag_first_ts = np.maximum(hired * DAY + 9 * HOUR, start + 9 * HOUR)
    ag_ids = prefixed_ids("AG-", n_ag, width=3)
    rate = np.round(rng.uniform(28, 55, n_ag), 2)
    ag_first = {"agent_id": ag_ids, "name": obj(AGENT_NAMES[:n_ag]),
                "team": pick(rng, ["Inbound", "Outbound", "Referrals"], [50, 35, 15], n_ag),
                "hourly_rate": rate, "active": np.ones(n_ag, bool), "hired_at": hired}
    ag_change_at = clock.sample(rng, n_ag, "business", lo=ag_first_ts + 60 * DAY)
    ag_changed = (rng.random(n_ag) < 0.4) & (ag_first_ts + 60 * DAY < end)
    ag_active2 = ~(np.arange(n_ag) == 3)
    table = versioned(ag_first, ag_first_ts, dict(ag_first, hourly_rate=np.round(rate * 1.05, 2), active=ag_active2),
                      ag_change_at, ag_changed | ~ag_active2 & (ag_first_ts + 60 * DAY < end))
    return table, Agents(ag_ids, np.flatnonzero(ag_active2))


def _funnel(ctx: Context, rng: np.random.Generator, agents: Agents) -> Funnel:
    clock, end = ctx.clock, ctx.end
    employed = agents.employed
    n = ctx.scaled(9_600)
    created = np.sort(clock.sample(rng, n, "business"))
    ids = prefixed_ids("L-", n)
    source = pick(rng, ["Website Forms", "Social Media", "Referrals", "Paid Ads"], [42, 16, 11, 31], n)
    band = rng.choice(3, size=n, p=[0.23, 0.51, 0.26])  # hot, warm, cold
    score = np.where(band == 0, rng.integers(80, 101, n), np.where(band == 1, rng.integers(40, 80, n),
                                                                   rng.integers(0, 40, n))).astype(np.int64)
    score[rng.random(n) < 0.03] = NULL_INT
    priority = np.where(band == 0, "high", np.where(band == 1, "normal", "low")).astype(object)
    flip = rng.random(n) < 0.1
    priority[flip] = pick(rng, ["high", "normal", "low"], None, int(flip.sum()))
    agent = employed[rng.integers(0, len(employed), n)]
    assigned = rng.random(n) < 0.92
    pool = make_people(rng, n, "crm")
    who = repeat_people(rng, n, pool, 0.08)
    email = null_where(format_emails(rng, pool.emails[who], 0.25), rng.random(n) < 0.1)
    phone = null_where(format_phones(rng, pool.phones[who]), rng.random(n) < 0.15)

    # funnel: contacted 98% -> qualified -> appointment_set -> won, with hot leads converting most
    p_qual = np.array([0.9, 0.7, 0.4])[band]
    p_appt = np.array([0.85, 0.62, 0.45])[band]
    p_won = np.array([0.85, 0.62, 0.44])[band]
    contacted = rng.random(n) < 0.98
    qualified = contacted & (rng.random(n) < p_qual)
    appt = qualified & (rng.random(n) < p_appt)
    won = appt & (rng.random(n) < p_won)
    lost = ~won & (rng.random(n) < 0.85)
    t_contact = created + rng.integers(20, 60, n)
    t_qual = t_contact + rng.lognormal(np.log(1 * DAY), 0.7, n).astype(np.int64)
    t_appt = t_qual + rng.lognormal(np.log(2 * DAY), 0.6, n).astype(np.int64)
    t_close = t_appt + rng.lognormal(np.log(8 * DAY), 0.6, n).astype(np.int64)
    stage_t = [t_contact, t_qual, t_appt, t_close]
    stage_ok = [contacted & (t_contact < end), qualified & (t_qual < end), appt & (t_appt < end)]
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
    first_version = {"lead_id": ids, "source": source, "score": score, "status": obj(["new"] * n),
                     "priority": priority, "assigned_agent_id": null_where(agents.ids[agent], ~assigned),
                     "email": email, "phone": phone, "created_at": created}
    transitions = (np.concatenate(h_lead), np.concatenate(h_from), np.concatenate(h_to), np.concatenate(h_ts))
    return Funnel(n, ids, created, source, agents.ids[agent], first_version, contacted, qualified, appt, won, t_contact, t_appt,
                  t_close, status, status_ts, transitions)


def _leads(funnel: Funnel) -> TableData:
    return versioned(funnel.first_version, funnel.created, dict(funnel.first_version, status=funnel.status),
                     funnel.status_ts, funnel.status != "new")


def _lead_status_history(funnel: Funnel) -> TableData:
    hl, h_from, h_to, hts = funnel.transitions
    order = np.argsort(hts, kind="stable")
    hl, hts = hl[order], hts[order]
    return TableData({"history_id": prefixed_ids("H-", len(hl), width=7), "lead_id": funnel.ids[hl],
                      "from_status": h_from[order], "to_status": h_to[order], "changed_at": hts}, hts)


def _activities(ctx: Context, rng: np.random.Generator, funnel: Funnel) -> TableData:
    """An automated first response within a minute, then touches by the lead's agent."""
    n, end, contacted, t_contact = funnel.n, ctx.end, funnel.contacted, funnel.t_contact
    auto = contacted & (t_contact < end)
    a_lead = [np.flatnonzero(auto)]
    a_ts = [t_contact[auto]]
    a_chan = [pick(rng, ["sms", "email"], [70, 30], int(auto.sum()))]
    a_dir = [np.full(int(auto.sum()), "outbound", dtype=object)]
    a_auto = [np.ones(int(auto.sum()), bool)]
    touches = rng.poisson(np.where(funnel.qualified, 3.5, 1.2))
    t_lead = np.repeat(np.arange(n), touches)
    t_ts = ctx.clock.sample(rng, len(t_lead), "business", lo=t_contact[t_lead] + 10 * MINUTE,
                            hi=t_contact[t_lead] + 20 * DAY)
    a_lead.append(t_lead)
    a_ts.append(t_ts)
    a_chan.append(pick(rng, ["phone", "email", "sms"], [45, 35, 20], len(t_lead)))
    a_dir.append(pick(rng, ["outbound", "inbound"], [65, 35], len(t_lead)))
    a_auto.append(rng.random(len(t_lead)) < 0.25)
    al, ats = np.concatenate(a_lead), np.concatenate(a_ts)
    keep = ats < end
    order = np.argsort(ats[keep], kind="stable")
    al, ats = al[keep][order], ats[keep][order]
    aauto = np.concatenate(a_auto)[keep][order]
    return TableData({"activity_id": prefixed_ids("A-", len(al), width=7), "lead_id": funnel.ids[al],
                      "agent_id": null_where(funnel.agent_ids[al], aauto),
                      "channel": np.concatenate(a_chan)[keep][order],
                      "direction": np.concatenate(a_dir)[keep][order], "is_automated": aauto,
                      "occurred_at": ats}, ats)


@dataclass(frozen=True)
class Appointments:
    leads: np.ndarray  # lead index of each appointment, ascending
    scheduled_for: np.ndarray
    outcome: np.ndarray
    done: np.ndarray  # the outcome is known before the end


def _appointments(ctx: Context, rng: np.random.Generator, funnel: Funnel) -> tuple[TableData, Appointments]:
    ap = np.flatnonzero(funnel.appt & (funnel.t_appt < ctx.end))
    na = len(ap)
    ap_created = funnel.t_appt[ap]
    sched = ctx.clock.sample(rng, na, "business", lo=ap_created + 20 * HOUR, hi=ap_created + 8 * DAY)
    sched = np.where(sched <= ap_created, ap_created + 2 * DAY, sched)
    ap_outcome = np.where(funnel.won[ap], "completed",
                          pick(rng, ["completed", "no_show", "cancelled"], [60, 22, 18], na))
    ap_done_at = sched + HOUR
    ap_changed = ap_done_at < ctx.end
    ap_first = {"appointment_id": prefixed_ids("AP-", na), "lead_id": funnel.ids[ap],
                "agent_id": funnel.agent_ids[ap], "status": obj(["scheduled"] * na), "scheduled_for": sched,
                "created_at": ap_created}
    table = versioned(ap_first, ap_created, dict(ap_first, status=obj(ap_outcome)), ap_done_at, ap_changed)
    return table, Appointments(ap, sched, ap_outcome, ap_changed)


def _deals(ctx: Context, rng: np.random.Generator, funnel: Funnel, appointments: Appointments) -> TableData:
    """Opened when the appointment completes."""
    ap, sched = appointments.leads, appointments.scheduled_for
    dl = ap[(appointments.outcome == "completed") & appointments.done]
    nd = len(dl)
    d_created = funnel.t_appt[dl] + 2 * HOUR
    d_created = np.maximum(d_created, sched[np.searchsorted(ap, dl)] + HOUR)
    d_close = np.maximum(funnel.t_close[dl], d_created + HOUR)
    d_won = funnel.won[dl]
    d_closed = d_close < ctx.end
    source = funnel.source
    base_value = np.where(source[dl] == "Referrals", 12_300, np.where(source[dl] == "Website Forms", 8_950,
                                                                      np.where(source[dl] == "Social Media", 7_200, 6_800)))
    value = np.round(base_value * rng.lognormal(0, 0.35, nd), 2)
    d_status = np.where(d_won, "won", "lost").astype(object)
    d_first = {"deal_id": prefixed_ids("D-", nd), "lead_id": funnel.ids[dl], "agent_id": funnel.agent_ids[dl],
               "status": obj(["open"] * nd), "value": value,
               "attribution_type": pick(rng, ["direct", "assisted", "influenced"], [62, 28, 10], nd),
               "created_at": d_created, "closed_at": np.full(nd, NULL_INT)}
    return versioned(d_first, d_created, dict(d_first, status=d_status, closed_at=d_close), d_close, d_closed)


def _workflow_events(ctx: Context, rng: np.random.Generator, funnel: Funnel) -> TableData:
    """The 6 automation steps of every lead."""
    n = funnel.n
    w_lead = np.repeat(np.arange(n), 6)
    w_step = np.tile(np.arange(6), n)
    nw = len(w_lead)
    comp = obj(STEP_COMPONENT)[w_step]
    email_first = rng.random(nw) < 0.3
    comp[(w_step == 1) & email_first] = "email_service"
    success = rng.random(nw) < np.array(STEP_SUCCESS)[w_step]
    median = np.array([COMPONENT_LATENCY_MS[c] for c in comp])
    latency = (median * rng.lognormal(0, 0.45, nw)).astype(np.int64)
    latency[~success] = (latency[~success] * 3)
    latency[rng.random(nw) < 0.01] = NULL_INT
    step_offset = np.array([0, 40, 90, 120, 150, 600])[w_step] + rng.integers(0, 20, nw)
    w_ts = funnel.created[w_lead] + step_offset
    err = pick(rng, ["authentication", "api_limit", "data_validation"], [20, 45, 35], nw)
    keep = w_ts < ctx.end
    order = np.argsort(w_ts[keep], kind="stable")
    wl, wts = w_lead[keep][order], w_ts[keep][order]
    return TableData({"event_id": prefixed_ids("WE-", len(wl), width=8), "lead_id": funnel.ids[wl],
                      "step": obj(STEPS)[w_step[keep][order]], "component": comp[keep][order],
                      "status": np.where(success[keep][order], "success", "failure").astype(object),
                      "latency_ms": latency[keep][order],
                      "error_category": null_where(err[keep][order], success[keep][order]),
                      "occurred_at": wts}, wts)


def _system_costs(ctx: Context, rng: np.random.Generator) -> TableData:
    start, end = ctx.start, ctx.end
    months = np.arange(int(month_index(np.array([start]))[0]), int(month_index(np.array([end - 1]))[0]) + 1)
    sc_month, sc_cat, sc_amt, sc_ts = [], [], [], []
    for m in months.tolist():
        m_start = utc_epoch(1970 + m // 12, m % 12 + 1, 1)
        for cat, amount in (("infrastructure", 12.0), ("api", float(np.round(rng.uniform(70, 110), 2))),
                            ("support", 0.0)):
            sc_month.append(m_start // DAY)
            sc_cat.append(cat)
            sc_amt.append(amount)
            sc_ts.append(min(m_start + DAY + 8 * HOUR, end - 1))
    sc_ts_a = np.array(sc_ts, np.int64)
    return TableData({"month": np.array(sc_month, np.int64), "category": obj(sc_cat),
                      "amount": np.array(sc_amt), "updated_at": sc_ts_a}, sc_ts_a)
