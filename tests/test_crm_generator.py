"""The synthetic CRM behaves like a real one (issue 16): invariants asserted on generated files, read directly."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd
import pytest

from orchestration.ingestion import contracts
from orchestration.ingestion.generator import GeneratorConfig, generate

END = date(2026, 11, 30)
CONFIG = GeneratorConfig(seed=42, months=24, organizations=3, volume=0.2, malformed_share=0.0, end_date=END)
GO_LIVE = pd.Timestamp("2025-06-01", tz="UTC")  # month 7 of Dec 2024 .. Nov 2026
SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@pytest.fixture(scope="module")
def crm(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The newest version of every row of every CRM table."""
    landing = tmp_path_factory.mktemp("crm")
    generate(landing, CONFIG, timezone="America/Chicago")
    out = {}
    for c in contracts.all_contracts():
        if c.source != "crm":
            continue
        files = sorted((landing / c.landing_path).glob("*.csv"))
        df = pd.concat(
            [pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files], ignore_index=True
        )
        for col in c.columns:
            if col.data_type == "timestamptz":
                df[col.name] = pd.to_datetime(df[col.name], utc=True)
            elif col.data_type == "date":
                df[col.name] = pd.to_datetime(df[col.name]).dt.date
            elif col.data_type in ("integer", "numeric"):
                df[col.name] = pd.to_numeric(df[col.name])
            elif col.data_type == "boolean":
                df[col.name] = df[col.name] == "true"
        if c.version_column:
            df = df.sort_values(c.version_column, kind="stable").drop_duplicates(list(c.natural_key), keep="last")
        out[c.name] = df.reset_index(drop=True)
    return out


def _local(ts: pd.Series, zones: pd.Series) -> list[datetime]:
    return [t.to_pydatetime().astimezone(ZoneInfo(z)) for t, z in zip(ts, zones, strict=False)]


def test_locations_have_valid_zones_and_several_are_used(crm):
    loc = crm["locations"]
    assert set(loc["timezone"]) <= available_timezones()
    used = loc[loc["location_id"].isin(crm["leads"]["location_id"])]
    assert used["timezone"].nunique() >= 2
    assert set(crm["leads"]["location_id"]) <= set(loc["location_id"])
    assert set(crm["agents"]["location_id"]) <= set(loc["location_id"])


def test_agents_join_and_leave_and_work_only_while_employed(crm):
    ag = crm["agents"].set_index("agent_id")
    start = date(2024, 12, 1)
    assert 1 <= (ag["hired_at"] > start).sum() <= 2
    assert 1 <= ag["terminated_at"].notna().sum() <= 2
    assert (ag["active"] == ag["terminated_at"].isna()).all()
    for table, column in (
        ("activities", "occurred_at"),
        ("deals", "created_at"),
        ("deals", "closed_at"),
        ("appointments", "scheduled_for"),
        ("agent_time_entries", "work_date"),
    ):
        df = crm[table].dropna(subset=["agent_id", column])
        days = df[column] if column == "work_date" else df[column].dt.date
        hired = df["agent_id"].map(ag["hired_at"])
        left = df["agent_id"].map(ag["terminated_at"])
        assert (days >= hired).all(), table
        assert (left.isna() | (days < left)).all(), table


def test_every_deal_is_on_an_assigned_lead_of_its_agent(crm):
    leads = crm["leads"].set_index("lead_id")
    deals = crm["deals"]
    assert deals["lead_id"].map(leads["assigned_agent_id"]).notna().all()
    assert (deals["agent_id"] == deals["lead_id"].map(leads["assigned_agent_id"])).all()
    assert (deals["created_at"] >= deals["lead_id"].map(leads["assigned_at"])).all()
    unassigned = leads["assigned_agent_id"].isna()
    assert unassigned.any() and (leads.loc[unassigned, "assigned_at"].isna()).all()


def test_no_automation_before_go_live(crm):
    act, wf = crm["activities"], crm["workflow_events"]
    created = crm["leads"].set_index("lead_id")["created_at"]
    assert (act.loc[act["is_automated"], "occurred_at"] >= GO_LIVE).all()
    assert (wf["occurred_at"] >= GO_LIVE).all()
    assert (wf["lead_id"].map(created) >= GO_LIVE).all()
    assert (act.loc[~act["is_automated"], "occurred_at"] < GO_LIVE).sum() > 500


