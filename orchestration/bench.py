"""`make bench`: generation and load speed, measured side by side in one run.

Generates a synthetic landing set and loads it into a fresh database three ways, in the same run:

* our loader (parse, validate, COPY straight into the raw table or through a temp table and an upsert
  by key, rejects, ledger), `load_parallelism` tables at a time;
* PostgreSQL `COPY` alone, the floor: every file streamed as it is (psycopg `copy ... from stdin`, one
  stream, one file after another) into a scratch table of text columns, no parsing or checking on
  our side;
* `pandas.read_csv/read_json` + `DataFrame.to_sql(method="multi")` (skip with --skip-pandas).

It prints rows/s for each and the ratios, then a line for scripts: `load ours=<rows/s> copy=<rows/s>`.

With --refresh it then times three refresh cycles on that landing set, in a database of their own:
the first (a full build: everything is new), a no-op (nothing new) and one with one new file (a late
file for an old day; it rebuilds only what that file and the moved as-of moment reach, D191, D198), and prints
`refresh full=<s> noop=<s> onefile=<s>`. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from orchestration import settings, warehouse
from orchestration.ingestion import contracts, loaders


def _pandas_load(info: warehouse.ConnectionInfo, landing: Path) -> int:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(info.sqlalchemy_url())
    rows = 0
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("create schema if not exists bench_pandas"))
    for contract in contracts.all_contracts():
        for path in loaders.landing_files(contract, landing):
            if contract.file_format == "csv":
                frame = pd.read_csv(path, dtype=str, on_bad_lines="skip")
            else:  # skip unparseable lines, as read_csv(on_bad_lines="skip") does
                records = []
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue
                frame = pd.DataFrame.from_records(records)
                for column in frame.columns:
                    if frame[column].map(lambda v: isinstance(v, (dict, list))).any():
                        frame[column] = frame[column].astype(str)
            frame.to_sql(
                contract.key,
                engine,
                schema="bench_pandas",
                if_exists="append",
                index=False,
                method="multi",
                chunksize=1000,
            )
            rows += len(frame)
    engine.dispose()
    return rows


def _copy_load(info: warehouse.ConnectionInfo, landing: Path) -> int:
    """Every landing file COPYed as it is into a scratch table, one stream: CSV files into text columns
    named by the header, JSON-lines files one line per row into one text column."""
    rows = 0
    with warehouse.connect(info, autocommit=True) as conn:
        conn.execute("drop schema if exists bench_copy cascade")
        conn.execute("create schema bench_copy")
        for contract in contracts.all_contracts():
            paths = loaders.landing_files(contract, landing)
            if not paths:
                continue
            table = f"bench_copy.{contract.key}"
            if contract.file_format == "csv":
                with Path(paths[0]).open(encoding="utf-8") as f:
                    header = f.readline().lstrip("\ufeff").strip().split(",")
                columns = ", ".join('"' + c.replace('"', '""') + '" text' for c in header)
                conn.execute(f"create table {table} ({columns})")
                command = f"copy {table} from stdin (format csv, header true)"
            else:  # quote and delimiter bytes that never occur: each line is one value, taken as it is
                conn.execute(f"create table {table} (line text)")
                command = f"copy {table} from stdin (format csv, quote e'\\x01', delimiter e'\\x02')"
            for path in paths:
                with conn.cursor() as cur:
                    with cur.copy(command) as copy, Path(path).open("rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
                    rows += cur.rowcount
    return rows


def scratch_settings(db: warehouse.ConnectionInfo, landing: Path, workdir: Path) -> settings.Settings:
    """The environment's settings pointed at a scratch database, landing folder and working folder (a benchmark's
    own pipeline runs, which must not touch the project's warehouse, reports or state)."""
    return settings.Settings.load().model_copy(
        update={
            "database_url": db.conninfo(),
            "libpq": {},
            "landing_dir": landing,
            "reports_dir": workdir / "reports",
            "state_dir": workdir / "state",
        }
    )


def _refresh_cycles(info: warehouse.ConnectionInfo, landing: Path, workdir: Path) -> tuple[float, float, float]:
    """Wall seconds of a full cycle, a no-op cycle and a one-new-file cycle, on a scratch database."""
    from orchestration import refresh, selective
    from orchestration.dbt_project import ensure_manifest

    manifest = selective.load_manifest(ensure_manifest())
    db = warehouse.create_scratch_database(info, "bench_refresh")
    config = scratch_settings(db, landing, workdir)
    quiet = lambda line: None  # noqa: E731 - the bench prints only its numbers
    try:
        with settings.running(config):
            seconds = []
            for label in ("full", "noop", "onefile"):
                if label == "onefile":
                    _late_file(landing)
                cycle = refresh.run_cycle(config, quiet)
                if cycle.pipeline is not None and not cycle.pipeline.success:
                    raise SystemExit(f"the {label} refresh cycle failed: {cycle.pipeline.failed_steps[:1]}")
                seconds.append(cycle.seconds)
                rebuilt = ""
                if cycle.plan is not None:
                    rebuilt = "; everything: " + cycle.plan.why
                    if cycle.plan.selection is not None:
                        rebuilt = "; " + cycle.plan.selection.describe(len(selective.built_nodes(manifest)))
                print(f"refresh cycle {label}: {cycle.seconds:.1f}s ({cycle.reason}{rebuilt})", flush=True)
    finally:
        warehouse.drop_database(db)
    return seconds[0], seconds[1], seconds[2]


