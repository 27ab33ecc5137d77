"""Hostile but realistic vendor files, one test per defect class of issue 6.

Every file is written here by hand and every expected count, value and message below is worked out
by hand from it. Every test also checks the ledger's books: header + blank + loaded + rejected
lines = the file's lines, and inserted + updated + unchanged + rejected rows = the file's rows.
"""

from __future__ import annotations

import json
import os
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration import warehouse
from orchestration.ingestion import contracts, loaders, parsing, validation
from orchestration.ingestion import landing as landing_dirs

BOT_HEADER = (
    "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at"
)
LEADS = contracts.get("bot_leads", "leads")
EVENTS = contracts.get("bison", "email_events")
BOT_EVENTS = contracts.get("web1on1", "bot_events")


def bot(
    lead_id: str,
    updated_at: str,
    status: str = "new",
    name: str = "Ann",
    confidence: str = "0.8",
    created_at: str = "2025-01-06T08:00:00Z",
) -> str:
    return f"{lead_id},Website,chat,AllyChat,{confidence},{status},{name},,,,{created_at},{updated_at}"


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.fixture
def conn(fresh_db):
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        loaders.ensure_schemas(conn)
        yield conn


def rows(conn, sql: str, *params):
    return conn.execute(sql, params).fetchall()


def books_balance(conn) -> None:
    """The ledger adds up for every loaded file (and there is at least one)."""
    loaded_files = rows(
        conn,
        "select landing_root, file_path, rows_in_file, inserted, updated, unchanged, "
        "rejected, lines_in_file, header_lines, blank_lines, loaded_lines, "
        "rejected_lines from raw_audit.loaded_files where status = 'loaded'",
    )
    assert loaded_files, "no loaded file to check"
    for (
        root,
        path,
        rows_in_file,
        inserted,
        updated,
        unchanged,
        rejected,
        lines,
        header,
        blank,
        loaded,
        rejected_lines,
    ) in loaded_files:
        assert header + blank + loaded + rejected_lines == lines, path
        assert inserted + updated + unchanged + rejected == rows_in_file, path
        ((n_rejects, n_rejected_lines),) = rows(
            conn,
            "select count(*), coalesce(sum(line_count), 0) from "
            "raw_audit.rejected_rows where landing_root = %s and file_path = %s",
            root,
            path,
        )
        assert (n_rejects, n_rejected_lines) == (rejected, rejected_lines), path


# ------------------------------------------------------------------ versions compared as instants


