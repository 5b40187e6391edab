"""Staff outfall (排口) inspection sheets into canonical observations (污水零直排区)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.geo import assign_districts
from envwatch.sources import outfall_sheet
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2019, 1, 7, 4, 0, tzinfo=UTC)  # Monday 12:00 in Ningbo, after ISO week 2019-W01

KNOWN = pd.DataFrame(
    {
        "site_id": ["XP-YS-01", "JC-HL-01", "1236A"],
        "name": ["澥浦化工区雨水排口01", "蛟川工业集聚区雨污合流排口01", "龙赛医院"],
        "kind": ["outfall", "outfall", "air"],
        "outfall_type": ["rain", "combined", None],
    }
)


def read(text: str, *, encoding: str = "utf-8", **kwargs: Any) -> Reading:
    options: dict[str, Any] = {"name": "巡查.csv", "known_sites": KNOWN, "now": NOW, **kwargs}
    return outfall_sheet.read(text.encode(encoding), **options)


def values(reading: Reading) -> dict[tuple[str, str, str], tuple[float, str]]:
    """(site, parameter, local time) -> (value, flag)."""
    obs = reading.observations
    local = obs.period_end.dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M")
    return {
        (s, p, t): (v, f)
        for s, p, t, v, f in zip(
            obs.site_id, obs.parameter, local, obs.value, obs.flag, strict=True
        )
    }


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SHEET = """outfall,inspected_at,weather,discharging,flow,nh3n,cod,tp
XP-YS-01,2019-01-02 09:25,dry,no,,,,
蛟川工业集聚区雨污合流排口01,2019-01-02 10:05,晴,是,3.5,8.6,112,1.15
XP-YS-01,2019-01-04 10:15,小雨,yes,45,0.05L,<20,0.52
"""


def test_csv_lands_in_canonical_form() -> None:
    reading = read(SHEET)
    assert reading.rejects == []
    obs = reading.observations
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert str(obs.period_end.dtype) == "datetime64[ns, UTC]"
    assert set(obs.averaging) == {"inspection"}
    got = values(reading)
    assert got[("XP-YS-01", "rain", "2019-01-02 09:25")] == (0.0, "")
    assert got[("XP-YS-01", "discharging", "2019-01-02 09:25")] == (0.0, "")
    assert got[("JC-HL-01", "discharging", "2019-01-02 10:05")] == (1.0, "")
    assert got[("JC-HL-01", "flow", "2019-01-02 10:05")] == (3.5, "")
    assert got[("JC-HL-01", "cod", "2019-01-02 10:05")] == (112.0, "")
    assert got[("XP-YS-01", "rain", "2019-01-04 10:15")] == (1.0, "")
    assert got[("XP-YS-01", "nh3n", "2019-01-04 10:15")] == (0.025, "below_detection")
    assert got[("XP-YS-01", "cod", "2019-01-04 10:15")] == (10.0, "below_detection")
    assert len(got) == 2 + 6 + 6
    units = dict(zip(obs.parameter, obs.unit, strict=True))
    assert units == {
        "rain": "1",
        "discharging": "1",
        "flow": "m³/h",
        "nh3n": "mg/L",
        "cod": "mg/L",
        "tp": "mg/L",
    }
    # local 09:25 in Ningbo is 01:25 UTC
    assert obs.period_end.min() == pd.Timestamp("2019-01-02T01:25Z")
    sites = reading.sites.set_index("site_id")
    assert sorted(sites.index) == ["JC-HL-01", "XP-YS-01"]
    assert not sites["new"].any()
    assert sites.loc["JC-HL-01", "name"] == "蛟川工业集聚区雨污合流排口01"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_csv_encodings_excel_writes(encoding: str) -> None:
    sheet = SHEET.replace("outfall,inspected_at,weather,discharging", "排口,巡查时间,天气,是否排水")
    if encoding == "utf-16":  # Excel "Unicode text" is tab-separated
        sheet = sheet.replace(",", "\t")
    assert values(read(sheet, encoding=encoding)) == values(read(SHEET))


def test_xlsx_with_chinese_headers_title_row_units_and_split_date_time() -> None:
    payload = xlsx(
        [
            ["镇海区污水零直排区排口巡查记录表（2019年1月）"],
            [
                "序号",
                "排口名称",
                "巡查日期",
                "巡查时间",
                "天气",
                "是否排水",
                "流量（m³/d）",
                "氨氮(mg/L)",
                "COD(Cr)",
                "总磷（以P计）(μg/L)",
                "巡查人",
                "备注",
            ],
            [1, "澥浦化工区雨水排口01", datetime(2019, 1, 3), time(9, 30), "晴转小雨", "是"]
            + [240, "0.42", 18, 120, "张三", "雨后复查"],
            [2, "蛟川工业集聚区雨污合流排口01", datetime(2019, 1, 3), None, "多云", 0]
            + [None, None, None, None, "张三", None],
            ["注：本表为示例"],
        ]
    )
    reading = outfall_sheet.read(payload, name="一月.xlsx", known_sites=KNOWN, now=NOW)
    assert reading.rejects == []
    got = values(reading)
    assert got[("XP-YS-01", "rain", "2019-01-03 09:30")] == (1.0, "")
    assert got[("XP-YS-01", "flow", "2019-01-03 09:30")] == (10.0, "")  # 240 m³/d
    assert got[("XP-YS-01", "tp", "2019-01-03 09:30")] == (pytest.approx(0.12), "")  # 120 µg/L
    assert got[("XP-YS-01", "cod", "2019-01-03 09:30")] == (18.0, "")
    assert got[("JC-HL-01", "rain", "2019-01-03 00:00")] == (0.0, "")  # a date alone: 00:00
    assert got[("JC-HL-01", "discharging", "2019-01-03 00:00")] == (0.0, "")


@pytest.mark.parametrize(
    ("header", "cell", "expected"),
    [
        ("流量(L/s)", "10", 36.0),
        ("流量(t/h)", "12", 12.0),
        ("流量m3/h", "12", 12.0),
        ("流量", "48 m³/d", 2.0),
        ("流量(立方米/小时)", "7", 7.0),
    ],
)
def test_flow_units_are_converted_to_cubic_metres_per_hour(
    header: str, cell: str, expected: float
) -> None:
    sheet = f'排口,巡查时间,是否排水,{header}\nXP-YS-01,2019-01-02 09:00,是,"{cell}"\n'
    assert values(read(sheet))[("XP-YS-01", "flow", "2019-01-02 09:00")] == (expected, "")


def test_unknown_outfall_gets_a_suggestion_and_good_rows_land() -> None:
    sheet = SHEET + "澥浦化工区雨水排口1,2019-01-05 09:00,晴,否,,,,\n"
    reading = read(sheet)
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("row 5, outfall", "澥浦化工区雨水排口1")
    ]
    reason = reading.rejects[0].reason
    assert "did you mean 澥浦化工区雨水排口01 (XP-YS-01)?" in reason
    assert "--add-sites" in reason
    assert len(reading.observations) == 14
    # an air station is not an outfall
    assert read("排口,巡查时间,天气\n1236A,2019-01-02,晴\n").rejects[0].raw == "1236A"


def test_add_sites_adds_new_outfalls_with_their_type() -> None:
    sheet = (
        "排口编号,排口名称,巡查时间,天气,是否排水,所属零直排区,受纳水体,排口类型,经度,纬度\n"
        "ZS-YS-01,庄市街道锦苑小区雨水排口,2019-01-04 10:15,小雨,是,庄市街道锦苑小区零直排区,"
        "庄市中心河,雨水排口,121.5950,29.9450\n"
        "ZS-YS-01,庄市街道锦苑小区雨水排口,2019-01-05 10:00,晴,否,,,,,\n"
        "LT-X,骆驼某排口,2019-01-05 11:00,晴,否,,,,,\n"
        "XP-YS-01,,2019-01-05 12:00,晴,否,,,,,\n"
    )
    reading = read(sheet, add_sites=True)
    assert [(r.location, r.site_id) for r in reading.rejects] == [("row 4", "LT-X")]
    assert "fill 排口类型" in reading.rejects[0].reason
    sites = reading.sites.set_index("site_id")
    assert sites.loc["ZS-YS-01"].to_dict() == {
        "name": "庄市街道锦苑小区雨水排口",
        "new": True,
        "zone": "庄市街道锦苑小区零直排区",
        "receiving_water": "庄市中心河",
        "outfall_type": "rain",
        "lon": 121.595,
        "lat": 29.945,
    }
    assert assign_districts([121.595], [29.945], "浙江省", "宁波市") == ["镇海区"]
    assert not sites.loc["XP-YS-01", "new"]
    assert reading.observations.site_id.value_counts().to_dict() == {"ZS-YS-01": 4, "XP-YS-01": 2}


def test_a_new_outfall_without_a_type_column_is_rejected_saying_to_add_it() -> None:
    reading = read("排口,巡查时间,天气\n新排口,2019-01-02,晴\n", add_sites=True)
    assert len(reading.rejects) == 1
    assert "add a 排口类型 (outfall_type) column" in reading.rejects[0].reason
    assert reading.observations.empty


def test_a_time_in_the_future_is_rejected() -> None:
    sheet = (
        "排口,巡查时间,天气\n"
        "XP-YS-01,2019-01-07 12:30,晴\n"  # 04:30 UTC, within the hour after NOW
        "XP-YS-01,2019-01-08 09:00,晴\n"
    )
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 3, 巡查时间"]
    assert "2019-01-08 09:00 is in the future" in reading.rejects[0].reason
    assert len(reading.observations) == 1


def test_a_unit_that_does_not_convert_rejects_the_cell_naming_column_and_unit() -> None:
    sheet = "排口,巡查时间,是否排水,氨氮(mg/m³),总磷\nXP-YS-01,2019-01-02 09:00,是,1.2,0.1\n"
    reading = read(sheet)
    assert len(reading.rejects) == 1
    reject = reading.rejects[0]
    assert reject.location == "row 2, 氨氮(mg/m³)"
    assert reject.parameter == "nh3n"
    assert "unit 'mg/m3' does not convert to mg/L" in reject.reason
    assert set(reading.observations.parameter) == {"discharging", "tp"}


def test_a_duplicate_row_is_rejected_naming_the_first() -> None:
    sheet = SHEET + "XP-YS-01,2019-01-04 10:15,小雨,是,50,,,\n"
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 5"]
    assert reading.rejects[0].reason.startswith("duplicate of row 4")
    assert values(reading)[("XP-YS-01", "flow", "2019-01-04 10:15")] == (45.0, "")


def test_bad_words_and_numbers_name_the_cell_and_the_rest_of_the_row_lands() -> None:
    sheet = (
        "排口,巡查时间,天气,是否排水,流量,氨氮,总磷\n"
        "XP-YS-01,2019-01-02 09:00,雪,也许,5,ND,abc\n"
        "JC-HL-01,2019-01-02 10:00,晴,否,5,0.5,\n"
        "JC-HL-01,2019/1/3,,,,,\n"
        "JC-HL-01,昨天,晴,否,,,\n"
    )
    reading = read(sheet)
    got = [(r.location, r.raw) for r in reading.rejects]
    assert got == [
        ("row 2, 天气", "雪"),
        ("row 2, 是否排水", "也许"),
        ("row 2, 氨氮", "ND"),
        ("row 2, 总磷", "abc"),
        ("row 3, 流量", "5"),
        ("row 4", "JC-HL-01, 2019/1/3"),
        ("row 5, 巡查时间", "昨天"),
    ]
    reasons = [r.reason for r in reading.rejects]
    assert "晴/阴/多云" in reasons[0] and "是/否" in reasons[1]
    assert "no detection limit" in reasons[2]
    assert "not discharging" in reasons[4]
    assert "nothing recorded" in reasons[5]
    assert "not a date" in reasons[6]
    assert values(reading) == {
        ("XP-YS-01", "flow", "2019-01-02 09:00"): (5.0, ""),
        ("JC-HL-01", "rain", "2019-01-02 10:00"): (0.0, ""),
        ("JC-HL-01", "discharging", "2019-01-02 10:00"): (0.0, ""),
        ("JC-HL-01", "nh3n", "2019-01-02 10:00"): (0.5, ""),
    }


def test_unknown_columns_are_reported_once_with_a_suggestion() -> None:
    sheet = "排口,巡查时间,天汽,pH\nXP-YS-01,2019-01-02,晴,7\n"
    reading = read(sheet)
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("row 1 (header)", "天汽"),
        ("row 1 (header)", "pH"),
        ("row 2", "XP-YS-01, 2019-01-02, 晴, 7"),  # nothing usable is left
    ]
    assert "did you mean '天气'?" in reading.rejects[0].reason


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "is empty"),
        (b"  \r\n", "is empty"),
        ("<!DOCTYPE html>\n<html><body>登录</body></html>".encode(), "HTML or XML page"),
        (b'{"error": "session expired"}', "JSON file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old Excel .xls"),
        (b"PK\x03\x04 not really a zip", "not a readable XLSX"),
        (
            "排口,天气\nXP-YS-01,晴\n".encode(),
            "row 1 looks like the header but has no inspected_at",
        ),
        (b"a,b\n1,2\n", "no header row with an outfall"),
        ("排口,巡查时间\n".encode(), "no data rows"),
    ],
)
def test_unusable_sheets_raise_parse_error_naming_the_file(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        outfall_sheet.read(payload, name="巡查.csv", known_sites=KNOWN, now=NOW)
    assert "outfall sheet 巡查.csv" in str(err.value)
    assert "\n" not in str(err.value)


# --- the example sheet for staff ---------------------------------------------------------


def test_the_example_sheet_reads_cleanly_with_add_sites() -> None:
    name = "outfall-sheet-example.csv"
    reading = outfall_sheet.read(
        (ROOT / "data/examples" / name).read_bytes(),
        name=name,
        known_sites=pd.DataFrame(columns=["site_id", "name"]),
        add_sites=True,
        now=datetime.now(UTC),
    )
    assert reading.rejects == []
    sites = reading.sites
    assert len(sites) == 8 and sites["new"].all()
    assert set(sites.outfall_type) == {"rain", "combined", "sewage"}
    assert assign_districts(list(sites.lon), list(sites.lat), "浙江省", "宁波市") == ["镇海区"] * 8
    obs = reading.observations
    local_day = obs.period_end.dt.tz_convert("Asia/Shanghai").dt.date
    week1 = obs[(local_day >= date(2018, 12, 31)) & (local_day <= date(2019, 1, 6))]
    inspections = week1[week1.parameter == "rain"]
    assert len(inspections) == 7
    assert local_day.min() == date(2018, 12, 11)  # earlier weeks too
    # one outfall discharging on a dry day in 2019-W01
    wide = week1.pivot_table(index=["site_id", "period_end"], columns="parameter", values="value")
    dry_discharge = wide[(wide.rain == 0) & (wide.discharging == 1)]
    assert list(dry_discharge.index.get_level_values("site_id")) == ["JC-HL-01", "LT-WS-01"]


def test_a_decimal_comma_is_refused_naming_the_cell_not_read_as_thousands() -> None:
    # issue 15: '0,520' used to land as 520 mg/L; '1,234.5' is a thousands separator
    sheet = '排口编号,巡查时间,天气,是否排水,流量(m³/h),氨氮(mg/L)\nJC-HL-01,2019-01-02 09:00,晴,是,"1,234.5","0,520"\n'
    reading = read(sheet)
    [reject] = reading.rejects
    assert (reject.location, reject.raw) == ("row 2, 氨氮(mg/L)", "0,520")
    assert "'0.520'" in reject.reason
    got = values(reading)
    assert got[("JC-HL-01", "flow", "2019-01-02 09:00")] == (1234.5, "")
    assert ("JC-HL-01", "nh3n", "2019-01-02 09:00") not in got


@pytest.mark.parametrize("cell", ["——", "null", "NA", "N/A", "—"])
def test_every_not_given_mark_is_the_same_as_an_empty_cell(cell: str) -> None:
    sheet = f"排口编号,巡查时间,天气,是否排水,氨氮\nJC-HL-01,2019-01-02 09:00,晴,是,{cell}\n"
    reading = read(sheet)
    assert reading.rejects == []
    assert ("JC-HL-01", "nh3n", "2019-01-02 09:00") not in values(reading)