def _late_file(landing: Path) -> None:
    """One new file for an old day: the first bot-lead file again under another name, its keys renamed."""
    contract = contracts.get("bot_leads", "leads")
    first = loaders.landing_files(contract, landing)[0]
    lines = first.read_text(encoding="utf-8").splitlines()
    renamed = [lines[0], *(("late-" + line) for line in lines[1:] if line.strip())]
    (first.parent / f"late_{first.name}").write_text("\n".join(renamed) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volume", type=float, default=1.0, help="generator volume (default 1.0, about 1.26M rows)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--skip-pandas", action="store_true", help="leave out pandas.to_sql")
    parser.add_argument(
        "--refresh", action="store_true", help="also time a full, a no-op and a one-new-file refresh cycle (minutes)"
    )
    parser.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help=f"tables loaded at once (default: the load_parallelism setting, {settings.ENV_LOAD_PARALLELISM})",
    )
    args = parser.parse_args(argv)

    from orchestration.ingestion.generator import GeneratorConfig, generate

    if args.parallelism is None:
        args.parallelism = settings.current().load_parallelism
    info = warehouse.ensure_running()
    workdir = Path(tempfile.mkdtemp(prefix="lead-analytics-bench-"))
    bench_db = warehouse.create_scratch_database(info, "bench")
    try:
        # No malformed rows: pandas.to_sql has no way to reject a bad row, only to fail the whole load.
        cfg = GeneratorConfig(
            seed=7, months=args.months, volume=args.volume, malformed_share=0.0, end_date=date(2026, 11, 23)
        )
        t0 = time.perf_counter()
        gen = generate(workdir, cfg, timezone=settings.Settings.load().timezone)
        gen_seconds = time.perf_counter() - t0
        gen_rows = sum(gen.rows_by_table.values())
        print(
            f"generated {gen_rows:,} rows in {len(gen.files)} files: {gen_seconds:.2f}s, "
            f"{gen_rows / gen_seconds:,.0f} rows/s",
            flush=True,
        )

        with warehouse.connect(bench_db) as conn:
            loaders.ensure_schemas(conn)
        all_contracts = list(contracts.all_contracts())
        t0 = time.perf_counter()
        results = loaders.load_tables(bench_db, all_contracts, workdir, args.parallelism)
        ours = time.perf_counter() - t0
        loaded = sum(r.total("rows_in_file") for r in results)
        ours_rate = loaded / ours
        print(
            f"our loader (validate + COPY + upsert, {args.parallelism} tables at a time): {loaded:,} rows in "
            f"{ours:.2f}s, {ours_rate:,.0f} rows/s",
            flush=True,
        )

        t0 = time.perf_counter()
        copied = _copy_load(bench_db, workdir)
        copy_seconds = time.perf_counter() - t0
        copy_rate = copied / copy_seconds
        print(
            f"PostgreSQL COPY alone (one stream, text columns): {copied:,} rows in {copy_seconds:.2f}s, "
            f"{copy_rate:,.0f} rows/s",
            flush=True,
        )
        print(f"ratio: our loader is {ours_rate / copy_rate:.2f}x COPY alone", flush=True)

        if not args.skip_pandas:
            t0 = time.perf_counter()
            pandas_rows = _pandas_load(bench_db, workdir)
            theirs = time.perf_counter() - t0
            print(
                f"pandas.to_sql(method='multi'): {pandas_rows:,} rows in {theirs:.2f}s, "
                f"{pandas_rows / theirs:,.0f} rows/s",
                flush=True,
            )
            print(
                f"ratio: our loader is {(loaded / ours) / (pandas_rows / theirs):.1f}x pandas.to_sql "
                f"(pandas neither validates, rejects nor upserts)"
            )
        print(f"load ours={ours_rate:.0f} copy={copy_rate:.0f}", flush=True)
        if args.refresh:
            full, noop, onefile = _refresh_cycles(info, workdir, Path(tempfile.mkdtemp(prefix="lead-analytics-cycle-")))
            print(f"refresh full={full:.1f} noop={noop:.1f} onefile={onefile:.1f}", flush=True)
    finally:
        warehouse.drop_database(bench_db)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
