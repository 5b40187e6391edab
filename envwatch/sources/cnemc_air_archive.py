"""CNEMC hourly air archive: ``china_sites_YYYYMMDD.csv``, every national station, one file a day.

Format: header ``date,hour,type,<station code>...``; ``date`` is ``YYYYMMDD``, ``hour`` 0-23 in
China Standard Time, hour-ending (hour 0 of day D+1 is 24:00 of day D, the last hour of D's
natural day). Fifteen rows per hour, one per ``type``. Units: µg/m³, CO mg/m³. An empty cell is
missing. The ``AQI`` row is the AQI the source published; it is kept as its own parameter
``aqi_published`` and never used as the computed AQI.

``read`` parses bytes; ``fetch`` downloads one day. A file that holds nothing usable raises
ParseError; a cell that is not a number is a Reject (station, hour, type) and the rest lands.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from envwatch.errors import ParseError
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading, Reject

# The pollutants the feed publishes as a 1-h row ``NAME`` and a 24-h row ``NAME_24h``:
# (the feed's name, parameter code, unit).
POLLUTANT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("PM2.5", "pm25", "µg/m³"),
    ("PM10", "pm10", "µg/m³"),
    ("SO2", "so2", "µg/m³"),
    ("NO2", "no2", "µg/m³"),
    ("CO", "co", "mg/m³"),
)


def pollutant_types(spell: Callable[[str], str] = str) -> dict[str, tuple[str, str, str]]:
    """The published AQI and the 1-h and 24-h rows of `POLLUTANT_ROWS`: type -> (parameter,
    averaging, unit). `spell` turns the archive's name into the feed's (``PM2.5`` -> ``PM2_5``)."""
    return {
        "AQI": ("aqi_published", "1h", "1"),
        **{
            f"{spell(feed)}{suffix}": (code, averaging, unit)
            for feed, code, unit in POLLUTANT_ROWS
            for suffix, averaging in (("", "1h"), ("_24h", "24h"))
        },
    }


# type row -> (parameter, averaging, unit). The feed's O3_8h values restart each natural day and
# are not HJ 663 8-h values: they are kept as averaging "8h_feed" for comparison only.
TYPES: dict[str, tuple[str, str, str]] = {
    **pollutant_types(),
    "O3": ("o3", "1h", "µg/m³"),
    "O3_24h": ("o3", "24h_max", "µg/m³"),
    "O3_8h": ("o3", "8h_feed", "µg/m³"),
    "O3_8h_24h": ("o3", "8h_feed_max", "µg/m³"),
}

_STATION = re.compile(r"^[0-9]{4}[A-Z]$")
FILE_NAME = "china_sites_{date:%Y%m%d}.csv"


def file_name(day: date) -> str:
    """The archive's file name for a day, e.g. ``china_sites_20190101.csv``."""
    return FILE_NAME.format(date=day)


def _decode(payload: bytes, name: str) -> str:
    if not payload.strip():
        raise ParseError(f"{name}: the file is empty; fetch it again or check the source")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ParseError(
            f"{name}: not UTF-8 text (byte {e.start} is {payload[e.start : e.start + 1]!r}); "
            "this is not a CNEMC china_sites CSV: check what was downloaded"
        ) from None
    if "\x00" in text[:4096]:
        raise ParseError(
            f"{name}: binary data, not a CNEMC china_sites CSV; check what was downloaded"
        )
    head = text.lstrip()[:512].lower()
    if head.startswith("<") or "<html" in head or "<!doctype" in head:
        raise ParseError(
            f"{name}: an HTML page, not a china_sites CSV (the server sent an error or login "
            "page); try again later or check the URL"
        )
    if head.startswith(("{", "[")):
        raise ParseError(f"{name}: JSON, not a china_sites CSV; check the source's kind and URL")
    return text


