"""The CNEMC real-time air feed reader (issue 5), on records captured from the real feed.

The payloads in tests/data (see tests/data/README-air-live.md) hold 54 station-hours of two
captures (2017-07-07 16:00 and 2018-02-20 07:00). Every published AQI and primary pollutant in
them must come out of `hourly_aqi` once the feed's O3 swap is undone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from envwatch.errors import FetchError, ParseError
from envwatch.http import HttpClient, HttpPolicy
from envwatch.sources import cnemc_air_live as live
from envwatch.sources.base import OBSERVATION_COLUMNS, Reading
from envwatch.standards.aqi import hourly_aqi

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "cnemc_air_live_sample.json"  # 44 records, 2017-07-07 16:00, PascalCase list
GEOJSON = DATA / "cnemc_air_live_geojson_20180220T07.json"  # 10 records, GeoJSON, lower case


def _records() -> list[dict[str, Any]]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def _payload(records: Any) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode("utf-8")


def _value(reading: Reading, site: str, parameter: str, averaging: str) -> float:
    o = reading.observations
    hit = o[(o.site_id == site) & (o.parameter == parameter) & (o.averaging == averaging)]
    assert len(hit) == 1, (site, parameter, averaging, hit)
    return float(hit["value"].iloc[0])


def _computed(reading: Reading, o3_averaging: str = "1h") -> pd.DataFrame:
    """Hourly AQI (2012 rules) from a reading's 1-h values, O3 taken from `o3_averaging`."""
    o = reading.observations
    wide = (
        o[(o.averaging == "1h") & (o.parameter != "o3")]
        .pivot_table(index=["site_id", "period_end"], columns="parameter", values="value")
        .drop(columns="aqi_published")
    )
    o3 = o[(o.parameter == "o3") & (o.averaging == o3_averaging)]
    wide["o3"] = o3.set_index(["site_id", "period_end"])["value"]
    so2 = o[(o.parameter == "so2") & (o.averaging == "24h")]
    wide["so2_24h"] = so2.set_index(["site_id", "period_end"])["value"]
    return hourly_aqi(wide, "2012")


# -- the captured payloads --------------------------------------------------------------------


@pytest.mark.parametrize("path, n", [(SAMPLE, 44), (GEOJSON, 10)])
def test_published_aqi_and_primary_pollutant_are_reproduced_with_the_o3_swap_undone(path, n):
    payload = path.read_bytes()
    computed = _computed(live.read(payload, name=path.name))
    pub = live.published(payload, name=path.name).set_index(["site_id", "period_end"])
    assert len(computed) == len(pub) == n
    both = computed.join(pub[["aqi", "primary_pollutant"]].add_suffix("_published"))
    assert (both["aqi"] == both["aqi_published"]).all()
    assert (both["primary_pollutant"].astype(str) == both["primary_pollutant_published"]).all()


def test_without_undoing_the_swap_the_published_aqi_is_not_reproduced():
    # Guards the test above: the feed's `O3` field (our 24h_max) gives the wrong AQI.
    wrong = 0
    for path in (SAMPLE, GEOJSON):
        payload = path.read_bytes()
        computed = _computed(live.read(payload), o3_averaging="24h_max")
        pub = live.published(payload).set_index(["site_id", "period_end"])
        wrong += int((computed["aqi"] != pub["aqi"].reindex(computed.index)).sum())
    assert wrong == 16


@pytest.mark.parametrize("path", [SAMPLE, GEOJSON])
def test_maxima_are_never_below_the_current_values(path):
    reading = live.read(path.read_bytes())
    wide = reading.observations[reading.observations.parameter == "o3"].pivot_table(
        index="site_id", columns="averaging", values="value"
    )
    assert (wide["24h_max"] >= wide["1h"]).all()
    assert (wide["8h_feed_max"] >= wide["8h_feed"]).all()
    # and the swap is visible: somewhere the maximum is strictly above the current value
    assert (wide["24h_max"] > wide["1h"]).any()


