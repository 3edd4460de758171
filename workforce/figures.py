"""The three 70% figures (三个70%) of the center's goals, per district and month.

The center's announcement sets three goals: 70% of the city's household-service demand
matched through the platform for free and rated well; 70% of household-service
businesses on the platform and graded; 70% of household-service workers trained,
certified and on the platform. Each figure is a numerator counted here from the data
over a denominator a supervisor enters (SeventyDenominator: the city's estimated demand,
the businesses and workers registered with the commerce bureau), for a month.

A month is a calendar month in local time (Asia/Shanghai); "at month end" means at
midnight after its last day, and a date-valued condition is judged on its last day.

Numerators (district: the request's, or the provider's registered district):

- demand: requests created in the month that were matched through the platform (a
  provider accepted a dispatch; the platform charges callers nothing) and whose callback
  survey rated them 4 or 5 stars.
- businesses: providers on the platform at month end (registered before it, not removed
  from the platform then: no removal in force, 移出平台) whose grade at month end is set
  (their latest grading before it gave stars; a provider never graded through the
  platform's history counts by its current grade).
- workers: active workers, registered before month end, of providers on the platform
  then, with at least one training completed and at least one certificate issued by the
  month's last day and valid on it (no expiry, or expiring that day or later): an expired
  certificate stops counting.

The city's numerator is the sum over the six districts and the rows without a district
(callers outside Heyuan, district "other", are not the city's demand). The city's
denominator is the one entered for the whole city, else the six districts' sum when all
six are entered. A missing denominator gives no ratio (never a division by zero).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit, request_tallies
from db.base import utcnow
from db.errors import Refused
from db.models import (
    CITY_WIDE,
    Certificate,
    CreditMeasure,
    CreditMeasureKind,
    District,
    GradeChange,
    Provider,
    ProviderStatus,
    SeventyDenominator,
    SeventyMeasure,
    Training,
    User,
    Worker,
)

GOAL = 0.70
OUTSIDE = "other"  # the district code of callers outside Heyuan
MEASURES = (SeventyMeasure.DEMAND, SeventyMeasure.BUSINESSES, SeventyMeasure.WORKERS)
# What a supervisor may enter: the city has about three million people.
DENOMINATOR_MAX = 10_000_000
FIRST_MONTH = dt.date(2014, 2, 1)  # the center opened in February 2014


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def month_span(month: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime, dt.date]:
    """The month's start and end (aware, local midnights) and its last day."""
    following = next_month(month)
    return (dt.datetime.combine(month, dt.time(), tz), dt.datetime.combine(following, dt.time(), tz),
            following - dt.timedelta(days=1))


# --- numerators ---------------------------------------------------------------------------


def demand_counts(session: Session, month: dt.date, tz: ZoneInfo) -> dict[int | None, int]:
    """Figure 1's numerator by district id (None: no district recorded), from the
    requests' daily tallies (db/request_tallies.py)."""
    month = month_of(month)
    return dict(request_tallies.demand_counts(session, month, next_month(month) - dt.timedelta(days=1), tz))


def providers_on_platform(session: Session, moment: dt.datetime) -> list[Provider]:
    """Providers registered before `moment` and not removed from the platform at it."""
    removal = (CreditMeasure.provider_id == Provider.id) & (CreditMeasure.kind == CreditMeasureKind.REMOVAL)
    in_force = exists().where(removal, CreditMeasure.starts_at < moment,
                              or_(CreditMeasure.lifted_at.is_(None), CreditMeasure.lifted_at >= moment))
    # A provider suspended without a removal in its file (none should be since 0011) is out.
    unrecorded = (Provider.status == ProviderStatus.SUSPENDED) & ~exists().where(removal)
    return list(session.scalars(select(Provider).where(Provider.created_at < moment, ~in_force, ~unrecorded)))


def graded_at(session: Session, providers: list[Provider], moment: dt.datetime) -> set[int]:
    """Ids of the providers whose grade at `moment` is set."""
    ids = [p.id for p in providers]
    if not ids:
        return set()
    history: dict[int, int | None] = {}
    rows = session.execute(select(GradeChange.provider_id, GradeChange.grade, GradeChange.at)
                           .where(GradeChange.provider_id.in_(ids))
                           .order_by(GradeChange.at, GradeChange.id)).all()
    ever = set()
    for provider_id, grade, at in rows:
        ever.add(provider_id)
        if at < moment:
            history[provider_id] = grade  # the latest before the moment wins
    return {p.id for p in providers
            if (history.get(p.id) is not None if p.id in ever else p.grade is not None)}


def business_counts(session: Session, month: dt.date, tz: ZoneInfo) -> dict[int | None, int]:
    """Figure 2's numerator by the providers' district id."""
    _, end, _ = month_span(month, tz)
    on = providers_on_platform(session, end)
    graded = graded_at(session, on, end)
    counts: dict[int | None, int] = {}
    for provider in on:
        if provider.id in graded:
            counts[provider.district_id] = counts.get(provider.district_id, 0) + 1
    return counts


