"""The store's schema history: one SQL script per version, applied by `Store.migrate`.

Script N (``MIGRATIONS[N - 1]``) brings a store from version N - 1 to N (``PRAGMA
user_version``); `Store.migrate` runs the ones a store lacks, in order, each in one
transaction. A script is plain SQLite: statements separated by ``;`` (none inside strings).
Never edit a script that has shipped; add the next one. The public views are not here: they are
declared in `envwatch.schema` and re-created whenever that declaration changes.

1. the base store: parameters, sites, observations with revisions, the raw archive
   (raw_payloads, run_payloads), the run ledger, rejects, air_hour (hourly AQI) and meta;
2. air_day: station days, HJ 663 daily values and the daily AQI;
3. water_sample and water_period: section samples with their GB 3838 class, period values;
4. the run ledger gains mismatches, faults and the pid of the running process;
5. score: the plan's targets per period;
6. zones and cells (registers) with their revisions, and outfall inspections;
7. area values (area_hour, area_day) and the dated membership of a site;
8. alerts: episodes, steps, queued messages and rule cursors.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "statements"]

_SCHEMA_V1 = """
CREATE TABLE parameters (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    kind TEXT NOT NULL
) STRICT;

CREATE TABLE sites (
    site_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    lon REAL,
    lat REAL,
    crs_source TEXT,
    province TEXT,
    city TEXT,
    district TEXT,
    district_source TEXT,
    background INTEGER NOT NULL DEFAULT 0,
    basin TEXT,
    river TEXT,
    control_level TEXT,
    water_type TEXT,
    water_type_guessed INTEGER NOT NULL DEFAULT 0,
    target_class INTEGER,
    zone TEXT,
    receiving_water TEXT,
    outfall_type TEXT,
    origin TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE observations (
    site_id TEXT NOT NULL,
    parameter TEXT NOT NULL,
    averaging TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    value REAL,
    flag TEXT NOT NULL DEFAULT '',
    run_id INTEGER NOT NULL,
    PRIMARY KEY (site_id, parameter, averaging, period_end)
) STRICT, WITHOUT ROWID;

CREATE TABLE revisions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    site_id TEXT NOT NULL,
    parameter TEXT NOT NULL,
    averaging TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    old_value REAL,
    new_value REAL,
    old_flag TEXT,
    new_flag TEXT,
    old_run_id INTEGER
) STRICT;
CREATE INDEX revisions_key ON revisions (site_id, parameter, period_end);

CREATE TABLE raw_payloads (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    content BLOB NOT NULL,
    first_seen TEXT NOT NULL
) STRICT;