def test_workflow_steps_are_gated_and_retried(crm):
    wf = crm["workflow_events"]
    steps = ["web_form", "first_response", "enrichment", "scoring", "routing", "nurture"]
    succeeded = {s: set(wf.loc[(wf["step"] == s) & (wf["status"] == "success"), "lead_id"]) for s in steps}
    for prev, step in itertools.pairwise(steps):
        ran = set(wf.loc[wf["step"] == step, "lead_id"])
        assert ran <= succeeded[prev], step
        # the step starts after the previous one's success
        first_ok = wf[(wf["step"] == prev) & (wf["status"] == "success")].groupby("lead_id")["occurred_at"].min()
        this = wf[wf["step"] == step]
        assert (this["occurred_at"] > this["lead_id"].map(first_ok)).all(), step
    attempts = wf.groupby(["lead_id", "step"]).size()
    assert attempts.max() == 3 and (attempts > 1).sum() > 100
    # at most one success per step and lead, and nothing after it
    ok = wf[wf["status"] == "success"]
    assert not ok.duplicated(["lead_id", "step"]).any()
    last = wf.sort_values("occurred_at").drop_duplicates(["lead_id", "step"], keep="last")
    retried_ok = last[last["lead_id"].isin(ok["lead_id"]) & (last["status"] == "success")]
    assert len(retried_ok) > 0
    fr_failed = set(wf.loc[wf["step"] == "first_response", "lead_id"]) - succeeded["first_response"]
    assert len(fr_failed) > 20
    act = crm["activities"]
    auto_out = act[act["is_automated"] & (act["direction"] == "outbound")]
    assert not set(auto_out["lead_id"]) & fr_failed


def test_human_activities_in_business_hours_on_weekdays(crm):
    leads = crm["leads"].set_index("lead_id")
    zones = crm["locations"].set_index("location_id")["timezone"]
    hours = pd.read_csv(SEEDS / "crm_business_hours.csv", dtype=str)
    holidays = pd.read_csv(SEEDS / "crm_holidays.csv", dtype=str)
    spans = {
        (r.location_id, int(r.iso_weekday)): (time.fromisoformat(r.opens_at), time.fromisoformat(r.closes_at))
        for r in hours.itertuples()
    }
    manual = crm["activities"][~crm["activities"]["is_automated"]]
    loc = manual["lead_id"].map(leads["location_id"])
    local = _local(manual["occurred_at"], loc.map(zones))
    weekdays = [0] * 7
    for t, location in zip(local, loc, strict=False):
        span = spans.get((location, t.isoweekday()))
        assert span is not None and span[0] <= t.time() < span[1], (location, t)
        assert not (
            (holidays["holiday_date"] == t.date().isoformat()) & holidays["location_id"].isin(["*", location])
        ).any(), (location, t)
        weekdays[t.weekday()] += 1
    assert weekdays[5] == weekdays[6] == 0
    assert weekdays[1] > weekdays[4] and weekdays[2] > weekdays[4]  # Tuesday and Wednesday busier than Friday


def _first_response(crm) -> pd.DataFrame:
    leads = crm["leads"].copy()
    act = crm["activities"]
    first = act[act["direction"] == "outbound"].groupby("lead_id")["occurred_at"].min()
    leads["delay_s"] = (leads["lead_id"].map(first) - leads["created_at"]).dt.total_seconds()
    leads["won"] = leads["status"] == "won"
    leads["appointment"] = leads["lead_id"].isin(crm["appointments"]["lead_id"])
    leads["after"] = leads["created_at"] >= GO_LIVE
    return leads


def test_response_is_slower_and_conversion_lower_before_go_live(crm):
    leads = _first_response(crm)
    before, after = leads[~leads["after"]], leads[leads["after"]]
    assert before["delay_s"].median() > 3600 and after["delay_s"].median() < 120
    assert 0.85 < (after["delay_s"] < 120).mean() < 0.99  # most, not all, answered within ~a minute
    assert before["delay_s"].isna().sum() > 0 and after["delay_s"].isna().sum() > 0  # never answered: kept apart
    assert after["won"].mean() > before["won"].mean() + 0.05


def test_conversion_decays_with_response_delay_and_rises_with_touches(crm):
    leads = _first_response(crm)
    answered = leads[leads["delay_s"].notna() & (leads["created_at"] < pd.Timestamp("2026-10-01", tz="UTC"))]
    bucket = pd.cut(answered["delay_s"], [0, 300, 3600, 4 * 3600, 24 * 3600, 1e9])
    by_bucket = answered.groupby(bucket, observed=True)[["won", "appointment"]].mean()
    assert by_bucket["won"].iloc[0] > by_bucket["won"].iloc[-1] + 0.1
    assert by_bucket["appointment"].iloc[0] > by_bucket["appointment"].iloc[-1] + 0.1
    act = crm["activities"]
    touches = act[act["direction"] == "outbound"].groupby("lead_id").size() - 1
    answered = answered.assign(touches=answered["lead_id"].map(touches).fillna(0).clip(upper=8))
    rate = answered[answered["after"]].groupby("touches")["appointment"].mean()
    assert rate.loc[0] < rate.loc[3] < rate.loc[5] + 0.02


def test_all_four_attribution_classes_occur_and_the_crm_label_mostly_agrees(crm):
    act, deals = crm["activities"], crm["deals"]
    won = deals[deals["status"] == "won"]
    in_system = set(crm["workflow_events"]["lead_id"]) | set(act.loc[act["is_automated"], "lead_id"])
    first_auto = act[act["is_automated"]].groupby("lead_id")["occurred_at"].min()
    manual_out = act[~act["is_automated"] & (act["direction"] == "outbound")]
    assisted = set(manual_out.loc[manual_out["occurred_at"] > manual_out["lead_id"].map(first_auto), "lead_id"])
    automated = set(first_auto.index)

    def cls(r) -> str:
        if r.lead_id in in_system and r.close_channel == "other":
            return "influenced"
        if r.lead_id in assisted:
            return "assisted"
        return "direct" if r.lead_id in automated else "none"

    derived = won.apply(cls, axis=1)
    counts = derived.value_counts()
    assert set(counts.index) == {"direct", "assisted", "influenced", "none"} and counts.min() >= 10
    assert set(won["close_channel"]) == {"automation", "agent", "other"}
    label = won["attribution_type"].fillna("none")
    agree = (label == derived).mean()
    assert 0.9 < agree < 0.995


