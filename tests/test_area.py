"""City, district and group values as published (issue 13), against the MEE's published city
hourly values of 2019-02-05 (tests/data/README-area.md)."""

from __future__ import annotations

import csv
import gzip
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envwatch.config import load_config
from envwatch.errors import ConfigError
from envwatch.pipeline import ingest, open_store, sync_sites
from envwatch.schema import published as _published
from envwatch.standards import area as rules
from envwatch.standards.aqi import round_half_even

from conftest import ROOT, SAMPLES, write_config

DATA = ROOT / "tests" / "data"
DAY = DATA / "china_sites_20190205.csv.gz"
MEE = DATA / "mee_city_hourly_20190205.csv.gz"
STATION_LIST = SAMPLES / "air" / "StationList-2020.01.01.csv"
POLLUTANTS = ["pm25", "pm10", "so2", "no2", "co", "o3"]
NINGBO = ["1234A", "1235A", "1236A", "1237A", "1238A", "1239A", "1240A", "1241A", "2871A"]


def _slice(path: Path, codes: list[str], cut_after_hour: int | None = None) -> Path:
    """The 2019-02-05 archive with only `codes`' columns; cut inside the first row of the hour
    after `cut_after_hour` (a truncated download) when given."""
    with gzip.open(DAY, "rt", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    keep = [0, 1, 2] + [i for i, c in enumerate(rows[0]) if c in codes]
    lines = [",".join(r[i] for i in keep) for r in rows]
    if cut_after_hour is not None:
        first = next(n for n, r in enumerate(rows) if r[1] == str(cut_after_hour + 1))
        lines = lines[:first] + [lines[first][: len(lines[first]) // 2]]
        path.write_text("\n".join(lines), encoding="utf-8")  # no final newline: cut short
    else:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _mee() -> pd.DataFrame:
    df = pd.read_csv(MEE, compression="gzip")
    df = df.rename(
        columns={
            "AQI": "aqi",
            "PM2.5": "pm25",
            "PM10": "pm10",
            "SO2": "so2",
            "NO2": "no2",
            "CO": "co",
            "O3": "o3",
        }
    )
    df = df.replace("—", np.nan)
    for c in [*POLLUTANTS, "aqi"]:
        df[c] = pd.to_numeric(df[c])
    df["time_local"] = pd.to_datetime(df["time"]).dt.strftime("%Y-%m-%d %H:%M")
    df["main_pollution"] = df["main_pollution"].fillna("—").replace("—", "")
    return df


def _city_hours(db: Path) -> pd.DataFrame:
    with sqlite3.connect(db) as c:
        return pd.read_sql_query("select * from area_hourly where level = 'city'", c)


def _compare(db: Path) -> pd.DataFrame:
    """Published city-hours joined to ours; `bad` counts the values of the 7 that differ."""
    j = _mee().merge(
        _city_hours(db),
        left_on=["city", "time_local"],
        right_on=["area", "time_local"],
        how="left",
        suffixes=("", "_ours"),
    )
    bad = np.zeros(len(j), dtype=int)
    for c in [*POLLUTANTS, "aqi"]:
        same = (j[c] == j[f"{c}_ours"]) | (j[c].isna() & j[f"{c}_ours"].isna())
        bad += (~same).to_numpy().astype(int)
    j["bad"] = bad
    return j


@pytest.fixture(scope="module")
def ningbo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ningbo")
    loaded = load_config(write_config(folder))
    day = _slice(folder / "china_sites_20190205.csv", NINGBO)
    assert ingest(loaded, "cnemc-air-archive", files=[day]).status == "ok"
    return folder / "envwatch.db"


def test_ningbo_city_hours_equal_the_published_values(ningbo: Path) -> None:
    """144/144 pollutant-hours (6 pollutants x 24 hours) and the 24 hourly AQIs of 宁波市."""
    j = _compare(ningbo)
    nb = j.loc[j["city"] == "宁波市"]
    assert len(nb) == 24
    equal = sum(int((nb[c] == nb[f"{c}_ours"]).sum()) for c in POLLUTANTS)
    assert equal == 144
    assert (nb["aqi"] == nb["aqi_ours"]).all()
    assert (nb["main_pollution"] == nb["primary_pollutant"].fillna("")).all()
    # 1238A (stopped) reported nothing; 1237A counts in 2019: eight stations at most
    assert nb["n_stations"].max() == 8


def test_ningbo_daily_value_uses_the_area_hourly_o3_maximum(ningbo: Path) -> None:
    with sqlite3.connect(ningbo) as c:
        day = pd.read_sql_query(
            "select * from area_daily where level = 'city' and date = '2019-02-05'", c
        ).iloc[0]
        hours = pd.read_sql_query(
            "select o3 from area_hourly where area = '宁波市' and time_local > '2019-02-05 00:00'",
            c,
        )
        stations = pd.read_sql_query(
            "select avg(o3_1h_max_exact) from air_daily where date = '2019-02-05' "
            "and site_id != '1238A'",
            c,
        ).iloc[0, 0]
    # the published hourly series of the day (MEE, 01:00 … 23:00, plus 24:00 = 2-6 00:00)
    assert day["o3_1h_max"] == hours["o3"].max() == 65
    assert stations > 70  # the mean of the stations' maxima would say 72
    assert day["valid"] == 1 and day["n_stations"] == 8
    # districts by polygon: 镇海区 is 1236A alone
    with sqlite3.connect(ningbo) as c:
        zh = pd.read_sql_query(
            "select d.pm25, a.pm25 as station from area_daily d, air_daily a where "
            "d.area = '镇海区' and a.site_id = '1236A' and d.date = a.date "
            "and d.date = '2019-02-05'",
            c,
        ).iloc[0]
    assert zh["pm25"] == zh["station"] == 32


def test_membership_by_natural_day(tmp_path: Path) -> None:
    """1237A background from 2019-02-05: it still counts in the hour labelled 2019-02-05 00:00
    (24:00 of the 4th), and no longer from 01:00."""
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "membership: [{until: 2021-12-31}, {from: 2022-01-01, role: background}]",
        "membership: [{until: 2019-02-04}, {from: 2019-02-05, role: background}]",
    )
    loaded = load_config(write_config(tmp_path, text))
    day = _slice(tmp_path / "china_sites_20190205.csv", NINGBO)
    ingest(loaded, "cnemc-air-archive", files=[day])
    j = _compare(tmp_path / "envwatch.db")
    nb = j.loc[j["city"] == "宁波市"].set_index("time_local")
    assert nb.loc["2019-02-05 00:00", "bad"] == 0
    assert nb["n_stations"].iloc[1:].max() == 7
    assert nb["bad"].iloc[1:].sum() > 0  # without 1237A the published values are not met


def test_changing_membership_recomputes_stored_area_values(ningbo: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    with sqlite3.connect(ningbo) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "membership: [{until: 2021-12-31}, {from: 2022-01-01, role: background}]",
        "background: true",
    )
    loaded = load_config(write_config(tmp_path, text))
    with open_store(loaded, db) as store:
        sync_sites(loaded, store)
    hours = _city_hours(db).set_index("time_local")
    assert hours["n_stations"].max() == 7


def test_truncated_file_makes_its_day_invalid_not_wrong(tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path))
    day = _slice(tmp_path / "china_sites_20190205.csv", NINGBO, cut_after_hour=12)
    result = ingest(loaded, "cnemc-air-archive", files=[day])
    assert result.status == "partial" and result.rejected == 1
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        days = pd.read_sql_query("select * from area_daily where date = '2019-02-05'", c)
    assert len(days) == 6  # 宁波市 and its five districts with national stations
    assert (days["valid"] == 0).all()
    for col in ["pm25", "pm10", "so2", "no2", "co", "o3_1h_max", "aqi"]:
        assert days[col].isna().all(), col
    # the hours that did arrive are right
    j = _compare(tmp_path / "envwatch.db")
    nb = j.loc[(j["city"] == "宁波市") & (j["time_local"] <= "2019-02-05 12:00")]
    assert len(nb) == 13 and (nb["bad"] == 0).all()


@pytest.mark.slow
def test_every_city_identified_from_the_station_list(tmp_path: Path) -> None:
    """All 367 cities' stations, as the national station list assigns them: see
    tests/data/README-area.md for the counts and why the others differ."""
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("station_list: data/samples/", f"station_list: {SAMPLES}/")
    loaded = load_config(write_config(tmp_path, text))
    day = tmp_path / "china_sites_20190205.csv"
    day.write_bytes(gzip.decompress(DAY.read_bytes()))
    assert ingest(loaded, "cnemc-air-archive", files=[day], all_sites=True).status == "ok"
    db = tmp_path / "envwatch.db"
    per_city = _compare(db).groupby("city")["bad"].sum()
    exact = set(per_city.index[per_city == 0])
    assert len(exact) == 211, len(exact)
    assert {"宁波市", "杭州市", "北京市"} - exact == {"北京市"}

    # The background stations the 2020 list does not mark, found as the one station whose
    # omission reproduces the city's every value (tests/data/background_inferred_20190205.csv)
    inferred = pd.read_csv(DATA / "background_inferred_20190205.csv", dtype=str)
    listed = pd.read_csv(STATION_LIST, dtype=str).set_index("监测点编码")
    extra = "".join(
        f"  - {{id: {r.site_id}, name: {r.name}, kind: air, lon: {listed.loc[r.site_id, '经度']}, "
        f"lat: {listed.loc[r.site_id, '纬度']}, city: {r.city}, background: true}}\n"
        for r in inferred.itertuples()
    )
    text = text.replace("\nsites:\n", "\nsites:\n" + extra, 1)
    loaded = load_config(write_config(tmp_path, text))
    with open_store(loaded, db) as store:
        sync_sites(loaded, store)  # a change of membership recomputes the stored area values
    per_city = _compare(db).groupby("city")["bad"].sum()
    assert int((per_city == 0).sum()) == 211 + len(inferred) == 324


# -- the rules on small worked examples -------------------------------------------------------


def test_sql_rounding_is_half_to_even_once_from_full_precision() -> None:
    values = [44.5, 45.5, 44.54, 44.4999999999, 70.49999999999999, 0.0, 1234.5, None]
    co = [0.25, 0.35, 1.25, 0.75, 0.0499999999, 1.15, None]
    with sqlite3.connect(":memory:") as c:
        ints = [
            c.execute(f"select {_published('x')} from (select ? as x)", (v,)).fetchone()[0]
            for v in values
        ]
        tenths = [
            c.execute(f"select {_published('x', 1)} from (select ? as x)", (v,)).fetchone()[0]
            for v in co
        ]
    assert ints == [44, 46, 45, 44, 70, 0, 1234, None]
    assert tenths == [0.2, 0.4, 1.2, 0.8, 0.0, 1.2, None]
    py = round_half_even([v for v in values if v is not None])
    assert list(py) == [float(v) for v in ints if v is not None]


def test_area_daily_coverage_and_rounding() -> None:
    """Four stations: a pollutant needs three valid station days (75 %); one value rounded."""
    members = pd.DataFrame(
        {
            "level": "district",
            "area": "镇海区",
            "site_id": ["a", "b", "c", "d"],
            "date": pd.Timestamp("2019-04-01"),
        }
    )
    daily = pd.DataFrame(
        {
            "site_id": ["a", "b", "c", "d"],
            "date": pd.Timestamp("2019-04-01"),
            "pm25": [44.0, 45.0, 44.62, np.nan],  # mean 44.54: published 45, not 44.5 -> 44
            "pm10": [60.0, np.nan, np.nan, 70.0],  # two of four valid: not enough
            "so2": 8.0,
            "no2": 30.0,
            "co": [0.7, 0.8, 0.7, 0.8],  # 0.75: half to even -> 0.8
            "o3_8h_max": 100.0,
        }
    )
    hours = pd.DataFrame(
        {
            "level": "district",
            "area": "镇海区",
            "time_local": pd.date_range("2019-04-01 01:00", periods=24, freq="h"),
            "o3": np.r_[np.full(23, 80.0), 150.0],
        }
    )
    out = rules.area_daily(daily, members, hours).iloc[0]
    assert out["pm25"] == 45 and out["pm25_exact"] == pytest.approx(44.54)
    assert np.isnan(out["pm10"]) and out["n_valid_pm10"] == 2
    assert out["co"] == 0.8
    assert out["o3_1h_max"] == 150
    assert out["n_stations"] == 4 and not out["valid"]  # PM10 is missing
    assert list(rules.coverage_need([1, 2, 3, 4, 8])) == [1, 1, 2, 3, 6]


def test_counting_by_dated_membership() -> None:
    membership = pd.DataFrame(
        {
            "site_id": ["x", "x", "y"],
            "valid_from": pd.to_datetime([None, "2022-01-01", "2019-01-01"]),
            "valid_until": pd.to_datetime(["2021-12-31", None, None]),
            "role": ["counts", "background", "stopped"],
        }
    )
    sites = pd.Series(["x", "x", "y", "y", "z"])
    days = pd.Series(
        pd.to_datetime(["2021-12-31", "2022-01-01", "2018-12-31", "2019-06-01", "2030-01-01"])
    )
    assert list(rules.counting(sites, days, membership)) == [True, False, False, False, True]


# -- configuration ------------------------------------------------------------------------------


def _config_error(tmp_path: Path, old: str, new: str) -> str:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    assert old in text
    p = write_config(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    return str(e.value)


MEMBERSHIP_1237A = "membership: [{until: 2021-12-31}, {from: 2022-01-01, role: background}]"


def test_overlapping_membership_is_refused_with_line_and_fix(tmp_path: Path) -> None:
    msg = _config_error(
        tmp_path,
        MEMBERSHIP_1237A,
        "membership: [{until: 2021-12-31}, {from: 2021-06-01, role: background}]",
    )
    line = next(
        n
        for n, t in enumerate((tmp_path / "stations.yaml").read_text().splitlines(), 1)
        if "2021-06-01" in t
    )
    assert f"stations.yaml:{line}: sites[3].membership[1]: site 1237A" in msg
    assert "overlaps sites[3].membership[0]" in msg and "end the earlier one the day before" in msg


def test_reversed_membership_period_is_refused(tmp_path: Path) -> None:
    msg = _config_error(
        tmp_path, MEMBERSHIP_1237A, "membership: [{from: 2022-01-01, until: 2021-12-31}]"
    )
    assert "sites[3].membership[0]" in msg and "swap them" in msg
    assert "stations.yaml:" in msg


def test_membership_of_stations_outside_sites(tmp_path: Path) -> None:
    msg = _config_error(
        tmp_path,
        "    1225A: [{role: background, note: 杭州 千岛湖 对照点}]",
        "    1225A: [{until: 2020-01-01}, {from: 2019-12-31, role: background}]\n"
        "    1236A: [{role: background}]",
    )
    assert (
        "areas.membership.1225A[1]: site 1225A" in msg
        and "overlaps areas.membership.1225A[0]" in msg
    )
    assert "areas.membership.1236A: the site is listed in sites" in msg


def test_background_and_membership_together_are_refused(tmp_path: Path) -> None:
    msg = _config_error(tmp_path, MEMBERSHIP_1237A, MEMBERSHIP_1237A + ", background: true")
    assert "either background: true" in msg


def test_area_groups_are_checked(tmp_path: Path) -> None:
    msg = _config_error(
        tmp_path,
        "  groups: []",
        "  groups:\n    - {name: 大榭, stations: [1234A]}\n    - {name: 大榭, stations: [1236A, 1236A]}",
    )
    assert "duplicate group '大榭'" in msg and "1236A listed twice" in msg
    msg = _config_error(
        tmp_path, "control_levels: [国控, 省控, 市控]", "control_levels: [国控, 省级]"
    )
    assert "areas.control_levels[1]" in msg


def test_python_api_area_values(ningbo: Path) -> None:
    import envwatch
    from envwatch.errors import UsageError

    with envwatch.open(ningbo) as ew:
        city = ew.area_daily(
            level="city", area="宁波市", since="2019-02-05", until="2019-02-05", exact=True
        )
        hours = ew.area_hourly(area="镇海区", since="2019-02-05", until="2019-02-05")
        with pytest.raises(UsageError, match="did you mean '镇海区'"):
            ew.area_daily(area="镇海")
    assert len(city) == 1 and city["pm25"].iloc[0] == 32
    assert city["pm25_exact"].iloc[0] != 32  # full precision is kept
    assert len(hours) == 23 and hours["time_local"].iloc[0] == pd.Timestamp("2019-02-05 01:00")


def test_ranking_areas_are_the_districts_and_the_groups(tmp_path: Path) -> None:
    from envwatch.area import ranking_areas

    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("  groups: []", "  groups:\n    - {name: 大榭, stations: [1234A]}")
    areas = ranking_areas(load_config(write_config(tmp_path, text)))
    assert len([a for lv, a in areas if lv == "district"]) == 10
    assert ("district", "镇海区") in areas and areas[-1] == ("group", "大榭")


def test_groups_and_control_levels_decide_the_members() -> None:
    """A provincial station counts in its district and groups, not in the city (issue 14)."""
    from envwatch.area import DEFAULT_CONFIG, area_members

    sites = pd.DataFrame(
        {
            "site_id": ["1234A", "P01", "P02", "X1"],
            "kind": "air",
            "city": ["宁波市", "宁波市", "宁波市", "杭州"],
            "district": ["北仑区", "北仑区", "慈溪市", None],
            "control_level": [None, "省控", "区控", None],
        }
    )
    conf = {
        **DEFAULT_CONFIG,
        "region": {"city": "宁波市"},
        "groups": {"大榭": ["P01", "P02"]},
    }
    got = set(map(tuple, area_members(sites, conf)[["level", "area", "site_id"]].to_numpy()))
    assert got == {
        ("city", "宁波市", "1234A"),
        ("city", "杭州市", "X1"),
        ("district", "北仑区", "1234A"),
        ("district", "北仑区", "P01"),
        ("group", "大榭", "P01"),  # P02 is 区控: not among the levels that count by default
    }


def test_a_configured_group_gets_its_values(tmp_path: Path) -> None:
    text = (ROOT / "stations.yaml").read_text(encoding="utf-8")
    text = text.replace("  groups: []", "  groups:\n    - {name: 大榭, stations: [1234A]}")
    loaded = load_config(write_config(tmp_path, text))
    ingest(
        loaded, "cnemc-air-archive", files=[_slice(tmp_path / "china_sites_20190205.csv", NINGBO)]
    )
    with sqlite3.connect(tmp_path / "envwatch.db") as c:
        rows = c.execute(
            "select g.pm25, g.aqi, d.pm25, d.aqi from area_daily g join area_daily d "
            "using (date) where g.area = '大榭' and g.level = 'group' and d.area = '北仑区' "
            "and date = '2019-02-05'"
        ).fetchall()
    assert len(rows) == 1 and rows[0][:2] == rows[0][2:]  # 大榭 here is 1234A alone, as 北仑区
