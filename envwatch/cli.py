"""The ``envwatch`` command line: a thin layer, each command calls one library function.

Exit status: 0 ok, 1 partial (some rows rejected, some payloads failed), 2 failed or bad usage.
Messages are one line each and name the file, the row or field, and what to do.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from envwatch.config import DEFAULT_CONFIG, LoadedConfig, load_config
from envwatch.errors import EnvwatchError


class _Context:
    def __init__(self, config: str, db: str | None):
        self.config_path = config
        self.db = db
        self._loaded: LoadedConfig | None = None

    @property
    def loaded(self) -> LoadedConfig:
        if self._loaded is None:
            self._loaded = load_config(self.config_path)
        return self._loaded

    @property
    def db_path(self) -> Path:
        return Path(self.db) if self.db else self.loaded.store_path


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"envwatch: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns envwatch's own errors into a one-line message and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EnvwatchError as e:
            _fail(str(e))
        except KeyboardInterrupt:
            _fail(
                "interrupted; what was finished is stored, run the same command again to complete",
                2,
            )


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date: write YYYY-MM-DD, e.g. 2026-11-01"
        ) from None


@click.group(cls=_Group)
@click.option(
    "--config",
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="ENVWATCH_CONFIG",
    help="The configuration file (sites, sources, targets).",
)
@click.option(
    "--db",
    default=None,
    envvar="ENVWATCH_DB",
    help="The SQLite store; overrides `store:` in the config.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request and step.")
@click.version_option(package_name="envwatch")
@click.pass_context
def main(ctx: click.Context, config: str, db: str | None, verbose: bool) -> None:
    """envwatch: air and surface-water monitoring data into a local store, scored against the plan.

    \b
    Example:
      envwatch init
      envwatch ingest cnemc-air-archive --file data/samples/air/
      envwatch query "select * from air_hourly limit 5"
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = _Context(config, db)


@main.command()
@click.pass_obj
def init(obj: _Context) -> None:
    """Create the store (or bring it up to date) and load the sites from the config.

    \b
    Example:
      envwatch --db .demo/envwatch.db init
    """
    from envwatch.pipeline import open_store, sync_sites

    store = open_store(obj.loaded, obj.db)
    try:
        with store.writer_lock(timeout=60):
            warnings = sync_sites(obj.loaded, store)
        n = len(store.site_ids())
        click.echo(f"store ready: {store.path} (schema {store.schema_version}, {n} sites)")
    finally:
        store.close()
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


@main.command()
@click.argument("source")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(),
    help="A local file or folder to read instead of fetching (repeatable).",
)
@click.option("--url", default=None, help="Fetch from this address instead of the configured one.")
@click.option(
    "--since", callback=_date, default=None, help="First day to fetch (YYYY-MM-DD, local)."
)
@click.option(
    "--until", callback=_date, default=None, help="Last day to fetch (YYYY-MM-DD, local)."
)
@click.option(
    "--all-sites",
    is_flag=True,
    help="Keep every station in the feed, adding unknown ones to the registry.",
)
@click.option(
    "--add-sites", is_flag=True, help="Add unknown sections of a staff sheet to the registry."
)
@click.option("--dry-run", is_flag=True, help="Read and count, but write nothing.")
@click.option(
    "--wait",
    type=float,
    default=600,
    show_default=True,
    help="Seconds to wait for another run holding the store's write lock (0: do not wait).",
)
@click.pass_obj
def ingest(
    obj: _Context,
    source: str,
    files: tuple[str, ...],
    url: str | None,
    since: date | None,
    until: date | None,
    all_sites: bool,
    add_sites: bool,
    dry_run: bool,
    wait: float,
) -> None:
    """Fetch what is new from SOURCE, store it and recompute what it touched.

    \b
    Examples:
      envwatch ingest cnemc-air-archive
      envwatch ingest cnemc-air-archive --file china_sites_20190101.csv --all-sites
      envwatch ingest cnemc-air-archive --since 2026-11-01 --until 2026-11-07
    """
    from envwatch.pipeline import ingest as run_ingest

    result = run_ingest(
        obj.loaded,
        source,
        db=obj.db,
        files=files,
        url=url,
        since=since,
        until=until,
        all_sites=all_sites,
        add_sites=add_sites,
        dry_run=dry_run,
        lock_timeout=wait,
    )
    _report([result])


