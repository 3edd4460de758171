"""Training sessions (培训班): who attended, and the certificates they gave.

A worker attending a session gets a training record (trainings, named by the session)
at once; a job seeker's attendance becomes one when they are hired (recruitment.py).
Certificates go to workers only: a certificate belongs in a provider's credit file, and
counts toward grading and the 70% figure until it expires.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit
from db.errors import Refused
from db.models import Certificate, JobSeeker, Training, TrainingAttendee, TrainingSession, User, Worker
from db.session import hold_row
from workforce.recruitment import looking_seeker

# A session may be recorded up to a year after it was held, or planned up to a year ahead.
SESSION_RANGE = dt.timedelta(days=366)


def create_session(session: Session, user: User | None, *, course: str, held_on: dt.date, trainer: str,
                   place: str | None, hours: int | None, today: dt.date) -> TrainingSession:
    if abs(held_on - today) > SESSION_RANGE:
        raise Refused("session_date", "a session's date must be within a year of today")
    ts = TrainingSession(course=course, held_on=held_on, trainer=trainer, place=place or None, hours=hours,
                         created_by_id=user.id if user else None)
    session.add(ts)
    session.flush()
    audit.record(session, user, "create", ts, {"course": course, "held_on": held_on.isoformat()})
    return ts


def attendee_by_phone(session: Session, phone: str) -> Worker | JobSeeker | None:
    """Whom a phone number names: an active worker first, else a seeker still looking."""
    worker = session.scalar(select(Worker).where(Worker.phone == phone, Worker.active).order_by(Worker.id.desc()).limit(1))
    return worker if worker is not None else looking_seeker(session, phone)


def attending(session: Session, ts: TrainingSession, person: Worker | JobSeeker) -> bool:
    column = TrainingAttendee.worker_id if isinstance(person, Worker) else TrainingAttendee.seeker_id
    return session.scalar(select(TrainingAttendee.id).where(TrainingAttendee.session_id == ts.id,
                                                            column == person.id)) is not None


def add_attendee(session: Session, user: User | None, ts: TrainingSession, person: Worker | JobSeeker) -> TrainingAttendee:
    """Record that a worker or a seeker attended; a worker's training record is written too."""
    is_worker = isinstance(person, Worker)
    if attending(session, ts, person):
        raise Refused("already_attending", "already an attendee of this session")
    attendee = TrainingAttendee(session=ts, worker=person if is_worker else None, seeker=None if is_worker else person)
    session.add(attendee)
    try:
        session.flush()
    except IntegrityError:
        # Added by another request (a double click on 添加学员) since the check above.
        raise Refused("already_attending", "already an attendee of this session") from None
    if is_worker:
        session.add(Training(worker_id=person.id, course=ts.course, completed_on=ts.held_on, hours=ts.hours,
                             session_id=ts.id))
        session.flush()
    audit.record(session, user, "attend", ts, {"worker": person.id} if is_worker else {"seeker": person.id})
    return attendee


def issue_certificate(session: Session, user: User | None, ts: TrainingSession, attendee: TrainingAttendee, *,
                      kind: str, number: str, expires_on: dt.date | None) -> Certificate:
    """A certificate the session gives a worker who attended it, issued on the session's day."""
    if attendee.session_id != ts.id:
        raise Refused("not_an_attendee", "not an attendee of this session")
    if attendee.worker_id is None:
        raise Refused("seeker_certificate", "a job seeker gets certificates once hired as a worker")
    if expires_on is not None and expires_on <= ts.held_on:
        raise Refused("certificate_expiry", "a certificate must expire after the day it is issued")
    # The session's row is written first (SQLite's write lock, a row lock on PostgreSQL): of
    # two sends at once the second waits here, then finds the first's certificate.
    hold_row(session, TrainingSession.course, ts.id)
    if session.scalar(select(Certificate.id).where(Certificate.worker_id == attendee.worker_id, Certificate.session_id == ts.id,
                                                   Certificate.kind == kind, Certificate.number == number).limit(1)):
        # 发证 clicked twice: one certificate, not two counted in the reports.
        raise Refused("certificate_issued", "this certificate was already issued to the worker at this session")
    certificate = Certificate(worker_id=attendee.worker_id, kind=kind, number=number, issued_on=ts.held_on,
                              expires_on=expires_on, session_id=ts.id)
    session.add(certificate)
    session.flush()
    audit.record(session, user, "certify", ts, {"worker": attendee.worker_id, "certificate": certificate.id})
    return certificate


@dataclass(frozen=True)
class TrainingSummary:
    sessions: int
    attendees: int  # attendances: a person at two sessions counts twice
    certificates: int


def training_summary(session: Session, first_day: dt.date, last_day: dt.date) -> TrainingSummary:
    """Sessions held from `first_day` to `last_day` (both included), their attendances, and
    the certificates they issued."""
    held = select(TrainingSession.id).where(TrainingSession.held_on >= first_day, TrainingSession.held_on <= last_day)
    sessions = session.scalar(select(func.count()).select_from(held.subquery())) or 0
    attendees = session.scalar(select(func.count()).select_from(TrainingAttendee)
                               .where(TrainingAttendee.session_id.in_(held))) or 0
    certificates = session.scalar(select(func.count()).select_from(Certificate)
                                  .where(Certificate.session_id.in_(held))) or 0
    return TrainingSummary(sessions, attendees, certificates)
