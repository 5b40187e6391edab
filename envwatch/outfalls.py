"""Outfall inspections (污水零直排区 2.0: 晴天不排水，雨天无污水) checked as they land.

An inspection is a violation when the outfall discharges on a dry day (晴天排水), or when a
rain-day sample is above the limit of the outfall's type (雨天超标), limits in mg/L from
``outfall_limits`` in stations.yaml. ``outfall_check`` is recomputed for exactly the
inspections an ingest wrote, with the limits configured at that time (after changing them, run
``envwatch reparse outfall-sheet`` to check the stored inspections again).

Times: ``period_end`` is the inspection time as Unix seconds (UTC); views show local time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from envwatch import read
from envwatch.schema import RELATIONS_BY_NAME
from envwatch.store import Store

ITEMS = {"nh3n": "氨氮", "cod": "化学需氧量", "tp": "总磷"}
COLUMNS = ("site_id", "period_end", "rain", "discharging", "flow", "nh3n", "cod", "tp", "violation")


def violations(inspections: pd.DataFrame, limits: Mapping[Any, Mapping[str, float]]) -> pd.Series:
    """The violation of each inspection ('' when none), as staff read it.

    `inspections` has rain (1/0), discharging (1/0), nh3n, cod, tp (mg/L) and outfall_type
    (rain, sewage, combined). A rain or combined outfall discharging on a dry day is 晴天排水; on
    a rain day each item above the type's limit is listed (``雨天超标：氨氮 3.2 > 2``). A sewage
    outfall (treated effluent) discharges every day: any sample above its limits is 超标排放.
    """
    text_of = ["" for _ in range(len(inspections))]
    kind = inspections["outfall_type"].to_numpy()
    stormwater = (kind == "rain") | (kind == "combined")
    dry = inspections["rain"].eq(0).to_numpy() & inspections["discharging"].eq(1).to_numpy()
    for d in np.flatnonzero(dry & stormwater).tolist():
        text_of[d] = "晴天排水"
    rain = inspections["rain"].eq(1).to_numpy()
    for outfall_type, items in limits.items():
        of_kind = kind == outfall_type
        checked = of_kind if outfall_type == "sewage" else of_kind & rain
        label = "超标排放" if outfall_type == "sewage" else "雨天超标"
        if not checked.any():
            continue
        for code, limit in items.items():
            if code not in inspections:
                continue
            values = inspections[code].to_numpy(dtype=float)
            over = checked & (np.nan_to_num(values, nan=-1.0) > limit)
            for i in np.flatnonzero(over).tolist():
                text = f"{ITEMS.get(code, code)} {values[i]:g} > {limit:g}"
                text_of[i] = f"{text_of[i]}；{text}" if text_of[i] else f"{label}：{text}"
    return pd.Series(text_of, index=inspections.index, dtype=object)


def derive(store: Store, written: pd.DataFrame, limits: Mapping[Any, Mapping[str, float]]) -> int:
    """Recompute ``outfall_check`` for the inspections in `written`; returns rows recomputed."""
    if written.empty:
        return 0
    keys = written.loc[written["averaging"] == "inspection", ["site_id", "period_end"]]
    keys = keys.drop_duplicates()
    if keys.empty:
        return 0
    lo, hi = int(keys["period_end"].min()), int(keys["period_end"].max())
    sites = sorted(keys["site_id"].unique().tolist())
    long = store.observations(
        sites, ["rain", "discharging", "flow", *ITEMS], lo - 1, hi, "inspection"
    )
    long = long.merge(keys, on=["site_id", "period_end"], how="inner")
    if long.empty:
        return 0
    wide = long.pivot_table(
        index=["site_id", "period_end"], columns="parameter", values="value", aggfunc="first"
    )
    wide = wide.reindex(columns=["rain", "discharging", "flow", *ITEMS]).reset_index()
    wide.columns.name = None
    types = store.sites("outfall").set_index("site_id")["outfall_type"]
    wide["outfall_type"] = wide["site_id"].map(types)
    wide["violation"] = violations(wide, limits)
    for c in ("rain", "discharging"):
        wide[c] = wide[c].astype("Int64")
    store.replace_rows("outfall_check", wide, COLUMNS)
    return len(wide)


def inspections(
    store: Store, start: date | str | None = None, end: date | str | None = None
) -> pd.DataFrame:
    """Rows of the ``outfall_inspections`` view over local dates start … end (inclusive)."""
    inspections = RELATIONS_BY_NAME["outfall_inspections"]
    return read.frame(store.conn, inspections, store.utc_offset_minutes, start=start, end=end)


def by_zone(
    store: Store, start: date | str, end: date | str, outfall_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per zone: outfalls, inspections, violations, and the outfalls not inspected in the period."""
    outfalls = store.sites("outfall")
    if outfall_ids is not None:
        outfalls = outfalls.loc[outfalls["site_id"].isin(list(outfall_ids))]
    done = inspections(store, start, end)
    rows = []
    zones = outfalls["zone"].fillna("（未分区）")
    for zone, group in outfalls.groupby(zones):
        mine = done.loc[done["site_id"].isin(group["site_id"])]
        seen = set(mine["site_id"])
        rows.append(
            {
                "zone": zone,
                "outfalls": len(group),
                "inspections": len(mine),
                "violations": int((mine["violation"] != "").sum()),
                "dry_discharges": int(mine["violation"].str.startswith("晴天").sum()),
                "rain_exceedances": int(mine["violation"].str.contains("雨天超标").sum()),
                "sewage_exceedances": int(mine["violation"].str.contains("超标排放").sum()),
                "not_inspected": [
                    n for s, n in zip(group["site_id"], group["name"], strict=True) if s not in seen
                ],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "zone",
            "outfalls",
            "inspections",
            "violations",
            "dry_discharges",
            "rain_exceedances",
            "sewage_exceedances",
            "not_inspected",
        ],
    )
