"""Crontab expressions: checked when stations.yaml loads, turned into APScheduler triggers.

A ``schedule`` is a five-field crontab expression (minute hour day month weekday) with
crontab's meaning of weekday numbers, 0 or 7 = Sunday (APScheduler 3 counts 0 as Monday:
`cron_trigger` translates). A schedule that restricts both the day of the month and the weekday
is refused: crontab runs when either matches, APScheduler only when both do. APScheduler is
imported only when an expression is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["CRON_HINT", "CronExpr", "check_cron", "cron_trigger"]

CRON_HINT = "write five fields, minute hour day month weekday, e.g. '30 7 * * *'"

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday


def _day(token: str, expr: str) -> int:
    """A crontab weekday, 0-7 (0 and 7 = Sunday) or a three-letter name, as 0-7."""
    token = token.strip().lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token in _DAYS:
        return _DAYS.index(token)
    raise ValueError(f"weekday '{token}' in '{expr}' is not 0-7 or a day name (sun, mon ...)")


def _weekdays(field: str, expr: str) -> str:
    """A crontab weekday field (0 or 7 = Sunday) as APScheduler day names, e.g. ``mon-fri`` ->
    ``mon,tue,wed,thu,fri``; ``*`` stays ``*``."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"step '/{step_text}' in '{expr}' is not a positive number")
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _day(first, expr), _day(last, expr)
        else:
            low = _day(span, expr)
            high = 6 if step_text else low
        if low > high:
            raise ValueError(f"weekday range '{span}' in '{expr}' runs backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def cron_trigger(expr: str, tz: ZoneInfo | str) -> CronTrigger:
    """An APScheduler trigger for a five-field crontab expression, read in `tz`.

    Weekdays have crontab's meaning (0 or 7 = Sunday, names allowed). Raises ValueError with a
    reason when the expression is not valid crontab or restricts both day and weekday.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"'{expr}' is not a cron expression: it has {len(fields)} fields, not 5")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError(
            f"'{expr}' restricts both the day of the month and the weekday; crontab runs when "
            "either matches, envwatch's scheduler only when both do: restrict one of them"
        )
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekdays(weekday, expr),
        timezone=tz,
    )


def check_cron(expr: str) -> str:
    """`expr` if it is a valid crontab expression; else ValueError with the reason and the fix."""
    try:
        cron_trigger(expr, "UTC")
    except ValueError as e:
        raise ValueError(f"{e}; {CRON_HINT}") from None
    return expr


def _validate(value: Any) -> str:
    return check_cron(value)


CronExpr = Annotated[str, AfterValidator(_validate)]
"""A pydantic field: a five-field crontab expression, checked when the config loads."""
