"""`lead-analytics`: the project's one command line.

Heavy libraries (dbt, Dagster, Great Expectations) are imported only by the sub-commands that
need them, so `--help` and `warehouse status` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, date
from pathlib import Path

from orchestration import settings

EPILOG = """\
examples:
  lead-analytics demo                      generate 24 months of data, load, build, check, summarise
  lead-analytics warehouse status          where is the warehouse, is it running
  lead-analytics generate --volume 0.1     write a smaller synthetic landing set
  lead-analytics load                      load new landing files into the raw schemas
  lead-analytics run                       run the full Dagster job (load, dbt build, checks)
  lead-analytics refresh                   one refresh cycle: the job only if new data waits, else seconds
  lead-analytics report --timings          write reports/<dashboard>.html, print each card's query time
  lead-analytics dbt -- build -s staging   run dbt against the configured warehouse
  lead-analytics mf -- query --metrics leads --group-by metric_time__month   query a metric
  lead-analytics ui                        Dagster UI on http://127.0.0.1:3000
  lead-analytics send daily --dry-run      write the daily report's e-mails to reports/outbox
  lead-analytics alerts                    evaluate the alert rules, notify what started or stopped firing

configuration (environment):
  LEAD_ANALYTICS_DATABASE_URL  external PostgreSQL (13+), e.g. postgresql://user:pw@host:5432/db;
                               or the standard PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE.
                               Unset: an embedded PostgreSQL 18 under .warehouse/ (started on demand).
  LEAD_ANALYTICS_LANDING_DIR   landing directory (default: data/landing)
  LEAD_ANALYTICS_HOME          state directory for the embedded warehouse and Dagster (default: .warehouse)
  LEAD_ANALYTICS_LOAD_PARALLELISM  raw tables loaded at once, one connection each (default: 2)
  LEAD_ANALYTICS_TIMEZONE      reporting time zone, an IANA name (default: America/Chicago)
  LEAD_ANALYTICS_AS_OF         pin "now" for today/this week/this month, an ISO timestamp with a time zone,
                               e.g. 2025-03-31T17:00:00Z or 2025-03-31T12:00:00-05:00 (default: the build time)
  LEAD_ANALYTICS_SMTP_HOST/_PORT/_USER/_PASSWORD/_FROM/_STARTTLS   SMTP server for reports and alerts
                               (unset: delivery skipped); LEAD_ANALYTICS_REPORT_WEBHOOK_URL a JSON webhook
  A command's --landing, --timezone and --as-of options override these for that command.
