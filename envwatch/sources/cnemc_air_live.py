"""CNEMC real-time air feed (全国城市空气质量实时发布): one JSON record per station-hour.

The feed (``https://air.cnemc.cn:18007/CityData/GetAQIDataPublishLive?cityName=宁波市`` answers
for one city) is a JSON list of records with PascalCase keys whose values are strings::

    {"StationCode": "1236A", "PositionName": "龙赛医院", "Area": "宁波市",
     "Longitude": "121.713", "Latitude": "29.9572", "TimePoint": "2017-07-07T16:00:00",
     "AQI": "44", "PrimaryPollutant": "—", "Quality": "优",
     "PM2_5": "29", "PM2_5_24h": "14", ..., "O3": "163", "O3_24h": "99",
     "O3_8h": "116", "O3_8h_24h": "116", ...}

Also accepted, because archives of the feed store it that way: the list wrapped in an object
(``{"d": [...]}``, ``data``, ``rows``, ``records``, ``result``, ``RootResults`` ..., one level
of nesting), a single record, and a GeoJSON FeatureCollection whose features' ``properties`` are
the records with lower-cased keys (coordinates from ``geometry`` when the properties have
none). Keys are matched without regard to case.

Times: ``TimePoint`` is local time (China Standard Time, `tz`) and labels the **end** of the
hour, as in the archive; ``period_end`` is that instant in UTC. A time with a UTC offset or
not on the hour is rejected.

Values: strings (numbers accepted too); ``—``, ``-;`` (older dumps), ``-``, ``--``, ``''`` and
``null`` are missing (no row). Units µg/m³, CO mg/m³; the published ``AQI`` becomes parameter
``aqi_published`` (unit ``1``), never the computed AQI.

**The feed's O3 fields are swapped** (a known defect): the current 1-h O3 is in ``O3_24h`` and
``O3`` holds the maximum of the last 24 hourly values; likewise the current 8-h value is in
``O3_8h_24h`` and ``O3_8h`` holds its maximum. `FIELDS` undoes the swap, so the parameters mean
what the archive reader's do (o3 ``1h``, ``24h_max``, ``8h_feed``, ``8h_feed_max``). Evidence:
with the swap undone, the hourly AQI computed from the concentrations equals the published
``AQI`` for all 54 records of the captured payloads in ``tests/data``; without it, 16 of them
disagree.

`read` parses bytes into observations, rejects and site metadata; `published` returns what the
feed says of each station-hour (AQI, primary pollutant in envwatch's codes, category) so the
pipeline can compare it with its own AQI; `fetch` downloads one payload. A payload with nothing
usable (empty, not JSON, an HTML page, JSON of another shape, no record with StationCode and
TimePoint) raises `ParseError`; a bad record or value is a `Reject` and the rest lands.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from envwatch.errors import ParseError
from envwatch.http import HttpClient
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading, Reject, empty_observations
from envwatch.sources.cnemc_air_archive import pollutant_types

__all__ = [
    "FIELDS",
    "KIND",
    "PRIMARY_CODES",
    "PUBLISHED_COLUMNS",
    "fetch",
    "primary_codes",
    "published",
    "read",
]

KIND = "cnemc-air-live"

FIELDS: dict[str, tuple[str, str, str]] = {
    **pollutant_types(lambda feed: feed.replace(".", "_")),
    # The feed's O3 swap, undone: see the module docstring.
    "O3_24h": ("o3", "1h", "µg/m³"),
    "O3": ("o3", "24h_max", "µg/m³"),
    "O3_8h_24h": ("o3", "8h_feed", "µg/m³"),
    "O3_8h": ("o3", "8h_feed_max", "µg/m³"),
}
"""Feed field -> (parameter, averaging, unit), the O3 swap undone."""

PRIMARY_CODES: dict[str, str] = {
    "细颗粒物(PM2.5)": "PM2.5",
    "细颗粒物": "PM2.5",
    "PM2.5": "PM2.5",
    "颗粒物(PM10)": "PM10",
    "可吸入颗粒物(PM10)": "PM10",
    "可吸入颗粒物": "PM10",
    "PM10": "PM10",
    # The real-time AQI uses the 1-h O3 value, hence the hourly code O3.
    "臭氧1小时": "O3",
    "臭氧": "O3",
    "O3": "O3",
    "臭氧8小时": "O3_8h",
    "二氧化氮": "NO2",
    "NO2": "NO2",
    "二氧化硫": "SO2",
    "SO2": "SO2",
    "一氧化碳": "CO",
    "CO": "CO",
}
"""Published primary-pollutant names (brackets normalised to ASCII) -> envwatch codes."""

PUBLISHED_COLUMNS = ["site_id", "period_end", "aqi", "primary_pollutant", "quality"]

_MISSING = {"", "—", "-;", "—;", "-", "--", "——", "null", "none", "nan"}
_WRAPPERS = (
    "d",
    "data",
    "rows",
    "records",
    "result",
    "results",
    "list",
    "items",
    "rootresults",
    "getaqidatapublishlivesresult",
    "getaqidatapublishliveresult",
)
_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.0+)?)?$")
_SITE_KEYS = {"stationcode", "timepoint"}
_KEYS = ("StationCode", "TimePoint", "PositionName", "Area", "Longitude", "Latitude")
_CANONICAL = {k.lower(): k for k in (*FIELDS, *_KEYS, "PrimaryPollutant", "Quality")}


@dataclass(frozen=True)
class _Record:
    """One usable record: its place in the payload, key fields and raw values by feed field."""

    location: str
    site_id: str
    time_label: str  # local, ``YYYY-MM-DD HH:MM``, as staff read it
    period_end: pd.Timestamp  # UTC
    fields: dict[str, Any]


def _fail(name: str, what: str, todo: str) -> ParseError:
    return ParseError(f"{KIND} {name}: {what}; {todo}")


def _load(payload: bytes, name: str) -> Any:
    if not payload.strip():
        raise _fail(name, "the payload is empty", "fetch it again or check the source")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(
            name,
            f"not UTF-8 text (byte {e.start} is {payload[e.start : e.start + 1]!r})",
            "this is not the CNEMC live JSON: check what was downloaded",
        ) from None
    head = text.lstrip()[:512].lower()
    if head.startswith("<") or "<html" in head or "<!doctype" in head:
        raise _fail(
            name,
            "an HTML page, not the CNEMC live JSON (the server sent an error or login page)",
            "try again later or check the URL",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(
            name,
            f"not JSON ({e.msg} at line {e.lineno}, column {e.colno})",
            "this is not the CNEMC live feed: check the source's kind and URL",
        ) from None
    except RecursionError:
        raise _fail(
            name, "JSON nested too deeply", "this is not the CNEMC live feed: check the URL"
        ) from None


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(_SITE_KEYS & set(_lower_keys(obj)))


def _feature_record(feature: Any) -> Any:
    """A GeoJSON feature's properties, with lon/lat from its Point geometry if missing."""
    if not isinstance(feature, dict):
        return feature
    props = feature.get("properties")
    if not isinstance(props, dict):
        return feature
    rec = dict(props)
    low = _lower_keys(rec)
    geom = feature.get("geometry")
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if isinstance(coords, list) and len(coords) >= 2:
        if "longitude" not in low:
            rec["Longitude"] = coords[0]
        if "latitude" not in low:
            rec["Latitude"] = coords[1]
    return rec