def _report(results: list[Any]) -> None:
    """Print each run's summary and problems; exit with the worst run's status."""
    for result in results:
        click.echo(result.summary())
        for p in result.problems:
            click.echo(f"  {p}", err=True)
    sys.exit(max((r.exit_code for r in results), default=0))


@main.command()
@click.argument("source")
@click.option("--since", callback=_date, required=True, help="First day (YYYY-MM-DD, local).")
@click.option("--until", callback=_date, required=True, help="Last day (YYYY-MM-DD, local).")
@click.option("--chunk", type=int, default=7, show_default=True, help="Days per run.")
@click.option("--all-sites", is_flag=True, help="Keep every station in the feed.")
@click.option("--refetch", is_flag=True, help="Fetch days already stored again.")
@click.option(
    "--wait", type=float, default=600, show_default=True, help="Seconds to wait for the write lock."
)
@click.pass_obj
def backfill(
    obj: _Context,
    source: str,
    since: date,
    until: date,
    chunk: int,
    all_sites: bool,
    refetch: bool,
    wait: float,
) -> None:
    """Fetch a range of past days in chunks, with a progress bar.

    Interrupt it at any time: finished days are kept, and running the same command again
    resumes with the days still missing.

    \b
    Example:
      envwatch backfill cnemc-air-archive --since 2026-01-01 --until 2026-10-31
    """
    from tqdm import tqdm

    from envwatch.pipeline import backfill as run_backfill
    from envwatch.pipeline import done_days

    n_days = (until - since).days + 1
    done = (
        0
        if refetch
        else sum(1 for d in done_days(obj.loaded, source, obj.db) if since <= d <= until)
    )
    with tqdm(total=n_days, initial=done, unit="day", desc=source, disable=None) as bar:
        results = run_backfill(
            obj.loaded,
            source,
            since,
            until,
            db=obj.db,
            chunk_days=max(1, chunk),
            all_sites=all_sites,
            refetch=refetch,
            lock_timeout=wait,
            progress=lambda _name: bar.update(1),
        )
    if not results:
        click.echo(f"{source}: every day from {since} to {until} is already stored")
        return
    _report(results)


@main.command()
@click.argument("source", required=False)
@click.option("--all-sites", is_flag=True, help="Keep every station in the payloads.")
@click.pass_obj
def reparse(obj: _Context, source: str | None, all_sites: bool) -> None:
    """Re-read the archived payloads of SOURCE (default: every source) with today's readers.

    Safe to repeat: unchanged values stay unchanged; what a fixed parser reads differently
    shows up as revisions.

    \b
    Example:
      envwatch reparse cnemc-air-archive
    """
    from envwatch.pipeline import reparse as run_reparse

    _report(run_reparse(obj.loaded, source, db=obj.db, all_sites=all_sites))


@main.command()
@click.argument("target", metavar="RUN_ID|PAYLOAD_SHA")
@click.option("--reason", default=None, help="Why, for the ledger (e.g. 'dated 2030 by mistake').")
@click.option(
    "--wait", type=float, default=600, show_default=True, help="Seconds to wait for the write lock."
)
@click.pass_obj
def withdraw(obj: _Context, target: str, reason: str | None, wait: float) -> None:
    """Take a bad payload's values back out of the store, recorded in the ledger.

    TARGET is a run id (every payload of that run) or a payload's sha256 (8 or more hex
    digits). Values a later payload revised stay; values the payload revised go back to
    their earlier value; values only it gave are removed (kept in the revisions log).
    Derived rows are recomputed, and `reparse` never reads the payload again.

    \b
    Example:
      envwatch withdraw 42 --reason "file dated 2030 by mistake"
      envwatch withdraw 3f2a9c0d
    """
    from envwatch.pipeline import withdraw as run_withdraw

    result = run_withdraw(obj.loaded, target, reason=reason, db=obj.db, lock_timeout=wait)
    click.echo(result.summary())
    sys.exit(result.exit_code)


