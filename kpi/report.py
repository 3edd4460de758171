"""A KPI report: a day, week or month, broken down by queue, operator, language or category.

The figures of the period come from the daily tallies (kpi/rollup.py) added up, with the
formulas of kpi/formulas.py applied once at the end; callbacks and surveys, a few rows a
day, are read raw for the period.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kpi import facts, formulas, rollup
from kpi.formulas import KpiSettings
from kpi.tally import Tally, merged

PERIODS = ("day", "week", "month")
BREAKDOWNS = facts.DIMENSIONS
# The days a report may be asked for (the industry report's years): a day near the
# calendar's ends (0001-01-01, 9999-12-31) has no local midnight in UTC, no previous or
# next period, and would be a 500 instead of a value named and replaced.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


@dataclasses.dataclass(frozen=True)
class Period:
    kind: str  # day, week (Monday to Sunday) or month
    first: dt.date
    last: dt.date

    @property
    def days(self) -> list[dt.date]:
        return list(rollup.days(self.first, self.last))

    def previous(self) -> "Period":
        return period_of(self.kind, self.first - dt.timedelta(days=1))

    def next(self) -> "Period":
        return period_of(self.kind, self.last + dt.timedelta(days=1))


def period_of(kind: str, day: dt.date) -> Period:
    """The day, week or month that holds `day`."""
    if kind == "week":
        first = day - dt.timedelta(days=day.weekday())
        return Period(kind, first, first + dt.timedelta(days=6))
    if kind == "month":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - dt.timedelta(days=1))
    return Period("day", day, day)


@dataclasses.dataclass(frozen=True)
class Choice:
    period: Period
    breakdown: str
    errors: tuple[str, ...]  # the names of the values that were unreadable and replaced


def parse_choice(args: Mapping[str, str], today: dt.date) -> Choice:
    """The period and breakdown a query string asks for; an unreadable value gives way to
    the default (this month, by queue) and is named in `errors`, never raised."""
    errors = []
    kind = (args.get("period") or "month").strip()
    if kind not in PERIODS:
        errors.append("period")
        kind = "month"
    day = today
    raw = (args.get("date") or "").strip()[:10]
    if raw:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            errors.append("date")
        if not FIRST_DAY <= day <= LAST_DAY:
            errors.append("date")
            day = today
    breakdown = (args.get("by") or "queue").strip()
    if breakdown not in BREAKDOWNS:
        errors.append("by")
        breakdown = "queue"
    return Choice(period_of(kind, day), breakdown, tuple(errors))


@dataclasses.dataclass(frozen=True)
class Figures:
    """The KPIs of one tally, as the page shows them (None: undefined)."""

    inbound: int
    offered: int
    handled: int
    service_level_15: float | None
    service_level_target: float | None
    ivr_abandonment: float | None
    queue_abandonment: float | None
    average_speed_of_answer: float | None
    average_handle_time: float | None
    handle_time_p90: int | None
    calls_per_operator_hour: float | None
    occupancy: float | None
    first_contact_resolution: float | None
    language_match: float | None


def figures(tally: Tally, kpi: KpiSettings) -> Figures:
    short = kpi.short_abandon_seconds
    return Figures(
        inbound=tally.inbound, offered=tally.offered, handled=formulas.handled(tally),
        service_level_15=formulas.service_level(tally, formulas.STANDARD_SECONDS, short),
        service_level_target=formulas.service_level(tally, kpi.target_seconds, short),
        ivr_abandonment=formulas.ivr_abandonment_rate(tally, short),
        queue_abandonment=formulas.queue_abandonment_rate(tally, short),
        average_speed_of_answer=formulas.average_speed_of_answer(tally),
        average_handle_time=formulas.average_handle_time(tally),
        handle_time_p90=formulas.handle_time_percentile(tally),
        calls_per_operator_hour=formulas.calls_per_operator_hour(tally),
        occupancy=formulas.occupancy(tally),
        first_contact_resolution=formulas.first_contact_resolution(tally),
        language_match=formulas.language_match_rate(tally),
    )


@dataclasses.dataclass(frozen=True)
class Report:
    period: Period
    breakdown: str
    kpi: KpiSettings
    total: Tally
    overall: Figures
    members: list[tuple[str, Figures]]  # (member key, its figures), most calls first
    days: list[tuple[dt.date, Tally]]  # each day's "all" tally (trend lines, heat map)
    daily: list[tuple[dt.date, Figures]]
    funnel: list[formulas.FunnelNode]
    invalid_keys: list[tuple[str, str, int]]
    callbacks: formulas.Callbacks
    satisfaction: formulas.Satisfaction


def build_report(session: Session, period: Period, breakdown: str, settings: Any, now: dt.datetime) -> Report:
    tz: ZoneInfo = settings.tz
    kpi = KpiSettings.of(settings)
    by_day = rollup.day_tallies(session, period.first, period.last, breakdown, tz, now)
    total = merged(tallies.get(facts.ALL, Tally()) for tallies in by_day.values())
    per_member: dict[str, Tally] = {}
    for tallies in by_day.values():
        for (dimension, member), tally in tallies.items():
            if dimension == breakdown:
                per_member.setdefault(member, Tally()).add(tally)
    members = sorted(per_member.items(), key=lambda item: (-item[1].inbound, -formulas.handled(item[1]), item[0]))
    days = [(day, tallies.get(facts.ALL, Tally())) for day, tallies in by_day.items()]
    start = facts.local_day_bounds(period.first, tz)[0]
    end = facts.local_day_bounds(period.last, tz)[1]
    return Report(
        period=period, breakdown=breakdown, kpi=kpi, total=total, overall=figures(total, kpi),
        members=[(member, figures(tally, kpi)) for member, tally in members],
        days=days, daily=[(day, figures(tally, kpi)) for day, tally in days],
        funnel=formulas.ivr_funnel(total), invalid_keys=formulas.invalid_keys(total),
        callbacks=formulas.callbacks(facts.callback_rows(session, start, end)),
        satisfaction=formulas.satisfaction(facts.survey_rows(session, start, end)),
    )
