"""月报 and 年报 (issue 17): `envwatch report --month` / `--year` on a store holding a month of
real national air data, and `--pdf`.

The month is made from the two bundled real CNEMC days (2019-01-01/02), written again under
the dates of 2026-10-25 … 2026-11-30 (the days alternate): real values, real layout, a month
and a week before it (环比) but nothing a year before (同比: 无数据). The quick stores keep
the city's columns only (宁波's stations); the slow test keeps all 1,605 stations.
"""

from __future__ import annotations

import csv
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from test_report import HOSTILE, _parse

from envwatch import scoring
from envwatch.cli import main
from envwatch.config import load_config
from envwatch.report import write_report
from envwatch.report.pdf import find_chromium
from envwatch.store import Store

from conftest import AIR_DAY1, AIR_DAY2, ROOT, SAMPLES, copy_store, write_config

MONTH = "2026-11"
FIRST, LAST = date(2026, 10, 25), date(2026, 11, 30)
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def ningbo_stations() -> set[str]:
    """The national list's stations in 宁波 (the city of the plan)."""
    with (SAMPLES / "air" / "StationList-2020.01.01.csv").open(encoding="utf-8") as f:
        return {row[0] for row in csv.reader(f) if len(row) > 2 and row[2] == "宁波"}


def shifted_days(folder: Path, first: date, last: date, *, national: bool = False) -> list[Path]:
    """The two real days written again for every date from `first` to `last` (alternating),
    only 宁波's columns unless `national`. The city's month is one archive file
    ``china_sites_<first>.csv`` (the reader takes each row's date: one payload derives the
    month's hours and days once; 37 daily files store the same values and give the same pages,
    five times slower); the national month is one file a day (``china_sites_YYYYMMDD.csv``),
    as the archive publishes it (the reader parses a whole file at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    keep = ningbo_stations()
    for path in (AIR_DAY1, AIR_DAY2):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        cols = [i for i, c in enumerate(header) if i < 3 or national or c in keep]
        sources.append([[r[i] if i < len(r) else "" for i in cols] for r in rows])
    assert sources[0][0] == sources[1][0]  # one header for both days
    out: list[Path] = []
    day = first
    while day <= last:
        if national or not out:
            out.append(folder / f"china_sites_{day:%Y%m%d}.csv")
            with out[-1].open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerow(sources[0][0])
        rows = sources[(day - first).days % 2]
        with out[-1].open("a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([[f"{day:%Y%m%d}", *r[1:]] for r in rows[1:]])
        day += timedelta(days=1)
    return out


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env)


def build_month_store(
    folder: Path, *, hostile: bool = False, national: bool = False, like: Path | None = None
) -> Path:
    """A store of the shifted month (see the module); `hostile` names 万里学院 with HTML and
    JavaScript. `like` (a config built here) copies that store instead of ingesting the month
    again, and `init` then renames the stations as a staff member editing stations.yaml would.
    Returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    if hostile:
        quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
        text = text.replace("name: 万里学院,", f'name: "万里学院{quoted}",', 1)
    config = write_config(folder, text)
    if like is not None:
        copy_store(like.parent / "envwatch.db", folder / "envwatch.db")
    assert run(config, "init").exit_code == 0
    if like is not None:
        return config
    files = shifted_days(folder / "air", FIRST, LAST, national=national)
    args = [a for p in files for a in ("--file", str(p))]
    result = run(config, "ingest", "cnemc-air-archive", *args)
    assert result.exit_code in (0, 1), result.output
    return config


@pytest.fixture(scope="module")
def month_page(month_store: Path) -> Iterator[tuple[Path, str, float]]:
    loaded = load_config(month_store)
    started = time.perf_counter()
    path = write_report(
        loaded, loaded.store_path, MONTH, month_store.parent / "maps", kind="month", now=NOW
    )
    took = time.perf_counter() - started
    yield path, path.read_text(encoding="utf-8"), took


@pytest.fixture(scope="module")
def year_page(month_store: Path) -> tuple[Path, str]:
    loaded = load_config(month_store)
    path = write_report(
        loaded, loaded.store_path, "2026", month_store.parent / "maps", kind="year", now=NOW
    )
    return path, path.read_text(encoding="utf-8")


def _offline(page: str) -> None:
    links = _parse(page)
    assert all(u.startswith(("data:", "#")) for u in links.urls), links.urls
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"url\(\s*['\"]?(?!data:|#)", page)


def _section(page: str, ident: str) -> str:
    start = page.index(f'<section id="{ident}"')
    return page[start : page.index("</section>", start)]


def test_month_page_names_its_period_and_place(month_page: tuple[Path, str, float]) -> None:
    path, page, took = month_page
    assert path.name == "envwatch-2026-11.html"
    assert "<title>镇海区生态环境质量月报 2026年11月</title>" in page
    assert "<b>2026年11月</b>：2026-11-01 至 2026-11-30" in page
    assert "宁波" in page and "镇海" in page
    _offline(page)
    assert len(page.encode("utf-8")) < 3_000_000
    assert took < 10


