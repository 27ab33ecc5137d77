"""AllyChat/AllyVoice bot leads (seed 000): source and service mixes, confidence scores in [0, 1]
(with exact 0.5 and 0.8 values), statuses that move on in later months, and repeat leads whose
e-mail or phone is written differently (case, stray spaces, phone punctuation).
"""

from __future__ import annotations

import numpy as np

from orchestration.ingestion.generator.core import (
    DAY,
    HOUR,
    MINUTE,
    Context,
    TableData,
    format_emails,
    format_phones,
    make_people,
    null_where,
    pick,
    prefixed_ids,
    repeat_people,
    rng_for,
    versioned,
)


def build(ctx: Context) -> dict[str, TableData]:
    return {"leads": _leads(ctx, rng_for(ctx.seed, "bot_leads"))}


def _leads(ctx: Context, rng: np.random.Generator) -> TableData:
    end = ctx.end
    n = ctx.scaled(14_000)
    created = np.sort(ctx.clock.sample(rng, n, "consumer"))
    ids = prefixed_ids("BL-", n)
    source = pick(rng, ["Website", "WhatsApp", "Ads", "Social"], [44, 26, 18, 12], n)
    bot_type = pick(rng, ["chat", "voice"], [76, 24], n)
    bundle = rng.random(n) < 0.2
    service = np.where(bundle, "AllyBundle", np.where(bot_type == "chat", "AllyChat", "AllyVoice")).astype(object)
    score = np.round(rng.beta(5, 3, n), 2)
    exact = rng.random(n)
    score[exact < 0.07] = 0.5
    score[(exact >= 0.07) & (exact < 0.14)] = 0.8
    score[rng.random(n) < 0.02] = np.nan
    pool = make_people(rng, n, "bot")
    who = repeat_people(rng, n, pool, 0.12)
    has_email = rng.random(n) < 0.7
    has_phone = (source == "WhatsApp") | (bot_type == "voice") | (rng.random(n) < 0.35)
    email = null_where(format_emails(rng, pool.emails[who], 0.3), ~has_email)
    phone = null_where(format_phones(rng, pool.phones[who]), ~has_phone)
    name = null_where(pool.names[who], rng.random(n) < 0.08)
    region = pick(rng, ["Midwest", "Northeast", "South", "West", None], [38, 14, 22, 12, 14], n)

    # status: new -> in progress (hours later) -> converted / dropped (days later); confident leads convert more
    p_convert = np.clip(np.nan_to_num(score, nan=0.5) * 0.55, 0.05, 0.6)
    progress_at = created + rng.lognormal(np.log(3 * HOUR), 1.0, n).astype(np.int64) + 5 * MINUTE
    close_at = progress_at + rng.lognormal(np.log(6 * DAY), 0.8, n).astype(np.int64)
    outcome = np.where(rng.random(n) < p_convert, "converted", "dropped")
    untouched = rng.random(n) < 0.06
    status = np.where(close_at < end, outcome, np.where(progress_at < end, "in progress", "new")).astype(object)
    status[untouched] = "new"
    status_ts = np.where(status == "new", created, np.where(status == "in progress", progress_at, close_at))
    first = {
        "lead_id": ids,
        "source": source,
        "bot_type": bot_type,
        "service_needed": service,
        "confidence_score": score,
        "status": np.full(n, "new", dtype=object),
        "name": name,
        "email": email,
        "phone": phone,
        "region": region,
        "created_at": created,
    }
    return versioned(first, created, dict(first, status=status), status_ts, status != "new")
