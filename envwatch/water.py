"""Surface-water results in the store: classified samples and period classes, and DataFrames.

Samples come in two kinds, kept apart under the observations' ``averaging``: ``auto`` (the
national automatic stations, classified on ph, do, codmn, nh3n, tp as CNEMC publishes) and
``lab`` (staff lab sheets, classified on the 21 items of GB 3838 Table 1). ``water_sample`` is
recomputed for exactly the samples an ingest wrote; ``water_period`` (monthly classes from monthly
means, never from averaging classes) for the months those samples fall in, in local time.

Times: ``period_end`` is the sampling time as Unix seconds (UTC); views show local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from envwatch import read
from envwatch.schema import RELATIONS_BY_NAME
from envwatch.standards import water as gb3838
from envwatch.store import WATER_CODES, Store

KINDS = ("auto", "lab")

SAMPLE_COLUMNS = (
    "site_id",
    "kind",
    "period_end",
    "source",
    *WATER_CODES,
    "class_published",
    "class",
    "class_label",
    "status",
    "main_pollutants",
    "deciding_items",
    "qc_withheld",
    "below_detection",
)

PERIOD_COLUMNS = (
    "site_id",
    "kind",
    "period",
    "n_samples",
    "first_sample",
    "last_sample",
    "class",
    "class_label",
    "status",
    "main_pollutants",
    "deciding_items",
)


def _flagged(long: pd.DataFrame, flag: str) -> pd.Series:
    rows = long.loc[long["flag"] == flag]
    if rows.empty:
        return pd.Series(dtype=object)
    return rows.groupby(["site_id", "averaging", "period_end"])["parameter"].agg(",".join)


def derive(store: Store, written: pd.DataFrame, source: str, tz: str) -> tuple[int, int]:
    """Recompute the samples (and their months) touched by `written`; returns (samples, periods)."""
    if written.empty:
        return 0, 0
    mask = written["averaging"].isin(KINDS)
    keys = written.loc[mask, ["site_id", "averaging", "period_end"]].drop_duplicates()
    if keys.empty:
        return 0, 0
    lo, hi = int(keys["period_end"].min()), int(keys["period_end"].max())
    sites = sorted(keys["site_id"].unique().tolist())
    long = store.observations(sites, [*WATER_CODES, "class_published"], lo - 1, hi)
    long = long.loc[long["averaging"].isin(KINDS)].merge(
        keys, on=["site_id", "averaging", "period_end"], how="inner"
    )
    if long.empty:
        return 0, 0
    wide = long.pivot_table(
        index=["site_id", "averaging", "period_end"],
        columns="parameter",
        values="value",
        aggfunc="first",
    )
    wide = wide.reindex(columns=[*WATER_CODES, "class_published"])
    wide["qc_withheld"] = _flagged(long, "qc_withheld").reindex(wide.index)
    wide["below_detection"] = _flagged(long, "below_detection").reindex(wide.index)
    wide = wide.reset_index().rename(columns={"averaging": "kind"})
    wide.columns.name = None
    types = store.sites("water").set_index("site_id")["water_type"]
    wide["water_type"] = wide["site_id"].map(types).fillna("river")
    parts = []
    for kind in KINDS:
        part = wide.loc[wide["kind"] == kind]
        if part.empty:
            continue
        classes = gb3838.classify(part, part["water_type"].to_numpy(), items=kind)
        parts.append(pd.concat([part, classes.drop(columns=["colour"])], axis=1))
    samples = pd.concat(parts, ignore_index=True)
    samples["source"] = source
    samples["class_published"] = samples["class_published"].astype("Int64")
    store.replace_rows("water_sample", samples, SAMPLE_COLUMNS)
    months = pd.DataFrame(
        {
            "site_id": samples["site_id"],
            "kind": samples["kind"],
            "period": gb3838.local_period(
                pd.to_datetime(samples["period_end"], unit="s", utc=True), "M", tz
            ).astype(str),
        }
    ).drop_duplicates()
    periods = derive_periods(store, months, tz)
    return len(samples), periods


def derive_periods(store: Store, months: pd.DataFrame, tz: str) -> int:
    """Recompute ``water_period`` for (site_id, kind, period 'YYYY-MM') from the month's means."""
    if months.empty:
        return 0
    out = []
    for period, group in months.groupby("period"):
        start = pd.Period(str(period), "M").start_time.tz_localize(tz)
        end = (pd.Period(str(period), "M") + 1).start_time.tz_localize(tz)
        sql_sites = sorted(group["site_id"].unique().tolist())
        rows = pd.read_sql_query(
            f"SELECT * FROM water_sample WHERE site_id IN ({', '.join('?' * len(sql_sites))}) "
            "AND period_end > ? AND period_end <= ?",
            store.conn,
            params=[*sql_sites, int(start.timestamp()), int(end.timestamp())],
        )
        rows = rows.merge(group[["site_id", "kind"]], on=["site_id", "kind"], how="inner")
        if rows.empty:
            continue
        rows["period"] = str(period)
        means = gb3838.period_means(
            rows[["site_id", "kind", "period", *WATER_CODES]], by=("site_id", "kind", "period")
        )
        spans = rows.groupby(["site_id", "kind"])["period_end"].agg(["min", "max"])
        means = means.merge(spans, left_on=["site_id", "kind"], right_index=True)
        types = store.sites("water").set_index("site_id")["water_type"]
        wt = means["site_id"].map(types).fillna("river").to_numpy()
        for kind in KINDS:
            part = means.loc[means["kind"] == kind]
            if part.empty:
                continue
            classes = gb3838.classify(part, wt[(means["kind"] == kind).to_numpy()], items=kind)
            out.append(pd.concat([part, classes], axis=1))
    if not out:
        return 0
    result = pd.concat(out, ignore_index=True).rename(
        columns={"min": "first_sample", "max": "last_sample"}
    )
    store.replace_rows("water_period", result, PERIOD_COLUMNS)
    return len(result)