@main.command()
@click.argument("sql", metavar="SQL|NAME", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    help="A named parameter, name=value, for :name in the SQL or the canned query.",
)
@click.option(
    "--list", "list_queries", is_flag=True, help="List the canned queries (queries.yaml)."
)
@click.option(
    "--time-limit",
    type=int,
    default=5000,
    show_default=True,
    help="Milliseconds the query may take before it is stopped.",
)
@click.pass_obj
def query(
    obj: _Context,
    sql: str | None,
    fmt: str,
    params: tuple[str, ...],
    list_queries: bool,
    time_limit: int,
) -> None:
    """Run read-only SQL, or a canned query by NAME, on the store (views: air_hourly, runs ...).

    Canned queries live in queries.yaml (beside the config file, else envwatch's own);
    `envwatch query --list` shows them with their parameters.

    \b
    Examples:
      envwatch query --list
      envwatch query good_days_by_month -p site=1236A -p since=2026-01-01
      envwatch query latest_air --format csv > latest.csv
      envwatch query "select site_name, time_local, pm25, aqi from air_hourly where site_id = '1236A'"
      envwatch query "select * from runs" --format csv
    """
    import re

    from envwatch.query import (
        describe_queries,
        format_result,
        load_queries,
        queries_path,
        run_canned,
        run_query,
    )

    config_dir = Path(obj.config_path).parent
    if list_queries:
        click.echo(describe_queries(load_queries(queries_path(config_dir))))
        return
    if not sql:
        raise click.UsageError(
            "give SQL or the name of a canned query (envwatch query --list shows them)"
        )
    named: dict[str, Any] = {}
    for p in params:
        if "=" not in p:
            raise click.BadParameter(f"'{p}' is not name=value", param_hint="-p")
        k, v = p.split("=", 1)
        named[k] = v
    if re.fullmatch(r"[a-z][a-z0-9_]*", sql.strip()):
        queries = load_queries(queries_path(config_dir))
        canned = queries.get(sql.strip())
        if canned is None:
            _fail(
                f"no canned query '{sql.strip()}'; `envwatch query --list` shows them "
                '(or write SQL, e.g. "select * from runs")'
            )
            return
        df = run_canned(obj.db_path, canned, named, time_limit_ms=time_limit)
        if fmt == "table":
            click.echo(f"{canned.title}（{canned.name}）")
    else:
        df = run_query(obj.db_path, sql, named, time_limit_ms=time_limit)
    click.echo(format_result(df, fmt))


@main.command()
@click.pass_obj
def status(obj: _Context) -> None:
    """Per source: the last run, its status and counts, and the newest data stored.

    \b
    Example:
      envwatch status
    """
    from envwatch.query import format_table
    from envwatch.status import source_status

    df = source_status(obj.loaded, obj.db)
    click.echo(f"store: {obj.db_path}")
    click.echo(format_table(df))


@main.command()
@click.option("--now", "run_now", is_flag=True, help="Run every scheduled source once at start.")
@click.pass_obj
def schedule(obj: _Context, run_now: bool) -> None:
    """Run the configured sources on their cron schedules until SIGTERM or Ctrl-C.

    Each run happens in a child process, one at a time; the daemon itself stays small. A run
    missed while the machine was down (up to six hours) runs at start. On SIGTERM the run in
    progress finishes, then the daemon exits 0.

    \b
    Example:
      envwatch schedule
    """
    from envwatch.schedule import run_scheduler

    raise SystemExit(run_scheduler(obj.loaded, db=obj.db, run_now=run_now))


@main.command()
@click.option(
    "--period",
    default=None,
    help="2026 (year; the current year runs to today), 2026-11 (month) or 2026-W47 (ISO week). "
    "Default: this year to date.",
)
@click.pass_obj
def score(obj: _Context, period: str | None) -> None:
    """Score the plan's targets for a period and keep the rows (view `scorecard`).

    \b
    Examples:
      envwatch score
      envwatch score --period 2026-W47
      envwatch score --period 2026-10
    """
    import pandas as pd

    from envwatch import scoring
    from envwatch.pipeline import open_store
    from envwatch.query import format_table

    today = datetime.now(obj.loaded.tz).date()
    store = open_store(obj.loaded, obj.db)
    try:
        df = scoring.score(obj.loaded, store, period or str(today.year), today=today)
        with store.writer_lock(timeout=600):
            scoring.save(store, df)
    finally:
        store.close()
    shown = df.assign(
        met=df["met"].map(lambda m: "无数据" if m is pd.NA or m is None else ("✓" if m else "✗"))
    )[["label", "goal", "value_text", "met", "trend", "detail"]]
    click.echo(
        f"{df['period'].iloc[0]}（{df['period_start'].iloc[0]} 至 {df['period_end'].iloc[0]}）"
    )
    click.echo(
        format_table(
            shown.rename(
                columns={
                    "label": "目标",
                    "goal": "目标值",
                    "value_text": "本期",
                    "met": "达标",
                    "trend": "趋势",
                    "detail": "说明",
                }
            )
        )
    )


