"""Local days (app.timezone) as spans of stored UTC times, and runs of them: what the
daily rollups (kpi/rollup.py, db/request_tallies.py) share."""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

# A rollup builds at most this many days in one pass over the raw rows, so what it holds in
# memory stays a month's.
CHUNK_DAYS = 31


def local_day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start and end of a local day (its midnight to the next)."""
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.timezone.utc)
    return start, end


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def runs(todo: Iterable[dt.date]) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive days (in order) as (first, last) runs."""
    first = previous = None
    for day in todo:
        if previous is not None and day != previous + dt.timedelta(days=1):
            yield first, previous
            first = None
        first = first or day
        previous = day
    if first is not None:
        yield first, previous


def chunked_runs(todo: list[dt.date]) -> Iterator[tuple[dt.date, dt.date]]:
    """The runs of `todo` (in order), none longer than CHUNK_DAYS."""
    for chunk_start in range(0, len(todo), CHUNK_DAYS):
        yield from runs(todo[chunk_start:chunk_start + CHUNK_DAYS])
