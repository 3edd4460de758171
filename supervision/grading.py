"""Grading providers (分类定级): the rule applied to their records, overrides, and history.

Every regrade writes a grade-history row per provider with the rule's reasons and inputs,
so "why three stars?" is answered by that row. A supervisor's override stands until the
next regrade, which replaces it unless the supervisor renewed it (a renewal lasts one
regrade). Dispatch ranking reads `providers.grade` (its base_score), so it follows.
"""
from __future__ import annotations

import datetime as dt
import statistics
import zoneinfo
from typing import Iterable

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from db.audit import record
from db.base import utcnow
from db.errors import Refused
from db.models import (
    Certificate,
    Complaint,
    CreditMeasure,
    CreditMeasureKind,
    Dispatch,
    DispatchStatus,
    DISPUTE_LOST_OUTCOMES,
    Dispute,
    GradeChange,
    GradeSource,
    Provider,
    Survey,
    SurveyStatus,
    User,
    Worker,
)
from supervision.rule import Inputs, Rule, Verdict

LOCAL = zoneinfo.ZoneInfo("Asia/Shanghai")
ANSWERED = (DispatchStatus.ACCEPTED, DispatchStatus.DECLINED, DispatchStatus.TIMED_OUT)


class GradingRefused(Refused):
    pass


def local_today(now: dt.datetime) -> dt.date:
    """Certificates expire by the day as written on them: Heyuan's day."""
    return now.astimezone(LOCAL).date()


def gather_inputs(session: Session, rule: Rule, providers: list[Provider], now: dt.datetime) -> dict[int, Inputs]:
    """Each provider's record as the rule reads it, a query per kind of evidence."""
    ids = [p.id for p in providers]
    if not ids:
        return {}
    rating_since = now - dt.timedelta(days=rule.rating_days)
    record_since = now - dt.timedelta(days=rule.record_days)
    today = local_today(now)
    ratings = {pid: (count, avg) for pid, count, avg in session.execute(
        select(Survey.provider_id, func.count(Survey.rating), func.avg(Survey.rating))
        .where(Survey.provider_id.in_(ids), Survey.status == SurveyStatus.COMPLETED, Survey.rating.is_not(None),
               Survey.completed_at >= rating_since, Survey.completed_at <= now)
        .group_by(Survey.provider_id))}
    workers = dict(session.execute(
        select(Worker.provider_id, func.count()).where(Worker.provider_id.in_(ids), Worker.active)
        .group_by(Worker.provider_id)).all())
    # An expired certificate no longer counts (nor one not yet issued).
    certified = dict(session.execute(
        select(Worker.provider_id, func.count(func.distinct(Worker.id))).join(Certificate)
        .where(Worker.provider_id.in_(ids), Worker.active, Certificate.issued_on <= today,
               (Certificate.expires_on.is_(None)) | (Certificate.expires_on >= today))
        .group_by(Worker.provider_id)).all())
    upheld = dict(session.execute(
        select(Complaint.provider_id, func.count()).where(Complaint.provider_id.in_(ids), Complaint.upheld.is_(True),
                                                          Complaint.created_at >= record_since,
                                                          Complaint.created_at <= now)
        .group_by(Complaint.provider_id)).all())
    # A dispute lost: upheld or partly upheld against the provider, its outcome within the window.
    lost = dict(session.execute(
        select(Dispute.provider_id, func.count()).where(Dispute.provider_id.in_(ids),
                                                        Dispute.outcome.in_(DISPUTE_LOST_OUTCOMES),
                                                        Dispute.closed_at >= record_since, Dispute.closed_at <= now)
        .group_by(Dispute.provider_id)).all())
    measures: dict[tuple[int, CreditMeasureKind], int] = {
        (pid, kind): count for pid, kind, count in session.execute(
            select(CreditMeasure.provider_id, CreditMeasure.kind, func.count())
            .where(CreditMeasure.provider_id.in_(ids), CreditMeasure.starts_at >= record_since,
                   CreditMeasure.starts_at <= now)
            .group_by(CreditMeasure.provider_id, CreditMeasure.kind))}
    waits: dict[int, list[float]] = {}
    for pid, status, minutes in session.execute(
            select(Dispatch.provider_id, Dispatch.status, _minutes_to_answer(session))
            .where(Dispatch.provider_id.in_(ids), Dispatch.status.in_(ANSWERED),
                   Dispatch.offered_at >= rating_since, Dispatch.offered_at <= now)):
        lapsed = status == DispatchStatus.TIMED_OUT or minutes is None
        waits.setdefault(pid, []).append(float("inf") if lapsed else float(minutes))
    result = {}
    for provider in providers:
        count, avg = ratings.get(provider.id, (0, None))
        offers = waits.get(provider.id, [])
        median = statistics.median(offers) if offers else None
        result[provider.id] = Inputs(
            ratings=count,
            rating_avg=round(float(avg), 2) if avg is not None else None,
            workers=workers.get(provider.id, 0),
            certified_workers=certified.get(provider.id, 0),
            years_registered=round((now - provider.created_at).days / 365.25, 2),
            response_minutes=round(median, 1) if median is not None and median != float("inf") else None,
            offers=len(offers),
            complaints_upheld=upheld.get(provider.id, 0),
            disputes_lost=lost.get(provider.id, 0),
            warnings=measures.get((provider.id, CreditMeasureKind.WARNING), 0),
            suspensions=measures.get((provider.id, CreditMeasureKind.SUSPENSION), 0),
            removals=measures.get((provider.id, CreditMeasureKind.REMOVAL), 0),
            commendations=measures.get((provider.id, CreditMeasureKind.COMMENDATION), 0),
        )
    return result