def _find_list(doc: Any, depth: int = 0) -> list[Any] | None:
    """The list of records in `doc`: the list itself, a wrapper's list, or GeoJSON features."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict) or depth > 2:
        return None
    if _is_record(doc):
        return [doc]
    low = _lower_keys(doc)
    if isinstance(low.get("features"), list):
        return [_feature_record(f) for f in low["features"]]
    for key in _WRAPPERS:
        if key in low:
            found = _find_list(low[key], depth + 1)
            if found is not None:
                return found
    return None


def _records(payload: bytes, name: str, tz: str) -> tuple[list[_Record], list[Reject]]:
    doc = _load(payload, name)
    items = _find_list(doc)
    if items is None:
        shape = (
            f"an object with keys {', '.join(list(map(str, doc))[:6]) or '(none)'}"
            if isinstance(doc, dict)
            else f"a JSON {type(doc).__name__}"
        )
        raise _fail(
            name,
            f"{shape}, not a list of station records (StationCode, TimePoint, AQI ...)",
            "check the source's kind and URL",
        )
    if not items:
        raise _fail(
            name,
            "an empty list: the feed published no station for this request",
            "check the city in the URL; the next run tries again",
        )
    rejects: list[Reject] = []
    records: list[_Record] = []
    seen: dict[tuple[str, pd.Timestamp], int] = {}
    for i, item in enumerate(items, start=1):
        loc = f"record {i}"
        if not isinstance(item, dict):
            rejects.append(
                Reject(
                    loc, f"is a {type(item).__name__}, not an object; skipped", raw=str(item)[:80]
                )
            )
            continue
        rec = {_CANONICAL.get(k, k): v for k, v in _lower_keys(item).items()}
        code = _text(rec.get("StationCode"))
        label = _text(rec.get("TimePoint"))
        if not code or not label:
            missing = " and ".join(
                f for f, v in (("StationCode", code), ("TimePoint", label)) if not v
            )
            rejects.append(
                Reject(
                    loc,
                    f"has no {missing}; the record was skipped",
                    site_id=code or None,
                    raw=json.dumps(item, ensure_ascii=False)[:200],
                )
            )
            continue
        end = _period_end(label, tz)
        if end is None:
            rejects.append(
                Reject(
                    loc,
                    f"TimePoint '{label[:40]}' of station {code} is not a local time on the hour "
                    "like 2017-07-07T16:00:00; the record was skipped",
                    site_id=code,
                    raw=label[:200],
                )
            )
            continue
        local = end.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
        key = (code, end)
        if key in seen:
            rejects.append(
                Reject(
                    loc,
                    f"second record for station {code} at {local} (first is record {seen[key]}); "
                    "skipped",
                    site_id=code,
                    period_end=local,
                )
            )
            continue
        seen[key] = i
        records.append(_Record(loc, code, local, end, rec))
    if not records:
        first = rejects[0]
        raise _fail(
            name,
            f"no usable record among {len(items)} (first problem: {first.location} {first.reason})",
            "this is not the CNEMC live feed or it is damaged: check what was downloaded",
        )
    return records, rejects


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _label(value: Any) -> str:
    """A text field as published; ``''`` when the feed marks it missing."""
    return "" if _is_missing(value) else _text(value)


def _period_end(label: str, tz: str) -> pd.Timestamp | None:
    m = _TIME.match(label)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    if mi or s:
        return None
    try:
        local = datetime(y, mo, d, h)
    except ValueError:
        return None
    return pd.Timestamp(local).tz_localize(tz).tz_convert("UTC")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _MISSING)


def read(payload: bytes, *, name: str = "<payload>", tz: str = "Asia/Shanghai") -> Reading:
    """Parse one payload of the CNEMC live feed (see the module docstring).

    Returns observations (period_end = end of the hour, UTC; µg/m³, CO mg/m³; the O3 swap
    undone), rejects naming the record, station, time and field, and one site row per station
    (site_id, name, city, lon, lat as published).
    """
    records, rejects = _records(payload, name, tz)
    site_ids: list[str] = []
    params: list[str] = []
    avgs: list[str] = []
    ends: list[pd.Timestamp] = []
    raws: list[Any] = []
    units: list[str] = []
    fields: list[str] = []
    locs: list[str] = []
    labels: list[str] = []
    for r in records:
        for field, (param, avg, unit) in FIELDS.items():
            value = r.fields.get(field)
            if _is_missing(value):
                continue
            site_ids.append(r.site_id)
            params.append(param)
            avgs.append(avg)
            ends.append(r.period_end)
            raws.append(value)
            units.append(unit)
            fields.append(field)
            locs.append(r.location)
            labels.append(r.time_label)

    if not raws:
        obs = empty_observations()
    else:
        nums = _numbers(raws)
        finite = np.isfinite(nums)
        negative = finite & (nums < 0)
        ok = finite & ~negative
        for idx in np.flatnonzero(~ok):
            raw = str(raws[idx]).strip()
            reason = "negative value" if negative[idx] else "not a number"
            rejects.append(
                Reject(
                    f"{locs[idx]}, field {fields[idx]}",
                    f"{reason}: '{raw[:40]}' for station {site_ids[idx]}, {labels[idx]}, "
                    f"field {fields[idx]}",
                    site_id=site_ids[idx],
                    parameter=fields[idx],
                    period_end=labels[idx],
                    raw=raw[:200],
                )
            )
        keep = np.flatnonzero(ok)
        obs = pd.DataFrame(
            {
                "site_id": np.array(site_ids, dtype=object)[keep],
                "parameter": np.array(params, dtype=object)[keep],
                "averaging": np.array(avgs, dtype=object)[keep],
                "period_end": pd.DatetimeIndex(ends, tz="UTC")[keep],
                "value": nums[keep],
                "unit": np.array(units, dtype=object)[keep],
                "flag": "",
            },
            columns=OBSERVATION_COLUMNS,
        )
        obs["period_end"] = obs["period_end"].astype("datetime64[ns, UTC]")
    return Reading(observations=obs, rejects=rejects, sites=_sites(records))


def _numbers(raws: list[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Raw values as float64; anything that is not a plain number (or is boolean) is NaN."""
    text = pd.Series(
        ["" if v is None or isinstance(v, bool) else str(v).strip() for v in raws], dtype=object
    )
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")


