"""Omnichannel communication assistant (seed 002): invitations -> activated users (~50%) ->
transacting users (~16% of invited), some people re-invited with their e-mail typed in another case,
user activity on working days with the blast feature peaking 8-12 (Tuesday and Wednesday busiest),
message blasts per channel and their charges (WhatsApp, then email, IVR and SMS, as the seed's chart).
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
    TableData,
    format_emails,
    make_people,
    obj,
    pick,
    prefixed_ids,
    rng_for,
    versioned,
)

COMPANIES = [
    "Nusantara Retail",
    "Garuda Logistics",
    "Mitra Finance",
    "Sinar Telecom",
    "Bumi Insurance",
    "Cahaya Clinics",
    "Kopi Kita",
    "Laut Travel",
    "Merdeka Motors",
    "Rumah Property",
]
# Per delivered message; with the channel mix below the charged totals rank WhatsApp, email, IVR, SMS in the
# seed's proportions (17.8 M : 3.6 M : 1.3 M : 255.8 k).
CHANNEL_PRICE = {"whatsapp": 0.35, "email": 0.14, "ivr": 0.19, "sms": 0.0225}
REINVITED_SHARE = 0.04  # invitations that re-invite an earlier, not activated invitee
AFTERNOON_BLAST_DROP = 0.4  # share of blast-feature events after 12:00 local left out: the peak is 8-12


def build(ctx: Context) -> dict[str, TableData]:
    """Every omnichannel table. The calls share one random stream, so their order is part of the output."""
    rng = rng_for(ctx.seed, "omnichannel")
    invitations, invited = _invitations(ctx, rng)
    users, members = _users(ctx, rng, invited)
    activity = _user_activity(ctx, rng, members)
    blasts, sent = _message_blasts(ctx, rng, members)
    charges = _blast_charges(ctx, rng, members, sent)
    return {
        "users": users,
        "invitations": invitations,
        "user_activity": activity,
        "message_blasts": blasts,
        "blast_charges": charges,
    }


@dataclass(frozen=True)
class Invited:
    """Who accepted an invitation, in order of activation."""

    user_ids: np.ndarray
    registered: np.ndarray


@dataclass(frozen=True)
class Members:
    user_ids: np.ndarray
    registered: np.ndarray
    transacting: np.ndarray  # users who send blasts and pay for them


@dataclass(frozen=True)
class Blasts:
    ids: np.ndarray
    user: np.ndarray  # index into Members
    channel: np.ndarray
    delivered: np.ndarray
    sent_at: np.ndarray
    sent: np.ndarray


def _invitations(ctx: Context, rng: np.random.Generator) -> tuple[TableData, Invited]:
    n_inv = ctx.scaled(3_600)
    invited = np.sort(ctx.clock.sample(rng, n_inv, "business"))
    inv_ids = prefixed_ids("INV-", n_inv)
    people = make_people(rng, n_inv, "oca")
    activated_at = invited + rng.lognormal(np.log(1.5 * DAY), 1.0, n_inv).astype(np.int64) + 10 * MINUTE
    activated = (rng.random(n_inv) < 0.5) & (activated_at < ctx.end)
    emails = people.emails.copy()
    # a re-invitation goes to an earlier invitee who has not activated, the address typed in another case
    again = np.flatnonzero(rng.random(n_inv) < REINVITED_SHARE)
    again = again[again > 0]
    earlier = (rng.random(len(again)) * again).astype(np.int64)
    still_open = ~activated[earlier]
    again, earlier = again[still_open], earlier[still_open]
    emails[again] = format_emails(rng, people.emails[earlier], messy_share=1.0)
    act_idx = np.flatnonzero(activated)
    n_user = len(act_idx)
    order = np.argsort(activated_at[act_idx], kind="stable")
    act_idx = act_idx[order]
    user_ids_by_inv = np.full(n_inv, None, dtype=object)
    user_ids = prefixed_ids("U-", n_user)
    user_ids_by_inv[act_idx] = user_ids
    inv_first = {
        "invitation_id": inv_ids,
        "email": emails,
        "user_id": np.full(n_inv, None, dtype=object),
        "invited_at": invited,
        "activated_at": np.full(n_inv, NULL_INT),
    }
    table = versioned(
        inv_first,
        invited,
        dict(inv_first, user_id=user_ids_by_inv, activated_at=np.where(activated, activated_at, NULL_INT)),
        activated_at,
        activated,
    )
    return table, Invited(user_ids, activated_at[act_idx])


def _users(ctx: Context, rng: np.random.Generator, invited: Invited) -> tuple[TableData, Members]:
    user_ids, registered = invited.user_ids, invited.registered
    n_user = len(user_ids)
    company = pick(rng, COMPANIES, None, n_user)
    plan = pick(rng, ["free", "starter", "business", "enterprise"], [45, 30, 18, 7], n_user)
    transacting = rng.random(n_user) < 0.32  # ~16% of invited
    transacting[:1] = True  # at least one, even at tiny volumes
    upgrade_at = registered + rng.lognormal(np.log(20 * DAY), 0.8, n_user).astype(np.int64)
    upgraded = transacting & (plan == "free") & (upgrade_at < ctx.end)
    u_first = {"user_id": user_ids, "company": company, "plan": plan, "registered_at": registered}
    table = versioned(u_first, registered, dict(u_first, plan=obj(["starter"] * n_user)), upgrade_at, upgraded)
    return table, Members(user_ids, registered, transacting)


def _user_activity(ctx: Context, rng: np.random.Generator, members: Members) -> TableData:
    """Engagement decays after sign-up; blast features peak in the morning (local time)."""
    clock, end = ctx.clock, ctx.end
    registered, transacting = members.registered, members.transacting
    n_user = len(members.user_ids)
    life = (end - registered) / DAY
    intensity = np.where(transacting, 1.6, 0.5) * rng.lognormal(0, 0.5, n_user)
    # a user's own rate does not scale with volume: the number of users already does (D202)
    n_events = rng.poisson(intensity * np.minimum(life, 400) * 0.35)
    n_events[:1] = np.maximum(n_events[:1], 1)  # the first user has at least one event, even registered today
    ev_user = np.repeat(np.arange(n_user), n_events)
    ne = len(ev_user)
    horizon = np.minimum(registered[ev_user] + (rng.exponential(150, ne) * DAY).astype(np.int64), end)
    ev_ts = clock.sample(rng, ne, "business", lo=registered[ev_user], hi=np.maximum(horizon, registered[ev_user] + 60))
    ev_type = np.where(
        transacting[ev_user],
        pick(rng, ["login", "compose_blast", "send_blast", "view_report", "edit_template"], [35, 20, 15, 20, 10], ne),
        pick(rng, ["login", "compose_blast", "view_report", "edit_template"], [60, 10, 25, 5], ne),
    )
    local_hour = clock.local_hour[np.clip((ev_ts - clock.start) // HOUR, 0, len(clock.local_hour) - 1)]
    blast_feature = (ev_type == "compose_blast") | (ev_type == "send_blast")
    keep = ~(blast_feature & (local_hour >= 12) & (rng.random(ne) < AFTERNOON_BLAST_DROP))
    keep[:1] = True
    ev_ts, ev_user, ev_type = ev_ts[keep], ev_user[keep], ev_type[keep]
    ne = len(ev_ts)
    order = np.argsort(ev_ts, kind="stable")
    ev_ts, ev_user, ev_type = ev_ts[order], ev_user[order], ev_type[order]
    return TableData(
        {
            "event_id": prefixed_ids("E-", ne, width=8),
            "user_id": members.user_ids[ev_user],
            "event_type": obj(ev_type),
            "occurred_at": ev_ts,
        },
        ev_ts,
    )


def _message_blasts(ctx: Context, rng: np.random.Generator, members: Members) -> tuple[TableData, Blasts]:
    clock, end, registered = ctx.clock, ctx.end, members.registered
    life = (end - registered) / DAY
    tx = np.flatnonzero(members.transacting)
    per_user = 1 + rng.poisson(rng.lognormal(np.log(18), 0.7, len(tx)) * np.minimum(life[tx], 730) / 365)
    b_user = np.repeat(tx, per_user)
    nb = len(b_user)
    b_created = clock.sample(rng, nb, "business", lo=registered[b_user] + HOUR)
    order = np.argsort(b_created, kind="stable")
    b_user, b_created = b_user[order], b_created[order]
    channel = pick(rng, ["whatsapp", "email", "ivr", "sms"], [52, 28, 8, 12], nb)
    category = pick(rng, ["promotional", "transactional"], [65, 35], nb)
    recipients = np.maximum(1, rng.lognormal(np.log(400), 1.0, nb)).astype(np.int64)
    delivery = np.where(
        channel == "whatsapp", 0.97, np.where(channel == "email", 0.93, np.where(channel == "sms", 0.95, 0.85))
    )
    delivered = rng.binomial(recipients, delivery)
    sent_at = b_created + rng.lognormal(np.log(20 * MINUTE), 1.0, nb).astype(np.int64) + MINUTE
    sent = (rng.random(nb) < 0.96) & (sent_at < end)
    blast_ids = prefixed_ids("B-", nb, width=7)
    b_first = {
        "blast_id": blast_ids,
        "user_id": members.user_ids[b_user],
        "channel": channel,
        "category": category,
        "recipients": recipients,
        "delivered": np.full(nb, NULL_INT),
        "created_at": b_created,
        "sent_at": np.full(nb, NULL_INT),
    }
    table = versioned(b_first, b_created, dict(b_first, delivered=delivered, sent_at=sent_at), sent_at, sent)
    return table, Blasts(blast_ids, b_user, channel, delivered, sent_at, sent)


def _blast_charges(ctx: Context, rng: np.random.Generator, members: Members, blasts: Blasts) -> TableData:
    sb = np.flatnonzero(blasts.sent)
    split = rng.random(len(sb)) < 0.1  # large blasts are sometimes charged in two parts
    ch_blast = np.concatenate([sb, sb[split]])
    part = np.concatenate([np.where(split, 0.5, 1.0), np.full(int(split.sum()), 0.5)])
    ch_msgs = np.maximum(1, np.round(blasts.delivered[ch_blast] * part)).astype(np.int64)
    price = np.array([CHANNEL_PRICE[c] for c in blasts.channel[ch_blast]])
    ch_ts = np.minimum(blasts.sent_at[ch_blast] + rng.integers(MINUTE, 30 * MINUTE, len(ch_blast)), ctx.end - 1)
    order = np.argsort(ch_ts, kind="stable")
    ch_blast, ch_msgs, price, ch_ts = ch_blast[order], ch_msgs[order], price[order], ch_ts[order]
    return TableData(
        {
            "charge_id": prefixed_ids("C-", len(ch_blast), width=7),
            "blast_id": blasts.ids[ch_blast],
            "user_id": members.user_ids[blasts.user[ch_blast]],
            "amount": np.round(ch_msgs * price, 2),
            "charged_messages": ch_msgs,
            "charged_at": ch_ts,
        },
        ch_ts,
    )
