"""Dates as the rules compare them: whole numbers YYYYMMDD (2026-03-14 is 20260314).

The rules select what is in force on a date of service (logic/dates.lp); Python only turns
dates into these numbers and back into words.
"""

from __future__ import annotations

import datetime as dt
import re

from ..errors import PolicyError

OPEN_END = 99991231  # the effective_to of a row, version or release with none: no end
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date_number(value: dt.date) -> int:
    """2026-03-14 as 20260314."""
    return value.year * 10000 + value.month * 100 + value.day


def show_date(number: int) -> str:
    """20260314 as 2026-03-14."""
    return f"{number // 10000:04d}-{number // 100 % 100:02d}-{number % 100:02d}"


def parse_date(text: str, where: str, what: str) -> int:
    """An ISO date (YYYY-MM-DD) of a policy file as a whole number; a PolicyError naming `where`
    otherwise."""
    if not ISO_DATE.fullmatch(text):
        raise PolicyError(f"{where}: {what} {text!r} is not a date written YYYY-MM-DD")
    try:
        return date_number(dt.date.fromisoformat(text))
    except ValueError:
        raise PolicyError(f"{where}: {what} {text} is not a real date") from None


def next_day(number: int) -> int:
    """The day after a YYYYMMDD day (after OPEN_END: a number past every day)."""
    if number >= OPEN_END:
        return OPEN_END + 1
    return date_number(dt.date(number // 10000, number // 100 % 100, number % 100) + dt.timedelta(days=1))


def previous_day(number: int) -> int:
    """The day before a YYYYMMDD day."""
    return date_number(dt.date(number // 10000, number // 100 % 100, number % 100) - dt.timedelta(days=1))


def span_words(start: int, end: int) -> str:
    """`from 2015-09-21` (no end), `from 2015-09-21 to 2026-12-31`, or `on 2026-12-31` (one day)."""
    if start == end:
        return f"on {show_date(start)}"
    return f"from {show_date(start)}" + ("" if end >= OPEN_END else f" to {show_date(end)}")
