"""Canonical units and Unix-second times, for every source alike; what cannot be used is rejected.

Rejected here, value by value with the reason: unknown parameters, units that cannot be
converted, values dated after now + 1 hour (`FUTURE_SLACK`), and values outside their
parameter's plausible range (`envwatch.standards.plausible`), whose raw value is kept in
``rejects``. The good values of the same payload still land.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from envwatch.sources.base import Reading, Reject
from envwatch.standards import plausible
from envwatch.store import PARAMETERS

# Conversions into the canonical unit of each parameter (store.PARAMETERS): (from, to) -> factor.
UNIT_FACTORS = {
    ("µg/m³", "mg/m³"): 0.001,
    ("mg/m³", "µg/m³"): 1000.0,
}

# A value may be dated this far after the run's clock (a station's clock running fast, an hour
# labelled at its end); anything later is a mistake in the file or in a clock.
FUTURE_SLACK = timedelta(hours=1)

_KEY = ["site_id", "parameter", "averaging", "period_end"]


def normalise(
    reading: Reading, units: dict[str, str] | None = None, *, now: datetime | None = None
) -> tuple[pd.DataFrame, list[Reject]]:
    """Observations with canonical units and Unix-second UTC times, and the rejects.

    `units` adds parameters defined by the configuration (indicators) with their units.
    `now` (aware; default: the clock) is the run's time: values dated after now + 1 hour
    are rejected.
    """
    obs = reading.observations
    rejects = list(reading.rejects)
    canon = _canonical_units(obs["parameter"], units or {})
    unknown = canon.isna()
    if unknown.any():
        for p in obs.loc[unknown, "parameter"].unique():
            rejects.append(
                Reject(
                    "payload",
                    f"unknown parameter '{p}'; its values were not stored",
                    parameter=str(p),
                )
            )
        obs = obs.loc[~unknown]
        canon = canon.loc[~unknown]
    value = _converted(obs, canon, rejects)
    period_end = obs["period_end"].dt.as_unit("s").astype("int64").to_numpy()
    keep = ~(np.isnan(value) & (obs["flag"] == "").to_numpy())
    keep &= _not_future(obs, period_end, now, rejects)
    keep &= _plausible(obs, value, period_end, canon, rejects)
    out = pd.DataFrame(
        {
            "site_id": _objects(obs["site_id"]),
            "parameter": _objects(obs["parameter"]),
            "averaging": _objects(obs["averaging"]),
            "period_end": period_end,
            "value": value,
            "flag": _objects(obs["flag"]),
        }
    )
    out = out.loc[keep]
    dup = out.duplicated(_KEY, keep="last")
    if dup.any():
        rejects.append(
            Reject(
                "payload",
                f"{int(dup.sum())} values given twice for the same site, time and parameter; "
                "the last was kept",
            )
        )
        out = out.loc[~dup]
    return out.reset_index(drop=True), rejects


def _canonical_units(parameters: pd.Series, units: dict[str, str]) -> pd.Series:
    """The canonical unit of each row's parameter (NaN: unknown); one lookup per parameter."""
    table = {**{k: v[1] for k, v in PARAMETERS.items()}, **units}
    codes, names = pd.factorize(parameters, use_na_sentinel=False)
    per_name = np.array([table.get(str(n), np.nan) for n in names], dtype=object)
    return pd.Series(per_name[codes], index=parameters.index, dtype=object)


def _objects(s: pd.Series) -> pd.Series:
    """The column's values under a fresh index, in the reader's own dtype (no copy)."""
    return pd.Series(s.array)


def _converted(obs: pd.DataFrame, canon: pd.Series, rejects: list[Reject]) -> np.ndarray:
    """The values in their canonical units; NaN (and a reject) where no conversion is known."""
    value = obs["value"].to_numpy(dtype="float64", copy=True)
    differs = (obs["unit"] != canon).to_numpy()
    if differs.any():
        for (u_from, u_to), g in obs.loc[differs].groupby([obs["unit"][differs], canon[differs]]):
            factor = UNIT_FACTORS.get((str(u_from), str(u_to)))
            idx = obs.index.get_indexer(g.index)
            if factor is None:
                rejects.append(
                    Reject("payload", f"unit '{u_from}' cannot be converted to '{u_to}'")
                )
                value[idx] = np.nan
            else:
                value[idx] = value[idx] * factor
    return value


def _where(obs: pd.DataFrame, i: int, period_end: int) -> str:
    """The place a reader gave for row `i` (optional ``location`` column), else site and time."""
    if "location" in obs.columns:
        loc = obs["location"].iat[i]
        if isinstance(loc, str) and loc:
            return loc
    when = datetime.fromtimestamp(period_end, tz=UTC)
    return f"site {obs['site_id'].iat[i]} at {when:%Y-%m-%d %H:%M} UTC"


def _not_future(
    obs: pd.DataFrame, period_end: np.ndarray, now: datetime | None, rejects: list[Reject]
) -> np.ndarray:
    """Mask of values dated no later than now + FUTURE_SLACK; a reject for each other one."""
    limit = int(((now or datetime.now(UTC)) + FUTURE_SLACK).timestamp())
    late = period_end > limit
    if late.any():
        shown = datetime.fromtimestamp(limit, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        for i in np.flatnonzero(late).tolist():
            when = datetime.fromtimestamp(int(period_end[i]), tz=UTC)
            rejects.append(
                Reject(
                    _where(obs, i, int(period_end[i])),
                    f"dated {when:%Y-%m-%d %H:%M} UTC, after now + 1 h ({shown}): a wrong date "
                    "in the file or a clock set wrong; correct the date and load it again",
                    site_id=str(obs["site_id"].iat[i]),
                    parameter=str(obs["parameter"].iat[i]),
                    period_end=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    raw=_raw(obs["value"].iat[i]),
                )
            )
    return ~late


def _plausible(
    obs: pd.DataFrame,
    value: np.ndarray,
    period_end: np.ndarray,
    canon: pd.Series,
    rejects: list[Reject],
) -> np.ndarray:
    """Mask of values inside their plausible range; a reject, raw value kept, for each other."""
    bad = plausible.outside(obs["parameter"], value, canon)
    for i in np.flatnonzero(bad).tolist():
        param, unit = str(obs["parameter"].iat[i]), str(canon.iat[i])
        r = plausible.range_for(param, unit)
        name = PARAMETERS[param][0] if param in PARAMETERS else param
        when = datetime.fromtimestamp(int(period_end[i]), tz=UTC)
        rejects.append(
            Reject(
                _where(obs, i, int(period_end[i])),
                f"{name} {value[i]:g} is outside the plausible range "
                f"{plausible.describe(param, unit)} ({r.reason if r else ''}); "
                "check the value, its unit and its decimal point",
                site_id=str(obs["site_id"].iat[i]),
                parameter=param,
                period_end=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                raw=_raw(obs["value"].iat[i]),
            )
        )
    return ~bad


def _raw(v: object) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)