@main.command()
@click.option(
    "--area",
    "areas",
    multiple=True,
    help="An area (宁波市, 镇海区, a configured group) or an air station (id or name); repeatable.",
)
@click.option("--rank", "ranking", is_flag=True, help="Rank the city's areas (辖区).")
@click.option("--since", callback=_date, default=None, help="First day (YYYY-MM-DD, local).")
@click.option("--until", callback=_date, default=None, help="Last day (YYYY-MM-DD, local).")
@click.option(
    "--period",
    default=None,
    help="2019 (year), 2019-04 (month) or 2019-W14 (ISO week); the current one runs to today.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def stats(
    obj: _Context,
    areas: tuple[str, ...],
    ranking: bool,
    since: date | None,
    until: date | None,
    period: str | None,
    fmt: str,
) -> None:
    """HJ 663 period figures of an area or a station, or the ranking of the city's areas.

    Days per category, good-day ratio, period means, CO 95th and O3-8h 90th percentiles, the
    composite index (综合指数), exceedance and primary-pollutant days, rounded once as the
    bulletins publish them. --rank lists every district and configured group with its ranks
    (ties share the better rank; areas without data are listed, not ranked).

    \b
    Examples:
      envwatch stats --area 宁波市 --period 2019-04
      envwatch stats --area 镇海区 --since 2019-01-01 --until 2019-06-30 --format json
      envwatch stats --area 1236A --period 2019
      envwatch stats --rank --period 2019 --format csv
    """
    from envwatch import stats as stats_lib
    from envwatch.store import Store

    if ranking == bool(areas):
        raise click.UsageError("give --area NAME (repeatable) or --rank")
    today = datetime.now(obj.loaded.tz).date()
    first, last = stats_lib.resolve_period(period, since, until, today)
    si = obj.loaded.config.index_denominators
    store = Store.readonly(obj.db_path)
    try:
        if ranking:
            districts = stats_lib.city_districts(obj.loaded)
            where = stats_lib.ranking_areas(store, districts, first, last)
            df = stats_lib.rank(store, where, first, last, denominators=si)
            click.echo(stats_lib.format_rank(df, fmt, first, last))
        else:
            df = stats_lib.area_stats(store, list(areas), first, last, denominators=si)
            click.echo(stats_lib.format_stats(df, fmt))
    finally:
        store.close()


@main.command()
@click.option(
    "--week",
    default=None,
    help="ISO week, e.g. 2026-W47. Default: the last complete week (config time zone).",
)
@click.option(
    "--month",
    is_flag=False,
    flag_value="",
    default=None,
    help="Monthly report (月报), e.g. 2026-11; --month alone: the last complete month.",
)
@click.option(
    "--year",
    is_flag=False,
    flag_value="",
    default=None,
    help="Annual report (年报), e.g. 2026 (the current year: to today); --year alone: last year.",
)
@click.option(
    "--out",
    default="maps",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the report (created if missing).",
)
@click.option(
    "--pdf",
    "pdf",
    is_flag=True,
    help="Also print it to an A4 PDF beside the HTML (headless Chromium; exit 1 without it).",
)
@click.pass_obj
def report(
    obj: _Context,
    week: str | None,
    month: str | None,
    year: str | None,
    out: str,
    pdf: bool,
) -> None:
    """Write the HTML report of a week, a month or a year (one file, Simplified Chinese,
    opens offline).

    The file is OUT/envwatch-2026-W47.html, OUT/envwatch-2026-11.html or
    OUT/envwatch-2026.html: scorecard, map of the city's districts, stations and sections,
    daily charts, tables of problems and the data's freshness; a month or a year adds 同比 and
    环比, the districts' ranking, a calendar (month) or a 12-month strip (year), and the
    year's outlook against the plan. --week, --month and --year exclude each other (none: the
    last complete week). --pdf also writes the PDF beside it; without Chromium it says so,
    keeps the HTML and exits 1. Set ENVWATCH_TIANDITU_KEY to add a Tianditu street layer (off
    until switched on; needs the network). Prints the path of each file written.

    \b
    Examples:
      envwatch report
      envwatch report --week 2026-W47 --out maps/
      envwatch report --month 2026-11 --pdf
      envwatch report --year 2026
    """
    from envwatch.report import BrowserMissing, PrintFailed, write_pdf, write_report

    chosen = [
        (k, v) for k, v in (("week", week), ("month", month), ("year", year)) if v is not None
    ]
    if len(chosen) > 1:
        raise click.UsageError(
            "--week, --month and --year exclude each other; give one "
            f"(got {' and '.join('--' + k for k, _ in chosen)})"
        )
    kind, label = chosen[0] if chosen else ("week", None)
    path = write_report(obj.loaded, obj.db_path, label or None, Path(out), kind=kind)
    click.echo(str(path))
    if pdf:
        try:
            click.echo(str(write_pdf(path)))
        except (BrowserMissing, PrintFailed) as err:
            click.echo(f"envwatch report: {err}", err=True)
            sys.exit(1)