def worker_counts(session: Session, month: dt.date, tz: ZoneInfo) -> dict[int | None, int]:
    """Figure 3's numerator by the providers' district id."""
    _, end, last_day = month_span(month, tz)
    on = {p.id: p.district_id for p in providers_on_platform(session, end)}
    trained = exists().where(Training.worker_id == Worker.id, Training.completed_on <= last_day)
    certified = exists().where(Certificate.worker_id == Worker.id, Certificate.issued_on <= last_day,
                               or_(Certificate.expires_on.is_(None), Certificate.expires_on >= last_day))
    counts: dict[int | None, int] = {}
    for provider_id in session.scalars(select(Worker.provider_id).where(Worker.active, Worker.created_at < end,
                                                                         trained, certified)):
        if provider_id in on:
            counts[on[provider_id]] = counts.get(on[provider_id], 0) + 1
    return counts


NUMERATORS = {SeventyMeasure.DEMAND: demand_counts, SeventyMeasure.BUSINESSES: business_counts,
              SeventyMeasure.WORKERS: worker_counts}


# --- denominators -------------------------------------------------------------------------


def denominators(session: Session, month: dt.date) -> dict[tuple[SeventyMeasure, int | None], SeventyDenominator]:
    """The entered denominators of a month, by (measure, district id; None: the city)."""
    rows = session.scalars(select(SeventyDenominator).where(SeventyDenominator.month == month_of(month)))
    return {(row.measure, row.district_id): row for row in rows}


def _denominator(session: Session, measure: SeventyMeasure, month: dt.date,
                 district_id: int | None) -> SeventyDenominator | None:
    """The entered row of the key, read by the unique index's own expression."""
    return session.scalar(select(SeventyDenominator).where(
        SeventyDenominator.measure == measure, SeventyDenominator.month == month,
        func.coalesce(SeventyDenominator.district_id, CITY_WIDE) == (CITY_WIDE if district_id is None else district_id)))


def enter_denominator(session: Session, user: User | None, *, measure: SeventyMeasure, district: District | None,
                      month: dt.date, value: int, today: dt.date) -> SeventyDenominator:
    """Enter (or correct) a denominator: audited with the value it replaced."""
    month = month_of(month)
    if not FIRST_MONTH <= month <= next_month(month_of(today)):
        raise Refused("denominator_month", "the month must be between the center's opening and next month")
    if isinstance(value, bool) or not 1 <= value <= DENOMINATOR_MAX:
        raise Refused("denominator_value", f"the value must be from 1 to {DENOMINATOR_MAX}")
    if district is not None and district.code == OUTSIDE:
        raise Refused("denominator_district", "the figures are for Heyuan's districts")
    district_id = district.id if district is not None else None
    # The key is unique (migration 0022): the same entry submitted twice at once stores one
    # row, the later submit finding the earlier's when its own insert is refused.
    for attempt in range(2):
        row = _denominator(session, measure, month, district_id)
        before = row.value if row is not None else None
        try:
            with session.begin_nested():
                if row is None:
                    row = SeventyDenominator(measure=measure, district_id=district_id, month=month)
                    session.add(row)
                row.value, row.entered_by_id, row.entered_at = value, user.id if user else None, utcnow()
            break
        except IntegrityError:
            if attempt:
                raise Refused("denominator_conflict", "the denominator was being entered elsewhere at once: enter it again")
    audit.record(session, user, "create" if before is None else "update", row,
                 {"measure": measure.value, "district": district.code if district else None,
                  "month": month.isoformat(), "from": before, "to": value})
    return row


# --- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int | None  # None: not entered

    @property
    def ratio(self) -> float | None:
        return None if not self.denominator else self.numerator / self.denominator

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio >= GOAL


@dataclass(frozen=True)
class MonthFigures:
    month: dt.date
    districts: list[District]  # Heyuan's six, in their order
    by_district: dict[SeventyMeasure, dict[int, Figure]]
    city: dict[SeventyMeasure, Figure]


def city_districts(session: Session) -> list[District]:
    return list(session.scalars(select(District).where(District.code != OUTSIDE).order_by(District.sort_order)))


def seventy_figures(session: Session, month: dt.date, tz: ZoneInfo) -> MonthFigures:
    """The three figures of a month: per district and for the city."""
    month = month_of(month)
    districts = city_districts(session)
    entered = denominators(session, month)
    outside = session.scalar(select(District.id).where(District.code == OUTSIDE))
    by_district, city = {}, {}
    for measure in MEASURES:
        counts = NUMERATORS[measure](session, month, tz)
        by_district[measure] = {
            d.id: Figure(counts.get(d.id, 0), entered[(measure, d.id)].value if (measure, d.id) in entered else None)
            for d in districts}
        numerator = sum(n for district_id, n in counts.items() if district_id != outside or outside is None)
        city[measure] = Figure(numerator, _city_denominator(entered, measure, districts))
    return MonthFigures(month, districts, by_district, city)


def _city_denominator(entered, measure: SeventyMeasure, districts: list[District]) -> int | None:
    if (measure, None) in entered:
        return entered[(measure, None)].value
    parts = [entered.get((measure, d.id)) for d in districts]
    return sum(p.value for p in parts) if parts and all(parts) else None


def seventy_trend(session: Session, last_month: dt.date, tz: ZoneInfo, months: int = 12) -> list[MonthFigures]:
    """seventy_figures for the `months` months ending with `last_month`, oldest first."""
    wanted = [month_of(last_month)]
    while len(wanted) < months:
        wanted.append(previous_month(wanted[-1]))
    return [seventy_figures(session, month, tz) for month in reversed(wanted)]
