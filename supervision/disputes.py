"""Disputes (纠纷处理) between a caller and a provider: intake, statements, mediation, outcome.

A dispute is taken in from a complaint (escalated), a low survey rating or by an
operator; it must be closed within N working days (Heyuan's calendar: Monday to Friday,
less the menu's holidays, plus its make-up working days, 调休). Both sides' statements
and the mediation steps are kept; it ends with an outcome (upheld, partly upheld,
rejected, withdrawn) and a remedy. The outcome lands in the provider's credit file, and
an upheld or partly upheld one counts as a dispute lost in the next grading.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from db.audit import record
from db.base import utcnow
from db.errors import Refused
from db.models import (
    Caller,
    Complaint,
    Dispute,
    DisputeOrigin,
    DisputeOutcome,
    DisputeSide,
    DisputeStatement,
    DisputeStatus,
    DisputeStep,
    Provider,
    ServiceRequest,
    Survey,
    SurveyStatus,
    User,
)
from supervision.grading import local_today

DEADLINE_WORKING_DAYS = 15
LOW_RATING = 2  # a survey rated at or below this may become a dispute
CANDIDATE_DAYS = 90  # low ratings offered as candidates: the last 90 days
CLOSING_OUTCOMES = (DisputeOutcome.UPHELD, DisputeOutcome.PARTLY_UPHELD, DisputeOutcome.REJECTED)


class DisputeRefused(Refused):
    pass


# --- the working-day calendar ------------------------------------------------------------


@dataclass(frozen=True)
class WorkingCalendar:
    """Monday to Friday are working days, except holidays; a make-up working day (调休,
    a Saturday or Sunday worked in exchange for a longer holiday) is one too."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_hours(cls, hours) -> "WorkingCalendar":
        """From the IVR menu's [hours] (ivr.menu.BusinessHours): its holidays and workdays."""
        return cls(frozenset(hours.holidays), frozenset(hours.workdays))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.holidays:
            return False
        return day in self.workdays or day.isoweekday() <= 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (the day of intake does not count)."""
        if days < 1:
            raise ValueError(f"a deadline is at least one working day, not {days}")
        day, counted = start, 0
        while counted < days:
            day += dt.timedelta(days=1)
            counted += self.is_working_day(day)
        return day


def deadline_for(opened_at: dt.datetime, calendar: WorkingCalendar, days: int) -> dt.date:
    return calendar.add_working_days(local_today(opened_at), days)


def is_overdue(dispute: Dispute, now: dt.datetime) -> bool:
    """Still open after its deadline day has ended (in Heyuan)."""
    return dispute.status != DisputeStatus.CLOSED and dispute.deadline < local_today(now)


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """What every intake needs besides its source: the calendar, the working days, the time."""

    calendar: WorkingCalendar
    days: int = DEADLINE_WORKING_DAYS
    now: dt.datetime | None = None


def _text(value: str | None, code: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DisputeRefused(code, message)
    return value


def _open(session: Session, terms: Terms, user: User | None, *, provider_id: int | None, origin: DisputeOrigin,
          summary: str, caller_id: int | None = None, request_id: int | None = None,
          complaint: Complaint | None = None, survey: Survey | None = None) -> Dispute:
    if provider_id is None:
        raise DisputeRefused("dispute_needs_provider", "a dispute is with a provider: none is named")
    now = terms.now or utcnow()
    dispute = Dispute(caller_id=caller_id, provider_id=provider_id, request_id=request_id, origin=origin,
                      complaint=complaint, survey=survey,
                      summary=_text(summary, "dispute_summary_required", "say what the dispute is about"),
                      status=DisputeStatus.OPEN, opened_at=now, opened_by_id=user.id if user else None,
                      deadline=deadline_for(now, terms.calendar, terms.days))
    session.add(dispute)
    try:
        session.flush()
    except IntegrityError:
        # The check in open_from_complaint/open_from_survey passed, but another request (a
        # double click on 转为纠纷) took the same source in since: its unique key refuses this one.
        raise DisputeRefused("already_disputed", "the complaint or survey became a dispute meanwhile") from None
    record(session, user, "open", dispute, {"origin": origin.value, "provider_id": provider_id,
                                            "deadline": dispute.deadline.isoformat()})
    return dispute


def dispute_of_complaint(session: Session, complaint_id: int) -> Dispute | None:
    return session.scalar(select(Dispute).where(Dispute.complaint_id == complaint_id))


def dispute_of_survey(session: Session, survey_id: int) -> Dispute | None:
    return session.scalar(select(Dispute).where(Dispute.survey_id == survey_id))


def open_from_complaint(session: Session, complaint: Complaint, terms: Terms, user: User | None,
                        summary: str | None = None) -> Dispute:
    """Escalate a complaint: the dispute keeps it as its source, and the complaint shows it."""
    if dispute_of_complaint(session, complaint.id) is not None:
        raise DisputeRefused("already_disputed", f"complaint #{complaint.id} is already a dispute")
    return _open(session, terms, user, provider_id=complaint.provider_id, origin=DisputeOrigin.COMPLAINT,
                 summary=summary or complaint.description, caller_id=complaint.caller_id,
                 request_id=complaint.request_id, complaint=complaint)


def open_from_survey(session: Session, survey: Survey, terms: Terms, user: User | None,
                     summary: str | None = None, low_rating: int = LOW_RATING) -> Dispute:
    """A survey rated `low_rating` stars or fewer taken up as a dispute."""
    if survey.status != SurveyStatus.COMPLETED or survey.rating is None or survey.rating > low_rating:
        raise DisputeRefused("not_low_rating", f"survey #{survey.id} is not rated {low_rating} stars or fewer",
                             most=low_rating)
    if dispute_of_survey(session, survey.id) is not None:
        raise DisputeRefused("already_disputed", f"survey #{survey.id} is already a dispute")
    return _open(session, terms, user, provider_id=survey.provider_id, origin=DisputeOrigin.LOW_RATING,
                 summary=summary or f"回访评分{survey.rating}星", caller_id=survey.caller_id,
                 request_id=survey.request_id, survey=survey)


def open_by_operator(session: Session, terms: Terms, user: User | None, *, provider: Provider | None,
                     summary: str, caller: Caller | None = None, request: ServiceRequest | None = None) -> Dispute:
    """Taken in by an operator (from a caller on the line, or a letter): the provider is
    the one named, or else the one the request was last dispatched to."""
    if provider is None and request is not None and request.dispatches:
        provider = request.dispatches[-1].provider
    if caller is None and request is not None:
        caller = request.caller
    return _open(session, terms, user, provider_id=provider.id if provider else None, origin=DisputeOrigin.OPERATOR,
                 summary=summary, caller_id=caller.id if caller else None,
                 request_id=request.id if request else None)


# --- mediation ------------------------------------------------------------------------------


def _still_open(dispute: Dispute) -> None:
    if dispute.status == DisputeStatus.CLOSED:
        raise DisputeRefused("dispute_closed", f"dispute #{dispute.id} is closed", id=dispute.id)


def _move(session: Session, dispute: Dispute, status: DisputeStatus) -> None:
    """Set the status only if the dispute is still open in the database: the row in hand was
    read earlier, and a colleague (or a second click) may have closed it since. Without
    this a second closing overwrote the first's outcome, and a late statement reopened a
    closed dispute."""
    moved = session.execute(update(Dispute).where(Dispute.id == dispute.id, Dispute.status != DisputeStatus.CLOSED)
                            .values(status=status).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise DisputeRefused("dispute_closed", f"dispute #{dispute.id} is closed", id=dispute.id)
    set_committed_value(dispute, "status", status)


def add_statement(session: Session, dispute: Dispute, side: DisputeSide, author: str, text: str,
                  user: User | None, now: dt.datetime | None = None) -> DisputeStatement:
    _still_open(dispute)
    statement = DisputeStatement(side=DisputeSide(side), author=_text(author, "author_required", "say who said it"),
                                 text=_text(text, "statement_required", "a statement needs its words"),
                                 at=now or utcnow(), recorded_by_id=user.id if user else None)
    _move(session, dispute, DisputeStatus.MEDIATING)
    dispute.statements.append(statement)
    session.flush()
    record(session, user, "statement", dispute, {"side": statement.side.value, "statement_id": statement.id})
    return statement


def add_step(session: Session, dispute: Dispute, on: dt.date, note: str, user: User | None,
             now: dt.datetime | None = None) -> DisputeStep:
    """A mediation step on a day between the intake and today (Heyuan's days)."""
    _still_open(dispute)
    now = now or utcnow()
    if not isinstance(on, dt.date) or isinstance(on, dt.datetime):
        raise DisputeRefused("not_a_day", f"a step's day is a date, not {on!r}")
    opened, today = local_today(dispute.opened_at), local_today(now)
    if not opened <= on <= today:
        raise DisputeRefused("bad_step_day", f"a step's day is from {opened} to {today}, not {on}",
                             first=opened.isoformat(), last=today.isoformat())
    step = DisputeStep(on=on, note=_text(note, "step_note_required", "say what was done"), recorded_at=now,
                       recorded_by_id=user.id if user else None)
    _move(session, dispute, DisputeStatus.MEDIATING)
    dispute.steps.append(step)
    session.flush()
    record(session, user, "step", dispute, {"on": on.isoformat(), "step_id": step.id})
    return step


def close(session: Session, dispute: Dispute, outcome: DisputeOutcome, remedy: str | None, note: str | None,
          user: User | None, now: dt.datetime | None = None) -> Dispute:
    """The outcome: upheld and partly upheld need the remedy the provider owes."""
    _still_open(dispute)
    try:
        outcome = DisputeOutcome(outcome)
    except ValueError:
        raise DisputeRefused("bad_outcome", f"an outcome is one of upheld, partly_upheld, rejected: {outcome!r}") from None
    if outcome not in CLOSING_OUTCOMES:
        raise DisputeRefused("bad_outcome", "a withdrawal is recorded with withdraw()")
    remedy = (remedy or "").strip() or None
    if outcome != DisputeOutcome.REJECTED and remedy is None:
        raise DisputeRefused("remedy_required", "an upheld dispute needs the remedy the provider owes")
    return _finish(session, dispute, outcome, remedy, (note or "").strip() or None, user, now)


def withdraw(session: Session, dispute: Dispute, reason: str, user: User | None,
             now: dt.datetime | None = None) -> Dispute:
    """The caller withdrew: closed without a finding against either side."""
    _still_open(dispute)
    reason = _text(reason, "reason_required", "a withdrawal needs its reason")
    return _finish(session, dispute, DisputeOutcome.WITHDRAWN, None, reason, user, now)


def _finish(session: Session, dispute: Dispute, outcome: DisputeOutcome, remedy: str | None, note: str | None,
            user: User | None, now: dt.datetime | None) -> Dispute:
    _move(session, dispute, DisputeStatus.CLOSED)
    dispute.outcome, dispute.remedy, dispute.closing_note = outcome, remedy, note
    dispute.closed_at, dispute.closed_by_id = now or utcnow(), user.id if user else None
    session.flush()
    record(session, user, "close", dispute, {"outcome": outcome.value, "remedy": remedy, "note": note})
    return dispute


# --- lists ----------------------------------------------------------------------------------

def listed(session: Session, show: str, now: dt.datetime, limit: int = 200) -> list[Dispute]:
    """Disputes for the list: open (nearest deadline first), overdue, closed (latest first), all."""
    query = select(Dispute).options(selectinload(Dispute.provider), selectinload(Dispute.caller))
    if show == "closed":
        query = query.where(Dispute.status == DisputeStatus.CLOSED).order_by(Dispute.closed_at.desc(), Dispute.id.desc())
    elif show == "all":
        query = query.order_by(Dispute.opened_at.desc(), Dispute.id.desc())
    else:
        query = query.where(Dispute.status != DisputeStatus.CLOSED).order_by(Dispute.deadline, Dispute.id)
        if show == "overdue":
            query = query.where(Dispute.deadline < local_today(now))
    return list(session.scalars(query.limit(limit)))


def overdue_count(session: Session, now: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(Dispute).where(
        Dispute.status != DisputeStatus.CLOSED, Dispute.deadline < local_today(now))) or 0


def low_rating_candidates(session: Session, now: dt.datetime, low_rating: int = LOW_RATING,
                          limit: int = 50) -> list[Survey]:
    """Surveys of the last 90 days rated `low_rating` or fewer stars, not yet a dispute."""
    since = now - dt.timedelta(days=CANDIDATE_DAYS)
    disputed = select(Dispute.survey_id).where(Dispute.survey_id.is_not(None))
    return list(session.scalars(
        select(Survey).options(selectinload(Survey.provider), selectinload(Survey.caller), selectinload(Survey.request))
        .where(Survey.status == SurveyStatus.COMPLETED, Survey.rating <= low_rating, Survey.provider_id.is_not(None),
               Survey.completed_at >= since, Survey.id.not_in(disputed))
        .order_by(Survey.completed_at.desc()).limit(limit)))


@dataclass(frozen=True)
class Entry:
    """One line of a dispute's timeline: intake, a statement, a step, the outcome."""

    day: dt.date  # Heyuan's day it happened on (a step's own day)
    at: dt.datetime  # when it was recorded
    kind: str  # opened, statement, step, closed
    item: object = None


def timeline(dispute: Dispute) -> list[Entry]:
    """Oldest first, by the day each happened, then by when it was recorded (a step
    written up days later stands on its own day)."""
    entries = [Entry(local_today(dispute.opened_at), dispute.opened_at, "opened", dispute)]
    entries += [Entry(local_today(s.at), s.at, "statement", s) for s in dispute.statements]
    entries += [Entry(s.on, s.recorded_at, "step", s) for s in dispute.steps]
    if dispute.closed_at is not None:
        entries.append(Entry(local_today(dispute.closed_at), dispute.closed_at, "closed", dispute))
    return sorted(entries, key=lambda entry: (entry.day, entry.at))
