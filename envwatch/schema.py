"""The public views of the store, declared once: names, columns, types, descriptions and SQL.

Everything that names a view's columns is derived from `RELATIONS`:

- the ``CREATE VIEW`` statements (`view_sql`, applied by `Store.migrate`);
- `envwatch.api.TABLES` and the dtypes of its DataFrames;
- the Excel export's headers and its sheet ``说明``;
- the Datasette metadata of ``envwatch serve`` (titles, a line per column);
- what a reader may read through ``envwatch query``, canned queries and ``serve``
  (`READABLE`: the public relations and the tables behind them, never the raw archive);
- the tests: each declared view against the store's ``PRAGMA table_info``, and the README's
  table of views against the declared columns.

A relation is a `Table` of `Column` s. A column has a name, a kind (its dtype in pandas:
``str``, ``float``, ``int``, ``bool``, ``aqi_category``, ``water_class``, ``local`` (local
time, tz-naive, computed from ``period_end``), ``date``, ``month``, ``utc`` (ISO-8601 UTC
text), ``unix`` (Unix seconds, UTC)), a Chinese label with its unit and note (what staff read
in Excel and Datasette), an English description, and its SQL expression over the relation's
``FROM`` clause (default: ``<alias>.<name>``). The SQL of a view is generated from its columns,
so a column cannot be declared without being selected, nor selected without being declared.

**Adding a view** is one change, here: add a `Table` to `RELATIONS` with ``kind="view"``, its
``from_`` clause (with the table alias ``alias``), its columns (expressions where the column is
not ``alias.name``; `local_time` for a local hour-ending label), how a date range filters it
(``time``/``time_column``), its site column (``sites``) and its ``order``. For example, a view
of area hours over a table ``area_hour`` (area_id, period_end, aqi)::

    Table(
        "area_hourly", "区域空气质量小时数据", "城市、区县的小时 AQI（发布值）。",
        "Hourly AQI of cities and districts, as published.",
        (
            _c("area_id", "str", "区域编号", en="area id"),
            _c("area_name", "str", "区域名称", sql="s.name", en="area name"),
            _c("time_local", "local", "时间（本地，时段末）", sql=local_time("a.period_end"),
               en="local hour-ending label"),
            _c("aqi", "int", "AQI", en="AQI"),
            _c("period_end", "unix", "时段末（Unix 秒，UTC）", en="end of the hour, Unix s UTC"),
        ),
        from_="area_hour a LEFT JOIN sites s ON s.site_id = a.area_id", alias="a",
        time="hour", time_column="period_end", sites="area_id", order="area_id, period_end",
        behind=("area_hour",),
    )

then add its rows to the README's table of views (a test checks it), and its underlying table
to a migration in `envwatch.store` (``behind`` names it, so ``query`` and ``serve`` may read
it). `Store.migrate` re-creates the views whenever this declaration changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envwatch.read import Scope
from envwatch.standards.water import PARAMETERS as WATER_PARAMETERS

__all__ = [
    "INTERNAL",
    "READABLE",
    "RELATIONS",
    "RELATIONS_BY_NAME",
    "TABLE_NOTES",
    "Column",
    "Table",
    "local_time",
    "public_views",
    "published",
    "view_sql",
]

KINDS = (
    "str",
    "float",
    "int",
    "bool",
    "aqi_category",
    "water_class",
    "local",
    "date",
    "month",
    "utc",
    "unix",
)

# The SQLite declared type a kind may have in a view (a computed column has none: "").
SQL_TYPES = {
    "str": "TEXT",
    "aqi_category": "TEXT",
    "water_class": "TEXT",
    "local": "TEXT",
    "date": "TEXT",
    "month": "TEXT",
    "utc": "TEXT",
    "float": "REAL",
    "int": "INTEGER",
    "bool": "INTEGER",
    "unix": "INTEGER",
}

_OFFSET = "{offset}"  # replaced by the store's UTC offset, e.g. '+480 minutes'


def local_time(column: str) -> str:
    """SQL of a local ``YYYY-MM-DD HH:MM`` label of a Unix-seconds (UTC) column."""
    return f"strftime('%Y-%m-%d %H:%M', {column}, 'unixepoch', {_OFFSET})"


def published(column: str, decimals: int = 0) -> str:
    """SQL of a concentration as published: GB/T 8170 half to even, once, to `decimals`.

    The same float-noise guard as `envwatch.standards.aqi.round_half_even` (round to 6 decimals
    of the unit first); SQLite's round() rounds halves away from zero. For non-negative values
    (concentrations); an integer when decimals is 0, NULL stays NULL.
    """
    y = f"round({column} * {10**decimals}, 6)"
    i = f"CAST({y} AS INTEGER)"
    even = f"(CASE WHEN {y} - {i} = 0.5 THEN {i} + {i} % 2 ELSE CAST(round({y}) AS INTEGER) END)"
    return even if decimals == 0 else f"({even} / {10.0**decimals})"


@dataclass(frozen=True)
class Column:
    """A column of a public relation: name, kind, Chinese label, unit and note, English, SQL.

    `sql` is the column's expression in its relation's ``FROM`` clause; empty means
    ``<alias>.<name>`` (or just the name when the relation has no alias).
    """

    name: str
    kind: str
    label: str
    unit: str = ""
    note: str = ""
    en: str = ""
    sql: str = ""

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
    """A public relation: a view of the store, a table, or a query the API reads.

    `kind`: ``view`` (created in the store; readers select from it by name), ``table`` (a
    table of the store, e.g. ``sites``) or ``query`` (not created; readers run its SQL).
    `time` says how a local date range filters it (``hour``: natural days of hour-ending
    values; ``sample``: instants; ``date``; ``month``; ``span``: periods overlapping the days;
    ``utc``: ISO-8601 UTC text; None: no dates); `time_column` is the column it filters on,
    `sites` the site column (None: no site filter), `order` the ORDER BY of a read.
    `behind` names the store's tables the relation reads (readable through ``query`` and
    ``serve`` for analysts).
    """

    name: str
    title: str
    description: str
    en: str
    columns: tuple[Column, ...]
    from_: str
    alias: str = ""
    kind: str = "view"
    time: str | None = None
    time_column: str = ""
    sites: str | None = "site_id"
    order: str = ""
    behind: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def scope(self) -> Scope:
        """How a read of this relation is filtered (see `envwatch.read`)."""
        qualify = f"{self.alias}." if self.kind == "query" and self.alias else ""
        return Scope(
            self.time,
            self.time_column,
            self.sites,
            kind=f"{qualify}kind",
            parameter=f"{qualify}parameter",
            averaging=f"{qualify}averaging",
            name=self.name,
        )

    def expression(self, col: Column) -> str:
        if col.sql:
            return col.sql
        return f"{self.alias}.{_quoted(col.name)}" if self.alias else _quoted(col.name)

    def definition(self, utc_offset_minutes: int = 480) -> str:
        """The SELECT that defines the relation (a view's body), for the store's UTC offset."""
        items = []
        for col in self.columns:
            expr = self.expression(col)
            bare = f"{self.alias}.{_quoted(col.name)}" if self.alias else _quoted(col.name)
            items.append(expr if expr == bare else f"{expr} AS {_quoted(col.name)}")
        sql = f"SELECT {', '.join(items)} FROM {self.from_}"
        return sql.replace(_OFFSET, f"'{utc_offset_minutes:+d} minutes'")

    def select(self, utc_offset_minutes: int = 480) -> str:
        """The SELECT a reader runs (filters are appended as a WHERE clause)."""
        if self.kind in ("view", "table"):
            return f"SELECT * FROM {self.name}"
        return self.definition(utc_offset_minutes)


def _quoted(name: str) -> str:
    return f'"{name}"' if name in _SQL_KEYWORDS else name


_SQL_KEYWORDS = {"as", "do", "class", "new", "order", "group"}


def _c(
    name: str,
    kind: str,
    label: str,
    unit: str = "",
    note: str = "",
    *,
    en: str = "",
    sql: str = "",
) -> Column:
    return Column(name, kind, label, unit, note, en, sql)


# Units as staff write them (the store's codes are ASCII).
_UNIT_DISPLAY = {"degC": "℃", "1": "", "uS/cm": "µS/cm", "count/L": "个/L", "cells/L": "个/L"}

_WATER_EN = {
    "temp": "water temperature",
    "ph": "pH",
    "do": "dissolved oxygen",
    "codmn": "permanganate index",
    "cod": "chemical oxygen demand",
    "bod5": "five-day biochemical oxygen demand",
    "nh3n": "ammonia nitrogen",
    "tp": "total phosphorus",
    "tn": "total nitrogen",
    "cu": "copper",
    "zn": "zinc",
    "f": "fluoride",
    "se": "selenium",
    "as": "arsenic",
    "hg": "mercury",
    "cd": "cadmium",
    "cr6": "hexavalent chromium",
    "pb": "lead",
    "cn": "cyanide",
    "phenol": "volatile phenols",
    "oil": "petroleum",
    "las": "anionic surfactants",
    "s2": "sulfide",
    "fcoli": "fecal coliform",
    "cond": "conductivity",
    "turb": "turbidity",
    "chla": "chlorophyll a",
    "algae": "algal density",
}

_AREA = (
    _c(
        "level",
        "str",
        "层级",
        "",
        "city 城市、district 区县、group 站点组（如大榭）",
        en="city, district or group",
    ),
    _c("area", "str", "区域", "", "如 宁波市、镇海区、大榭", en="area name, e.g. 宁波市, 镇海区"),
)
_HOUR_END = "小时值记时段末：01:00 为 00:00-01:00 的均值，24 时记为次日 00:00"
_HOUR_END_EN = "local hour-ending label YYYY-MM-DD HH:MM; 24:00 is written as next day 00:00"
_KIND_NOTE = "auto 为国家地表水自动站，lab 为手工监测（化验单）"
_RULES = _c(
    "rules",
    "str",
    "标准版本",
    "",
    "2012 或 2026（2026-03-01 起）",
    en="AQI rule set: 2012, or 2026 from 2026-03-01",
)


def _site(alias_of_names: str = "s") -> tuple[Column, Column]:
    return (
        _c("site_id", "str", "站点编号", en="site id (the feed's code)"),
        _c("site_name", "str", "站点名称", sql=f"{alias_of_names}.name", en="site name"),
    )


_AIR_NAMES = {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"}
_AIR_UNITS = {"co": "mg/m³"}
_AS_PUBLISHED = "按 GB/T 8170 四舍六入五成双修约一次（整数，CO 一位小数）"


def _air_1h(alias: str = "") -> tuple[Column, ...]:
    """The six 1-h concentrations; with `alias`, rounded as published from ``alias.code``."""
    return tuple(
        _c(
            code,
            "float",
            name,
            _AIR_UNITS.get(code, "µg/m³"),
            "1小时平均" + (f"，{_AS_PUBLISHED}" if alias else ""),
            en=f"1-h mean {name}, {_AIR_UNITS.get(code, 'µg/m³')}"
            + (", as published (half to even, once)" if alias else ""),
            sql=published(f"{alias}.{code}", 1 if code == "co" else 0) if alias else "",
        )
        for code, name in _AIR_NAMES.items()
    )


def _exact(alias: str, codes: tuple[str, ...], labels: dict[str, str]) -> tuple[Column, ...]:
    """Full-precision companions ``<code>_exact`` of published columns."""
    return tuple(
        _c(
            f"{code}_exact",
            "float",
            f"{labels[code]}（全精度）",
            _AIR_UNITS.get(code, "µg/m³"),
            "未修约",
            en=f"{code} at full precision (not rounded)",
            sql=f"{alias}.{code}",
        )
        for code in codes
    )


_DAY_LABELS = {
    **{c: f"{n} 日均" for c, n in _AIR_NAMES.items()},
    "o3_1h_max": "O3 日最大1小时",
    "o3_8h_max": "O3 日最大8小时平均",
}
_DAY_CODES = ("pm25", "pm10", "so2", "no2", "co", "o3_1h_max", "o3_8h_max")


def _air_24h() -> tuple[Column, ...]:
    """The five 24-h means (O3 has daily maxima instead), rounded as published."""
    return tuple(
        _c(
            code,
            "float",
            f"{name} 日均",
            _AIR_UNITS.get(code, "µg/m³"),
            "至少20个小时值",
            en=f"24-h mean {name}, {_AIR_UNITS.get(code, 'µg/m³')} (valid with >= 20 hours)",
            sql=published(f"d.{code}", 1 if code == "co" else 0),
        )
        for code, name in _AIR_NAMES.items()
        if code != "o3"
    )


def _water_items(alias: str) -> tuple[Column, ...]:
    return tuple(
        _c(
            code,
            "float",
            p.name,
            _UNIT_DISPLAY.get(p.unit, p.unit),
            en=f"{_WATER_EN.get(code, code)}, {p.unit}",
            sql=f'{alias}."{code}"' if code in _SQL_KEYWORDS else "",
        )
        for code, p in WATER_PARAMETERS.items()
    )


RELATIONS: tuple[Table, ...] = (
    Table(
        "air_hourly",
        "空气质量小时数据",
        "每个空气站每小时的六项污染物浓度和按 HJ 633 计算的 AQI。" + _HOUR_END + "。",
        "Station-hours: 1-h concentrations and the AQI computed by HJ 633.",
        (
            *_site(),
            _c("district", "str", "区县", sql="s.district", en="district"),
            _c(
                "time_local",
                "local",
                "时间（本地，时段末）",
                "",
                _HOUR_END,
                sql=local_time("h.period_end"),
                en=_HOUR_END_EN,
            ),
            *_air_1h("h"),
            _c("aqi", "int", "AQI", "", "按 HJ 633 计算，不照抄数据源", en="AQI by HJ 633"),
            _c("category", "aqi_category", "空气质量级别", en="AQI category (优, 良 …)"),
            _c(
                "primary_pollutant",
                "str",
                "首要污染物",
                "",
                "AQI ≤ 50 时为空",
                en="primary pollutant, empty when AQI <= 50",
            ),
            _RULES,
            _c(
                "aqi_published",
                "float",
                "数据源发布的AQI",
                "",
                "仅供比对",
                en="the feed's own AQI, for comparison",
            ),
            _c("period_end", "unix", "时段末（Unix 秒，UTC）", en="end of the hour, Unix s UTC"),
            *_exact("h", tuple(_AIR_NAMES), {c: n for c, n in _AIR_NAMES.items()}),
        ),
        from_="air_hour h LEFT JOIN sites s ON s.site_id = h.site_id",
        alias="h",
        time="hour",
        time_column="period_end",
        order="site_id, period_end",
        behind=("air_hour", "sites"),
    ),
    Table(
        "air_daily",
        "空气质量日数据",
        "每个空气站每个自然日（01:00 至次日 00:00 的小时值）的 HJ 663 日均值和日AQI。",
        "Station-days: HJ 663 daily values of the natural day and the daily AQI.",
        (
            *_site(),
            _c("district", "str", "区县", sql="s.district", en="district"),
            _c("date", "date", "日期", en="the natural day (hours 01:00 … 24:00)"),
            _RULES,
            *_air_24h(),
            _c(
                "o3_1h_max",
                "float",
                "O3 日最大1小时",
                "µg/m³",
                sql=published("d.o3_1h_max"),
                en="daily max 1-h O3, µg/m³",
            ),
            _c(
                "o3_8h_max",
                "float",
                "O3 日最大8小时平均",
                "µg/m³",
                "08:00-24:00 的8小时值",
                sql=published("d.o3_8h_max"),
                en="MDA8 O3, µg/m³, as published",
            ),
            _c("aqi", "int", "日AQI", en="daily AQI"),
            _c("category", "aqi_category", "空气质量级别", en="AQI category"),
            _c("primary_pollutant", "str", "首要污染物", en="primary pollutant"),
            _c(
                "valid",
                "bool",
                "有效",
                "",
                "计算日AQI所需的各项日均值都有效",
                en="1 when every daily value the AQI needs is valid",
            ),
            _c("exceeding", "str", "超标污染物", "", "2012 规则", en="exceeding pollutants (2012)"),
            _c(
                "background",
                "bool",
                "对照点",
                "",
                "对照点不参与城市和区县均值",
                sql="s.background",
                en="background station (left out of city and district values)",
            ),
            *_exact("d", _DAY_CODES, _DAY_LABELS),
        ),
        from_="air_day d LEFT JOIN sites s ON s.site_id = d.site_id",
        alias="d",
        time="date",
        time_column="date",
        order="site_id, date",
        behind=("air_day", "sites"),
    ),
    Table(
        "area_hourly",
        "城市和区县空气质量小时数据",
        "城市、区县和站点组（如大榭）的小时值：参与统计站点小时值的算术平均，"
        + _AS_PUBLISHED
        + "；AQI 按小时规则由修约后的值计算。"
        + _HOUR_END
        + "。",
        "Area-hours: the mean of the counting stations' 1-h values, rounded once as published.",
        (
            *_AREA,
            _c(
                "time_local",
                "local",
                "时间（本地，时段末）",
                "",
                _HOUR_END,
                sql=local_time("a.period_end"),
                en=_HOUR_END_EN,
            ),
            _RULES,
            *(
                _c(
                    code,
                    "float" if code == "co" else "int",
                    name,
                    _AIR_UNITS.get(code, "µg/m³"),
                    "参与统计站点的1小时平均值的均值",
                    en=f"{name}, mean of the stations' 1-h values, as published",
                    sql=f"a.{code}" if code == "co" else f"CAST(a.{code} AS INTEGER)",
                )
                for code, name in _AIR_NAMES.items()
            ),
            _c("aqi", "int", "AQI", en="hourly AQI of the rounded values"),
            _c("category", "aqi_category", "空气质量级别", en="AQI category"),
            _c("primary_pollutant", "str", "首要污染物", "", "AQI ≤ 50 时为空", en="primary"),
            _c(
                "n_stations",
                "int",
                "站点数",
                "",
                "该小时有数据的参与统计站点",
                en="counting stations with a value that hour",
            ),
            _c("period_end", "unix", "时段末（Unix 秒，UTC）", en="end of the hour, Unix s UTC"),
        ),
        from_="area_hour a",
        alias="a",
        time="hour",
        time_column="period_end",
        sites=None,
        order="level, area, period_end",
        behind=("area_hour",),
    ),
    Table(
        "area_daily",
        "城市和区县空气质量日数据",
        "城市、区县和站点组的日值：参与统计站点 HJ 663 日均值（O3 为日最大8小时平均）的算术平均，"
        "O3 日最大1小时取区域小时值的最大值；有效站点不少于 75%（不足4个站点时 50%）；"
        + _AS_PUBLISHED
        + "，日AQI由修约后的值计算。",
        "Area-days: the mean of the counting stations' HJ 663 daily values, as published.",
        (
            *_AREA,
            _c("date", "date", "日期", en="the natural day (hours 01:00 … 24:00)"),
            _RULES,
            *(
                _c(
                    code,
                    "float" if code == "co" else "int",
                    _DAY_LABELS[code],
                    _AIR_UNITS.get(code, "µg/m³"),
                    "区域小时值的最大值" if code == "o3_1h_max" else "参与统计站点日值的均值",
                    en=f"{code} of the area, as published",
                    sql=f"a.{code}" if code == "co" else f"CAST(a.{code} AS INTEGER)",
                )
                for code in _DAY_CODES
            ),
            _c("aqi", "int", "日AQI", en="daily AQI of the rounded values"),
            _c("category", "aqi_category", "空气质量级别", en="AQI category"),
            _c("primary_pollutant", "str", "首要污染物", en="primary pollutant"),
            _c(
                "valid",
                "bool",
                "有效",
                "",
                "日AQI所需各项都满足站点覆盖要求",
                en="1 when every value the AQI needs meets the station coverage rule",
            ),
            _c(
                "n_stations",
                "int",
                "站点数",
                "",
                "当日参与统计的站点（对照点、停运站除外）",
                en="counting stations that day (background and stopped ones left out)",
            ),
        ),
        from_="area_day a",
        alias="a",
        time="date",
        time_column="date",
        sites=None,
        order="level, area, date",
        behind=("area_day",),
    ),
    Table(
        "water_samples",
        "地表水监测数据",
        "每个断面每次监测的各项目浓度和 GB 3838 水质类别。" + _KIND_NOTE + "。",
        "Section-samples: item concentrations and the GB 3838 class.",
        (
            *_site(),
            _c(
                "water_type",
                "str",
                "水体类型",
                "",
                "river 河流，lake 湖库",
                sql="s.water_type",
                en="river or lake",
            ),
            _c(
                "time_local",
                "local",
                "监测时间（本地）",
                sql=local_time("w.period_end"),
                en="local sampling time",
            ),
            _c("source", "str", "数据源", en="source name"),
            _c("kind", "str", "监测方式", "", _KIND_NOTE, en="auto (national station) or lab"),
            *_water_items("w"),
            _c("class", "int", "水质类别（1-6）", "", "6 为劣Ⅴ", en="class 1-6, 6 = 劣Ⅴ"),
            _c("class_label", "water_class", "水质类别", en="class label Ⅰ … 劣Ⅴ"),
            _c(
                "main_pollutants",
                "str",
                "主要污染物",
                "",
                "括号内为超标倍数",
                en="items worse than Ⅲ with their exceedance multiple",
            ),
            _c("status", "str", "水质状况", en="water quality status (优, 良好 …)"),
            _c(
                "class_published",
                "int",
                "数据源发布的类别",
                "",
                "仅供比对",
                en="the feed's own class, for comparison",
            ),
            _c("qc_withheld", "str", "质控未采用的项目", en="item codes withheld by QC"),
            _c(
                "below_detection",
                "str",
                "未检出的项目",
                "",
                "按检出限的一半计",
                en="item codes below detection (counted at half the limit)",
            ),
            _c("control_level", "str", "控制级别", sql="s.control_level", en="国控 … 县控"),
            _c("target_class", "int", "目标类别（1-5）", sql="s.target_class", en="target class"),
            _c("province", "str", "省份", sql="s.province", en="province"),
            _c("basin", "str", "流域", sql="s.basin", en="basin"),
            _c("district", "str", "区县", sql="s.district", en="district"),
            _c(
                "period_end",
                "unix",
                "监测时刻（Unix 秒，UTC）",
                en="sampling instant, Unix s UTC",
            ),
        ),
        from_="water_sample w LEFT JOIN sites s ON s.site_id = w.site_id",
        alias="w",
        time="sample",
        time_column="period_end",
        order="site_id, period_end",
        behind=("water_sample", "sites"),
    ),
    Table(
        "water_periods",
        "地表水月度水质",
        "每个断面每月的水质类别：先求各项目的月均值再定类（不平均类别）。",
        "Section-months: the class of the month's item means.",
        (
            *_site(),
            _c("water_type", "str", "水体类型", sql="s.water_type", en="river or lake"),
            _c("kind", "str", "监测方式", "", _KIND_NOTE, en="auto or lab"),
            _c("period", "month", "月份", en="local month YYYY-MM"),
            _c("n_samples", "int", "样品数", en="samples in the month"),
            _c("class", "int", "水质类别（1-6）", "", "6 为劣Ⅴ", en="class 1-6"),
            _c("class_label", "water_class", "水质类别", en="class label"),
            _c("status", "str", "水质状况", en="water quality status"),
            _c("main_pollutants", "str", "主要污染物", en="main pollutants of the month"),
            _c("control_level", "str", "控制级别", sql="s.control_level", en="control level"),
            _c("target_class", "int", "目标类别（1-5）", sql="s.target_class", en="target class"),
            _c(
                "meets_target",
                "bool",
                "达到目标",
                sql="CASE WHEN s.target_class IS NULL OR p.class IS NULL THEN NULL "
                "ELSE p.class <= s.target_class END",
                en="class at or better than the target",
            ),
        ),
        from_="water_period p LEFT JOIN sites s ON s.site_id = p.site_id",
        alias="p",
        time="month",
        time_column="period",
        order="site_id, kind, period",
        behind=("water_period", "sites"),
    ),
    Table(
        "scorecard",
        "目标完成情况",
        "规划目标逐项的数值、目标和是否达标，由 envwatch score 计算。",
        "The plan's targets per period, computed by envwatch score.",
        (
            _c(
                "period",
                "str",
                "时段",
                "",
                "2026（年）、2026-11（月）或 2026-W47（周）",
                en="2026, 2026-11 or 2026-W47",
            ),
            _c("target_id", "str", "指标编号", en="target id"),
            _c("label", "str", "指标", en="target"),
            _c("value", "float", "数值", en="value"),
            _c("value_text", "str", "数值（文字）", en="value as shown (无数据 when no data)"),
            _c("unit", "str", "单位", en="unit"),
            _c("goal", "str", "目标", en="goal"),
            _c(
                "met",
                "bool",
                "达标",
                sql="CASE met WHEN 1 THEN 1 WHEN 0 THEN 0 END",
                en="1, 0, or empty when there is no data",
            ),
            _c("previous", "float", "上期数值", en="the previous period's value"),
            _c("trend", "str", "趋势", en="trend"),
            _c("detail", "str", "说明", en="how it was measured"),
            _c("period_start", "date", "时段起", en="first day"),
            _c("period_end", "date", "时段止", en="last day"),
            _c("computed_at", "utc", "计算时间（UTC）", en="when it was computed, UTC"),
        ),
        from_="score",
        time="span",
        time_column="period_start",
        sites=None,
        order="period_start, period, target_id",
        behind=("score",),
    ),
    Table(
        "runs",
        "采集运行记录",
        "每次 envwatch ingest 一行：窗口、状态和计数。",
        "Ingest runs: window, status and counts (dry runs left out).",
        (
            _c("id", "int", "运行编号", en="run id"),
            _c("source", "str", "数据源", en="source name"),
            _c("started_at", "utc", "开始时间（UTC）", en="start, UTC"),
            _c("finished_at", "utc", "结束时间（UTC）", en="end, UTC"),
            _c(
                "status",
                "str",
                "状态",
                "",
                "ok 成功，partial 部分成功，failed 失败",
                en="ok, partial, failed (running while under way)",
            ),
            _c("fetched", "int", "读到的数值", en="values read"),
            _c("new", "int", "新增", en="values new to the store"),
            _c("revised", "int", "修订", en="values revised"),
            _c("unchanged", "int", "未变", en="values already stored"),
            _c("rejected", "int", "拒收", en="values rejected"),
            _c("error", "str", "出错信息", en="error"),
            _c("window_start", "utc", "窗口起（UTC）", en="window start, UTC"),
            _c("window_end", "utc", "窗口止（UTC）", en="window end, UTC"),
            _c("payloads", "int", "载荷数", en="payloads fetched"),
            _c("mismatches", "int", "AQI 与发布值不同的小时数", en="hours whose AQI differs"),
            _c("faults", "str", "故障", en="network faults met"),
        ),
        from_="run_ledger WHERE dry_run = 0",
        time="utc",
        time_column="started_at",
        sites=None,
        order="id",
        behind=("run_ledger",),
    ),
    Table(  # issue 18: the alerts noticed after each run, until they are handled
        "alerts",
        "告警",
        "告警规则发现的问题，每个问题（规则 + 对象）一行：开启、通知、恢复、交办、销号；时间为 UTC。",
        "Alert episodes, one per rule and subject: opened, notified, cleared, handled (UTC).",
        (
            _c("id", "int", "告警编号", en="alert id (envwatch alerts ack ID)"),
            _c("rule", "str", "规则", "", "stations.yaml 中规则的 id", en="the rule's id"),
            _c("kind", "str", "规则类型", en="rule kind (air_hourly_aqi, run_failed …)"),
            _c(
                "subject",
                "str",
                "对象编号",
                "",
                "站点、断面、排口、零直排区编号或数据源",
                en="subject id",
            ),
            _c("subject_name", "str", "对象名称", en="subject name"),
            _c("subject_type", "str", "对象类型", en="station, section, outfall, zone, source"),
            _c("detail", "str", "情况", en="what was seen (Chinese)"),
            _c("opened", "utc", "开启时间（UTC）", en="opened, UTC"),
            _c("last_seen", "utc", "最近发现（UTC）", en="last seen, UTC"),
            _c(
                "notified",
                "utc",
                "首次通知送达（UTC）",
                sql="(SELECT min(d.last_try) FROM alert_deliveries d WHERE d.alert_id = e.id "
                "AND d.event = 'opened' AND d.status = 'ok')",
                en="first alert message delivered, UTC",
            ),
            _c(
                "channels",
                "str",
                "通知结果",
                "",
                "每个通道每条消息：ok / failed（下次采集重发）、时间、错误",
                sql="(SELECT group_concat(d.channel || ' ' || d.event || ': ' || d.status "
                "|| coalesce(' ' || d.last_try, '') || coalesce(' (' || d.error || ')', ''), '; ') "
                "FROM alert_deliveries d WHERE d.alert_id = e.id)",
                en="per channel and message: status, time, error (secrets redacted)",
            ),
            _c("cleared", "utc", "恢复时间（UTC）", en="cleared, UTC"),
            _c("clear_detail", "str", "恢复情况", en="what was seen when it cleared"),
            _c(
                "status",
                "str",
                "状态",
                "",
                "open 未处理，acknowledged 已交办，cleared 已恢复，closed 已销号",
                sql="CASE WHEN e.closed IS NOT NULL THEN 'closed' "
                "WHEN e.cleared IS NOT NULL THEN 'cleared' "
                "WHEN e.acknowledged IS NOT NULL THEN 'acknowledged' ELSE 'open' END",
                en="open, acknowledged, cleared, closed",
            ),
            _c("acknowledged", "utc", "交办时间（UTC）", en="acknowledged, UTC"),
            _c("ack_by", "str", "交办人", en="acknowledged by"),
            _c("ack_note", "str", "交办说明", en="acknowledgement note"),
            _c("closed", "utc", "销号时间（UTC）", en="closed, UTC"),
            _c("closed_by", "str", "销号人", en="closed by"),
            _c("close_note", "str", "销号说明", en="closing note"),
        ),
        from_="alert_episodes e",
        alias="e",
        time="utc",
        time_column="opened",
        sites=None,
        order="id",
        behind=("alert_episodes", "alert_deliveries"),
    ),
    Table(
        "outfall_inspections",
        "排口巡查",
        "污水零直排：每次排口巡查的天气、是否排水、浓度和判定的违规（晴天排水、雨天超标、超标排放）。",
        "Outfall inspections and the violations found.",
        (
            _c("site_id", "str", "排口编号", en="outfall id"),
            _c("outfall_name", "str", "排口名称", sql="s.name", en="outfall name"),
            _c("zone", "str", "所属零直排区", sql="s.zone", en="zero-discharge zone"),
            _c(
                "outfall_type",
                "str",
                "排口类型",
                "",
                "rain 雨水，sewage 污水，combined 雨污合流",
                sql="s.outfall_type",
                en="rain, sewage or combined",
            ),
            _c("receiving_water", "str", "受纳水体", sql="s.receiving_water", en="receiving water"),
            _c("district", "str", "区县", sql="s.district", en="district"),
            _c(
                "time_local",
                "local",
                "巡查时间（本地）",
                sql=local_time("c.period_end"),
                en="local inspection time",
            ),
            _c(
                "weather",
                "str",
                "天气",
                sql="CASE c.rain WHEN 1 THEN '雨天' WHEN 0 THEN '晴天' END",
                en="晴天 (dry) or 雨天 (rain)",
            ),
            _c("discharging", "bool", "是否排水", en="discharging (1) or not (0)"),
            _c("flow", "float", "流量", "m³/h", en="flow, m³/h"),
            _c("nh3n", "float", "氨氮", "mg/L", en="ammonia nitrogen, mg/L"),
            _c("cod", "float", "化学需氧量", "mg/L", en="chemical oxygen demand, mg/L"),
            _c("tp", "float", "总磷", "mg/L", en="total phosphorus, mg/L"),
            _c("violation", "str", "违规", "", "空为无违规", en="violation, empty when none"),
            _c("period_end", "unix", "巡查时刻（Unix 秒，UTC）", en="inspection instant, Unix s"),
        ),
        from_="outfall_check c LEFT JOIN sites s ON s.site_id = c.site_id",
        alias="c",
        time="sample",
        time_column="period_end",
        order="period_end, site_id",
        behind=("outfall_check", "sites"),
    ),
    Table(
        "zero_discharge_zones",
        "零直排区",
        "零直排区的类型、状态和创建、验收、复核日期。",
        "Zero-discharge zones: type, status and dates.",
        (
            _c("zone_id", "str", "区编号", en="zone id"),
            _c("name", "str", "名称", en="name"),
            _c("zone_type", "str", "类型", "", "工业园区、生活小区、镇街", en="zone type"),
            _c("status", "str", "状态", "", "创建中、已验收、已复核", en="status"),
            _c("town", "str", "镇街", en="town"),
            _c("started_on", "str", "开工日期", en="start date"),
            _c("due_on", "str", "计划完成日期", en="due date"),
            _c("accepted_on", "str", "验收日期", en="acceptance date"),
            _c("reinspected_on", "str", "复核日期", en="re-inspection date"),
            _c("lon", "float", "经度", "°", "WGS-84", en="longitude, WGS-84"),
            _c("lat", "float", "纬度", "°", "WGS-84", en="latitude, WGS-84"),
            _c("district", "str", "区县", en="district"),
            _c("geometry", "str", "边界", "", "GeoJSON", en="outline as GeoJSON"),
        ),
        from_="zones",
        sites=None,
        order="zone_id",
        behind=("zones",),
    ),
    Table(
        "zero_waste_cells",
        "无废城市细胞",
        "无废城市细胞（工厂、小区、学校等）的类型、地址、状态和建成日期。",
        "Zero-waste cells: type, address, status and date built.",
        (
            _c("cell_id", "str", "细胞编号", en="cell id"),
            _c("name", "str", "名称", en="name"),
            _c("cell_type", "str", "类型", en="cell type"),
            _c("address", "str", "地址", en="address"),
            _c("status", "str", "状态", "", "已建成、创建中", en="status"),
            _c("built_on", "str", "建成日期", en="date built"),
            _c("lon", "float", "经度", "°", "WGS-84", en="longitude, WGS-84"),
            _c("lat", "float", "纬度", "°", "WGS-84", en="latitude, WGS-84"),
            _c("district", "str", "区县", en="district"),
        ),
        from_="cells",
        sites=None,
        order="cell_id",
        behind=("cells",),
    ),
    Table(
        "zero_waste_indicators",
        "无废城市指标",
        "无废城市指标逐期的数值（换算为指标的单位）。",
        "Zero-waste indicators per period, in the indicator's unit.",
        (
            _c("indicator_id", "str", "指标编号", sql="o.parameter", en="indicator id"),
            _c("indicator", "str", "指标", sql="p.name", en="indicator"),
            _c(
                "period_kind",
                "str",
                "统计期类型",
                "",
                "year、quarter、month",
                sql="o.averaging",
                en="year, quarter or month",
            ),
            _c(
                "period",
                "str",
                "统计期",
                "",
                "2026、2026-Q3 或 2026-09",
                sql="CASE o.averaging "
                f"WHEN 'year' THEN strftime('%Y', o.period_end - 1, 'unixepoch', {_OFFSET}) "
                f"WHEN 'month' THEN strftime('%Y-%m', o.period_end - 1, 'unixepoch', {_OFFSET}) "
                f"ELSE strftime('%Y', o.period_end - 1, 'unixepoch', {_OFFSET}) || '-Q' || "
                f"((cast(strftime('%m', o.period_end - 1, 'unixepoch', {_OFFSET}) AS INTEGER) "
                "+ 2) / 3) END",
                en="2026, 2026-Q3 or 2026-09",
            ),
            _c("value", "float", "数值", en="value"),
            _c("unit", "str", "单位", sql="p.unit", en="unit"),
            _c(
                "flag",
                "str",
                "标记",
                "",
                "provisional 为统计期未结束",
                en="provisional for a period not yet over",
            ),
            _c("area", "str", "区域", sql="o.site_id", en="area (site id of kind area)"),
            _c("period_end", "unix", "统计期末（Unix 秒，UTC）", en="end of the period, Unix s"),
        ),
        from_="sites a CROSS JOIN observations o ON o.site_id = a.site_id "
        "JOIN parameters p ON p.code = o.parameter "
        "WHERE a.kind = 'area' AND p.kind = 'indicator'",
        alias="o",
        sites="area",
        order="indicator_id, period_end",
        behind=("sites", "observations", "parameters"),
    ),
    Table(
        "sites",
        "站点和断面",
        "站点登记表：来自 stations.yaml，以及从数据源、化验单加入的站点。坐标为 WGS-84。",
        "The site registry (WGS-84).",
        (
            _c("site_id", "str", "站点编号", en="site id"),
            _c("name", "str", "名称", en="name"),
            _c(
                "kind",
                "str",
                "类型",
                "",
                "air 空气站，water 断面，outfall 排口",
                en="air, water, outfall, area",
            ),
            _c("lon", "float", "经度", "°", "WGS-84", en="longitude, WGS-84"),
            _c("lat", "float", "纬度", "°", "WGS-84", en="latitude, WGS-84"),
            _c("crs_source", "str", "原始坐标系", en="coordinate system of the source"),
            _c("province", "str", "省份", en="province"),
            _c("city", "str", "城市", en="city"),
            _c("district", "str", "区县", en="district"),
            _c("district_source", "str", "区县来源", en="where the district came from"),
            _c("background", "bool", "对照点", en="background station"),
            _c("basin", "str", "流域", en="basin"),
            _c("river", "str", "河流", en="river"),
            _c("control_level", "str", "控制级别", en="control level"),
            _c("water_type", "str", "水体类型", en="river or lake"),
            _c("water_type_guessed", "bool", "水体类型为推测", en="water type guessed"),
            _c("target_class", "int", "目标类别（1-5）", en="target class"),
            _c("zone", "str", "功能区", en="zone"),
            _c("receiving_water", "str", "受纳水体", en="receiving water"),
            _c("outfall_type", "str", "排口类型", en="outfall type"),
            _c(
                "origin",
                "str",
                "来源",
                "",
                "config 为 stations.yaml，feed 为数据源",
                en="config or feed",
            ),
            _c("updated_at", "utc", "更新时间（UTC）", en="last change, UTC"),
            _c(
                "membership",
                "str",
                "参与统计的时段",
                "",
                "JSON：from、until、role（counts、background、stopped）",
                en="dated membership in area values, JSON",
            ),
        ),
        from_="sites",
        kind="table",
        order="site_id",
        behind=("sites",),
    ),
    Table(
        "observations",
        "全部监测值（长表）",
        "每个站点、参数、时段类型、时刻一行，数值为规范单位（见 unit）。",
        "Every stored value, long format, in the parameter's unit.",
        (
            _c("site_id", "str", "站点编号", en="site id"),
            _c("parameter", "str", "参数代码", en="parameter code"),
            _c(
                "averaging",
                "str",
                "时段类型",
                "",
                "1h、24h 等为小时值；auto、lab 为水样",
                en="averaging: 1h, 24h … for hours; auto, lab for water samples",
            ),
            _c("period_end", "unix", "时段末（Unix 秒，UTC）", en="end of the period, Unix s"),
            _c(
                "time_local",
                "local",
                "时间（本地，时段末）",
                "",
                _HOUR_END,
                sql="NULL",
                en=_HOUR_END_EN,
            ),
            _c("value", "float", "数值", "", "单位见 unit", en="value in the unit of `unit`"),
            _c("unit", "str", "单位", sql="p.unit", en="unit"),
            _c("flag", "str", "标记", en="flag"),
            _c("run_id", "int", "运行编号", en="the run that last wrote it"),
        ),
        from_="observations o LEFT JOIN parameters p ON p.code = o.parameter",
        alias="o",
        kind="query",
        time="hour",
        time_column="o.period_end",
        sites="o.site_id",
        order="o.site_id, o.parameter, o.averaging, o.period_end",
        behind=("observations", "parameters"),
    ),
    Table(
        "revisions",
        "数据修订",
        "数据源改了已入库的值时记下的旧值和新值；revised_at 为发现修订的采集时间。",
        "Values a source changed after they were stored, old and new.",
        (
            _c("id", "int", "编号", en="revision id"),
            _c("run_id", "int", "运行编号", en="the run that found it"),
            _c("revised_at", "utc", "修订时间（UTC）", sql="l.started_at", en="when, UTC"),
            _c("site_id", "str", "站点编号", en="site id"),
            _c("parameter", "str", "参数代码", en="parameter code"),
            _c("averaging", "str", "时段类型", en="averaging"),
            _c("period_end", "unix", "时段末（Unix 秒，UTC）", en="end of the period, Unix s"),
            _c(
                "time_local",
                "local",
                "数据时间（本地，时段末）",
                sql="NULL",
                en="local hour-ending label",
            ),
            _c("old_value", "float", "旧值", en="old value"),
            _c("new_value", "float", "新值", en="new value"),
            _c("old_flag", "str", "旧标记", en="old flag"),
            _c("new_flag", "str", "新标记", en="new flag"),
        ),
        from_="revisions v JOIN run_ledger l ON l.id = v.run_id",
        alias="v",
        kind="query",
        time="utc",
        time_column="l.started_at",
        sites="v.site_id",
        order="v.id",
        behind=("revisions", "run_ledger"),
    ),
)
"""Every public relation, in the order the README and Datasette list them."""

RELATIONS_BY_NAME: dict[str, Table] = {t.name: t for t in RELATIONS}

TABLE_NOTES: dict[str, str] = {
    "air_hour": "air_hourly 视图背后的表（小时 AQI，period_end 为 Unix 秒 UTC）",
    "air_day": "air_daily 视图背后的表，另有各污染物的小时数 n_* 和日分指数 iaqi_*",
    "area_hour": "area_hourly 视图背后的表，另有全精度值 *_exact",
    "area_day": "area_daily 视图背后的表，另有全精度值 *_exact、有效站点数 n_valid_* 和分指数",
    "water_sample": "water_samples 视图背后的表",
    "water_period": "water_periods 视图背后的表",
    "score": "scorecard 视图背后的表",
    "run_ledger": "runs 视图背后的表（含演练运行 dry_run）",
    "parameters": "参数代码、名称和规范单位",
    "rejects": "无法入库的行或数值，以及原因",
    "outfall_check": "outfall_inspections 视图背后的表",
    "zones": "zero_discharge_zones 视图背后的表",
    "cells": "zero_waste_cells 视图背后的表",
    "record_revisions": "零直排区、无废细胞登记的修订（旧值和新值，JSON）",
    "alert_steps": "告警的每一步（开启、通知、恢复、交办、销号）：时间、经办人、说明",
}
"""Tables behind the views that analysts and canned queries read, with a Chinese note."""

INTERNAL: tuple[str, ...] = ("raw_payloads", "run_payloads", "meta")
"""Tables no reader gets through ``query``, canned queries or ``serve``: the raw archive
(whatever a hostile file carried), which run fetched which payload, and envwatch's own state.
Any table not in `READABLE` is treated the same way."""

READABLE: frozenset[str] = frozenset(
    {t.name for t in RELATIONS}
    | {b for t in RELATIONS for b in t.behind}
    | set(TABLE_NOTES)
    | {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
)
"""Relations ``query``, canned queries and ``serve`` may read (see `envwatch.access`)."""

assert not READABLE & set(INTERNAL), "an internal table is declared readable"
assert all(c.kind in KINDS for t in RELATIONS for c in t.columns), "unknown column kind"


def public_views() -> list[Table]:
    """The relations created as views in the store."""
    return [t for t in RELATIONS if t.kind == "view"]


def view_sql(utc_offset_minutes: int = 480) -> dict[str, str]:
    """``CREATE VIEW`` bodies by view name, for a store whose local time is UTC + offset."""
    return {t.name: t.definition(utc_offset_minutes) for t in public_views()}
