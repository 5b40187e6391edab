"""The weekly report (issues 6 and 7): one offline page in Simplified Chinese from a real ingest.

The stores are built through the command line from the bundled real CNEMC air samples
(2019-01-01/02, ISO week 2019-W01) and a small made-up lab sheet for two Zhenhai sections;
the `demo` store also gets the made-up example sheets of data/examples/ as `make demo` loads
them (Zhenhai lab samples, outfall inspections, zero-discharge zones with outlines, zero-waste
indicators and cells).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from jinja2.utils import htmlsafe_json_dumps

from envwatch import outfalls
from envwatch.cli import main
from envwatch.config import load_config
from envwatch.errors import UsageError
from envwatch.report import render_report, write_report
from envwatch.report.data import zone_state
from envwatch.report.escape import esc
from envwatch.standards.aqi import CATEGORIES, CATEGORY_COLOURS
from envwatch.store import Store

from conftest import ROOT, SLIM_DAY1, SLIM_DAY2, write_config

WEEK = "2019-W01"
HOSTILE = "<img src=x onerror=alert(1)>${alert(2)}`</script>"

# Two Zhenhai sections with coordinates and a target class (made up for the tests).
WATER_SITES = """\
  - {id: ZH-W1, name: 甬江招宝山, kind: water, lon: 121.7150, lat: 29.9600, crs: wgs84, city: 宁波市, control_level: 市控, water_type: river, target_class: 3}
  - {id: ZH-W2, name: 中大河骆驼桥, kind: water, lon: 121.6200, lat: 29.9900, crs: wgs84, city: 宁波市, control_level: 市控, water_type: river, target_class: 3}