def read(payload: bytes, *, name: str = "<payload>", tz: str = "Asia/Shanghai") -> Reading:
    """Parse one ``china_sites_YYYYMMDD.csv``.

    Returns observations for every non-empty numeric cell: period_end is the end of the hour
    (UTC), values in µg/m³ (CO mg/m³). Rejects name the line, station, hour and type.
    """
    text = _decode(payload, name)
    lines = text.splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    if header[:3] != ["date", "hour", "type"]:
        raise ParseError(
            f"{name}: header starts with '{','.join(header[:3])[:60]}', expected "
            "'date,hour,type,<station codes>'; this is not a CNEMC china_sites CSV"
        )
    codes = header[3:]
    if not codes:
        raise ParseError(f"{name}: the header names no station columns after date,hour,type")
    keep_col, rejects = _station_columns(codes, name)
    good_rows, good_line_no = _data_lines(lines, len(header), rejects)

    if not good_rows:
        if rejects:
            raise ParseError(
                f"{name}: no usable line; first problem: {rejects[0].location}: {rejects[0].reason}"
            )
        raise ParseError(f"{name}: a header but no data lines; the file may be truncated")

    arr = np.array(good_rows, dtype=object)
    try:
        dates = pd.to_datetime(arr[:, 0], format="%Y%m%d")
    except ValueError as e:
        raise ParseError(f"{name}: a date is not a real day ({e})") from None
    local = dates + pd.to_timedelta(arr[:, 1].astype(int), unit="h")
    ends = local.tz_localize(tz).tz_convert("UTC")
    row_types = arr[:, 2]

    values = arr[:, 3:][:, keep_col]
    kept_codes = np.array(codes, dtype=object)[keep_col]
    nums, ok = _numbers(values, kept_codes, arr, good_line_no, local, rejects)

    keep = np.flatnonzero(ok)
    r_idx, s_idx = np.divmod(keep, len(kept_codes))
    param = np.array([TYPES[t][0] for t in row_types], dtype=object)
    avg = np.array([TYPES[t][1] for t in row_types], dtype=object)
    unit = np.array([TYPES[t][2] for t in row_types], dtype=object)
    obs = pd.DataFrame(
        {
            "site_id": kept_codes[s_idx],
            "parameter": param[r_idx],
            "averaging": avg[r_idx],
            "period_end": ends[r_idx],
            "value": nums[keep],
            "unit": unit[r_idx],
            "flag": "",
        },
        columns=OBSERVATION_COLUMNS,
    )
    sites = pd.DataFrame({"site_id": list(kept_codes), "name": list(kept_codes)})
    return Reading(observations=obs, rejects=rejects, sites=sites)


def _station_columns(codes: list[str], name: str) -> tuple[np.ndarray, list[Reject]]:
    """Which station columns to keep, and the header's rejects (not a code, repeated)."""
    rejects: list[Reject] = []
    bad_codes = [c for c in codes if not _STATION.match(c)]
    if len(bad_codes) > len(codes) // 2:
        raise ParseError(
            f"{name}: the header's columns ({', '.join(bad_codes[:3])} ...) are not station codes "
            "like 1001A; this is not a CNEMC china_sites CSV"
        )
    keep_col = np.ones(len(codes), dtype=bool)
    seen: set[str] = set()
    for i, c in enumerate(codes):
        if not _STATION.match(c):
            keep_col[i] = False
            rejects.append(
                Reject(
                    "header", f"column '{c}' is not a station code; its values were skipped", raw=c
                )
            )
        elif c in seen:
            keep_col[i] = False
            rejects.append(
                Reject("header", f"station {c} has two columns; the second was skipped", site_id=c)
            )
        seen.add(c)
    return keep_col, rejects