def test_month_page_has_calendar_ranking_and_outlook(month_page: tuple[Path, str, float]) -> None:
    _, page, _ = month_page
    charts = _section(page, "charts")
    # 日历图: one square per day of November, each with its date
    days = re.findall(r'<g class="day" data-date="(2026-11-\d\d)">', charts)
    assert days == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert "镇海区2026年11月每日空气质量（AQI 类别）" in charts
    ranking = _section(page, "ranking")
    assert "宁波市各区县排名（2026年11月）" in ranking
    assert '<tr class="region ' in ranking and "镇海区" in ranking
    outlook = _section(page, "outlook")
    assert "全年目标展望（截至 2026-11-30，全年还剩 31 天）" in outlook
    assert "全年优良率" in outlook and "PM2.5 年均" in outlook


def test_month_scorecard_compares_with_last_month_and_last_year(
    month_page: tuple[Path, str, float],
) -> None:
    _, page, _ = month_page
    table = _section(page, "scorecard")
    assert "<th>环比（上月）</th><th>同比（去年同月）</th>" in table
    row = table[table.index('data-target="air.good_day_ratio"') :]
    row = row[: row.index("</tr>")]
    prev = re.search(r'<td class="num compare prev">(.*?)</td>', row, re.S)
    yoy = re.search(r'<td class="num compare yoy">(.*?)</td>', row, re.S)
    assert prev and re.search(r"\d+(\.\d)?%", prev.group(1))  # October's last week has data
    assert yoy and "无数据" in yoy.group(1)  # the store has nothing of 2025
    assert "展望：" in row  # the year to date's detail carries the outlook
    # and the key points say it in words
    summary = _section(page, "summary")
    assert re.search(r"环比（上月）：优良率 [\d.]+% → [\d.]+%（(上升|下降|持平)）", summary)
    assert "同比（去年同月）：无数据（库中没有比较期的数据）。" in summary


def test_year_page_is_a_partial_year_with_a_twelve_month_strip(
    year_page: tuple[Path, str],
) -> None:
    path, page = year_page
    assert path.name == "envwatch-2026.html"
    assert "<title>镇海区生态环境质量年报 2026年</title>" in page
    assert "<b>2026年</b>：2026-01-01 至 2026-12-02（截至今日）" in page
    assert "宁波" in page and "镇海" in page
    _offline(page)
    assert len(page.encode("utf-8")) < 3_000_000
    strip = _section(page, "charts")
    assert 'class="strip"' in strip
    assert all(f">{m}月</text>" in strip for m in range(1, 13))
    assert "无数据" in strip  # January to September hold nothing
    table = _section(page, "scorecard")
    assert "<th>同比（上年同期）</th>" in table and "年初至今（" not in table
    assert "全年还剩 29 天" in _section(page, "outlook")


def test_year_outlook_is_in_the_scorecard(month_store: Path) -> None:
    loaded = load_config(month_store)
    store = Store.readonly(loaded.store_path)
    try:
        ytd = scoring.Period("2026", "year", date(2026, 1, 1), date(2026, 11, 30))
        rows = scoring.score(loaded, store, ytd, today=TODAY).set_index("target_id")
        month = scoring.score(loaded, store, MONTH, today=TODAY).set_index("target_id")
    finally:
        store.close()
    good = rows.loc["air.good_day_ratio"]
    valid, good_days = (
        int(x) for x in re.findall(r"有效天数 (\d+)，优良 (\d+) 天", good["detail"])[0]
    )
    allowed = (valid + 31) * 7 // 100 - (valid - good_days)
    expected = "最多还可有" if 0 <= allowed < 31 else ("已无法达到" if allowed < 0 else "即使")
    assert "展望：" in good["detail"] and expected in good["detail"]
    assert "展望：" in rows.loc["air.pm25_annual", "detail"]
    assert "展望" not in month.loc["air.good_day_ratio", "detail"]  # a month has none


def test_period_options_exclude_each_other(month_store: Path, tmp_path: Path) -> None:
    result = run(
        month_store, "report", "--week", "2026-W47", "--month", MONTH, "--out", str(tmp_path)
    )
    assert result.exit_code == 2
    assert "--week, --month and --year exclude each other" in result.output
    bad = run(month_store, "report", "--month", "2026-13", "--out", str(tmp_path))
    assert bad.exit_code == 2 and "'2026-13' is not a month" in bad.output
    bad = run(month_store, "report", "--year", "26", "--out", str(tmp_path))
    assert bad.exit_code == 2 and "--year '26' is not a year: write e.g. 2026" in bad.output
    empty = run(month_store, "report", "--month", "2026-06", "--out", str(tmp_path))
    assert empty.exit_code == 2 and "no data for 2026-06" in empty.output
    assert "envwatch report --month YYYY-MM" in empty.output


def test_pdf_without_chromium_keeps_the_html_and_exits_1(month_store: Path, tmp_path: Path) -> None:
    result = run(
        month_store,
        "report",
        "--month",
        MONTH,
        "--pdf",
        "--out",
        str(tmp_path),
        env={"ENVWATCH_CHROMIUM": str(tmp_path / "no-chromium")},
    )
    assert result.exit_code == 1
    assert "no Chromium to print envwatch-2026-11.html to PDF" in result.output
    assert (tmp_path / "envwatch-2026-11.html").exists()
    assert not (tmp_path / "envwatch-2026-11.pdf").exists()