"""

LAB_SHEET = """\
section,sampled_at,water_type,lon,lat,ph,do,codmn,cod,bod5,nh3n,tp,tn
甬江招宝山,2019-01-02 09:30,river,,,7.6,6.8,3.1,14,2.1,0.32,0.118,1.86
中大河骆驼桥,2019-01-02 10:00,river,,,7.3,5.2,5.6,22,3.6,1.21,0.26,2.6
"""


EXAMPLES = ROOT / "data" / "examples"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&#36;{alert(2)}&#96;&lt;/script&gt;"

# The layers of issue 7, as the layer control names them.
ZERO_LAYERS = ("污水零直排区（验收状态）", "排口（本周巡查结果）", "无废城市细胞（按类型）")


def _hostile_sheets(folder: Path) -> list[tuple[str, Path, bool]]:
    """An outfall (in a zone, draining to a river, all named HOSTILE) found discharging on a
    dry day of 2019-W01, a zone named HOSTILE due 2019-01-02 and not accepted (overdue in
    W01), without an outline, and a cell named HOSTILE built 2019-01-03: (source, file,
    add-sites)."""
    rows = {
        "outfall.csv": [
            [
                "排口编号",
                "排口名称",
                "巡查时间",
                "天气",
                "是否排水",
                "流量(m³/h)",
                "氨氮(mg/L)",
                "化学需氧量(mg/L)",
                "总磷(mg/L)",
                "所属零直排区",
                "受纳水体",
                "排口类型",
                "经度",
                "纬度",
            ],
            ["EVIL-01", HOSTILE, "2019-01-03 11:00", "晴", "是", "2", "5", "80", "0.9"]
            + [HOSTILE, HOSTILE, "雨水", "121.640", "29.990"],
        ],
        "zone.csv": [
            [
                "零直排区名称",
                "类型",
                "所属镇街",
                "状态",
                "开工日期",
                "计划完成日期",
                "经度",
                "纬度",
            ],
            [
                HOSTILE,
                "生活小区",
                HOSTILE,
                "创建中",
                "2018-10-01",
                "2019-01-02",
                "121.638",
                "29.992",
            ],
        ],
        "cells.csv": [
            ["名称", "类型", "地址", "经度", "纬度", "状态", "建成日期"],
            [HOSTILE, "企业", HOSTILE, "121.636", "29.994", "已命名", "2019-01-03"],
        ],
    }
    for name, lines in rows.items():
        with (folder / name).open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(lines)
    return [
        ("outfall-sheet", folder / "outfall.csv", True),
        ("zone-sheet", folder / "zone.csv", False),
        ("cells-sheet", folder / "cells.csv", False),
    ]


def ingest_examples(config: Path, folder: Path, *, hostile: bool = False) -> None:
    """The example sheets of data/examples/ as `make demo` ingests them (and, `hostile`, an
    outfall, a zone and a cell named HOSTILE)."""
    sheets = [
        ("lab-sheet", EXAMPLES / "lab-sheet-zhenhai-2019-01.csv", True),
        ("outfall-sheet", EXAMPLES / "outfall-sheet-example.csv", True),
        ("zone-sheet", EXAMPLES / "zone-sheet-example.geojson", False),
        ("indicator-sheet", EXAMPLES / "indicator-sheet-example.csv", False),
        ("cells-sheet", EXAMPLES / "cells-sheet-example.csv", False),
    ]
    if hostile:
        sheets += _hostile_sheets(folder)
    for source, path, add_sites in sheets:
        args = ["ingest", source, "--file", str(path)] + (["--add-sites"] if add_sites else [])
        result = _run(config, *args)
        assert result.exit_code == 0, result.output


def _js(text: str) -> str:
    """`text` as folium writes it inside JavaScript (Jinja's HTML-safe JSON, \\u escapes)."""
    return str(htmlsafe_json_dumps(text))[1:-1]


def _run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    return result


def build_store(
    folder: Path, *, hostile: bool = False, water: bool = True, zero: bool = False
) -> Path:
    """A store in `folder` from a real ingest: the two days of real air data, (`water`) a lab
    sheet for two Zhenhai sections, and (`zero`) the example sheets as `make demo` loads them.
    `hostile` names an air station and a water section (and with `zero` an outfall, a zone
    and a cell) with HTML and JavaScript. Returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    if water:
        text = text.replace("\nsources:", "\n" + WATER_SITES + "\nsources:", 1)
    if hostile:
        quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
        text = text.replace("name: 万里学院,", f'name: "万里学院{quoted}",', 1)
    config = write_config(folder, text)
    assert _run(config, "init").exit_code == 0
    ingest = _run(
        config, "ingest", "cnemc-air-archive", "--file", str(SLIM_DAY1), "--file", str(SLIM_DAY2)
    )
    assert ingest.exit_code == 0, ingest.output
    if water:
        sheet = LAB_SHEET
        if hostile:
            field = '"' + HOSTILE.replace('"', '""') + '"'
            sheet += (
                f"{field},2019-01-03 10:00,river,121.68,29.97,7.2,4.1,8.1,31,5.2,1.7,0.35,3.1\n"
            )
        (folder / "lab.csv").write_text(sheet, encoding="utf-8")
        lab = _run(config, "ingest", "lab-sheet", "--file", str(folder / "lab.csv"), "--add-sites")
        assert lab.exit_code == 0, lab.output
    if zero:
        ingest_examples(config, folder, hostile=hostile)
    return config


@pytest.fixture(scope="module")
def pages(report_stores: dict[str, Path]) -> dict[str, str]:
    out = {}
    for name, config in report_stores.items():
        loaded = load_config(config)
        out[name] = render_report(loaded, loaded.store_path, WEEK, tianditu_key="")
    return out


class _Links(HTMLParser):
    """Every URL-bearing attribute, every script's text and the visible text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


@pytest.mark.parametrize("store", ["full", "demo"])
def test_page_loads_nothing_from_the_network(pages: dict[str, str], store: str) -> None:
    page = pages[store]
    links = _parse(page)
    assert links.urls, "Leaflet and jQuery are inlined as data: URIs"
    assert all(u.startswith(("data:", "#")) for u in links.urls), links.urls
    # no http(s) anywhere but the SVG namespace; no CSS url() or @import from outside
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"url\(\s*['\"]?(?!data:|#)", page)
    assert "@import" not in page
    assert len(page.encode("utf-8")) < 3_000_000


