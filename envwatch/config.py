"""stations.yaml -> typed configuration.

The configuration names the store, the time zone, the region, the sites (air stations, water
sections, outfalls), the sources and the plan's targets. Every error names the file, the line
and what to fix, for example::

    stations.yaml:42: sites[3].lon: 12.5 is outside China (longitude 73.4 to 135.1); check the
    order of lon and lat

Relative paths in the file (store, folders, station lists) are relative to the file's folder.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envwatch.cron import CronExpr
from envwatch.duration import Duration, parse_duration
from envwatch.errors import ConfigError
from envwatch.geo import CHINA_LAT, CHINA_LON
from envwatch.sources import registry as source_registry

DEFAULT_CONFIG = "stations.yaml"

# The kinds come from the source registry (one entry per kind, envwatch/sources/registry.py).
SOURCE_KINDS = tuple(source_registry.KINDS)

# The targets envwatch knows how to score (standards/PLAN.md). A target id not in this list is a
# typo or needs code: the error says which.
KNOWN_TARGETS = (
    "air.good_day_ratio",
    "air.rank_in_city",
    "air.pm25_annual",
    "air.pm25_o3_co_control",
    "water.good_ratio",
    "water.no_class_v",
    "water.target_compliance",
    "zero_discharge.outfalls",
    "zero_waste.indicators",
    "zero_waste.cells",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Strict):
    """The administrative area the plan is for; its city's districts are the map's basemap."""

    province: str
    city: str
    district: str


MEMBERSHIP_ROLES = ("counts", "background", "stopped")


class MembershipPeriod(_Strict):
    """From when until when (local dates, both included; open when left out) an air station
    counts in its city's, district's and groups' values, or is background (对照点) or stopped.

    Example: ``membership: [{until: 2021-12-31}, {from: 2022-01-01, role: background}]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # ISO dates (YYYY-MM-DD) kept as text, so the registry serialises as it is written
    valid_from: str | None = Field(default=None, alias="from")
    until: str | None = None
    role: Literal["counts", "background", "stopped"] = "counts"
    note: str | None = None

    @field_validator("valid_from", "until", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> str | None:
        if v is None or isinstance(v, date):
            return v.isoformat() if isinstance(v, date) else None
        try:
            return date.fromisoformat(str(v).strip()).isoformat()
        except ValueError:
            raise ValueError(f"'{v}' is not a date; write YYYY-MM-DD, e.g. 2022-01-01") from None

    @model_validator(mode="after")
    def _ordered(self) -> MembershipPeriod:
        if self.valid_from and self.until and self.until < self.valid_from:
            raise ValueError(
                f"until {self.until} is before from {self.valid_from}; swap them or fix the year"
            )
        return self


class Site(_Strict):
    """A monitoring site: an air station, a surface-water section or an outfall.

    Coordinates are in the system the source used (`crs`); the store keeps them in WGS-84.
    """

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal["air", "water", "outfall"]
    lon: float | None = None
    lat: float | None = None
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    city: str | None = None
    district: str | None = None
    background: bool = False
    # air stations: dated membership in area values (None: counts always, unless background)
    membership: list[MembershipPeriod] | None = None
    # water sections
    province: str | None = None
    basin: str | None = None
    river: str | None = None
    control_level: Literal["国控", "省控", "市控", "区控", "县控"] | None = None
    water_type: Literal["river", "lake"] | None = None
    target_class: int | None = Field(default=None, ge=1, le=5)
    # outfalls
    zone: str | None = None
    receiving_water: str | None = None
    outfall_type: Literal["rain", "sewage", "combined"] | None = None

    @field_validator("id")
    @classmethod
    def _id_plain(cls, v: str) -> str:
        if v != v.strip():
            raise ValueError(f"site id '{v}' has spaces at its ends; remove them")
        return v

    @field_validator("lon")
    @classmethod
    def _lon_in_china(cls, v: float | None) -> float | None:
        if v is not None and not CHINA_LON[0] <= v <= CHINA_LON[1]:
            raise ValueError(
                f"{v} is outside China (longitude {CHINA_LON[0]} to {CHINA_LON[1]}); "
                "check the order of lon and lat"
            )
        return v

    @field_validator("lat")
    @classmethod
    def _lat_in_china(cls, v: float | None) -> float | None:
        if v is not None and not CHINA_LAT[0] <= v <= CHINA_LAT[1]:
            raise ValueError(
                f"{v} is outside China (latitude {CHINA_LAT[0]} to {CHINA_LAT[1]}); "
                "check the order of lon and lat"
            )
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Site:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        if self.kind == "air" and self.lon is None:
            raise ValueError("an air station needs lon and lat")
        if self.membership is not None and self.background:
            raise ValueError(
                "give either background: true (always background) or membership with dates, "
                "not both; write the background period as {from: DATE, role: background}"
            )
        if self.kind == "water" and self.water_type is None:
            raise ValueError(
                "a water section needs water_type: river or lake (it decides the TP limits)"
            )
        return self


class Source(_Strict):
    """A feed or a folder of staff sheets, fetched on a schedule."""

    name: str = Field(min_length=1)
    kind: str
    url: str | None = None
    folder: str | None = None
    station_list: str | None = None
    # A crontab expression (envwatch.cron), checked when the file loads.
    schedule: CronExpr | None = None
    # Durations (envwatch.duration): 2d, 36h, 1w ...; held in seconds.
    lookback: Duration = 2 * 86400.0
    # A daily run fills gaps up to this far back by itself; older gaps need `envwatch backfill`.
    max_catchup: Duration = 31 * 86400.0
    area_id: str | None = None
    page_size: int | None = Field(default=None, ge=1)
    # HTTP settings (envwatch.http.HttpPolicy field names: read_timeout, retries, min_interval,
    # run_budget, verify_tls ...); durations as 30s, 5m, 2h.
    http: dict[str, Any] = Field(default_factory=dict)
    # Names of environment variables holding secrets (API keys); a URL uses them as {NAME}.
    secrets: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        kinds = tuple(source_registry.KINDS)  # a kind registered after import counts too
        if v not in kinds:
            raise ValueError(f"unknown source kind '{v}'{_did_you_mean(v, kinds)}")
        return v

    @field_validator("http")
    @classmethod
    def _http(cls, v: dict[str, Any]) -> dict[str, Any]:
        from envwatch.http import policy_from_config

        try:
            policy_from_config(v)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return v

    @property
    def lookback_delta(self) -> timedelta:
        return parse_duration(self.lookback)


class ReportJob(_Strict):
    """A report the scheduler (`envwatch schedule`) writes: the last complete `period` (week,
    month or year) when the job runs, on `schedule` (five-field cron in the config's time
    zone), into `out` (relative to this file's folder), with the A4 PDF beside it when `pdf`."""

    period: Literal["week", "month", "year"]
    schedule: str
    out: str = "maps"
    pdf: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(
                f"schedule '{v}' is not a cron expression: write five fields, "
                "minute hour day month weekday, e.g. '0 8 2 * *' (08:00 on the 2nd)"
            )
        return v


class Target(_Strict):
    """A goal of the plan, scored per period. `op` compares the measured value with `goal`."""

    id: str
    label: str
    goal: float | str
    op: Literal[">=", "<=", "==", "<", ">"] = ">="
    unit: str = ""
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _known_target(cls, v: str) -> str:
        if v not in KNOWN_TARGETS:
            raise ValueError(f"unknown target id '{v}'{_did_you_mean(v, KNOWN_TARGETS)}")
        return v


class Indicator(_Strict):
    """A zero-waste city (无废城市) indicator: its goal and the direction that is good."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    unit: str = ""
    goal: float | None = None  # None: reported for context, not scored
    op: Literal[">=", "<=", "==", "<", ">"] = ">="
    aliases: list[str] = Field(default_factory=list)


class CellType(_Strict):
    """A kind of zero-waste cell (无废城市细胞) and the other names sheets use for it."""

    type: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)


OUTFALL_ITEMS = ("nh3n", "cod", "tp")

# -- alerts (issue 18): channels that deliver messages and rules that raise alerts --------------

ALERT_RULE_KINDS = (
    "air_hourly_aqi",
    "air_daily_category",
    "water_below_target",
    "outfall_violation",
    "zone_overdue",
    "source_stale",
    "run_failed",
)
WEBHOOK_FORMATS = ("dingtalk", "wecom", "feishu", "json")
AQI_CATEGORY_NAMES = ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")
_SECRET_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class AlertChannel(_Strict):
    """Where alert messages go: a webhook (DingTalk, WeCom, Feishu robot or a JSON envelope) or
    e-mail over SMTP. Secrets are named as ``{NAME}`` and listed in `secrets` (environment
    variables)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    kind: Literal["webhook", "email"]
    # webhook
    url: str | None = None
    format: Literal["dingtalk", "wecom", "feishu", "json"] = "json"
    secret: str | None = None  # signing secret of a DingTalk or Feishu robot, as {NAME}
    http: dict[str, Any] = Field(default_factory=dict)
    # email
    smtp: str | None = None  # host:port
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None  # as {NAME}; default: the first of `secrets`
    from_: str | None = Field(default=None, alias="from")
    to: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)

    @field_validator("http")
    @classmethod
    def _http(cls, v: dict[str, Any]) -> dict[str, Any]:
        return Source._http(v)  # the same settings as a source's

    @model_validator(mode="after")
    def _kind_fields(self) -> AlertChannel:
        if self.kind == "webhook":
            if not self.url:
                raise ValueError(f"channel '{self.name}': a webhook needs url")
            if self.secret and self.format not in ("dingtalk", "feishu"):
                raise ValueError(
                    f"channel '{self.name}': secret (signing) exists for dingtalk and feishu "
                    f"robots only, not {self.format}; remove it"
                )
        else:
            if not self.smtp or not self.from_ or not self.to:
                raise ValueError(
                    f"channel '{self.name}': an email channel needs smtp (host:port), from and to"
                )
            host, _, port = self.smtp.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"channel '{self.name}': smtp '{self.smtp}' must be host:port, "
                    "e.g. smtp.example.org:587"
                )
            if self.starttls and self.ssl:
                raise ValueError(
                    f"channel '{self.name}': choose starttls (port 587) or ssl (port 465), not both"
                )
        for field_name in ("url", "secret", "password"):
            for ref in _SECRET_REF.findall(getattr(self, field_name) or ""):
                if ref not in self.secrets:
                    raise ValueError(
                        f"channel '{self.name}': {field_name} uses {{{ref}}}; add {ref} to its "
                        "secrets (the environment variable that holds it)"
                    )
        for field_name in ("secret", "password"):
            value = getattr(self, field_name)
            if value and not _SECRET_REF.fullmatch(value):
                raise ValueError(
                    f"channel '{self.name}': write {field_name} as {{NAME}} of an environment "
                    "variable listed in secrets, never the value itself"
                )
        return self


