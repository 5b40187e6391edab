"""The CNEMC national surface-water feed reader (issue 4), on a captured real page.

The page (data/samples/water/, see tests/data/README-water.md) has 480 sections; every
published class must come out of `envwatch.standards.water.classify` from the concentrations.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from envwatch.errors import ParseError
from envwatch.sources import cnemc_water
from envwatch.sources.base import OBSERVATION_COLUMNS
from envwatch.standards.water import classify

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data/samples/water/cnemc_realtime_snapshot_20260821_p1.json"
CST = timezone(timedelta(hours=8))
FETCHED = datetime(2026, 8, 21, 21, 0, tzinfo=CST)  # the page was fetched that evening

UNIT = "<br/><span class='unit'>({})</span>"
THEAD = [
    "省份",
    "流域",
    "断面名称",
    "监测时间",
    "水质类别",
    "水温" + UNIT.format("℃"),
    "pH" + UNIT.format("无量纲"),
    "溶解氧" + UNIT.format("mg/L"),
    "电导率" + UNIT.format("μS/cm"),
    "浊度" + UNIT.format("NTU"),
    "高锰酸盐指数" + UNIT.format("mg/L"),
    "氨氮" + UNIT.format("mg/L"),
    "总磷" + UNIT.format("mg/L"),
    "总氮" + UNIT.format("mg/L"),
    "叶绿素α" + UNIT.format("mg/L"),
    "藻密度" + UNIT.format("cells/L"),
]


def raw(value: str, shown: str | None = None) -> str:
    return f"<span title='原始值：{value}'>{shown or value}</span>"


ROW = [
    "浙江省",
    "浙闽片河流",
    "测试断面",
    "08-21 20:00",
    "3",
    raw("26.58", "26.6"),
    raw("7.6"),
    raw("6.76"),
    "487.1",
    "--",
    raw("2.61"),
    raw("0.877"),
    raw("0.035"),
    "<span data-toggle='tooltip' data-placement='right' title='当天质控不合格'>--</span>",
    "--",
    "--",
]


def payload(thead: list[str] = THEAD, rows: list[Any] | None = None, **extra: Any) -> bytes:
    body = {"result": 1, "total": 1, "records": 1, "thead": thead}
    body["tbody"] = [ROW] if rows is None else rows
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode()


def value(reading: Any, site_id: str, parameter: str) -> float:
    obs = reading.observations
    hit = obs[(obs.site_id == site_id) & (obs.parameter == parameter)]
    assert len(hit) == 1, (site_id, parameter)
    return float(hit.value.iloc[0])


@pytest.fixture(scope="module")
def sample() -> tuple[Any, cnemc_water.PageInfo]:
    return cnemc_water.read_page(SAMPLE.read_bytes(), fetched_at=FETCHED, name=SAMPLE.name)


def registry_types() -> dict[str, str]:
    """Zhejiang's water types from the site registry (stations.yaml once the fragment is in)."""
    for path in (ROOT / "stations.yaml", ROOT / ".helper/water_sections.yaml"):
        if not path.exists():
            continue
        sites = yaml.safe_load(path.read_text(encoding="utf-8")).get("sites") or []
        types = {
            s["id"]: s["water_type"]
            for s in sites
            if s.get("kind") == "water" and str(s["id"]).startswith("浙江省/")
        }
        if len(types) == 87:
            return types
    pytest.fail(
        "Zhejiang's 87 sections are not in stations.yaml: paste .helper/water_sections.yaml"
    )


# --- the real page -----------------------------------------------------------------------


def test_every_published_class_in_the_sample_is_reproduced(sample: Any) -> None:
    reading, _ = sample
    obs = reading.observations
    usable = obs[obs.flag != "qc_withheld"]
    wide = usable.pivot_table(index="site_id", columns="parameter", values="value")
    types = dict(
        pd.read_csv(ROOT / "tests/data/water_types_sample.csv")[["site_id", "water_type"]].values
    )
    types.update(registry_types())
    published = wide.pop("class_published").dropna().astype(int)
    assert len(published) == 479  # 480 sections, 山西省/安固桥 has class -1
    assert set(published.index) == set(types)

    ours = classify(wide.loc[published.index], [types[s] for s in published.index])
    mismatched = published[ours["class"].to_numpy() != published.to_numpy()]
    assert mismatched.empty, mismatched.head()
    # The types matter: all-river limits get the 14 lake-only sections wrong.
    as_rivers = classify(wide.loc[published.index], "river")["class"].to_numpy()
    assert (as_rivers != published.to_numpy()).sum() == 14


def test_class_minus_one_gives_no_class_row(sample: Any) -> None:
    reading, _ = sample
    obs = reading.observations
    dark = obs[obs.site_id == "山西省/安固桥"]
    assert dark.empty  # every value is '--' and the class is -1
    assert "山西省/安固桥" in set(reading.sites.site_id)