def test_page_is_simplified_chinese_with_period_and_freshness(pages: dict[str, str]) -> None:
    page = pages["full"]
    assert '<html lang="zh-CN">' in page
    assert "<title>镇海区生态环境质量周报 2019-W01</title>" in page
    assert "2019 年第 1 周（2019-W01）：2018-12-31 至 2019-01-06" in page
    assert "空气数据截至：2019-01-02 23:00" in page
    text = "".join(_parse(page).text)
    assert "7 天中只有 2 天有空气质量数据（01-01、01-02）" in text


def test_scorecard_lists_every_target_with_goal_and_verdict(
    report_stores: dict[str, Path], pages: dict[str, str]
) -> None:
    page = pages["full"]
    loaded = load_config(report_stores["full"])
    table = page[page.index('id="scorecard"') : page.index('id="map-section"')]
    for target in loaded.config.targets:
        assert f'data-target="{target.id}"' in table
        assert str(esc(target.label)) in table
    row = table[table.index('data-target="air.good_day_ratio"') :]
    row = row[: row.index("</tr>")]
    assert "≥ 93%" in row and "100%" in row and "✓" in row
    pm = table[table.index('data-target="air.pm25_annual"') :]
    pm = pm[: pm.index("</tr>")]
    # 2019's first days are far above 24 µg/m³: 49.79… published as 50 (rounded once), with
    # the city's figure for context
    assert "50 µg/m³" in pm and "✗" in pm and "全市 55 µg/m³" in pm
    outfalls = table[table.index('data-target="zero_discharge.outfalls"') :]
    assert "无数据" in outfalls[: outfalls.index("</tr>")]


def test_stations_are_coloured_by_hj633_category_with_legend(pages: dict[str, str]) -> None:
    page = pages["full"]
    legend = page[page.index('id="legend"') :]
    legend = legend[: legend.index("</div>\n    </div>")]
    for colour, category in zip(CATEGORY_COLOURS, CATEGORIES, strict=True):
        assert f"background:{colour}" in legend and category in legend
    # 龙赛医院 (1236A) averaged AQI 68.5 over its two valid days: 良, yellow
    marker = page[page.index("龙赛医院</b>") - 2500 : page.index("龙赛医院</b>")]
    assert '"fillColor": "#FFFF00"' in marker
    popup = page[page.index("龙赛医院</b>") :][:3000]
    assert "54 良" in popup and "83 良" in popup and "无数据" in popup
    assert "O3 日最大8小时" in popup


def test_districts_are_shaded_and_ranked(pages: dict[str, str]) -> None:
    page = pages["full"]
    assert _js("区县优良率（本周）") in page and _js("区县名称与排名") in page
    assert '"fillColor": "#1A9850"' in page  # 100 % ≥ 93 %: the goal's shade
    assert '"fillColor": "#d9d9d9"' in page  # districts without a national station: grey
    label = '<div class="district-label region"><span>镇海区</span><b>第 1 名</b></div>'
    assert _js(label) in page
    # the tooltip says which stations stand behind each district's figure (issue 14)
    assert _js("2 天（站点：龙赛医院）") in page
    assert _js("（站点：万里学院、钱湖水厂、太古小学、万里国际学校）") in page


def test_water_sections_coloured_by_class_with_target_and_pollutants(
    pages: dict[str, str],
) -> None:
    page = pages["full"]
    missed = page[page.index('id="water-missed"') :]
    missed = missed[: missed.index("</table>")]
    assert "中大河骆驼桥" in missed and "Ⅳ" in missed and "总磷" in missed
    assert "甬江招宝山" not in missed  # Ⅲ meets its target Ⅲ
    popup = page[page.index("中大河骆驼桥</b>") :][:600]
    assert "目标类别：Ⅲ类，未达标 ✗" in popup
    marker = page[page.index("中大河骆驼桥</b>") - 2500 : page.index("中大河骆驼桥</b>")]
    assert _js('<div class="section-marker" style="background:#F2D600">') in marker  # Ⅳ: yellow
    assert 'id="no-water"' not in page


