"""Staff lab sheets (CSV and XLSX) into canonical water observations (issue 4)."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.sources import lab_sheet
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading
from envwatch.standards.water import classify

ROOT = Path(__file__).resolve().parents[2]

KNOWN = pd.DataFrame(
    {
        "site_id": ["浙江省/大嵩", "浙江省/梁桥", "浙江省/四灶浦闸", "1236A"],
        "name": ["大嵩", "梁桥", "四灶浦闸", "大嵩"],
        "kind": ["water", "water", "water", "air"],
        "water_type": ["river", "river", "river", None],
    }
)


def read(text: str, *, encoding: str = "utf-8", **kwargs: object) -> Reading:
    options: dict = {"name": "sheet.csv", "known_sites": KNOWN, **kwargs}
    return lab_sheet.read(text.encode(encoding), **options)


def values(reading: Reading) -> dict[tuple[str, str], tuple[float, str]]:
    obs = reading.observations
    return {
        (s, p): (v, f)
        for s, p, v, f in zip(obs.site_id, obs.parameter, obs.value, obs.flag, strict=True)
    }


SHEET = """section,sampled_at,ph,do,nh3n,tp
大嵩,2026-08-03 09:30,7.6,6.2,0.42,0.11
浙江省/四灶浦闸,2026-08-03,7.9,4.4,1.58,0.28
"""


def test_csv_with_codes_lands_in_canonical_form() -> None:
    reading = read(SHEET)
    assert reading.rejects == []
    obs = reading.observations
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert set(obs.averaging) == {"sample"} and set(obs.flag) == {""}
    got = values(reading)
    assert got[("浙江省/大嵩", "nh3n")] == (0.42, "")
    assert got[("浙江省/四灶浦闸", "do")] == (4.4, "")
    assert set(obs.unit) == {"1", "mg/L"}
    times = obs.groupby("site_id").period_end.first()
    assert times["浙江省/大嵩"] == pd.Timestamp("2026-08-03T01:30Z")  # 09:30 CST
    assert times["浙江省/四灶浦闸"] == pd.Timestamp("2026-08-02T16:00Z")  # a date: local 00:00
    assert reading.sites.set_index("site_id").loc["浙江省/大嵩", "new"] == False  # noqa: E712


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_csv_encodings_excel_writes(encoding: str) -> None:
    sheet = SHEET.replace("section,sampled_at", "断面名称,采样时间")
    if encoding == "utf-16":  # Excel "Unicode text" is tab-separated
        sheet = sheet.replace(",", "\t")
    assert values(read(sheet, encoding=encoding)) == values(read(SHEET))


def test_classes_from_a_sheet() -> None:
    obs = read(SHEET).observations
    wide = obs.pivot_table(index="site_id", columns="parameter", values="value")
    # 大嵩: do 6.2 Ⅱ, nh3n 0.42 Ⅱ, tp 0.11 Ⅲ -> Ⅲ; 四灶浦闸: do 4.4 Ⅳ, nh3n 1.58 Ⅴ, tp 0.28 Ⅳ -> Ⅴ
    assert classify(wide, "river")["class"].to_dict() == {"浙江省/大嵩": 3, "浙江省/四灶浦闸": 5}


@pytest.mark.parametrize(
    "cell", ["0.05L", "0.05l", "<0.05", "＜0.05", "ND(0.05)", "未检出（0.05）"]
)
def test_below_detection_is_half_the_limit_and_flagged(cell: str) -> None:
    reading = read(f"section,sampled_at,tp\n大嵩,2026-08-03,{cell}\n")
    assert values(reading) == {("浙江省/大嵩", "tp"): (0.025, "below_detection")}


def test_bare_nd_is_rejected_asking_for_the_limit() -> None:
    reading = read("section,sampled_at,tp,nh3n\n大嵩,2026-08-03,ND,0.3\n")
    [reject] = reading.rejects
    assert reject.location == "row 2, tp"
    assert "ND(0.01)" in reject.reason
    assert values(reading) == {("浙江省/大嵩", "nh3n"): (0.3, "")}


@pytest.mark.parametrize("unit", ["µg/L", "μg/L", "ug/L", "（μg/L）"])
def test_micrograms_per_litre_are_converted_to_mg(unit: str) -> None:
    header = f"汞{unit}" if unit.startswith("（") else f"汞({unit})"
    reading = read(f"断面,采样时间,{header}\n大嵩,2026-08-03,0.05\n大嵩,2026-09-03,0.04L\n")
    assert reading.rejects == []
    obs = reading.observations
    assert list(zip(obs.value, obs.flag, strict=True)) == [
        (0.00005, ""),
        (0.00002, "below_detection"),
    ]
    assert set(reading.observations.unit) == {"mg/L"}


def test_misspelt_section_is_rejected_with_a_suggestion_and_good_rows_land() -> None:
    reading = read("section,sampled_at,nh3n\n大嵩,2026-08-03,0.4\n四灶浦,2026-08-03,1.2\n")
    [reject] = reading.rejects
    assert reject.location == "row 3"
    assert "did you mean 四灶浦闸 (浙江省/四灶浦闸)" in reject.reason
    assert "--add-sites" in reject.reason
    assert list(values(reading)) == [("浙江省/大嵩", "nh3n")]


def test_a_name_shared_by_two_sections_asks_for_the_id() -> None:
    district = pd.DataFrame({"site_id": ["区控/梁桥"], "name": ["梁桥"], "kind": ["water"]})
    known = pd.concat([KNOWN, district], ignore_index=True)
    sheet = "section,sampled_at,nh3n\n梁桥,2026-08-03,0.4\n区控/梁桥,2026-08-03,0.5\n"
    reading = read(sheet, known_sites=known)
    [reject] = reading.rejects
    assert reject.location == "row 2" and "write the id: 区控/梁桥, 浙江省/梁桥" in reject.reason
    assert list(values(reading)) == [("区控/梁桥", "nh3n")]


def test_air_stations_are_not_sections() -> None:
    reading = read("section,sampled_at,nh3n\n1236A,2026-08-03,0.4\n")
    assert reading.observations.empty and "unknown section" in reading.rejects[0].reason


def test_add_sites_adds_new_sections_that_have_a_water_type() -> None:
    sheet = (
        "断面名称,采样时间,水体类型,经度,纬度,氨氮\n"
        "新河闸,2026-08-03,河流,121.70,29.96,0.8\n"
        "新河闸,2026-09-03,,,,0.9\n"
        "九龙湖,2026-08-03,,,,0.3\n"
    )
    reading = read(sheet, add_sites=True)
    assert [r.location for r in reading.rejects] == ["row 4"]
    assert "water_type" in reading.rejects[0].reason
    sites = reading.sites.set_index("site_id")
    assert list(sites.loc["新河闸", ["name", "water_type", "lon", "lat", "new"]]) == [
        "新河闸",
        "river",
        121.70,
        29.96,
        True,
    ]
    assert len(reading.observations) == 2
    without = read(sheet)
    assert [r.location for r in without.rejects] == ["row 2", "row 3", "row 4"]


def test_water_type_in_chinese_and_disagreement_with_the_registry() -> None:
    sheet = (
        "section,sampled_at,water_type,nh3n\n大嵩,2026-08-03,湖库,0.4\n大嵩,2026-09-03,河流,0.4\n"
    )
    reading = read(sheet)
    [reject] = reading.rejects
    assert reject.location == "row 2, water_type" and "site registry" in reject.reason
    assert len(reading.observations) == 2  # the values still land


def test_bad_cells_name_row_and_column_and_the_rest_of_the_row_lands() -> None:
    sheet = (
        "断面名称,采样时间,pH,氨氮(mg/L),总磷(mg/L)\n大嵩,2026-08-03,15,0.4O,-0.1\n大嵩,8/3,7,1,1\n"
    )
    reading = read(sheet)
    got = {(r.location, r.raw) for r in reading.rejects}
    assert got == {
        ("row 2, 氨氮(mg/L)", "0.4O"),
        ("row 2, 总磷(mg/L)", "-0.1"),
        ("row 3, 采样时间", "8/3"),
    }
    assert all(r.reason for r in reading.rejects)
    # pH 15 is a number: the reader passes it on, the central plausibility check refuses it
    assert values(reading) == {("浙江省/大嵩", "ph"): (15.0, "")}


def test_empty_and_dash_cells_are_not_measured() -> None:
    reading = read("section,sampled_at,ph,nh3n,tp,do\n大嵩,2026-08-03,,-,/,—\n")
    assert reading.rejects == [] and reading.observations.empty


def test_unknown_columns_are_reported_once_and_ignored() -> None:
    sheet = "section,sampled_at,颜色,总憐,nh3n,备注\n大嵩,2026-08-03,红,0.1,0.4,x\n大嵩,2026-09-03,蓝,0.1,0.5,\n"
    reading = read(sheet)
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("row 1 (header)", "颜色"),
        ("row 1 (header)", "总憐"),
    ]
    assert "did you mean '总磷'" in reading.rejects[1].reason
    assert len(reading.observations) == 2


def test_a_unit_that_is_not_understood_drops_the_column() -> None:
    reading = read("section,sampled_at,总磷(g),nh3n\n大嵩,2026-08-03,0.1,0.4\n")
    [reject] = reading.rejects
    assert reject.location == "row 1 (header)" and "mg/l" in reject.reason
    assert list(values(reading)) == [("浙江省/大嵩", "nh3n")]


def test_a_repeated_sample_is_rejected() -> None:
    reading = read("section,sampled_at,nh3n\n大嵩,2026-08-03,0.4\n大嵩,2026/8/3,0.5\n")
    assert [r.location for r in reading.rejects] == ["row 3"]
    assert values(reading) == {("浙江省/大嵩", "nh3n"): (0.4, "")}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"section,nh3n\n\xe5\xa4\xa7\xe5\xb5\xa9,0.4\n", "sampled_at"),
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        (b"PK\x03\x04garbage", "not a readable XLSX"),
        (b"<html><body>Error</body></html>", "HTML"),
    ],
)
def test_unusable_sheets_raise_parse_error(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        lab_sheet.read(payload, name="august.csv", known_sites=KNOWN)
    assert "august.csv" in str(err.value)


# --- XLSX --------------------------------------------------------------------------------


def xlsx(rows: list[list[Any]], extra_sheet_first: bool = False) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if extra_sheet_first:
        sheet.title = "说明"
        sheet.append(["这是说明页，不是数据"])
        sheet = book.create_sheet("数据")
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_chinese_headers_title_row_and_dates() -> None:
    payload = xlsx(
        [
            ["镇海区地表水监测结果（2026年8月）"],
            [],
            [
                "断面名称",
                "采样时间",
                "水体类型",
                "pH",
                "溶解氧（mg/L）",
                "氨氮(mg/L)",
                "总磷（以P计）(mg/L)",
            ]
            + ["汞(μg/L)", "粪大肠菌群(个/L)", "化学需氧量", "五日生化需氧量", "六价铬"],
            ["大嵩", datetime(2026, 8, 3, 9, 30), "河流", 7.6, 6.2, 0.42, 0.11]
            + [0.05, 2400, 14, "2L", "0.004L"],
            ["四灶浦闸", date(2026, 8, 4), None, 7.9, 4.4, "1.58", "0.28"]
            + ["ND", 16000, 26, 4.9, None],
            ["梁桥站", datetime(2026, 8, 4, 10, 0), None, 7.1, 5.0, 0.5, 0.1]
            + [None, None, None, None, None],
        ],
        extra_sheet_first=True,
    )
    reading = lab_sheet.read(payload, name="八月.xlsx", known_sites=KNOWN)
    assert [(r.location, r.raw) for r in reading.rejects] == [
        ("row 5, 汞(μg/L)", "ND"),
        ("row 6", "梁桥站"),
    ]
    got = values(reading)
    assert got[("浙江省/大嵩", "hg")] == (pytest.approx(0.00005), "")
    assert got[("浙江省/大嵩", "bod5")] == (1.0, "below_detection")
    assert got[("浙江省/大嵩", "fcoli")] == (2400.0, "")
    assert got[("浙江省/四灶浦闸", "nh3n")] == (1.58, "")
    assert len(got) == 9 + 7
    times = reading.observations.groupby("site_id").period_end.first()
    assert times["浙江省/大嵩"] == pd.Timestamp("2026-08-03T01:30Z")
    assert times["浙江省/四灶浦闸"] == pd.Timestamp("2026-08-03T16:00Z")
    assert "unit" not in reading.sites.columns


def test_format_is_detected_by_content_not_name() -> None:
    payload = xlsx([["section", "sampled_at", "nh3n"], ["大嵩", "2026-08-03", 0.4]])
    reading = lab_sheet.read(payload, name="misnamed.csv", known_sites=KNOWN)
    assert values(reading) == {("浙江省/大嵩", "nh3n"): (0.4, "")}


def test_xlsx_without_a_header_names_the_sheets() -> None:
    with pytest.raises(ParseError, match="'Sheet'"):
        lab_sheet.read(xlsx([["a", "b"], [1, 2]]), name="x.xlsx", known_sites=KNOWN)


# --- the example sheets for staff --------------------------------------------------------


@pytest.mark.parametrize("name", ["lab-sheet-example.csv", "lab-sheet-example.xlsx"])
def test_example_sheets_read_cleanly(name: str) -> None:
    payload = (ROOT / "data/examples" / name).read_bytes()
    reading = lab_sheet.read(payload, name=name, known_sites=KNOWN)
    assert reading.rejects == []
    obs = reading.observations
    assert len(obs) == 6 * 24  # six samples of the 24 basic items
    assert obs.groupby("site_id").period_end.nunique().to_dict() == {
        "浙江省/四灶浦闸": 2,
        "浙江省/大嵩": 2,
        "浙江省/梁桥": 2,
    }
    hg = obs[obs.parameter == "hg"]
    assert set(hg.value) == {0.00002} and set(hg.flag) == {"below_detection"}


def test_the_two_example_sheets_hold_the_same_data() -> None:
    read_ = [
        lab_sheet.read((ROOT / "data/examples" / n).read_bytes(), name=n, known_sites=KNOWN)
        for n in ("lab-sheet-example.csv", "lab-sheet-example.xlsx")
    ]
    key = ["site_id", "parameter", "period_end"]
    csv_obs, xlsx_obs = (r.observations.sort_values(key).reset_index(drop=True) for r in read_)
    pd.testing.assert_frame_equal(csv_obs, xlsx_obs, check_exact=False, rtol=1e-12)


# --- one staff-sheet reader: the rules every sheet shares (issues 15 and 16) ---------------


@pytest.mark.parametrize("cell", ["", "-", "--", "—", "——", "/", "null", "NA", "N/A", "nan"])
def test_every_not_given_mark_means_not_measured(cell: str) -> None:
    reading = read(f"section,sampled_at,tp,nh3n\n大嵩,2026-08-03,{cell},0.4\n")
    assert reading.rejects == []
    assert values(reading) == {("浙江省/大嵩", "nh3n"): (0.4, "")}


def test_thousands_separator_is_read_and_a_decimal_comma_is_refused_naming_the_cell() -> None:
    reading = read('section,sampled_at,fcoli,nh3n\n大嵩,2026-08-03,"1,234.5","0,520"\n')
    assert values(reading) == {("浙江省/大嵩", "fcoli"): (1234.5, "")}
    [reject] = reading.rejects
    assert (reject.location, reject.raw) == ("row 2, nh3n", "0,520")
    assert "'0.520'" in reject.reason


def test_a_sampling_time_after_now_is_rejected_by_row() -> None:
    now = datetime.fromisoformat("2026-08-10T00:00:00+00:00")
    sheet = "section,sampled_at,nh3n\n大嵩,2026-08-03,0.4\n大嵩,2099-08-03,0.5\n大嵩,2026-08-10 08:30,0.6\n"
    reading = read(sheet, now=now)
    assert [r.location for r in reading.rejects] == ["row 3, sampled_at"]
    assert "2099-08-03 00:00 is in the future" in reading.rejects[0].reason
    # 08:30 CST is 00:30 UTC: within the hour's grace for clocks
    assert len(reading.observations) == 2


def test_header_only_and_truncated_sheets_are_not_a_silent_success() -> None:
    with pytest.raises(ParseError, match="no data rows") as err:
        read("断面名称,采样时间,氨氮,总磷\n")
    assert "sheet.csv" in str(err.value)
    cut = read("断面名称,采样时间,氨氮,总磷\n大嵩,2026-08-03,0.4,0.1\n大嵩,2026-09-03,0.")
    [reject] = cut.rejects
    assert reject.location == "row 3" and "ends in the middle of row 3 (no 总磷)" in reject.reason
    assert len(cut.observations) == 2
    with pytest.raises(ParseError, match="ends in the middle of row 2"):
        read("断面名称,采样时间,氨氮,总磷\n大嵩,2026-08")


def test_a_unit_bracket_that_names_the_parameter_is_a_note() -> None:
    reading = read("断面,采样时间,氨氮(NH3-N),总磷(以P计),水温(℃)\n大嵩,2026-08-03,0.4,0.1,21\n")
    assert reading.rejects == []
    assert values(reading)[("浙江省/大嵩", "temp")] == (21.0, "")
    assert len(reading.observations) == 3


def test_coordinates_outside_china_use_the_one_china_box() -> None:
    from envwatch.geo import CHINA_LON

    sheet = "断面名称,采样时间,水体类型,经度,纬度,氨氮\n新河闸,2026-08-03,河流,29.96,121.70,0.8\n"
    reading = read(sheet, add_sites=True)
    [reject] = reading.rejects
    assert "swapped" in reject.reason and str(CHINA_LON[0]) in reject.reason
