"""The daily rollup: each local day's tallies, kept so a month's report adds up days
instead of reading a million calls.

A day's row is the very tally kpi/facts.py gathers from the raw rows for that day, stored
as JSON (counts and histograms): summing the rows of a month is exactly the raw tally of
the month. A day is settled once its calls' repeat window (72 h, first-contact
resolution) has passed; until then its rows may still change, so `build` rebuilds it and
`day_tallies` reads it from the raw rows instead of the rollup.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.local_days import chunked_runs, days, runs
from db.models import Call, KpiDailyTally
from kpi import facts
from kpi.tally import Tally

Key = facts.Key


def settled_at(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """When a day's figures can no longer change: its end plus the repeat-call window."""
    return facts.local_day_bounds(day, tz)[1] + facts.FCR_WINDOW


def build_day(session: Session, day: dt.date, tz: ZoneInfo, now: dt.datetime) -> int:
    """Replace the day's rows with its tallies from the raw rows; returns how many rows."""
    return build_days(session, day, day, tz, now)


def build_days(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo, now: dt.datetime) -> int:
    """Replace the rows of the days first…last with their tallies from the raw rows (read
    in one pass); returns how many rows."""
    rows = 0
    for day, tallies in facts.daily_tallies(session, first, last, tz).items():
        session.execute(delete(KpiDailyTally).where(KpiDailyTally.day == day))
        session.add_all(KpiDailyTally(day=day, dimension=dimension, member=member, tally=tally.to_json(), built_at=now)
                        for (dimension, member), tally in tallies.items())
        rows += len(tallies)
    session.flush()
    return rows


def unsettled_days(session: Session, tz: ZoneInfo, now: dt.datetime, since: dt.date | None = None) -> list[dt.date]:
    """The ended days from `since` (default: the first call's day) whose rollup is missing
    or was built before the day settled."""
    if since is None:
        first_call = session.scalar(select(func.min(Call.started_at)))
        if first_call is None:
            return []
        since = first_call.astimezone(tz).date()
    yesterday = now.astimezone(tz).date() - dt.timedelta(days=1)
    built = dict(session.execute(select(KpiDailyTally.day, KpiDailyTally.built_at).where(
        KpiDailyTally.dimension == facts.ALL[0], KpiDailyTally.day >= since, KpiDailyTally.day <= yesterday)).all())
    return [day for day in days(since, yesterday) if day not in built or built[day] < settled_at(day, tz)]


def build(session: Session, tz: ZoneInfo, now: dt.datetime, since: dt.date | None = None,
          rebuild: bool = False) -> list[dt.date]:
    """Roll up every ended day not settled yet; with `rebuild`, every ended day from `since`."""
    if rebuild and since is not None:
        todo = list(days(since, now.astimezone(tz).date() - dt.timedelta(days=1)))
    else:
        todo = unsettled_days(session, tz, now, since)
    # A month at a time: one pass over its calls, in memory a month's rows at most.
    for first, last in chunked_runs(todo):
        build_days(session, first, last, tz, now)
    return todo


def day_tallies(session: Session, first: dt.date, last: dt.date, dimension: str, tz: ZoneInfo,
                now: dt.datetime) -> dict[dt.date, dict[Key, Tally]]:
    """Each day's tallies under "all" and `dimension`: from the rollup where the day is
    settled, from the raw rows otherwise (the latest days, or days never rolled up)."""
    found: dict[dt.date, dict[Key, Tally]] = {}
    rows = session.execute(select(KpiDailyTally.day, KpiDailyTally.dimension, KpiDailyTally.member,
                                  KpiDailyTally.tally, KpiDailyTally.built_at)
                           .where(KpiDailyTally.day >= first, KpiDailyTally.day <= last,
                                  KpiDailyTally.dimension.in_({facts.ALL[0], dimension})))
    built: dict[dt.date, dt.datetime] = {}
    for day, dim, member, tally, built_at in rows:
        found.setdefault(day, {})[(dim, member)] = Tally.from_json(tally)
        if dim == facts.ALL[0]:
            built[day] = built_at
    today = now.astimezone(tz).date()
    raw_days = [day for day in days(first, min(last, today)) if not (day in built and built[day] >= settled_at(day, tz))]
    for run_first, run_last in runs(raw_days):
        for day, tallies in facts.daily_tallies(session, run_first, run_last, tz, until=now).items():
            found[day] = {key: tally for key, tally in tallies.items() if key[0] in (facts.ALL[0], dimension)}
    return {day: found.get(day, {facts.ALL: Tally()}) for day in days(first, last)}