def test_versions_are_compared_as_instants_within_a_file_and_across_files(conn, landing):
    jan = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,
                bot("K1", "2025-01-06T09:59:59Z", "new"),
                bot("K1", "2025-01-06 10:00:00Z", "converted"),  # 1 s later, written with a space
                bot("K2", "2025-01-06T10:00:00.5Z", "converted"),  # half a second later than line 5
                bot("K2", "2025-01-06T10:00:00Z", "new"),
                bot("K3", "2025-01-06T10:00:00Z", "converted"),
                bot("K3", "2025-01-06T12:00:00+03:00", "new"),  # 09:00 UTC: an hour older
                bot("K4", "2025-01-06T10:00:00Z", "new"),
                bot("K4", "2025-01-06T11:00:00+01:00", "in progress"),  # the same instant: the later line wins
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, jan, landing)
    assert (result.rows_in_file, result.inserted, result.unchanged, result.rejected) == (8, 4, 4, 0)
    assert rows(conn, "select lead_id, status, _source_line, updated_at::text from raw_bot_leads.leads order by 1") == [
        ("K1", "converted", 3, "2025-01-06 10:00:00+00"),
        ("K2", "converted", 4, "2025-01-06 10:00:00.5+00"),
        ("K3", "converted", 6, "2025-01-06 10:00:00+00"),
        ("K4", "in progress", 9, "2025-01-06 10:00:00+00"),
    ]

    feb = write(
        landing,
        "bot_leads/leads/leads_2025-02.csv",
        "\n".join(
            [
                BOT_HEADER,
                bot("K1", "2025-01-06T05:00:01-05:00", "dropped"),  # 10:00:01 UTC: newer, replaces
                bot("K3", "2025-01-06T11:30:00+02:00", "dropped"),  # 09:30 UTC: older, ignored
                bot("K4", "2025-01-06T10:00:00.000Z", "dropped"),  # equal: the file read last wins
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, feb, landing)
    assert (result.inserted, result.updated, result.unchanged) == (0, 2, 1)
    assert rows(conn, "select lead_id, status from raw_bot_leads.leads order by 1") == [
        ("K1", "dropped"),
        ("K2", "converted"),
        ("K3", "converted"),
        ("K4", "dropped"),
    ]
    books_balance(conn)


# ------------------------------------------------------------------ every line accounted for


def test_an_unterminated_quote_costs_only_its_own_line(conn, landing):
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,  # 1
                bot("B1", "2025-01-06T10:00:00Z"),  # 2
                bot("B2", "2025-01-06T10:00:00Z"),  # 3
                bot("B3", "2025-01-06T10:00:00Z", name='"Ann'),  # 4 quote never closed in its row
                bot("B4", "2025-01-06T10:00:00Z"),  # 5
                'B5,Website,chat,AllyChat,0.8,new,"Mary',  # 6 a name on two lines
                'Jane",,,,2025-01-06T08:00:00Z,2025-01-06T10:00:00Z',  # 7
                bot("B6", "2025-01-06T10:00:00Z"),  # 8
                "",  # 9 blank
                bot("B7", "2025-01-06T10:00:00Z"),  # 10
                bot("B8", "2025-01-06T10:00:00Z", name='"Bo'),  # 11 never closed at all
                bot("B9", "2025-01-06T10:00:00Z"),  # 12
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, path, landing)
    assert (result.status, result.rows_in_file, result.inserted, result.rejected) == ("loaded", 9, 7, 2)
    assert (
        result.lines_in_file,
        result.header_lines,
        result.blank_lines,
        result.loaded_lines,
        result.rejected_lines,
    ) == (12, 1, 1, 8, 2)
    assert rows(conn, "select lead_id, name, _source_line from raw_bot_leads.leads order by 1") == [
        ("B1", "Ann", 2),
        ("B2", "Ann", 3),
        ("B4", "Ann", 5),
        ("B5", "Mary\nJane", 6),
        ("B6", "Ann", 8),
        ("B7", "Ann", 10),
        ("B9", "Ann", 12),
    ]
    assert rows(conn, "select line_number, line_count, reason, raw_text from raw_audit.rejected_rows order by 1") == [
        (
            4,
            1,
            "broken line: a quote opened on this line does not close within the row (lines 4-6 do not "
            "make one row: ',' expected after '\"')",
            bot("B3", "2025-01-06T10:00:00Z", name='"Ann'),
        ),
        (
            11,
            1,
            "broken line: a quote opened on this line is never closed",
            bot("B8", "2025-01-06T10:00:00Z", name='"Bo'),
        ),
    ]
    books_balance(conn)


def test_broken_json_lines_are_accounted_for(conn, landing):
    good = {
        "id": "e1",
        "event_type": "EMAIL_SENT",
        "workspace_id": 3,
        "campaign_id": 40,
        "lead_id": 900,
        "scheduled_email_id": 5000,
        "sender_email": "s@x.io",
        "is_interested": False,
        "occurred_at": "2025-01-01T10:00:00Z",
    }
    path = write(
        landing,
        "bison/email_events/email_events_2025-01.jsonl",
        "\n".join(
            [
                json.dumps(good),  # 1
                "",  # 2 blank
                "   ",  # 3 blank
                '{"id": "e2", "event_type": "EMAIL_SE',  # 4 cut off
                "[1, 2]",  # 5 not an object
                json.dumps({**good, "id": "e3", "occurred_at": None}),  # 6 missing required value
                json.dumps({**good, "id": "e4"}),  # 7
            ]
        ),
    )  # no final newline
    result = loaders.load_file(conn, EVENTS, path, landing)
    assert (result.rows_in_file, result.inserted, result.rejected) == (5, 2, 3)
    assert (
        result.lines_in_file,
        result.header_lines,
        result.blank_lines,
        result.loaded_lines,
        result.rejected_lines,
    ) == (7, 0, 2, 2, 3)
    got = rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1")
    assert [(line, reason.split(":")[0]) for line, reason in got] == [
        (4, "unparseable JSON line"),
        (5, "not a JSON object"),
        (6, "missing required value occurred_at"),
    ]
    books_balance(conn)


# ------------------------------------------------------------------ exact types


def test_json_numbers_keep_every_digit_and_a_value_that_does_not_fit_rejects_only_its_row(conn, landing):
    def event(
        id_: str,
        workspace_id: str = "3",
        campaign_id: str = "40",
        lead_id: str = "900",
        scheduled_email_id: str = "5000",
    ) -> str:  # numbers as written in the file
        return (
            f'{{"id": "{id_}", "event_type": "EMAIL_SENT", "workspace_id": {workspace_id}, '
            f'"campaign_id": {campaign_id}, "lead_id": {lead_id}, "scheduled_email_id": {scheduled_email_id}, '
            f'"sender_email": null, "is_interested": true, "occurred_at": "2025-01-01T10:00:00Z"}}'
        )

    lines = [
        event("e1", workspace_id="9223372036854775807"),
        event("e2", campaign_id="1.5"),
        event("e3", lead_id="9223372036854775808"),
        event("e4", scheduled_email_id="12345678901234567"),
    ]
    path = write(landing, "bison/email_events/email_events_2025-01.jsonl", "\n".join(lines) + "\n")
    result = loaders.load_file(conn, EVENTS, path, landing)
    assert (result.inserted, result.rejected) == (2, 2)
    assert rows(conn, "select id, workspace_id, scheduled_email_id from raw_bison.email_events order by 1") == [
        ("e1", 9223372036854775807, 5000),
        ("e4", 3, 12345678901234567),
    ]
    assert rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1") == [
        (2, "invalid bigint in campaign_id: '1.5'"),
        (3, "bigint out of range in lead_id: '9223372036854775808'"),
    ]

    points = ["123456789012345678901234567890.123456789", "5.00", "-0.5E+2", "1e131072"]
    events = (
        "\n".join(
            f'{{"id": "b{i}", "organization_id": "o", "bot_id": "b", "conversation_id": null, '
            f'"event_type": "chatpoint", "points": {p}, "occurred_at": "2025-01-01T10:00:00Z"}}'
            for i, p in enumerate(points, start=1)
        )
        + "\n"
    )
    result = loaders.load_file(
        conn, BOT_EVENTS, write(landing, "web1on1/bot_events/bot_events_2025-01.jsonl", events), landing
    )
    assert (result.inserted, result.rejected) == (3, 1)
    assert rows(conn, "select id, points from raw_web1on1.bot_events order by 1") == [
        ("b1", Decimal("123456789012345678901234567890.123456789")),
        ("b2", Decimal("5.00")),
        ("b3", Decimal(-50)),
    ]
    assert rows(conn, "select points::text from raw_web1on1.bot_events where id = 'b2'") == [("5.00",)]
    assert rows(
        conn, "select line_number, reason from raw_audit.rejected_rows where file_path like %s", "web1on1%"
    ) == [(4, "numeric out of range in points: '1e131072'")]
    books_balance(conn)