def test_sample_values_times_units_and_sites():
    reading = live.read(SAMPLE.read_bytes(), name=SAMPLE.name)
    obs = reading.observations
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert str(obs["period_end"].dtype) == "datetime64[ns, UTC]"
    assert reading.rejects == []
    # 44 records x 15 fields, less the 3 missing PM10 values (written "—")
    assert len(obs) == 44 * 15 - 3
    # 龙赛医院 (Zhenhai), 2017-07-07 16:00 local = 08:00 UTC: O3 163 in `O3`, 99 in `O3_24h`
    assert set(obs[obs.site_id == "1236A"]["period_end"]) == {
        pd.Timestamp("2017-07-07 08:00", tz="UTC")
    }
    assert _value(reading, "1236A", "o3", "1h") == 99
    assert _value(reading, "1236A", "o3", "24h_max") == 163
    assert _value(reading, "1236A", "o3", "8h_feed") == 116
    assert _value(reading, "1236A", "o3", "8h_feed_max") == 116
    assert _value(reading, "1236A", "aqi_published", "1h") == 44
    assert _value(reading, "1236A", "pm25", "24h") == 14
    assert _value(reading, "1233A", "co", "1h") == pytest.approx(0.1)
    units = obs.drop_duplicates(["parameter", "unit"]).set_index("parameter")["unit"]
    assert units["co"] == "mg/m³" and units["pm25"] == "µg/m³" and units["aqi_published"] == "1"
    assert set(obs["flag"]) == {""}
    # missing ("—"): no row
    assert obs[(obs.site_id == "1008A") & (obs.parameter == "pm10")]["averaging"].tolist() == [
        "24h"
    ]
    sites = reading.sites.set_index("site_id")
    assert len(sites) == 44
    assert sites.loc["1236A"].to_dict() == {
        "name": "龙赛医院",
        "city": "宁波市",
        "lon": 121.713,
        "lat": 29.9572,
    }
    assert sites.loc["1019A", "name"] == "淮河道"  # published with a leading space


def test_geojson_archive_lower_case_keys_dash_semicolon_missing_and_coordinates():
    reading = live.read(GEOJSON.read_bytes(), name=GEOJSON.name)
    obs = reading.observations
    assert reading.rejects == []
    assert set(obs["period_end"]) == {pd.Timestamp("2018-02-19 23:00", tz="UTC")}
    # 1002A 定陵: `o3` 112, `o3_24h` 83 -> current 1-h O3 83 (the published AQI 26 needs it)
    assert _value(reading, "1002A", "o3", "1h") == 83
    assert _value(reading, "1002A", "o3", "24h_max") == 112
    assert _value(reading, "1002A", "pm25", "1h") == 0  # a real zero is a value
    assert obs[(obs.site_id == "1001A") & (obs.parameter == "pm10")].empty  # "-;"
    site = reading.sites.set_index("site_id").loc["1001A"]
    assert (site["lon"], site["lat"], site["city"]) == (116.366, 39.8673, "北京市")


def test_published_table():
    pub = live.published(SAMPLE.read_bytes()).set_index("site_id")
    assert list(pub.reset_index().columns) == live.PUBLISHED_COLUMNS
    assert str(pub["aqi"].dtype) == "Int64"
    assert pub.loc["1234A"].to_dict() == {
        "period_end": pd.Timestamp("2017-07-07 08:00", tz="UTC"),
        "aqi": 54,
        "primary_pollutant": "PM10",
        "quality": "良",
    }
    assert pub.loc["1002A", "primary_pollutant"] == ""  # "—"
    assert pub.loc["1017A", "primary_pollutant"] == "PM2.5"
    assert pub.loc["1024A", ["primary_pollutant", "quality"]].tolist() == ["O3", "轻度污染"]
    geo = live.published(GEOJSON.read_bytes()).set_index("site_id")
    assert geo.loc["1002A", "primary_pollutant"] == ""  # "-;"
    assert geo.loc["1019A", ["aqi", "quality"]].tolist() == [209, "重度污染"]


@pytest.mark.parametrize(
    "text, codes",
    [
        ("细颗粒物(PM2.5)", "PM2.5"),
        ("颗粒物(PM10)", "PM10"),
        ("臭氧1小时", "O3"),
        ("臭氧8小时", "O3_8h"),
        ("二氧化氮", "NO2"),
        ("二氧化硫", "SO2"),
        ("一氧化碳", "CO"),
        ("细颗粒物(PM2.5),颗粒物(PM10)", "PM2.5,PM10"),
        ("细颗粒物（PM2.5）、臭氧1小时", "PM2.5,O3"),
        ("—", ""),
        ("-;", ""),
        ("", ""),
        (None, ""),
        ("沙尘", "沙尘"),  # unknown: kept as published, so a comparison shows it
    ],
)
def test_primary_pollutant_codes(text, codes):
    assert live.primary_codes(text) == codes


# -- the shapes the feed comes in -------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap, stations",
    [
        (lambda rs: rs, 2),
        (lambda rs: {"d": rs}, 2),
        (lambda rs: {"Data": {"list": rs}}, 2),
        (lambda rs: {"TotalCount": len(rs), "RootResults": rs}, 2),
        (lambda rs: {"GetAQIDataPublishLivesResult": {"TotalCount": 2, "RootResults": rs}}, 2),
        (lambda rs: rs[0], 1),
    ],
    ids=["list", "d", "data.list", "RootResults", "WCF-result", "one-record"],
)
def test_common_wrappers(wrap, stations):
    reading = live.read(_payload(wrap(_records()[:2])))
    assert reading.observations["site_id"].nunique() == stations
    assert reading.rejects == []