@main.command()
@click.option("--port", type=int, default=8001, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--no-sql",
    is_flag=True,
    help="Allow the canned queries only, not SQL typed into the page.",
)
@click.option(
    "--time-limit",
    type=int,
    default=5000,
    show_default=True,
    help="Milliseconds a query may take before Datasette stops it.",
)
@click.option(
    "--tiles",
    default=None,
    help="Map tile URL template (an intranet tile server); default OpenStreetMap.",
)
@click.pass_obj
def serve(obj: _Context, port: int, no_sql: bool, time_limit: int, tiles: str | None) -> None:
    """Datasette on the store: read-only, on http://127.0.0.1:PORT/ only.

    Pages for every view with Chinese titles, column notes and units, the canned queries of
    queries.yaml, CSV/JSON downloads, and the stations on a map. Nothing can be written
    through it. Stop it with Ctrl-C.

    \b
    Examples:
      envwatch serve
      envwatch serve --port 8080 --no-sql
    """
    from envwatch.query import load_queries, queries_path
    from envwatch.serve import serve as run_serve

    place = ""
    if Path(obj.config_path).exists():
        place = obj.loaded.config.region.district
    run_serve(
        obj.db_path,
        load_queries(queries_path(Path(obj.config_path).parent)),
        port=port,
        place=place,
        allow_sql=not no_sql,
        time_limit_ms=time_limit,
        tiles=tiles,
        echo=click.echo,
    )


@main.command()
@click.option(
    "--table",
    required=True,
    help="What to export: air_hourly, air_daily, water_samples, water_periods, scorecard, "
    "runs, sites, observations, revisions, outfall_inspections, zero_discharge_zones, "
    "zero_waste_cells, zero_waste_indicators.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "parquet"]),
    default=None,
    help="csv (UTF-8), xlsx (Chinese headers, units) or parquet (a folder partitioned by "
    "year); default from the --out suffix.",
)
@click.option(
    "--since", callback=_date, default=None, help="First day (YYYY-MM-DD, local, inclusive)."
)
@click.option(
    "--until", callback=_date, default=None, help="Last day (YYYY-MM-DD, local, inclusive)."
)
@click.option("--site", "sites", multiple=True, help="A site id or name (repeatable).")
@click.option("--out", required=True, type=click.Path(), help="The file (or Parquet folder).")
@click.pass_obj
def export(
    obj: _Context,
    table: str,
    fmt: str | None,
    since: date | None,
    until: date | None,
    sites: tuple[str, ...],
    out: str,
) -> None:
    """Export a view to CSV, Excel or Parquet.

    Excel has Chinese headers with units and a sheet 说明 describing the columns; Parquet is a
    folder partitioned by year (observations: by year and parameter) for pandas or DuckDB.
    Dates are local and inclusive; hourly data by natural day (hours 01:00 … 24:00).

    \b
    Examples:
      envwatch export --table air_daily --format xlsx --since 2026-01-01 --out 日数据.xlsx
      envwatch export --table observations --format parquet --out obs/
      envwatch export --table water_samples --site 梁桥 --out 梁桥.csv
    """
    from envwatch.export import export as run_export

    tz = obj.loaded.config.timezone if Path(obj.config_path).exists() else "Asia/Shanghai"
    result = run_export(
        obj.db_path,
        table,
        out,
        fmt,
        since=since,
        until=until,
        sites=list(sites) or None,
        tz=tz,
    )
    click.echo(result.summary())


# -- alerts (issue 18): the problems noticed, until they are handled ---------------------------