def test_json_decimals_read_by_pyarrow_keep_the_text_of_the_line():
    """pyarrow reads a numeric column of JSON lines as float64; the loader keeps the number as written in the
    line instead (`parsing._number_texts`), so the values are what the line-by-line reader gives. Line 5 has
    the key's text inside a string value, which must not be taken for the key; line 6 has no points."""

    def line(i: int, points: str, note: str = "bot") -> str:
        return (
            f'{{"id": "b{i}", "organization_id": "o", "bot_id": "{note}", "conversation_id": null, '
            f'"event_type": "chatpoint", "points": {points}, "occurred_at": "2025-01-01T10:00:00Z"}}'
        )

    lines = [
        line(1, "3.00"),
        line(2, "-0.0"),
        line(3, "1E2"),
        line(4, "12345678901234567890.123456789"),
        line(5, "7", note='x,\\"points\\": 1.5'),
        line(6, "null"),
    ]
    data = ("\n".join(lines) + "\n").encode()
    fast = parsing._parse_jsonl_arrow(BOT_EVENTS, data)
    assert fast is not None  # pyarrow's reader took the file
    assert fast.table.column("points").to_pylist() == [
        "3.00",
        "-0.0",
        "1E2",
        "12345678901234567890.123456789",
        "7",
        None,
    ]
    assert fast.table.column("bot_id").to_pylist()[4] == 'x,"points": 1.5'
    slow = parsing._parse_jsonl(BOT_EVENTS, b"\n" + data, "x.jsonl")  # a blank first line: the line-by-line reader
    assert slow.table.equals(fast.table)
    # The key twice in one line: left to the line-by-line reader.
    assert (
        parsing._parse_jsonl_arrow(BOT_EVENTS, (line(1, "1.5").replace("}", ', "points": 2.5}') + "\n").encode())
        is None
    )


def test_values_postgresql_would_refuse_are_rejected_rows(conn, landing):
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,
                bot("R1", "2025-01-06T10:00:00Z", created_at="0000-01-01T00:00:00Z"),  # PostgreSQL has no year 0
                bot("R2", "2025-01-06T10:00:00+16:00"),  # offsets stop at 15:59
                bot("R3", "2025-01-06T10:00:00Z", confidence="1e131072"),  # beyond numeric's range
                bot("R4", "2025-01-06T10:00:00Z", name="A\x00n"),  # text cannot hold NUL
                bot("R5", "2025-01-06T10:00:00-15:59"),
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, path, landing)
    assert (result.inserted, result.rejected) == (1, 4)
    assert rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1") == [
        (2, "invalid timestamptz in created_at: '0000-01-01T00:00:00Z'"),
        (3, "time zone offset beyond ±15:59 in updated_at: '2025-01-06T10:00:00+16:00'"),
        (4, "numeric out of range in confidence_score: '1e131072'"),
        (5, "NUL character (PostgreSQL text cannot hold it) in name: 'A\\x00n'"),
    ]
    assert rows(conn, "select raw_text from raw_audit.rejected_rows where line_number = 5") == [
        (bot("R4", "2025-01-06T10:00:00Z", name="A\\x00n"),)
    ]

    stats = contracts.get("bison", "pipeline_stats_cache")
    path = write(
        landing,
        "bison/pipeline_stats_cache/pipeline_stats_cache_2025-01.csv",
        "workspace_id,pipeline_month,uploaded,emails_sent,replied,interested,updated_at\n"
        "7,2025-01-01,2147483647,,,,2025-01-31T12:00:00Z\n"
        "7,2025-02-01,2147483648,,,,2025-01-31T12:00:00Z\n"
        "7,2025-03-01,-2147483648,,,,2025-01-31T12:00:00Z\n"
        "7,2025-04-01,-2147483649,,,,2025-01-31T12:00:00Z\n",
    )
    result = loaders.load_file(conn, stats, path, landing)
    assert (result.inserted, result.rejected) == (2, 2)
    assert rows(conn, "select uploaded from raw_bison.pipeline_stats_cache order by 1") == [
        (-2147483648,),
        (2147483647,),
    ]
    books_balance(conn)


def test_a_value_postgresql_still_refuses_becomes_a_rejected_row_with_its_message(conn, landing, monkeypatch):
    """The safety net under the validator: with the validator switched off, PostgreSQL's own refusal
    of a value (COPY names the row) rejects that row, and the file loads without it."""
    monkeypatch.setattr(validation, "problems", lambda col, data_type: [])
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,
                bot("P1", "2025-01-06T10:00:00Z"),
                bot("P2", "2025-01-06T10:00:00Z", created_at="0000-01-01T00:00:00Z"),
                bot("P3", "2025-01-06T10:00:00Z", confidence="1e131072"),
                bot("P4", "2025-01-06T10:00:00Z"),
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, path, landing)
    assert (result.status, result.inserted, result.rejected) == ("loaded", 2, 2)
    assert rows(conn, "select lead_id from raw_bot_leads.leads order by 1") == [("P1",), ("P4",)]
    assert rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1") == [
        (3, 'refused by PostgreSQL: date/time field value out of range: "0000-01-01T00:00:00Z"'),
        (4, "refused by PostgreSQL: value overflows numeric format"),
    ]
    books_balance(conn)


