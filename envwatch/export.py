"""Export a view of the store to CSV, Excel (for staff) or Parquet (for analysts).

- **csv**: UTF-8 with a byte-order mark (so Excel opens the Chinese text correctly), the
  column codes as headers (``site_id``, ``pm25`` …), times as ``YYYY-MM-DD HH:MM:SS``.
- **xlsx**: one sheet of rows with Chinese headers and units (``PM2.5 (µg/m³)``,
  ``时间（本地，时段末）``), the header row frozen, times as Excel dates; a second sheet
  ``说明`` describes the export and every column. Excel holds at most 1,048,575 rows: a bigger
  export stops and says to narrow the dates or use Parquet.
- **parquet**: a folder partitioned by year (``year=2026/part-0.parquet``, hive style), and for
  ``observations`` by year and parameter (``year=2026/parameter=pm25/part-0.parquet``); the
  partition values live in the folder names, not in the files (DuckDB:
  ``read_parquet('out/**/*.parquet', hive_partitioning = true)``; pandas:
  ``pd.read_parquet('out')``). The year is the year of the local day a value belongs to: an
  hourly value labelled 00:00 on 1 January (hour-ending) belongs to the year before. A relation
  without dates (``sites``, the zones, cells and indicators) is one file. A file ``_envwatch_export.json`` records what was exported. Times
  are Parquet timestamps (``time_local`` without a time zone, UTC columns with one), months of
  ``water_periods`` are ``YYYY-MM`` text.

Rows are read in chunks, so exporting a national year does not need the year in memory. Files
are written under a temporary name and moved into place at the end: an interrupted export never
leaves a half-written file where the old one was. The file keeps the permissions of the one it
replaces (a new one gets the umask's default), never the temporary file's private 0600.

Text that a spreadsheet would run as a formula (a site name ``=HYPERLINK(…)`` from a staff
sheet: a text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, unless it is
a plain number) is neutralised (`envwatch.spreadsheet`): in CSV an apostrophe is put in front;
in Excel the cell is marked as text (quote prefix), its value unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envwatch.api import TABLES, StoreReader, Table
from envwatch.errors import UsageError
from envwatch.spreadsheet import dangerous, mode_for, neutralise_frame, replace_keeping_mode
from envwatch.store import iso, utcnow

FORMATS = ("csv", "xlsx", "parquet")
EXCEL_MAX_ROWS = 1_048_575  # plus the header row
MARKER = "_envwatch_export.json"
_ROW_GROUP = 250_000


@dataclass
class ExportResult:
    """What an export wrote: the path, the format, the rows and (Parquet) the files."""

    table: str
    format: str
    path: Path
    rows: int
    files: int = 1

    def summary(self) -> str:
        by = "year and parameter" if self.table == "observations" else "year"
        what = "1 file"
        if self.format == "parquet":
            what = "1 file" if TABLES[self.table].time is None else f"{self.files} file(s) by {by}"
        return f"{self.table}: {self.rows:,} rows → {self.path} ({self.format}, {what})"


def format_for(out: str | Path, fmt: str | None) -> str:
    """The format asked for, or the one the output's suffix names (``.csv``, ``.xlsx``,
    ``.parquet``); UsageError when neither says."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}': use csv, xlsx or parquet")
        return fmt
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise UsageError(f"say --format csv, xlsx or parquet (cannot tell from '{out}')")


def export(
    db: str | Path,
    table: str,
    out: str | Path,
    fmt: str | None = None,
    *,
    since: date | str | None = None,
    until: date | str | None = None,
    sites: Sequence[str] | None = None,
    tz: str = "Asia/Shanghai",
    chunk_rows: int = 200_000,
) -> ExportResult:
    """Export `table` (one of ``envwatch.api.TABLES``) from the store `db` to `out`.

    `since` and `until` are local dates, inclusive (natural days for hourly data, as in
    `envwatch.api`); `sites` are ids or names. Returns what was written.
    """
    if table not in TABLES:
        raise UsageError(f"unknown table '{table}'; choose one of: {', '.join(TABLES)}")
    fmt = format_for(out, fmt)
    out = Path(out)
    if fmt != "parquet" and out.is_dir():
        raise UsageError(f"{out} is a folder; give a file name for --out, e.g. {out / table}.{fmt}")
    try:
        return _export(db, table, out, fmt, since, until, sites, tz, chunk_rows)
    except OSError as e:
        raise UsageError(
            f"{out}: cannot write the export ({e.strerror or e}); choose another --out or "
            "check that its folder exists and is writable"
        ) from None