@main.group()
def alerts() -> None:
    """Alerts: the problems noticed after each run, 交办 (ack) and 销号 (close).

    \b
    Examples:
      envwatch alerts list
      envwatch alerts ack 12 --note "交办镇海分局核查" --by 张三
      envwatch alerts close 12 --note "已核查，系设备故障，已修复"
      envwatch alerts test duty
    """


@alerts.command("list")
@click.option("--all", "everything", is_flag=True, help="Closed alerts too.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_obj
def alerts_list(obj: _Context, everything: bool, fmt: str) -> None:
    """List the alerts not closed (with --all: every alert), newest first.

    \b
    Examples:
      envwatch alerts list
      envwatch alerts list --all --format json
    """
    from envwatch.alerts.episodes import format_alerts, list_alerts
    from envwatch.store import Store

    if not obj.db_path.exists():
        _fail(f"{obj.db_path}: no store here; run `envwatch init` or `envwatch ingest` first")
    with Store.readonly(obj.db_path) as store:
        df = list_alerts(store.conn, everything=everything)
    click.echo(format_alerts(df, fmt, obj.loaded.tz))


@alerts.command("show")
@click.argument("alert_id", type=int)
@click.pass_obj
def alerts_show(obj: _Context, alert_id: int) -> None:
    """Show alert ID and every step recorded for it (opened, messages, 交办, 销号).

    \b
    Example:
      envwatch alerts show 12
    """
    from envwatch.alerts.episodes import describe

    click.echo(describe(obj.db_path, alert_id, obj.loaded.tz))


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--note", required=True, help="What was handed over, to whom (交办说明).")
@click.option("--by", default=None, help="Who hands it over (default: your login name).")
@click.pass_obj
def alerts_ack(obj: _Context, alert_id: int, note: str, by: str | None) -> None:
    """交办: record that alert ID was taken on, with a note.

    \b
    Example:
      envwatch alerts ack 12 --note "交办镇海分局核查" --by 张三
    """
    from envwatch.alerts.episodes import acknowledge
    from envwatch.pipeline import open_store

    with open_store(obj.loaded, obj.db) as store:
        e = acknowledge(store.conn, alert_id, note, by=by)
    click.echo(f"alert #{alert_id}: {e['status']} (交办 by {e['ack_by']})")


@alerts.command("close")
@click.argument("alert_id", type=int)
@click.option("--note", required=True, help="What was done (销号说明).")
@click.option("--by", default=None, help="Who closes it (default: your login name).")
@click.option("--force", is_flag=True, help="Close an alert that has not cleared (needs --reason).")
@click.option("--reason", default=None, help="Why close it before it cleared.")
@click.pass_obj
def alerts_close(
    obj: _Context, alert_id: int, note: str, by: str | None, force: bool, reason: str | None
) -> None:
    """销号: close alert ID once its condition has cleared, with a note.

    \b
    Examples:
      envwatch alerts close 12 --note "已核查，系设备故障，已修复"
      envwatch alerts close 13 --note "站点停运" --force --reason "站点已撤销"
    """
    from envwatch.alerts.episodes import close
    from envwatch.pipeline import open_store

    with open_store(obj.loaded, obj.db) as store:
        e = close(store.conn, alert_id, note, by=by, force=force, reason=reason)
    click.echo(f"alert #{alert_id}: {e['status']} (销号 by {e['closed_by']})")


@alerts.command("test")
@click.argument("channel")
@click.pass_obj
def alerts_test(obj: _Context, channel: str) -> None:
    """Send a test message through CHANNEL and print what came back (exit 2 if it failed).

    \b
    Example:
      envwatch alerts test duty
    """
    from envwatch.alerts.channels import send, shown_url, test_message

    c = obj.loaded.config.alerts.channel(channel)
    outcome = send(c, test_message(c))
    click.echo(f"{c.name} ({shown_url(c)}): {'ok' if outcome.ok else 'FAILED'}")
    click.echo(outcome.answer)
    if not outcome.ok:
        sys.exit(2)


@alerts.command("run")
@click.pass_obj
def alerts_run(obj: _Context) -> None:
    """Evaluate the rules now and send what is due (also done after every ingest run).

    \b
    Example:
      envwatch alerts run
    """
    from envwatch.alerts import run_alerts

    out = run_alerts(obj.loaded, db=obj.db)
    click.echo(out.summary())
    for p in out.problems:
        click.echo(f"  {p}", err=True)
