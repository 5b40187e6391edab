"""Surface water end to end: the national feed (file and paged HTTP), staff lab sheets, the
water_samples and water_periods views."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from envwatch.cli import main
from envwatch.config import load_config
from envwatch.http import policy_from_config

from conftest import ROOT, SAMPLES, write_config
from faultserver import FaultServer, Recorded, Reply

PAGE = SAMPLES / "water" / "cnemc_realtime_snapshot_20260821_p1.json"


def _db(p: Path) -> sqlite3.Connection:
    return sqlite3.connect(p)


def test_zhejiang_sections_reproduce_the_published_class(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    result = envwatch("ingest", "cnemc-water", "--file", str(PAGE))
    assert result.exit_code == 0, result.output
    with _db(db_path) as c:
        rows = c.execute(
            "select site_id, class, class_published, water_type from water_samples where kind = 'auto'"
        ).fetchall()
    page = json.loads(PAGE.read_text())
    zhejiang = [r for r in page["tbody"] if r[0] == "浙江省" and r[4] != "-1"]
    assert len(rows) == len(zhejiang) >= 80
    assert all(r[0].startswith("浙江省/") for r in rows)
    assert [
        r for r in rows if r[1] != r[2]
    ] == []  # every published class, with the registry's types
    assert {r[3] for r in rows} == {"river", "lake"}
    again = envwatch("ingest", "cnemc-water", "--file", str(PAGE))
    assert "0 new, 0 revised" in again.output


def test_all_sites_keeps_other_provinces_with_a_guessed_type(
    envwatch: Callable[..., Result], db_path: Path
) -> None:
    result = envwatch("ingest", "cnemc-water", "--file", str(PAGE), "--all-sites")
    assert result.exit_code == 0
    with _db(db_path) as c:
        n = c.execute("select count(distinct site_id) from water_samples").fetchone()[0]
        guessed = c.execute(
            "select water_type, water_type_guessed, origin from sites where site_id = '北京市/鼓楼外大街'"
        ).fetchone()
        registry = c.execute(
            "select water_type_guessed, origin from sites where site_id like '浙江省/%' limit 1"
        ).fetchone()
    assert n == 479  # every section with data on the page
    assert guessed == ("river", 1, "feed")
    assert registry == (0, "config")


def _split_pages(n: int) -> list[bytes]:
    page = json.loads(PAGE.read_text())
    zj = [r for r in page["tbody"] if r[0] == "浙江省"]
    size = -(-len(zj) // n)
    out = []
    for i in range(n):
        body = dict(page, total=n, records=len(zj), tbody=zj[i * size : (i + 1) * size])
        out.append(json.dumps(body, ensure_ascii=False).encode())
    return out


def _fast_http(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace(
        "http: {verify_tls: false, min_interval: 2s}",
        "http: {verify_tls: false, retries: 1, backoff_base: 0.01, backoff_max: 0.02}",
    )
    config.write_text(text, encoding="utf-8")


def test_every_page_is_fetched_and_a_failed_page_is_fetched_next_run(
    envwatch: Callable[..., Result], config_path: Path, db_path: Path
) -> None:
    _fast_http(config_path)
    pages = _split_pages(3)
    fail_page_2 = [True]

    def reply(req: Recorded) -> Reply:
        form = req.form()
        assert form["action"] == ["getRealDatas"] and form["AreaID"] == ["330000"]
        index = int(form["PageIndex"][0])
        if index == 2 and fail_page_2[0]:
            return Reply(503, body=b"busy")
        return Reply(200, headers={"Content-Type": "application/json"}, body=pages[index - 1])

    with FaultServer() as server:
        server.script("/GJZ/Ajax/Publish.ashx", then=reply)
        url = server.url("/GJZ/Ajax/Publish.ashx")
        first = envwatch("ingest", "cnemc-water", "--url", url)
        assert first.exit_code == 1, first.output  # partial
        assert "503" in first.output
        with _db(db_path) as c:
            n1 = c.execute("select count(*) from water_samples").fetchone()[0]
            statuses = [r[0] for r in c.execute("select status from run_payloads order by name")]
        assert statuses == ["ok", "failed", "ok"]
        fail_page_2[0] = False
        second = envwatch("ingest", "cnemc-water", "--url", url)
        assert second.exit_code == 0, second.output
    with _db(db_path) as c:
        n2 = c.execute("select count(*) from water_samples").fetchone()[0]
        runs = c.execute("select status, payloads from runs order by id").fetchall()
    assert 0 < n1 < n2 == 87  # all of Zhejiang's 87 sections
    assert runs == [("partial", 3), ("ok", 3)]


def test_html_error_page_fails_cleanly(
    envwatch: Callable[..., Result], tmp_path: Path, db_path: Path
) -> None:
    envwatch("ingest", "cnemc-water", "--file", str(PAGE))
    bad = tmp_path / "page.json"
    bad.write_text("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
    result = envwatch("ingest", "cnemc-water", "--file", str(bad))
    assert result.exit_code == 2
    assert "page.json" in result.output and "Traceback" not in result.output
    with _db(db_path) as c:
        assert c.execute("select count(*) from water_samples").fetchone()[0] == 87


def test_shipped_config_turns_tls_verification_off_for_the_water_feed_only() -> None:
    loaded = load_config(ROOT / "stations.yaml")
    assert policy_from_config(loaded.source("cnemc-water").http).verify_tls is False
    assert policy_from_config(loaded.source("cnemc-air-archive").http).verify_tls is True


def _sheet(path: Path, rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(
        [
            "断面名称",
            "采样时间",
            "pH",
            "溶解氧(mg/L)",
            "高锰酸盐指数(mg/L)",
            "氨氮(mg/L)",
            "总磷(mg/L)",
            "汞(µg/L)",
        ]
    )
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_lab_sheet_xlsx_with_chinese_headers(
    envwatch: Callable[..., Result], tmp_path: Path, db_path: Path
) -> None:
    sheet = _sheet(
        tmp_path / "2026-10.xlsx",
        [
            ["三潭岛", "2026-10-08 09:30", 7.9, 8.1, 2.1, 0.12, 0.02, "0.04L"],
            ["三潭岛", "2026-10-22 09:30", 7.6, 7.0, 3.0, 1.8, 0.02, 0.03],
            ["三谭岛", "2026-10-22 10:00", 7.6, 7.0, 3.0, 0.2, 0.02, 0.03],
        ],
    )
    result = envwatch("ingest", "lab-sheet", "--file", str(sheet))
    assert result.exit_code == 1, result.output  # one row rejected, the rest landed
    assert (
        "row 4" in result.output and "did you mean" in result.output and "三潭岛" in result.output
    )
    with _db(db_path) as c:
        samples = c.execute(
            "select time_local, hg, nh3n, class_label, below_detection from water_samples "
            "where kind = 'lab' order by period_end"
        ).fetchall()
        period = c.execute(
            "select period, n_samples, class_label, main_pollutants from water_periods where kind = 'lab'"
        ).fetchone()
    # µg/L converted to mg/L; 0.04L counts at half the detection limit and is flagged
    assert samples[0][:2] == ("2026-10-08 09:30", pytest.approx(0.00002))
    assert samples[0][4] == "hg"
    assert samples[1][1] == pytest.approx(0.00003)
    # lake TP limits (三潭岛 is a lake): TP 0.02 is Ⅱ; NH3-N 1.8 is Ⅴ
    assert [s[3] for s in samples] == ["Ⅱ", "Ⅴ"]
    # the month's class comes from the month's means (NH3-N 0.96: Ⅲ), never from averaging classes
    assert period[:3] == ("2026-10", 2, "Ⅲ")


def test_add_sites_adds_a_new_section_which_needs_its_type(
    tmp_path: Path, config_path: Path, db_path: Path
) -> None:
    csv = tmp_path / "new.csv"
    csv.write_text(
        "section,sampled_at,water_type,ph,do,codmn,nh3n,tp\n"
        "甬江清水浦,2026-11-02 09:00,river,7.4,6.2,3.3,0.6,0.12\n"
        "中大河,2026-11-02 10:00,,7.4,6.2,3.3,0.6,0.12\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    plain = runner.invoke(
        main, ["--config", str(config_path), "ingest", "lab-sheet", "--file", str(csv)]
    )
    assert plain.exit_code == 2 and "add-sites" in plain.output
    added = runner.invoke(
        main,
        ["--config", str(config_path), "ingest", "lab-sheet", "--file", str(csv), "--add-sites"],
    )
    assert added.exit_code == 1, added.output  # 中大河 has no water_type
    assert "water_type" in added.output
    with _db(db_path) as c:
        site = c.execute(
            "select kind, water_type, origin from sites where site_id = '甬江清水浦'"
        ).fetchone()
        cls = c.execute(
            "select class_label from water_samples where site_id = '甬江清水浦'"
        ).fetchone()
    assert site == ("water", "river", "sheet")
    assert cls == ("Ⅲ",)


def test_example_sheets_ingest(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    for name in ("lab-sheet-example.csv", "lab-sheet-example.xlsx"):
        result = CliRunner().invoke(
            main,
            [
                "--config",
                str(cfg),
                "ingest",
                "lab-sheet",
                "--file",
                str(ROOT / "data" / "examples" / name),
            ],
        )
        assert result.exit_code == 0, result.output


def test_summary_good_ratio_class_v_and_compliance(tmp_path: Path) -> None:
    from envwatch import water
    from envwatch.store import Store

    text = (
        (ROOT / "stations.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "\nsources:",
            "\n  - {id: zh-1, name: 甲河, kind: water, river: 甲河, control_level: 市控, water_type: river, target_class: 3}"
            "\n  - {id: zh-2, name: 乙河, kind: water, river: 甲河, control_level: 市控, water_type: river, target_class: 3}"
            "\n  - {id: zh-3, name: 丙河, kind: water, river: 甲河, control_level: 区控, water_type: river, target_class: 4}"
            "\n  - {id: zh-4, name: 丁河, kind: water, river: 甲河, control_level: 市控, water_type: river, target_class: 3}"
            "\nsources:",
            1,
        )
    )
    cfg = write_config(tmp_path, text)
    sheet = tmp_path / "s.csv"
    sheet.write_text(
        "section,sampled_at,ph,do,codmn,nh3n,tp\n"
        "甲河,2026-11-02 09:00,7.4,6.2,3.3,0.6,0.12\n"  # Ⅲ
        "乙河,2026-11-02 09:00,7.4,6.2,3.3,1.9,0.12\n"  # Ⅴ (NH3-N)
        "丙河,2026-11-02 09:00,7.4,6.2,3.3,2.5,0.12\n",  # 劣Ⅴ, but 区控: outside 市控 and above
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["--config", str(cfg), "ingest", "lab-sheet", "--file", str(sheet)]
    )
    assert result.exit_code == 0, result.output
    store = Store.readonly(tmp_path / "envwatch.db")
    try:
        s = water.summary(store, "2026-11-01", "2026-11-30", min_control_level="市控")
    finally:
        store.close()
    # 甲河 Ⅲ and 乙河 Ⅴ evaluated; 丁河 has no data and is listed, not counted; 国控 sections of
    # Zhejiang have no lab data this month either
    assert s["evaluated"] == 2 and s["good_ratio"] == 50.0
    assert s["class_v"] == 1 and s["class_v_sections"] == ["乙河"]
    assert s["compliance"] == 50.0 and s["missing_target"] == ["乙河"]
    assert "zh-4" in s["no_data"] and "zh-3" not in s["no_data"]


def test_a_section_added_from_a_sheet_gets_its_district_from_its_coordinates(
    tmp_path: Path, config_path: Path, db_path: Path
) -> None:
    csv = tmp_path / "new.csv"
    csv.write_text(
        "section,sampled_at,water_type,lon,lat,ph,do,codmn,nh3n,tp\n"
        "龙赛医院旁河道,2026-11-02 09:00,river,121.7130,29.9572,7.4,6.2,3.3,0.6,0.12\n",
        encoding="utf-8",
    )
    added = CliRunner().invoke(
        main,
        ["--config", str(config_path), "ingest", "lab-sheet", "--file", str(csv), "--add-sites"],
    )
    assert added.exit_code == 0, added.output
    with _db(db_path) as c:
        site = c.execute(
            "select district, city, lon, lat from sites where site_id = '龙赛医院旁河道'"
        ).fetchone()
    assert site == ("镇海区", "宁波市", 121.713, 29.9572)
