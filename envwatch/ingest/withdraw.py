"""Withdraw a bad payload: take its values back out of the store, recorded in the ledger.

`envwatch withdraw RUN_ID|PAYLOAD_SHA` names the payloads of a run, or one payload by its
sha256 (or a prefix of at least 8 hex digits). For each value the payload gave:

- a value that a later payload revised stays as revised;
- a value the payload revised from an earlier payload's value goes back to that value;
- a value only that payload gave is removed.

Every change is logged in ``revisions`` (a removed value has new_flag ``withdrawn``), the
derived rows that depended on the values (hourly AQI, daily values, water samples and months,
outfall checks) are recomputed, and a ``withdraw`` run in the ledger lists the payloads as
``withdrawn``: `envwatch reparse` never reads them again, and `backfill` fetches their days
again. Register rows (zones, cells) a payload brought are left as they are.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pandas as pd

from envwatch import air, outfalls, water
from envwatch.config import LoadedConfig
from envwatch.errors import EnvwatchError, UsageError
from envwatch.ingest import run as runs
from envwatch.ingest.fetch import Payload
from envwatch.standards import water as gb3838
from envwatch.store import KEY, Store, utcnow

log = logging.getLogger("envwatch.withdraw")

_SHA = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass
class WithdrawResult:
    """What `withdraw` did; `summary()` is the line staff see."""

    run_id: int | None = None
    payloads: list[str] = field(default_factory=list)
    removed: int = 0
    restored: int = 0
    kept: int = 0
    already: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0

    def summary(self) -> str:
        if not self.payloads:
            return f"nothing to withdraw: {', '.join(self.already)} already withdrawn"
        return (
            f"withdraw: run {self.run_id} ok — {len(self.payloads)} payload(s) withdrawn "
            f"({', '.join(self.payloads)}): {self.removed:,} values removed, "
            f"{self.restored:,} back to their earlier value, {self.kept:,} kept as revised later"
        )


@dataclass(frozen=True)
class _Target:
    sha256: str
    name: str
    source: str
    runs: frozenset[int]  # the runs that stored it


def withdraw(
    loaded: LoadedConfig,
    store: Store,
    target: str,
    *,
    reason: str | None = None,
) -> WithdrawResult:
    """Withdraw the payloads named by `target` (see the module docstring); the caller holds
    the writer lock. Raises UsageError when `target` names no archived payload."""
    targets, already = _resolve(store, target.strip().lower())
    result = WithdrawResult(already=already)
    if not targets:
        return result
    source = targets[0].source
    run_id = store.start_run(source, "withdraw")
    result.run_id = run_id
    note = f"withdrawn{': ' + reason if reason else ''}"
    try:
        with store.transaction():
            for t in targets:
                _withdraw_one(loaded, store, t, run_id, result)
                store.record_payload(
                    run_id, t.name, t.sha256, t.source, utcnow(), "withdrawn", error=note
                )
                result.payloads.append(t.name)
    except BaseException as e:
        store.finish_run(run_id, "failed", error=f"withdraw failed: {type(e).__name__}: {e}")
        raise
    store.finish_run(
        run_id,
        "ok",
        payloads=len(targets),
        revised=result.restored + result.removed,
        unchanged=result.kept,
        error=f"{note} ({', '.join(t.sha256[:12] for t in targets)}): "
        f"{result.removed} values removed, {result.restored} restored",
    )
    return result


def _resolve(store: Store, target: str) -> tuple[list[_Target], list[str]]:
    """The archived payloads `target` names, and those of them already withdrawn."""
    if target.isdigit():
        where, arg = "run_id = ?", int(target)
        if store.conn.execute("SELECT 1 FROM run_ledger WHERE id = ?", (arg,)).fetchone() is None:
            raise UsageError(f"no run {target}: see `envwatch status` or the runs view for ids")
    elif _SHA.match(target):
        where, arg = "substr(sha256, 1, ?) = ?", None
    else:
        raise UsageError(
            f"'{target}' is neither a run id nor a payload's sha256 (8 or more hex digits); "
            'find it with `envwatch query "select run_id, name, sha256 from run_payloads"`'
        )
    params = (arg,) if arg is not None else (len(target), target)
    rows = store.conn.execute(
        f"SELECT DISTINCT sha256 FROM run_payloads WHERE {where} AND sha256 IS NOT NULL "
        "AND status != 'withdrawn'",
        params,
    ).fetchall()
    shas = sorted({r[0] for r in rows})
    if not shas:
        raise UsageError(f"{target}: no archived payload by that run id or sha256")
    if arg is None and len(shas) > 1:
        raise UsageError(
            f"{target} matches {len(shas)} payloads ({', '.join(s[:12] for s in shas)}); "
            "give more digits"
        )
    targets, already = [], []
    for sha in shas:
        stored = store.conn.execute(
            "SELECT run_id, name, source, status FROM run_payloads WHERE sha256 = ? "
            "ORDER BY run_id",
            (sha,),
        ).fetchall()
        if any(s == "withdrawn" for *_, s in stored):
            already.append(sha[:12])
            continue
        good = [r for r in stored if r[3] in ("ok", "partial")]
        last = (good or stored)[-1]
        targets.append(_Target(sha, last[1], last[2], frozenset(r[0] for r in good)))
    return targets, already


def _withdraw_one(
    loaded: LoadedConfig, store: Store, t: _Target, run_id: int, result: WithdrawResult
) -> None:
    keys = _keys(loaded, store, t)
    if keys.empty:
        return
    current = store.observations_at(keys)
    mine = current.loc[current["run_id"].isin(t.runs)]
    result.kept += len(current) - len(mine)
    if mine.empty:
        return
    earlier = _earlier_values(store, mine, t.runs)
    restore = mine.merge(earlier, on=list(KEY), how="inner")
    remove = mine.merge(earlier[list(KEY)], on=list(KEY), how="left", indicator=True)
    remove = remove.loc[remove["_merge"] == "left_only"].drop(columns="_merge")
    store.withdraw_values(remove, restore, run_id)
    result.removed += len(remove)
    result.restored += len(restore)
    _rederive(loaded, store, mine[list(KEY)], t.source)


def _keys(loaded: LoadedConfig, store: Store, t: _Target) -> pd.DataFrame:
    """The keys the payload gives: read again with its source's reader (no checks: a value
    stored before a check existed must come out too), plus, for a run that stored this payload
    alone, every key that run wrote."""
    parts = []
    try:
        source = loaded.source(t.source)
        entry = runs.entry_of(source)
        ctx = runs.Run(
            loaded,
            store,
            source,
            entry,
            runs.RunResult(source=t.source),
            0,
            False,
            False,
            store.site_ids(),
            utcnow(),
        )
        payload = Payload(t.name, lambda: store.payload(t.sha256))
        obs = runs.read(ctx, payload, payload.load()).observations
        parts.append(
            pd.DataFrame(
                {
                    "site_id": obs["site_id"].astype(object).to_numpy(),
                    "parameter": obs["parameter"].astype(object).to_numpy(),
                    "averaging": obs["averaging"].astype(object).to_numpy(),
                    "period_end": obs["period_end"].dt.as_unit("s").astype("int64").to_numpy(),
                }
            )
        )
    except (EnvwatchError, ValueError, KeyError) as e:
        # the source is gone from the config, or its reader refuses the payload now: fall back
        # on the keys written by the runs that stored nothing but this payload (below)
        log.info("%s: cannot re-read the payload (%s); using the keys its runs wrote", t.name, e)
    for run in t.runs:
        if store.archived_payloads_of_run(run) == {t.sha256}:
            parts.append(store.keys_written_by_run(run))
    if not parts:
        return pd.DataFrame(columns=list(KEY))
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def _earlier_values(store: Store, mine: pd.DataFrame, runs_: frozenset[int]) -> pd.DataFrame:
    """For each key of `mine`, the newest value held before by a run other than `runs_`.

    Walks the revisions log newest first: the first revision whose old value came from
    another run gives it. Keys with none are absent (their value goes).
    """
    log = store.revisions_at(mine[list(KEY)])
    if log.empty:
        return pd.DataFrame(columns=[*KEY, "old_value", "old_flag", "old_run_id"])
    withdrawn = store.withdrawn_runs()
    ok = log["old_run_id"].notna() & ~log["old_run_id"].isin(set(runs_) | withdrawn)
    log = log.loc[ok].sort_values("id", ascending=False)
    return log.drop_duplicates(list(KEY), keep="first")[
        [*KEY, "old_value", "old_flag", "old_run_id"]
    ]


def _rederive(loaded: LoadedConfig, store: Store, keys: pd.DataFrame, source: str) -> None:
    """Recompute what depended on the withdrawn values: derived rows with no inputs left go."""
    tz = loaded.config.timezone
    hours = keys[["site_id", "period_end"]].drop_duplicates()
    store.delete_rows("air_hour", hours, ["site_id", "period_end"])
    days = hours.assign(date=air.natural_day_of(hours["period_end"], tz).dt.strftime("%Y-%m-%d"))
    store.delete_rows("air_day", days, ["site_id", "date"])
    samples = keys.rename(columns={"averaging": "kind"})[["site_id", "kind", "period_end"]]
    store.delete_rows("water_sample", samples, ["site_id", "kind", "period_end"])
    months = samples.assign(
        period=gb3838.local_period(
            pd.to_datetime(samples["period_end"], unit="s", utc=True), "M", tz
        ).astype(str)
    )[["site_id", "kind", "period"]].drop_duplicates()
    store.delete_rows("water_period", months, ["site_id", "kind", "period"])
    store.delete_rows("outfall_check", hours, ["site_id", "period_end"])
    state = pd.DataFrame(columns=[*KEY, "value", "flag"])
    air.derive(store, keys, state, tz)
    water.derive(store, keys, source, tz)
    water.derive_periods(store, months, tz)
    outfalls.derive(store, keys, loaded.config.outfall_limits)