def _sites(records: Iterable[_Record]) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        name = _label(r.fields.get("PositionName"))
        city = _label(r.fields.get("Area"))
        rows[r.site_id] = {
            "site_id": r.site_id,
            "name": name or r.site_id,
            "city": city or None,
            "lon": _coordinate(r.fields.get("Longitude")),
            "lat": _coordinate(r.fields.get("Latitude")),
        }
    return pd.DataFrame(list(rows.values()), columns=["site_id", "name", "city", "lon", "lat"])


def _coordinate(value: Any) -> float:
    if _is_missing(value) or isinstance(value, bool):
        return float("nan")
    try:
        return float(str(value).strip())
    except ValueError:
        return float("nan")


def primary_codes(text: Any) -> str:
    """The feed's primary pollutant (``细颗粒物(PM2.5)``, ``臭氧1小时`` ...) as envwatch codes.

    Comma-joined on ties (``PM2.5,PM10``); ``''`` when the feed gives none (AQI ≤ 50: ``—``,
    ``-;``, empty). A name this table does not know is kept as published, so that a comparison
    shows it rather than hiding it.
    """
    if _is_missing(text):
        return ""
    norm = str(text).replace("（", "(").replace("）", ")").replace("₂", "2").replace("₃", "3")
    codes: list[str] = []
    for part in re.split(r"[,，、;；/]", norm):
        part = part.strip()
        if not part or part.lower() in _MISSING:
            continue
        code = PRIMARY_CODES.get(part) or PRIMARY_CODES.get(part.replace(" ", "").upper()) or part
        if code not in codes:
            codes.append(code)
    return ",".join(codes)