def _minutes_to_answer(session: Session):
    """An offer's minutes from offered to answered, worked out by the database: a regrade
    reads tens of thousands of offers, and two times a row made into Python datetimes cost
    a quarter of its time (benchmark B8). None while unanswered."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(Dispatch.responded_at) - func.julianday(Dispatch.offered_at)) * 1440
    return func.extract("epoch", Dispatch.responded_at - Dispatch.offered_at) / 60


def regrade(
    session: Session,
    rule: Rule,
    providers: Iterable[Provider] | None = None,
    *,
    user: User | None = None,
    now: dt.datetime | None = None,
    batch: int = 500,
) -> dict[str, int]:
    """Apply the rule to these providers (default: all), recording each result.

    Returns counts: graded, ungraded, changed (grade differs from before), kept (an
    override renewed for this regrade).
    """
    now = now or utcnow()
    chosen = list(providers) if providers is not None else None
    counts = {"graded": 0, "ungraded": 0, "changed": 0, "kept": 0}
    offset = 0
    while True:
        if chosen is not None:
            part, offset = chosen[offset:offset + batch], offset + batch
        else:
            part = list(session.scalars(select(Provider).order_by(Provider.id).offset(offset).limit(batch)))
            offset += batch
        if not part:
            break
        inputs = gather_inputs(session, rule, part, now)
        results = [_apply(provider, rule.grade(inputs[provider.id]), inputs[provider.id], user, now, counts)
                   for provider in part]
        session.flush()  # whatever else was pending, before the batch's own statements
        # The batch's grades as one executemany of one shape, and its history rows as another:
        # through the unit of work, the providers' UPDATEs split by which columns changed and
        # the INSERTs by which were NULL, hundreds of statements a regrade (benchmark B8,
        # PostgreSQL). The loaded providers are then given the values written, as committed.
        grades = [values for values, _ in results]
        session.execute(update(Provider), grades)
        for provider, values in zip(part, grades):
            for key, value in values.items():
                if key != "id":
                    set_committed_value(provider, key, value)
        session.execute(insert(GradeChange).execution_options(render_nulls=True), [change for _, change in results])
    return counts


def _apply(provider: Provider, verdict: Verdict, inputs: Inputs, user: User | None,
           now: dt.datetime, counts: dict[str, int]) -> tuple[dict, dict]:
    """The provider's new grade by the verdict, and the history row to write, as dicts."""
    previous = provider.grade
    reasons = list(verdict.reasons)
    if provider.grade_overridden and provider.override_renewed:
        grade, overridden = previous, True  # renewed for this regrade: it stands, and the renewal is used up
        reasons.append({"override": "kept"})
        counts["kept"] += 1
    else:
        if provider.grade_overridden:
            reasons.append({"override": "expired", "grade": previous})
        grade, overridden = verdict.grade, False
    counts["graded" if verdict.grade is not None else "ungraded"] += 1
    counts["changed"] += grade != previous
    values = {"id": provider.id, "grade": grade, "graded_at": now, "grade_overridden": overridden,
              "override_renewed": False}
    return values, {"provider_id": provider.id, "at": now, "source": GradeSource.REGRADE, "previous_grade": previous,
                    "grade": grade, "rule_grade": verdict.grade, "score": verdict.score, "reasons": reasons,
                    "inputs": inputs.to_json(), "user_id": user.id if user else None, "note": None}


def override(session: Session, provider: Provider, grade: int, reason: str, user: User,
             now: dt.datetime | None = None) -> GradeChange:
    """A supervisor's grade, with a written reason; it lasts until the next regrade."""
    reason = (reason or "").strip()
    if grade not in range(1, 6):
        raise GradingRefused("bad_grade", f"a grade is 1 to 5 stars, not {grade!r}")
    if not reason:
        raise GradingRefused("reason_required", "an override needs a written reason")
    now = now or utcnow()
    change = GradeChange(provider_id=provider.id, at=now, source=GradeSource.OVERRIDE, previous_grade=provider.grade,
                         grade=grade, note=reason, user_id=user.id)
    provider.grade, provider.grade_overridden, provider.override_renewed = grade, True, False
    session.add(change)
    record(session, user, "grade_override", provider, {"from": change.previous_grade, "to": grade, "reason": reason})
    session.flush()
    return change


def renew_override(session: Session, provider: Provider, reason: str, user: User,
                   now: dt.datetime | None = None) -> GradeChange:
    """Keep the supervisor's grade through the next regrade (one regrade per renewal)."""
    reason = (reason or "").strip()
    if not provider.grade_overridden:
        raise GradingRefused("not_overridden", f"{provider.name}'s grade is the rule's: there is nothing to renew",
                             provider=provider.name)
    if not reason:
        raise GradingRefused("reason_required", "a renewal needs a written reason")
    now = now or utcnow()
    change = GradeChange(provider_id=provider.id, at=now, source=GradeSource.RENEWAL, previous_grade=provider.grade,
                         grade=provider.grade, note=reason, user_id=user.id)
    provider.override_renewed = True
    session.add(change)
    record(session, user, "grade_override_renew", provider, {"grade": provider.grade, "reason": reason})
    session.flush()
    return change


def history(session: Session, provider_id: int, limit: int = 50) -> list[GradeChange]:
    return list(session.scalars(select(GradeChange).where(GradeChange.provider_id == provider_id)
                                .order_by(GradeChange.at.desc(), GradeChange.id.desc()).limit(limit)))


def latest_regrade(session: Session, provider_id: int) -> GradeChange | None:
    """The rule's last word on this provider (why it has, or has not, its grade)."""
    return session.scalar(select(GradeChange).where(GradeChange.provider_id == provider_id,
                                                    GradeChange.source == GradeSource.REGRADE)
                          .order_by(GradeChange.at.desc(), GradeChange.id.desc()).limit(1))
