"""The register of zero-discharge zones (污水零直排区) from sheets and GeoJSON."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from openpyxl import Workbook
from shapely.geometry import shape

from envwatch.errors import ParseError
from envwatch.geo import assign_districts
from envwatch.sources import zone_sheet
from envwatch.sources.base import Reading
from envwatch.sources.zone_sheet import RECORD_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2019, 1, 7, 4, 0, tzinfo=UTC)


def read(payload: str | bytes, **kwargs: Any) -> Reading:
    data = payload.encode() if isinstance(payload, str) else payload
    return zone_sheet.read(data, name=kwargs.pop("name", "zones.csv"), now=NOW, **kwargs)


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SHEET = """零直排区名称,类型,所属镇街,状态,开工日期,计划完成日期,验收日期,复核日期,经度,纬度
澥浦化工区零直排区,工业园区,澥浦镇,已复核,2017-03-01,2018-06-30,2018-06-20,2018-12-28,121.658,30.032
蛟川工业集聚区零直排区,工业集聚区,蛟川街道,创建中,2018-04-01,2019-06-30,,,,
庄市街道锦苑小区零直排区,住宅小区,庄市街道,通过验收,2018-05-10,2019-01-31,2019年1月4日,,121.595,29.945
骆驼街道零直排区,街道,,已验收,,,2018/12/27,,,
"""


def test_csv_register_with_chinese_headers() -> None:
    reading = read(SHEET)
    assert reading.rejects == []
    assert reading.observations.empty
    records = reading.records
    assert records is not None
    assert list(records.columns) == RECORD_COLUMNS
    assert str(records.lon.dtype) == "float64"
    by_id = records.set_index("zone_id")
    assert list(by_id.zone_type) == ["industrial", "industrial", "residential", "town"]
    assert list(by_id.status) == ["reinspected", "building", "accepted", "accepted"]
    first = by_id.loc["澥浦化工区零直排区"]
    assert first["name"] == "澥浦化工区零直排区"  # zone_id is the name without an id column
    assert first["town"] == "澥浦镇"
    assert first["started_on"] == date(2017, 3, 1)
    assert first["reinspected_on"] == date(2018, 12, 28)
    assert (first["lon"], first["lat"]) == (121.658, 30.032)
    assert by_id.loc["庄市街道锦苑小区零直排区", "accepted_on"] == date(2019, 1, 4)
    assert by_id.loc["骆驼街道零直排区", "accepted_on"] == date(2018, 12, 27)
    assert by_id.loc["骆驼街道零直排区", "town"] is None
    assert by_id.loc["蛟川工业集聚区零直排区", "accepted_on"] is None
    assert by_id.loc["蛟川工业集聚区零直排区", "due_on"] == date(2019, 6, 30)
    assert by_id.geometry.isna().all()


def test_xlsx_with_ids_excel_dates_and_a_title_row() -> None:
    payload = xlsx(
        [
            ["镇海区污水零直排区创建情况"],
            [
                "编号",
                "区域名称",
                "区域类型",
                "创建状态",
                "启动日期",
                "验收期限",
                "验收日期",
                "备注",
            ],
            ["ZH-01", "招宝山街道零直排区", "镇街", "已复验", datetime(2017, 5, 1)]
            + [datetime(2018, 6, 30), datetime(2018, 5, 25), None],
            ["ZH-02", "九龙湖镇零直排区", "乡镇", "建设中", datetime(2018, 7, 1)]
            + [datetime(2019, 3, 31), None, "示例"],
        ]
    )
    reading = zone_sheet.read(payload, name="zones.xlsx", now=NOW)
    # 已复验 needs its date, and the sheet has no 复核日期 column
    assert [(r.location, r.raw) for r in reading.rejects] == [("row 3, 创建状态", "已复验")]
    assert "fill 复核日期 (add a 复核日期 column)" in reading.rejects[0].reason
    records = reading.records
    assert records is not None
    assert records.to_dict("records")[0] | {"lon": None, "lat": None} == {
        "zone_id": "ZH-02",
        "name": "九龙湖镇零直排区",
        "zone_type": "town",
        "status": "building",
        "town": None,
        "started_on": date(2018, 7, 1),
        "due_on": date(2019, 3, 31),
        "accepted_on": None,
        "reinspected_on": None,
        "lon": None,
        "lat": None,
        "geometry": None,
    }


def test_bad_rows_are_rejected_with_what_to_fix_and_good_rows_land() -> None:
    sheet = SHEET + (
        "九龙湖镇零直排区,镇街,九龙湖镇,已验收,2018-07-01,2019-03-31,,,,\n"
        "贵驷街道零直排区,开发区,贵驷街道,创建中,,,,,,\n"
        "贵驷街道银杏苑小区零直排区,生活小区,贵驷街道,规划中,,,,,,\n"
        "招宝山街道零直排区,镇街,招宝山街道,已验收,2017-05-01,,2019-01-09,,,\n"
        "澥浦镇零直排区,镇街,澥浦镇,创建中,2019-02-01,2019-12-31,,,,\n"
        "澥浦化工区零直排区,工业园区,澥浦镇,已复核,2017-03-01,,2018-06-20,2018-12-28,,\n"
        "九龙湖工业区零直排区,工业园区,九龙湖镇,创建中,,2020-06-30,,,30.05,121.57\n"
        "蛟川街道零直排区,镇街,蛟川街道,创建中,,,2018-11-30,,,\n"
    )
    reading = read(sheet)
    got = [(r.location, r.reason) for r in reading.rejects]
    assert [loc for loc, _ in got] == [
        "row 6, 验收日期",
        "row 7, 类型",
        "row 8, 状态",
        "row 9, 验收日期",
        "row 10, 开工日期",
        "row 11",
        "row 12, 经度",
        "row 13, 状态",
    ]
    assert "needs the date: fill 验收日期" in got[0][1]
    assert "'开发区' is not 工业园区, 生活小区, 镇街 or 其他" in got[1][1]
    assert "'规划中' is not 创建中, 已验收 or 已复核" in got[2][1]
    assert "2019-01-09 is in the future" in got[3][1]
    assert "2019-02-01 is in the future" in got[4][1]
    assert got[5][1].startswith("duplicate of row 2")
    assert "look swapped" in got[6][1]
    assert "still being built but 验收日期 is filled" in got[7][1]
    records = reading.records
    assert records is not None and len(records) == 4  # due_on ahead (2020) is fine elsewhere


def test_geojson_features_carry_outlines_and_a_point_inside() -> None:
    square = [[121.60, 29.98], [121.63, 29.98], [121.63, 30.00], [121.60, 30.00], [121.60, 29.98]]
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "骆驼街道零直排区", "zone_type": "town"}
                | {"status": "accepted", "accepted_on": "2018-12-27", "OBJECTID": 1},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            },
            {
                "type": "Feature",
                "properties": {"名称": "九龙湖镇零直排区", "状态": "创建中", "面积": 12.5},
                "geometry": None,
            },
            {
                "type": "Feature",
                "properties": {"名称": "投影坐标的区", "状态": "创建中"},
                "geometry": {"type": "Point", "coordinates": [13531000.0, 3493000.0]},
            },
        ],
    }
    reading = read(json.dumps(collection, ensure_ascii=False), name="zones.geojson")
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("feature 3, geometry", '{"type": "Point", "coordinates": [13531000.0, 3493000.0]}')
    ]
    assert "outside China" in reading.rejects[0].reason
    records = reading.records
    assert records is not None
    first, second = records.to_dict("records")
    outline = shape(json.loads(first["geometry"]))
    assert outline.equals(shape({"type": "Polygon", "coordinates": [square]}))
    assert outline.contains(shapely.Point(first["lon"], first["lat"]))
    assert first["accepted_on"] == date(2018, 12, 27)
    assert second["geometry"] is None and second["zone_type"] == "other"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "is empty"),
        (b"<html><head><title>502 Bad Gateway</title></head></html>", "HTML or XML page"),
        (b'{"type": "FeatureCollection", "features": [', "broken JSON at line 1"),
        (b'{"rows": []}', "not a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "holds no features"),
        (
            b'{"type": "FeatureCollection", "crs": {"type": "name", "properties": '
            b'{"name": "EPSG:3857"}}, "features": []}',
            "export the GeoJSON in WGS-84",
        ),
        ("名称,类型\n骆驼街道零直排区,镇街\n".encode(), "has no status"),
    ],
)
def test_unusable_files_raise_parse_error(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        read(payload, name="zones.json")
    assert str(err.value).startswith("zone sheet zones.json: ")


def test_geojson_without_the_required_properties_says_what_to_add() -> None:
    collection = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]}
    with pytest.raises(ParseError, match="no feature has a property for name, status"):
        read(json.dumps(collection), name="zones.geojson")


# --- the example files for staff ---------------------------------------------------------


def example(name: str) -> Reading:
    payload = (ROOT / "data/examples" / name).read_bytes()
    return zone_sheet.read(payload, name=name, now=datetime.now(UTC))


def test_the_example_sheet_and_geojson_read_cleanly_and_agree() -> None:
    csv_reading, geo_reading = (
        example("zone-sheet-example.csv"),
        example("zone-sheet-example.geojson"),
    )
    assert csv_reading.rejects == [] and geo_reading.rejects == []
    assert csv_reading.records is not None and geo_reading.records is not None
    plain = [c for c in RECORD_COLUMNS if c not in ("lon", "lat", "geometry")]
    assert csv_reading.records[plain].equals(geo_reading.records[plain])
    records = geo_reading.records
    assert len(records) == 7
    assert set(records.zone_type) == {"industrial", "residential", "town"}
    assert set(records.status) == {"building", "accepted", "reinspected"}
    # some acceptances and re-inspections fall in ISO week 2019-W01 (2018-12-31 ... 2019-01-06)
    week = [date(2018, 12, 31), date(2019, 1, 6)]
    in_week = [
        d
        for d in [*records.accepted_on, *records.reinspected_on]
        if d is not None and week[0] <= d <= week[1]
    ]
    assert len(in_week) == 2
    for frame in (records, csv_reading.records):
        districts = assign_districts(list(frame.lon), list(frame.lat), "浙江省", "宁波市")
        assert districts == ["镇海区"] * 7
    for text in records.geometry:
        vertices = shapely.get_coordinates(shape(json.loads(text)))
        districts = assign_districts(list(vertices[:, 0]), list(vertices[:, 1]), "浙江省", "宁波市")
        assert set(districts) == {"镇海区"}