def published(
    payload: bytes, *, name: str = "<payload>", tz: str = "Asia/Shanghai"
) -> pd.DataFrame:
    """What the feed published for each station-hour, to check envwatch's own AQI against.

    Columns `PUBLISHED_COLUMNS`: site_id, period_end (end of the hour, UTC), aqi (Int64, <NA>
    when missing or not a number), primary_pollutant (envwatch's hourly codes via
    `primary_codes`, ``''`` when none) and quality (the published category, e.g. ``良``;
    ``''`` when missing). One row per record that `read` accepts (same ParseErrors).
    """
    records, _ = _records(payload, name, tz)
    aqi = _numbers([r.fields.get("AQI") for r in records])
    out = pd.DataFrame(
        {
            "site_id": [r.site_id for r in records],
            "period_end": pd.DatetimeIndex([r.period_end for r in records], tz="UTC"),
            "aqi": pd.array(
                [int(round(a)) if np.isfinite(a) and a >= 0 else pd.NA for a in aqi],
                dtype="Int64",
            ),
            "primary_pollutant": [primary_codes(r.fields.get("PrimaryPollutant")) for r in records],
            "quality": [_label(r.fields.get("Quality")) for r in records],
        },
        columns=PUBLISHED_COLUMNS,
    )
    out["period_end"] = out["period_end"].astype("datetime64[ns, UTC]")
    return out


def fetch(client: HttpClient, url: str) -> bytes:
    """One GET of the feed (e.g. ``.../GetAQIDataPublishLive?cityName=宁波市``); the raw bytes.

    Retries, time budget and secrets are the client's (`envwatch.http`); raises `FetchError`.
    """
    return client.get(url)