# -- DataFrames for staff, scoring and the report ----------------------------------------------------


def samples(
    store: Store,
    sites: Sequence[str] | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
) -> pd.DataFrame:
    """Rows of the ``water_samples`` view, local sampling dates start … end (inclusive)."""
    df = read.frame(
        store.conn,
        RELATIONS_BY_NAME["water_samples"],
        store.utc_offset_minutes,
        site_ids=sites,
        start=start,
        end=end,
    )
    df["class"] = df["class"].astype("Int64")
    return df


def period_classes(
    store: Store,
    start: date | str,
    end: date | str,
    *,
    kind: str | None = None,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """One class per section over start … end (local dates): the mean of each item over the
    period, then classified (GB 3838 and 环办〔2011〕22号: never averaging classes).

    Columns: site_id, site_name, kind, n_samples, the item means, class, class_label, status,
    main_pollutants, water_type, control_level, target_class, meets_target (bool or <NA>).
    Sections of the registry with no sample in the period are not in the result.
    """
    df = samples(store, None, start, end)
    if kind is not None:
        df = df.loc[df["kind"] == kind]
    if df.empty:
        return pd.DataFrame(columns=["site_id", "kind", "n_samples", "class", "meets_target"])
    means = gb3838.period_means(df[["site_id", "kind", *WATER_CODES]], by=("site_id", "kind"))
    sites = store.sites("water").set_index("site_id")
    means["water_type"] = means["site_id"].map(sites["water_type"]).fillna("river")
    parts = []
    for k in KINDS:
        part = means.loc[means["kind"] == k]
        if not part.empty:
            parts.append(
                pd.concat(
                    [part, gb3838.classify(part, part["water_type"].to_numpy(), items=k)], axis=1
                )
            )
    out = pd.concat(parts, ignore_index=True)
    for col in ("name", "control_level", "target_class", "basin", "river", "district"):
        out[col if col != "name" else "site_name"] = out["site_id"].map(sites[col])
    target = pd.to_numeric(out["target_class"], errors="coerce")
    meets = pd.Series(pd.NA, index=out.index, dtype="boolean")
    has = target.notna() & out["class"].notna()
    meets[has] = (out.loc[has, "class"].astype(int) <= target[has]).to_numpy()
    out["meets_target"] = meets
    return out


CONTROL_RANK = {"国控": 4, "省控": 3, "市控": 2, "区控": 1, "县控": 1}


def at_or_above(level: pd.Series, minimum: str) -> np.ndarray:
    """Control levels at or above `minimum` (国控 > 省控 > 市控 > 区控/县控)."""
    return level.map(CONTROL_RANK).fillna(0).to_numpy() >= CONTROL_RANK[minimum]


def summary(
    store: Store,
    start: date | str,
    end: date | str,
    *,
    min_control_level: str = "市控",
    kind: str | None = None,
    sites: Sequence[str] | None = None,
) -> dict[str, object]:
    """The period's water picture for sections of `min_control_level` and above.

    Returns good_ratio (水质优良比例, % of evaluated sections in Ⅰ-Ⅲ), class_v (sections in Ⅴ or
    劣Ⅴ, with their names), compliance (达标率 against each section's target class), the
    sections missing their target, the river descriptions (rivers with five or more sections),
    the CWQI of each section, and the registry's sections with no data (left out, listed).
    Classes come from the period means (`period_classes`). `sites` limits the sections (e.g.
    to a district's); by default every water section of the registry counts.
    """
    classes = period_classes(store, start, end, kind=kind)
    registry = store.sites("water")
    if sites is not None:
        registry = registry.loc[registry["site_id"].isin(list(sites))]
    registry = registry.loc[at_or_above(registry["control_level"], min_control_level)]
    if not classes.empty:
        classes = classes.loc[classes["site_id"].isin(registry["site_id"])]
    by_site = (
        classes.drop_duplicates("site_id", keep="last").set_index("site_id")
        if not classes.empty
        else classes
    )
    series = (
        by_site["class"].reindex(registry["site_id"])
        if not classes.empty
        else pd.Series(pd.NA, index=registry["site_id"])
    )
    good = gb3838.good_ratio(series)
    target = registry.set_index("site_id")["target_class"]
    compliance = gb3838.target_compliance(series, target)
    missing_target = (
        by_site.loc[by_site["meets_target"].eq(False).fillna(False)]
        if not classes.empty
        else by_site
    )
    rivers: dict[str, str] = {}
    if not classes.empty:
        grouped = by_site.assign(river=by_site["river"].fillna(by_site.get("basin")))
        for river, group in grouped.groupby("river"):
            text = gb3838.river_description(group["class"])
            if text is not None:
                rivers[str(river)] = text
    cwqi = (
        gb3838.cwqi(
            by_site[[c for c in WATER_CODES if c in by_site]], by_site["water_type"].to_numpy()
        )
        if not classes.empty
        else pd.Series(dtype=float)
    )
    class_v = by_site.loc[by_site["class"] >= 5] if not classes.empty else by_site
    return {
        "sections": len(registry),
        "evaluated": good.evaluated,
        "good_ratio": good.percent,
        "class_v": len(class_v),
        "class_v_sections": class_v.get("site_name", pd.Series(dtype=object)).tolist(),
        "compliance": compliance.percent,
        "compliance_evaluated": compliance.evaluated,
        "missing_target": missing_target.get("site_name", pd.Series(dtype=object)).tolist(),
        "no_data": [str(s) for s in good.left_out],
        "rivers": rivers,
        "cwqi": cwqi,
    }
