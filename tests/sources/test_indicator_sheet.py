"""Zero-waste city (无废城市) indicator sheets into district observations."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.sources import indicator_sheet
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2019, 1, 7, 4, 0, tzinfo=UTC)

# The indicators the example sheet uses (the lead's stations.yaml carries the same list).
INDICATORS = pd.DataFrame(
    [
        ("hazardous_waste_utilisation", "危险废物利用处置率", "%", ["危废利用处置率"]),
        (
            "industrial_solid_waste_utilisation",
            "一般工业固体废物综合利用率",
            "%",
            ["工业固废综合利用率"],
        ),
        ("domestic_waste_recycling", "生活垃圾回收利用率", "%", ""),
        ("domestic_waste_sorting_coverage", "生活垃圾分类覆盖率", "%", ""),
        ("construction_waste_utilisation", "建筑垃圾综合利用率", "%", ""),
        ("medical_waste_disposal", "医疗废物收集处置率", "%", ""),
        ("hazardous_waste_generated", "危险废物产生量", "吨", ["危废产生量"]),
        ("waste_collection_points", "再生资源回收网点数", "个", ""),
    ],
    columns=["id", "name", "unit", "aliases"],
)


def read(text: str, **kwargs: Any) -> Reading:
    options: dict[str, Any] = {
        "name": "指标.csv",
        "indicators": INDICATORS,
        "district": "镇海区",
        "now": NOW,
        **kwargs,
    }
    return indicator_sheet.read(text.encode(kwargs.pop("encoding", "utf-8")), **options)


def rows(reading: Reading) -> list[tuple[str, str, str, float, str, str]]:
    obs = reading.observations
    ends = obs.period_end.dt.strftime("%Y-%m-%dT%H:%MZ")
    return list(zip(obs.parameter, obs.averaging, ends, obs.value, obs.unit, obs.flag, strict=True))


def xlsx(table: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_csv_lands_as_district_observations_at_the_end_of_each_period() -> None:
    sheet = (
        "indicator,period,value,unit\n"
        "hazardous_waste_utilisation,2018,100,%\n"
        "危废利用处置率,2018-Q4,99.5,\n"
        "危险废物利用处置率,2018-12,98,%\n"
    )
    reading = read(sheet)
    assert reading.rejects == []
    obs = reading.observations
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert str(obs.period_end.dtype) == "datetime64[ns, UTC]"
    assert set(obs.site_id) == {"镇海区"}
    # the period ends at local midnight starting the next one: 2019-01-01 00:00 +08:00
    assert rows(reading) == [
        ("hazardous_waste_utilisation", "year", "2018-12-31T16:00Z", 100.0, "%", ""),
        ("hazardous_waste_utilisation", "quarter", "2018-12-31T16:00Z", 99.5, "%", ""),
        ("hazardous_waste_utilisation", "month", "2018-12-31T16:00Z", 98.0, "%", ""),
    ]
    assert reading.sites.to_dict("records") == [{"site_id": "镇海区", "name": "镇海区"}]


@pytest.mark.parametrize(
    ("period", "averaging", "end"),
    [
        ("2018", "year", "2018-12-31T16:00Z"),
        ("2018年", "year", "2018-12-31T16:00Z"),
        ("2018年度", "year", "2018-12-31T16:00Z"),
        ("2018-Q3", "quarter", "2018-09-30T16:00Z"),
        ("2018q1", "quarter", "2018-03-31T16:00Z"),
        ("2018年第三季度", "quarter", "2018-09-30T16:00Z"),
        ("2018年第2季度", "quarter", "2018-06-30T16:00Z"),
        ("2018年四季度", "quarter", "2018-12-31T16:00Z"),
        ("2018-09", "month", "2018-09-30T16:00Z"),
        ("2018/9", "month", "2018-09-30T16:00Z"),
        ("2018年9月", "month", "2018-09-30T16:00Z"),
        ("2018年12月份", "month", "2018-12-31T16:00Z"),
        ("201802", "month", "2018-02-28T16:00Z"),
    ],
)
def test_period_forms(period: str, averaging: str, end: str) -> None:
    reading = read(f"指标,统计期,数值\n危险废物利用处置率,{period},99\n")
    assert reading.rejects == []
    assert rows(reading) == [("hazardous_waste_utilisation", averaging, end, 99.0, "%", "")]


def test_year_to_date_values_are_provisional_and_periods_not_begun_are_rejected() -> None:
    sheet = (
        "指标,统计期,数值\n"
        "危险废物利用处置率,2019,99\n"  # under way at NOW: a year-to-date value
        "生活垃圾回收利用率,2018年1-11月,37\n"  # a year-to-date span of an ended year
        "危险废物利用处置率,2019-02,100\n"  # has not begun
        "生活垃圾回收利用率,2018年3-9月,37\n"
    )
    reading = read(sheet)
    assert rows(reading) == [
        ("hazardous_waste_utilisation", "year", "2019-12-31T16:00Z", 99.0, "%", "provisional"),
        ("domestic_waste_recycling", "year", "2018-12-31T16:00Z", 37.0, "%", "provisional"),
    ]
    assert [r.location for r in reading.rejects] == ["row 4, 统计期", "row 5, 统计期"]
    assert "has not started yet (it starts 2019-02-01)" in reading.rejects[0].reason
    assert "only spans from January" in reading.rejects[1].reason


@pytest.mark.parametrize(
    ("indicator", "value", "unit", "expected"),
    [
        ("危险废物产生量", "3.62", "万吨", 36200.0),
        ("危险废物产生量", "1200", "kg", 1.2),
        ("危险废物产生量", "85", "t", 85.0),
        ("危险废物产生量", "1,250", "吨", 1250.0),
        ("危险废物利用处置率", "995", "‰", 99.5),
        ("危险废物利用处置率", "98.5%", "", 98.5),
        ("危险废物利用处置率", "98.5", "％", 98.5),
        ("再生资源回收网点数", "12", "处", 12.0),
        ("再生资源回收网点数", "12", "家", 12.0),
    ],
)
def test_units_convert_to_the_indicators_unit(
    indicator: str, value: str, unit: str, expected: float
) -> None:
    reading = read(f'指标名称,统计期,数值,单位\n{indicator},2018,"{value}",{unit}\n')
    assert reading.rejects == []
    assert reading.observations.value.tolist() == [pytest.approx(expected)]


def test_a_unit_in_the_header_applies_to_the_column() -> None:
    reading = read("指标名称,统计期,数值（万吨）\n危险废物产生量,2018,3.62\n")
    assert reading.observations.value.tolist() == [pytest.approx(36200.0)]


def test_a_unit_that_does_not_convert_is_rejected_naming_both_units() -> None:
    sheet = (
        "指标名称,统计期,数值,单位\n危险废物产生量,2018,3.62,万元\n危险废物利用处置率,2018,100,吨\n"
    )
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 2, 数值", "row 3, 数值"]
    assert "unit '万元' does not convert to the indicator's unit '吨'" in reading.rejects[0].reason
    assert "unit '吨' does not convert to the indicator's unit '%'" in reading.rejects[1].reason
    assert reading.observations.empty


def test_an_unknown_indicator_is_rejected_with_a_suggestion_and_good_rows_land() -> None:
    sheet = "指标名称,统计期,数值\n危险废物利用处理率,2018,100\n生活垃圾回收利用率,2018,38.5\n"
    reading = read(sheet)
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("row 2, 指标名称", "危险废物利用处理率")
    ]
    assert (
        "did you mean 危险废物利用处置率 (hazardous_waste_utilisation)" in reading.rejects[0].reason
    )
    assert reading.observations.parameter.tolist() == ["domestic_waste_recycling"]


def test_a_duplicate_row_is_rejected_naming_the_first() -> None:
    sheet = (
        "指标名称,统计期,数值\n"
        "危险废物利用处置率,2018年,100\n"
        "危险废物利用处置率,2018年9月,99\n"
        "hazardous_waste_utilisation,2018,98\n"
    )
    reading = read(sheet)
    assert [r.location for r in reading.rejects] == ["row 4"]
    assert reading.rejects[0].reason.startswith("duplicate of row 2")
    assert sorted(reading.observations.value) == [99.0, 100.0]


def test_bad_values_and_other_districts_are_rejected() -> None:
    sheet = (
        "区县,指标名称,统计期,数值\n"
        "镇海,危险废物利用处置率,2018,100\n"
        "北仑区,危险废物利用处置率,2018,97\n"
        "镇海区,生活垃圾回收利用率,2018,约40\n"
        "镇海区,建筑垃圾综合利用率,2018,\n"
        "镇海区,建筑垃圾综合利用率,2018-13,70\n"
        "镇海区,建筑垃圾综合利用率,2018-09-15,70\n"
    )
    reading = read(sheet)
    got = [(r.location, r.reason) for r in reading.rejects]
    assert [loc for loc, _ in got] == [
        "row 3, 区县",
        "row 4, 数值",
        "row 5, 数值",
        "row 6, 统计期",
        "row 7, 统计期",
    ]
    assert "this row is for '北仑区'" in got[0][1]
    assert "'约40' is not a number" in got[1][1]
    assert "no value" in got[2][1]
    assert "month 13 does not exist" in got[3][1]
    assert "is not a period" in got[4][1]
    assert len(reading.observations) == 1


def test_xlsx_with_chinese_headers_excel_numbers_and_dates() -> None:
    payload = xlsx(
        [
            ["镇海区“无废城市”建设指标完成情况"],
            ["序号", "指标名称", "统计期", "完成值", "计量单位", "目标值", "数据来源"],
            [1, "危险废物利用处置率", 2018, 100, "%", 100, "区生态环境分局"],
            [2, "危废产生量", datetime(2018, 12, 1), 2.95, "千吨", None, None],
            [3, "危废产生量", datetime(2018, 11, 1), 2950, "吨", None, None],
        ]
    )
    reading = indicator_sheet.read(
        payload, name="指标.xlsx", indicators=INDICATORS, district="镇海区", now=NOW
    )
    assert [(r.location, r.raw) for r in reading.rejects] == [("row 4, 完成值", "2.95")]
    assert "unit '千吨'" in reading.rejects[0].reason
    assert rows(reading) == [
        ("hazardous_waste_utilisation", "year", "2018-12-31T16:00Z", 100.0, "%", ""),
        ("hazardous_waste_generated", "month", "2018-11-30T16:00Z", 2950.0, "吨", ""),
    ]


def test_indicators_from_the_config_as_a_list_of_mappings() -> None:
    config = [
        {"id": "hazardous_waste_utilisation", "name": "危险废物利用处置率", "unit": "%"},
        {"id": "hazardous_waste_generated", "name": "危险废物产生量", "unit": "吨"}
        | {"aliases": ["危废产生量"], "goal": None},
    ]
    sheet = "指标,期间,值\n危险废物利用处置率,2018,100\n危废产生量,2018,5\n"
    for indicators in (config, pd.DataFrame(config)):  # aliases NaN where not given
        reading = read(sheet, indicators=indicators)
        assert [r[:2] for r in rows(reading)] == [
            ("hazardous_waste_utilisation", "year"),
            ("hazardous_waste_generated", "year"),
        ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "is empty"),
        ("<html><body>系统维护中</body></html>".encode(), "HTML or XML page"),
        ("指标名称,数值\n危险废物利用处置率,100\n".encode(), "has no period"),
        ("指标名称,统计期,数值\n".encode(), "no data rows"),
    ],
)
def test_unusable_sheets_raise_parse_error(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        indicator_sheet.read(
            payload, name="指标.csv", indicators=INDICATORS, district="镇海区", now=NOW
        )
    assert str(err.value).startswith("indicator sheet 指标.csv: ")


# --- the example sheet for staff ---------------------------------------------------------


def test_the_example_sheet_reads_cleanly() -> None:
    name = "indicator-sheet-example.csv"
    reading = indicator_sheet.read(
        (ROOT / "data/examples" / name).read_bytes(),
        name=name,
        indicators=INDICATORS,
        district="镇海区",
        now=datetime.now(UTC),
    )
    assert reading.rejects == []
    obs = reading.observations
    assert obs.groupby("averaging").size().to_dict() == {"month": 3, "quarter": 1, "year": 7}
    assert set(obs.flag) == {""}
    year = obs[obs.averaging == "year"].set_index("parameter").value
    assert year["hazardous_waste_utilisation"] == 100.0
    assert year["hazardous_waste_generated"] == pytest.approx(36200.0)  # 3.62 万吨
    month = obs[obs.averaging == "month"]
    assert set(month.period_end) == {pd.Timestamp("2019-01-31T16:00Z")}  # 2019-01


def test_a_decimal_comma_is_refused_naming_the_cell() -> None:
    reading = read(
        '指标名称,统计期,数值\n危险废物利用处置率,2018年,"99,5"\n危险废物产生量,2018年,"1,234.5"\n'
    )
    [reject] = reading.rejects
    assert reject.location.startswith("row 2") and reject.raw == "99,5"
    assert "'99.5'" in reject.reason
    assert reading.observations.value.tolist() == [1234.5]