def test_page_information_and_sites(sample: Any) -> None:
    reading, info = sample
    assert info == cnemc_water.PageInfo(total_pages=4, records=1616, rows=480)
    assert reading.rejects == []
    sites = reading.sites.set_index("site_id")
    assert len(sites) == 480
    assert (sites.province == "浙江省").sum() == 87
    assert sites.loc["北京市/鼓楼外大街", ["name", "province", "basin"]].tolist() == [
        "鼓楼外大街",
        "北京市",
        "海河流域",
    ]
    assert list(reading.observations.columns) == OBSERVATION_COLUMNS
    assert str(reading.observations.period_end.dtype) == "datetime64[ns, UTC]"
    assert set(reading.observations.averaging) == {"sample"}


def test_raw_value_comes_from_the_title_not_the_rounded_display(sample: Any) -> None:
    reading, _ = sample
    assert value(reading, "北京市/鼓楼外大街", "temp") == 26.58  # shown 26.6
    assert value(reading, "北京市/鼓楼外大街", "do") == 6.76
    assert value(reading, "江苏省/拖山", "algae") == 10080370.0  # title 1.008037E+07


def test_qc_withheld_items_are_kept_flagged(sample: Any) -> None:
    reading, _ = sample
    obs = reading.observations
    withheld = obs[obs.flag == "qc_withheld"]
    assert len(withheld) == 49
    assert withheld.value.isna().all()
    assert obs[obs.flag != "qc_withheld"].value.notna().all()  # NaN only with this flag
    row = withheld[withheld.site_id == "北京市/新八里桥"]
    assert row.parameter.tolist() == ["tn"]


def test_times_are_china_time_stored_in_utc(sample: Any) -> None:
    reading, _ = sample
    obs = reading.observations
    stamp = obs[(obs.site_id == "北京市/鼓楼外大街") & (obs.parameter == "ph")].period_end
    assert stamp.iloc[0] == pd.Timestamp("2026-08-21T12:00Z")  # 08-21 20:00 CST


# --- time and year -----------------------------------------------------------------------


def _one_time(stamp: str, fetched: datetime) -> pd.Timestamp:
    row = [*ROW[:3], stamp, *ROW[4:]]
    reading = cnemc_water.read(payload(rows=[row]), fetched_at=fetched)
    return pd.Timestamp(reading.observations.period_end.iloc[0])


def test_december_reading_fetched_in_january_is_last_year() -> None:
    fetched = datetime(2027, 1, 1, 0, 30, tzinfo=CST)
    assert _one_time("12-31 23:00", fetched) == pd.Timestamp("2026-12-31T15:00Z")
    # the same instant given in UTC
    assert _one_time("12-31 23:00", fetched.astimezone(UTC)) == pd.Timestamp("2026-12-31T15:00Z")


def test_a_reading_a_little_ahead_of_the_fetch_clock_stays_in_its_year() -> None:
    fetched = datetime(2026, 12, 31, 23, 50, tzinfo=CST)
    assert _one_time("01-01 01:00", fetched) == pd.Timestamp("2026-12-31T17:00Z")
    assert _one_time("08-21 20:00", FETCHED) == pd.Timestamp("2026-08-21T12:00Z")


def test_fetched_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        cnemc_water.read(payload(), fetched_at=datetime(2026, 8, 21, 21, 0))


