"""What the lead-automation engine logs about itself (issue 18, DECISIONLOG D140-D142): credential outages of a
component, the vendor's HTTP answer and rate-limit headers on every workflow call, and a heartbeat per component.

Failures follow their type: an api_limit (HTTP 429) is retried with backoff; an authentication failure (401) only
happens while a component's credentials are broken (an outage window) and the engine parks the step until the
window ends; a data_validation failure (422) is the lead's data and is never retried. The streams here are their
own (`rng_for(seed, "crm_ops")`), so the CRM's other tables draw what they drew before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.ingestion.generator.core import DAY, HOUR, MINUTE, NULL_INT, TableData, obj, rng_for

COMPONENTS = ["webhook_receiver", "apollo_enrichment", "sms_gateway", "email_service", "crm_sync"]
VENDOR = {
    "webhook_receiver": "none",
    "apollo_enrichment": "Apollo",
    "sms_gateway": "Twilio",
    "email_service": "SendGrid",
    "crm_sync": "GoHighLevel",
}
SUCCESS_STATUS = {"none": 200, "Apollo": 200, "Twilio": 201, "SendGrid": 202, "GoHighLevel": 200}  # as the APIs answer
FAILURE_STATUS = {"api_limit": 429, "authentication": 401, "data_validation": 422}
RATE_LIMIT = {"Apollo": 600, "Twilio": 3_000, "SendGrid": 10_000, "GoHighLevel": 1_200}  # requests per hour
RATE_USE = {"Apollo": 0.55, "Twilio": 0.35, "SendGrid": 0.25, "GoHighLevel": 0.6}  # typical share used at peak
HEARTBEAT_S = 15 * MINUTE  # D141: 15 minutes keeps 5 components x 18 months near 260k rows
PING_MS = {"webhook_receiver": 40, "apollo_enrichment": 380, "sms_gateway": 210, "email_service": 260, "crm_sync": 330}
TRANSIENT_HEARTBEAT_FAILURE = 0.0004  # a timed-out heartbeat now and then, outside the outages


@dataclass(frozen=True)
class Outage:
    """A window [start, end) in which a component's credentials are rejected (HTTP 401)."""

    component: str
    start: int
    end: int


def outages(seed: int, go_live: int, end: int) -> list[Outage]:
    """Two credential outages after go-live: Apollo's API key expires for a few hours of a working day, and
    Twilio's auth token is rotated overnight without updating the engine."""
    span = end - go_live
    if span < 20 * DAY:
        return []
    rng = rng_for(seed, "crm_outages")
    a = go_live + int(span * rng.uniform(0.25, 0.4)) // DAY * DAY + 15 * HOUR + int(rng.integers(0, 3600))
    b = go_live + int(span * rng.uniform(0.6, 0.8)) // DAY * DAY + 3 * HOUR + int(rng.integers(0, 3600))
    return [
        Outage("apollo_enrichment", a, a + int(rng.uniform(3, 6) * HOUR)),
        Outage("sms_gateway", b, b + int(rng.uniform(1.5, 3) * HOUR)),
    ]


def down(component: np.ndarray, t: np.ndarray, windows: list[Outage]) -> tuple[np.ndarray, np.ndarray]:
    """Per call: inside an outage of its component, and the end of that outage (NULL_INT when not inside)."""
    back = np.full(len(t), NULL_INT, np.int64)
    for w in windows:
        inside = (component == w.component) & (t >= w.start) & (t < w.end)
        back[inside] = w.end
    return back != NULL_INT, back


def responses(
    rng: np.random.Generator, component: np.ndarray, good: np.ndarray, error: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """Vendor, HTTP status and rate-limit headers (remaining, limit per hour) of each workflow call. The API key is
    shared with the client's other integrations, so use follows the working day; a 429 says 0 remaining; a 401 and
    the engine's own webhook carry no rate-limit headers."""
    vendor = obj([VENDOR[c] for c in component])
    status = np.array([SUCCESS_STATUS[v] for v in vendor], np.int64)
    failed = ~good
    status[failed] = [FAILURE_STATUS[e] for e in error[failed]]
    limit = np.array([RATE_LIMIT.get(v, 0) for v in vendor], np.int64)
    peak = np.array([RATE_USE.get(v, 0.0) for v in vendor])
    hour = (t % DAY) / HOUR  # UTC; US working hours peak around 17:00 UTC
    daily = 0.25 + 0.75 * np.exp(-(((hour - 17) / 5) ** 2))
    used = np.clip(peak * daily * rng.lognormal(0, 0.25, len(t)), 0.0, 0.97)
    remaining = np.round(limit * (1 - used)).astype(np.int64)
    remaining[error == "api_limit"] = 0
    no_headers = (vendor == "none") | (error == "authentication")
    remaining[no_headers] = NULL_INT
    limit[no_headers] = NULL_INT
    return {"vendor": vendor, "http_status": status, "rate_limit_remaining": remaining, "rate_limit_limit": limit}


def health_checks(seed: int, go_live: int, end: int, windows: list[Outage]) -> TableData:
    """A heartbeat per component every 15 minutes from go-live (the engine does not exist before it): ok with
    HTTP 200 and the ping latency; 401 inside a credential outage; now and then a timeout (no status, no
    latency). Components are checked a few seconds apart."""
    rng = rng_for(seed, "crm_ops")
    first = -(-go_live // HEARTBEAT_S) * HEARTBEAT_S
    ticks = np.arange(first, end, HEARTBEAT_S, dtype=np.int64)
    n_comp = len(COMPONENTS)
    at = (ticks[:, None] + 3 * np.arange(n_comp)[None, :]).ravel()
    comp = obj(COMPONENTS)[np.tile(np.arange(n_comp), len(ticks))]
    keep = at < end
    at, comp = at[keep], comp[keep]
    n = len(at)
    ping = np.array([PING_MS[c] for c in COMPONENTS])[np.tile(np.arange(n_comp), len(ticks))][keep]
    latency = (ping * rng.lognormal(0, 0.3, n)).astype(np.int64)
    status = np.full(n, 200, np.int64)
    is_down, _ = down(comp, at, windows)
    timeout = ~is_down & (rng.random(n) < TRANSIENT_HEARTBEAT_FAILURE)
    status[is_down] = 401
    latency[is_down] = (latency[is_down] * 0.4).astype(np.int64)
    status[timeout] = NULL_INT
    latency[timeout] = NULL_INT
    ok = ~is_down & ~timeout
    return TableData({"component": comp, "checked_at": at, "ok": ok, "latency_ms": latency, "http_status": status}, at)