def test_no_water_data_says_so(pages: dict[str, str]) -> None:
    page = pages["air_only"]
    assert "本周无水质数据。" in page
    assert 'id="water-map-note">本周无水质数据，水质图层为空。' in page
    assert _js("水质断面（本周类别）") in page  # the layer is there, empty


def test_missing_values_show_as_no_data_never_zero_or_nan(pages: dict[str, str]) -> None:
    page = pages["air_only"]
    text = "".join(_parse(page).text)
    assert not re.search(r"\b(nan|NaN|None|<NA>|NaT)\b", text)
    charts = page[page.index('id="charts"') : page.index('id="water"')]
    assert charts.count(">无数据</text>") == 3 * 5  # five days without data in each chart
    invalid = page[page.index('id="invalid-days"') :]
    assert "白沙活动中心" in invalid and "01-01、01-02" in invalid


def test_hostile_names_are_escaped_everywhere(pages: dict[str, str]) -> None:
    page = pages["hostile"]
    assert "<img src=x" not in page
    assert "${alert(" not in page
    assert "`</script>" not in page and "alert(1)>" not in page
    assert ESCAPED in page
    links = _parse(page)
    assert "img" not in links.tags
    assert page.count("<script") == page.count("</script>")
    # the outfall, its zone and the cell: in the tables, as text
    for table in ("outfall-violations", "zone-counts", "zones", "cells"):
        assert ESCAPED in _table(page, table), table
    # and in the map's popups and tooltips (JavaScript template literals), escaped
    script = page[page.rindex("<script>") :]
    popups = [p for p in script.split("var html_")[1:] if ESCAPED in p]
    assert any("雨水排口；所属零直排区：" + ESCAPED in p for p in popups)  # the outfall
    assert any("所属镇街：" + ESCAPED in p for p in popups)  # the zone (a diamond: no outline)
    assert any("类型：无废工厂" in p for p in popups)  # the cell
    assert script.count(f"{ESCAPED}：违规 1 次") == 1  # the outfall's tooltip


def test_escape_covers_html_and_template_literals() -> None:
    assert str(esc(HOSTILE)) == (
        "&lt;img src=x onerror=alert(1)&gt;&#36;{alert(2)}&#96;&lt;/script&gt;"
    )
    assert str(esc("a\"b'c\\d&")) == "a&quot;b&#x27;c&#92;d&amp;"
    assert str(esc(None)) == str(esc(float("nan"))) == "无数据"


def _table(page: str, table_id: str) -> str:
    """The HTML of the table with id `table_id`."""
    start = page.index(f'id="{table_id}"')
    return page[start : page.index("</table>", start)]


