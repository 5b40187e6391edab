"""Hourly air exports of provincial and municipal platforms (issue 14 items 1 and 4)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.sources import air_sheet
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data/examples/air-sheet-example.csv"
NOW = datetime(2019, 6, 1, tzinfo=UTC)

KNOWN = pd.DataFrame(
    {
        "site_id": ["1236A", "NB-YY01", "浙江省/大嵩", "ZJ-0001"],
        "name": ["龙赛医院", "余姚城区", "大嵩", "省站一号"],
        "kind": ["air", "air", "water", "air"],
        "control_level": [None, "省控", None, "国控"],
        "origin": ["config", "sheet", "config", "sheet"],
    }
)

NATIONAL = KNOWN[KNOWN.site_id == "1236A"]


def read(text: str | bytes, *, encoding: str = "utf-8", **kwargs: Any) -> Reading:
    options: dict[str, Any] = {
        "name": "air.csv",
        "known_sites": KNOWN,
        "add_sites": False,
        "tz": "Asia/Shanghai",
        "now": NOW,
        **kwargs,
    }
    data = text.encode(encoding) if isinstance(text, str) else text
    return air_sheet.read(data, **options)


def values(reading: Reading) -> dict[tuple[str, str, str], tuple[float, str]]:
    obs = reading.observations
    return {
        (s, p, t.isoformat()): (v, f)
        for s, p, t, v, f in zip(
            obs.site_id, obs.parameter, obs.period_end, obs.value, obs.flag, strict=True
        )
    }


HEAD = "站点编码,站点名称,监测时间,PM2.5(μg/m³),PM10(μg/m³),CO(mg/m³),O3(μg/m³)\n"


def test_a_plain_sheet_lands_hour_ending_in_utc_with_canonical_units() -> None:
    reading = read(HEAD + "NB-YY01,余姚城区,2019-04-01 01:00,35,60,0.8,40\n")
    assert reading.rejects == []
    obs = reading.observations
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert set(obs.averaging) == {"1h"}
    # 01:00 CST ends the hour 00:00-01:00 local: 2019-03-31 17:00 UTC
    assert set(obs.period_end) == {pd.Timestamp("2019-03-31T17:00Z")}
    assert dict(zip(obs.parameter, obs.unit, strict=True)) == {
        "pm25": "µg/m³",
        "pm10": "µg/m³",
        "co": "mg/m³",
        "o3": "µg/m³",
    }
    assert reading.sites.site_id.tolist() == ["NB-YY01"] and not reading.sites.new.any()


@pytest.mark.parametrize(
    "when",
    ["2019-04-01 24:00", "2019-04-02 00:00", "2019/4/1 24:00", "2019/4/2 0:00", "2019-04-02"],
)
def test_the_last_hour_of_a_day_as_24_00_or_next_midnight(when: str) -> None:
    reading = read(HEAD + f"NB-YY01,,{when},35,,,\n")
    if when == "2019-04-02":  # a date without an hour is not an hour
        [reject] = reading.rejects
        assert reject.location == "row 2, 监测时间" and "no hour" in reject.reason
        return
    assert reading.rejects == []
    assert list(reading.observations.period_end) == [pd.Timestamp("2019-04-01T16:00Z")]


def test_slash_dates_single_digit_hours_and_date_plus_hour_columns_agree() -> None:
    a = read(HEAD + "NB-YY01,,2019/4/1 1:00,35,,,\n")
    b = read("点位编码,日期,小时,PM2.5\nNB-YY01,2019-04-01,1,35\n")
    assert values(a) == values(b) == {("NB-YY01", "pm25", "2019-03-31T17:00:00+00:00"): (35, "")}


@pytest.mark.parametrize(
    ("sheet", "location", "words"),
    [
        ("点位编码,日期,小时,PM2.5\nNB-YY01,2019-04-01,0,35\n", "row 2, 小时", "outside 1-24"),
        ("点位编码,日期,小时,PM2.5\nNB-YY01,2019-04-01,25,35\n", "row 2, 小时", "outside 1-24"),
        ("点位编码,日期,小时,PM2.5\nNB-YY01,2019-04-01,1.5,35\n", "row 2, 小时", "not an hour"),
        (HEAD + "NB-YY01,,2019-04-01 25:00,35,,,\n", "row 2, 监测时间", "outside 1-24"),
        (HEAD + "NB-YY01,,2019-04-01 01:30,35,,,\n", "row 2, 监测时间", "not on the hour"),
        (HEAD + "NB-YY01,,4月1日,35,,,\n", "row 2, 监测时间", "not a date and hour"),
    ],
)
def test_an_hour_outside_1_to_24_or_not_an_hour_is_rejected_naming_the_row(
    sheet: str, location: str, words: str
) -> None:
    reading = read(sheet)
    [reject] = reading.rejects
    assert reject.location == location and words in reject.reason
    assert reading.observations.empty


def test_encodings_staff_exports_come_in() -> None:
    sheet = HEAD.replace("³", "3") + "NB-YY01,余姚城区,2019-04-01 01:00,35,60,0.8,40\n"
    plain = values(read(sheet))
    for encoding in ("utf-8-sig", "gbk", "gb18030"):
        assert values(read(sheet, encoding=encoding)) == plain
    assert values(read(sheet.replace(",", "\t"), encoding="utf-16")) == plain


def test_excel_sheet_with_date_times_and_a_title_row() -> None:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["宁波市环境空气质量小时数据（虚构示例数据）"])
    ws.append(["站点编码", "站点名称", "监测时间", "PM2.5(μg/m³)", "CO(μg/m³)", "O3(μg/m³)"])
    # Excel keeps times as fractions of a day: 01:00 may come back a hair early
    ws.append(["NB-YY01", "余姚城区", datetime(2019, 1, 1, 0, 59, 59, 999000), 35, 800, 40])
    ws.append(["NB-YY01", "余姚城区", datetime(2019, 1, 2, 0, 0), 50, 1200, "—"])
    out = io.BytesIO()
    book.save(out)
    reading = read(out.getvalue(), name="air.xlsx")
    assert reading.rejects == []
    assert values(reading) == {
        ("NB-YY01", "pm25", "2018-12-31T17:00:00+00:00"): (35, ""),
        ("NB-YY01", "co", "2018-12-31T17:00:00+00:00"): (0.8, ""),  # µg/m³ converted
        ("NB-YY01", "o3", "2018-12-31T17:00:00+00:00"): (40, ""),
        ("NB-YY01", "pm25", "2019-01-01T16:00:00+00:00"): (50, ""),
        ("NB-YY01", "co", "2019-01-01T16:00:00+00:00"): (1.2, ""),
    }


def test_unknown_station_without_add_sites_gets_a_did_you_mean() -> None:
    reading = read(HEAD + "NB-YY1,余姚城,2019-04-01 01:00,35,,,\nNB-YY01,,2019-04-01 02:00,36,,,\n")
    [reject] = reading.rejects
    assert reject.location == "row 2, 站点编码" and reject.raw == "NB-YY1"
    assert "did you mean 余姚城区 (NB-YY01)?" in reject.reason and "--add-sites" in reject.reason
    assert len(reading.observations) == 1


def test_water_sections_are_not_air_stations() -> None:
    reading = read(HEAD + ",大嵩,2019-04-01 01:00,35,,,\n")
    assert reading.observations.empty and "unknown station" in reading.rejects[0].reason


def test_duplicate_station_hours_with_different_values_name_both_rows_and_use_neither() -> None:
    sheet = HEAD + (
        "NB-YY01,,2019-04-01 01:00,35,60,,\n"
        "NB-YY01,,2019-04-01 02:00,36,61,,\n"
        "NB-YY01,,2019/4/1 1:00,38,60,,\n"
        "NB-YY01,,2019-04-01 02:00,36,61,,\n"  # an identical repeat: read once
    )
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 2", "row 4"]
    assert all("rows 2, 4 give different values" in r.reason for r in reading.rejects)
    assert set(values(reading)) == {
        ("NB-YY01", "pm25", "2019-03-31T18:00:00+00:00"),
        ("NB-YY01", "pm10", "2019-03-31T18:00:00+00:00"),
    }


def test_co_in_micrograms_under_a_milligram_header_is_rejected_with_the_reason() -> None:
    reading = read(
        HEAD + "NB-YY01,,2019-04-01 01:00,35,,850,\nNB-YY01,,2019-04-01 02:00,35,,0.9,\n"
    )
    [reject] = reading.rejects
    assert (reject.location, reject.raw, reject.parameter) == ("row 2, CO(mg/m³)", "850", "co")
    assert "looks like µg/m³" in reject.reason
    co = reading.observations.query("parameter == 'co'")
    assert co.value.tolist() == [0.9]


def test_bad_values_are_rejected_by_cell_and_the_rest_of_the_row_lands() -> None:
    reading = read(HEAD + 'NB-YY01,,2019-04-01 01:00,-3,"0,520",abc,——\n')
    got = {(r.location, r.raw) for r in reading.rejects}
    assert got == {
        ("row 2, PM2.5(μg/m³)", "-3"),
        ("row 2, PM10(μg/m³)", "0,520"),
        ("row 2, CO(mg/m³)", "abc"),
    }
    assert reading.observations.empty


def test_a_provincial_row_on_a_national_station_is_refused() -> None:
    sheet = "站点编码,监测时间,控制级别,PM2.5\n" + (
        "1236A,2019-04-01 01:00,省控,35\nZJ-0001,2019-04-01 01:00,市控,36\n"
        "1236A,2019-04-01 02:00,国控,37\nNB-YY01,2019-04-01 01:00,省控,38\n"
    )
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 2, 控制级别", "row 3, 控制级别"]
    assert "national (国控) station" in reading.rejects[0].reason
    assert set(reading.observations.site_id) == {"1236A", "NB-YY01"}


def test_flagged_values_are_kept_with_their_flag() -> None:
    sheet = "站点编码,监测时间,PM2.5,PM2.5标识,PM10,PM10标志\n" + (
        "NB-YY01,2019-04-01 01:00,35,H,60,N\nNB-YY01,2019-04-01 02:00,36,,61,\n"
    )
    got = values(read(sheet))
    assert got[("NB-YY01", "pm25", "2019-03-31T17:00:00+00:00")] == (35, "flagged:H")
    assert got[("NB-YY01", "pm10", "2019-03-31T17:00:00+00:00")] == (60, "")
    assert got[("NB-YY01", "pm25", "2019-03-31T18:00:00+00:00")] == (36, "")


def test_an_hour_after_now_is_rejected() -> None:
    reading = read(HEAD + "NB-YY01,,2099-04-01 01:00,35,,,\n")
    [reject] = reading.rejects
    assert reject.location == "row 2" and "in the future" in reject.reason


def test_add_sites_needs_coordinates_and_converts_gcj02() -> None:
    sheet = "站点编码,站点名称,监测时间,PM2.5,经度,纬度,坐标系,控制级别,所属区县\n" + (
        "NB-NH09,宁海新站,2019-04-01 01:00,35,121.435,29.287,GCJ-02,省控,宁海县\n"
        "NB-NH09,宁海新站,2019-04-01 02:00,36,,,,,\n"
        "NB-XX09,无坐标站,2019-04-01 01:00,35,,,,市控,\n"
    )
    reading = read(sheet, add_sites=True)
    assert [r.location for r in reading.rejects] == ["row 4"]
    assert "needs 经度 and 纬度" in reading.rejects[0].reason
    site = reading.sites.set_index("site_id").loc["NB-NH09"]
    assert site["new"] and site["crs_source"] == "gcj02" and site["control_level"] == "省控"
    assert site["district_stated"] == "宁海县"
    # GCJ-02 is WGS-84 shifted by a few hundred metres in Ningbo
    assert 0.002 < abs(121.435 - site["lon"]) < 0.008 and 0.001 < abs(29.287 - site["lat"]) < 0.005
    assert len(reading.observations) == 2


def test_sheets_that_hold_no_hours_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="air.csv: no data rows"):
        read(HEAD)
    with pytest.raises(ParseError, match="no header row with a station"):
        read("名称,数值\n余姚,35\n")
    with pytest.raises(ParseError, match="without 小时"):
        read("站点编码,日期,PM2.5\nNB-YY01,2019-04-01,35\n")
    template = (ROOT / "data/examples/air-sheet-template.csv").read_bytes()
    with pytest.raises(ParseError, match="no data rows"):
        read(template)


def test_the_example_sheet_lands_twelve_stations_over_the_demo_days() -> None:
    reading = read(EXAMPLE.read_bytes(), name=EXAMPLE.name, add_sites=True, known_sites=NATIONAL)
    assert reading.rejects == []
    obs = reading.observations
    assert obs.site_id.nunique() == 12 and len(obs) == 12 * 48 * 6
    local = obs.period_end.dt.tz_convert("Asia/Shanghai")
    assert local.min() == pd.Timestamp("2019-01-01 01:00", tz="Asia/Shanghai")
    assert local.max() == pd.Timestamp("2019-01-03 00:00", tz="Asia/Shanghai")
    assert (obs.flag != "").sum() == 2  # two flagged hours, kept with their flag
    sites = reading.sites
    assert set(sites.control_level) == {"省控", "市控"} and sites.new.all()
    assert not sites.site_id.str.fullmatch(r"\d{4}A").any()  # cannot clash with national codes
    daily = obs[obs.parameter == "pm25"].groupby("site_id").value.mean()
    assert daily.max() - daily.min() > 30  # districts differ enough to rank
    assert "虚构示例数据" in EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_example_stations_fall_in_the_districts_they_name() -> None:
    from envwatch import geo

    sites = read(EXAMPLE.read_bytes(), add_sites=True, known_sites=NATIONAL).sites
    found = geo.assign_districts(sites.lon.tolist(), sites.lat.tolist(), "浙江省", "宁波市")
    assert found == sites.district_stated.tolist()
    assert {"余姚市", "慈溪市", "奉化区", "宁海县", "象山县"} <= set(found)
    assert {"海曙区", "江北区", "北仑区", "镇海区", "鄞州区"} <= set(found)
    daxie = sites[sites.site_id.str.startswith("NB-DX")]
    assert len(daxie) == 2 and (abs(daxie.lon - 121.95) < 0.05).all()


def test_flagged_values_stay_out_of_the_hourly_aqi(tmp_path: Path) -> None:
    from envwatch import air
    from envwatch.pipeline import normalise
    from envwatch.store import Store

    sheet = "站点编码,监测时间,PM2.5,PM2.5标识,PM10\n" + (
        "NB-YY01,2019-04-01 01:00,300,H,60\nNB-YY01,2019-04-01 02:00,36,,61\n"
    )
    reading = read(sheet)
    obs, rejects = normalise(reading)
    assert rejects == []
    store = Store.open(tmp_path / "s.db")
    run = store.start_run("air", "air-sheet")
    with store.transaction():
        upsert = store.upsert_observations(obs, run)
        air.derive(store, upsert.written, upsert.state, "Asia/Shanghai")
    hours = store.air_hours(["NB-YY01"], None, None)
    assert hours.pm25.isna().tolist() == [True, False]  # the flagged 300 is not used
    stored = store.observations(["NB-YY01"], ["pm25"])
    assert sorted(stored.flag) == ["", "flagged:H"]  # but it is kept


def test_read_signature_matches_the_other_sheet_readers() -> None:
    import inspect

    params = inspect.signature(air_sheet.read).parameters
    assert list(params) == ["data", "name", "known_sites", "add_sites", "tz", "now"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[1:])


# --- end to end: through the registry entry (issue 16: a kind is its entry) ----


@pytest.mark.slow
def test_the_example_sheet_lands_through_the_pipeline_in_every_district(tmp_path: Path) -> None:
    import sqlite3

    from envwatch.config import load_config
    from envwatch.pipeline import ingest

    from conftest import write_config

    loaded = load_config(write_config(tmp_path))  # stations.yaml configures the air-sheet source
    result = ingest(loaded, "air-sheet", files=[EXAMPLE], add_sites=True)
    assert (result.status, result.new, result.rejected) == ("ok", 12 * 48 * 6, 0)
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        sites = c.execute(
            "select site_id, district, control_level, origin from sites where site_id like 'NB-%'"
        ).fetchall()
        days = c.execute(
            "select count(*), sum(valid) from air_daily where site_id like 'NB-%'"
        ).fetchone()
        flagged = c.execute(
            "select time_local, pm25 from air_hourly where site_id = 'NB-CX01' "
            "and time_local in ('2019-01-01 05:00', '2019-01-01 07:00') order by time_local"
        ).fetchall()
    stated = pd.read_csv(EXAMPLE, encoding="utf-8-sig").groupby("站点编码")["所属区县"].first()
    assert {s: d for s, d, _, _ in sites} == stated.to_dict()
    assert {(lv, o) for _, _, lv, o in sites} == {("省控", "sheet"), ("市控", "sheet")}
    assert days == (24, 24)  # two valid HJ 663 days for each of the 12 stations
    assert flagged[0][1] is None and flagged[1][1] is not None  # the flagged hour is not used


def test_units_systems_and_levels_written_otherwise() -> None:
    sheet = "站点编码,站点名称,监测时间,PM2.5(mg/m³),经度,纬度,坐标系,控制级别\n" + (
        "NB-A1,甲,2019-04-01 01:00,0.035,121.55,29.87,百度,市控\n"
        "NB-B1,乙,2019-04-01 01:00,0.040,121.55,29.87,北京54,省控\n"
        "NB-C1,丙,2019-04-01 01:00,0.045,121.55,29.87,WGS84,国家级\n"
    )
    reading = read(sheet, add_sites=True)
    got = {(r.location, r.raw) for r in reading.rejects}
    assert ("row 3, 坐标系", "北京54") in got and ("row 4, 控制级别", "国家级") in got
    assert "row 3" in {r.location for r in reading.rejects}  # NB-B1 has no usable coordinates
    sites = reading.sites.set_index("site_id")
    assert sites.loc["NB-A1", "crs_source"] == "bd09" and sites.loc["NB-A1", "lon"] < 121.55
    assert sites.loc["NB-C1", "control_level"] == "省控"  # unknown level: not national
    pm25 = reading.observations.set_index("site_id").value
    assert pm25.round(6).to_dict() == {"NB-A1": 35.0, "NB-C1": 45.0}  # mg/m³ converted
