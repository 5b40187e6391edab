"""Which registered site a staff sheet's row names: one rule for every sheet that names sites.

The lab sheet (water sections), the outfall sheet (outfalls) and the air sheet (air stations)
write a site as an id (编号/编码), a name (名称), or both. `SiteRegistry` holds the known sites of
one kind; `resolve` decides, for the texts a row gives, in order:

1. an id or name of exactly one known site: that site (an id written exactly wins over a name);
2. a name shared by several known sites: refused, listing their ids ("write the id: ...");
3. unknown, without ``--add-sites``: refused with a "did you mean" of up to three close sites and
   what to do (fix the name, add it to stations.yaml, or load the sheet with --add-sites);
4. unknown, with ``--add-sites``: a new site whose id is the first text given (the code when
   there is one) and whose name is the name column (else the id).

Matching ignores case, full/half width and spaces (`sheet.squash`). The pure function returns a
`Resolved` or the reason as text; the reader turns the reason into a `Reject` at its row.
`district_disagreements` compares a district stated in a sheet (所属区县) with the one found from
the coordinates, after the pipeline has located the new sites.

A sheet of timed values per site reads in two passes: `resolve_rows` (which site each row is,
and what each new site is, e.g. its water type), then `timed_rows` (each row's time, the same
rejects in every sheet for an untyped new site, a missing time or a duplicate, by `RowRules`);
`sited_reading` delivers the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from envwatch.sources import sheet
from envwatch.sources.base import Reading, Reject
from envwatch.sources.sheet import Lookup, Row, RowRejects, Sheet, squash

__all__ = [
    "Resolved",
    "RowRules",
    "SiteRegistry",
    "district_disagreements",
    "resolve",
    "resolve_rows",
    "sited_reading",
    "timed_rows",
]


@dataclass(frozen=True)
class Resolved:
    """A row's site: its registry id and name, and whether the sheet adds it (--add-sites)."""

    site_id: str
    name: str
    new: bool


class SiteRegistry:
    """The known sites of one kind (``water``, ``outfall``, ``air``), looked up by id or name.

    `known` is the registry (``store.sites()``) with ``site_id`` (or ``id``) and ``name``
    columns; with a ``kind`` column only rows of `kind` are kept. Other columns
    (``water_type``, ``outfall_type``, ``control_level``, ``origin`` ...) are read by `column`.
    """

    def __init__(self, known: pd.DataFrame, kind: str) -> None:
        frame = known
        if "kind" in frame.columns:
            frame = frame[frame["kind"].astype(str) == kind]
        id_col = "site_id" if "site_id" in frame.columns else "id"
        if len(known.columns) and (id_col not in frame.columns or "name" not in frame.columns):
            raise ValueError("known_sites needs site_id (or id) and name columns")
        ids = [str(i) for i in frame[id_col]] if id_col in frame.columns else []
        names = [str(n) for n in frame["name"]] if "name" in frame.columns else []
        self.kind = kind
        self.frame = frame.assign(_id=ids).set_index("_id") if ids else pd.DataFrame()
        self.ids = set(ids)
        self.names = dict(zip(ids, names, strict=True))
        self.lookup = Lookup(
            (i, f"{n} ({i})" if n != i else i, [i, n]) for i, n in self.names.items()
        )

    def column(self, name: str) -> dict[str, str]:
        """The non-empty text values of a registry column, by site id ({} when absent)."""
        if name not in self.frame.columns:
            return {}
        return {
            str(i): str(v) for i, v in self.frame[name].items() if isinstance(v, str) and v.strip()
        }


def resolve(
    registry: SiteRegistry,
    written: Sequence[str],
    *,
    noun: str,
    add_sites: bool,
    name: str = "",
) -> Resolved | str:
    """The site the texts `written` (tried in order: id, then name) name, or the reason not.

    `noun` names the kind in messages (``section``, ``outfall``, ``station``); `name` is the
    name a new site gets (default: the first text). Empty texts are skipped.
    """
    texts = [t for t in written if t and t.strip()]
    if not texts:
        return f"no {noun}; write the {noun}'s id or name"
    for text in texts:
        hits = registry.lookup.find(text)
        if len(hits) == 1:
            return Resolved(hits[0], registry.names[hits[0]], False)
        if len(hits) > 1:
            return (
                f"{noun} {text!r} is the name of {len(hits)} {noun}s; write the id: "
                f"{', '.join(sorted(hits))}"
            )
    shown = texts[0]
    if add_sites:
        return Resolved(shown, name or shown, True)
    hint = registry.lookup.hint(shown) or "."
    return (
        f"unknown {noun} {shown!r}{hint} Fix the name, add the {noun} to stations.yaml, or "
        "load the sheet with --add-sites"
    )