needs_chromium = pytest.mark.skipif(
    find_chromium() is None and not os.environ.get("ENVWATCH_REQUIRE_BROWSER"),
    reason="Chromium not found: run `make browser` (Debian's chromium)",
)


@pytest.mark.slow
@needs_chromium
def test_month_pdf_is_an_a4_document(month_store: Path, tmp_path: Path) -> None:
    from pypdf import PdfReader

    result = run(month_store, "report", "--month", MONTH, "--pdf", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "envwatch-2026-11.pdf"
    assert result.output.splitlines() == [str(tmp_path / "envwatch-2026-11.html"), str(pdf)]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size < 5_000_000
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 2
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2  # A4
    # the PDF's text maps some characters to Kangxi radicals (⽉ for 月): NFKC folds them back
    first = unicodedata.normalize("NFKC", reader.pages[0].extract_text())
    assert "2026年11月" in first and "镇海区" in first and "全年目标展望" in first


@pytest.mark.slow
def test_a_month_of_national_data(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The issue's check: a month of the national feed (all 1,605 stations), month, partial
    year and PDF: named period, 宁波 and 镇海, offline, < 3 MB in < 10 s, a PDF < 5 MB."""
    config = build_month_store(tmp_path_factory.mktemp("national"), national=True)
    out = config.parent / "maps"
    for args, name, title in (
        (["--month", MONTH], "envwatch-2026-11", "2026年11月"),
        (["--year", "2026"], "envwatch-2026", "2026年"),
    ):
        started = time.perf_counter()
        result = run(config, "report", *args, "--out", str(out))
        took = time.perf_counter() - started
        assert result.exit_code == 0, result.output
        page = (out / f"{name}.html").read_text(encoding="utf-8")
        assert f"<b>{title}</b>" in page and "宁波" in page and "镇海" in page
        _offline(page)
        assert len(page.encode("utf-8")) < 3_000_000 and took < 10, (name, took)
    if find_chromium() is not None:
        result = run(config, "report", "--month", MONTH, "--pdf", "--out", str(out))
        assert result.exit_code == 0, result.output
        pdf = out / "envwatch-2026-11.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size < 5_000_000


# -- report jobs of the scheduler ------------------------------------------------------------

REPORT_JOBS = """
reports:
  - {period: month, schedule: "0 8 2 * *", out: monthly, pdf: false}
  - {period: year, schedule: "30 8 2 1 *", out: annual}
"""


def _with_reports(month_store: Path, folder: Path, jobs: str) -> Path:
    text = month_store.read_text(encoding="utf-8").replace("\nreports: []\n", jobs, 1)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "stations.yaml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.slow  # a month's and a year's page through the scheduler's job: about 3 s
def test_report_jobs_run_on_the_2nd_and_in_january(month_store: Path, tmp_path: Path) -> None:
    from envwatch.schedule import build_scheduler, report_job_id, run_report

    loaded = load_config(_with_reports(month_store, tmp_path, REPORT_JOBS))
    now = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    scheduler = build_scheduler(loaded, catch_up=False, now=now)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    month, year = jobs[report_job_id(0, "month")], jobs[report_job_id(1, "year")]
    assert month.func is run_report and month.args[1] == 0
    assert month.trigger.get_next_fire_time(None, now) == datetime(
        2026, 12, 2, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")
    )
    assert year.trigger.get_next_fire_time(None, now) == datetime(
        2027, 1, 2, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")
    )
    # run on 2 December: November's report, under `out` beside stations.yaml
    written = run_report(loaded, 0, now=NOW)
    assert written == [tmp_path / "monthly" / "envwatch-2026-11.html"]
    assert "<b>2026年11月</b>" in written[0].read_text(encoding="utf-8")
    # run on 2 January 2027: the year 2026; a failure is logged, never raised
    assert run_report(loaded, 1, now=NOW.replace(year=2027, month=1, day=2)) == [
        tmp_path / "annual" / "envwatch-2026.html"
    ]
    assert run_report(loaded, 0, now=NOW.replace(month=7)) == []  # June: no data


@pytest.mark.parametrize(
    ("job", "says"),
    [
        ('{period: quarter, schedule: "0 8 2 * *"}', "reports[0].period: Input should be 'week'"),
        ('{period: month, schedule: "0 8 2 *"}', "is not a cron expression"),
        ('{period: month, schedule: "0 8 2 * 1"}', "restricts both the day of the month"),
    ],
)
def test_bad_report_jobs_are_refused_with_the_line(
    month_store: Path, tmp_path: Path, job: str, says: str
) -> None:
    from envwatch.errors import ConfigError
    from envwatch.schedule import build_scheduler

    config = _with_reports(month_store, tmp_path, f"\nreports:\n  - {job}\n")
    with pytest.raises(ConfigError) as err:
        build_scheduler(load_config(config), catch_up=False)
    assert says in str(err.value) and str(config) in str(err.value)