# ------------------------------------------------------------------ ledger per landing directory


def test_two_landing_directories_never_erase_each_others_records(conn, tmp_path):
    first, second = tmp_path / "landing_a", tmp_path / "landing_b"
    rel = "bot_leads/leads/leads_2025-01.csv"
    write(
        first,
        rel,
        "\n".join([BOT_HEADER, bot("A1", "2025-01-06T10:00:00Z"), bot("A2", "2025-01-06T10:00:00Z", confidence="x")])
        + "\n",
    )
    write(
        second,
        rel,
        "\n".join([BOT_HEADER, bot("B1", "2025-01-06T10:00:00Z", confidence="y"), bot("B2", "2025-01-06T10:00:00Z")])
        + "\n",
    )
    for root in (first, second, first):
        loaders.load_table(conn, LEADS, root)
    assert rows(
        conn, "select landing_root, file_path, status, inserted, rejected from raw_audit.loaded_files order by 1"
    ) == [(str(first), rel, "loaded", 1, 1), (str(second), rel, "loaded", 1, 1)]
    assert rows(conn, "select landing_root, line_number, reason from raw_audit.rejected_rows order by 1") == [
        (str(first), 3, "invalid numeric in confidence_score: 'x'"),
        (str(second), 2, "invalid numeric in confidence_score: 'y'"),
    ]
    assert rows(conn, "select lead_id from raw_bot_leads.leads order by 1") == [("A1",), ("B2",)]
    books_balance(conn)


# ------------------------------------------------------------------ one odd file never stops the load


def _unreadable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # root reads any mode; /proc/1/mem refuses even root without ptrace rights
        path.symlink_to("/proc/1/mem")
    else:
        path.write_text(BOT_HEADER + "\n")
        path.chmod(0)


def test_odd_files_fail_alone_with_a_one_line_reason_and_the_load_goes_on(conn, landing):
    folder = "bot_leads/leads"
    write(landing, f"{folder}/leads_2025-01.csv", BOT_HEADER + "\r\n")  # header only
    write(landing, f"{folder}/leads_2025-02.csv", b"")  # 0 bytes
    write(
        landing,
        f"{folder}/leads_2025-03.csv",
        (BOT_HEADER + "\n" + bot("U1", "2025-01-06T10:00:00Z") + "\n").encode()
        + b"U2,Website,chat,AllyChat,0.8,new,Jos\xe9\n",
    )
    write(
        landing,
        f"{folder}/leads_2025-04.csv",
        "\ufeff" + BOT_HEADER + "\r\n" + bot("G1", "2025-01-06T10:00:00Z") + "\r\n",
    )
    _unreadable(landing / f"{folder}/leads_2025-05.csv")
    write(
        landing,
        os.fsdecode(f"{folder}/leads_2025-06_".encode() + b"\xe9.csv"),
        BOT_HEADER + "\n" + bot("N1", "2025-01-06T10:00:00Z") + "\n",
    )  # a name that is not UTF-8
    write(landing, "bison/email_events/email_events_2025-01.jsonl", b"")  # an empty JSON-lines export
    write(landing, "bison/email_events/email_events_2025-02.jsonl", "\n\n")  # blank lines only

    leads = loaders.load_table(conn, LEADS, landing)
    events = loaders.load_table(conn, EVENTS, landing)
    by_file = {f.file: f for f in leads.files + events.files}
    assert {name: (f.status, f.inserted, f.lines_in_file) for name, f in by_file.items()} == {
        f"{folder}/leads_2025-01.csv": ("loaded", 0, 1),
        f"{folder}/leads_2025-02.csv": ("failed", 0, 0),
        f"{folder}/leads_2025-03.csv": ("failed", 0, 0),
        f"{folder}/leads_2025-04.csv": ("loaded", 1, 2),
        f"{folder}/leads_2025-05.csv": ("failed", 0, 0),
        f"{folder}/leads_2025-06_\\xe9.csv": ("loaded", 1, 2),
        "bison/email_events/email_events_2025-01.jsonl": ("loaded", 0, 0),
        "bison/email_events/email_events_2025-02.jsonl": ("loaded", 0, 2),
    }
    assert leads.errors[:2] == [
        f"{folder}/leads_2025-02.csv: empty file (0 bytes, no header line); nothing loaded",
        f"{folder}/leads_2025-03.csv: not UTF-8 text: byte 0xe9 on line 3 cannot be decoded (re-export the file "
        "as UTF-8); nothing loaded",
    ]
    assert leads.errors[2].startswith(f"{folder}/leads_2025-05.csv: cannot read the file: ")
    assert all("\n" not in e for e in leads.errors) and len(leads.errors) == 3 and events.errors == []
    assert rows(conn, "select lead_id, _source_file from raw_bot_leads.leads order by 1") == [
        ("G1", f"{folder}/leads_2025-04.csv"),
        ("N1", f"{folder}/leads_2025-06_\\xe9.csv"),
    ]
    assert rows(conn, "select count(*) from raw_audit.loaded_files where status = 'failed' and reason is not null") == [
        (3,)
    ]

    # Failed files are tried again (and fail again) on the next run; loaded ones are skipped.
    again = loaders.load_table(conn, LEADS, landing)
    assert [f.status for f in again.files] == ["skipped", "failed", "failed", "skipped", "failed", "skipped"]
    books_balance(conn)