def resolve_rows(
    rows: Iterable[Row],
    identify: Callable[[Row], Resolved | Reject],
    needed: Callable[[Row], str | None],
    rejects: list[Reject],
) -> tuple[list[tuple[Row, Resolved]], dict[str, str]]:
    """A sheet's first pass: the rows that name a site, with it (the others are rejected into
    `rejects`), and for each site added here the first non-empty value of what a new site
    needs (`needed`: its water type, outfall type ...), by site id."""
    resolved: list[tuple[Row, Resolved]] = []
    needs: dict[str, str] = {}
    for row in rows:
        found = identify(row)
        if isinstance(found, Reject):
            rejects.append(found)
            continue
        resolved.append((row, found))
        value = needed(row) if found.new else None
        if value:
            needs.setdefault(found.site_id, value)
    return resolved, needs


class RowRules(NamedTuple):
    """How a sheet's second pass (`timed_rows`) treats its rows.

    `time_of(row, reject)`: the row's time (aware), or None after rejecting it;
    `untyped(site_id)`: what a row of a new site that no row types must say (what to write);
    `duplicate(first)`: what a second row for the same site and time says (`first` is the
    number of the row kept).
    """

    time_of: Callable[[Row, RowRejects], datetime | None]
    untyped: Callable[[str], str]
    duplicate: Callable[[int], str]


def timed_rows(
    table: Sheet,
    resolved: Iterable[tuple[Row, Resolved]],
    needs: Mapping[str, str],
    rejects: list[Reject],
    rules: RowRules,
) -> Iterator[tuple[Row, Resolved, RowRejects, datetime]]:
    """A sheet's second pass over `resolve_rows`' rows: each with its `RowRejects` and its time.

    Rejected (into `rejects`, with the texts of `rules`) and skipped: a row of a new site that
    no row says what it is (`needs` has no entry for it), a row without a valid time, and a
    second row for the same site and time (the first is kept).
    """
    seen: dict[tuple[str, datetime], int] = {}
    for row, found in resolved:
        reject = RowRejects(table, row, rejects, found.site_id)
        if found.new and found.site_id not in needs:
            reject(rules.untyped(found.site_id))
            continue
        when = rules.time_of(row, reject)
        if when is None:
            continue
        key = (found.site_id, when)
        if key in seen:
            reject(rules.duplicate(seen[key]), period_end=when.isoformat())
            continue
        seen[key] = row.number
        yield row, found, reject, when


def sited_reading(
    records: Sequence[tuple[str, str, datetime, float, str, str]],
    averaging: str,
    rejects: list[Reject],
    sites: Iterable[Mapping[str, Any]],
    site_columns: Sequence[str],
) -> Reading:
    """What a sheet that names sites delivers: its observations (one `averaging`), its rejects
    in the order staff read the sheet, and its sites (`site_columns`; lon/lat as floats, ``new``
    as bool)."""
    return Reading(
        observations=sheet.observations(records, averaging),
        rejects=sorted(rejects, key=sheet.sheet_order),
        sites=sheet.as_frame(list(sites), site_columns, floats=("lon", "lat")).astype(
            {"new": bool}
        ),
    )


def district_disagreements(sites: pd.DataFrame, kind: str = "station") -> list[Reject]:
    """One `Reject` per new site whose stated district (``district_stated``, e.g. 所属区县)
    differs from the district found from its coordinates (``district``).

    Call it after the coordinates were located (`pipeline._locate`); the found district is
    kept, the sheet's is reported. Names compare without spaces and width (``北仑区`` =
    ``北仑区 ``); a stated name that is a prefix of the found one (``北仑`` for ``北仑区``)
    agrees.
    """
    if "district_stated" not in sites.columns or "district" not in sites.columns:
        return []
    out: list[Reject] = []
    for row in sites.to_dict(orient="records"):
        stated, found = row["district_stated"], row["district"]
        if not isinstance(stated, str) or not stated.strip():
            continue
        if not isinstance(found, str) or not found:
            reason = (
                f"{kind} {row['site_id']}: the sheet says {stated}, but its coordinates are not in "
                "any district of the city; check 经度/纬度 and 坐标系"
            )
        elif squash(found).startswith(squash(stated)):
            continue
        else:
            reason = (
                f"{kind} {row['site_id']}: the sheet says {stated}, its coordinates lie in "
                f"{found}; {found} is used (check 经度/纬度 and 坐标系 if {stated} is right)"
            )
        out.append(Reject(location="sites", reason=reason, site_id=str(row["site_id"]), raw=stated))
    return out