def _rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of a table as the cells' visible text."""
    body = _table(page, table_id)
    body = body[body.index("<tbody>") :]
    rows = []
    for tr in re.findall(r"<tr\b.*?</tr>", body, re.DOTALL):
        cells = re.findall(r"<td\b[^>]*>(.*?)</td>", tr, re.DOTALL)
        rows.append([re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def test_zero_discharge_and_zero_waste_layers_with_legends(pages: dict[str, str]) -> None:
    page = pages["demo"]
    for name in ZERO_LAYERS:
        assert _js(name) in page, name
    legend = page[page.index('id="legend"') : page.index('id="charts"')]
    for label in ("已复核", "已验收", "创建中", "逾期未验收", "本周有违规", "本周巡查无违规"):
        assert label in legend, label
    for cell_type in ("工厂", "小区", "学校", "饭店", "商场", "景区", "车站", "机关", "矿山"):
        assert f"</span>{cell_type}</span>" in legend, cell_type
    script = page[page.rindex("<script>") :]
    # seven zone outlines from the GeoJSON; eight outfalls, two red (a violation this week)
    # and one grey (JC-YS-01, not inspected); thirteen cells, four hollow (being built)
    assert script.count('"fillOpacity": 0.75') == 7
    assert script.count(_js('<svg class="outfall-marker ')) == 8
    assert script.count(_js('<svg class="outfall-marker violation"')) == 2
    assert script.count(_js('<svg class="outfall-marker not_inspected"')) == 1
    assert script.count(_js('<div class="cell-marker built"')) == 9
    assert script.count(_js('<div class="cell-marker building"')) == 4
    # the map opens on the district (the new layers would be a heap at the city's scale)
    assert _js("全市") in page and _js("镇海区") in page


def test_week_violations_are_those_of_the_view(
    report_stores: dict[str, Path], pages: dict[str, str]
) -> None:
    rows = _rows(pages["demo"], "outfall-violations")
    assert rows == [
        [
            "01-02 10:05",
            "蛟川工业集聚区雨污合流排口01（JC-HL-01）",
            "蛟川工业集聚区零直排区",
            "晴天",
            "晴天排水",
        ],
        [
            "01-04 10:15",
            "庄市街道锦苑小区雨水排口（ZS-YS-01）",
            "庄市街道锦苑小区零直排区",
            "雨天",
            "雨天超标：氨氮 3.2 &gt; 2；化学需氧量 58 &gt; 40；总磷 0.52 &gt; 0.4",
        ],
    ]
    loaded = load_config(report_stores["demo"])
    store = Store.readonly(loaded.store_path, utc_offset_minutes=480)
    try:
        view = outfalls.inspections(store, "2018-12-31", "2019-01-06")
    finally:
        store.close()
    found = view.loc[view["violation"] != ""]
    assert [r[0] for r in rows] == [t[5:] for t in found["time_local"]]
    assert list(found["site_id"]) == ["JC-HL-01", "ZS-YS-01"]
    # the headline and the tile say it too
    text = "".join(_parse(pages["demo"]).text)
    assert "本周巡查排口 7 次，违规 2 次" in text
    assert "巡查 7 次：晴天排水 1 次、雨天超标 1 次" in text


def test_outfall_popup_has_the_weeks_inspections(pages: dict[str, str]) -> None:
    script = pages["demo"][pages["demo"].rindex("<script>") :]
    popup = script[script.index("蛟川工业集聚区雨污合流排口01</b>（JC-HL-01）") :][:2000]
    assert "雨污合流排口；所属零直排区：蛟川工业集聚区零直排区" in popup
    assert "受纳水体：蛟川中心河" in popup
    assert "<td>01-02 10:05</td><td>晴天</td><td>是（3.5 m³/h）</td>" in popup
    assert "<td>8.6</td><td>112</td><td>1.15</td>" in popup and "晴天排水" in popup
    grey = script[script.index("蛟川工业集聚区雨水排口01</b>（JC-YS-01）") :][:600]
    assert "本周未巡查</span>（最近一次巡查：2018-12-27 09:05）" in grey


def test_zone_counts_for_the_week_and_the_year(pages: dict[str, str]) -> None:
    rows = {r[0]: r[1:] for r in _rows(pages["demo"], "zone-counts")}
    # outfalls; week: inspections, violations, not inspected; year to date: the same
    assert rows["蛟川工业集聚区零直排区"] == [
        "2",
        "1",
        "1",
        "蛟川工业集聚区雨水排口01",
        "1",
        "1",
        "蛟川工业集聚区雨水排口01",
    ]
    assert rows["澥浦化工区零直排区"] == ["2", "2", "0", "—", "2", "0", "—"]
    assert rows["贵驷街道银杏苑小区零直排区"] == ["0", "无登记排口"]
    assert list(rows)[:2] == [
        "庄市街道锦苑小区零直排区",
        "蛟川工业集聚区零直排区",
    ]  # violations first


def test_zone_table_with_state_at_the_weeks_end(pages: dict[str, str]) -> None:
    rows = {r[0]: r[1:] for r in _rows(pages["demo"], "zones")}
    assert len(rows) == 7
    assert rows["庄市街道锦苑小区零直排区"][2] == "已验收本周通过验收"
    assert rows["招宝山街道零直排区"][2] == "已复核本周复核"
    assert rows["贵驷街道银杏苑小区零直排区"][2:4] == ["创建中", "2018-10-15"]  # due 01-10
    assert 'class="overdue"' not in _table(pages["demo"], "zones")
    # the hostile store's zone was due 2019-01-02: overdue in W01, highlighted, named
    hostile = _table(pages["hostile"], "zones")
    row = hostile[hostile.index('class="overdue"') :]
    assert row[: row.index("</tr>")].count("逾期未验收") == 1
    assert "逾期未验收：" + ESCAPED in pages["hostile"]


def test_zone_state_from_its_dates() -> None:
    week = (date(2019, 1, 7), date(2019, 1, 13))  # 2019-W02
    row = {
        "status": "building",
        "due_on": "2019-01-10",
        "accepted_on": None,
        "reinspected_on": None,
    }
    assert zone_state(row, *week) == ("overdue", "")
    row = {
        "status": "accepted",
        "due_on": "2019-01-31",
        "accepted_on": "2019-01-20",
        "reinspected_on": None,
    }
    assert zone_state(row, *week) == ("building", "")  # accepted after that week
    row = {
        "status": "reinspected",
        "due_on": None,
        "accepted_on": "2018-05-25",
        "reinspected_on": "2019-01-08",
    }
    assert zone_state(row, *week) == ("reinspected", "本周复核")


def test_indicator_table_with_goals(pages: dict[str, str]) -> None:
    rows = {r[0]: r[1:] for r in _rows(pages["demo"], "indicators")}
    assert rows["危险废物利用处置率"] == ["99.6%", "2019年1月", "≥ 100%", "✗ 未达标"]
    assert rows["一般工业固体废物综合利用率"] == ["96.8%", "2018年", "—", "未设目标"]
    assert rows["危险废物产生量"] == ["2,950 吨", "2019年1月", "—", "未设目标"]


def test_cells_by_type_without_a_task_say_so(pages: dict[str, str]) -> None:
    page = pages["demo"]
    assert "stations.yaml 未设 2019 年各类细胞的建设任务（cell_tasks）" in page
    assert "<th>年度任务</th>" not in _table(page, "cell-types")
    # the type's cell starts with its badge (工 for 工厂); then built in 2019 (to 01-06),
    # built earlier, being built
    rows = {r[0][1:] if r[0] != "合计" else r[0]: r[1:] for r in _rows(page, "cell-types")}
    assert rows["工厂"] == ["1", "1", "0"]
    assert rows["车站"] == ["1", "0", "0"]
    assert rows["矿山"] == ["0", "0", "1"]
    assert rows["合计"] == ["3", "6", "4"]
    cells = {r[0]: r[1:] for r in _rows(page, "cells")}
    assert len(cells) == 13
    assert cells["镇海示例客运站本周建成"][1:3] == ["已建成", "2019-01-02"]


def test_cells_against_the_years_task(report_stores: dict[str, Path], tmp_path: Path) -> None:
    text = report_stores["demo"].read_text(encoding="utf-8")
    text = text.replace("cell_tasks: {}", "cell_tasks: {2019: {工厂: 2, 学校: 1}}")
    assert "2019: {工厂: 2" in text
    config = tmp_path / "stations.yaml"
    config.write_text(text, encoding="utf-8")
    loaded = load_config(config)
    page = render_report(loaded, loaded.store_path, WEEK, tianditu_key="")
    assert "未设 2019 年各类细胞的建设任务" not in page
    rows = {r[0][1:]: r[1:] for r in _rows(page, "cell-types")}
    assert rows["工厂"][:3] == ["1", "2", "✗ 还差 1 个"]
    assert rows["学校"][:3] == ["1", "1", "✓ 已完成"]
    assert rows["车站"][:3] == ["1", "未设任务", "—"]
    assert "未完成年度任务的类型：工厂" in page


def test_without_the_sheets_sentences_say_there_is_no_data(pages: dict[str, str]) -> None:
    page = pages["full"]  # air and a lab sheet; no outfall, zone, indicator or cell sheet
    for table in ("outfall-violations", "zone-counts", "zones", "indicators", "cell-types"):
        assert f'id="{table}"' not in page, table
    text = "".join(_parse(page).text)
    assert (
        "尚无污水零直排数据。排口巡查记录（outfall-sheet）和零直排区台账（zone-sheet）均未导入"
        in text
    )
    assert (
        "尚无无废城市数据。无废城市指标表（indicator-sheet）和细胞建设台账（cells-sheet）均未导入"
        in text
    )
    assert "污水零直排：尚无排口巡查和零直排区数据。" in text
    assert "无废城市：尚无指标和细胞数据。" in text
    tile = page[page.index("排口违规（本周）") :][:200]
    assert '<div class="v">无数据</div>' in tile
    for note in ("尚无零直排区数据。", "尚无排口数据。", "尚无无废城市细胞数据。"):
        assert note in page
    # the layers are there, empty
    for name in ZERO_LAYERS:
        assert _js(name) in page


def test_register_sources_show_what_they_hold(pages: dict[str, str]) -> None:
    rows = {r[0]: r[1:] for r in _rows(pages["demo"], "freshness")}
    assert rows["zone-sheet"][1] == "台账：零直排区 7 个"
    assert rows["cells-sheet"][1] == "台账：无废细胞 13 个"
    assert rows["outfall-sheet"][1] == "2019-01-05 09:30"
    assert rows["indicator-sheet"][1] == "统计期：2019年1月"  # not its end, 2019-02-01 00:00


def test_week_without_data_is_refused(report_stores: dict[str, Path], tmp_path: Path) -> None:
    result = _run(report_stores["full"], "report", "--week", "2019-W05", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "no data for 2019-W05 (2019-01-28 … 2019-02-03)" in result.output
    assert "newest air data: 2019-01-02 23:00" in result.output
    assert list(tmp_path.iterdir()) == []
    bad = _run(report_stores["full"], "report", "--week", "2019-13", "--out", str(tmp_path))
    assert bad.exit_code == 2 and "is not an ISO week" in bad.output


def test_cli_writes_the_file_and_prints_its_path(
    report_stores: dict[str, Path], tmp_path: Path
) -> None:
    result = _run(
        report_stores["air_only"], "report", "--week", WEEK, "--out", str(tmp_path / "maps")
    )
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == tmp_path / "maps" / "envwatch-2019-W01.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_default_week_is_the_last_complete_one(
    report_stores: dict[str, Path], tmp_path: Path
) -> None:
    loaded = load_config(report_stores["air_only"])
    wednesday = datetime(2019, 1, 9, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    path = write_report(loaded, loaded.store_path, None, tmp_path, now=wednesday)
    assert path.name == "envwatch-2019-W01.html"
    sunday_night = datetime(2019, 1, 6, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with pytest.raises(UsageError, match="2018-W52"):  # W01 is not over yet
        write_report(loaded, loaded.store_path, None, tmp_path, now=sunday_night)


def test_tianditu_layer_only_with_a_key_and_off_by_default(
    report_stores: dict[str, Path], pages: dict[str, str]
) -> None:
    loaded = load_config(report_stores["air_only"])
    page = render_report(loaded, loaded.store_path, WEEK, tianditu_key="k$`<1")
    assert "tianditu.gov.cn/DataServer?T=vec_w" in page and "tk=k%24%60%3C1" in page
    name = page.index(_js("天地图底图（需联网）"))
    group = re.search(r"(feature_group_\w+)", page[name:]).group(1)  # type: ignore[union-attr]
    # a layer with show=False is in the layer control but not on the map until switched on
    assert f"{group}.addTo(" not in page
    assert "tianditu" not in pages["air_only"]  # the same page without a key


def _check_cli_help(run: Callable[..., Result]) -> None:
    result = run("report", "--help")
    assert result.exit_code == 0 and "envwatch report --week 2026-W47" in result.output


def test_report_command_has_help_with_an_example(report_stores: dict[str, Path]) -> None:
    _check_cli_help(lambda *a: _run(report_stores["air_only"], *a))
