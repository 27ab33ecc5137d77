"""Bison (cold e-mail outreach, seed 004): workspaces with a pipeline renewal day, campaigns
(track_opens on or off), uploaded leads, webhook e-mail events consistent per lead (sent before
opened before replied; opens only when the campaign tracks them; is_interested on
CONTACT_INTERESTED; a few delivered twice), the pipeline_stats_cache with Bison's own monthly
aggregates (UTC pipeline months) and monthly client_costs per workspace (some months not entered).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.ingestion.generator.core import (
    DAY,
    HOUR,
    MINUTE,
    Context,
    TableData,
    format_emails,
    make_people,
    month_index,
    obj,
    rng_for,
    utc_epoch,
    versioned,
)

CLIENTS = [
    "Acme Roofing",
    "Brightline Dental",
    "Cobalt Logistics",
    "Delta HVAC",
    "Evergreen Solar",
    "Fulcrum Legal",
    "Granite Insurance",
    "Harbor Staffing",
    "Ironwood Realty",
    "Juniper Health",
    "Keystone Plumbing",
    "Lumen IT",
]


def _month_start(m: int) -> int:
    return utc_epoch(1970 + m // 12, m % 12 + 1, 1)


def build(ctx: Context) -> dict[str, TableData]:
    """Every Bison table. The calls share one random stream, so their order is part of the output."""
    rng = rng_for(ctx.seed, "bison")
    workspaces, ws = _workspaces(ctx, rng)
    campaigns, camps = _campaigns(ctx, rng, ws)
    uploads = _uploads(ctx, rng, ws, camps)
    email_events, events = _email_events(ctx, rng, ws, camps, uploads)
    client_costs = _client_costs(ctx, rng, ws)
    return {
        "workspaces": workspaces,
        "campaigns": campaigns,
        "leads": _leads(ws, camps, uploads, events),
        "pipeline_stats_cache": _pipeline_stats_cache(ctx, ws, uploads, events),
        "email_events": email_events,
        "client_costs": client_costs,
    }


@dataclass(frozen=True)
class Workspaces:
    ids: np.ndarray
    names: np.ndarray
    created: np.ndarray
    renewal: np.ndarray  # pipeline renewal day of the month
    size: np.ndarray  # relative size (mean 1): scales campaigns, leads and costs


@dataclass(frozen=True)
class Campaigns:
    ids: np.ndarray
    workspace: np.ndarray  # index into Workspaces
    per_workspace: np.ndarray  # campaigns of each workspace
    created: np.ndarray
    launch: np.ndarray
    done_at: np.ndarray
    track_opens: np.ndarray


@dataclass(frozen=True)
class Uploads:
    """The uploaded leads, in time order."""

    ids: np.ndarray
    campaign: np.ndarray  # index into Campaigns
    workspace: np.ndarray  # index into Workspaces
    created: np.ndarray
    email: np.ndarray


@dataclass(frozen=True)
class Events:
    """The delivered webhook events (duplicates included), in time order."""

    lead: np.ndarray  # index into Uploads
    kind: np.ndarray
    ts: np.ndarray
    scheduled_email: np.ndarray


def _workspaces(ctx: Context, rng: np.random.Generator) -> tuple[TableData, Workspaces]:
    clock, start, end = ctx.clock, ctx.start, ctx.end
    n_ws = ctx.organizations
    late = rng.random(n_ws) < 0.3
    late[0] = False
    lo = start + np.where(late, (rng.random(n_ws) * 0.6 * (end - start)).astype(np.int64), 0)
    ws_created = np.sort(clock.sample(rng, n_ws, "business", lo=lo, hi=lo + 10 * DAY))
    ws_ids = np.arange(n_ws, dtype=np.int64) * 7 + 1001
    ws_names = obj(
        [CLIENTS[i % len(CLIENTS)] + ("" if i < len(CLIENTS) else f" {i // len(CLIENTS) + 1}") for i in range(n_ws)]
    )
    renewal = rng.integers(1, 29, n_ws)
    ws_first = {"id": ws_ids, "name": ws_names, "pipeline_renewal_day": renewal, "created_at": ws_created}
    ws_changed_at = clock.sample(rng, n_ws, "business", lo=ws_created + 60 * DAY)
    ws_changed = (rng.random(n_ws) < 0.3) & (ws_created + 60 * DAY < end)
    table = versioned(
        ws_first, ws_created, dict(ws_first, name=obj([f"{n} LLC" for n in ws_names])), ws_changed_at, ws_changed
    )
    size = rng.lognormal(0, 0.4, n_ws)
    size /= size.mean()
    return table, Workspaces(ws_ids, ws_names, ws_created, renewal, size)


def _campaigns(ctx: Context, rng: np.random.Generator, ws: Workspaces) -> tuple[TableData, Campaigns]:
    clock, start, end = ctx.clock, ctx.start, ctx.end
    n_ws = len(ws.ids)
    n_camp_per = np.maximum(
        2, np.round(ws.size * rng.uniform(4, 9, n_ws) * max(0.25, (end - start) / (730 * DAY)))
    ).astype(np.int64)
    c_ws = np.repeat(np.arange(n_ws), n_camp_per)
    n_c = len(c_ws)
    c_created = clock.sample(rng, n_c, "business", lo=ws.created[c_ws], hi=end - 3 * DAY)
    # Up to three workspaces with no campaign started in the final 30 days get their last one moved there, so
    # the demo's "this month" tiles have sends to show (uniform dates often left the last weeks empty); about as
    # many campaigns run at the end as at any other time.
    group_start = np.r_[0, np.flatnonzero(c_ws[1:] != c_ws[:-1]) + 1]
    quiet = np.maximum.reduceat(c_created, group_start) < end - 30 * DAY
    last = np.r_[group_start[1:] - 1, n_c - 1][quiet & (ws.created < end - 40 * DAY)[c_ws[group_start]]][:3]
    c_created[last] = clock.sample(rng, len(last), "business", lo=end - 30 * DAY, hi=end - 3 * DAY)
    order = np.argsort(c_created, kind="stable")
    c_ws, c_created = c_ws[order], c_created[order]
    c_ids = np.arange(n_c, dtype=np.int64) * 3 + 50_001
    track = rng.random(n_c) < 0.65
    c_life = rng.uniform(30, 120, n_c) * DAY
    c_done_at = c_created + c_life.astype(np.int64)
    c_done = c_done_at < end
    c_status = np.where(rng.random(n_c) < 0.08, "paused", "active").astype(object)
    c_first = {
        "id": c_ids,
        "workspace_id": ws.ids[c_ws],
        "name": obj(
            [
                f"{ws.names[w]} - Outreach {k + 1}"
                for w, k in zip(c_ws.tolist(), (np.arange(n_c) % 97).tolist(), strict=False)
            ]
        ),
        "status": obj(["draft"] * n_c),
        "track_opens": track,
        "created_at": c_created,
    }
    launched = c_created + rng.integers(HOUR, 3 * DAY, n_c)
    c_final_status = np.where(c_done, "completed", c_status).astype(object)
    c_final_ts = np.where(c_done, c_done_at, np.minimum(launched, end - 1))
    table = versioned(c_first, c_created, dict(c_first, status=c_final_status), c_final_ts, np.ones(n_c, bool))
    return table, Campaigns(c_ids, c_ws, n_camp_per, c_created, np.minimum(launched, end - 1), c_done_at, track)


def _uploads(ctx: Context, rng: np.random.Generator, ws: Workspaces, camps: Campaigns) -> Uploads:
    clock, start, end = ctx.clock, ctx.start, ctx.end
    c_ws = camps.workspace
    ws_active = (end - ws.created) / (end - start)
    per_camp = rng.poisson(ctx.scaled(4500) * ws.size[c_ws] * ws_active[c_ws] / camps.per_workspace[c_ws])
    l_camp = np.repeat(np.arange(len(camps.ids)), per_camp)
    # A campaign's upload window can run past the end of the data: keep only the share of its leads that falls
    # before the end (sampling inside the clipped window would pile them all onto the last days).
    u_lo, u_hi = camps.created[l_camp], np.minimum(camps.launch[l_camp] + 20 * DAY, camps.done_at[l_camp])
    within = clock.before_end(rng, u_lo, u_hi)
    l_camp, u_lo, u_hi = l_camp[within], u_lo[within], u_hi[within]
    n_l = len(l_camp)
    l_created = clock.sample(rng, n_l, "business", lo=u_lo, hi=u_hi)
    order = np.argsort(l_created, kind="stable")
    l_camp, l_created = l_camp[order], l_created[order]
    l_ids = np.arange(n_l, dtype=np.int64) + 700_001
    people = make_people(rng, n_l, "b2b")
    l_email = format_emails(rng, people.emails, 0.05)
    return Uploads(l_ids, l_camp, c_ws[l_camp], l_created, l_email)


def _email_events(
    ctx: Context, rng: np.random.Generator, ws: Workspaces, camps: Campaigns, uploads: Uploads
) -> tuple[TableData, Events]:
    """Per lead: sent before opened before replied; opens only when the campaign tracks them."""
    clock, end = ctx.clock, ctx.end
    l_camp, l_created, n_l = uploads.campaign, uploads.created, len(uploads.ids)
    n_steps = rng.choice([1, 2, 3], size=n_l, p=[0.2, 0.35, 0.45])
    first_lo = np.maximum(l_created + 10 * MINUTE, camps.launch[l_camp])
    first_sent = clock.sample(rng, n_l, "business", lo=first_lo, hi=first_lo + 2 * DAY)
    # as for uploads: a first send whose window runs past the end happens after it, in that share of leads
    unsent = ~clock.before_end(rng, first_lo, first_lo + 2 * DAY)
    bounced = rng.random(n_l) < 0.035
    replied = ~bounced & (rng.random(n_l) < 0.085)
    interested = replied & (rng.random(n_l) < 0.38)
    unsub = ~bounced & ~replied & (rng.random(n_l) < 0.02)
    n_steps = np.where(bounced | replied, 1, n_steps)
    ev_lead, ev_type, ev_ts, ev_sched, ev_int = [], [], [], [], []
    sched_base = 9_000_001
    step_lead = np.repeat(np.arange(n_l), n_steps)
    step_k = np.arange(len(step_lead)) - np.searchsorted(step_lead, step_lead)
    step_lo = first_sent[step_lead] + step_k * 2 * DAY
    step_ts = np.where(
        step_k == 0,
        first_sent[step_lead],
        clock.sample(rng, len(step_lead), "business", lo=step_lo, hi=step_lo + 3 * DAY),
    )
    step_sched = np.arange(len(step_lead), dtype=np.int64) * 2 + sched_base
    follow_up_later = (step_k > 0) & ~clock.before_end(rng, step_lo, step_lo + 3 * DAY)
    ok = (step_ts < end) & ~unsent[step_lead] & ~follow_up_later
    step_lead, step_ts, step_sched = step_lead[ok], step_ts[ok], step_sched[ok]
    n_s = len(step_lead)

    def add(leads: np.ndarray, kind: str, ts: np.ndarray, sched: np.ndarray, interest) -> None:
        keep = ts < end
        ev_lead.append(leads[keep])
        ev_type.append(np.full(int(keep.sum()), kind, dtype=object))
        ev_ts.append(ts[keep])
        ev_sched.append(sched[keep])
        ev_int.append(np.full(int(keep.sum()), interest, dtype=object))

    add(step_lead, "EMAIL_SENT", step_ts, step_sched, None)
    tracked = camps.track_opens[l_camp[step_lead]]
    opened = tracked & (rng.random(n_s) < np.where(replied[step_lead], 0.9, 0.42)) & ~bounced[step_lead]
    open_ts = clock.sample(
        rng,
        n_s,
        "business",
        lo=step_ts + 30,
        hi=step_ts + rng.lognormal(np.log(8 * HOUR), 1.0, n_s).astype(np.int64) + HOUR,
    )
    add(step_lead[opened], "EMAIL_OPENED", open_ts[opened], step_sched[opened], None)
    reopen = opened & (rng.random(n_s) < 0.3)
    add(
        step_lead[reopen],
        "EMAIL_OPENED",
        open_ts[reopen] + rng.integers(HOUR, 3 * DAY, int(reopen.sum())),
        step_sched[reopen],
        None,
    )
    first_step = np.r_[True, step_lead[1:] != step_lead[:-1]]
    fs = first_step & bounced[step_lead]
    add(step_lead[fs], "EMAIL_BOUNCED", step_ts[fs] + rng.integers(5, 10 * MINUTE, int(fs.sum())), step_sched[fs], None)
    rp = first_step & replied[step_lead]
    reply_lo = np.maximum(open_ts, step_ts) + 60
    reply_ts = clock.sample(
        rng,
        n_s,
        "business",
        lo=reply_lo,
        hi=reply_lo + rng.lognormal(np.log(12 * HOUR), 1.0, n_s).astype(np.int64) + HOUR,
    )
    add(step_lead[rp], "CONTACT_REPLIED", reply_ts[rp], step_sched[rp], False)
    ip = rp & interested[step_lead]
    int_ts = reply_ts + rng.integers(10 * MINUTE, 2 * DAY, n_s)
    add(step_lead[ip], "CONTACT_INTERESTED", int_ts[ip], step_sched[ip], True)
    us = first_step & unsub[step_lead]
    add(
        step_lead[us],
        "CONTACT_UNSUBSCRIBED",
        step_ts[us] + rng.integers(HOUR, 3 * DAY, int(us.sum())),
        step_sched[us],
        None,
    )
    e_lead = np.concatenate(ev_lead)
    e_type = np.concatenate(ev_type)
    e_ts = np.concatenate(ev_ts)
    e_sched = np.concatenate(ev_sched)
    e_int = np.concatenate(ev_int)
    # Webhooks are delivered at least once: ~0.6 % of events arrive twice, same payload, a new delivery id.
    twice = rng.random(len(e_lead)) < 0.006
    order = np.argsort(e_ts, kind="stable")
    order = np.repeat(order, np.where(twice[order], 2, 1))
    e_lead, e_type, e_ts, e_sched, e_int = e_lead[order], e_type[order], e_ts[order], e_sched[order], e_int[order]
    n_e = len(e_lead)
    n_c = len(camps.ids)
    mailboxes = obj(
        [
            f"outreach{k}@{ws.names[w].split()[0].lower()}-mail.com"
            for w, k in zip(camps.workspace.tolist(), (np.arange(n_c) % 4 + 1).tolist(), strict=False)
        ]
    )
    table = TableData(
        {
            "id": obj([f"evt_{i:08d}" for i in range(1, n_e + 1)]),
            "event_type": e_type,
            "workspace_id": ws.ids[uploads.workspace[e_lead]],
            "campaign_id": camps.ids[l_camp[e_lead]],
            "lead_id": uploads.ids[e_lead],
            "scheduled_email_id": e_sched,
            "sender_email": mailboxes[l_camp[e_lead]],
            "is_interested": e_int,
            "occurred_at": e_ts,
        },
        e_ts,
    )
    return table, Events(e_lead, e_type, e_ts, e_sched)


def _leads(ws: Workspaces, camps: Campaigns, uploads: Uploads, events: Events) -> TableData:
    """A lead's status follows its events."""
    n_l = len(uploads.ids)
    final_status = np.full(n_l, "active", dtype=object)
    status_ts = uploads.created.copy()
    for kind, status in (
        ("EMAIL_BOUNCED", "bounced"),
        ("CONTACT_UNSUBSCRIBED", "unsubscribed"),
        ("CONTACT_REPLIED", "replied"),
        ("CONTACT_INTERESTED", "interested"),
    ):
        sel = events.kind == kind
        final_status[events.lead[sel]] = status
        status_ts[events.lead[sel]] = events.ts[sel]
    l_first = {
        "id": uploads.ids,
        "workspace_id": ws.ids[uploads.workspace],
        "campaign_id": camps.ids[uploads.campaign],
        "email": uploads.email,
        "status": obj(["active"] * n_l),
        "created_at": uploads.created,
    }
    return versioned(l_first, uploads.created, dict(l_first, status=final_status), status_ts, final_status != "active")