class AlertRule(_Strict):
    """A condition watched after every run: while it holds for a subject (station, section,
    outfall, zone, source) that subject has one alert episode."""

    id: str = Field(min_length=1)
    kind: str
    label: str | None = None  # the rule's name in messages; default from the kind
    notify: list[str] = Field(default_factory=list)
    repeat_after: Duration | None = None  # notify again while it holds after this; default never
    threshold: float | None = None  # air_hourly_aqi: AQI above this
    worse_than: str | None = None  # air_daily_category: a category, e.g. 轻度污染
    hours: float | None = Field(default=None, gt=0)  # source_stale: hours since the newest data
    sites: list[str] = Field(default_factory=list)  # default: the district's (air), all (others)
    sources: list[str] = Field(default_factory=list)  # source_stale, run_failed; default all
    window: Duration | None = None  # how far back a first look reaches (default by kind)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in ALERT_RULE_KINDS:
            raise ValueError(
                f"unknown rule kind '{v}'{_did_you_mean(v, ALERT_RULE_KINDS)}; "
                f"use one of {', '.join(ALERT_RULE_KINDS)}"
            )
        return v

    @model_validator(mode="after")
    def _kind_params(self) -> AlertRule:
        if self.kind == "air_hourly_aqi" and self.threshold is None:
            raise ValueError(f"rule '{self.id}': air_hourly_aqi needs threshold (an AQI, e.g. 150)")
        if self.kind == "air_daily_category" and self.worse_than not in AQI_CATEGORY_NAMES:
            hint = _did_you_mean(self.worse_than or "", AQI_CATEGORY_NAMES)
            raise ValueError(
                f"rule '{self.id}': air_daily_category needs worse_than, one of "
                f"{', '.join(AQI_CATEGORY_NAMES)}{hint}"
            )
        if self.kind == "source_stale" and self.hours is None:
            raise ValueError(f"rule '{self.id}': source_stale needs hours (e.g. 26)")
        return self

    @property
    def repeat_delta(self) -> timedelta | None:
        return parse_duration(self.repeat_after) if self.repeat_after is not None else None


