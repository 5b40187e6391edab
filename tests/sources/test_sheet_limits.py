"""Hostile and damaged workbooks are refused with one line, never a traceback (issue 15 item 4).

The files are built here by hand (zipfile), from a small real workbook.
"""

from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile

import pandas as pd
import pytest
from openpyxl import Workbook

from envwatch.errors import ParseError
from envwatch.sources import lab_sheet, sheet

KNOWN = pd.DataFrame({"site_id": ["浙江省/大嵩"], "name": ["大嵩"], "kind": ["water"]})


def workbook(rows: int = 20) -> bytes:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["断面名称", "采样时间", "氨氮"])
    for day in range(1, rows + 1):
        ws.append(["大嵩", f"2019-01-{day:02d}", 0.1 * day])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite(payload: bytes, part: str, change: object) -> bytes:
    """The workbook with one part's bytes replaced (`change` is bytes or a function of them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == part:
                data = change(data) if callable(change) else change  # type: ignore[assignment]
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


SHEET1 = "xl/worksheets/sheet1.xml"


def with_dimension(ref: str) -> bytes:
    def change(xml: bytes) -> bytes:
        return re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), xml)

    return rewrite(workbook(), SHEET1, change)


def read(payload: bytes) -> pd.DataFrame:
    now = pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()
    return lab_sheet.read(payload, name="hostile.xlsx", known_sites=KNOWN, now=now).observations


def test_a_dimension_that_says_two_rows_does_not_hide_the_other_eighteen() -> None:
    payload = with_dimension("A1:N2")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert b'<dimension ref="A1:N2"' in archive.read(SHEET1)
    assert len(read(payload)) == 20


def test_a_dimension_of_the_whole_grid_in_a_small_file_does_not_allocate_it() -> None:
    payload = with_dimension("A1:XFD1048576")
    assert len(payload) < 10_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        assert len(read(payload)) == 20
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20 and time.perf_counter() - started < 2


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = b"<!-- " + b" " * (20 * 2**20) + b" -->"
    payload = rewrite(workbook(), "docProps/app.xml", bomb)
    assert len(payload) < 200_000
    with pytest.raises(ParseError) as err:
        read(payload)
    message = str(err.value)
    assert "hostile.xlsx" in message and f"limit of {sheet.MAX_PACK_RATIO}" in message
    assert "\n" not in message


def test_a_workbook_that_unpacks_beyond_the_size_cap_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sheet, "MAX_XLSX_UNPACKED", 10_000)
    with pytest.raises(ParseError, match=r"hostile.xlsx: .* over the limit of 0 MB"):
        read(workbook(200))


def test_rows_beyond_the_cap_are_refused_with_the_cap_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sheet, "MAX_ROWS", 10)
    with pytest.raises(ParseError, match="more than 10 rows"):
        read(workbook(20))
    csv = ("断面名称,采样时间,氨氮\n" + "大嵩,2019-01-01,0.1\n" * 20).encode()
    with pytest.raises(ParseError, match="more than 10 rows"):
        read(csv)


def test_an_entity_expansion_workbook_is_refused() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    )

    def change(xml: bytes) -> bytes:
        body = xml.split(b"?>", 1)[-1]
        assert b"<v>" in body
        return lol + body.replace(b"<v>", b"<v>&lol3;", 1)

    with pytest.raises(ParseError, match="hostile.xlsx: not a readable XLSX file") as err:
        read(rewrite(workbook(), SHEET1, change))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p[: len(p) // 2], id="cut-in-half"),
        pytest.param(lambda p: rewrite(p, SHEET1, b"<worksheet><sheetData><row"), id="bad-xml"),
        pytest.param(lambda p: rewrite(p, "xl/workbook.xml", b"\x00\x01garbage"), id="bad-book"),
        pytest.param(lambda p: rewrite(p, "[Content_Types].xml", b"<Types/>"), id="no-types"),
        pytest.param(lambda p: b"PK\x03\x04" + bytes(range(256)) * 4, id="not-a-zip"),
    ],
)
def test_a_damaged_workbook_is_one_parse_error(damage: object) -> None:
    payload = damage(workbook())  # type: ignore[operator]
    with pytest.raises(ParseError) as err:
        read(payload)
    message = str(err.value)
    assert message.startswith("lab sheet hostile.xlsx: ") and "\n" not in message
