"""Canned queries (queries.yaml) through `envwatch query`, on the demo store of bundled samples."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from demo import LAB_SHEET, Demo, demo_copy

from envwatch.cli import main
from envwatch.config import load_config
from envwatch.errors import QueryError
from envwatch.pipeline import ingest
from envwatch.query import _width, load_queries, run_canned

from conftest import ROOT, write_config

REQUIRED = {  # the list, by what each answers
    "good_days_by_month",  # good-day ratio by month
    "exceedance_days",  # exceedance days by pollutant
    "latest_air",  # the latest reading of every station
    "water_below_target",  # sections below their target class
    "water_class_v_week",  # the week's Ⅴ and 劣Ⅴ sections
    "revisions_last_week",  # the revisions of the last week
}


@pytest.fixture(scope="module")
def demo(demo_store: Demo) -> Demo:
    return demo_store


def _run(config: Path, *args: str) -> Result:
    """The command line with `config`; tests pass --db where they can (loading the full
    stations.yaml takes a second)."""
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_queries_file_has_the_required_queries_each_with_chinese_title_and_description() -> None:
    queries = load_queries(ROOT / "queries.yaml")
    assert set(queries) >= REQUIRED
    for q in queries.values():
        assert re.search(r"[\u4e00-\u9fff]", q.title), q.name
        assert re.search(r"[\u4e00-\u9fff]", q.description), q.name
        for p in q.params.values():
            assert p.help, (q.name, p.name)


def test_every_canned_query_runs_on_the_demo_store(demo: Demo) -> None:
    for name, q in load_queries().items():
        result = _run(demo.config, "--db", str(demo.db), "query", name)
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"{q.title}（{name}）\n"), name
        assert re.search(r"\(\d+ rows?\)$", result.output.strip()), name
    for fmt in ("csv", "json"):
        result = _run(demo.config, "--db", str(demo.db), "query", "latest_air", "--format", fmt)
        assert result.exit_code == 0 and "龙赛医院" in result.output


def test_latest_reading_of_every_station(demo: Demo) -> None:
    df = run_canned(demo.db, load_queries()["latest_air"])
    assert len(df) == 10  # every registry station, those without data too
    row = df.set_index("站点编号").loc["1236A"]
    assert row["站点名称"] == "龙赛医院" and row["时间（本地，时段末）"] == "2019-01-02 23:00"
    silent = df.loc[df["时间（本地，时段末）"].isna(), "站点编号"].tolist()
    assert silent == ["1238A", "3710A"]  # no data in the samples: shown, with no time
    one = run_canned(demo.db, load_queries()["latest_air"], {"site": "龙赛医院"})
    assert one["站点编号"].tolist() == ["1236A"]


def test_good_days_and_exceedance_days(demo: Demo) -> None:
    q = load_queries()
    good = run_canned(demo.db, q["good_days_by_month"]).set_index("站点编号")
    # 万里学院: AQI 92 on 1 January, 109 on 2 January (PM2.5)
    assert good.loc["1235A", ["月份", "有效天数", "优良天数"]].tolist() == ["2019-01", 2, 1]
    assert good.loc["1235A", "优良天数比例（%）"] == 50.0
    exceed = run_canned(demo.db, q["exceedance_days"]).set_index("站点编号")
    assert exceed.loc["1235A", ["超标天数", "PM2.5超标天数", "O3（8小时）超标天数"]].tolist() == [
        1,
        1,
        0,
    ]
    assert exceed["超标天数"].sum() == 1
    later = run_canned(demo.db, q["exceedance_days"], {"since": "2019-01-02", "city": "宁波市"})
    assert later["起"].min() == "2019-01-02"


def test_class_v_sections_of_the_week(demo: Demo) -> None:
    df = run_canned(demo.db, load_queries()["water_class_v_week"])
    assert len(df) == 9 and set(df["时段"]) == {"2026-08-15 至 2026-08-21"}
    assert df.set_index("断面名称").loc["沙段", "主要污染物"] == "总磷(0.76)"
    # the lab sheet's 四灶浦闸 sample in Ⅴ on 2026-08-04 is in that week, not this one
    earlier = run_canned(demo.db, load_queries()["water_class_v_week"], {"until": "2026-08-07"})
    assert earlier[["断面名称", "最差类别", "监测方式"]].values.tolist() == [
        ["四灶浦闸", "Ⅴ", "手工监测"]
    ]


def test_sections_below_target_and_revisions_of_the_week(tmp_path: Path) -> None:
    # a section with a target class (Ⅲ), and a lab sheet sent again with one value corrected
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "{id: 浙江省/四灶浦闸, name: 四灶浦闸, kind: water,",
        "{id: 浙江省/四灶浦闸, name: 四灶浦闸, kind: water, target_class: 3,",
    )
    config = write_config(tmp_path, text)
    loaded = load_config(config)
    db = tmp_path / "envwatch.db"
    ingest(loaded, "lab-sheet", db=db, files=[LAB_SHEET])
    fixed = tmp_path / "lab-sheet-fixed.csv"
    fixed.write_text(
        LAB_SHEET.read_text(encoding="utf-8").replace("0.71,0.165", "0.69,0.165"), "utf-8"
    )
    ingest(loaded, "lab-sheet", db=db, files=[fixed])
    q = load_queries()
    below = run_canned(db, q["water_below_target"])
    assert below[["月份", "断面名称", "月均水质类别", "目标类别"]].values.tolist() == [
        ["2026-08", "四灶浦闸", "Ⅴ", "Ⅲ"]
    ]
    july = run_canned(db, q["water_below_target"], {"month": "2026-07"})
    assert july["月均水质类别"].tolist() == ["Ⅳ"]
    revisions = run_canned(db, q["revisions_last_week"])
    assert revisions[["站点名称", "参数", "旧值", "新值"]].values.tolist() == [
        ["梁桥", "nh3n", 0.71, 0.69]
    ]
    assert run_canned(db, q["revisions_last_week"], {"until": "2020-01-01"}).empty


def test_scorecard_query_on_filled_view(demo_store: Demo, tmp_path: Path) -> None:
    copy = demo_copy(demo_store, tmp_path)
    with sqlite3.connect(copy.db) as conn:
        conn.execute(
            "INSERT INTO score (period, target_id, label, value, unit, goal, met, period_start, "
            "period_end, computed_at) VALUES ('2019', 'air.good_day_ratio', '空气质量优良率', "
            "87.5, '%', '93', 0, '2019-01-01', '2019-12-31', '2026-11-22T00:00:00Z')"
        )
    df = run_canned(copy.db, load_queries()["scorecard"], {"period": "2019"})
    assert df[["指标", "数值", "是否达标"]].values.tolist() == [
        ["空气质量优良率", "87.5", "未达标"]
    ]


def test_list_shows_names_titles_and_parameters(demo: Demo) -> None:
    out = _run(demo.config, "--db", str(demo.db), "query", "--list").output
    for name, q in load_queries().items():
        assert f"{name}  {q.title}" in out
        for p in q.params:
            assert f"-p {p}=" in out


def test_wrong_names_parameters_and_dates_say_what_to_do(demo: Demo) -> None:
    unknown = _run(demo.config, "--db", str(demo.db), "query", "good_day_ratio")
    assert unknown.exit_code == 2 and "envwatch query --list" in unknown.output
    bad_param = _run(
        demo.config, "--db", str(demo.db), "query", "latest_air", "-p", "station=1236A"
    )
    assert bad_param.exit_code == 2 and "it takes: site, city" in bad_param.output
    bad_date = _run(
        demo.config, "--db", str(demo.db), "query", "air_days", "-p", "since=2019/01/01"
    )
    assert bad_date.exit_code == 2 and "write it like 2026-11-01" in bad_date.output
    assert _run(demo.config, "query").exit_code == 2


def test_chinese_headers_line_up_in_the_table(demo: Demo) -> None:
    lines = _run(
        demo.config, "--db", str(demo.db), "query", "good_days_by_month"
    ).output.splitlines()[1:-1]
    header, rule, *rows = lines
    # each column starts at the same display column in the header and in every row
    starts = [_width(rule[: m.start()]) for m in re.finditer(r"-+", rule)]
    for line in [header, *rows]:
        cells = [m.start() for m in re.finditer(r"(?:(?<=  )|^)\S", line)]
        assert [_width(line[:c]) for c in cells][:3] == starts[:3], line


def test_queries_beside_the_config_replace_the_bundled_ones(demo: Demo, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "queries.yaml").write_text(
        "n_sites:\n  title: 站点数\n  description: 登记的站点个数\n"
        "  params: {kind: {type: text, help: 类型}}\n"
        "  sql: select count(*) as n from sites where kind = :kind\n",
        encoding="utf-8",
    )
    result = _run(config, "--db", str(demo.db), "query", "n_sites", "-p", "kind=air")
    assert result.exit_code == 0 and result.output.splitlines()[-2].strip() == "10"
    assert "latest_air" not in _run(config, "query", "--list").output


def test_a_query_file_with_an_undeclared_parameter_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "queries.yaml"
    p.write_text(
        "x:\n  title: 标题\n  sql: select * from sites where site_id = :site\n", encoding="utf-8"
    )
    with pytest.raises(QueryError, match=r"queries.yaml: query 'x': ':site' is used"):
        load_queries(p)


def test_canned_queries_are_read_only_too(demo: Demo, tmp_path: Path) -> None:
    p = tmp_path / "queries.yaml"
    p.write_text("wipe:\n  title: 删除\n  sql: delete from observations\n", encoding="utf-8")
    config = write_config(tmp_path)
    result = _run(config, "--db", str(demo.db), "query", "wipe")
    assert result.exit_code == 2 and "read-only" in result.output
    with sqlite3.connect(demo.db) as conn:
        assert conn.execute("select count(*) from observations").fetchone()[0] > 0