class Alerts(_Strict):
    """The `alerts:` block: channels, rules and when an open problem counts as overdue."""

    channels: list[AlertChannel] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=list)
    overdue_after: Duration = 3 * 86400.0  # open longer than this: overdue in the report

    def channel(self, name: str) -> AlertChannel:
        for c in self.channels:
            if c.name == name:
                return c
        names = [c.name for c in self.channels]
        raise ConfigError(
            f"no alert channel named '{name}'{_did_you_mean(name, names)}; "
            f"configured channels: {', '.join(names) or 'none'} (alerts.channels in stations.yaml)"
        )


ControlLevel = Literal["国控", "省控", "市控", "区控", "县控"]


class AreaGroup(_Strict):
    """A ranking area defined by its stations (a functional area such as 大榭 with no polygon)."""

    name: str = Field(min_length=1)
    stations: list[str] = Field(min_length=1)


class Areas(_Strict):
    """The areas envwatch computes values for, besides the cities and the region city's districts.

    `city_control_levels`: stations of these levels make a city's value (the published city
    values are from national stations). `control_levels`: stations of these levels make the
    district and group values the city ranks its 辖区 by. Background and stopped stations are
    left out by date (`membership`). An air station without `control_level` is 国控 (the
    national feeds' stations).
    """

    city_control_levels: list[ControlLevel] = Field(
        default_factory=lambda: list[ControlLevel](["国控"]), min_length=1
    )
    control_levels: list[ControlLevel] = Field(
        default_factory=lambda: list[ControlLevel](["国控", "省控", "市控"]), min_length=1
    )
    groups: list[AreaGroup] = Field(default_factory=list)
    # dated membership of stations not listed in `sites` (other cities' stations of a feed)
    membership: dict[str, list[MembershipPeriod]] = Field(default_factory=dict)


