"""`make bench-scale`: the same measurements at the demo volume and at ten times it, side by side.

For each volume (`--volume`, default 1.0, and `--factor` times it, default 10) it generates a landing set,
then in a database of its own measures:

* load: every raw table with our loader (`load_parallelism` tables at a time);
* build: the first refresh cycle (dbt build, checks, publish, pages; the files are already loaded);
* cycles: a no-op cycle, and one with one new file;
* every card alone: each placed card of each dashboard run by itself `--repeat` times on a warm connection
  (p50/p95/max ms), each option of a metric selector on its own row;
* 20 clients: `--clients` threads, each on its own connection opening every dashboard once (its as-of moment,
  filter defaults and every card's query at the dashboard's selector choice, as a BI tool runs them), p50/p95
  per dashboard.

`--factor 1` measures the one volume alone.

Numbers are only worth comparing on a quiet machine (nothing else running): the script prints the load
average it started with. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from orchestration import settings, warehouse
from orchestration.bench import _late_file, scratch_settings
from orchestration.ingestion import contracts, loaders


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Scale:
    volume: float
    rows: int = 0
    load_s: float = 0.0
    build_s: float = 0.0
    noop_s: float = 0.0
    onefile_s: float = 0.0
    cards: dict[str, list[float]] = field(default_factory=dict)  # "dashboard/card" -> ms per run
    opens: dict[str, list[float]] = field(default_factory=dict)  # dashboard -> ms per open


def _cards_alone(info, scale: Scale, repeat: int) -> None:
    """Each placed card run by itself `repeat` times on one warm read-only connection (as a BI tool's pool holds
    them), after one untimed run, with the dashboard's default filters: the card's own query and nothing else.
    A card with a metric selector is one query per option, each timed on its own ("card [option]"): a reader
    sees one option at a time, and the sum of five queries is no card's time."""
    from orchestration.bi import compiler, run

    compiled = compiler.compile_specs()
    with run.read_only(info) as conn:
        for key, dashboard in sorted(compiled.dashboards.items()):
            today = run.as_of_date(run.read_as_of(conn, dashboard))
            filters = run.validate_filters(conn, dashboard, compiled.cards, None, today)
            for placement in run.reading_order(dashboard):
                if not placement.card:
                    continue
                card = compiled.cards[placement.card]
                for attempt in range(repeat + 1):
                    for result in run.run_card(conn, dashboard, placement, card, filters, today):
                        option = f" [{result.option}]" if result.option else ""
                        times = scale.cards.setdefault(f"{key}/{placement.card}{option}", [])
                        if attempt:
                            times.append(result.query_ms)


def _clients(info, scale: Scale, clients: int) -> None:
    """`clients` readers at once, each on a connection of its own, opening every dashboard in turn as a BI tool
    opens it: its as-of moment, its filters' defaults, every placed card's query once (a metric selector at the
    option the dashboard's filter chooses) and its windows' dates (`run.run_dashboard_on`; the HTML pages, which
    carry every option, are written once per cycle, not per reader). The readers are threads of this one
    process: the queries run concurrently in the warehouse; the Python around them shares one interpreter."""
    from orchestration.bi import compiler, run

    compiled = compiler.compile_specs()

    def client(_: int) -> list[tuple[str, float]]:
        out = []
        with run.read_only(info) as conn:
            for key, dashboard in sorted(compiled.dashboards.items()):
                started = time.perf_counter()
                run.run_dashboard_on(conn, compiled.cards, dashboard, every_option=False)
                out.append((key, (time.perf_counter() - started) * 1000))
        return out

    with ThreadPoolExecutor(max_workers=clients) as pool:
        for opened in pool.map(client, range(clients)):
            for key, ms in opened:
                scale.opens.setdefault(key, []).append(ms)


