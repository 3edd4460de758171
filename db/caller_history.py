"""What the operator sees of a caller when their call pops up: one indexed read each, a
request's category, a dispatch's and a rating's provider read with it (a pop costs a few
round trips, not one per row: bench B3)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from db.models import Caller, Complaint, Dispatch, DispatchStatus, ServiceRequest, Survey, SurveyStatus

RECENT = 10


@dataclass
class CallerHistory:
    phone: str
    caller: Caller | None
    requests: list[ServiceRequest] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.caller is not None


def provider_of(request: ServiceRequest):
    """The provider serving (or last offered) a request, if any."""
    for dispatch in reversed(request.dispatches):
        if dispatch.status in (DispatchStatus.ACCEPTED, DispatchStatus.OFFERED):
            return dispatch.provider
    return None


def caller_history(session: Session, phone: str, limit: int = RECENT, caller: Caller | None = None) -> CallerHistory:
    """`caller`: the caller already read with the call, when it is the one with `phone`."""
    if caller is None or caller.phone != phone:
        caller = session.scalar(select(Caller).where(Caller.phone == phone))
    history = CallerHistory(phone, caller)
    if caller is None:
        return history
    history.requests = list(session.scalars(
        select(ServiceRequest).where(ServiceRequest.caller_id == caller.id)
        .options(joinedload(ServiceRequest.category),
                 selectinload(ServiceRequest.dispatches).joinedload(Dispatch.provider))
        .order_by(ServiceRequest.created_at.desc()).limit(limit)))
    history.surveys = list(session.scalars(
        select(Survey).where(Survey.caller_id == caller.id, Survey.status == SurveyStatus.COMPLETED)
        .options(joinedload(Survey.provider)).order_by(Survey.completed_at.desc()).limit(3)))
    history.complaints = list(session.scalars(
        select(Complaint).where(Complaint.caller_id == caller.id)
        .options(joinedload(Complaint.provider)).order_by(Complaint.created_at.desc()).limit(5)))
    return history