class Config(_Strict):
    """The whole of stations.yaml."""

    store: str = "envwatch.db"
    timezone: str = "Asia/Shanghai"
    region: Region
    sites: list[Site] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    # 污水零直排: a rain-day sample above any of these (mg/L) is a violation, by outfall type
    outfall_limits: dict[Literal["rain", "sewage", "combined"], dict[str, float]] = Field(
        default_factory=dict
    )
    # 无废城市: the indicators with goals, the kinds of cells and each year's task per kind
    indicators: list[Indicator] = Field(default_factory=list)
    cell_types: list[CellType] = Field(default_factory=list)
    cell_tasks: dict[int, dict[str, int]] = Field(default_factory=dict)
    # alerts: channels, rules (issue 18)
    alerts: Alerts = Field(default_factory=Alerts)
    # area values: which stations make city, district and group values; groups of stations
    areas: Areas = Field(default_factory=Areas)
    # 综合指数: the denominators Si by rule set, replacing envwatch's defaults (the 2012 ones)
    index_denominators: dict[str, dict[str, float]] = Field(default_factory=dict)
    # reports the scheduler writes (envwatch schedule): 月报 on the 2nd, 年报 in January, ...
    reports: list[ReportJob] = Field(default_factory=list)

    @field_validator("index_denominators", mode="before")
    @classmethod
    def _denominators(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        for rules, si in v.items():
            if str(rules) not in ("2012", "2026"):
                raise ValueError(f"index_denominators.{rules}: not a rule set; write 2012 or 2026")
            if not isinstance(si, dict):
                raise ValueError(f"index_denominators.{rules}: write e.g. {{pm25: 30, pm10: 60}}")
            for name, value in si.items():
                if name not in ("so2", "no2", "pm10", "pm25", "co", "o3"):
                    raise ValueError(
                        f"index_denominators.{rules}.{name}: unknown pollutant; use so2, no2, "
                        "pm10, pm25, co or o3"
                    )
                if not isinstance(value, (int, float)) or value <= 0:
                    raise ValueError(
                        f"index_denominators.{rules}.{name}: {value!r} is not a positive number "
                        "(µg/m³, CO mg/m³), e.g. pm25: 30"
                    )
        return {str(k): v for k, v in v.items()}

    @field_validator("outfall_limits")
    @classmethod
    def _outfall_items(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for kind, limits in v.items():
            unknown = sorted(set(limits) - set(OUTFALL_ITEMS))
            if unknown:
                raise ValueError(
                    f"outfall_limits.{kind}: unknown item {', '.join(unknown)}; use "
                    f"{', '.join(OUTFALL_ITEMS)} (mg/L)"
                )
        return v

    @model_validator(mode="after")
    def _cell_tasks_known(self) -> Config:
        types = {c.type for c in self.cell_types}
        for year, tasks in self.cell_tasks.items():
            unknown = sorted(set(tasks) - types)
            if unknown:
                raise ValueError(
                    f"cell_tasks.{year}: unknown cell type {', '.join(unknown)}; "
                    f"cell_types lists {', '.join(sorted(types)) or 'none'}"
                )
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}': write e.g. Asia/Shanghai") from None
        return v


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from (for paths and messages)."""

    config: Config
    path: Path
    lines: dict[tuple[str | int, ...], int]

    @property
    def base(self) -> Path:
        return self.path.parent

    def resolve(self, p: str | None) -> Path | None:
        """A path from the file, relative to the file's folder."""
        if p is None:
            return None
        q = Path(p).expanduser()
        return q if q.is_absolute() else self.base / q

    @property
    def store_path(self) -> Path:
        p = self.resolve(self.config.store)
        assert p is not None
        return p

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def source(self, name: str) -> Source:
        for s in self.config.sources:
            if s.name == name:
                return s
        names = [s.name for s in self.config.sources]
        raise ConfigError(
            f"{self.path}: no source named '{name}'{_did_you_mean(name, names)}; "
            f"configured sources: {', '.join(names) or 'none'}"
        )

    def line_of(self, *path: str | int) -> int | None:
        return _nearest_line(self.lines, tuple(path))

    def site_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.config.sites}


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _node_lines(
    node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int], file: str
) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            key = str(k.value)
            line = k.start_mark.line + 1
            if key in seen:
                where = ".".join(str(p) for p in path) or "top level"
                raise ConfigError(
                    f"{file}:{line}: key '{key}' appears twice in {where} "
                    f"(first on line {seen[key]}); keep one"
                )
            seen[key] = line
            out[path + (key,)] = line
            _node_lines(v, path + (key,), out, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _node_lines(item, path + (i,), out, file)


def _nearest_line(
    lines: dict[tuple[str | int, ...], int], path: tuple[str | int, ...]
) -> int | None:
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())