def measure(info, volume: float, months: int, repeat: int, clients: int, onefile: bool = True) -> Scale:
    from orchestration import refresh
    from orchestration.ingestion.generator import GeneratorConfig, generate

    scale = Scale(volume)
    workdir = Path(tempfile.mkdtemp(prefix="lead-analytics-scale-"))
    landing = workdir / "landing"
    db = warehouse.create_scratch_database(info, "bench_scale")
    config = scratch_settings(db, landing, workdir)
    try:
        generate(
            landing,
            GeneratorConfig(seed=7, months=months, volume=volume, malformed_share=0.0, end_date=date(2026, 11, 23)),
            timezone=config.timezone,
        )
        with settings.running(config):
            with warehouse.connect(db) as conn:
                loaders.ensure_schemas(conn, landing)
            started = time.perf_counter()
            results = loaders.load_tables(db, list(contracts.all_contracts()), landing, config.load_parallelism)
            scale.load_s = time.perf_counter() - started
            scale.rows = sum(r.total("rows_in_file") for r in results)
            quiet = lambda line: None  # noqa: E731
            for attr in ("build_s", "noop_s", "onefile_s")[: 3 if onefile else 2]:
                if attr == "onefile_s":
                    _late_file(landing)
                cycle = refresh.run_cycle(config, quiet)
                if cycle.pipeline is not None and not cycle.pipeline.success:
                    raise SystemExit(f"volume {volume}: a refresh cycle failed: {cycle.pipeline.failed_steps[:1]}")
                setattr(scale, attr, cycle.seconds)
            print(
                f"volume {volume}: {scale.rows:,} rows; load {scale.load_s:.1f}s, build {scale.build_s:.1f}s, "
                f"no-op cycle {scale.noop_s:.1f}s, one-file cycle {scale.onefile_s:.1f}s",
                flush=True,
            )
            _cards_alone(db, scale, repeat)
            _clients(db, scale, clients)
    finally:
        warehouse.drop_database(db)
        shutil.rmtree(workdir, ignore_errors=True)
    return scale


def report(small: Scale, large: Scale) -> str:
    keys = sorted(set(small.cards) | set(large.cards))
    w = max([44, *(len(k) + 4 for k in keys)])  # the label column fits the longest "dashboard/card [option]"
    lines = [
        f"{'':<{w}}{'volume ' + str(small.volume):>22}{'volume ' + str(large.volume):>22}",
        f"{'raw rows':<{w}}{small.rows:>22,}{large.rows:>22,}",
    ]
    for label, attr in (
        ("load (s)", "load_s"),
        ("build: first cycle (s)", "build_s"),
        ("no-op cycle (s)", "noop_s"),
        ("one-new-file cycle (s)", "onefile_s"),
    ):
        lines.append(f"{label:<{w}}{getattr(small, attr):>22.1f}{getattr(large, attr):>22.1f}")
    lines.append("")
    lines.append("card alone, ms p50/p95/max")

    def trio(values: list[float] | None) -> str:
        return "-" if not values else f"{_pct(values, 0.5):.1f}/{_pct(values, 0.95):.1f}/{max(values):.1f}"

    lines.extend(f"  {key:<{w - 2}}{trio(small.cards.get(key)):>22}{trio(large.cards.get(key)):>22}" for key in keys)
    lines.append("")
    lines.append("dashboard open, concurrent clients, ms p50/p95")
    for key in sorted(set(small.opens) | set(large.opens)):
        a, b = small.opens.get(key, []), large.opens.get(key, [])
        lines.append(
            f"  {key:<{w - 2}}{f'{_pct(a, 0.5):.0f}/{_pct(a, 0.95):.0f}' if a else '-':>22}"
            f"{f'{_pct(b, 0.5):.0f}/{_pct(b, 0.95):.0f}' if b else '-':>22}"
        )
    worst = max((_pct(v, 0.95) for v in large.cards.values()), default=0.0)
    worst_open = max((_pct(v, 0.95) for v in large.opens.values()), default=0.0)
    cards_met = sum(_pct(v, 0.95) <= 50 for v in large.cards.values())
    opens_met = sum(_pct(v, 0.95) <= 2000 for v in large.opens.values())
    lines.append(
        f"at volume {large.volume}: slowest card p95 {worst:.1f} ms (target 50), slowest dashboard-open p95 "
        f"{worst_open:.0f} ms (target 2000); {cards_met} of {len(large.cards)} card queries and {opens_met} of "
        f"{len(large.opens)} dashboards within target"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make bench-scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volume", type=float, default=1.0, help="the base volume (default 1.0, the demo's)")
    parser.add_argument("--factor", type=float, default=10.0, help="the large volume is this times the base")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=20, help="runs of each card alone (default 20)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent dashboard readers (default 20)")
    parser.add_argument(
        "--skip-onefile",
        action="store_true",
        help="leave out the one-new-file cycle",
    )
    args = parser.parse_args(argv)
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} (numbers are comparable only on a quiet machine)", flush=True
    )
    info = warehouse.ensure_running()
    small = measure(info, args.volume, args.months, args.repeat, args.clients, not args.skip_onefile)
    large = small
    if args.factor != 1:
        large = measure(info, args.volume * args.factor, args.months, args.repeat, args.clients, not args.skip_onefile)
    print(report(small, large))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
