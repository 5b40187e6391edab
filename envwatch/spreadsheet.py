"""Text cells that a spreadsheet would run, and files written the way their owner expects.

**Formula injection.** Excel, LibreOffice and WPS read a CSV cell that starts with ``=``,
``+``, ``-`` or ``@`` as a formula (``=HYPERLINK("http://…", "点击")``, ``=cmd|' /C calc'!A0``),
and a tab or carriage return at the start lets one through after trimming. Station and
outfall names come from staff sheets and feeds, so any text column may carry one.
`neutralise_frame` puts an apostrophe in front of such a text (the spreadsheet then shows it as text, apostrophe
included); a text that is a plain number (``-3.5``, ``+12``) is left alone, as the number it
is. Number columns are never touched. The Excel export keeps the text as it is and marks the
cell as text instead (Excel's quote prefix: nothing is shown in front of it).

**Replacing a file.** `replace_keeping_mode` moves a finished temporary file over the target
with the target's permissions (or, for a new file, those the umask gives), so an export never
turns a shared ``0644`` file into a private ``0600`` one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def dangerous(text: str) -> bool:
    """Whether a spreadsheet would read `text` as a formula (a plain number is not)."""
    return text.startswith(TRIGGERS) and not _NUMBER.match(text)


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every text cell a spreadsheet would run prefixed with an apostrophe."""
    out = df
    for col in df.columns:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        text = s.astype("string")
        risky = text.str.startswith(TRIGGERS).fillna(False) & ~text.str.fullmatch(
            _NUMBER.pattern
        ).fillna(False)
        if risky.any():
            if out is df:
                out = df.copy()
            fixed = s.astype(object).copy()
            fixed[risky.to_numpy()] = ("'" + text[risky]).astype(object).to_numpy()
            out[col] = fixed.astype(s.dtype) if isinstance(s.dtype, pd.StringDtype) else fixed
    return out


def mode_for(target: Path, *, folder: bool = False) -> int:
    """The permissions a file (or folder) written to `target` should have: those of the
    `target` there now, else the default the umask gives a new one (e.g. 0o644 under 022)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return (0o777 if folder else 0o666) & ~mask


def replace_keeping_mode(tmp: Path, target: Path) -> None:
    """Move the finished `tmp` over `target` (an atomic rename within one folder) with the
    permissions of `mode_for(target)`."""
    os.chmod(tmp, mode_for(target, folder=tmp.is_dir()))
    os.replace(tmp, target)