CREATE TABLE run_ledger (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    window_start TEXT,
    window_end TEXT,
    data_from INTEGER,
    data_to INTEGER,
    payloads INTEGER NOT NULL DEFAULT 0,
    fetched INTEGER NOT NULL DEFAULT 0,
    new INTEGER NOT NULL DEFAULT 0,
    revised INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE run_payloads (
    run_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT,
    source TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    status TEXT NOT NULL,
    values_read INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (run_id, name)
) STRICT;
CREATE INDEX run_payloads_sha ON run_payloads (sha256);

CREATE TABLE rejects (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    payload TEXT NOT NULL,
    location TEXT NOT NULL,
    site_id TEXT,
    parameter TEXT,
    period_end TEXT,
    raw TEXT,
    reason TEXT NOT NULL
) STRICT;
CREATE INDEX rejects_run ON rejects (run_id);

CREATE TABLE air_hour (
    site_id TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    rules TEXT NOT NULL,
    pm25 REAL,
    pm10 REAL,
    so2 REAL,
    no2 REAL,
    co REAL,
    o3 REAL,
    aqi INTEGER,
    category TEXT,
    primary_pollutant TEXT,
    aqi_published REAL,
    PRIMARY KEY (site_id, period_end)
) STRICT, WITHOUT ROWID;

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
) STRICT;
"""

_SCHEMA_V2 = """
CREATE TABLE air_day (
    site_id TEXT NOT NULL,
    date TEXT NOT NULL,
    rules TEXT NOT NULL,
    pm25 REAL,
    pm10 REAL,
    so2 REAL,
    no2 REAL,
    co REAL,
    o3_1h_max REAL,
    o3_8h_max REAL,
    n_pm25 INTEGER,
    n_pm10 INTEGER,
    n_so2 INTEGER,
    n_no2 INTEGER,
    n_co INTEGER,
    n_o3 INTEGER,
    n_o3_8h INTEGER,
    iaqi_pm25 INTEGER,
    iaqi_pm10 INTEGER,
    iaqi_so2 INTEGER,
    iaqi_no2 INTEGER,
    iaqi_co INTEGER,
    iaqi_o3_1h INTEGER,
    iaqi_o3_8h INTEGER,
    aqi INTEGER,
    category TEXT,
    primary_pollutant TEXT,
    exceeding TEXT,
    valid INTEGER NOT NULL,
    PRIMARY KEY (site_id, date)
) STRICT, WITHOUT ROWID;
CREATE INDEX air_day_date ON air_day (date)
"""

_SCHEMA_V3 = """
CREATE TABLE water_sample (
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    source TEXT,
    temp REAL,
    ph REAL,
    do REAL,
    codmn REAL,
    cod REAL,
    bod5 REAL,
    nh3n REAL,
    tp REAL,
    tn REAL,
    cu REAL,
    zn REAL,
    f REAL,
    se REAL,
    "as" REAL,
    hg REAL,
    cd REAL,
    cr6 REAL,
    pb REAL,
    cn REAL,
    phenol REAL,
    oil REAL,
    las REAL,
    s2 REAL,
    fcoli REAL,
    cond REAL,
    turb REAL,
    chla REAL,
    algae REAL,
    class_published INTEGER,
    class INTEGER,
    class_label TEXT,
    status TEXT,
    main_pollutants TEXT,
    deciding_items TEXT,
    qc_withheld TEXT,
    below_detection TEXT,
    PRIMARY KEY (site_id, kind, period_end)
) STRICT, WITHOUT ROWID;

CREATE TABLE water_period (
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    n_samples INTEGER NOT NULL,
    first_sample INTEGER,
    last_sample INTEGER,
    class INTEGER,
    class_label TEXT,
    status TEXT,
    main_pollutants TEXT,
    deciding_items TEXT,
    PRIMARY KEY (site_id, kind, period)
) STRICT, WITHOUT ROWID
"""

_SCHEMA_V4 = """
ALTER TABLE run_ledger ADD COLUMN mismatches INTEGER;
ALTER TABLE run_ledger ADD COLUMN faults TEXT;
ALTER TABLE run_ledger ADD COLUMN pid INTEGER
"""

_SCHEMA_V5 = """
CREATE TABLE score (
    period TEXT NOT NULL,
    target_id TEXT NOT NULL,
    label TEXT NOT NULL,
    value REAL,
    value_text TEXT,
    unit TEXT,
    goal TEXT NOT NULL,
    met INTEGER,
    previous REAL,
    trend TEXT,
    detail TEXT,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (period, target_id)
) STRICT
"""

_SCHEMA_V6 = """
CREATE TABLE zones (
    zone_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    zone_type TEXT,
    status TEXT,
    town TEXT,
    started_on TEXT,
    due_on TEXT,
    accepted_on TEXT,
    reinspected_on TEXT,
    lon REAL,
    lat REAL,
    geometry TEXT,
    district TEXT,
    run_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cell_type TEXT NOT NULL,
    address TEXT,
    lon REAL,
    lat REAL,
    status TEXT,
    built_on TEXT,
    district TEXT,
    run_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE record_revisions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    tbl TEXT NOT NULL,
    record_id TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL
) STRICT;