def _fmt_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


_FIELD_HINTS = {
    "missing": "add it",
    "float_parsing": "write a number",
    "int_parsing": "write a whole number",
    "bool_parsing": "write true or false",
    "string_type": "write text",
    "list_type": "write a list (lines starting with '- ')",
    "dict_type": "write a mapping (key: value lines)",
    "model_type": "write a mapping (key: value lines)",
    "literal_error": "use one of the values listed",
}


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at the mapping that holds `loc`'s last element."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", None)
        current = args[0] if args else ann
    return list(current.model_fields) if hasattr(current, "model_fields") else []


def _explain(err: Any, loc: tuple[str | int, ...]) -> str:
    typ = err["type"]
    if typ == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(Config, loc)
        return (
            f"unknown key '{key}'{_did_you_mean(key, allowed)}; allowed here: {', '.join(allowed)}"
        )
    if typ == "missing":
        return f"'{loc[-1]}' is required here; add it"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    hint = _FIELD_HINTS.get(typ)
    got = err.get("input")
    got_text = f" (found {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{msg}{got_text}" + (f"; {hint}" if hint else "")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present


def load_config(path: str | Path = DEFAULT_CONFIG) -> LoadedConfig:
    """Read and validate a configuration file; raise ConfigError naming file, line and fix."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: no such configuration file; run from the project folder or pass --config"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; save the file as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError(
            f"{p}:{line}: not valid YAML: {e.problem or e}; check the indentation"
        ) from None
    if node is None or not isinstance(data, dict):
        raise ConfigError(f"{p}:1: the file must be a mapping with region, sites, sources, targets")
    lines: dict[tuple[str | int, ...], int] = {}
    _node_lines(node, (), lines, str(p))
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            at = _nearest_line(lines, loc)
            msgs.append(f"{p}:{at}: {_fmt_loc(loc)}: {_explain(err, loc)}")
        raise ConfigError("\n".join(msgs)) from None
    loaded = LoadedConfig(config=config, path=p.resolve(), lines=lines)
    _check_unique(loaded, p)
    _check_alerts(loaded, p)
    register_secrets(config)
    return loaded


def register_secrets(config: Config) -> None:
    """Make the values of the environment variables named in ``secrets:`` known to
    `envwatch.redaction`: no message, log or error of this process shows them from now on."""
    from envwatch.redaction import register

    names = {name for source in config.sources for name in source.secrets}
    names |= {name for channel in config.alerts.channels for name in channel.secrets}
    register({name: os.environ.get(name, "") for name in sorted(names)})


def _check_unique(loaded: LoadedConfig, p: Path) -> None:
    c = loaded.config
    msgs: list[str] = []
    for section, items, key in (
        ("sites", c.sites, "id"),
        ("sources", c.sources, "name"),
        ("targets", c.targets, "id"),
    ):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            value = getattr(item, key)
            line = loaded.line_of(section, i, key)
            if value in first:
                msgs.append(
                    f"{p}:{line}: {section}[{i}].{key}: duplicate {key} '{value}' "
                    f"(also on line {first[value]}); give each a unique {key}"
                )
            else:
                first[value] = line or 0
    for i, src in enumerate(c.sources):
        entry = source_registry.get(src.kind)
        if entry is not None and not entry.staff_sheet and not (src.url or src.folder):
            msgs.append(
                f"{p}:{loaded.line_of('sources', i)}: sources[{i}]: source '{src.name}' needs "
                "url or folder: where to fetch from"
            )
    msgs += _membership_problems(loaded, p)
    if msgs:
        raise ConfigError("\n".join(msgs))


def _check_alerts(loaded: LoadedConfig, p: Path) -> None:
    """Alert channel and rule names are unique; rules name configured channels, sites, sources."""
    a = loaded.config.alerts
    msgs: list[str] = []
    channels = [c.name for c in a.channels]
    sites = {s.id for s in loaded.config.sites}
    sources = [s.name for s in loaded.config.sources]
    for section, names in (("channels", channels), ("rules", [r.id for r in a.rules])):
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                msgs.append(
                    f"{p}:{loaded.line_of('alerts', section, i)}: alerts.{section}[{i}]: "
                    f"'{name}' appears twice; give each a unique name"
                )
            seen.add(name)
    known: dict[str, tuple[set[str], str, str]] = {
        "notify": (set(channels), "channel", "channels: " + (", ".join(channels) or "none")),
        "sites": (sites, "site", "use a site id of the registry"),
        "sources": (set(sources), "source", "sources: " + ", ".join(sources)),
    }
    for i, rule in enumerate(a.rules):
        for key, (allowed, what, fix) in known.items():
            for j, name in enumerate(getattr(rule, key)):
                if name not in allowed:
                    msgs.append(
                        f"{p}:{loaded.line_of('alerts', 'rules', i, key, j)}: "
                        f"alerts.rules[{i}].{key}: no {what} '{name}'"
                        f"{_did_you_mean(name, allowed)}; {fix}"
                    )
    if msgs:
        raise ConfigError("\n".join(msgs))


def _membership_problems(loaded: LoadedConfig, p: Path) -> list[str]:
    """Overlapping membership periods of a station, and area groups that clash."""
    msgs: list[str] = []
    areas = loaded.config.areas
    listed: list[tuple[str, list[MembershipPeriod], tuple[str | int, ...]]] = [
        (site.id, site.membership or [], ("sites", i, "membership"))
        for i, site in enumerate(loaded.config.sites)
    ]
    listed += [(sid, ps, ("areas", "membership", sid)) for sid, ps in areas.membership.items()]
    for sid, members, at in listed:
        periods = sorted(enumerate(members), key=lambda jp: jp[1].valid_from or "")
        for (j0, a), (j1, b) in zip(periods, periods[1:], strict=False):
            if (b.valid_from or "") <= (a.until or "9999-12-31"):
                line = loaded.line_of(*at, j1)
                msgs.append(
                    f"{p}:{line}: {_fmt_loc((*at, j1))}: site {sid}: the period from "
                    f"{b.valid_from or 'the start'} overlaps {_fmt_loc((*at, j0))} (until "
                    f"{a.until or 'open'}); end the earlier one the day before the later one starts"
                )
    for i, site in enumerate(loaded.config.sites):
        if site.id in areas.membership:
            msgs.append(
                f"{p}:{loaded.line_of('areas', 'membership', site.id)}: areas.membership."
                f"{site.id}: the site is listed in sites (line {loaded.line_of('sites', i)}); "
                "give its membership there and remove it here"
            )
    seen: dict[str, int] = {}
    for k, g in enumerate(areas.groups):
        line = loaded.line_of("areas", "groups", k, "name")
        if g.name in seen:
            msgs.append(
                f"{p}:{line}: areas.groups[{k}].name: duplicate group '{g.name}' (also on line "
                f"{seen[g.name]}); give each group a unique name"
            )
        seen[g.name] = line or 0
        if g.name in (loaded.config.region.city, loaded.config.region.district):
            msgs.append(
                f"{p}:{line}: areas.groups[{k}].name: '{g.name}' is the name of a city or "
                "district already computed by its boundary; name the group differently"
            )
        doubled = sorted({s for s in g.stations if g.stations.count(s) > 1})
        if doubled:
            msgs.append(
                f"{p}:{loaded.line_of('areas', 'groups', k, 'stations')}: areas.groups[{k}]: "
                f"station {', '.join(doubled)} listed twice; list each station once"
            )
    return msgs
