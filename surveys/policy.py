"""Satisfaction surveys: when to call, who to call, and what the answers do.

A completed request gets a survey after a delay, in the caller's language. Calls are
only claimed inside the calling window (no calls in quiet hours, on days off or
holidays), under a daily cap per caller and a global cap on survey calls in progress.
Claims are exclusive across dialers: PostgreSQL serialises them with a transaction
advisory lock and takes rows FOR UPDATE SKIP LOCKED; SQLite has a single writer. A
claim is written before the call is placed, and an attempt before Originate is sent, so
a dialer that dies leaves a trail another dialer settles without calling anyone twice.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, exists, func, insert, inspect, literal, select, text, update
from sqlalchemy.orm import Session

from db.base import UTCDateTime, utcnow
from db.errors import Refused
from db.models import (
    AttemptOutcome,
    CallbackReason,
    CallbackTask,
    Caller,
    Dispatch,
    DispatchStatus,
    Language,
    Provider,
    RequestStatus,
    RequestStatusChange,
    ServiceRequest,
    Survey,
    SurveyAttempt,
    SurveyStatus,
    TaskStatus,
)
from db.service_requests import change_status
from ivr.menu import BusinessHours

log = logging.getLogger(__name__)
# Any fixed number: the key of the advisory lock that serialises claims on PostgreSQL.
CLAIM_LOCK_KEY = 0x486F746C  # "Hotl"
SCHEDULE_LOCK_KEY = CLAIM_LOCK_KEY + 1  # enqueues take turns (claims need not wait for them)
RATING_DAYS = 90
LOW_RATING = 2  # 1 or 2 stars: a supervisor follows up
# OriginateResponse Reason → how the attempt ended.
ORIGINATE_REASONS = {"4": AttemptOutcome.ANSWERED, "5": AttemptOutcome.BUSY, "1": AttemptOutcome.NO_ANSWER,
                     "3": AttemptOutcome.NO_ANSWER, "8": AttemptOutcome.CONGESTION, "0": AttemptOutcome.FAILED}


@dataclass(frozen=True)
class SurveyPolicy:
    delay: dt.timedelta
    window: BusinessHours  # when survey calls may be placed (outside the quiet hours)
    tz: dt.tzinfo
    daily_cap: int
    max_attempts: int
    retry: dict[AttemptOutcome, dt.timedelta]
    max_channels: int
    calls_per_second: float
    claim_timeout: dt.timedelta
    default_language: str

    @classmethod
    def from_settings(cls, settings, menu) -> "SurveyPolicy":
        survey = settings.survey
        minutes = lambda value: dt.timedelta(minutes=value)  # noqa: E731
        return cls(
            delay=minutes(survey.delay_minutes),
            window=BusinessHours(frozenset(survey.weekdays), survey.quiet_until, survey.quiet_from,
                                 menu.hours.holidays, menu.hours.workdays),
            tz=settings.tz,
            daily_cap=survey.daily_cap_per_caller,
            max_attempts=survey.max_attempts,
            retry={AttemptOutcome.BUSY: minutes(survey.retry_busy_minutes),
                   AttemptOutcome.NO_ANSWER: minutes(survey.retry_no_answer_minutes),
                   AttemptOutcome.CONGESTION: minutes(survey.retry_failed_minutes),
                   AttemptOutcome.FAILED: minutes(survey.retry_failed_minutes),
                   AttemptOutcome.NO_INPUT: minutes(survey.retry_no_input_minutes)},
            max_channels=survey.max_channels,
            calls_per_second=survey.calls_per_second,
            claim_timeout=dt.timedelta(seconds=survey.claim_timeout_seconds),
            default_language=menu.default_language,
        )

    def may_call(self, now: dt.datetime) -> bool:
        return self.window.is_open(now.astimezone(self.tz))

    def day_start(self, now: dt.datetime) -> dt.datetime:
        local = now.astimezone(self.tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Claimed:
    survey_id: int
    phone: str
    language: str


# --- scheduling ---------------------------------------------------------------------------


def schedule_completed(session: Session, policy: SurveyPolicy, now: dt.datetime | None = None) -> int:
    """One survey for every request completed at least `delay` ago that has none yet.

    One INSERT … SELECT, so a backlog of any size is queued at once. Callers who opted
    out, and requests without a caller, get none.
    """
    now = now or utcnow()
    session.flush()  # the statement goes straight to the connection: pending changes first
    completed_at = (select(func.max(RequestStatusChange.at))
                    .where(RequestStatusChange.request_id == ServiceRequest.id,
                           RequestStatusChange.to_status == RequestStatus.COMPLETED)
                    .scalar_subquery())
    provider = (select(Dispatch.provider_id)
                .where(Dispatch.request_id == ServiceRequest.id, Dispatch.status == DispatchStatus.ACCEPTED)
                .order_by(Dispatch.offered_at.desc()).limit(1).scalar_subquery())
    due = (
        select(ServiceRequest.id, ServiceRequest.caller_id, provider,
               func.coalesce(Caller.language, literal(policy.default_language)), literal(now),
               literal(SurveyStatus.SCHEDULED.value), literal(0), literal(now))
        .join(Caller, Caller.id == ServiceRequest.caller_id)
        .where(ServiceRequest.status == RequestStatus.COMPLETED, Caller.do_not_call.is_(False),
               ~exists().where(Survey.request_id == ServiceRequest.id), completed_at <= now - policy.delay)
    )
    columns = ["request_id", "caller_id", "provider_id", "language", "due_at", "status", "attempt_count", "created_at"]
    # The count of rows written, not 100,000 ids returned to be counted (the driver drops
    # an INSERT's rowcount unless asked to keep it).
    statement = insert(Survey.__table__).from_select(columns, due).execution_options(preserve_rowcount=True)
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        # Another dialer may queue the same requests meanwhile: enqueues take turns, the
        # lock taken before the statement's snapshot, so "no survey yet" sees every survey
        # the other queued. (Not ON CONFLICT DO NOTHING: its speculative insertion probes
        # the unique index first and writes one more WAL record a row, bench B4.) SQLite
        # has a single writer, whose statement reads the newest data or fails with "busy".
        connection.execute(select(func.pg_advisory_xact_lock(SCHEDULE_LOCK_KEY)))
        # With a surveys table that looks empty, PostgreSQL checks "no survey yet" with a
        # nested loop rescanning the very table this statement fills: quadratic (47 s
        # for 100,000). Hash or merge joins read it once.
        # (JIT compiling costs more than it saves on this one-pass statement.)
        connection.execute(text("SET LOCAL enable_nestloop = off; SET LOCAL jit = off"))
        result = connection.execute(statement)
        connection.execute(text("SET LOCAL enable_nestloop TO DEFAULT; SET LOCAL jit TO DEFAULT"))
    else:
        result = connection.execute(statement)
    return result.rowcount


def cancel_opted_out(session: Session) -> int:
    """A caller who asked not to be called has every waiting survey cancelled."""
    opted_out = select(Caller.id).where(Caller.do_not_call.is_(True))
    session.flush()
    result = session.connection().execute(update(Survey.__table__).where(Survey.status == SurveyStatus.SCHEDULED,
                                                  Survey.caller_id.in_(opted_out))
                             .values(status=SurveyStatus.CANCELLED))
    return result.rowcount or 0


# --- claiming -----------------------------------------------------------------------------


def claim(session: Session, policy: SurveyPolicy, dialer: str, limit: int, now: dt.datetime | None = None) -> list[Claimed]:
    """Take up to `limit` due surveys for this dialer, exclusively; [] in quiet hours.

    One statement applies the caps, picks the surveys and marks them claimed: a claim
    costs one round trip however many surveys it takes.
    """
    now = now or utcnow()
    if limit <= 0 or not policy.may_call(now):
        return []
    dialect = session.get_bind().dialect.name
    session.flush()  # the statement goes straight to the connection: pending changes first
    connection = session.connection()
    if dialect == "postgresql":
        # Taken before the claim statement's snapshot: its counts see every claim
        # committed before it.
        connection.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
    # Calls per second, across every dialer: attempts started in the last window count.
    window = dt.timedelta(seconds=max(1.0, 1.0 / policy.calls_per_second))
    rows = connection.execute(_claim_statement(dialect), {
        "limit": limit, "max_channels": policy.max_channels, "window_start": now - window,
        "per_window": max(1, int(policy.calls_per_second * window.total_seconds())),
        "day_start": policy.day_start(now), "daily_cap": policy.daily_cap, "now": now, "dialer": dialer[:64],
    }).all()
    rows.sort(key=lambda row: (row.due_at, row.id))  # RETURNING keeps no order
    if session.identity_map:
        # A survey this session already holds must not keep its pre-claim status.
        claimed = {row.id for row in rows}
        for held in list(session.identity_map.values()):
            if isinstance(held, Survey) and inspect(held).identity[0] in claimed:
                session.expire(held)
    return [Claimed(row.id, row.phone, row.language.value if isinstance(row.language, Language) else row.language)
            for row in rows]


@functools.cache
def _claim_statement(dialect: str):
    """UPDATE … FROM (due surveys within every cap, one per caller) RETURNING whom to dial.

    Built once: the values come as parameters, so the driver may prepare it.
    """
    surveys, attempts, callers = Survey.__table__, SurveyAttempt.__table__, Caller.__table__
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    in_progress = select(func.count()).where(surveys.c.status == SurveyStatus.DIALLING).scalar_subquery()
    started = select(func.count()).where(attempts.c.started_at > bindparam("window_start", type_=UTCDateTime)
                                         ).scalar_subquery()
    room = select(greatest(0, least(bindparam("limit", type_=Integer),
                                    bindparam("max_channels", type_=Integer) - in_progress,
                                    bindparam("per_window", type_=Integer) - started)).label("n")).cte("room")
    earlier = surveys.alias("earlier")
    called_today = (select(func.count()).select_from(attempts.join(earlier, earlier.c.id == attempts.c.survey_id))
                    .where(earlier.c.caller_id == surveys.c.caller_id,
                           attempts.c.started_at >= bindparam("day_start", type_=UTCDateTime))
                    .scalar_subquery())
    # Twice the room: a caller with several due surveys is called for one of them only.
    candidates = (select(surveys.c.id, surveys.c.caller_id, surveys.c.due_at, callers.c.phone)
                  .join(callers, callers.c.id == surveys.c.caller_id)
                  .where(surveys.c.status == SurveyStatus.SCHEDULED,
                         surveys.c.due_at <= bindparam("now", type_=UTCDateTime), callers.c.do_not_call.is_(False),
                         called_today < bindparam("daily_cap", type_=Integer))
                  .order_by(surveys.c.due_at, surveys.c.id).limit(select(room.c.n * 2).scalar_subquery()))
    if dialect == "postgresql":
        candidates = candidates.with_for_update(of=surveys, skip_locked=True)
    candidates = candidates.cte("candidates")
    ranked = select(candidates, func.row_number().over(partition_by=candidates.c.caller_id,
                                                         order_by=(candidates.c.due_at, candidates.c.id)).label("nth")
                    ).subquery("ranked")
    picked = (select(ranked.c.id.label("survey_id"), ranked.c.phone)
              .where(ranked.c.nth == 1)  # one call at a time to anybody
              .order_by(ranked.c.due_at, ranked.c.id).limit(select(room.c.n).scalar_subquery()).cte("picked"))
    if dialect == "postgresql":
        phone = picked.c.phone
    else:
        # SQLite's RETURNING may name only the updated table (and SQLAlchemy writes its
        # columns there unqualified, so the subquery's own are named apart: callers.id).
        phone = select(callers.c.phone).where(callers.c.id == surveys.c.caller_id).scalar_subquery()
    return (update(surveys).where(surveys.c.id == picked.c.survey_id)
            .values(status=SurveyStatus.DIALLING, claimed_by=bindparam("dialer"), claimed_at=bindparam("now"),
                    attempt_count=surveys.c.attempt_count + 1)
            .returning(surveys.c.id, surveys.c.due_at, surveys.c.language, phone.label("phone")))


def start_attempt(session: Session, survey_id: int, action_id: str, now: dt.datetime | None = None) -> SurveyAttempt:
    """Written (and committed) before Originate is sent: the trail of a call that may be placed."""
    attempt = SurveyAttempt(survey_id=survey_id, action_id=action_id, started_at=now or utcnow())
    session.add(attempt)
    session.flush()
    return attempt


# --- settling -----------------------------------------------------------------------------


def _reschedule(survey: Survey, outcome: AttemptOutcome, policy: SurveyPolicy, now: dt.datetime) -> None:
    survey.claimed_by = survey.claimed_at = None
    if survey.attempt_count >= policy.max_attempts:
        survey.status = SurveyStatus.FAILED
    else:
        survey.status = SurveyStatus.SCHEDULED
        survey.due_at = now + policy.retry[outcome]


def settle_originate(session: Session, action_id: str, reason: str, policy: SurveyPolicy,
                     now: dt.datetime | None = None) -> SurveyAttempt | None:
    """The OriginateResponse for an attempt: answered calls go on to the survey IVR."""
    now = now or utcnow()
    attempt = session.scalar(select(SurveyAttempt).where(SurveyAttempt.action_id == action_id))
    if attempt is None or attempt.outcome is not None:
        return attempt  # not ours, or already settled (replayed event)
    outcome = ORIGINATE_REASONS.get(reason, AttemptOutcome.FAILED)
    attempt.originate_reason = int(reason) if reason.isdigit() else None
    if outcome == AttemptOutcome.ANSWERED:
        return attempt  # the survey IVR records what the caller does
    attempt.outcome, attempt.ended_at = outcome, now
    survey = attempt.survey
    if survey.status == SurveyStatus.DIALLING:
        _reschedule(survey, outcome, policy, now)
    return attempt


def recover_stale(session: Session, policy: SurveyPolicy, now: dt.datetime | None = None) -> int:
    """Surveys a vanished dialer claimed. Never dialled: back in line at once. Perhaps
    dialled (an attempt without an answer): counted as a failed call and retried later,
    so nobody is called twice in a row."""
    now = now or utcnow()
    stale = session.scalars(select(Survey).where(Survey.status == SurveyStatus.DIALLING,
                                                 Survey.claimed_at < now - policy.claim_timeout)).all()
    for survey in stale:
        open_attempts = [a for a in survey.attempts if a.outcome is None and a.started_at >= survey.claimed_at]
        if not open_attempts:
            survey.status, survey.claimed_by, survey.claimed_at = SurveyStatus.SCHEDULED, None, None
            survey.attempt_count -= 1  # the claim never became a call
            continue
        for attempt in open_attempts:
            attempt.outcome, attempt.ended_at = AttemptOutcome.FAILED, now
        _reschedule(survey, AttemptOutcome.FAILED, policy, now)
    return len(stale)


# --- the caller's answer -------------------------------------------------------------------


def _current_attempt(survey: Survey) -> SurveyAttempt | None:
    return survey.attempts[-1] if survey.attempts else None


def record_rating(session: Session, survey: Survey, rating: int, comment_file: str | None,
                  now: dt.datetime | None = None) -> None:
    """The caller rated the service: into the provider's credit file; 1–2 stars are followed up."""
    if not 1 <= rating <= 5:
        raise ValueError(f"a rating is 1 to 5, not {rating}")
    now = now or utcnow()
    survey.rating, survey.comment_recording = rating, comment_file
    survey.status, survey.completed_at = SurveyStatus.COMPLETED, now
    survey.claimed_by = None
    attempt = _current_attempt(survey)
    if attempt is not None and attempt.outcome is None:
        attempt.outcome, attempt.ended_at = AttemptOutcome.ANSWERED, now
    if survey.request.status == RequestStatus.COMPLETED:
        change_status(session, survey.request, RequestStatus.SURVEYED, now=now, note=f"{rating}★")
    session.flush()
    if survey.provider_id is not None:
        rollup_provider(session, survey.provider_id, now)
    if rating <= LOW_RATING:
        session.add(CallbackTask(
            caller_id=survey.caller_id, phone=survey.caller.phone, language=survey.language,
            reason=CallbackReason.SURVEY_FOLLOW_UP, request_id=survey.request_id, survey_id=survey.id,
            due_at=now, status=TaskStatus.PENDING,
            note=f"回访评分{rating}星：请班长回访（致电了解、返工或重新评价）"))