def test_a_multi_line_value_and_a_broken_line_never_collide_on_a_line_number(conn, landing):
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,
                'M1,Website,chat,AllyChat,0.8,new,"Ann',
                'Marie",,,,2025-01-06T08:00:00Z,2025-01-06T10:00:00Z',
                "M2,Website,chat",
                bot("M3", "2025-01-06T10:00:00Z", confidence="high"),
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, path, landing)
    assert (result.inserted, result.rejected, result.loaded_lines, result.rejected_lines) == (1, 2, 2, 2)
    assert rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1") == [
        (4, "broken line: expected 12 fields, found 3"),
        (5, "invalid numeric in confidence_score: 'high'"),
    ]
    books_balance(conn)


# ------------------------------------------------------------------ keys


def test_keys_are_trimmed_and_blank_keys_rejected(conn, landing):
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join(
            [
                BOT_HEADER,
                bot(" D4 ", "2025-01-06T10:00:00Z", "new"),
                bot("D4", "2025-01-06T11:00:00Z", "converted"),
                bot("   ", "2025-01-06T10:00:00Z"),
                bot('""', "2025-01-06T10:00:00Z"),
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, LEADS, path, landing)
    assert (result.inserted, result.unchanged, result.rejected) == (1, 1, 2)
    assert rows(conn, "select lead_id, status from raw_bot_leads.leads") == [("D4", "converted")]
    assert rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1") == [
        (4, "blank key lead_id"),
        (5, "missing key lead_id"),
    ]

    events = write(
        landing,
        "bison/email_events/email_events_2025-01.jsonl",
        '{"id": " e1\\t", "event_type": "EMAIL_SENT", "workspace_id": 3, "campaign_id": null, '
        '"lead_id": null, "scheduled_email_id": null, "sender_email": null, "is_interested": null, '
        '"occurred_at": "2025-01-01T10:00:00Z"}\n'
        '{"id": "", "event_type": "EMAIL_SENT", "workspace_id": 3, "campaign_id": null, '
        '"lead_id": null, "scheduled_email_id": null, "sender_email": null, "is_interested": null, '
        '"occurred_at": "2025-01-01T10:00:00Z"}\n',
    )
    loaders.load_file(conn, EVENTS, events, landing)
    assert rows(conn, "select id from raw_bison.email_events") == [("e1",)]
    assert rows(conn, "select reason from raw_audit.rejected_rows where file_path like %s", "bison%") == [
        ("blank key id",)
    ]
    books_balance(conn)


# ------------------------------------------------------------------ what the contract cannot see


def test_entries_the_contract_cannot_see_are_reported_with_the_reason(conn, landing):
    folder = landing / "bot_leads" / "leads"
    write(landing, "bot_leads/leads/leads_2025-01.csv", BOT_HEADER + "\n" + bot("S1", "2025-01-06T10:00:00Z") + "\n")
    write(landing, "bot_leads/leads/archive/leads_2024-12.csv", BOT_HEADER + "\n")
    write(landing, "bot_leads/leads/LEADS_2025-02.CSV", BOT_HEADER + "\n")
    write(landing, "bot_leads/leads/leads_2025-03.csv.gz", b"\x1f\x8b")
    write(landing, "bot_leads/leads/.leads_2025-04.csv.part", BOT_HEADER + "\n")
    (folder / "leads_2025-05.csv").symlink_to(folder / "gone.csv")
    write(landing, "bot_leads/leads_2025-06.csv", BOT_HEADER + "\n")  # one folder too high
    write(landing, "_manifest.json", "{}")  # the generator's, not data

    result = loaders.load_table(conn, LEADS, landing)
    assert [f.file for f in result.files] == ["bot_leads/leads/leads_2025-01.csv"]
    assert [(i.path, i.reason) for i in result.ignored] == [
        ("bot_leads/leads/.leads_2025-04.csv.part", "a hidden file"),
        ("bot_leads/leads/LEADS_2025-02.CSV", "extension .CSV is not .csv (extensions are case-sensitive)"),
        (
            "bot_leads/leads/archive/",
            "a sub-folder: bot_leads__leads reads only the files directly in bot_leads/leads/",
        ),
        ("bot_leads/leads/leads_2025-03.csv.gz", "extension .gz is not .csv"),
        ("bot_leads/leads/leads_2025-05.csv", f"broken link (points to {folder / 'gone.csv'})"),
    ]
    assert [(i.path, i.reason) for i in landing_dirs.unclaimed(list(contracts.all_contracts()), landing)] == [
        ("bot_leads/leads_2025-06.csv", "no contract reads this folder")
    ]


