"""The daily rollup (kpi/rollup.py) gives exactly the raw formulas' figures, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from db.models import KpiDailyTally
from kpi import facts, rollup
from kpi.report import build_report, parse_choice, period_of
from kpi.tally import merged
from tests import kpi_day
from tests.kpi_day import DAY, TZ

WEEK = period_of("week", DAY)  # Monday 23 to Sunday 29 November: every fixture call
LATER = facts.local_day_bounds(DAY + dt.timedelta(days=30), TZ)[0]  # every day of the week settled


class FixtureSettings:
    tz = TZ
    kpi = None  # the default thresholds


def _raw_week(session):
    start, _ = facts.local_day_bounds(WEEK.first, TZ)
    _, end = facts.local_day_bounds(WEEK.last, TZ)
    return facts.period_tallies(session, start, end, TZ)


def test_the_week_from_its_days_rollups_equals_the_week_from_the_raw_rows(session):
    kpi_day.build(session)
    built = rollup.build(session, TZ, LATER, since=WEEK.first)
    assert built[:7] == WEEK.days
    by_day = rollup.day_tallies(session, WEEK.first, WEEK.last, "operator", TZ, LATER)
    raw = _raw_week(session)
    for key in [k for k in raw if k[0] in ("all", "operator")]:
        from_rollup = merged(tallies[key] for tallies in by_day.values() if key in tallies)
        assert from_rollup == raw[key], key
    # Something to compare: the week has the fixture's 11 inbound calls, B's night shift included.
    assert raw[facts.ALL].inbound == 11
    for dimension in ("queue", "language", "category"):
        by_day = rollup.day_tallies(session, WEEK.first, WEEK.last, dimension, TZ, LATER)
        for key in [k for k in raw if k[0] == dimension]:
            assert merged(t[key] for t in by_day.values() if key in t) == raw[key], key


def test_the_report_reads_the_rollup_and_gets_the_raw_figures(session):
    kpi_day.build(session)
    before = build_report(session, WEEK, "language", FixtureSettings(), LATER)  # nothing rolled up: raw
    rollup.build(session, TZ, LATER, since=WEEK.first)
    assert session.scalar(select(func.count()).select_from(KpiDailyTally).where(KpiDailyTally.day == DAY)) > 5
    after = build_report(session, WEEK, "language", FixtureSettings(), LATER)
    assert after.total == before.total and after.members == before.members and after.daily == before.daily
    assert after.overall.service_level_15 is not None


def test_a_rollup_read_is_really_the_rollup(session):
    """Proof that settled days are read from the stored rows (here doctored), not recomputed."""
    kpi_day.build(session)
    rollup.build(session, TZ, LATER, since=DAY)
    row = session.get(KpiDailyTally, (DAY, "all", ""))
    row.tally = {**row.tally, "inbound": 1000}
    session.flush()
    assert rollup.day_tallies(session, DAY, DAY, "queue", TZ, LATER)[DAY][facts.ALL].inbound == 1000


def test_a_day_rolled_up_before_it_settled_is_read_raw_and_rebuilt_later(session):
    kpi_day.build(session)
    early = facts.local_day_bounds(DAY + dt.timedelta(days=1), TZ)[1]  # the 28th: call 2's window is still open
    rollup.build(session, TZ, early, since=DAY)
    row = session.get(KpiDailyTally, (DAY, "all", ""))
    row.tally = {**row.tally, "inbound": 1000}
    session.flush()
    # Unsettled: the raw rows are read, not the stored tally.
    assert rollup.day_tallies(session, DAY, DAY, "queue", TZ, early)[DAY][facts.ALL].inbound == 9
    assert DAY in rollup.unsettled_days(session, TZ, LATER, since=DAY)
    rollup.build(session, TZ, LATER, since=DAY)
    assert session.get(KpiDailyTally, (DAY, "all", "")).tally["inbound"] == 9
    # Settled now; only the days of the last 72 h before LATER stay open.
    assert rollup.unsettled_days(session, TZ, LATER, since=DAY) == list(rollup.days(LATER.astimezone(TZ).date() - dt.timedelta(days=3),
                                                                                  LATER.astimezone(TZ).date() - dt.timedelta(days=1)))


def test_periods_and_bad_choices():
    assert period_of("month", DAY) == period_of("month", dt.date(2026, 11, 1))
    assert (period_of("month", DAY).first, period_of("month", DAY).last) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert period_of("month", dt.date(2026, 12, 31)).next().first == dt.date(2027, 1, 1)
    assert (WEEK.first, WEEK.last) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29))
    choice = parse_choice({"period": "year", "date": "2026-13-01", "by": "district"}, DAY)
    assert choice.errors == ("period", "date", "by")
    assert (choice.period, choice.breakdown) == (period_of("month", DAY), "queue")


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-02", "1999-12-31", "2101-01-01", "9999-12-01", "9999-12-31"])
def test_a_day_at_the_calendars_ends_is_named_and_replaced(day):
    """0001-01-01 has no local midnight in UTC and 9999-12-31 no next month: each was a 500 on /kpi."""
    for kind in ("day", "week", "month"):
        choice = parse_choice({"period": kind, "date": day}, DAY)
        assert choice.errors == ("date",) and choice.period == period_of(kind, DAY)
    assert parse_choice({"date": "2000-01-01"}, DAY).errors == parse_choice({"date": "2100-12-31"}, DAY).errors == ()