# --- bad payloads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>",
            "HTML page",
        ),
        (b'{"result": 0, "msg": "error"}', "result=0"),
        (b'{"result": 1, "total": 4, "thead": [', "not JSON"),
        (b"", "empty"),
        (b'{"result": 1, "total": 0, "records": 0}', "no 'thead'"),
        ("结果".encode("gbk"), "not UTF-8"),
    ],
)
def test_unusable_payloads_raise_parse_error_naming_the_payload(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        cnemc_water.read(body, fetched_at=FETCHED, name="page-3.json")
    text = str(err.value)
    assert "page-3.json" in text and "\n" not in text


def test_header_without_section_raises() -> None:
    thead = [h for h in THEAD if h != "断面名称"]
    rows = [[c for i, c in enumerate(ROW) if i != 2]]
    with pytest.raises(ParseError, match="no section column"):
        cnemc_water.read(payload(thead, rows), fetched_at=FETCHED, name="p")


def test_an_empty_page_is_an_empty_reading() -> None:
    reading, info = cnemc_water.read_page(
        payload(rows=[], total=4, records=1616), fetched_at=FETCHED
    )
    assert reading.observations.empty and reading.rejects == []
    assert info.rows == 0 and info.total_pages == 4


# --- headers change ----------------------------------------------------------------------


def test_older_header_with_city_and_status_and_another_order() -> None:
    # 17 columns: a city column, 站点情况 at the end, pH and DO swapped.
    thead = [*THEAD[:2], "城市", *THEAD[2:6], THEAD[7], THEAD[6], *THEAD[8:], "站点情况"]
    row = [*ROW[:2], "宁波市", *ROW[2:6], ROW[7], ROW[6], *ROW[8:], "正常"]
    reading = cnemc_water.read(payload(thead, [row]), fetched_at=FETCHED)
    assert reading.rejects == []
    assert value(reading, "浙江省/测试断面", "ph") == 7.6
    assert value(reading, "浙江省/测试断面", "do") == 6.76
    assert reading.sites.city.tolist() == ["宁波市"]


def test_header_without_chla_and_algae() -> None:
    reading = cnemc_water.read(payload(THEAD[:14], [ROW[:14]]), fetched_at=FETCHED)
    assert reading.rejects == []
    assert value(reading, "浙江省/测试断面", "nh3n") == 0.877
    assert value(reading, "浙江省/测试断面", "class_published") == 3


def test_an_unknown_column_is_reported_once_and_skipped() -> None:
    thead = [*THEAD, "透明度" + UNIT.format("cm")]
    reading = cnemc_water.read(
        payload(thead, [[*ROW, "85"], [*ROW[:2], "另一断面", *ROW[3:], "90"]]), fetched_at=FETCHED
    )
    assert [r.location for r in reading.rejects] == ["header"]
    assert "透明度" in reading.rejects[0].reason
    assert reading.observations.site_id.nunique() == 2


def test_a_column_in_micrograms_is_converted() -> None:
    thead = [*THEAD[:12], "总磷" + UNIT.format("μg/L"), *THEAD[13:]]
    row = [*ROW[:12], raw("35"), *ROW[13:]]
    reading = cnemc_water.read(payload(thead, [row]), fetched_at=FETCHED)
    assert value(reading, "浙江省/测试断面", "tp") == pytest.approx(0.035)


def test_a_column_in_an_unknown_unit_raises() -> None:
    thead = [*THEAD[:12], "总磷" + UNIT.format("g/m2"), *THEAD[13:]]
    with pytest.raises(ParseError, match="总磷"):
        cnemc_water.read(payload(thead), fetched_at=FETCHED)


# --- bad rows and cells ------------------------------------------------------------------


def test_bad_rows_and_cells_are_rejected_and_the_rest_lands() -> None:
    short = ROW[:15]
    garbage = [*ROW[:2], "坏值断面", *ROW[3:6], "abc", raw("-1.2"), *ROW[8:]]
    bad_time = [*ROW[:2], "坏时间断面", "21/08 20:00", *ROW[4:]]
    bad_class = [*ROW[:2], "坏类别断面", ROW[3], "Ⅲ", *ROW[5:]]
    rows = [ROW, short, garbage, bad_time, bad_class]
    reading = cnemc_water.read(payload(rows=rows), fetched_at=FETCHED, name="p")
    where = {(r.location, r.parameter) for r in reading.rejects}
    assert where == {
        ("tbody row 2", None),
        ("tbody row 3, pH", "ph"),
        ("tbody row 3, 溶解氧", "do"),
        ("tbody row 4", None),
        ("tbody row 5, 水质类别", "class_published"),
    }
    assert "15 cells" in next(r.reason for r in reading.rejects if r.location == "tbody row 2")
    landed = reading.observations.groupby("site_id").parameter.apply(set)
    assert landed["浙江省/测试断面"] == {
        "class_published", "temp", "ph", "do", "cond", "codmn", "nh3n", "tp", "tn",
    }  # fmt: skip
    assert landed["浙江省/坏值断面"] == landed["浙江省/测试断面"] - {"ph", "do"}
    assert "class_published" not in landed["浙江省/坏类别断面"]
    assert "浙江省/坏时间断面" not in landed


def test_a_repeated_row_is_rejected() -> None:
    reading = cnemc_water.read(payload(rows=[ROW, ROW]), fetched_at=FETCHED)
    assert [r.location for r in reading.rejects] == ["tbody row 2"]
    assert value(reading, "浙江省/测试断面", "ph") == 7.6


def test_plain_numbers_and_withheld_cells() -> None:
    reading = cnemc_water.read(payload(), fetched_at=FETCHED)
    assert value(reading, "浙江省/测试断面", "cond") == 487.1
    obs = reading.observations
    tn = obs[obs.parameter == "tn"].iloc[0]
    assert tn.flag == "qc_withheld" and math.isnan(tn.value)
    assert "turb" not in set(obs.parameter)  # '--': no row


def test_form_fields() -> None:
    assert cnemc_water.form_fields(330000, 2, 500) == {
        "action": "getRealDatas",
        "AreaID": "330000",
        "RiverID": "",
        "MNName": "",
        "PageIndex": "2",
        "PageSize": "500",
    }
    with pytest.raises(ValueError):
        cnemc_water.form_fields("330000", 0, 500)