def _export(
    db: str | Path,
    table: str,
    out: Path,
    fmt: str,
    since: date | str | None,
    until: date | str | None,
    sites: Sequence[str] | None,
    tz: str,
    chunk_rows: int,
) -> ExportResult:
    with StoreReader(db, tz) as reader:
        chunks = reader.iter_table(table, sites, since, until, chunk_rows=chunk_rows)
        spec = TABLES[table]
        if fmt == "csv":
            rows = _write_csv(chunks, out)
            return ExportResult(table, fmt, out, rows)
        if fmt == "xlsx":
            info = _describe(reader, spec, since, until, sites)
            rows = _write_xlsx(chunks, spec, out, info)
            return ExportResult(table, fmt, out, rows)
        rows, files = _write_parquet(chunks, spec, out, reader, since, until, sites)
        return ExportResult(table, fmt, out, rows, files)


# -- csv ------------------------------------------------------------------------------------------


def _temp_beside(out: Path, suffix: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    return Path(name)


def _write_csv(chunks: Iterator[pd.DataFrame], out: Path) -> int:
    tmp = _temp_beside(out, ".csv")
    rows = 0
    try:
        with tmp.open("w", encoding="utf-8-sig", newline="") as f:
            for i, df in enumerate(chunks):
                neutralise_frame(df).to_csv(f, index=False, header=i == 0, lineterminator="\n")
                rows += len(df)
        replace_keeping_mode(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


# -- xlsx -----------------------------------------------------------------------------------------


def _describe(
    reader: StoreReader,
    spec: Table,
    since: date | str | None,
    until: date | str | None,
    sites: Sequence[str] | None,
) -> list[tuple[str, str]]:
    return [
        ("表", f"{spec.title}（{spec.name}）"),
        ("说明", spec.description),
        ("时段", f"{since or '最早'} 至 {until or '最新'}（本地日期，含首尾）"),
        ("站点", "、".join(sites) if sites else "全部"),
        ("数据库", str(reader.path)),
        ("导出时间（UTC）", iso(utcnow())),
    ]


def _excel_columns(df: pd.DataFrame) -> list[list[Any]]:
    """The frame's columns as lists of values openpyxl writes (None for missing)."""
    out = []
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):  # Excel has no time zones: UTC, as labelled
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        if isinstance(s.dtype, pd.PeriodDtype):
            s = s.astype(str).where(s.notna(), None)
        obj = s.astype(object)
        out.append(obj.where(s.notna(), None).tolist())
    return out


def _write_xlsx(
    chunks: Iterator[pd.DataFrame], spec: Table, out: Path, info: list[tuple[str, str]]
) -> int:
    import xlsxwriter

    from envwatch.query import _width

    tmp = _temp_beside(out, ".xlsx")
    wb = xlsxwriter.Workbook(
        str(tmp),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    rows = 0
    closed = False
    try:
        ws = wb.add_worksheet(_sheet_name(spec.title))
        header = wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        formats = {
            "local": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            "utc": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        }
        for i, col in enumerate(spec.columns):
            width = max(_width(col.header) + 2, 18 if col.kind in formats else 8)
            ws.set_column(i, i, min(width, 40), formats.get(col.kind))
        ws.write_row(0, 0, [c.header for c in spec.columns], header)
        ws.freeze_panes(1, 0)
        dated = {i: formats[c.kind] for i, c in enumerate(spec.columns) if c.kind in formats}
        text = wb.add_format({"quote_prefix": True})  # a text Excel must never run
        for df in chunks:
            if rows + len(df) > EXCEL_MAX_ROWS:
                raise UsageError(
                    f"{spec.name} has more than {EXCEL_MAX_ROWS:,} rows for these dates, more "
                    "than an Excel sheet holds: narrow --since/--until or --site, or export "
                    "--format parquet or csv"
                )
            for record in zip(*_excel_columns(df), strict=True):
                rows += 1
                ws.write_row(rows, 0, record)
                for i, fmt in dated.items():
                    if record[i] is not None:
                        ws.write_datetime(rows, i, record[i], fmt)
                for i, value in enumerate(record):
                    if isinstance(value, str) and dangerous(value):
                        ws.write_string(rows, i, value, text)
        notes = wb.add_worksheet("说明")
        notes.set_column(0, 0, 28)
        notes.set_column(1, 1, 18)
        notes.set_column(2, 2, 10)
        notes.set_column(3, 3, 70)
        r = 0
        for k, v in info:
            notes.write_row(r, 0, [k, v])
            r += 1
        notes.write_row(r, 0, ["行数", rows])
        r += 2
        notes.write_row(r, 0, ["表头", "列名", "单位", "说明"], header)
        for col in spec.columns:
            r += 1
            notes.write_row(r, 0, [col.header, col.name, col.unit, col.note])
        wb.close()
        closed = True
        replace_keeping_mode(tmp, out)
    finally:
        if not closed:
            with contextlib.suppress(Exception):
                wb.close()
        tmp.unlink(missing_ok=True)
    return rows


def _sheet_name(title: str) -> str:
    bad = set("[]:*?/\\")
    return "".join(ch for ch in title if ch not in bad)[:31] or "data"


# -- parquet ----------------------------------------------------------------------------------------


def partition_year(spec: Table, df: pd.DataFrame, tz: str) -> pd.Series:
    """The local year each row belongs to (see the module docstring); Int64."""
    name = spec.name
    if name in ("air_hourly", "observations"):
        t = df["time_local"]
        if name == "observations":
            hourly = ~df["averaging"].isin(["auto", "lab"]).to_numpy()
            # an hour-ending 00:00 on 1 January belongs to the day, and the year, before
            t = t.where(~hourly, t - pd.Timedelta(seconds=1))
        else:
            t = t - pd.Timedelta(seconds=1)
        year = t.dt.year
    elif name in ("water_samples", "outfall_inspections"):
        year = df["time_local"].dt.year
    elif name == "air_daily":
        year = df["date"].dt.year
    elif name == "water_periods":
        year = df["period"].dt.year
    elif name == "scorecard":
        year = df["period_start"].dt.year.fillna(df["computed_at"].dt.tz_convert(tz).dt.year)
    elif name == "runs":
        year = df["started_at"].dt.tz_convert(tz).dt.year
    elif name == "revisions":
        year = df["revised_at"].dt.tz_convert(tz).dt.year
    else:
        raise ValueError(f"{name} is not partitioned by year")
    return year.astype("Int64")


def _arrow_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Period columns as 'YYYY-MM' text (readers other than pandas know no periods)."""
    for c in df.columns:
        if isinstance(df[c].dtype, pd.PeriodDtype):
            df[c] = df[c].astype(str).astype("string")
    return df


def _file_frame(spec: Table, df: pd.DataFrame) -> pd.DataFrame:
    """The columns that go into the files: partition columns live in folder names."""
    if spec.name == "observations":
        df = df.drop(columns=["parameter"])
    return _arrow_ready(df.reset_index(drop=True))


def _partitions(
    spec: Table, df: pd.DataFrame, tz: str
) -> list[tuple[tuple[str, ...], pd.DataFrame]]:
    """The rows of `df` by hive partition folder (``("year=2026", "parameter=pm25")``)."""
    if spec.time is None:  # a relation without dates is one file
        return [((), df)]
    by: list[pd.Series] = [partition_year(spec, df, tz).rename("_year")]
    if spec.name == "observations":
        by.append(df["parameter"].rename("_parameter"))
    pieces = []
    for k, part in df.groupby(by, sort=False, dropna=False):
        values = [str(v) for v in (k if isinstance(k, tuple) else (k,))]
        key = tuple(
            f"{n}={'__HIVE_DEFAULT_PARTITION__' if v in ('<NA>', 'nan') else v}"
            for n, v in zip(("year", "parameter"), values, strict=False)
        )
        pieces.append((key, part))
    return pieces


class _ParquetFolder:
    """Parquet files under `root`, one per partition, fed in pieces and written in row groups
    of `_ROW_GROUP` rows (so a national year is never held in memory at once)."""

    def __init__(self, root: Path, schema: Any, partitioned: bool) -> None:
        self.root = root
        self.schema = schema
        self.writers: dict[tuple[str, ...], Any] = {}
        self.buffers: dict[tuple[str, ...], list[Any]] = {} if partitioned else {(): []}
        self.buffered: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], table: Any) -> None:
        self.buffers.setdefault(key, []).append(table)
        self.buffered[key] = self.buffered.get(key, 0) + table.num_rows
        if self.buffered[key] >= _ROW_GROUP:
            self.flush(key)

    def flush(self, key: tuple[str, ...]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self.buffers.pop(key, [])
        self.buffered.pop(key, None)
        if not parts and key:
            return
        if key not in self.writers:
            folder = self.root.joinpath(*key)
            folder.mkdir(parents=True, exist_ok=True)
            self.writers[key] = pq.ParquetWriter(
                folder / "part-0.parquet", self.schema, compression="zstd", coerce_timestamps="us"
            )
        if parts:
            self.writers[key].write_table(pa.concat_tables(parts), row_group_size=_ROW_GROUP)

    def close(self) -> int:
        """Write what is buffered and close every file; returns the number of files."""
        for key in list(self.buffers):
            self.flush(key)
        files = len(self.writers)
        self.abandon()
        return files

    def abandon(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()


def _write_parquet(
    chunks: Iterator[pd.DataFrame],
    spec: Table,
    out: Path,
    reader: StoreReader,
    since: date | str | None,
    until: date | str | None,
    sites: Sequence[str] | None,
) -> tuple[int, int]:
    import pyarrow as pa

    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists())):
        raise UsageError(
            f"{out} exists and is not an earlier envwatch Parquet export; "
            "choose another --out (a folder) or remove it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    folder: _ParquetFolder | None = None
    rows = 0
    try:
        for df in chunks:
            if folder is None:
                empty = _file_frame(spec, df.iloc[0:0])
                schema = pa.Schema.from_pandas(empty, preserve_index=False)
                folder = _ParquetFolder(tmp, schema, spec.time is not None)
            rows += len(df)
            for key, part in _partitions(spec, df, str(reader.tz)) if len(df) else []:
                table = pa.Table.from_pandas(
                    _file_frame(spec, part), schema=folder.schema, preserve_index=False
                )
                if len(part) < len(df):
                    # a compact copy: a slice would keep the whole chunk's buffers alive
                    table = table.take(pa.array(np.arange(len(table))))
                folder.add(key, table)
        files = folder.close() if folder is not None else 0
        marker = {
            "table": spec.name,
            "since": str(since) if since else None,
            "until": str(until) if until else None,
            "sites": list(sites) if sites else None,
            "rows": rows,
            "files": files,
            "partitioning": (
                ["year", "parameter"]
                if spec.name == "observations"
                else ["year"]
                if spec.time is not None
                else []
            ),
            "hive": True,
            "store": str(reader.path),
            "exported_at": iso(utcnow()),
        }
        (tmp / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=1), "utf-8")
        os.chmod(tmp, mode_for(out, folder=True))  # mkdtemp made it private (0700)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if folder is not None:
            folder.abandon()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, files