def _pipeline_stats_cache(ctx: Context, ws: Workspaces, uploads: Uploads, events: Events) -> TableData:
    """Bison's own aggregates per pipeline month, UTC boundaries: uploads, e-mails sent (distinct scheduled
    e-mails), leads that replied and leads marked interested (distinct leads; duplicate deliveries count once)."""
    start, end = ctx.start, ctx.end
    l_ws, l_created = uploads.workspace, uploads.created
    e_lead, e_type, e_ts, e_sched = events.lead, events.kind, events.ts, events.scheduled_email
    rows_ws, rows_month, rows_ts = [], [], []
    rows_counts: list[tuple[int, int, int, int]] = []
    first_m, last_m = int(month_index(np.array([start]))[0]) - 1, int(month_index(np.array([end - 1]))[0])
    e_ws = l_ws[e_lead]
    kinds = {kind: e_type == kind for kind in ("EMAIL_SENT", "CONTACT_REPLIED", "CONTACT_INTERESTED")}

    def vendor_counts(series: list[tuple[np.ndarray, np.ndarray]], lo: int, hi: int) -> tuple[int, ...]:
        """Distinct ids per series whose (sorted) times fall in [lo, hi)."""
        out = []
        for ts, ids in series:
            a, b = np.searchsorted(ts, [lo, hi])
            out.append(len(np.unique(ids[a:b])))
        return tuple(out)

    for w in range(len(ws.ids)):
        day = int(ws.renewal[w])
        mine = e_ws == w  # events are in time order, so each series below is sorted
        series = [(np.sort(l_created[l_ws == w]), np.arange(int((l_ws == w).sum())))]
        series += [
            (e_ts[mine & sel], e_sched[mine & sel] if kind == "EMAIL_SENT" else e_lead[mine & sel])
            for kind, sel in kinds.items()
        ]
        for m in range(first_m, last_m + 1):
            p_start = _month_start(m) + (day - 1) * DAY
            p_end = _month_start(m + 1) + (day - 1) * DAY
            if p_end <= ws.created[w] or p_start >= end:
                continue
            mid = min(_month_start(m + 1) - HOUR, end - 1)  # snapshot at the end of the first calendar month
            if mid > p_start and mid > ws.created[w] and mid < p_end:
                rows_ws.append(w)
                rows_month.append(p_start // DAY)
                rows_counts.append(vendor_counts(series, p_start, mid))
                rows_ts.append(mid)
            final = min(p_end + HOUR, end - 1)
            rows_ws.append(w)
            rows_month.append(p_start // DAY)
            rows_counts.append(vendor_counts(series, p_start, min(p_end, final)))
            rows_ts.append(final)
    ps_ts = np.array(rows_ts, np.int64)
    ps_ws = np.array(rows_ws, np.int64)
    # a monthly export holds the latest refresh of the month only
    keys = ps_ws * 100_000 + np.array(rows_month, np.int64)
    fm = month_index(ps_ts)
    last_in_month = np.r_[(keys[1:] != keys[:-1]) | (fm[1:] != fm[:-1]), True]
    counts = np.array(rows_counts, np.int64).reshape(-1, 4)[last_in_month]
    return TableData(
        {
            "workspace_id": ws.ids[ps_ws][last_in_month],
            "pipeline_month": np.array(rows_month, np.int64)[last_in_month],
            "uploaded": counts[:, 0],
            "emails_sent": counts[:, 1],
            "replied": counts[:, 2],
            "interested": counts[:, 3],
            "updated_at": ps_ts[last_in_month],
        },
        ps_ts[last_in_month],
    )


def _client_costs(ctx: Context, rng: np.random.Generator, ws: Workspaces) -> TableData:
    """Costs are typed in by hand (Settings -> Client Costs): about 4 % of past months were never entered, and a
    third of the clients have not entered the current month yet, the seed's "Revenue shows $0" case."""
    end, n_ws, size = ctx.end, len(ws.ids), ws.size
    last_m = int(month_index(np.array([end - 1]))[0])
    cc_ws, cc_month, cc_ts = [], [], []
    current_not_entered = rng.random(n_ws) < 0.33
    current_not_entered[0] = False
    for w in range(n_ws):
        first_month = int(month_index(ws.created[w : w + 1])[0])
        skipped = rng.random(last_m + 1 - first_month) < 0.04
        skipped[0] = False
        for m in range(first_month, last_m + 1):
            if skipped[m - first_month] or (m == last_m and current_not_entered[w]):
                continue
            cc_ws.append(w)
            cc_month.append(_month_start(m) // DAY)
            cc_ts.append(min(_month_start(m) + int(rng.integers(1, 5)) * DAY + 10 * HOUR, end - 1))
    cc_ws_a = np.array(cc_ws, np.int64)
    n_cc = len(cc_ws_a)
    mailbox_cost = np.round(size[cc_ws_a] * rng.uniform(120, 260, n_cc), 2)
    revenue = np.round(size[cc_ws_a] * rng.uniform(2500, 6000, n_cc) / 50) * 50
    revenue[rng.random(n_cc) < 0.04] = np.nan
    return TableData(
        {
            "workspace_id": ws.ids[cc_ws_a],
            "month": np.array(cc_month, np.int64),
            "email_account_costs": mailbox_cost,
            "labor_costs": np.round(size[cc_ws_a] * rng.uniform(300, 1200, n_cc), 2),
            "other_costs": np.round(rng.uniform(0, 150, n_cc), 2),
            "client_revenue": revenue,
            "updated_at": np.array(cc_ts, np.int64),
        },
        np.array(cc_ts, np.int64),
    )