"""


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- warehouse


def cmd_warehouse(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import warehouse

    if args.action == "start":
        info = warehouse.ensure_running()
        print(f"warehouse ready: {info.describe()}")
    elif args.action == "stop":
        print(warehouse.stop())
    elif args.action == "status":
        text, reachable = warehouse.status()
        print(text)
        return 0 if reachable else 1
    elif args.action == "env":
        info = warehouse.ensure_running()
        for key, value in info.dbt_env().items():
            print(f"export {key}={_shell_quote(value)}")
        print(f"export {settings.ENV_TIMEZONE}={_shell_quote(config.timezone)}")
    elif args.action == "url":
        print(warehouse.ensure_running().conninfo())
    return 0


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


# ----------------------------------------------------------------------------- generate / load


def _existing_landing(config: settings.Settings, hint: str = "run `lead-analytics generate` first") -> Path:
    """The landing directory to load from; UserError when it does not exist (nothing would be loaded)."""
    path = config.landing_dir
    if not path.is_dir():
        raise UserError(f"landing directory {path} does not exist ({hint})")
    return path


def _say_if_mixed(conn, landing: Path) -> None:
    """One note when this warehouse already holds files loaded from another landing directory."""
    from orchestration.ingestion import loaders

    others = loaders.other_landing_roots(conn, landing)
    if others:
        listed = ", ".join(f"{root} ({n:,} {'file' if n == 1 else 'files'})" for root, n in others)
        _say(
            f"note: this warehouse also holds data loaded from {listed}; files from {landing} are mixed in with it "
            "(use another LEAD_ANALYTICS_HOME or LEAD_ANALYTICS_DATABASE_URL to keep them apart)"
        )


def _generator_config(args: argparse.Namespace):
    from orchestration.ingestion.generator import GeneratorConfig

    end = date.fromisoformat(args.end_date) if args.end_date else None
    return GeneratorConfig(
        seed=args.seed,
        months=args.months,
        organizations=args.organizations,
        volume=args.volume,
        malformed_share=args.malformed_share,
        end_date=end,
    )


def _generate(landing: Path, args: argparse.Namespace, timezone: str, force: bool) -> None:
    from dataclasses import asdict

    from orchestration.ingestion.generator import generate

    cfg = _generator_config(args)
    wanted = {k: (str(v) if isinstance(v, date) else v) for k, v in asdict(cfg).items()}
    manifest = landing / "_manifest.json"
    if not force and manifest.exists() and wanted.get("end_date") is not None:
        try:
            previous_manifest = json.loads(manifest.read_text())
        except ValueError:
            previous_manifest = {}
        previous = previous_manifest.get("config", {})
        # The time zone shapes the data too (weekday and working-hour peaks are local).
        if (
            all(previous.get(k) == v for k, v in wanted.items())
            and previous_manifest.get("reporting_timezone") == timezone
        ):
            _say(f"landing files in {landing} already match this configuration; not regenerating")
            return
    landing.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    current = {"table": "", "rows": 0, "files": 0}

    def flush() -> None:
        if current["table"]:
            _say(
                f"  generated {current['table']:<40} {current['rows']:>10,} rows in {current['files']:>3} files  "
                f"[{time.perf_counter() - started:5.1f}s]"
            )

    def progress(table: str, rows: int) -> None:  # called once per file, tables in turn
        if table != current["table"]:
            flush()
            current.update(table=table, rows=0, files=0)
        current["rows"] += rows
        current["files"] += 1

    _say(
        f"generating synthetic data into {landing} ({cfg.months} months, {cfg.organizations} organizations, "
        f"volume {cfg.volume}, seed {cfg.seed})"
    )
    result = generate(landing, cfg, timezone=timezone, progress=progress)
    flush()
    seconds = time.perf_counter() - started
    total = sum(result.rows_by_table.values())
    _say(
        f"generated {total:,} rows in {len(result.files)} files, {len(result.malformed)} deliberately malformed, "
        f"in {seconds:.1f}s ({total / max(seconds, 1e-9):,.0f} rows/s)"
    )


def cmd_generate(args: argparse.Namespace, config: settings.Settings) -> int:
    if args.end_date is None:
        args.end_date = config.today().isoformat()
    _generate(config.landing_dir, args, config.timezone, force=True)
    return 0


def cmd_load(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import warehouse
    from orchestration.ingestion import contracts, loaders
    from orchestration.ingestion import landing as landing_dirs

    landing = _existing_landing(config)
    selected = [c for c in contracts.all_contracts() if not args.table or c.key in args.table]
    unknown = set(args.table or []) - {c.key for c in contracts.all_contracts()}
    if unknown:
        raise UserError(f"unknown table(s) {', '.join(sorted(unknown))}; tables look like bison__email_events")
    info = warehouse.ensure_running()
    started = time.perf_counter()
    rows = rejected = 0
    errors: list[str] = []
    ignored = [] if args.table else landing_dirs.unclaimed(list(contracts.all_contracts()), landing)
    with warehouse.connect(info) as conn:
        loaders.ensure_schemas(conn, landing)
        _say_if_mixed(conn, landing)
    for contract, result in zip(
        selected, loaders.load_tables(info, selected, landing, config.load_parallelism), strict=False
    ):
        rows += result.total("rows_in_file")
        rejected += result.total("rejected")
        errors += result.errors
        ignored += result.ignored
        failed = (
            f", {result.failed_files} FAILED"
            if result.failed_files
            else ", FAILED (folder unreadable)"
            if result.errors
            else ""
        )
        _say(
            f"  {contract.key:<40} {result.loaded_files:>3} files loaded, {result.skipped_files:>3} skipped{failed}, "
            f"{result.total('inserted'):>9,} inserted, {result.total('updated'):>7,} updated, "
            f"{result.total('rejected'):>5,} rejected"
        )
    seconds = time.perf_counter() - started
    _say(f"loaded {rows:,} rows ({rejected:,} rejected) in {seconds:.1f}s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    for entry in ignored:
        _say(f"not loaded: {entry.path}: {entry.reason}")
    for err in errors:
        _say(f"failed: {err}")
    if errors:
        _say(f"{len(errors)} file(s) failed to load (the other files loaded); fix or remove them and load again")
    return 1 if errors else 0


# ----------------------------------------------------------------------------- run / demo


def cmd_run(args: argparse.Namespace, config: settings.Settings) -> int:
    return _run_pipeline(config, _existing_landing(config), time.perf_counter())


def cmd_refresh(args: argparse.Namespace, config: settings.Settings) -> int:
    """One refresh cycle: the full job when new data waits, else nothing (seconds)."""
    from orchestration import refresh

    started = time.perf_counter()
    landing = _existing_landing(config)
    info = _warehouse_for(landing)
    since = time.time()
    with _one_run(info):
        cycle = refresh.run_cycle(config, _say)
    if not cycle.built:
        _say(f"wall time: {time.perf_counter() - started:.1f}s")
        return 0
    _print_outcome(config, info, cycle.pipeline, started, since)
    return 0 if cycle.pipeline.success else 1


def _dashboard_pages(reports_dir: Path) -> list[Path]:
    """The unfiltered page of every dashboard of the specs that is in `reports_dir` (named as the report writes it;
    filtered pages and pages of dashboards no longer in the specs are left out)."""
    from orchestration.bi import compiler, run, specs

    dashboards = sorted((compiler.SPECS_DIR / "dashboards").glob("*.yml"))
    pages = (reports_dir / run.report_filename(specs.load_dashboard(path), {}) for path in dashboards)
    return [page for page in pages if page.exists()]


@contextlib.contextmanager
def _one_run(info) -> Iterator[None]:
    """This warehouse's run lock for the block (one run, demo or refresh at a time; a killed publish's leftovers
    are dropped first); another run holding it is one line."""
    from orchestration import publishing

    try:
        with publishing.run_lock(info):
            yield
    except publishing.RunningElsewhere as exc:
        raise UserError(str(exc)) from None


def _warehouse_for(landing: Path):
    """The warehouse, started if need be, said where it is and whether it already holds another landing folder."""
    from orchestration import warehouse

    info = warehouse.ensure_running()
    _say(f"warehouse: {info.describe()}")
    with warehouse.connect(info) as conn:
        _say_if_mixed(conn, landing)
    return info


def _run_pipeline(
    config: settings.Settings, landing: Path, started: float, info=None, only_what_changed: bool = False
) -> int:
    """The full Dagster job, then its outcome; exit code 0 only when every step and blocking check passed.
    `only_what_changed` (the demo): a refresh cycle instead (refresh.run_cycle): nothing when the landing folder
    holds nothing the published marts lack, else only what new data (and the clock) reach."""
    from orchestration import pipeline, refresh
    from orchestration.dbt_project import dbt_env, ensure_manifest

    info = info or _warehouse_for(landing)
    since = time.time()
    with _one_run(info):
        # Parsed for this warehouse's profile before the definitions load: they and the dbt step then reuse it,
        # instead of a parse for no warehouse at load and a second, full one for this warehouse in the step.
        ensure_manifest(env=dbt_env(info, config), progress=_say)
        if only_what_changed:
            result = refresh.run_cycle(config, _say).pipeline  # None: nothing new, nothing run
        else:
            result = pipeline.run_full_pipeline(config, _say)
    _print_outcome(config, info, result, started, since)
    return 0 if result is None or result.success else 1


def _print_outcome(config: settings.Settings, info, result, started: float, since: float) -> None:
    """The run's summary. `since` (epoch seconds): when the pipeline started; only files written after it are
    listed (reports/ also holds filtered pages written by `lead-analytics report`, and earlier runs' pages).
    `result` None: nothing was new, so nothing ran; the pages written by the run that published are listed."""
    from orchestration import access, pipeline

    # A failed run prints no KPIs and no file it did not write: they would be an earlier run's, shown as fresh.
    if result is None:
        reports = _dashboard_pages(config.reports_dir)
        heading = "HTML dashboard{s}, unchanged since the published build (open in any browser):"
    elif result.success:
        reports = sorted(p for p in config.reports_dir.glob("*.html") if p.stat().st_mtime >= since)
        heading = "HTML dashboard{s} (open in any browser):"
    else:
        reports = pipeline.refresh_dashboards_after_hold_back(info)
        heading = "HTML dashboard{s} rewritten from the published marts, saying what held new data back:"
    # The marts' numbers as a dashboard user reads them (reporting_reader); the ledger's facts as the owner (D185).
    try:
        # A run that published (or found nothing new) reads as the reader the publish granted: applying the grants and
        # row policies again, seconds after the publish, is what met autovacuum in a deadlock (D193). After a failed
        # run they are made sure of (marts of an older release, or built by `lead-analytics dbt -- build`).
        published = result is None or result.success
        reader = access.reader_info(info) if published else access.reader_for(info, arrivals=False)
    except access.AccessError as exc:
        print(f"marts not counted: {exc}")
        reader = None
    print(pipeline.format_summary(pipeline.summarise(info, reader), result, time.perf_counter() - started))
    succeeded = result is None or result.success
    if succeeded and reader is not None:
        print(pipeline.format_minimal_dashboard(reader))
    elif succeeded:
        print("\nno KPIs shown: the reporting_reader role could not be set up (the line above says why)")
    else:
        print(
            f"\nrun failed: no KPIs shown{'' if reports else ' and no HTML dashboard written'}; "
            "fix the cause above and run again"
        )
    if reports:
        print("\n" + heading.format(s="s" if len(reports) > 1 else ""))
        print("\n".join(f"  {path}" for path in reports))


def _parse_beside(info, config: settings.Settings) -> Future:
    """`dbt parse` for this warehouse's profile while the data is generated: it reads the project, not the data, and
    it runs in dbt's own process, on the core the generator leaves free (D196). `_run_pipeline` then finds it done.
    The future's `result()` raises a failed parse in the caller's thread."""
    from orchestration.dbt_project import dbt_env, ensure_manifest, is_fresh

    env = dbt_env(info, config)
    if not is_fresh(env=env):
        _say("parsing the dbt project beside the data generation (dbt parse: 10-20 s)")
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbt-parse")
    parse = pool.submit(ensure_manifest, env=env)
    pool.shutdown(wait=False)  # the thread ends with the parse
    return parse


def _import_pipeline_libraries() -> None:
    """The imports the pipeline pays for anyway (Dagster, dagster-dbt, Great Expectations: 10-15 s of CPU), made
    while `dbt parse` finishes on the other core instead of after it. In this thread: no import runs concurrently."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # as orchestration.defs.checks has it
    import dagster  # noqa: F401
    import dagster_dbt  # noqa: F401
    import great_expectations  # noqa: F401


def cmd_demo(args: argparse.Namespace, config: settings.Settings) -> int:
    started = time.perf_counter()
    # The default landing directory is created by the generator; a --landing that does not exist is a typo.
    landing = (
        _existing_landing(config, "create it, or leave out --landing for data/landing")
        if args.landing
        else config.landing_dir
    )
    if args.end_date is None:
        args.end_date = config.today().isoformat()
    info = _warehouse_for(landing)
    parse = _parse_beside(info, config)
    try:
        _generate(landing, args, config.timezone, force=False)
        if not parse.done():
            _import_pipeline_libraries()
    finally:
        wait([parse])  # a failed generation leaves no dbt parse running behind it
    parse.result()  # a failed parse is raised here, where the one-line error handling is
    if config.smtp is None:
        _say(
            f"report delivery off: {settings.ENV_SMTP['host']} is not set (`lead-analytics send daily --dry-run` "
            "writes the e-mails to files)"
        )
    return _run_pipeline(config, landing, started, info, only_what_changed=True)


# ----------------------------------------------------------------------------- report


def _report(args: argparse.Namespace, config: settings.Settings) -> int:
    """`report` reads the settings in force (`settings.running`), as the rest of orchestration/bi does."""
    return cmd_report(args)


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration import warehouse
    from orchestration.bi import html_report, run
    from orchestration.bi.specs import SpecError

    try:
        filters = run.parse_filter_args(args.filter or [])
    except run.FilterError as exc:
        raise UserError(str(exc)) from None
    from orchestration import access

    # read as reporting_reader: a page shows only what the role Metabase uses may read, and the log says who
    info = access.reader_for(warehouse.ensure_running())
    out_dir = Path(args.out).resolve() if args.out else settings.reports_dir()
    try:
        written = html_report.write_reports(
            info, settings.PROJECT_ROOT / "metabase", out_dir, filters, keys=args.dashboard, timings=args.timings
        )
    except (run.FilterError, SpecError) as exc:
        raise UserError(str(exc)) from None
    except run.ReportError as exc:
        print(f"lead-analytics: error: no report written: {exc}", file=sys.stderr)
        return 1
    for path, report in written:
        print(f"{path}  (as of {report.as_of_text})")
        if args.timings:
            print("\n".join(f"  {line}" for line in report.summary_lines()))
    return 0


REPORT_EPILOG = """\
filter values (--filter SLUG=VALUE, repeatable; the slugs are the dashboard's filters):
  dates    2025-03-01~2025-03-31 (a range), 2025-03-01~ or ~2025-03-31 (open), 2025-03-01 (a day),
           2025-03 (a month), Q1-2025 (a quarter), thismonth / thisweek / thisyear, past30days,
           past3months~ (with the current month); relative values count from the dashboard's as-of date
  text     Website, or several: source=Website,Ads (or --filter source=Website --filter source=Ads);
           matched against the values in the data, ignoring case
  a bad value, or a filter the dashboard does not have, stops with a message listing what it takes

examples:
  lead-analytics report                                    reports/<dashboard>.html for every dashboard
  lead-analytics report --filter created=2025-03-01~2025-03-31 --filter source=Website
                                                           reports/lead_capture--created-...--source-website.html
  lead-analytics report --dashboard lead_capture --timings also print each card's query time
"""


# ----------------------------------------------------------------------------- send / alerts


def _as_of_now(config: settings.Settings):
    from datetime import datetime

    return config.as_of or datetime.now(UTC)


def cmd_send(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import warehouse
    from orchestration.reporting import ledger, render, send, specs

    info = warehouse.ensure_running()
    as_of = _as_of_now(config)
    dry = Path(args.dry_run).resolve() if args.dry_run else None
    try:
        outcome = send.send(info, config, args.report, as_of, dry_run_dir=dry)
    except (specs.ReportSpecError, render.RenderError) as exc:
        raise UserError(str(exc)) from None
    for line in outcome.lines:
        _say(line)
    for path in outcome.written:
        print(path)
    summary = f"{outcome.sent} sent, {outcome.already} already sent, {outcome.failed} failed"
    with warehouse.connect(info) as conn:
        ledger.ensure(conn)
        ledger.log_command(
            conn,
            "send",
            {"report": args.report, "as_of": as_of, "dry_run": bool(dry)},
            "; ".join([summary, *outcome.lines]),
        )
    print(summary)
    return 0 if outcome.ok else 1


def cmd_alerts(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import warehouse
    from orchestration.reporting import alerts, ledger

    info = warehouse.ensure_running()
    as_of = _as_of_now(config)
    try:
        outcome = alerts.evaluate_and_notify(info, config, as_of)
    except alerts.AlertSpecError as exc:
        raise UserError(str(exc)) from None
    for line in outcome.lines:
        print(line)
    with warehouse.connect(info) as conn:
        ledger.log_command(conn, "alerts", {"as_of": as_of}, "; ".join(outcome.lines) or "no change")
    return 0


# ----------------------------------------------------------------------------- access


def _password(variable: str | None, name: str) -> str:
    """A login's password: from the environment variable `variable`, else asked for (never an argument)."""
    if variable:
        value = os.environ.get(variable, "")
        if not value:
            raise UserError(f"--password-env {variable}: that variable is not set or empty")
        return value
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password; pass --password-env VARIABLE")
    import getpass

    first = getpass.getpass(f"password for {name}: ")
    if first != getpass.getpass("again: "):
        raise UserError("the two passwords differ; nothing changed")
    return first


def cmd_access(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import access, warehouse

    info = warehouse.ensure_running()
    try:
        with warehouse.connect(info) as conn:
            if args.action == "list":
                access.apply(conn)
                for login in access.list_logins(conn):
                    print(login.line())
            elif args.action == "apply":
                policed = access.apply(conn)
                scoped = sum(1 for dims in policed.values() if dims)
                print(
                    f"granted the reporting roles on {len(policed)} mart(s); {scoped} filtered by "
                    "organisation, workspace, location or agent"
                )
            elif args.action == "add-client":
                scopes = [("organisation", v) for v in args.organisation] + [
                    ("workspace", v) for v in args.workspace or []
                ]
                login = access.add_login(
                    conn, access.checked_name(args.name), access.CLIENT, scopes, _password(args.password_env, args.name)
                )
                print(f"client login {login.line()}")
            elif args.action == "add-user":
                group = f"reporting_{args.group}"
                scopes = [("location", v) for v in args.location or []] + [("agent", v) for v in args.agent or []]
                login = access.add_login(
                    conn, access.checked_name(args.name), group, scopes, _password(args.password_env, args.name)
                )
                print(f"login {login.line()}")
            elif args.action == "remove-client":
                if not access.remove_login(conn, args.name):
                    raise UserError(f"no reporting login {args.name!r} (see `lead-analytics access list`)")
                print(f"removed login {args.name} and its scopes")
    except access.AccessError as exc:
        raise UserError(str(exc)) from None
    return 0


ACCESS_EPILOG = """\
examples:
  lead-analytics access list
  lead-analytics access add-client acme --organisation "Acme Motors" --workspace "Acme" --password-env ACME_PW
  lead-analytics access add-user ann --group agent --agent A17 --password-env ANN_PW
  lead-analytics access add-user chicago --group manager --location LOC-1
  lead-analytics access remove-client acme

A client login sees, in every mart, only the rows of its organisation (organization_id or organization_name)
and workspace (workspace_id or workspace_name), whatever SQL it runs: PostgreSQL row-level security, set up
again at every publication. A mart that carries neither shows it no rows.
"""


# ----------------------------------------------------------------------------- dbt / ui


def cmd_dbt(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import warehouse
    from orchestration.dbt_project import dbt_env, dbt_executable

    info = warehouse.ensure_running()
    dbt_args = [a for a in args.dbt_args if a != "--"]
    cmd = [
        dbt_executable(),
        *dbt_args,
        "--project-dir",
        str(settings.DBT_PROJECT_DIR),
        "--profiles-dir",
        str(settings.DBT_PROJECT_DIR),
    ]
    return subprocess.call(cmd, env=dbt_env(info, config), cwd=settings.DBT_PROJECT_DIR)


def cmd_mf(args: argparse.Namespace, config: settings.Settings) -> int:
    """MetricFlow's own CLI on the published marts. `mf` reads `<project>/target/semantic_manifest.json`, and the
    project's target/ holds the write-audit-publish parse (relations in `marts__build`), so `mf` gets a project
    view of its own under target/mf: links to the project's files, and a parse for the published schemas."""
    from orchestration import warehouse
    from orchestration.dbt_project import PROJECT_FILES, PROJECT_FOLDERS, dbt_env, ensure_manifest

    info = warehouse.ensure_running()
    view = settings.DBT_PROJECT_DIR / "target" / "mf"
    view.mkdir(parents=True, exist_ok=True)
    for name in {*PROJECT_FILES, *(folder.split("/")[0] for folder in PROJECT_FOLDERS)}:
        link, real = view / name, settings.DBT_PROJECT_DIR / name
        if link.is_symlink() and link.resolve() != real.resolve():
            link.unlink()  # the project moved
        if link.exists() and not link.is_symlink():
            raise UserError(f"{link} should be a link to {real}; remove it and run again")
        if real.exists() and not link.is_symlink():
            link.symlink_to(real)
    env = dbt_env(info, config)
    ensure_manifest(view / "target", build=False, env=env)
    env.update(DBT_PROJECT_DIR=str(view), DBT_PROFILES_DIR=str(view))
    mf = Path(sys.executable).parent / "mf"
    if not mf.exists():
        raise UserError(f"{mf} is missing: run `make setup` (dbt-metricflow is in requirements.lock)")
    mf_args = args.mf_args[1:] if args.mf_args[:1] == ["--"] else args.mf_args
    return subprocess.call([str(mf), *mf_args], env=env, cwd=view)


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cmd_ui(args: argparse.Namespace, config: settings.Settings) -> int:
    from orchestration import pipeline, warehouse

    if not _port_is_free(args.port):
        raise UserError(
            f"port {args.port} on 127.0.0.1 is already in use (another `lead-analytics ui`?); "
            f"stop it or pick another with --port"
        )
    info = warehouse.ensure_running()
    # `dagster dev` and the code servers it starts load orchestration.definitions from these settings.
    env = config.child_env() | {"DAGSTER_HOME": pipeline.dagster_home(config)}
    from orchestration.dbt_project import ensure_manifest

    ensure_manifest()
    dagster = Path(sys.executable).parent / "dagster"
    _say(f"warehouse: {info.describe()}")
    _say(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    return _run_until_stopped(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(args.port), "-m", "orchestration.definitions"],
        env=env,
        cwd=settings.PROJECT_ROOT,
    )


def _run_until_stopped(cmd: list[str], **kwargs) -> int:
    """Run a server with its children in their own process group; on Ctrl-C or SIGTERM stop the whole
    group (interrupt, then terminate, then kill), so no webserver or code server is left behind.

    `dagster dev` started from a non-interactive shell inherits an ignored SIGINT and would not stop,
    hence the explicit default handler in the child and the signal forwarding here.
    """
    import signal

    proc = subprocess.Popen(
        cmd, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs
    )

    def stop(signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _say("stopping the Dagster UI ...")
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the server left in its group
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text})")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 up to (not including) 1 (got {text})")
    return value


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-03-31") from None


def _shared_options() -> dict[str, argparse.ArgumentParser]:
    """The options several commands take, each declared once with its help (argparse `parents`)."""

    def group(name: str) -> argparse.ArgumentParser:
        parent = argparse.ArgumentParser(add_help=False)
        parents[name] = parent
        return parent

    parents: dict[str, argparse.ArgumentParser] = {}
    group("landing").add_argument(
        "--landing", metavar="DIR", help=f"landing directory (default: {settings.ENV_LANDING} or data/landing)"
    )
    group("timezone").add_argument(
        "--timezone",
        metavar="ZONE",
        help=f"reporting time zone, an IANA name such as Europe/Amsterdam (default: "
        f"{settings.ENV_TIMEZONE} or {settings.default_timezone()})",
    )
    group("as_of").add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help=f'pin "now" for today/this week/this month, an ISO timestamp with a '
        f"time zone such as {settings.AS_OF_FORMATS[0]} (default: "
        f"{settings.ENV_AS_OF} or the build time)",
    )
    p = group("generator")
    p.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives identical files (default 42)")
    p.add_argument("--months", type=_positive_int, default=24, help="months of history, 1 or more (default 24)")
    p.add_argument(
        "--organizations",
        type=_positive_int,
        default=10,
        help="client organizations/workspaces, 1 or more (default 10)",
    )
    p.add_argument(
        "--volume",
        type=_positive_float,
        default=1.0,
        help="event volume multiplier, more than 0 (default 1.0 ≈ 1M+ rows)",
    )
    p.add_argument(
        "--malformed-share",
        type=_share,
        default=0.002,
        help="share of deliberately malformed rows per file, 0 to <1 (default 0.002; 0 disables)",
    )
    p.add_argument("--end-date", type=_iso_date, help="last day of generated data, YYYY-MM-DD (default today)")
    return parents


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lead-analytics",
        description="Lead Analytics warehouse: synthetic vendor data, raw loads, dbt models, Dagster.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    shared = _shared_options()

    def command(name: str, *options: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[shared[o] for o in options], **kwargs)

    p = command(
        "warehouse",
        help="start, stop or inspect the warehouse",
        description="Manage the warehouse: the embedded PostgreSQL (default) or the external one "
        "configured by LEAD_ANALYTICS_DATABASE_URL / PGHOST.",
    )
    p.add_argument(
        "action",
        choices=["start", "stop", "status", "env", "url"],
        help="start | stop | status | env (shell exports for dbt) | url (libpq connection string)",
    )
    p.set_defaults(func=cmd_warehouse)

    p = command(
        "generate",
        "landing",
        "timezone",
        "generator",
        help="write synthetic vendor exports into the landing directory",
        description="Write deterministic synthetic exports for all five sources (CSV or JSON lines, as each "
        "vendor exports them), including a share of malformed rows. Weekday and working-hour "
        "peaks follow the reporting time zone.",
    )
    p.set_defaults(func=cmd_generate)

    p = command(
        "load",
        "landing",
        help="load new landing files into the raw schemas",
        description="Load every landing file not loaded before (idempotent), rejecting bad rows "
        "into raw_audit.rejected_rows.",
    )
    p.add_argument("--table", action="append", help="only this table, e.g. bison__email_events (repeatable)")
    p.set_defaults(func=cmd_load)

    p = command(
        "run",
        "landing",
        "timezone",
        "as_of",
        help="run the full Dagster job: load, dbt build, checks",
        description="Materialise every asset in this process and print a summary.",
    )
    p.set_defaults(func=cmd_run)

    p = command(
        "refresh",
        "landing",
        "timezone",
        "as_of",
        help="one refresh cycle: run the job only if data is new",
        description="Run the full Dagster job when a landing file is new or changed, or a loaded file is "
        "not yet in a published build; otherwise stop in seconds (what the 15-minute "
        "schedule does).",
    )
    p.set_defaults(func=cmd_refresh)

    p = command(
        "demo",
        "landing",
        "timezone",
        "as_of",
        "generator",
        help="the whole thing: warehouse, synthetic data, pipeline, summary",
        description="Start the warehouse, generate synthetic data (skipped when the landing files "
        "already match), run the pipeline as a refresh cycle and print a summary: everything the first "
        "time; again, nothing when no landing file is new or changed and the dbt project is as published, "
        "else only what new data and the moved as-of moment reach, or everything after a change to the dbt "
        "project or its settings (`lead-analytics run` rebuilds everything). Idempotent.",
    )
    p.set_defaults(func=cmd_demo)

    p = command(
        "report",
        help="write the dashboards as self-contained HTML files",
        description="Run every card of the dashboards in metabase/dashboards against the warehouse "
        "and write one self-contained HTML file per dashboard (default: reports/). "
        "A filtered report goes to its own file; a card that fails stops the report "
        "and nothing is written.",
        epilog=REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dashboard", action="append", help="only this dashboard key, e.g. lead_capture (repeatable)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="SLUG=VALUE",
        help="a dashboard filter value, e.g. --filter created=2025-03 --filter source=Website,Ads (formats below)",
    )
    p.add_argument("--out", help="output directory (default: LEAD_ANALYTICS_REPORTS_DIR or reports/)")
    p.add_argument(
        "--timings",
        action="store_true",
        help="print each card's row count and query time, and add a table of them to the page",
    )
    p.set_defaults(func=_report)

    p = command(
        "send",
        "timezone",
        "as_of",
        help="render and e-mail one scheduled report (metabase/reports)",
        description="Render the report for the period of its latest scheduled send at or before --as-of "
        "(default now) and e-mail it, with its pages as a PDF, to each recipient not yet sent "
        "that period (raw_audit.report_deliveries). Without LEAD_ANALYTICS_SMTP_HOST nothing "
        "is sent (said in one line).",
    )
    p.add_argument("report", help="daily | weekly | monthly, or a report key (a file stem in metabase/reports)")
    p.add_argument(
        "--dry-run",
        metavar="DIR",
        nargs="?",
        const="reports/outbox",
        help="write the e-mails (.eml, PDF attached) to DIR (default reports/outbox) instead of sending",
    )
    p.set_defaults(func=cmd_send)

    p = command(
        "alerts",
        "timezone",
        "as_of",
        help="evaluate the alert rules and notify changes",
        description="Evaluate every rule of metabase/alerts against the published marts; notify once when "
        "a rule starts firing and once when it resolves (raw_audit.alert_events).",
    )
    p.set_defaults(func=cmd_alerts)
    p = command(
        "access",
        help="who may read the marts: client and staff logins with row-level security",
        description="Manage the reporting logins. Roles and grants are set up at every publication; "
        "passwords come from --password-env or a prompt, never from the command line.",
        epilog=ACCESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    access_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    access_sub.add_parser("list", help="the reporting logins and their scopes")
    access_sub.add_parser("apply", help="grant the roles and row policies on the published marts now")
    q = access_sub.add_parser("add-client", help="a login that sees one client's rows only")
    q.add_argument("name", help="the login role's name (lower-case letters, digits, _)")
    q.add_argument(
        "--organisation",
        required=True,
        action="append",
        help="the client's organisation, its name or id (repeatable: a mart matches on any of them)",
    )
    q.add_argument(
        "--workspace", action="append", help="the client's workspace in the campaign data, its name or id (repeatable)"
    )
    q.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    q = access_sub.add_parser("add-user", help="a staff login: executive, manager (a location), agent, admin")
    q.add_argument("name", help="the login role's name (lower-case letters, digits, _)")
    q.add_argument("--group", required=True, choices=["executive", "manager", "agent", "admin"])
    q.add_argument("--location", action="append", help="a manager's location (id or name; repeatable)")
    q.add_argument("--agent", action="append", help="an agent's agent_id (repeatable)")
    q.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    q = access_sub.add_parser("remove-client", help="drop a login made by add-client or add-user")
    q.add_argument("name")
    p.set_defaults(func=cmd_access)

    p = command(
        "dbt",
        "timezone",
        "as_of",
        help="run dbt against the configured warehouse",
        description="Run dbt with the connection settings of the configured warehouse, "
        "e.g. `lead-analytics dbt -- build --select staging`.",
    )
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments passed to dbt")
    p.set_defaults(func=cmd_dbt)

    p = command(
        "mf",
        "timezone",
        "as_of",
        help="query the semantic layer's metrics with MetricFlow",
        description="Run MetricFlow's `mf` on the published marts, e.g. `lead-analytics mf -- query "
        "--metrics leads --group-by metric_time__month` or `lead-analytics mf -- list "
        "metrics`; add --explain to see the SQL.",
    )
    p.add_argument("mf_args", nargs=argparse.REMAINDER, help="arguments passed to mf")
    p.set_defaults(func=cmd_mf)

    p = command(
        "ui",
        "landing",
        "timezone",
        "as_of",
        help="serve the Dagster UI on 127.0.0.1",
        description="Start `dagster dev` on 127.0.0.1 with the project's definitions; Ctrl-C stops "
        "it and every process it started. Refuses a port that is already taken.",
    )
    p.add_argument("--port", type=_positive_int, default=3000, help="TCP port on 127.0.0.1 (default 3000)")
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    from orchestration.terminal import CleanStream

    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CleanStream(out), CleanStream(err)  # data values printed raw could drive the terminal
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = out, err


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from orchestration.access import AccessError
    from orchestration.dbt_project import ParseError
    from orchestration.warehouse import WarehouseError

    try:
        # One load of the settings, before any work: a bad time zone or as-of is refused now, not after a long run.
        config = settings.Settings.load(
            timezone=getattr(args, "timezone", None),
            as_of=getattr(args, "as_of", None),
            landing_dir=getattr(args, "landing", None),
        )
        with settings.running(config):
            return args.func(args, config)
    except (UserError, WarehouseError, settings.SettingError, AccessError, ParseError) as exc:
        print(f"lead-analytics: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        import psycopg

        if not isinstance(exc, psycopg.OperationalError):
            raise
        # e.g. the warehouse stopped in the middle of a command
        lines = str(exc).strip().splitlines()
        print(f"lead-analytics: error: the warehouse connection failed: {lines[0] if lines else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lead-analytics: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
