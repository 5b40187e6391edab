"""envwatch from Python: the store's public views as pandas DataFrames with proper dtypes.

Open a store read-only with `envwatch.open` and ask for a view by site and date range::

    >>> import envwatch
    >>> ew = envwatch.open("envwatch.db")
    >>> days = ew.air_daily(["1236A"], "2019-01-01", "2019-01-02")
    >>> days[["site_name", "aqi", "category"]].values.tolist()
    [['龙赛医院', 54, '良'], ['龙赛医院', 83, '良']]
    >>> str(days["date"].dtype), str(days["aqi"].dtype), str(days["valid"].dtype)
    ('datetime64[us]', 'Int64', 'boolean')

Conventions (the same everywhere in this module):

- **Time**: ``time_local`` is a tz-naive ``datetime64`` in the store's local time zone
  (Asia/Shanghai unless `open` is told otherwise). Hourly values carry the *end* of their hour
  (hour-ending, as CNEMC publishes them): 01:00 is the mean of 00:00-01:00, and the 24th hour
  of a day is 00:00 of the next day. Water samples carry their sampling time. ``period_end``
  keeps the exact instant as Unix seconds (UTC). Ledger times (``started_at`` ...) are
  tz-aware UTC. ``date`` columns are ``datetime64`` at midnight; ``period`` of
  `water_periods` is a monthly ``Period``.
- **Date ranges**: `start` and `end` are local dates (``"2026-11-01"``, a ``date`` or a
  ``Timestamp`` at midnight), both inclusive, either may be left out. For hourly data a day is
  the natural day of HJ 663: the hours labelled 01:00 … 24:00 (so ``end="2026-11-30"`` includes
  the hour labelled 2026-12-01 00:00).
- **Sites**: a list of site ids or names (``["1236A", "龙赛医院"]``), or one string; ``None``
  for every site. An unknown site raises `envwatch.errors.UsageError` with a suggestion.
- **Units**: air concentrations in µg/m³, CO in mg/m³; water items in mg/L (pH none, water
  temperature °C, fecal coliform per litre). ``COLUMNS`` lists every column with its Chinese
  label and unit; the Excel export and Datasette show the same labels.
- **Dtypes**: text ``string``, numbers ``float64``, counts and classes ``Int64``, flags
  ``boolean`` (all nullable); AQI ``category`` and water ``class_label`` are ordered categoricals
  (优 < 良 < … and Ⅰ < Ⅱ < … < 劣Ⅴ), so ``df[df.category > "良"]`` works.

More examples (they run in the tests on the bundled samples)::

    >>> hours = ew.air_hourly("龙赛医院", "2019-01-01", "2019-01-01")
    >>> len(hours), hours["time_local"].min(), hours["time_local"].max()
    (24, Timestamp('2019-01-01 01:00:00'), Timestamp('2019-01-02 00:00:00'))
    >>> water = ew.water_samples(start="2026-08-01", end="2026-08-31", kind="lab")
    >>> water[["site_name", "class_label", "nh3n"]].values.tolist()
    [['四灶浦闸', 'Ⅴ', 1.58], ['大嵩', 'Ⅲ', 0.41], ['梁桥', 'Ⅲ', 0.86]]
    >>> months = ew.water_periods(["梁桥"], "2026-07-01", "2026-08-31", kind="lab")
    >>> months[["period", "class_label"]].astype(str).values.tolist()
    [['2026-07', 'Ⅲ'], ['2026-08', 'Ⅲ']]
    >>> ew.scorecard().empty   # filled by `envwatch score`
    True
    >>> ew.canned("exceedance_days", site="1235A")[["站点名称", "超标天数"]].values.tolist()
    [['万里学院', 1]]
    >>> ew.close()
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from envwatch.errors import UsageError
from envwatch.standards.aqi import CATEGORIES
from envwatch.standards.water import CLASS_LABELS
from envwatch.standards.water import PARAMETERS as WATER_PARAMETERS
from envwatch.store import Store, iso

__all__ = ["COLUMNS", "TABLES", "Column", "StoreReader", "Table", "open_store"]

DateLike = str | date | datetime | pd.Timestamp

AQI_CATEGORY = pd.CategoricalDtype(list(CATEGORIES), ordered=True)
WATER_CLASS = pd.CategoricalDtype(list(CLASS_LABELS.values()), ordered=True)

# Units as staff write them (the store's codes are ASCII).
_UNIT_DISPLAY = {"degC": "℃", "1": "", "uS/cm": "µS/cm", "count/L": "个/L", "cells/L": "个/L"}


@dataclass(frozen=True)
class Column:
    """A column of a public view: name, dtype kind, Chinese label, unit and a note.

    Kinds: ``str``, ``float``, ``int``, ``bool``, ``aqi_category``, ``water_class``,
    ``local`` (local time, see the module's conventions), ``date``, ``month``, ``utc``,
    ``unix`` (Unix seconds, UTC).
    """

    name: str
    kind: str
    label: str
    unit: str = ""
    note: str = ""

    @property
    def header(self) -> str:
        """The Excel header: the Chinese label and the unit, e.g. ``PM2.5 (µg/m³)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def description(self) -> str:
        """One Chinese sentence for Datasette: label, unit, note."""
        text = self.label + (f"，单位 {self.unit}" if self.unit else "")
        return text + (f"。{self.note}" if self.note else "")


@dataclass(frozen=True)
class Table:
    """A public view (or table) that the API, the export and Datasette describe.

    `select` is the SQL of the rows; `time` says how a date range filters them (``hour``,
    ``sample``, ``date``, ``month``, ``span``, ``utc`` or None); `time_column` is the column it
    filters on; `sites` is the site column (None: no site filter).
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    select: str
    time: str | None = None
    time_column: str = ""
    sites: str | None = "site_id"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, kind: str, label: str, unit: str = "", note: str = "") -> Column:
    return Column(name, kind, label, unit, note)


_SITE = (
    _c("site_id", "str", "站点编号"),
    _c("site_name", "str", "站点名称"),
)
_HOUR_END = "小时值记时段末：01:00 为 00:00-01:00 的均值，24 时记为次日 00:00"
_AIR_1H = (
    _c("pm25", "float", "PM2.5", "µg/m³", "1小时平均"),
    _c("pm10", "float", "PM10", "µg/m³", "1小时平均"),
    _c("so2", "float", "SO2", "µg/m³", "1小时平均"),
    _c("no2", "float", "NO2", "µg/m³", "1小时平均"),
    _c("co", "float", "CO", "mg/m³", "1小时平均"),
    _c("o3", "float", "O3", "µg/m³", "1小时平均"),
)
_EXACT_1H = tuple(
    _c(f"{c.name}_exact", "float", f"{c.label}（全精度）", c.unit, "未修约") for c in _AIR_1H
)
_EXACT_DAY = tuple(
    _c(f"{code}_exact", "float", f"{label}（全精度）", unit, "未修约")
    for code, label, unit in (
        ("pm25", "PM2.5 日均", "µg/m³"),
        ("pm10", "PM10 日均", "µg/m³"),
        ("so2", "SO2 日均", "µg/m³"),
        ("no2", "NO2 日均", "µg/m³"),
        ("co", "CO 日均", "mg/m³"),
        ("o3_1h_max", "O3 日最大1小时", "µg/m³"),
        ("o3_8h_max", "O3 日最大8小时平均", "µg/m³"),
    )
)
_AREA = (
    _c("level", "str", "层级", "", "city 城市、district 区县、group 站点组（如大榭）"),
    _c("area", "str", "区域"),
)
_WATER_ITEMS = tuple(
    _c(code, "float", p.name, _UNIT_DISPLAY.get(p.unit, p.unit))
    for code, p in WATER_PARAMETERS.items()
)
_KIND_NOTE = "auto 为国家地表水自动站，lab 为手工监测（化验单）"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "air_hourly",
            "空气质量小时数据",
            "每个空气站每小时的六项污染物浓度和按 HJ 633 计算的 AQI。" + _HOUR_END + "。",
            (
                *_SITE,
                _c("district", "str", "区县"),
                _c("time_local", "local", "时间（本地，时段末）", "", _HOUR_END),
                *_AIR_1H,
                _c("aqi", "int", "AQI", "", "按 HJ 633 计算，不照抄数据源"),
                _c("category", "aqi_category", "空气质量级别"),
                _c("primary_pollutant", "str", "首要污染物", "", "AQI ≤ 50 时为空"),
                _c("rules", "str", "标准版本", "", "2012 或 2026（2026-03-01 起）"),
                _c("aqi_published", "float", "数据源发布的AQI", "", "仅供比对"),
                _c("period_end", "unix", "时段末（Unix 秒，UTC）"),
                *_EXACT_1H,
            ),
            "SELECT * FROM air_hourly",
            time="hour",
            time_column="period_end",
        ),
        Table(
            "air_daily",
            "空气质量日数据",
            "每个空气站每个自然日（01:00 至次日 00:00 的小时值）的 HJ 663 日均值和日AQI。",
            (
                *_SITE,
                _c("district", "str", "区县"),
                _c("date", "date", "日期"),
                _c("rules", "str", "标准版本", "", "2012 或 2026（2026-03-01 起）"),
                _c("pm25", "float", "PM2.5 日均", "µg/m³", "至少20个小时值"),
                _c("pm10", "float", "PM10 日均", "µg/m³", "至少20个小时值"),
                _c("so2", "float", "SO2 日均", "µg/m³", "至少20个小时值"),
                _c("no2", "float", "NO2 日均", "µg/m³", "至少20个小时值"),
                _c("co", "float", "CO 日均", "mg/m³", "至少20个小时值"),
                _c("o3_1h_max", "float", "O3 日最大1小时", "µg/m³"),
                _c("o3_8h_max", "float", "O3 日最大8小时平均", "µg/m³", "08:00-24:00 的8小时值"),
                _c("aqi", "int", "日AQI"),
                _c("category", "aqi_category", "空气质量级别"),
                _c("primary_pollutant", "str", "首要污染物"),
                _c("valid", "bool", "有效", "", "计算日AQI所需的各项日均值都有效"),
                _c("exceeding", "str", "超标污染物", "", "2012 规则"),
                _c("background", "bool", "对照点", "", "对照点不参与城市和区县均值"),
                *_EXACT_DAY,
            ),
            "SELECT * FROM air_daily",
            time="date",
            time_column="date",
        ),
        Table(
            "area_hourly",
            "城市和区县空气质量小时数据",
            "城市、区县和站点组（如大榭）的小时值：参与统计的站点小时值的算术平均，按 GB/T 8170 "
            "四舍六入五成双修约一次（整数，CO 保留一位小数）；AQI 按小时规则。" + _HOUR_END + "。",
            (
                *_AREA,
                _c("time_local", "local", "时间（本地，时段末）", "", _HOUR_END),
                _c("rules", "str", "标准版本", "", "2012 或 2026（2026-03-01 起）"),
                *_AIR_1H,
                _c("aqi", "int", "AQI"),
                _c("category", "aqi_category", "空气质量级别"),
                _c("primary_pollutant", "str", "首要污染物", "", "AQI ≤ 50 时为空"),
                _c("n_stations", "int", "站点数", "", "该小时有数据的参与统计站点"),
                _c("period_end", "unix", "时段末（Unix 秒，UTC）"),
                *_EXACT_1H,
            ),
            "SELECT level, area, period_end, rules, pm25, pm10, so2, no2, co, o3, aqi, category, "
            "primary_pollutant, n_stations, pm25_exact, pm10_exact, so2_exact, no2_exact, "
            "co_exact, o3_exact FROM area_hour",
            time="hour",
            time_column="period_end",
            sites=None,
        ),
        Table(
            "area_daily",
            "城市和区县空气质量日数据",
            "城市、区县和站点组的日值：参与统计站点 HJ 663 日均值（O3 为日最大8小时平均）的算术"
            "平均，O3 日最大1小时取区域小时值的最大值；有效站点不少于 75%（不足4个站点时 50%）；"
            "修约一次，日AQI由修约后的值计算。",
            (
                *_AREA,
                _c("date", "date", "日期"),
                _c("rules", "str", "标准版本", "", "2012 或 2026（2026-03-01 起）"),
                _c("pm25", "float", "PM2.5 日均", "µg/m³"),
                _c("pm10", "float", "PM10 日均", "µg/m³"),
                _c("so2", "float", "SO2 日均", "µg/m³"),
                _c("no2", "float", "NO2 日均", "µg/m³"),
                _c("co", "float", "CO 日均", "mg/m³"),
                _c("o3_1h_max", "float", "O3 日最大1小时", "µg/m³", "区域小时值的最大值"),
                _c("o3_8h_max", "float", "O3 日最大8小时平均", "µg/m³"),
                _c("aqi", "int", "日AQI"),
                _c("category", "aqi_category", "空气质量级别"),
                _c("primary_pollutant", "str", "首要污染物"),
                _c("valid", "bool", "有效", "", "日AQI所需各项都满足站点覆盖要求"),
                _c("n_stations", "int", "站点数", "", "当日参与统计的站点（对照点、停运站除外）"),
                *_EXACT_DAY,
            ),
            "SELECT * FROM area_day",
            time="date",
            time_column="date",
            sites=None,
        ),
        Table(
            "water_samples",
            "地表水监测数据",
            "每个断面每次监测的各项目浓度和 GB 3838 水质类别。" + _KIND_NOTE + "。",
            (
                *_SITE,
                _c("water_type", "str", "水体类型", "", "river 河流，lake 湖库"),
                _c("time_local", "local", "监测时间（本地）"),
                _c("source", "str", "数据源"),
                _c("kind", "str", "监测方式", "", _KIND_NOTE),
                *_WATER_ITEMS,
                _c("class", "int", "水质类别（1-6）", "", "6 为劣Ⅴ类"),
                _c("class_label", "water_class", "水质类别"),
                _c("main_pollutants", "str", "主要污染物", "", "括号内为超标倍数"),
                _c("status", "str", "水质状况"),
                _c("class_published", "int", "数据源发布的类别", "", "仅供比对"),
                _c("qc_withheld", "str", "质控未采用的项目"),
                _c("below_detection", "str", "未检出的项目", "", "按检出限的一半计"),
                _c("control_level", "str", "控制级别"),
                _c("target_class", "int", "目标类别（1-5）"),
                _c("province", "str", "省份"),
                _c("basin", "str", "流域"),
                _c("district", "str", "区县"),
                _c("period_end", "unix", "监测时刻（Unix 秒，UTC）"),
            ),
            "SELECT * FROM water_samples",
            time="sample",
            time_column="period_end",
        ),
        Table(
            "water_periods",
            "地表水月度水质",
            "每个断面每月的水质类别：先求各项目的月均值再定类（不平均类别）。",
            (
                *_SITE,
                _c("water_type", "str", "水体类型"),
                _c("kind", "str", "监测方式", "", _KIND_NOTE),
                _c("period", "month", "月份"),
                _c("n_samples", "int", "样品数"),
                _c("class", "int", "水质类别（1-6）", "", "6 为劣Ⅴ类"),
                _c("class_label", "water_class", "水质类别"),
                _c("status", "str", "水质状况"),
                _c("main_pollutants", "str", "主要污染物"),
                _c("control_level", "str", "控制级别"),
                _c("target_class", "int", "目标类别（1-5）"),
                _c("meets_target", "bool", "达到目标"),
            ),
            "SELECT * FROM water_periods",
            time="month",
            time_column="period",
        ),
        Table(
            "scorecard",
            "目标完成情况",
            "规划目标逐项的数值、目标和是否达标，由 envwatch score 计算。",
            (
                _c("period", "str", "时段", "", "2026（年）、2026-11（月）或 2026-W47（周）"),
                _c("target_id", "str", "指标编号"),
                _c("label", "str", "指标"),
                _c("value", "float", "数值"),
                _c("value_text", "str", "数值（文字）"),
                _c("unit", "str", "单位"),
                _c("goal", "str", "目标"),
                _c("met", "bool", "达标"),
                _c("previous", "float", "上期数值"),
                _c("trend", "str", "趋势"),
                _c("detail", "str", "说明"),
                _c("period_start", "date", "时段起"),
                _c("period_end", "date", "时段止"),
                _c("computed_at", "utc", "计算时间（UTC）"),
            ),
            "SELECT * FROM scorecard",
            time="span",
            time_column="period_start",
            sites=None,
        ),
        Table(
            "runs",
            "采集运行记录",
            "每次 envwatch ingest 一行：窗口、状态和计数。",
            (
                _c("id", "int", "运行编号"),
                _c("source", "str", "数据源"),
                _c("started_at", "utc", "开始时间（UTC）"),
                _c("finished_at", "utc", "结束时间（UTC）"),
                _c("status", "str", "状态", "", "ok 成功，partial 部分成功，failed 失败"),
                _c("fetched", "int", "读到的数值"),
                _c("new", "int", "新增"),
                _c("revised", "int", "修订"),
                _c("unchanged", "int", "未变"),
                _c("rejected", "int", "拒收"),
                _c("error", "str", "出错信息"),
                _c("window_start", "utc", "窗口起（UTC）"),
                _c("window_end", "utc", "窗口止（UTC）"),
                _c("payloads", "int", "载荷数"),
                _c("mismatches", "int", "AQI 与发布值不同的小时数"),
                _c("faults", "str", "故障"),
            ),
            "SELECT * FROM runs",
            time="utc",
            time_column="started_at",
            sites=None,
        ),
        Table(
            "sites",
            "站点和断面",
            "站点登记表：来自 stations.yaml，以及从数据源、化验单加入的站点。坐标为 WGS-84。",
            (
                _c("site_id", "str", "站点编号"),
                _c("name", "str", "名称"),
                _c("kind", "str", "类型", "", "air 空气站，water 断面，outfall 排口"),
                _c("lon", "float", "经度", "°", "WGS-84"),
                _c("lat", "float", "纬度", "°", "WGS-84"),
                _c("crs_source", "str", "原始坐标系"),
                _c("province", "str", "省份"),
                _c("city", "str", "城市"),
                _c("district", "str", "区县"),
                _c("district_source", "str", "区县来源"),
                _c("background", "bool", "对照点"),
                _c("basin", "str", "流域"),
                _c("river", "str", "河流"),
                _c("control_level", "str", "控制级别"),
                _c("water_type", "str", "水体类型"),
                _c("water_type_guessed", "bool", "水体类型为推测"),
                _c("target_class", "int", "目标类别（1-5）"),
                _c("zone", "str", "功能区"),
                _c("receiving_water", "str", "受纳水体"),
                _c("outfall_type", "str", "排口类型"),
                _c("origin", "str", "来源", "", "config 为 stations.yaml，feed 为数据源"),
                _c("updated_at", "utc", "更新时间（UTC）"),
            ),
            "SELECT * FROM sites",
        ),
        Table(
            "observations",
            "全部监测值（长表）",
            "每个站点、参数、时段类型、时刻一行，数值为规范单位（见 unit）。",
            (
                _c("site_id", "str", "站点编号"),
                _c("parameter", "str", "参数代码"),
                _c("averaging", "str", "时段类型", "", "1h、24h 等为小时值；auto、lab 为水样"),
                _c("period_end", "unix", "时段末（Unix 秒，UTC）"),
                _c("time_local", "local", "时间（本地，时段末）", "", _HOUR_END),
                _c("value", "float", "数值", "", "单位见 unit"),
                _c("unit", "str", "单位"),
                _c("flag", "str", "标记"),
                _c("run_id", "int", "运行编号"),
            ),
            "SELECT o.site_id, o.parameter, o.averaging, o.period_end, NULL AS time_local, "
            "o.value, p.unit, o.flag, o.run_id "
            "FROM observations o LEFT JOIN parameters p ON p.code = o.parameter",
            time="hour",
            time_column="o.period_end",
        ),
        Table(
            "revisions",
            "数据修订",
            "数据源改了已入库的值时记下的旧值和新值；revised_at 为发现修订的采集时间。",
            (
                _c("id", "int", "编号"),
                _c("run_id", "int", "运行编号"),
                _c("revised_at", "utc", "修订时间（UTC）"),
                _c("site_id", "str", "站点编号"),
                _c("parameter", "str", "参数代码"),
                _c("averaging", "str", "时段类型"),
                _c("period_end", "unix", "时段末（Unix 秒，UTC）"),
                _c("time_local", "local", "数据时间（本地，时段末）"),
                _c("old_value", "float", "旧值"),
                _c("new_value", "float", "新值"),
                _c("old_flag", "str", "旧标记"),
                _c("new_flag", "str", "新标记"),
            ),
            "SELECT v.id, v.run_id, l.started_at AS revised_at, v.site_id, v.parameter, "
            "v.averaging, v.period_end, NULL AS time_local, v.old_value, v.new_value, "
            "v.old_flag, v.new_flag FROM revisions v JOIN run_ledger l ON l.id = v.run_id",
            time="utc",
            time_column="l.started_at",
            sites="v.site_id",
        ),
    )
}
"""The tables envwatch describes, by name: the public views, sites, observations, revisions."""

COLUMNS: dict[str, dict[str, Column]] = {
    name: {c.name: c for c in t.columns} for name, t in TABLES.items()
}
"""Column descriptions by table and column name."""


def _day(value: DateLike, what: str) -> date:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UsageError(f"{what} '{value}' is not a date: write YYYY-MM-DD") from None
    if ts is pd.NaT or ts != ts.normalize():
        raise UsageError(f"{what} '{value}' is not a date: give a day, e.g. 2026-11-01")
    return ts.date()


def _typed(table: Table, df: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """The rows of `table` with the declared dtype for every column (stable across chunks)."""
    out: dict[str, Any] = {}
    for col in table.columns:
        s = df[col.name] if col.name in df else pd.Series([None] * len(df), dtype=object)
        k = col.kind
        if k == "str":
            out[col.name] = s.astype("string")
        elif k == "float":
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif k in ("int", "unix"):
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif k == "bool":
            out[col.name] = pd.to_numeric(s, errors="coerce").astype("Int64").astype("boolean")
        elif k == "aqi_category":
            out[col.name] = s.astype(object).astype(AQI_CATEGORY)
        elif k == "water_class":
            out[col.name] = s.astype(object).astype(WATER_CLASS)
        elif k == "local":
            # from the exact instant; identical to the views' labels (no DST in China)
            secs = pd.to_numeric(df["period_end"], errors="coerce")
            t = pd.to_datetime(secs, unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)
            out[col.name] = t.astype("datetime64[us]")
        elif k == "date":
            out[col.name] = pd.to_datetime(s, format="ISO8601", errors="coerce").astype(
                "datetime64[us]"
            )
        elif k == "month":
            out[col.name] = pd.to_datetime(s, format="%Y-%m").dt.to_period("M")
        elif k == "utc":
            out[col.name] = pd.to_datetime(s, format="ISO8601", utc=True).astype(
                "datetime64[us, UTC]"
            )
        else:  # pragma: no cover - a typo in TABLES
            raise ValueError(f"unknown column kind {k}")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


class StoreReader:
    """A store opened read-only; every method returns a DataFrame (see the module docstring).

    Use as a context manager or call `close()`. The store may be written meanwhile (WAL): each
    call sees the data as of its start.
    """

    def __init__(self, path: str | Path, tz: str = "Asia/Shanghai") -> None:
        self.path = Path(path)
        self.tz = ZoneInfo(tz)
        offset = datetime(2000, 1, 1, tzinfo=self.tz).utcoffset() or timedelta(0)
        self._store = Store.readonly(
            self.path, utc_offset_minutes=int(offset.total_seconds() // 60)
        )

    def close(self) -> None:
        """Close the connection."""
        self._store.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<envwatch store {self.path} (read-only)>"

    # -- the views -------------------------------------------------------------------------------

    def air_hourly(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Station-hours (view ``air_hourly``): 1-h concentrations (µg/m³, CO mg/m³), AQI
        (HJ 633), category, primary pollutant. ``time_local`` is hour-ending local time; the
        days start … end are natural days (hours 01:00 … 24:00)."""
        return self.table("air_hourly", sites, start, end)

    def air_daily(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Station-days (view ``air_daily``): HJ 663 24-h means (µg/m³, CO mg/m³), O3 daily
        maxima, daily AQI; ``date`` is the natural day, ``valid`` whether the AQI's inputs are."""
        return self.table("air_daily", sites, start, end)

    def area_hourly(
        self,
        level: str | None = None,
        area: str | Sequence[str] | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
    ) -> pd.DataFrame:
        """City, district and group hours (view ``area_hourly``): the mean of the counting
        stations' 1-h values rounded as published (integers, CO 0.1; ``*_exact`` at full
        precision), the hourly AQI; `level` ``city``, ``district`` or ``group``; `area` e.g.
        宁波市, 镇海区, 大榭; since … until are natural days (hours 01:00 … 24:00)."""
        return self._areas("area_hourly", level, area, since, until)

    def area_daily(
        self,
        level: str | None = None,
        area: str | Sequence[str] | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
    ) -> pd.DataFrame:
        """City, district and group days (view ``area_daily``): the mean of the counting
        stations' HJ 663 daily values (75 % of them valid, 50 % under four), the O3 1-h
        maximum of the area's hourly series, rounded once as published (``*_exact`` at full
        precision), the daily AQI and ``valid``; ``date`` is the natural day."""
        return self._areas("area_daily", level, area, since, until)

    def _areas(
        self,
        name: str,
        level: str | None,
        area: str | Sequence[str] | None,
        since: DateLike | None,
        until: DateLike | None,
    ) -> pd.DataFrame:
        if level is not None and level not in ("city", "district", "group"):
            raise UsageError(f"level '{level}' is not city, district or group")
        df = self.table(name, None, since, until)
        if level is not None:
            df = df.loc[df["level"] == level]
        if area is not None:
            wanted = [area] if isinstance(area, str) else list(area)
            known = {r[0] for r in self._store.conn.execute("SELECT DISTINCT area FROM area_day")}
            unknown = [a for a in wanted if a not in known]
            if unknown:
                close = difflib.get_close_matches(unknown[0], sorted(known), n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise UsageError(f"no area '{unknown[0]}' in {self.path}{hint}")
            df = df.loc[df["area"].isin(wanted)]
        return df.reset_index(drop=True)

    def water_samples(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """Section samples (view ``water_samples``): items in mg/L (pH none, temp °C), class
        1-6 (6 = 劣Ⅴ) by GB 3838; ``time_local`` is the local sampling time; `kind` ``auto``
        (national automatic stations) or ``lab`` (staff lab sheets), None for both."""
        return self.table("water_samples", sites, start, end, kind=kind)

    def water_periods(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        kind: str | None = None,
    ) -> pd.DataFrame:
        """Section-months (view ``water_periods``): the class of the month's item means and
        whether it meets the section's target; months overlapping start … end."""
        return self.table("water_periods", sites, start, end, kind=kind)

    def scorecard(
        self,
        period: str | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """The plan's targets (view ``scorecard``, filled by ``envwatch score``): one row per
        target and period (``2026``, ``2026-11``, ``2026-W47``); `period` picks one, start …
        end keeps periods that overlap those days. Empty (with its columns) before scoring."""
        df = self.table("scorecard", None, start, end)
        if period is not None:
            df = df.loc[df["period"] == period].reset_index(drop=True)
        return df

    def stats(
        self,
        area: str | Sequence[str],
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        period: str | None = None,
    ) -> pd.DataFrame:
        """HJ 633/663 period figures of areas (宁波市, 镇海区, a group) or stations (id or name),
        as the bulletins publish them: one row per area, columns `envwatch.stats.STATS_COLUMNS`
        (days per category, good-day ratio %, means µg/m³, co_p95 mg/m³, o3_8h_p90, composite
        index, exceedance and primary-pollutant days per pollutant). The local days since …
        until (inclusive), or `period` (``2019``, ``2019-04``, ``2019-W14``)."""
        from envwatch import stats as stats_lib

        first = _day(since, "since") if since is not None else None
        last = _day(until, "until") if until is not None else None
        today = datetime.now(self.tz).date()
        first, last = stats_lib.resolve_period(period, first, last, today)
        return stats_lib.area_stats(self._store, area, first, last)

    def runs(self, start: DateLike | None = None, end: DateLike | None = None) -> pd.DataFrame:
        """Ingest runs (view ``runs``) started on the local days start … end; times in UTC."""
        return self.table("runs", None, start, end)

    def sites(self, kind: str | None = None) -> pd.DataFrame:
        """The site registry (WGS-84 coordinates); `kind` ``air``, ``water`` or ``outfall``."""
        return self.table("sites", kind=kind)

    def observations(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        parameters: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Every stored value, long format: site, parameter code, averaging, time, value in
        the parameter's unit (column ``unit``), flag. Large: filter by site and date."""
        return self.table("observations", sites, start, end, parameters=parameters)

    def revisions(
        self,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> pd.DataFrame:
        """Values a source changed after they were stored, old and new, found by runs that
        started on the local days start … end."""
        return self.table("revisions", sites, start, end)

    # -- SQL -------------------------------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> pd.DataFrame:
        """Read-only SQL with named parameters, e.g. ``query("... where site_id = :s", s="1236A")``."""
        from envwatch.query import run_query

        return run_query(self.path, sql, params)

    def canned(self, name: str, **params: Any) -> pd.DataFrame:
        """A canned query of ``queries.yaml`` by name (``envwatch query --list`` lists them)."""
        from envwatch.query import load_queries, run_canned

        queries = load_queries()
        if name not in queries:
            raise UsageError(f"no canned query '{name}'; there are: {', '.join(queries)}")
        return run_canned(self.path, queries[name], params)

    # -- any table -------------------------------------------------------------------------------

    def table(
        self,
        name: str,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        *,
        kind: str | None = None,
        parameters: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of one of `TABLES`, typed; the same filters as the named methods."""
        frames = list(
            self.iter_table(
                name, sites, start, end, kind=kind, parameters=parameters, chunk_rows=None
            )
        )
        return frames[0]

    def iter_table(
        self,
        name: str,
        sites: str | Sequence[str] | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        *,
        kind: str | None = None,
        parameters: Sequence[str] | None = None,
        chunk_rows: int | None = 200_000,
    ) -> Iterator[pd.DataFrame]:
        """The rows of `table` in typed chunks of at most `chunk_rows` (None: one frame).

        Always yields at least one frame (empty, with the columns, when nothing matches).
        """
        table = _table(name)
        sql, params = self._sql(table, sites, start, end, kind, parameters)
        cur = self._store.conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        yielded = False
        while True:
            rows = cur.fetchall() if chunk_rows is None else cur.fetchmany(chunk_rows)
            if not rows and yielded:
                break
            yield _typed(table, pd.DataFrame(rows, columns=cols), self.tz)
            yielded = True
            if chunk_rows is None or len(rows) < chunk_rows:
                break

    def _sql(
        self,
        table: Table,
        sites: str | Sequence[str] | None,
        start: DateLike | None,
        end: DateLike | None,
        kind: str | None,
        parameters: Sequence[str] | None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if sites is not None:
            if table.sites is None:
                raise UsageError(f"{table.name} has no sites to choose from")
            ids = self.site_ids(sites)
            where.append(f"{table.sites} IN ({', '.join('?' * len(ids))})")
            params += ids
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if parameters is not None:
            where.append(f"o.parameter IN ({', '.join('?' * len(parameters))})")
            params += list(parameters)
        first = _day(start, "start") if start is not None else None
        last = _day(end, "end") if end is not None else None
        if first and last and first > last:
            raise UsageError(f"start {first} is after end {last}")
        if (first or last) and table.time is None:
            raise UsageError(f"{table.name} has no dates to choose from")
        w, p = self._time_filter(table, first, last)
        where += w
        params += p
        sql = table.select + (" WHERE " + " AND ".join(where) if where else "")
        order = {
            "air_hourly": "site_id, period_end",
            "air_daily": "site_id, date",
            "area_hourly": "level, area, period_end",
            "area_daily": "level, area, date",
            "water_samples": "site_id, period_end",
            "water_periods": "site_id, kind, period",
            "scorecard": "period_start, period, target_id",
            "runs": "id",
            "sites": "site_id",
            "observations": "o.site_id, o.parameter, o.averaging, o.period_end",
            "revisions": "v.id",
        }[table.name]
        return f"{sql} ORDER BY {order}", params

    def _midnight(self, d: date) -> int:
        """Unix seconds of local midnight at the start of `d`."""
        return int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp())

    def _time_filter(
        self, table: Table, first: date | None, last: date | None
    ) -> tuple[list[str], list[Any]]:
        col = table.time_column
        where: list[str] = []
        params: list[Any] = []
        nxt = last + timedelta(days=1) if last else None
        if table.time == "hour":  # natural days: hour-ending labels 01:00 … 24:00
            if first:
                where.append(f"{col} > ?")
                params.append(self._midnight(first))
            if nxt:
                where.append(f"{col} <= ?")
                params.append(self._midnight(nxt))
        elif table.time == "sample":  # sampling instants: [first 00:00, last+1 00:00)
            if first:
                where.append(f"{col} >= ?")
                params.append(self._midnight(first))
            if nxt:
                where.append(f"{col} < ?")
                params.append(self._midnight(nxt))
        elif table.time == "date":
            if first:
                where.append(f"{col} >= ?")
                params.append(first.isoformat())
            if last:
                where.append(f"{col} <= ?")
                params.append(last.isoformat())
        elif table.time == "month":
            if first:
                where.append(f"{col} >= ?")
                params.append(f"{first:%Y-%m}")
            if last:
                where.append(f"{col} <= ?")
                params.append(f"{last:%Y-%m}")
        elif table.time == "span":  # periods overlapping the days
            if first:
                where.append("period_end >= ?")
                params.append(first.isoformat())
            if last:
                where.append("period_start <= ?")
                params.append(last.isoformat())
        elif table.time == "utc":
            if first:
                where.append(f"{col} >= ?")
                params.append(iso(datetime(first.year, first.month, first.day, tzinfo=self.tz)))
            if nxt:
                where.append(f"{col} < ?")
                params.append(iso(datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz)))
        return where, params

    def site_ids(self, sites: str | Sequence[str]) -> list[str]:
        """Site ids for ids or names (a name may match several sites); UsageError if unknown."""
        wanted = [sites] if isinstance(sites, str) else list(sites)
        rows = self._store.conn.execute("SELECT site_id, name FROM sites").fetchall()
        by_name: dict[str, list[str]] = {}
        for sid, nm in rows:
            by_name.setdefault(nm, []).append(sid)
        ids = {r[0] for r in rows}
        out: list[str] = []
        for w in wanted:
            if w in ids:
                out.append(w)
            elif w in by_name:
                out += by_name[w]
            else:
                close = difflib.get_close_matches(w, [*ids, *by_name], n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise UsageError(f"no site '{w}' in {self.path}{hint}")
        return list(dict.fromkeys(out))


def _table(name: str) -> Table:
    if name not in TABLES:
        raise UsageError(f"unknown table '{name}'; choose one of: {', '.join(TABLES)}")
    return TABLES[name]


def open_store(path: str | Path, tz: str = "Asia/Shanghai") -> StoreReader:
    """Open an envwatch store read-only for reading DataFrames (see `StoreReader`).

    `tz` is the local time zone of ``time_local`` columns and of date ranges.
    """
    try:
        return StoreReader(path, tz)
    except sqlite3.Error as e:  # pragma: no cover - Store.readonly turns these into StoreError
        raise UsageError(f"{path}: {e}") from None