def test_a_json_key_not_in_the_contract_fails_the_file_naming_where_it_first_appears(conn, landing):
    event = {
        "id": "e1",
        "event_type": "EMAIL_SENT",
        "workspace_id": 3,
        "campaign_id": None,
        "lead_id": None,
        "scheduled_email_id": None,
        "sender_email": None,
        "is_interested": None,
        "occurred_at": "2025-01-01T10:00:00Z",
    }
    path = write(
        landing,
        "bison/email_events/email_events_2025-01.jsonl",
        "\n".join(
            [
                json.dumps(event),
                json.dumps({**event, "id": "e2"}),
                json.dumps({**event, "id": "e3", "campaign_name": "x"}),
                json.dumps({**event, "id": "e4", "campaign_name": "y", "opened": True}),
            ]
        )
        + "\n",
    )
    result = loaders.load_file(conn, EVENTS, path, landing)
    assert (result.status, result.reason) == (
        "failed",
        (
            "bison/email_events/email_events_2025-01.jsonl: keys do not match raw_bison.email_events: "
            "unexpected campaign_name (first on line 3), opened (first on line 4)"
        ),
    )
    assert rows(conn, "select count(*) from raw_bison.email_events") == [(0,)]


# ------------------------------------------------------------------ concurrency and a lost warehouse


def test_concurrent_first_loads_create_the_database_and_schemas_once(warehouse_info):
    import uuid
    from dataclasses import replace

    info = replace(warehouse_info, dbname=f"race_{uuid.uuid4().hex[:8]}")
    barrier, errors = threading.Barrier(6), []

    def first_load() -> None:
        try:
            barrier.wait()
            warehouse._ensure_database(info)
            with warehouse.connect(info) as conn:
                loaders.ensure_schemas(conn)
        except Exception as exc:  # collected: the assertion below names it
            errors.append(repr(exc))

    threads = [threading.Thread(target=first_load) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with warehouse.connect(info) as conn:
            assert rows(
                conn, "select count(*) from information_schema.tables where table_schema = 'raw_bot_leads'"
            ) == [(1,)]
    finally:
        warehouse.drop_database(info)


def test_losing_the_warehouse_mid_load_is_one_clear_error(fresh_db, landing, monkeypatch):
    # A transaction per file here (files of a table normally share one, a savepoint each; the next tests),
    # so that the first file is committed when the connection goes.
    monkeypatch.setattr(loaders, "GROUP_BYTES", 1)
    for month in (1, 2, 3):
        write(
            landing,
            f"bot_leads/leads/leads_2025-0{month}.csv",
            BOT_HEADER + "\n" + bot(f"L{month}", "2025-01-06T10:00:00Z") + "\n",
        )
    with warehouse.connect(fresh_db, autocommit=True) as admin, warehouse.connect(fresh_db, autocommit=True) as conn:
        loaders.ensure_schemas(conn)
        pid = conn.info.backend_pid

        def stop_after_first(result) -> None:
            admin.execute("select pg_terminate_backend(%s)", [pid])  # what `warehouse stop` does to a session

        with pytest.raises(warehouse.WarehouseError) as err:
            loaders.load_table(conn, LEADS, landing, progress=stop_after_first)
        assert str(err.value).startswith(
            "lost the connection to the warehouse while loading bot_leads/leads/leads_2025-02.csv: "
        )
        assert "\n" not in str(err.value) and str(err.value).endswith("(that file was not loaded; run the load again)")
        assert rows(admin, "select file_path from raw_audit.loaded_files") == [("bot_leads/leads/leads_2025-01.csv",)]


def test_losing_the_warehouse_inside_a_shared_transaction_loses_its_files_together(fresh_db, landing):
    """January and February are written in one transaction. Another session holds an uncommitted ledger row
    for February, so the loader waits on it after writing February's rows, and is then terminated: January
    was written but not committed, and the error says so."""
    for month in (1, 2):
        write(
            landing,
            f"bot_leads/leads/leads_2025-0{month}.csv",
            BOT_HEADER + "\n" + bot(f"L{month}", "2025-01-06T10:00:00Z") + "\n",
        )
    with warehouse.connect(fresh_db, autocommit=True) as conn, warehouse.connect(fresh_db) as holder:
        loaders.ensure_schemas(conn)
        pid = conn.info.backend_pid
        holder.execute(
            "insert into raw_audit.loaded_files (landing_root, file_path, source_table) values (%s, %s, %s)",
            [str(landing.resolve()), "bot_leads/leads/leads_2025-02.csv", "raw_bot_leads.leads"],
        )

        def stop_when_waiting() -> None:
            with warehouse.connect(fresh_db, autocommit=True) as admin:
                for _ in range(600):
                    waiting = rows(
                        admin, "select 1 from pg_stat_activity where pid = %s and wait_event_type = 'Lock'", pid
                    )
                    if waiting:
                        admin.execute("select pg_terminate_backend(%s)", [pid])
                        return
                    threading.Event().wait(0.05)
                admin.execute("select pg_terminate_backend(%s)", [pid])  # never seen waiting: fail, do not hang

        stopper = threading.Thread(target=stop_when_waiting)
        stopper.start()
        try:
            with pytest.raises(warehouse.WarehouseError) as err:
                loaders.load_table(conn, LEADS, landing)
        finally:
            stopper.join()
            holder.rollback()
        message = str(err.value)
        assert message.startswith(
            "lost the connection to the warehouse while loading bot_leads/leads/leads_2025-02.csv: "
        )
        assert "\n" not in message
        assert message.endswith(
            "(that file and the 1 before it in its transaction were not loaded; run the load again)"
        )
        assert rows(holder, "select count(*) from raw_audit.loaded_files") == [(0,)]
        assert rows(holder, "select count(*) from raw_bot_leads.leads") == [(0,)]


def test_a_file_that_fails_inside_a_shared_transaction_fails_alone(conn, landing, monkeypatch):
    """Three files of one table, written in one transaction (a savepoint each). February's 21 rows are all
    refused by PostgreSQL itself (the validator is switched off, as in the safety-net test above), one more
    than MAX_REFUSED_ROWS, so February fails as a whole; January before it and March after it (which
    updates January's K1, so its direct COPY fails on the stored key and it is written again through the
    upsert) still load, in the same transaction."""
    monkeypatch.setattr(validation, "problems", lambda col, data_type: [])
    assert loaders.MAX_REFUSED_ROWS == 20
    write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "\n".join([BOT_HEADER, bot("K1", "2025-01-06T10:00:00Z"), bot("K2", "2025-01-06T10:00:00Z")]) + "\n",
    )
    refused = [bot(f"F{n:02d}", "2025-02-03T10:00:00Z", created_at="0000-01-01T00:00:00Z") for n in range(1, 22)]
    write(landing, "bot_leads/leads/leads_2025-02.csv", "\n".join([BOT_HEADER, *refused]) + "\n")
    write(
        landing,
        "bot_leads/leads/leads_2025-03.csv",
        "\n".join([BOT_HEADER, bot("K1", "2025-03-03T10:00:00Z", status="won"), bot("M1", "2025-03-03T10:00:00Z")])
        + "\n",
    )
    result = loaders.load_table(conn, LEADS, landing)
    assert [(f.file, f.status, f.inserted, f.updated) for f in result.files] == [
        ("bot_leads/leads/leads_2025-01.csv", "loaded", 2, 0),
        ("bot_leads/leads/leads_2025-02.csv", "failed", 0, 0),
        ("bot_leads/leads/leads_2025-03.csv", "loaded", 1, 1),
    ]
    assert result.errors == ["bot_leads/leads/leads_2025-02.csv: PostgreSQL refused more than 20 rows; nothing loaded"]
    assert rows(conn, "select lead_id, status, _source_file from raw_bot_leads.leads order by 1") == [
        ("K1", "won", "bot_leads/leads/leads_2025-03.csv"),
        ("K2", "new", "bot_leads/leads/leads_2025-01.csv"),
        ("M1", "new", "bot_leads/leads/leads_2025-03.csv"),
    ]
    assert rows(conn, "select file_path, status, reason from raw_audit.loaded_files order by 1") == [
        ("bot_leads/leads/leads_2025-01.csv", "loaded", None),
        ("bot_leads/leads/leads_2025-02.csv", "failed", result.errors[0]),
        ("bot_leads/leads/leads_2025-03.csv", "loaded", None),
    ]
    assert rows(conn, "select count(*) from raw_audit.rejected_rows") == [(0,)]  # February's went with it
    # One transaction: the rows and the ledger share its start time.
    assert rows(
        conn,
        "select count(distinct t) from (select _loaded_at as t from raw_bot_leads.leads "
        "union all select loaded_at from raw_audit.loaded_files) moments",
    ) == [(1,)]
    books_balance(conn)