def test_numbers_instead_of_strings_and_a_space_in_the_time():
    rec = _records()[0]
    rec.update(AQI=55, PM2_5=34.0, TimePoint="2017-07-07 16:00:00", Longitude=116.366)
    reading = live.read(_payload([rec]))
    assert _value(reading, "1001A", "aqi_published", "1h") == 55
    assert _value(reading, "1001A", "pm25", "1h") == 34
    assert reading.sites["lon"].iloc[0] == 116.366


def test_midnight_is_the_last_hour_of_the_previous_day():
    rec = _records()[0]
    rec["TimePoint"] = "2017-07-08T00:00:00"
    reading = live.read(_payload([rec]))
    assert set(reading.observations["period_end"]) == {
        pd.Timestamp(datetime(2017, 7, 7, 16, tzinfo=UTC))
    }


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, says",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"StationCode,TimePoint\n1001A,2017", "not JSON"),
        (b'{"error": "too many requests"}', "not a list of station records"),
        (b"42", "not a list of station records"),
        (b"[]", "empty list"),
        (b'[{"Area": "x"}, 3]', "no usable record"),
        (b'[{"StationCode": "1001A", "TimePoint": "yesterday"}]', "no usable record"),
    ],
    ids=[
        "empty",
        "blank",
        "html",
        "binary",
        "csv",
        "other-json",
        "number",
        "empty-list",
        "no-keys",
        "bad-time",
    ],
)
def test_payload_with_nothing_usable_is_a_parse_error_naming_it(payload, says):
    with pytest.raises(ParseError) as err:
        live.read(payload, name="live-20170707T16.json")
    message = str(err.value)
    assert "live-20170707T16.json" in message and says in message
    assert "\n" not in message
    with pytest.raises(ParseError):
        live.published(payload)


def test_bad_records_and_values_are_rejected_and_the_rest_lands():
    records = _records()[:4]
    del records[0]["StationCode"]  # record 1
    records[1]["TimePoint"] = "2017-07-07T16:30:00"  # record 2: not on the hour
    records[2]["PM2_5"] = "N/A"  # record 3: one bad value
    records[2]["NO2"] = "-5"
    records.append(dict(records[3]))  # record 5 duplicates record 4
    reading = live.read(_payload(records), name="p.json")
    by_loc = {r.location: r for r in reading.rejects}
    assert set(by_loc) == {
        "record 1",
        "record 2",
        "record 3, field PM2_5",
        "record 3, field NO2",
        "record 5",
    }
    assert "no StationCode" in by_loc["record 1"].reason
    assert "2017-07-07T16:30:00" in by_loc["record 2"].reason
    bad = by_loc["record 3, field PM2_5"]
    assert (bad.site_id, bad.parameter, bad.period_end, bad.raw) == (
        "1003A",
        "PM2_5",
        "2017-07-07 16:00",
        "N/A",
    )
    assert "not a number: 'N/A' for station 1003A, 2017-07-07 16:00, field PM2_5" in bad.reason
    assert "negative" in by_loc["record 3, field NO2"].reason
    assert "second record for station 1004A" in by_loc["record 5"].reason
    obs = reading.observations
    assert set(obs["site_id"]) == {"1003A", "1004A"}
    assert len(obs[obs.site_id == "1003A"]) == 13  # 15 fields less the two rejected
    assert len(obs[obs.site_id == "1004A"]) == 15


def test_empty_observations_when_every_value_is_missing():
    rec = {"StationCode": "1001A", "TimePoint": "2017-07-07T16:00:00", "AQI": "—"}
    reading = live.read(_payload([rec]))
    assert reading.observations.empty
    assert list(reading.observations.columns) == OBSERVATION_COLUMNS
    assert reading.sites["name"].tolist() == ["1001A"]
    assert live.published(_payload([rec]))["aqi"].isna().all()


# -- fetch ------------------------------------------------------------------------------------


class _Feed(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        status = 200 if self.path.startswith("/CityData/") else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    _Feed.body = SAMPLE.read_bytes()
    server = HTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_returns_the_bytes_the_reader_reads(feed_url):
    policy = HttpPolicy(connect_timeout=2.0, read_timeout=5.0, retries=0)
    with HttpClient(policy) as client:
        body = live.fetch(client, f"{feed_url}/CityData/GetAQIDataPublishLive?cityName=宁波市")
        assert live.read(body).observations["site_id"].nunique() == 44
        with pytest.raises(FetchError):
            live.fetch(client, f"{feed_url}/nothing-here")
