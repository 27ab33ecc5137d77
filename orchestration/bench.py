"""`make bench`: generation and load speed, measured side by side in one run.

Generates a synthetic landing set, loads it with our loader into a fresh database, then loads the
very same files with `pandas.read_csv/read_json` + `DataFrame.to_sql(method="multi")` into another
schema of that database, and prints rows/s for each and the ratio. Not part of the test suite.
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
            frame.to_sql(contract.key, engine, schema="bench_pandas", if_exists="append", index=False,
                         method="multi", chunksize=1000)
            rows += len(frame)
    engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=float, default=1.0, help="generator volume (default 1.0, about 1.26M rows)")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--skip-pandas", action="store_true", help="measure only our loader")
    args = parser.parse_args(argv)

    from orchestration.ingestion.generator import GeneratorConfig, generate

    info = warehouse.ensure_running()
    workdir = Path(tempfile.mkdtemp(prefix="lead-analytics-bench-"))
    bench_db = warehouse.create_scratch_database(info, "bench")
    try:
        # No malformed rows: pandas.to_sql has no way to reject a bad row, only to fail the whole load.
        cfg = GeneratorConfig(seed=7, months=args.months, volume=args.volume, malformed_share=0.0,
                              end_date=date(2026, 11, 23))
        t0 = time.perf_counter()
        gen = generate(workdir, cfg, timezone=settings.Settings.load().timezone)
        gen_seconds = time.perf_counter() - t0
        gen_rows = sum(gen.rows_by_table.values())
        print(f"generated {gen_rows:,} rows in {len(gen.files)} files: {gen_seconds:.2f}s, "
              f"{gen_rows / gen_seconds:,.0f} rows/s", flush=True)

        with warehouse.connect(bench_db) as conn:
            loaders.ensure_schemas(conn)
            t0 = time.perf_counter()
            loaded = 0
            by_format = {"csv": [0, 0.0], "jsonl": [0, 0.0]}
            for contract in contracts.all_contracts():
                t_table = time.perf_counter()
                result = loaders.load_table(conn, contract, workdir)
                n = result.total("rows_in_file")
                loaded += n
                by_format[contract.file_format][0] += n
                by_format[contract.file_format][1] += time.perf_counter() - t_table
            ours = time.perf_counter() - t0
        print(f"our loader (validate + COPY + upsert): {loaded:,} rows in {ours:.2f}s, {loaded / ours:,.0f} rows/s", flush=True)
        for fmt, (n, s) in by_format.items():
            print(f"  {fmt:<5} {n:>10,} rows {s:7.2f}s {n / max(s, 1e-9):>10,.0f} rows/s")

        if not args.skip_pandas:
            t0 = time.perf_counter()
            pandas_rows = _pandas_load(bench_db, workdir)
            theirs = time.perf_counter() - t0
            print(f"pandas.to_sql(method='multi'): {pandas_rows:,} rows in {theirs:.2f}s, "
                  f"{pandas_rows / theirs:,.0f} rows/s", flush=True)
            print(f"ratio: our loader is {(loaded / ours) / (pandas_rows / theirs):.1f}x pandas.to_sql "
                  f"(pandas neither validates, rejects nor upserts)")
    finally:
        warehouse.drop_database(bench_db)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
