"""Surface-water quality classes by GB 3838-2002 and 地表水环境质量评价办法（试行）(环办〔2011〕22号).

Pure and vectorised: every function works on whole columns; nothing here knows about sources
or the store.

Input frames are *wide*: one row per sample (or per period mean), one float column per parameter
code of standards/WATER.md (``ph``, ``do``, ``codmn``, ``nh3n``, ``tp`` ...). Units are the
canonical ones of `PARAMETERS`: mg/L for concentrations, pH dimensionless, temperature in degC,
fecal coliform in count/L. Times play no part in a class; `local_period` helps group samples by
local (China Standard Time) month, quarter or year before `period_means`.

Conventions:

- A missing item, or one withheld after QC, is NaN and is skipped. A row with no evaluated item
  has class <NA>.
- Below-detection values arrive from the readers already at half the detection limit; here they
  are plain numbers.
- A value equal to a limit is in that class (DO: equal to or above). Where classes share a limit,
  the better class wins (cod 15 is Ⅰ, not Ⅱ). pH inside 6-9 meets every class; outside is 劣Ⅴ.
- TP is judged against the river or the lake-and-reservoir limits by the section's water type.
- TN and fecal coliform have limits in Table 1 but never decide a class (评价办法).
- Classes are integers 1-6, 6 meaning 劣Ⅴ ("worse than Ⅴ").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.dtypes import StringDType

__all__ = [
    "CLASS_LABELS",
    "CLASS_STATUS",
    "ITEMS_AUTO",
    "ITEMS_LAB",
    "LIMITS",
    "PARAMETERS",
    "Parameter",
    "Share",
    "WaterTypes",
    "class_v_count",
    "classify",
    "cwqi",
    "good_ratio",
    "item_classes",
    "local_period",
    "period_means",
    "river_description",
    "target_compliance",
]


@dataclass(frozen=True)
class Parameter:
    """A water-quality parameter: its canonical code, Chinese name and unit in the store."""

    code: str
    name: str
    unit: str


PARAMETERS: dict[str, Parameter] = {
    p.code: p
    for p in (
        Parameter("temp", "水温", "degC"),
        Parameter("ph", "pH", "1"),
        Parameter("do", "溶解氧", "mg/L"),
        Parameter("codmn", "高锰酸盐指数", "mg/L"),
        Parameter("cod", "化学需氧量", "mg/L"),
        Parameter("bod5", "五日生化需氧量", "mg/L"),
        Parameter("nh3n", "氨氮", "mg/L"),
        Parameter("tp", "总磷", "mg/L"),
        Parameter("tn", "总氮", "mg/L"),
        Parameter("cu", "铜", "mg/L"),
        Parameter("zn", "锌", "mg/L"),
        Parameter("f", "氟化物", "mg/L"),
        Parameter("se", "硒", "mg/L"),
        Parameter("as", "砷", "mg/L"),
        Parameter("hg", "汞", "mg/L"),
        Parameter("cd", "镉", "mg/L"),
        Parameter("cr6", "六价铬", "mg/L"),
        Parameter("pb", "铅", "mg/L"),
        Parameter("cn", "氰化物", "mg/L"),
        Parameter("phenol", "挥发酚", "mg/L"),
        Parameter("oil", "石油类", "mg/L"),
        Parameter("las", "阴离子表面活性剂", "mg/L"),
        Parameter("s2", "硫化物", "mg/L"),
        Parameter("fcoli", "粪大肠菌群", "count/L"),
        # Carried by the automatic stations, no class limits.
        Parameter("cond", "电导率", "uS/cm"),
        Parameter("turb", "浊度", "NTU"),
        Parameter("chla", "叶绿素α", "mg/L"),
        Parameter("algae", "藻密度", "cells/L"),
    )
}
"""Every parameter code envwatch knows for surface water, in GB 3838 Table 1 order."""

# GB 3838-2002 Table 1, upper limits of classes Ⅰ..Ⅴ (DO: lower limits). ``tp`` holds the river
# limits, ``tp_lake`` those for lakes and reservoirs. pH (6-9 in every class) and temp (no
# limits) are rules, not rows.
LIMITS: pd.DataFrame = pd.DataFrame.from_dict(
    {
        "do": [7.5, 6, 5, 3, 2],
        "codmn": [2, 4, 6, 10, 15],
        "cod": [15, 15, 20, 30, 40],
        "bod5": [3, 3, 4, 6, 10],
        "nh3n": [0.15, 0.5, 1.0, 1.5, 2.0],
        "tp": [0.02, 0.1, 0.2, 0.3, 0.4],
        "tp_lake": [0.01, 0.025, 0.05, 0.1, 0.2],
        "tn": [0.2, 0.5, 1.0, 1.5, 2.0],
        "cu": [0.01, 1.0, 1.0, 1.0, 1.0],
        "zn": [0.05, 1.0, 1.0, 2.0, 2.0],
        "f": [1.0, 1.0, 1.0, 1.5, 1.5],
        "se": [0.01, 0.01, 0.01, 0.02, 0.02],
        "as": [0.05, 0.05, 0.05, 0.1, 0.1],
        "hg": [0.00005, 0.00005, 0.0001, 0.001, 0.001],
        "cd": [0.001, 0.005, 0.005, 0.005, 0.01],
        "cr6": [0.01, 0.05, 0.05, 0.05, 0.1],
        "pb": [0.01, 0.01, 0.05, 0.05, 0.1],
        "cn": [0.005, 0.05, 0.2, 0.2, 0.2],
        "phenol": [0.002, 0.002, 0.005, 0.01, 0.1],
        "oil": [0.05, 0.05, 0.05, 0.5, 1.0],
        "las": [0.2, 0.2, 0.2, 0.3, 0.3],
        "s2": [0.05, 0.1, 0.2, 0.5, 1.0],
        "fcoli": [200, 2000, 10000, 20000, 40000],
    },
    orient="index",
    columns=[1, 2, 3, 4, 5],
    dtype=float,
)
"""GB 3838-2002 Table 1 limits in canonical units, one row per code, columns class 1..5."""

PH_RANGE = (6.0, 9.0)

ITEMS_AUTO: tuple[str, ...] = ("ph", "do", "codmn", "nh3n", "tp")
"""Items that decide an automatic-station class, as CNEMC publishes it."""

ITEMS_LAB: tuple[str, ...] = (
    "ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "cu", "zn", "f", "se",
    "as", "hg", "cd", "cr6", "pb", "cn", "phenol", "oil", "las", "s2",
)  # fmt: skip
"""The 21 items that decide a lab (manual) class: Table 1 without temp, tn and fcoli."""

# No exceedance multiple for these (评价办法); they still count as main pollutants.
_NO_MULTIPLE = frozenset({"temp", "ph", "do"})

CLASS_LABELS: dict[int, str] = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ", 4: "Ⅳ", 5: "Ⅴ", 6: "劣Ⅴ"}
"""Roman-numeral label of each class as bulletins print it."""

CLASS_STATUS: dict[int, tuple[str, str]] = {
    1: ("优", "blue"),
    2: ("优", "blue"),
    3: ("良好", "green"),
    4: ("轻度污染", "yellow"),
    5: ("中度污染", "orange"),
    6: ("重度污染", "red"),
}
"""水质状况 and map colour of each class."""

WaterTypes = str | pd.Series | Sequence[str | None] | np.ndarray
"""``'river'`` or ``'lake'`` for every row, or one of them per row (None only where TP is NaN)."""
_WATER_TYPES = ("river", "lake")


def _lookup(mapping: dict[int, str]) -> np.ndarray:
    """An object array indexed by class 0..6 (0 = no class -> NaN)."""
    out = np.full(7, np.nan, dtype=object)
    for k, v in mapping.items():
        out[k] = v
    return out


_LABEL_BY_CLASS = _lookup(CLASS_LABELS)
_STATUS_BY_CLASS = _lookup({k: v[0] for k, v in CLASS_STATUS.items()})
_COLOUR_BY_CLASS = _lookup({k: v[1] for k, v in CLASS_STATUS.items()})


def _item_list(items: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(items, str):
        if items == "auto":
            return ITEMS_AUTO
        if items == "lab":
            return ITEMS_LAB
        raise ValueError(f"items must be 'auto', 'lab' or a list of codes, not {items!r}")
    unknown = [c for c in items if c not in ITEMS_LAB]
    if unknown:
        raise ValueError(
            f"items {unknown} cannot decide a class; choose from {', '.join(ITEMS_LAB)}"
        )
    return tuple(items)


def _values(frame: pd.DataFrame, code: str) -> np.ndarray:
    """Column `code` as float64 (NaN where missing); all-NaN if the column is absent."""
    if code not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[code]).to_numpy(dtype="float64", na_value=np.nan)


def _lake_mask(
    water_type: WaterTypes,
    n: int,
    needed: np.ndarray,
) -> np.ndarray:
    """True where the row is a lake or reservoir. `needed` marks rows with a TP value."""
    if isinstance(water_type, str):
        if water_type not in _WATER_TYPES:
            raise ValueError(f"water_type must be 'river' or 'lake', not {water_type!r}")
        return np.full(n, water_type == "lake")
    types = pd.Series(np.asarray(water_type, dtype=object))
    if len(types) != n:
        raise ValueError(f"water_type has {len(types)} values for {n} rows; give one per row")
    bad = ~types.isin(_WATER_TYPES).to_numpy() & needed
    if bad.any():
        examples = sorted({str(v) for v in types[bad].unique()})[:5]
        raise ValueError(
            f"water_type must be 'river' or 'lake' for every row with a TP value; "
            f"{int(bad.sum())} rows have {', '.join(examples)} (set it in the site registry)"
        )
    return (types == "lake").to_numpy()


def _class_of(code: str, v: np.ndarray, lake: np.ndarray) -> np.ndarray:
    """Class 1..6 of one item for each value (values must not be NaN where it matters)."""
    if code == "ph":
        return np.where((v >= PH_RANGE[0]) & (v <= PH_RANGE[1]), 1, 6)
    if code == "do":
        # At or above a limit is in that class: count the limits strictly above the value.
        return np.searchsorted(-LIMITS.loc["do"].to_numpy(), -v, side="left") + 1
    if code == "tp":
        river = np.searchsorted(LIMITS.loc["tp"].to_numpy(), v, side="left") + 1
        lake_c = np.searchsorted(LIMITS.loc["tp_lake"].to_numpy(), v, side="left") + 1
        return np.where(lake, lake_c, river)
    # At or below a limit is in that class; side="left" puts a value equal to a limit shared by
    # several classes in the best of them.
    return np.searchsorted(LIMITS.loc[code].to_numpy(), v, side="left") + 1


_LIMIT_III: dict[str, float] = {str(k): float(v) for k, v in LIMITS[3].items()}


def _limit_iii(code: str, lake: np.ndarray) -> np.ndarray | float:
    """The Ⅲ limit of `code` for each row (TP depends on the water type)."""
    if code == "tp":
        return np.where(lake, _LIMIT_III["tp_lake"], _LIMIT_III["tp"])
    return _LIMIT_III[code]


def _evaluate(
    samples: pd.DataFrame,
    water_type: WaterTypes,
    codes: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Item classes (n, k) with 0 = not evaluated, and exceedance multiples over Ⅲ (n, k)."""
    n, k = len(samples), len(codes)
    tp = _values(samples, "tp") if "tp" in codes else np.full(n, np.nan)
    lake = _lake_mask(water_type, n, ~np.isnan(tp))
    classes = np.zeros((n, k), dtype=np.int8)
    multiples = np.full((n, k), np.nan)
    for j, code in enumerate(codes):  # a loop over items (at most 21), never over rows
        v = tp if code == "tp" else _values(samples, code)
        present = ~np.isnan(v)
        classes[:, j] = np.where(present, _class_of(code, v, lake), 0)
        if code not in _NO_MULTIPLE:
            c3 = _limit_iii(code, lake)
            multiples[:, j] = (v - c3) / c3
    return classes, multiples


