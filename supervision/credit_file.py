"""A provider's credit file (诚信档案): its record as one timeline, newest first.

Registration, grade changes, ratings, complaints and disputes and their outcome, commendations and
sanctions (and reinstatements), workers' certificates and trainings with expiry dates.
Also the certificates expiring soon, for supervisors to follow up.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import (
    ANSWERED_SURVEYS,
    Certificate,
    Complaint,
    CreditMeasure,
    Dispute,
    GradeChange,
    Provider,
    ProviderStatus,
    Survey,
    SurveyStatus,
    Worker,
)
from supervision.grading import LOCAL, local_today

FOLLOW_UP_DAYS = 30


@dataclass(frozen=True)
class Event:
    """One line of the timeline. `kind` picks its wording in the console."""

    at: dt.datetime
    kind: str  # registered, grade, rating, complaint, complaint_outcome, dispute, dispute_outcome,
    #            <measure kind>, reinstated, certificate, certificate_expires, training
    details: dict[str, Any] = field(default_factory=dict)
    date_only: bool = False  # certificates and trainings carry a day, not a time


def _day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), LOCAL).astimezone(dt.timezone.utc)


def timeline(session: Session, provider: Provider, *, limit: int = 200) -> list[Event]:
    events = [Event(provider.created_at, "registered")]
    for change in session.scalars(select(GradeChange).where(GradeChange.provider_id == provider.id)):
        events.append(Event(change.at, "grade", {"source": change.source.value, "from": change.previous_grade,
                                                 "to": change.grade, "note": change.note}))
    for survey in session.scalars(select(Survey).where(Survey.provider_id == provider.id,
                                                       Survey.status == SurveyStatus.COMPLETED, ANSWERED_SURVEYS,
                                                       Survey.rating.is_not(None))):
        events.append(Event(survey.completed_at or survey.created_at, "rating", {"rating": survey.rating}))
    for complaint in session.scalars(select(Complaint).where(Complaint.provider_id == provider.id)):
        events.append(Event(complaint.created_at, "complaint", {"id": complaint.id}))
        if complaint.resolved_at is not None:
            events.append(Event(complaint.resolved_at, "complaint_outcome",
                                {"id": complaint.id, "upheld": complaint.upheld, "resolution": complaint.resolution}))
    for dispute in session.scalars(select(Dispute).where(Dispute.provider_id == provider.id)):
        events.append(Event(dispute.opened_at, "dispute", {"id": dispute.id, "origin": dispute.origin.value}))
        if dispute.closed_at is not None:
            events.append(Event(dispute.closed_at, "dispute_outcome", {"id": dispute.id, "outcome": dispute.outcome.value,
                                                                       "remedy": dispute.remedy}))
    for measure in session.scalars(select(CreditMeasure).where(CreditMeasure.provider_id == provider.id)):
        events.append(Event(measure.starts_at, measure.kind.value, {"reason": measure.reason, "ends_at": measure.ends_at}))
        if measure.lifted_at is not None:
            events.append(Event(measure.lifted_at, "reinstated", {"reason": measure.lift_reason}))
    workers = session.scalars(select(Worker).options(selectinload(Worker.certificates), selectinload(Worker.trainings))
                              .where(Worker.provider_id == provider.id))
    for worker in workers:
        for certificate in worker.certificates:
            events.append(Event(_day(certificate.issued_on), "certificate",
                                {"worker": worker.name, "kind": certificate.kind, "expires_on": certificate.expires_on},
                                date_only=True))
        for training in worker.trainings:
            events.append(Event(_day(training.completed_on), "training",
                                {"worker": worker.name, "course": training.course}, date_only=True))
    events.sort(key=lambda event: event.at, reverse=True)
    return events[:limit]


def worker_timeline(session: Session, worker: Worker) -> list[Event]:
    """A worker's file: joining the provider, certificates (with expiry) and trainings."""
    events = [Event(worker.created_at, "joined", {"provider": worker.provider.name})]
    for certificate in worker.certificates:
        events.append(Event(_day(certificate.issued_on), "certificate",
                            {"worker": worker.name, "kind": certificate.kind, "number": certificate.number,
                             "expires_on": certificate.expires_on}, date_only=True))
    for training in worker.trainings:
        events.append(Event(_day(training.completed_on), "training",
                            {"worker": worker.name, "course": training.course, "hours": training.hours}, date_only=True))
    events.sort(key=lambda event: event.at, reverse=True)
    return events


def expiring_certificates(session: Session, now: dt.datetime, days: int = FOLLOW_UP_DAYS) -> list[Certificate]:
    """Certificates of active workers that expire within `days` days (today included)."""
    today = local_today(now)
    return list(session.scalars(
        select(Certificate).join(Worker).options(selectinload(Certificate.worker).selectinload(Worker.provider))
        .where(Worker.active, Certificate.expires_on >= today, Certificate.expires_on <= today + dt.timedelta(days=days))
        .order_by(Certificate.expires_on, Certificate.id)))


def out_of_dispatch(session: Session, now: dt.datetime) -> list[Provider]:
    """Providers removed, or within a suspension for N days: for the supervisors' page."""
    return list(session.scalars(select(Provider).where(
        (Provider.status != ProviderStatus.ACTIVE) | (Provider.suspended_until > now)).order_by(Provider.name)))