def _data_lines(
    lines: list[str], width: int, rejects: list[Reject]
) -> tuple[list[list[str]], list[int]]:
    """The well-formed data lines (split) and their line numbers; the others are rejected."""
    good_rows: list[list[str]] = []
    good_line_no: list[int] = []
    seen_rows: dict[tuple[str, str, str], int] = {}
    for no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != width:
            rejects.append(
                Reject(
                    f"line {no}",
                    f"has {len(fields)} fields, the header has {width} (the file may be "
                    "truncated or damaged); the line was skipped",
                    raw=line[:80],
                )
            )
            continue
        d, h, t = fields[0].strip(), fields[1].strip(), fields[2].strip()
        if t not in TYPES:
            rejects.append(
                Reject(
                    f"line {no}", f"unknown type '{t}'; expected one of {', '.join(TYPES)}", raw=t
                )
            )
            continue
        if not (re.fullmatch(r"\d{8}", d) and h.isdigit() and 0 <= int(h) <= 23):
            rejects.append(
                Reject(
                    f"line {no}",
                    f"date '{d}' or hour '{h}' is not YYYYMMDD and 0-23",
                    raw=f"{d},{h}",
                )
            )
            continue
        key = (d, h, t)
        if key in seen_rows:
            rejects.append(
                Reject(
                    f"line {no}",
                    f"second row for {d} hour {h} type {t} (first on line {seen_rows[key]}); skipped",
                    parameter=t,
                )
            )
            continue
        seen_rows[key] = no
        good_rows.append(fields)
        good_line_no.append(no)
    return good_rows, good_line_no


def _numbers(
    values: np.ndarray,
    kept_codes: np.ndarray,
    arr: np.ndarray,
    good_line_no: list[int],
    local: pd.DatetimeIndex,
    rejects: list[Reject],
) -> tuple[np.ndarray, np.ndarray]:
    """The cells as floats (flattened row-major) and which to keep; bad cells are rejected."""
    n_st = values.shape[1]
    row_types = arr[:, 2]
    flat = pd.Series(values.ravel(), dtype=object)
    empty = (flat == "").to_numpy()
    nums = pd.to_numeric(flat.where(~empty, None), errors="coerce").to_numpy(dtype="float64")
    finite = np.isfinite(nums)
    bad = ~empty & ~finite
    negative = finite & (nums < 0)
    bad |= negative
    for idx in np.flatnonzero(bad):
        r, s = divmod(int(idx), n_st)
        raw = str(flat.iloc[idx])
        reason = "negative value" if negative[idx] else "not a number"
        rejects.append(
            Reject(
                f"line {good_line_no[r]}, column {kept_codes[s]}",
                f"{reason}: '{raw[:40]}' for station {kept_codes[s]}, "
                f"{arr[r, 0]} hour {arr[r, 1]}, type {row_types[r]}",
                site_id=str(kept_codes[s]),
                parameter=str(row_types[r]),
                period_end=local[r].strftime("%Y-%m-%d %H:%M"),
                raw=raw[:200],
            )
        )
    return nums, finite & ~negative


def read_station_list(payload: bytes, *, name: str = "<station list>") -> pd.DataFrame:
    """Parse a national station list (``监测点编码,监测点名称,城市,经度,纬度``).

    Returns site_id, name, city, lon, lat (WGS-84 as published). UTF-8 or GBK.
    """
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = payload.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ParseError(f"{name}: not UTF-8 or GBK text")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:100]
        raise ParseError(f"{name}: not a station list ({reason}); download it again") from None
    cols = {
        "监测点编码": "site_id",
        "监测点名称": "name",
        "城市": "city",
        "经度": "lon",
        "纬度": "lat",
    }
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParseError(
            f"{name}: a station list needs the columns {', '.join(cols)}; missing {', '.join(missing)}"
        )
    out = df[list(cols)].rename(columns=cols)
    out["site_id"] = out["site_id"].str.strip()
    out["lon"] = pd.to_numeric(out["lon"], errors="coerce")
    out["lat"] = pd.to_numeric(out["lat"], errors="coerce")
    return out.drop_duplicates("site_id", keep="last").reset_index(drop=True)
