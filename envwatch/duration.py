"""Lengths of time as written in stations.yaml: one parser and one pydantic type for all of them.

Accepted: a number of seconds (``45``, ``0.5``, ``"12"``) or one or more ``<number><unit>``
parts with units ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w`` (weeks), e.g. ``90s``,
``30m``, ``2h``, ``2d``, ``1w``, ``1h30m``, ``1h 30m``, ``250ms``. Negative, infinite and
not-a-number durations, booleans and a number without a unit after a part (``1h 30``) are
refused.

`Duration` is a pydantic field type holding **seconds** as a float (``http.read_timeout``,
``lookback``, ``max_catchup`` ...); `parse_duration` gives a `timedelta`.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["DURATION_HINT", "Duration", "parse_duration", "seconds"]

DURATION_HINT = "write e.g. 90s, 30m, 2h, 2d, 1w, 1h30m or a number of seconds"

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def seconds(value: str | int | float | timedelta) -> float:
    """Seconds from a duration (see the module docstring); raises `ValueError` naming the fix."""
    if isinstance(value, timedelta):
        total = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    elif isinstance(value, int | float):
        total = float(value)
    elif isinstance(value, str):
        total = _from_text(value)
    else:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    if math.isnan(total) or math.isinf(total) or total < 0:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    return total


def _from_text(value: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    compact = text.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    return sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """A `timedelta` from a duration such as ``90s``, ``2d``, ``1w``, ``1h30m`` or seconds."""
    return timedelta(seconds=seconds(value))


def _validate(value: Any) -> float:
    return seconds(value)


Duration = Annotated[float, BeforeValidator(_validate)]
"""A pydantic field: a duration written as in the module docstring, held as float seconds."""
