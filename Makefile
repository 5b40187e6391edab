# envwatch: `make demo` runs the main job on bundled real data; `make test` runs the tests.
# Both create the virtual environment (.venv) from pyproject.toml themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := .demo/envwatch.db
ENVWATCH := $(BIN)/envwatch --db $(DEMO_DB)

.PHONY: install browser demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The main job end to end, offline, on bundled data: the real CNEMC samples (two days of hourly
# air for every station, one page of the national water feed) and the made-up example sheets of
# data/examples/ (Zhenhai lab samples, outfall inspections, zones, zero-waste indicators and
# cells), then status, the scorecard and the weekly map report for 2019-W01. Running it again
# stores nothing twice: every ingest then reports 0 new.
demo: install
	@mkdir -p .demo maps
	$(ENVWATCH) init
	$(ENVWATCH) ingest cnemc-air-archive --file data/samples/air/china_sites_20190101.csv --file data/samples/air/china_sites_20190102.csv
	$(ENVWATCH) ingest air-sheet --file data/examples/air-sheet-example.csv --add-sites
	$(ENVWATCH) ingest cnemc-water --file data/samples/water/cnemc_realtime_snapshot_20260821_p1.json
	$(ENVWATCH) ingest lab-sheet --file data/examples/lab-sheet-zhenhai-2019-01.csv --add-sites
	$(ENVWATCH) ingest outfall-sheet --file data/examples/outfall-sheet-example.csv --add-sites
	$(ENVWATCH) ingest zone-sheet --file data/examples/zone-sheet-example.geojson
	$(ENVWATCH) ingest indicator-sheet --file data/examples/indicator-sheet-example.csv
	$(ENVWATCH) ingest cells-sheet --file data/examples/cells-sheet-example.csv
	$(ENVWATCH) status
	$(ENVWATCH) query "select site_name, district, date, pm25, o3_8h_max, aqi, category, primary_pollutant from air_daily where site_id = '1236A' and valid"
	$(ENVWATCH) query "select level, area, date, pm25, o3_8h_max, aqi, category, valid, n_stations from area_daily where date = '2019-01-01'"
	$(ENVWATCH) score --period 2019-W01
	$(ENVWATCH) stats --area 宁波市 --area 镇海区 --period 2019-01
	$(ENVWATCH) stats --rank --period 2019-01
	$(ENVWATCH) report --week 2019-W01 --out maps

# Debian's Chromium and CJK fonts for the report's browser test (a browser downloaded by a test
# tool does not work here; Playwright drives Debian's). Installed only when missing.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:
	@if [ -x /usr/bin/chromium ] && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then :; else \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk; \
	fi

test: install browser
	ENVWATCH_REQUIRE_BROWSER=1 $(BIN)/pytest -q -m "slow or not slow"

lint: install
	$(BIN)/ruff format --check envwatch tests benchmarks
	$(BIN)/ruff check envwatch tests benchmarks
	$(BIN)/mypy envwatch

# Benchmarks write their figures to benchmarks/RESULTS.md (with the machine's description).
bench: install
	$(BIN)/python benchmarks/run_all.py --out benchmarks/RESULTS.md

clean:
	rm -rf .demo maps/*.html maps/*.png .pytest_cache .mypy_cache .ruff_cache
