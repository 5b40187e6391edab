"""What every source reader returns: canonical observations, row-level rejects, site metadata.

A reader is a pure function of the payload's bytes. It never touches the store or the network.

Canonical observation columns (`OBSERVATION_COLUMNS`):

    site_id     str       station or section id (registry id, e.g. ``1236A``)
    parameter   str       canonical code: pm25 pm10 so2 no2 co o3 aqi_published (air);
                          the codes of standards/WATER.md (water): ph do codmn nh3n tp tn ...
    averaging   str       ``1h``, ``24h``, ``8h`` ... for air; ``sample`` for water samples
    period_end  datetime64[ns, UTC]  end of the averaging period (hour-ending labels, as CNEMC)
    value       float64   in the unit of the `unit` column; missing is no row, except that
                          a value withheld after QC is NaN with flag ``qc_withheld``
    unit        str       ``ug/m3``, ``mg/m3``, ``mg/L``, ``1``, ...
    flag        str       '' for a plain value; e.g. ``below_detection``, ``qc_withheld``

A reader may add a ``location`` column (``line 17``, ``row 4``) to its observations: checks the
pipeline makes on every source (values dated in the future, implausible values) then name it.

Rejects name the place in the payload (``line 17``, ``row 4``), the site, parameter and time
when known, the raw text and the reason, phrased so staff know what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

OBSERVATION_COLUMNS = ["site_id", "parameter", "averaging", "period_end", "value", "unit", "flag"]


@dataclass(frozen=True)
class Reject:
    """One value or row of a payload that could not be used, and why."""

    location: str
    reason: str
    site_id: str | None = None
    parameter: str | None = None
    period_end: str | None = None
    raw: str | None = None


@dataclass
class Reading:
    """The result of parsing one payload.

    `observations` has `OBSERVATION_COLUMNS`; `sites` has at least ``site_id`` and ``name`` for
    every site the payload mentions (plus what else it says: lon, lat, city, province, basin ...;
    a boolean ``new`` column marks sites a sheet adds with --add-sites). `records` is for
    register-like sheets (zones, cells).
    """

    observations: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    sites: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["site_id", "name"]))
    # For sheets whose rows are a register rather than readings (zero-discharge zones,
    # zero-waste cells): one row per zone or cell, columns as the reader documents.
    records: pd.DataFrame | None = None
    # For paged feeds: how many pages the feed has, as the payload says (None: not paged).
    pages: int | None = None


def empty_observations() -> pd.DataFrame:
    """An empty frame with the canonical observation columns and dtypes."""
    return pd.DataFrame(
        {
            "site_id": pd.Series(dtype=object),
            "parameter": pd.Series(dtype=object),
            "averaging": pd.Series(dtype=object),
            "period_end": pd.Series(dtype="datetime64[ns, UTC]"),
            "value": pd.Series(dtype="float64"),
            "unit": pd.Series(dtype=object),
            "flag": pd.Series(dtype=object),
        }
    )