def test_a_file_whose_rows_were_written_before_it_failed_leaves_none_of_them(conn, landing, monkeypatch):
    """February's rows are written, then its ledger write is cancelled (as a statement timeout would): the savepoint
    takes its rows back, the ledger says it failed and why, and January and March commit in the same transaction."""
    import psycopg

    record = loaders._record

    def cancel_februarys(cur, contract, root, digest, result, seconds):
        if result.file.endswith("2025-02.csv") and result.status == "loaded":
            raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
        record(cur, contract, root, digest, result, seconds)

    monkeypatch.setattr(loaders, "_record", cancel_februarys)
    for month, key in ((1, "J1"), (2, "F1"), (3, "M1")):
        write(
            landing,
            f"bot_leads/leads/leads_2025-0{month}.csv",
            BOT_HEADER + "\n" + bot(key, f"2025-0{month}-03T10:00:00Z") + "\n",
        )
    result = loaders.load_table(conn, LEADS, landing)
    reason = (
        "bot_leads/leads/leads_2025-02.csv: PostgreSQL: canceling statement due to statement timeout; nothing loaded"
    )
    assert [(f.file, f.status) for f in result.files] == [
        ("bot_leads/leads/leads_2025-01.csv", "loaded"),
        ("bot_leads/leads/leads_2025-02.csv", "failed"),
        ("bot_leads/leads/leads_2025-03.csv", "loaded"),
    ]
    assert result.errors == [reason]
    assert rows(conn, "select lead_id from raw_bot_leads.leads order by 1") == [("J1",), ("M1",)]
    assert rows(conn, "select file_path, status, reason from raw_audit.loaded_files order by 1") == [
        ("bot_leads/leads/leads_2025-01.csv", "loaded", None),
        ("bot_leads/leads/leads_2025-02.csv", "failed", reason),
        ("bot_leads/leads/leads_2025-03.csv", "loaded", None),
    ]
    books_balance(conn)