def test_rates_and_time_entries(crm):
    rates = crm["agent_rates"]
    in_window = rates[rates["valid_from"] > date(2024, 12, 1)]
    assert set(in_window["agent_id"]) == set(crm["agents"]["agent_id"])  # a raise for everyone
    current = rates.sort_values("valid_from").drop_duplicates("agent_id", keep="last").set_index("agent_id")
    agents = crm["agents"].set_index("agent_id")
    assert (agents["hourly_rate"] == current["hourly_rate"].reindex(agents.index)).all()
    te = crm["agent_time_entries"]
    assert set(te["category"]) == {"selling", "administrative", "follow_up"}
    te = te.assign(after=pd.to_datetime(te["work_date"]) >= GO_LIVE.tz_localize(None))
    shares = te.groupby(["after", "category"])["minutes"].sum() / te.groupby("after")["minutes"].sum()
    assert abs(shares[(False, "selling")] - 0.45) < 0.02 and abs(shares[(False, "follow_up")] - 0.20) < 0.02
    assert abs(shares[(True, "selling")] - 0.78) < 0.02 and abs(shares[(True, "administrative")] - 0.12) < 0.02
    assert (te.groupby(["agent_id", "work_date"]).size() == 3).all()


def test_retries_follow_the_failure_type(crm):
    """Issue 18 (D140): a 429 is retried after 1 and 4 minutes; a 401 only happens inside an outage window of the
    component, whose heartbeats fail too, and the step is retried after the window; a 422 is never retried."""
    wf = crm["workflow_events"].sort_values(["execution_id", "step", "attempt"])
    assert set(wf["vendor"]) == {"Apollo", "Twilio", "SendGrid", "GoHighLevel", "none"}
    assert (wf.groupby("lead_id")["execution_id"].nunique() == 1).all()
    assert wf.groupby(["execution_id", "step"])["attempt"].apply(lambda a: list(a) == list(range(1, len(a) + 1))).all()
    codes = wf[wf["status"] == "failure"].groupby("error_category")["http_status"].unique()
    assert {k: sorted(v) for k, v in codes.items()} == {
        "api_limit": [429],
        "authentication": [401],
        "data_validation": [422],
    }
    nxt = wf.groupby(["execution_id", "step"])["occurred_at"].shift(-1)
    gap = (nxt - wf["occurred_at"]).dt.total_seconds()
    validation = wf["error_category"] == "data_validation"
    assert nxt[validation].isna().all()
    limited = (wf["error_category"] == "api_limit") & nxt.notna()
    assert gap[limited & (wf["attempt"] == 1)].between(60, 75).all()
    assert gap[limited & (wf["attempt"] == 2)].between(240, 255).all()
    # rate-limit headers: 0 remaining on a 429, none on a 401 or on the engine's own webhook
    assert (wf.loc[(wf["http_status"] == 429) & (wf["vendor"] != "none"), "rate_limit_remaining"] == 0).all()
    assert wf.loc[(wf["http_status"] == 401) | (wf["vendor"] == "none"), "rate_limit_limit"].isna().all()
    used = 1 - wf["rate_limit_remaining"] / wf["rate_limit_limit"]
    assert used.dropna().between(0, 1).all()
    # every 401 falls in a window where the component's heartbeats fail with 401
    hc = crm["health_checks"]
    down = hc[hc["http_status"] == 401]
    for _, call in wf[wf["http_status"] == 401].iterrows():
        near = down[
            (down["component"] == call["component"])
            & ((down["checked_at"] - call["occurred_at"]).abs() <= pd.Timedelta(minutes=15))
        ]
        assert len(near) > 0, call["event_id"]


def test_heartbeats_every_15_minutes_with_one_or_two_real_outages(crm):
    hc = crm["health_checks"].sort_values(["component", "checked_at"])
    assert set(hc["component"]) == {"webhook_receiver", "apollo_enrichment", "sms_gateway", "email_service", "crm_sync"}
    assert (hc["checked_at"] >= GO_LIVE).all()
    step = hc.groupby("component")["checked_at"].diff().dropna().dt.total_seconds()
    assert set(step) == {900}
    outage = hc[hc["http_status"] == 401]
    windows = outage.groupby("component")["checked_at"].agg(["min", "max", "count"])
    assert 1 <= len(windows) <= 2 and (windows["count"] >= 4).all()  # an hour or more each
    timeouts = hc[~hc["ok"] & hc["http_status"].isna()]
    assert timeouts["latency_ms"].isna().all() and 0 < len(timeouts) < 0.001 * len(hc)
    assert hc["ok"].mean() > 0.999
