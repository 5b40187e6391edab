"""The register of zero-waste cells (无废城市细胞) from staff sheets."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.geo import assign_districts
from envwatch.sources import cells_sheet
from envwatch.sources.base import Reading
from envwatch.sources.cells_sheet import DEFAULT_CELL_TYPES, RECORD_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2019, 1, 7, 4, 0, tzinfo=UTC)


def read(text: str, **kwargs: Any) -> Reading:
    options: dict[str, Any] = {
        "name": "细胞.csv",
        "cell_types": DEFAULT_CELL_TYPES,
        "now": NOW,
        **kwargs,
    }
    return cells_sheet.read(text.encode(), **options)


def records(reading: Reading) -> pd.DataFrame:
    assert reading.records is not None
    return reading.records


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SHEET = """名称,类型,地址,经度,纬度,状态,建成日期
镇海示例石化有限公司,企业,镇海区澥浦镇示例路1号,121.66,30.028,已命名,2018-09-20
招宝山街道示例社区,无废社区,,121.712,29.948,通过评估,2018/11/15
招宝山示例大酒店,宾馆,,,,已建成,2019年1月2日
骆驼街道示例小区,无废小区,,,,培育中,
镇海示例客运站,无废车站,,,,,2019-01-03
蛟川示例写字楼,写字楼,,,,创建中,
"""


def test_csv_register_with_aliases_mapped_to_the_configured_types() -> None:
    reading = read(SHEET)
    assert reading.rejects == []
    assert reading.observations.empty
    frame = records(reading)
    assert list(frame.columns) == RECORD_COLUMNS
    assert list(frame.cell_type) == ["工厂", "小区", "饭店", "小区", "车站", "机关"]
    assert list(frame.status) == ["built", "built", "built", "building", "built", "building"]
    first = frame.iloc[0].to_dict()
    assert first == {
        "cell_id": "镇海示例石化有限公司/工厂",
        "name": "镇海示例石化有限公司",
        "cell_type": "工厂",
        "address": "镇海区澥浦镇示例路1号",
        "lon": 121.66,
        "lat": 30.028,
        "status": "built",
        "built_on": date(2018, 9, 20),
    }
    assert list(frame.built_on)[2:4] == [date(2019, 1, 2), None]
    assert frame.address.iloc[1] is None
    assert frame.lon.isna().sum() == 4


def test_xlsx_with_chinese_headers_ids_excel_dates_and_a_title_row() -> None:
    payload = xlsx(
        [
            ["镇海区“无废城市细胞”建设清单（2019年）"],
            [],
            ["序号", "细胞编号", "细胞名称", "细胞类型", "详细地址", "经度", "纬度"]
            + ["创建状态", "命名日期", "所属镇街"],
            [1, "ZH-XB-001", "庄市示例小学", "无废学校", "庄市街道示例路20号", 121.598, 29.942]
            + ["已命名", datetime(2019, 1, 3), "庄市街道"],
            [2, "ZH-XB-002", "九龙湖示例景区", "景区", None, "121°34′12″", "30°1′48″"]
            + ["已命名", datetime(2018, 10, 30), "九龙湖镇"],
            [3, "ZH-XB-003", "九龙湖示例石矿", "矿山", None, None, None, "创建中", None, None],
        ]
    )
    reading = cells_sheet.read(payload, name="细胞.xlsx", cell_types=DEFAULT_CELL_TYPES, now=NOW)
    assert reading.rejects == []
    frame = records(reading).set_index("cell_id")
    assert list(frame.index) == ["ZH-XB-001", "ZH-XB-002", "ZH-XB-003"]
    assert frame.loc["ZH-XB-001", "built_on"] == date(2019, 1, 3)
    assert frame.loc["ZH-XB-001", "cell_type"] == "学校"
    assert frame.loc["ZH-XB-002", "lon"] == pytest.approx(121.57)
    assert frame.loc["ZH-XB-002", "lat"] == pytest.approx(30.03)
    assert frame.loc["ZH-XB-003", "status"] == "building"


def test_cell_types_as_a_dataframe_like_the_config() -> None:
    types = pd.DataFrame({"type": ["医院", "工厂"], "aliases": [["无废医院"], ""]})
    reading = read(
        "名称,类型,状态\n示例医院,无废医院,创建中\n示例厂,工厂,创建中\n示例校,学校,创建中\n",
        cell_types=types,
    )
    assert list(records(reading).cell_type) == ["医院", "工厂"]
    assert [r.raw for r in reading.rejects] == ["学校"]


def test_bad_rows_are_rejected_with_what_to_fix_and_good_rows_land() -> None:
    sheet = SHEET + (
        "示例电厂,无废工场,,,,已命名,2018-05-01\n"
        "示例中学,学校,,,,已命名,\n"
        "示例饭店,饭店,,,,已命名,2019-01-09\n"
        "示例商场,商场,,30.0,121.7,已命名,2018-05-01\n"
        "镇海示例石化有限公司,工厂,,,,已命名,2018-09-20\n"
        "示例景区,景区,,,,创建中,2018-05-01\n"
        "示例机关,机关,,,,待定,\n"
    )
    reading = read(sheet)
    got = [(r.location, r.reason) for r in reading.rejects]
    assert [loc for loc, _ in got] == [
        "row 8, 类型",
        "row 9, 建成日期",
        "row 10, 建成日期",
        "row 11, 经度",
        "row 12",
        "row 13, 状态",
        "row 14, 状态",
    ]
    assert "did you mean 工厂" in got[0][1] and "工厂/小区/学校/饭店" in got[0][1]
    assert "a built cell needs its date: fill 建成日期" in got[1][1]
    assert "2019-01-09 is in the future" in got[2][1]
    assert "outside China" in got[3][1] and "swapped" in got[3][1]
    assert got[4][1].startswith("duplicate of row 2")
    assert "still being built" in got[5][1]
    assert "'待定' is not 已建成/已命名" in got[6][1]
    assert len(records(reading)) == 6


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "is empty"),
        (b"<!doctype html><html><body>404</body></html>", "HTML or XML page"),
        ("名称,地址\n示例,路\n".encode(), "has no cell_type"),
        ("名称,类型,状态\n".encode(), "no data rows"),
    ],
)
def test_unusable_sheets_raise_parse_error(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        cells_sheet.read(payload, name="细胞.csv", cell_types=DEFAULT_CELL_TYPES, now=NOW)
    assert str(err.value).startswith("cells sheet 细胞.csv: ")


def test_default_cell_types_are_the_nine_kinds() -> None:
    kinds = [t["type"] for t in DEFAULT_CELL_TYPES]
    assert kinds == ["工厂", "小区", "学校", "饭店", "商场", "景区", "车站", "机关", "矿山"]


# --- the example sheet for staff ---------------------------------------------------------


def test_the_example_sheet_reads_cleanly() -> None:
    name = "cells-sheet-example.csv"
    reading = cells_sheet.read(
        (ROOT / "data/examples" / name).read_bytes(),
        name=name,
        cell_types=DEFAULT_CELL_TYPES,
        now=datetime.now(UTC),
    )
    assert reading.rejects == []
    frame = records(reading)
    assert len(frame) == 13
    assert set(frame.cell_type) == {t["type"] for t in DEFAULT_CELL_TYPES}
    built = frame[frame.status == "built"]
    years = pd.Series([d.year for d in built.built_on]).value_counts().to_dict()
    assert years == {2018: 6, 2019: 3}
    districts = assign_districts(list(frame.lon), list(frame.lat), "浙江省", "宁波市")
    assert districts == ["镇海区"] * 13