CREATE TABLE outfall_check (
    site_id TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    rain INTEGER,
    discharging INTEGER,
    flow REAL,
    nh3n REAL,
    cod REAL,
    tp REAL,
    violation TEXT NOT NULL,
    PRIMARY KEY (site_id, period_end)
) STRICT, WITHOUT ROWID
"""

_AREA_VALUES_HOUR = ("pm25", "pm10", "so2", "no2", "co", "o3")
_AREA_VALUES_DAY = ("pm25", "pm10", "so2", "no2", "co", "o3_1h_max", "o3_8h_max")

# Area values (envwatch.area): city, district and group values as published, with full
# precision in *_exact; and the dated membership of a site (JSON, see config.MembershipPeriod).
_SCHEMA_V7 = (
    """
ALTER TABLE sites ADD COLUMN membership TEXT;

CREATE TABLE area_hour (
    level TEXT NOT NULL,
    area TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    rules TEXT NOT NULL,
"""
    + "".join(f"    {c} REAL,\n    {c}_exact REAL,\n" for c in _AREA_VALUES_HOUR)
    + """    aqi INTEGER,
    category TEXT,
    primary_pollutant TEXT,
    n_stations INTEGER NOT NULL,
    PRIMARY KEY (level, area, period_end)
) STRICT, WITHOUT ROWID;
CREATE INDEX area_hour_time ON area_hour (period_end);

CREATE TABLE area_day (
    level TEXT NOT NULL,
    area TEXT NOT NULL,
    date TEXT NOT NULL,
    rules TEXT NOT NULL,
"""
    + "".join(
        f"    {c} REAL,\n    {c}_exact REAL,\n    n_valid_{c} INTEGER,\n" for c in _AREA_VALUES_DAY
    )
    + "".join(
        f"    iaqi_{c} INTEGER,\n" for c in ("pm25", "pm10", "so2", "no2", "co", "o3_1h", "o3_8h")
    )
    + """    aqi INTEGER, category TEXT, primary_pollutant TEXT, exceeding TEXT,
    valid INTEGER NOT NULL,
    n_stations INTEGER NOT NULL,
    PRIMARY KEY (level, area, date)
) STRICT, WITHOUT ROWID;
CREATE INDEX area_day_date ON area_day (date)
"""
)

# Alerts (issue 18): episodes (view `alerts`), their steps, queued messages and rule cursors
# (envwatch.alerts). Times ISO-8601 UTC text.
_SCHEMA_V8 = """
CREATE TABLE IF NOT EXISTS alert_episodes (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_name TEXT,
    subject_type TEXT,
    detail TEXT NOT NULL,
    last_detail TEXT,
    clear_detail TEXT,
    opened TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_notified TEXT,
    cleared TEXT,
    acknowledged TEXT,
    ack_by TEXT,
    ack_note TEXT,
    closed TEXT,
    closed_by TEXT,
    close_note TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_episodes_current ON alert_episodes (rule, subject, cleared);
CREATE INDEX IF NOT EXISTS alert_episodes_closed ON alert_episodes (closed);
CREATE TABLE IF NOT EXISTS alert_steps (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alert_episodes (id),
    at TEXT NOT NULL,
    step TEXT NOT NULL,
    by TEXT,
    note TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_steps_alert ON alert_steps (alert_id);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alert_episodes (id),
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_try TEXT,
    error TEXT,
    response TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS alert_deliveries_status ON alert_deliveries (status, id);
CREATE INDEX IF NOT EXISTS alert_deliveries_alert ON alert_deliveries (alert_id);
CREATE TABLE IF NOT EXISTS alert_cursors (
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (rule, subject)
) STRICT, WITHOUT ROWID
"""

# Each entry brings a store from version i to i + 1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    _SCHEMA_V1,
    _SCHEMA_V2,
    _SCHEMA_V3,
    _SCHEMA_V4,
    _SCHEMA_V5,
    _SCHEMA_V6,
    _SCHEMA_V7,
    _SCHEMA_V8,
]
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """The statements of a script, in order (split at ``;``, empty ones left out)."""
    return [s.strip() for s in script.split(";") if s.strip()]
