"""Tests of the synthetic data generator: determinism, file layout against the contracts, the
manifest of malformed rows, and realistic shape (all computed independently from the files)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestration.ingestion import contracts
from orchestration.ingestion.generator import GeneratorConfig, generate

END = date(2026, 11, 23)
ZONE = "America/Chicago"  # the reporting time zone the data is generated for (peaks are local to it)
SMALL = GeneratorConfig(seed=42, months=3, organizations=10, volume=0.02, malformed_share=0.01, end_date=END)
SHAPE = GeneratorConfig(seed=7, months=4, organizations=6, volume=0.3, malformed_share=0.005, end_date=END)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _valid_ts(text) -> bool:
    if not isinstance(text, str) or not TS_RE.match(text):
        return False
    try:
        _ts(text)
        return True
    except ValueError:
        return False


def _read_rows(landing: Path, contract, bad_lines: dict[str, set[int]]) -> list[tuple[str, dict]]:
    """(file, row) for every valid (not deliberately malformed) row of a table, file by file."""
    out = []
    folder = landing / contract.landing_path
    for path in sorted(folder.glob(f"*.{contract.file_format}")):
        rel = path.relative_to(landing).as_posix()
        bad = bad_lines.get(rel, set())
        if contract.file_format == "csv":
            lines = path.read_text(encoding="utf-8").splitlines()
            header = next(csv.reader([lines[0]]))
            for number, line in enumerate(lines[1:], start=2):
                if number in bad:
                    continue
                values = next(csv.reader([line]))
                out.append((rel, {k: (v if v != "" else None) for k, v in zip(header, values, strict=False)}))
        else:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if number not in bad:
                    out.append((rel, json.loads(line)))
    return out


def _bad_lines(manifest: dict) -> dict[str, set[int]]:
    bad: dict[str, set[int]] = defaultdict(set)
    for m in manifest["malformed"]:
        bad[m["file"]].add(m["line"])
    return bad


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, object]:
    landing = tmp_path_factory.mktemp("small")
    return landing, generate(landing, SMALL, timezone=ZONE)


@pytest.fixture(scope="module")
def shaped(tmp_path_factory) -> tuple[Path, dict]:
    landing = tmp_path_factory.mktemp("shape")
    generate(landing, SHAPE, timezone=ZONE)
    manifest = json.loads((landing / "_manifest.json").read_text())
    bad = _bad_lines(manifest)
    rows = {c.key: _read_rows(landing, c, bad) for c in contracts.all_contracts()}
    return landing, rows


def _digest(landing: Path) -> dict[str, bytes]:
    return {p.relative_to(landing).as_posix(): p.read_bytes() for p in sorted(landing.rglob("*")) if p.is_file()}


def test_deterministic(small, tmp_path):
    landing, _result = small
    again = tmp_path / "again"
    generate(again, SMALL, timezone=ZONE)
    assert _digest(landing) == _digest(again)
    generate(again, SMALL, timezone=ZONE)  # regenerating in place is a no-op too
    assert _digest(landing) == _digest(again)
    other = tmp_path / "other"
    generate(other, GeneratorConfig(**{**SMALL.__dict__, "seed": 43}), timezone=ZONE)
    a, b = _digest(landing), _digest(other)
    assert any(a[k] != b.get(k) for k in a if not k.startswith("_"))


def test_the_reporting_time_zone_is_an_argument_that_shapes_the_data(tmp_path):
    tiny = GeneratorConfig(seed=1, months=1, organizations=1, volume=0.01, malformed_share=0.0, end_date=END)
    generate(tmp_path / "chicago", tiny, timezone="America/Chicago")
    generate(tmp_path / "amsterdam", tiny, timezone="Europe/Amsterdam")
    manifest = json.loads((tmp_path / "amsterdam" / "_manifest.json").read_text())
    assert manifest["reporting_timezone"] == "Europe/Amsterdam"
    chicago, amsterdam = _digest(tmp_path / "chicago"), _digest(tmp_path / "amsterdam")
    assert chicago.keys() == amsterdam.keys()
    assert chicago["crm/leads/leads_2026-11.csv"] != amsterdam["crm/leads/leads_2026-11.csv"]  # local working hours


def test_result_and_manifest(small):
    landing, result = small
    manifest = json.loads((landing / "_manifest.json").read_text())
    assert manifest["config"]["seed"] == 42 and manifest["config"]["end_date"] == "2026-11-23"
    assert manifest["reporting_timezone"] == "America/Chicago"
    assert len(manifest["malformed"]) == len(result.malformed) > 0
    assert {c.key for c in contracts.all_contracts()} <= set(result.rows_by_table)
    for f in result.files:
        assert f.is_file() and re.fullmatch(r"[a-z_]+_\d{4}-\d{2}\.(csv|jsonl)", f.name)
    counted = defaultdict(int)
    for c in contracts.all_contracts():
        for p in (landing / c.landing_path).glob(f"*.{c.file_format}"):
            n = len(p.read_bytes().splitlines())
            counted[c.key] += n - 1 if c.file_format == "csv" else n
    assert dict(counted) == {k: v for k, v in result.rows_by_table.items() if v}


def test_headers_and_keys_match_contracts(small):
    landing, _result = small
    bad = _bad_lines(json.loads((landing / "_manifest.json").read_text()))
    for c in contracts.all_contracts():
        names = [col.name for col in c.loadable_columns]
        files = sorted((landing / c.landing_path).glob(f"*.{c.file_format}"))
        assert files, c.key
        for path in files:
            rel = path.relative_to(landing).as_posix()
            if c.file_format == "csv":
                assert next(csv.reader(io.StringIO(path.read_text()))) == names
            else:
                for number, line in enumerate(path.read_text().splitlines(), start=1):
                    if number not in bad.get(rel, set()):
                        assert list(json.loads(line)) == names, (rel, number)


def test_malformed_rows_are_where_the_manifest_says(small):
    landing, result = small
    by_name = {c.landing_path: c for c in contracts.all_contracts()}
    kinds = Counter()
    valid_keys: dict[str, set] = defaultdict(set)
    bad_keys: dict[str, list] = defaultdict(list)
    bad = _bad_lines(json.loads((landing / "_manifest.json").read_text()))
    for m in result.malformed:
        kinds[m.kind] += 1
        contract = by_name[m.file.rsplit("/", 1)[0]]
        types = {c.name: c.data_type for c in contract.loadable_columns}
        names = list(types)
        line = (landing / m.file).read_text().splitlines()[m.line - 1]
        if contract.file_format == "csv":
            values = next(csv.reader([line]))
            if m.kind == "unparseable_line":
                assert len(values) != len(names)
                continue
            row = dict(zip(names, values, strict=False))
        else:
            if m.kind == "unparseable_line":
                with pytest.raises(ValueError):
                    json.loads(line)
                continue
            row = json.loads(line)
        if m.kind == "missing_key":
            assert m.column in contract.natural_key and row[m.column] in (None, "")
        elif m.kind == "bad_value":
            value = row[m.column]
            if types[m.column] == "timestamptz":
                assert not _valid_ts(value)
            elif types[m.column] == "date":
                assert not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) or not date.fromisoformat(value)
            else:
                with pytest.raises(ValueError):
                    float(value)
        elif m.kind == "wrong_type":
            assert contract.file_format == "jsonl" and isinstance(row[m.column], str)
            assert types[m.column] in ("integer", "bigint", "numeric", "boolean")
        if m.kind != "missing_key":
            bad_keys[contract.key].append(tuple(row[k] for k in contract.natural_key))
    assert set(kinds) >= {"missing_key", "bad_value", "unparseable_line", "wrong_type"}
    for c in contracts.all_contracts():
        if c.key in bad_keys:
            valid_keys = {tuple(r[k] for k in c.natural_key) for _, r in _read_rows(landing, c, bad)}
            assert not valid_keys & set(bad_keys[c.key]), c.key


def _local(rows: list[tuple[str, dict]], column: str) -> list[datetime]:
    zone = ZoneInfo(ZONE)
    return [_ts(r[column]).astimezone(zone) for _, r in rows]


@pytest.mark.parametrize(
    "key,column",
    [
        ("web1on1__messages", "created_at"),
        ("crm__leads", "created_at"),
        ("bison__email_events", "occurred_at"),
        ("omnichannel__user_activity", "occurred_at"),
        ("web1on1__visitor_events", "occurred_at"),
    ],
)
def test_weekday_and_working_hour_peaks(shaped, key, column):
    _, rows = shaped
    times = _local(rows[key], column)
    days = Counter(t.date() for t in times)
    weekday = [n for d, n in days.items() if d.weekday() < 5]
    weekend = [n for d, n in days.items() if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > sum(weekend) / max(1, len(weekend))
    hours = Counter(t.hour for t in times)
    working = sum(hours[h] for h in range(9, 17)) / 8
    other = sum(hours[h] for h in range(24) if not 9 <= h < 17) / 16
    assert working > 1.5 * other


def _latest(rows: list[tuple[str, dict]], key: str, version: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for _, r in rows:
        if r[key] not in out or r[version] >= out[r[key]][version]:
            out[r[key]] = r
    return out


def test_funnels_are_monotonic(shaped):
    _, rows = shaped
    inv = _latest(rows["omnichannel__invitations"], "invitation_id", "updated_at")
    activated = {r["user_id"] for r in inv.values() if r["activated_at"]}
    transacting = {r["user_id"] for _, r in rows["omnichannel__blast_charges"]}
    assert len(inv) > len(activated) > len(transacting) > 0
    assert 0.35 < len(activated) / len(inv) < 0.65

    history = defaultdict(set)
    for _, r in rows["crm__lead_status_history"]:
        history[r["lead_id"]].add(r["to_status"])
    n = len(history)
    stages = [sum(s in h for h in history.values()) for s in ("contacted", "qualified", "appointment_set", "won")]
    assert n > stages[0] > stages[1] > stages[2] > stages[3] > 0

    asi = _latest(rows["web1on1__after_sales_invitations"], "id", "updated_at")
    steps = [
        len(asi),
        sum(bool(r["contact_joined_at"]) for r in asi.values()),
        sum(bool(r["dealer_joined_at"]) for r in asi.values()),
        sum(r["updates_shared"] > 0 for r in asi.values()),
    ]
    assert steps == sorted(steps, reverse=True) and steps[-1] > 0


def test_lead_scores_and_confidence(shaped):
    _, rows = shaped
    leads = _latest(rows["crm__leads"], "lead_id", "updated_at")
    scores = [int(r["score"]) for r in leads.values() if r["score"] is not None]
    hot = sum(s >= 80 for s in scores) / len(scores)
    cold = sum(s < 40 for s in scores) / len(scores)
    assert 0.15 < hot < 0.31 and 0.18 < cold < 0.34
    won = defaultdict(list)
    for r in leads.values():
        if r["score"] is not None:
            band = "hot" if int(r["score"]) >= 80 else "cold" if int(r["score"]) < 40 else "warm"
            won[band].append(r["status"] == "won")
    rate = {b: sum(v) / len(v) for b, v in won.items()}
    assert rate["hot"] > rate["warm"] > rate["cold"]
    conf = [float(r["confidence_score"]) for _, r in rows["bot_leads__leads"] if r["confidence_score"]]
    assert all(0 <= c <= 1 for c in conf) and 0.5 in conf and 0.8 in conf


def test_repeat_leads_written_differently(shaped):
    _, rows = shaped
    leads = _latest(rows["bot_leads__leads"], "lead_id", "updated_at")
    by_email, by_phone = defaultdict(set), defaultdict(set)
    for r in leads.values():
        if r["email"]:
            by_email[r["email"].strip().lower()].add(r["email"])
        if r["phone"]:
            by_phone[re.sub(r"\D", "", r["phone"])[-10:]].add(r["phone"])
    assert any(len(v) > 1 for v in by_email.values())
    assert any(len(v) > 1 for v in by_phone.values())


@pytest.mark.parametrize(
    "key,id_col",
    [
        ("bot_leads__leads", "lead_id"),
        ("crm__leads", "lead_id"),
        ("crm__deals", "deal_id"),
        ("web1on1__conversations", "id"),
        ("bison__leads", "id"),
    ],
)
def test_records_change_in_a_later_file(shaped, key, id_col):
    _, rows = shaped
    seen: dict[str, tuple[str, dict]] = {}
    changed = 0
    for rel, r in rows[key]:  # files are read in month order
        if r[id_col] in seen and seen[r[id_col]][0] < rel:
            assert r["updated_at"] > seen[r[id_col]][1]["updated_at"]
            changed += 1
        seen[r[id_col]] = (rel, r)
    assert changed > 0


def test_web1on1_ids_are_object_ids(shaped):
    _, rows = shaped
    time_col = {
        "sessions": "started_at",
        "visitor_events": "occurred_at",
        "bot_events": "occurred_at",
        "after_sales_invitations": "sent_at",
    }
    for c in contracts.all_contracts():
        if c.source != "web1on1":
            continue
        col = time_col.get(c.name, "created_at")
        assert rows[c.key], c.key
        for _, r in rows[c.key]:
            assert re.fullmatch(r"[0-9a-f]{24}", r["id"])
            assert abs(int(r["id"][:8], 16) - _ts(r[col]).timestamp()) <= 86_400


def test_channel_mix_and_data_on_end_date(shaped):
    _, rows = shaped
    conv = _latest(rows["web1on1__conversations"], "id", "updated_at")
    mix = Counter(r["channel"] for r in conv.values())
    assert mix["web"] > mix["whatsapp"] > mix["facebook"] and mix[None] > 0
    assert any(r["inbox_id"] is None for r in conv.values())
    charges = Counter()
    blasts = {r["blast_id"]: r["channel"] for _, r in rows["omnichannel__message_blasts"]}
    for _, r in rows["omnichannel__blast_charges"]:
        charges[blasts[r["blast_id"]]] += float(r["amount"])
    assert charges.most_common(1)[0][0] == "whatsapp"
    assert any(r["created_at"].startswith(END.isoformat()) for _, r in rows["bot_leads__leads"])
    assert all(_ts(r["created_at"]).date() <= END for _, r in rows["crm__leads"])
    users = [r for _, r in rows["web1on1__users"]]
    assert {"guest", "agent", "admin"} <= {r["role"] for r in users}
    assert {0, 1, 2, 3} <= {r["level"] for r in users}
    visits = defaultdict(list)
    for _, r in rows["web1on1__visitor_events"]:
        visits[r["cookie_id"]].append(_ts(r["occurred_at"]))
    assert any(
        any(0 < (b - a).total_seconds() < 1800 for a, b in zip(sorted(v), sorted(v)[1:], strict=False))
        for v in visits.values()
    )


def test_email_events_consistent_per_lead(shaped):
    _, rows = shaped
    campaigns = _latest(rows["bison__campaigns"], "id", "updated_at")
    per_lead = defaultdict(list)
    for _, r in rows["bison__email_events"]:
        per_lead[r["lead_id"]].append(r)
    for events in per_lead.values():
        sent = {e["scheduled_email_id"]: e["occurred_at"] for e in events if e["event_type"] == "EMAIL_SENT"}
        for e in events:
            if e["event_type"] != "EMAIL_SENT":
                assert e["occurred_at"] > sent[e["scheduled_email_id"]]
            if e["event_type"] == "EMAIL_OPENED":
                assert campaigns[e["campaign_id"]]["track_opens"] is True
            assert (e["is_interested"] is True) == (e["event_type"] == "CONTACT_INTERESTED")


def test_no_file_is_dated_after_the_end_date(small):
    """Every monthly file lies within the configured window (a short window once put new hires
    in files months after the end date)."""
    _landing, result = small
    last_month = END.strftime("%Y-%m")
    later = [f.name for f in result.files if f.stem.rsplit("_", 1)[1] > last_month]
    assert later == []


def test_web1on1_channels_include_unused_and_switched_off_ones_and_guests_write(shaped):
    """After sales lists every active channel with zeros (seed 003): some active channel has no conversation, some
    channel is switched off later; guests (never active users) write in a few conversations."""
    _, rows = shaped
    channels = _latest(rows["web1on1__channels"], "id", "updated_at")
    conv = _latest(rows["web1on1__conversations"], "id", "updated_at")
    used = {(r["organization_id"], r["channel"]) for r in conv.values()}
    active = {(r["organization_id"], r["channel"]) for r in channels.values() if r["active"]}
    assert active - used, "an active channel without conversations"
    assert any(not r["active"] for r in channels.values())
    assert {r["channel"] for r in channels.values()} == {"web", "whatsapp", "facebook", "instagram"}
    assert len(channels) == len({(r["organization_id"], r["channel"]) for r in channels.values()})
    guests = {r["id"] for _, r in rows["web1on1__users"] if r["role"] == "guest"}
    assert any(r["author_id"] in guests for _, r in rows["web1on1__messages"] if r["author_type"] == "user")


def test_omnichannel_exports_show_the_seed_002_patterns(shaped):
    """Re-invitations written in another case; charges WhatsApp > email > IVR > SMS (the seed's bar chart);
    blast-feature use peaking 8-12 local on working days, Tuesday and Wednesday busiest (the seed's heatmap)."""
    _, rows = shaped
    inv = _latest(rows["omnichannel__invitations"], "invitation_id", "updated_at")
    spellings = defaultdict(set)
    for r in inv.values():
        spellings[r["email"].strip().lower()].add(r["email"])
    assert any(len(v) > 1 for v in spellings.values())
    blasts = {r["blast_id"]: r["channel"] for _, r in rows["omnichannel__message_blasts"]}
    charged = Counter()
    for _, r in rows["omnichannel__blast_charges"]:
        charged[blasts[r["blast_id"]]] += float(r["amount"])
    assert [channel for channel, _ in charged.most_common()] == ["whatsapp", "email", "ivr", "sms"]
    blast_use = [
        (f, r) for f, r in rows["omnichannel__user_activity"] if r["event_type"] in ("compose_blast", "send_blast")
    ]
    times = _local(blast_use, "occurred_at")
    morning = sum(8 <= t.hour < 12 for t in times)
    afternoon = sum(12 <= t.hour < 16 for t in times)
    assert morning > 1.3 * afternoon
    # Tuesday and Wednesday weigh 1.15 against Monday's and Thursday's 1.0: with a few hundred events those can draw
    # level, so the test asks for the weight the profile gives, not for a ranking that noise can swap (D202)
    by_day = Counter(t.weekday() for t in times)
    working = sum(by_day[d] for d in range(5))
    assert (by_day[1] + by_day[2]) / working > 2 / 5  # more than an even share of the working week
    assert min(by_day[1], by_day[2]) > by_day[4]  # busier than Friday (0.85)
    assert by_day[5] + by_day[6] < by_day[1] / 2  # weekends are quiet
