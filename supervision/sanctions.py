"""Commendations and sanctions (守法诚信奖励 / 失信惩戒) in a provider's credit file.

A suspension for N days writes its end on the provider (suspended_until): dispatch
suggestions compare it with the time, so the provider is back when it has passed, with
nothing to run. A removal takes the provider out (status suspended) until a supervisor
reinstates it with a reason. Each is audited and counts in the next grading.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.audit import record
from db.base import utcnow
from db.errors import Refused
from db.models import CreditMeasure, CreditMeasureKind, Provider, ProviderStatus, User
from db.session import hold_row

MAX_SUSPENSION_DAYS = 365
# The same measure with the same reason again within this time is the form sent twice (a
# double click), not a second warning: each would count again in the provider's grade.
REPEAT_WINDOW = dt.timedelta(minutes=2)


class SanctionRefused(Refused):
    pass


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise SanctionRefused("reason_required", "a commendation or sanction needs a written reason")
    return reason


def _measure(session: Session, provider: Provider, kind: CreditMeasureKind, reason: str, user: User | None,
             now: dt.datetime, ends_at: dt.datetime | None = None) -> CreditMeasure:
    reason = _reason(reason)
    # The provider's row is written first (SQLite's write lock, a row lock on PostgreSQL):
    # of two submits at once the second waits, then finds the first's measure.
    hold_row(session, Provider.status, provider.id)
    if session.scalar(select(CreditMeasure.id).where(
            CreditMeasure.provider_id == provider.id, CreditMeasure.kind == kind, CreditMeasure.reason == reason,
            # No upper bound: the other submit may have read the clock a moment later yet
            # taken the lock first, its measure then starting just after `now`.
            CreditMeasure.starts_at > now - REPEAT_WINDOW).limit(1)) is not None:
        raise SanctionRefused("measure_repeated", f"the same {kind.value} was just recorded", provider=provider.name)
    measure = CreditMeasure(provider_id=provider.id, kind=kind, reason=reason, starts_at=now, ends_at=ends_at,
                            created_by_id=user.id if user else None)
    session.add(measure)
    session.flush()
    record(session, user, kind.value, provider, {"measure_id": measure.id, "reason": measure.reason,
                                                 "ends_at": ends_at.isoformat() if ends_at else None})
    return measure


def commend(session: Session, provider: Provider, reason: str, user: User | None,
            now: dt.datetime | None = None) -> CreditMeasure:
    return _measure(session, provider, CreditMeasureKind.COMMENDATION, reason, user, now or utcnow())


def warn(session: Session, provider: Provider, reason: str, user: User | None,
         now: dt.datetime | None = None) -> CreditMeasure:
    return _measure(session, provider, CreditMeasureKind.WARNING, reason, user, now or utcnow())


def suspend(session: Session, provider: Provider, days: int, reason: str, user: User | None,
            now: dt.datetime | None = None) -> CreditMeasure:
    """Out of dispatch for `days` days from now; a longer suspension already running stands."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SUSPENSION_DAYS:
        raise SanctionRefused("bad_days", f"a suspension lasts 1 to {MAX_SUSPENSION_DAYS} days, not {days!r}",
                              most=MAX_SUSPENSION_DAYS)
    now = now or utcnow()
    ends_at = now + dt.timedelta(days=days)
    measure = _measure(session, provider, CreditMeasureKind.SUSPENSION, reason, user, now, ends_at)
    if provider.suspended_until is None or provider.suspended_until < ends_at:
        provider.suspended_until = ends_at
    session.flush()
    return measure


def remove(session: Session, provider: Provider, reason: str, user: User | None,
           now: dt.datetime | None = None) -> CreditMeasure:
    """Out of dispatch until a supervisor reinstates the provider."""
    if provider.status == ProviderStatus.SUSPENDED:
        raise SanctionRefused("already_removed", f"{provider.name} is already removed", provider=provider.name)
    measure = _measure(session, provider, CreditMeasureKind.REMOVAL, reason, user, now or utcnow())
    provider.status, provider.suspended_reason = ProviderStatus.SUSPENDED, measure.reason
    session.flush()
    return measure


def reinstate(session: Session, provider: Provider, reason: str, user: User | None,
              now: dt.datetime | None = None) -> None:
    """End a removal (a running suspension for N days is not ended by this)."""
    if provider.status != ProviderStatus.SUSPENDED:
        raise SanctionRefused("not_removed", f"{provider.name} is not removed", provider=provider.name)
    reason, now = _reason(reason), now or utcnow()
    for measure in session.scalars(select(CreditMeasure).where(
            CreditMeasure.provider_id == provider.id, CreditMeasure.kind == CreditMeasureKind.REMOVAL,
            CreditMeasure.lifted_at.is_(None))):
        measure.lifted_at, measure.lifted_by_id, measure.lift_reason = now, user.id if user else None, reason
    provider.status, provider.suspended_reason = ProviderStatus.ACTIVE, None
    record(session, user, "reinstate", provider, {"reason": reason})
    session.flush()


def suspended_now(provider: Provider, now: dt.datetime | None = None) -> bool:
    """In a suspension for N days at this time (removals are `status`)."""
    return provider.suspended_until is not None and provider.suspended_until > (now or utcnow())


def measures(session: Session, provider_id: int) -> list[CreditMeasure]:
    return list(session.scalars(select(CreditMeasure).where(CreditMeasure.provider_id == provider_id)
                                .order_by(CreditMeasure.starts_at.desc(), CreditMeasure.id.desc())))