def item_classes(
    samples: pd.DataFrame,
    water_type: WaterTypes,
    items: Literal["auto", "lab"] | Sequence[str] = "auto",
) -> pd.DataFrame:
    """The class (1-6, <NA> where not measured) of every deciding item of every row.

    Same arguments as `classify`; one Int64 column per item code, same index as `samples`.
    """
    codes = _item_list(items)
    classes, _ = _evaluate(samples, water_type, codes)
    out = pd.DataFrame(classes, index=samples.index, columns=list(codes)).astype("Int64")
    return out.mask(out == 0)


def _join_codes(mask: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """For a boolean (n, k) matrix, the comma-joined labels of the True columns of each row.

    Vectorised through a bit pattern per row: only the distinct patterns are turned into text.
    """
    n, k = mask.shape
    if n == 0:
        return np.empty(0, dtype=object)
    bits = (mask.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
    patterns, inverse = np.unique(bits, return_inverse=True)
    text = np.array(
        [",".join(labels[j] for j in range(k) if p >> j & 1) for p in patterns.tolist()],
        dtype=object,
    )
    return text[inverse]


def _piece(sep: str, name: str, hundredths: int) -> str:
    """``,总磷(0.85)``: one main pollutant with its multiple (negative hundredths: none)."""
    if hundredths < 0:
        return f"{sep}{name}"
    return f"{sep}{name}({hundredths // 100}.{hundredths % 100:02d})"


def _main_pollutants(
    classes: np.ndarray, multiples: np.ndarray, worst: np.ndarray, codes: tuple[str, ...]
) -> np.ndarray:
    """The main-pollutant text of each row ('' unless the row is worse than Ⅲ)."""
    n = len(worst)
    out = np.full(n, "", dtype=object)
    rows = np.flatnonzero(worst > 3)
    if rows.size == 0:
        return out
    cls = np.where(classes[rows] > 3, classes[rows], 0)
    mult = multiples[rows]
    # Order: worse class first; within a class, larger multiple first; items without a multiple
    # (pH, DO) after those with one; then Table 1 order. Two stable sorts give the two keys.
    by_multiple = np.argsort(-np.where(np.isnan(mult), -np.inf, mult), axis=1, kind="stable")
    cls_sorted = np.take_along_axis(cls, by_multiple, axis=1)
    by_class = np.argsort(-cls_sorted, axis=1, kind="stable")
    order = np.take_along_axis(by_multiple, by_class, axis=1)[:, :3]
    names = [PARAMETERS[c].name for c in codes]
    k = len(codes)
    text = np.full(rows.size, "", dtype=StringDType())
    for r in range(order.shape[1]):  # at most three ranks
        j = order[:, r]
        ok = np.take_along_axis(cls, j[:, None], axis=1)[:, 0] > 0
        m = np.take_along_axis(mult, j[:, None], axis=1)[:, 0]
        # Each piece is an item and its multiple in hundredths: turn only the distinct pieces
        # into text (-1 hundredths = no multiple, i.e. pH or DO).
        hundredths = np.where(np.isnan(m), -1, np.round(m * 100)).astype(np.int64)
        keys, inverse = np.unique((hundredths[ok] + 1) * k + j[ok], return_inverse=True)
        sep = "," if r else ""
        pieces = np.array(
            [_piece(sep, names[key % k], key // k - 1) for key in keys.tolist()],
            dtype=StringDType(),
        )
        text[ok] = text[ok] + pieces[inverse]
    out[rows] = text.astype(object)
    return out


def classify(
    samples: pd.DataFrame,
    water_type: WaterTypes,
    items: Literal["auto", "lab"] | Sequence[str] = "auto",
) -> pd.DataFrame:
    """Classify each row of `samples` by the single-factor rule (the worst item decides).

    `samples`: one row per sample or period mean, one column per parameter code (canonical units,
    see `PARAMETERS`); absent columns and NaN values are skipped. `water_type`: ``'river'`` or
    ``'lake'`` for all rows, or one value per row (by position, e.g. ``samples['water_type']``);
    only needed where TP has a value. `items`: ``'auto'`` (automatic stations: ph, do, codmn,
    nh3n, tp, as CNEMC publishes), ``'lab'`` (the 21 items of Table 1 without temp, tn, fcoli) or
    an explicit list of codes.

    Returns a frame with the index of `samples` and the columns

    - ``class``: Int64 1-6 (6 = 劣Ⅴ), <NA> if no item was evaluated;
    - ``class_label``: Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ 劣Ⅴ; ``status``: 优 良好 轻度污染 中度污染 重度污染;
      ``colour``: blue green yellow orange red (all three NaN without a class);
    - ``main_pollutants``: only for rows worse than Ⅲ, up to three items worse than Ⅲ, worst
      class first and, within a class, by exceedance multiple (C - C_Ⅲ) / C_Ⅲ, written as the
      Chinese name with the multiple to two decimals: ``"总磷(0.85),氨氮(0.30)"``. pH and DO
      have no multiple and appear bare (``"溶解氧"``). '' otherwise;
    - ``deciding_items``: comma-joined codes of the items at the row's class, in Table 1 order
      (``"nh3n,tp"``); '' without a class.
    """
    codes = _item_list(items)
    classes, multiples = _evaluate(samples, water_type, codes)
    worst = classes.max(axis=1) if codes else np.zeros(len(samples), dtype=np.int8)
    worst = worst.astype(np.int64)
    deciding = _join_codes((classes == worst[:, None]) & (worst[:, None] > 0), codes)
    return pd.DataFrame(
        {
            "class": pd.Series(worst, index=samples.index, dtype="Int64").mask(worst == 0),
            "class_label": _LABEL_BY_CLASS[worst],
            "status": _STATUS_BY_CLASS[worst],
            "colour": _COLOUR_BY_CLASS[worst],
            "main_pollutants": _main_pollutants(classes, multiples, worst, codes),
            "deciding_items": deciding,
        },
        index=samples.index,
    )


def local_period(period_end: pd.Series, freq: str = "M", tz: str = "Asia/Shanghai") -> pd.Series:
    """The local calendar period (``'M'`` month, ``'Q'`` quarter, ``'Y'`` year) of UTC instants.

    `period_end` is tz-aware (the store keeps UTC); periods follow local civil time (China
    Standard Time by default), so a sample at 2026-08-31 17:00 UTC belongs to September.
    """
    local = pd.DatetimeIndex(period_end).tz_convert(tz).tz_localize(None)
    return pd.Series(local.to_period(freq), index=period_end.index, name="period")


def period_means(samples: pd.DataFrame, by: Sequence[str] = ("site_id", "period")) -> pd.DataFrame:
    """Mean of each parameter over each group, ready for `classify` (never average classes).

    Every parameter-code column of `samples` is averaged (arithmetic mean, NaN skipped, so a
    withheld or missing sample does not count); other columns are dropped, except
    ``water_type``, carried along when it is not a grouping column (the first value in the
    group). The result has the `by` columns, the means and ``n_samples`` (rows in the group).
    Build the period column with `local_period`.
    """
    keys = list(by)
    missing = [k for k in keys if k not in samples.columns]
    if missing:
        raise ValueError(f"period_means: samples have no column {missing}; add it first")
    params = [c for c in samples.columns if c in PARAMETERS]
    numeric = samples[params].apply(pd.to_numeric)
    grouped = pd.concat([samples[keys], numeric], axis=1).groupby(
        keys, sort=True, dropna=False, observed=True
    )
    if not params:
        raise ValueError("period_means: samples have no parameter column (ph, do, tp ...)")
    out = grouped[params].mean()
    out["n_samples"] = grouped.size()
    if "water_type" in samples.columns and "water_type" not in keys:
        out["water_type"] = samples.groupby(keys, sort=True, dropna=False, observed=True)[
            "water_type"
        ].first()
    return out.reset_index()


@dataclass(frozen=True)
class Share:
    """A share of sections, e.g. 水质优良比例.

    `percent` is count / evaluated x 100 (NaN when nothing was evaluated); `left_out` lists the
    sections with no class (or no target) in the period, which bulletins name separately.
    """

    percent: float
    count: int
    evaluated: int
    left_out: tuple[object, ...] = ()


def _class_series(classes: pd.Series | Iterable[object]) -> pd.Series:
    s = classes if isinstance(classes, pd.Series) else pd.Series(list(classes))
    s = pd.to_numeric(s).astype("Float64")
    bad = s.notna() & ~s.isin([1, 2, 3, 4, 5, 6])
    if bad.any():
        raise ValueError(f"classes must be 1-6 or missing; got {s[bad].unique().tolist()[:5]}")
    return s


def _share(hit: pd.Series, evaluated: pd.Series) -> Share:
    n = int(evaluated.sum())
    count = int((hit & evaluated).sum())
    left_out = tuple(evaluated.index[~evaluated.to_numpy(dtype=bool)])
    percent = 100.0 * count / n if n else float("nan")
    return Share(percent=percent, count=count, evaluated=n, left_out=left_out)


def good_ratio(classes: pd.Series | Iterable[object]) -> Share:
    """水质优良比例: sections in Ⅰ-Ⅲ / sections evaluated x 100%.

    `classes`: one class (1-6) per section, indexed by section id, <NA> for a section with no
    data in the period (left out of the ratio and listed in `Share.left_out`).
    """
    s = _class_series(classes)
    evaluated = s.notna().to_numpy(dtype=bool)
    ev = pd.Series(evaluated, index=s.index)
    hit = pd.Series((s <= 3).fillna(False).to_numpy(dtype=bool), index=s.index)
    return _share(hit, ev)


def class_v_count(classes: pd.Series | Iterable[object]) -> int:
    """Number of sections in Ⅴ or 劣Ⅴ (classes 5 and 6); sections with no data do not count."""
    s = _class_series(classes)
    return int((s >= 5).fillna(False).sum())


def target_compliance(
    classes: pd.Series | Iterable[object], target_class: pd.Series | int
) -> Share:
    """达标率: sections at or better than their target class / sections evaluated x 100%.

    `target_class`: one target (1-5) for all sections, or a Series aligned on the index of
    `classes`. Sections with no class or no target are left out and listed.
    """
    s = _class_series(classes)
    if isinstance(target_class, pd.Series):
        target = pd.to_numeric(target_class.reindex(s.index)).astype("Float64")
    else:
        target = pd.Series(float(target_class), index=s.index, dtype="Float64")
    evaluated = pd.Series((s.notna() & target.notna()).to_numpy(dtype=bool), index=s.index)
    hit = pd.Series((s <= target).fillna(False).to_numpy(dtype=bool), index=s.index)
    return _share(hit, evaluated)


def river_description(classes: pd.Series | Iterable[object]) -> str | None:
    """水质状况 of a river, basin or system from its sections' classes (five or more sections).

    Ⅰ-Ⅲ share ≥ 90% 优, ≥ 75% 良好; below that by the 劣Ⅴ share: < 20% 轻度污染, < 40% 中度污染,
    else 重度污染. Sections with no data are left out. With fewer than five evaluated sections
    the 评价办法 classifies the mean concentrations of all sections instead: this returns None,
    and the caller should average the sections (`period_means`) and `classify` the mean.
    """
    s = _class_series(classes).dropna()
    n = len(s)
    if n < 5:
        return None
    good = float((s <= 3).sum()) / n
    worst = float((s == 6).sum()) / n
    if good >= 0.9:
        return "优"
    if good >= 0.75:
        return "良好"
    if worst < 0.2:
        return "轻度污染"
    if worst < 0.4:
        return "中度污染"
    return "重度污染"


def cwqi(
    period_means: pd.DataFrame,
    water_type: WaterTypes,
) -> pd.Series:
    """City water-quality index (城市地表水环境质量指数) of each row of period means; lower is better.

    Sum over the 21 lab items present in the row of the single-item index: C / C_Ⅲ (lake TP
    limit for lakes and reservoirs), DO: 5 / C, pH: 7 - pH at or below 7, (pH - 7) / 2 above.
    Missing items are skipped; a row with none is NaN. TN, fecal coliform and temp excluded.
    A DO mean of 0 gives an infinite index.
    """
    n = len(period_means)
    tp = _values(period_means, "tp")
    lake = _lake_mask(water_type, n, ~np.isnan(tp))
    parts = np.full((n, len(ITEMS_LAB)), np.nan)
    for j, code in enumerate(ITEMS_LAB):  # a loop over items, never over rows
        v = tp if code == "tp" else _values(period_means, code)
        if code == "ph":
            parts[:, j] = np.where(v <= 7, 7 - v, (v - 7) / 2)
        elif code == "do":
            with np.errstate(divide="ignore"):
                parts[:, j] = _LIMIT_III["do"] / v
        else:
            parts[:, j] = v / _limit_iii(code, lake)
    evaluated = ~np.isnan(parts)
    total = np.where(evaluated, parts, 0).sum(axis=1)
    return pd.Series(
        np.where(evaluated.any(axis=1), total, np.nan), index=period_means.index, name="cwqi"
    )