def test_a_group_holds_its_tables_lock_from_its_start_even_when_its_first_file_fails(fresh_db, landing, monkeypatch):
    """A lock first taken inside a file's savepoint is released when that savepoint is rolled back: the group's
    lock is taken once, before its first file, so a failed first file is recorded under it too."""
    write(landing, "bot_leads/leads/leads_2025-01.csv", b"\xff\xfe not a csv")
    write(landing, "bot_leads/leads/leads_2025-02.csv", BOT_HEADER + "\n" + bot("F1", "2025-02-03T10:00:00Z") + "\n")
    record = loaders._record
    locks_held: list[tuple[str, int]] = []
    with warehouse.connect(fresh_db, autocommit=True) as conn, warehouse.connect(fresh_db, autocommit=True) as admin:
        loaders.ensure_schemas(conn)

        def counting(cur, contract, root, digest, result, seconds):
            held = rows(
                admin,
                "select count(*) from pg_locks where locktype = 'advisory' and granted and pid = %s",
                conn.info.backend_pid,
            )[0][0]
            locks_held.append((result.file.rsplit("/", 1)[1], held))
            record(cur, contract, root, digest, result, seconds)

        monkeypatch.setattr(loaders, "_record", counting)
        result = loaders.load_table(conn, LEADS, landing)
    assert [f.status for f in result.files] == ["failed", "loaded"]
    assert locks_held == [("leads_2025-01.csv", 1), ("leads_2025-02.csv", 1)]


def test_a_ledger_from_before_issue_6_is_upgraded_in_place(fresh_db, landing):
    """The ledger shape of the previous release (keyed by path alone), with one loaded file and its reject."""
    rel = "bot_leads/leads/leads_2025-01.csv"
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        conn.execute("""
            create schema raw_audit;
            create table raw_audit.loaded_files (file_path text primary key, source_table text not null,
                sha256 text not null, rows_in_file integer not null, inserted integer not null,
                updated integer not null, unchanged integer not null, rejected integer not null,
                duration_ms integer not null, loaded_at timestamptz not null default now());
            create table raw_audit.rejected_rows (source_table text not null, file_path text not null,
                line_number integer not null, raw_text text, reason text not null,
                rejected_at timestamptz not null default now(), primary key (file_path, line_number));""")
        conn.execute(
            "insert into raw_audit.loaded_files values (%s, 'raw_bot_leads.leads', 'old', 2, 1, 0, 0, 1, 5)", [rel]
        )
        conn.execute("insert into raw_audit.rejected_rows values ('raw_bot_leads.leads', %s, 3, 'x', 'bad')", [rel])
        loaders.ensure_schemas(conn, landing)
        assert rows(conn, "select landing_root, file_path, status, inserted, rejected from raw_audit.loaded_files") == [
            (str(landing), rel, "loaded", 1, 1)
        ]
        assert rows(conn, "select landing_root, line_number, line_count from raw_audit.rejected_rows") == [
            (str(landing), 3, 1)
        ]
        # The same file, changed, now loads under the new key and replaces its old reject.
        write(landing, rel, BOT_HEADER + "\n" + bot("U1", "2025-01-06T10:00:00Z") + "\n")
        result = loaders.load_table(conn, LEADS, landing)
        assert [(f.status, f.inserted) for f in result.files] == [("loaded", 1)]
        assert rows(conn, "select count(*) from raw_audit.rejected_rows") == [(0,)]
        assert rows(conn, "select count(*) from raw_audit.loaded_files") == [(1,)]


# ------------------------------------------------------------------ a table folder that cannot be read


def test_a_folder_that_cannot_be_listed_fails_its_table_alone_in_one_line(conn, landing):
    # Tests run as root, which lists any folder whatever its mode: a file and a broken link stand in
    # for the folder here (os.scandir fails on both as it does on a 000 folder); the next test drops
    # privileges to show the chmod 000 case itself.
    write(landing, "bot_leads/leads", "not a folder\n")
    (landing / "bison").mkdir(parents=True)
    (landing / "bison" / "email_events").symlink_to(landing / "gone")
    write(landing, "web1on1/bot_events/bot_events_2025-01.jsonl", "\n\n")

    leads = loaders.load_table(conn, LEADS, landing)
    events = loaders.load_table(conn, EVENTS, landing)
    bot_events = loaders.load_table(conn, BOT_EVENTS, landing)
    assert (leads.files, leads.errors) == (
        [],
        ["bot_leads/leads/: cannot read the folder: Not a directory; none of its files loaded"],
    )
    assert (events.files, events.errors) == (
        [],
        ["bison/email_events/: cannot read the folder: No such file or directory; none of its files loaded"],
    )
    assert [(f.file, f.status) for f in bot_events.files] == [("web1on1/bot_events/bot_events_2025-01.jsonl", "loaded")]
    assert bot_events.errors == []


def test_a_folder_without_read_permission_is_one_line_for_an_unprivileged_user():
    import subprocess
    import sys
    import tempfile

    # A world-traversable directory (pytest's are 0700), so that an unprivileged user reaches the folder.
    root = Path(tempfile.mkdtemp(prefix="h14-landing-", dir="/tmp"))
    try:
        root.chmod(0o755)
        folder = root / "bot_leads" / "leads"
        folder.mkdir(parents=True)
        (root / "bot_leads").chmod(0o755)
        write(root, "bot_leads/leads/leads_2025-01.csv", BOT_HEADER + "\n")
        folder.chmod(0)
        # Imports first: the interpreter's own files need not be readable by nobody.
        script = (
            "import os, sys\n"
            "from pathlib import Path\n"
            "from orchestration.ingestion import contracts, landing\n"
            "if os.geteuid() == 0:\n    os.setgid(65534); os.setuid(65534)\n"
            "try:\n    landing.scan(contracts.get('bot_leads', 'leads'), Path(sys.argv[1]))\n"
            "except landing.FolderError as exc:\n    print(exc)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(root)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "bot_leads/leads/: cannot read the folder: Permission denied; none of its files loaded\n"
    finally:
        folder.chmod(0o755)
        import shutil

        shutil.rmtree(root)