def record_no_input(session: Session, survey: Survey, policy: SurveyPolicy, now: dt.datetime | None = None) -> None:
    """Answered, but no key pressed: counts as no answer, to be tried again."""
    now = now or utcnow()
    attempt = _current_attempt(survey)
    if attempt is not None and attempt.outcome is None:
        attempt.outcome, attempt.ended_at = AttemptOutcome.NO_INPUT, now
    if survey.status == SurveyStatus.DIALLING:
        _reschedule(survey, AttemptOutcome.NO_INPUT, policy, now)


def rollup_provider(session: Session, provider_id: int, now: dt.datetime | None = None) -> None:
    """The provider's rating: average and count of survey ratings in the last 90 days."""
    since = (now or utcnow()) - dt.timedelta(days=RATING_DAYS)
    average, count = session.execute(
        select(func.avg(Survey.rating), func.count(Survey.rating))
        .where(Survey.provider_id == provider_id, Survey.status == SurveyStatus.COMPLETED,
               Survey.rating.is_not(None), Survey.completed_at >= since)).one()
    session.execute(update(Provider).where(Provider.id == provider_id)
                    .values(rating_avg=round(float(average), 2) if average is not None else None, rating_count=count))


# --- operators' controls --------------------------------------------------------------------


def reschedule(survey: Survey, due: dt.datetime) -> None:
    """An operator sets a new time; a failed or cancelled survey gets one more call."""
    if survey.status not in (SurveyStatus.SCHEDULED, SurveyStatus.FAILED, SurveyStatus.CANCELLED):
        raise Refused("survey_not_waiting", "only a survey that is waiting, failed or cancelled can be rescheduled")
    survey.status, survey.due_at, survey.claimed_by, survey.claimed_at = SurveyStatus.SCHEDULED, due, None, None


def cancel(survey: Survey) -> None:
    if survey.status in (SurveyStatus.COMPLETED, SurveyStatus.DIALLING):
        raise Refused("survey_in_progress", "a survey being called or already answered cannot be cancelled")
    survey.status = SurveyStatus.CANCELLED
