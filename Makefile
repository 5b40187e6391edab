# envwatch: `make demo` runs the main job on bundled real data; `make test` runs the tests.
# Both create the virtual environment (.venv) from pyproject.toml themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := .demo/envwatch.db
ENVWATCH := $(BIN)/envwatch --db $(DEMO_DB)

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Ingest the bundled real CNEMC samples (two days, Ningbo's stations) into .demo/ and show status.
# Running it again stores nothing twice: the second run reports 0 new.
demo: install
	@mkdir -p .demo maps
	$(ENVWATCH) init
	$(ENVWATCH) ingest cnemc-air-archive --file data/samples/air/china_sites_20190101.csv --file data/samples/air/china_sites_20190102.csv
	$(ENVWATCH) status
	$(ENVWATCH) query "select site_name, district, time_local, pm25, o3, aqi, category, primary_pollutant from air_hourly where site_id = '1236A' order by time_local desc limit 5"

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff format --check envwatch tests benchmarks
	$(BIN)/ruff check envwatch tests benchmarks
	$(BIN)/mypy envwatch

# Benchmarks write their figures to benchmarks/RESULTS.md (with the machine's description).
bench: install
	$(BIN)/python benchmarks/run_all.py --out benchmarks/RESULTS.md

clean:
	rm -rf .demo maps/*.html maps/*.png .pytest_cache .mypy_cache .ruff_cache
