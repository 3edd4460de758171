"""What the operator sees of a caller when their call pops up: one indexed read each."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import Call, Caller, Complaint, Dispatch, DispatchStatus, ServiceRequest, Survey, SurveyStatus

RECENT = 10


@dataclass
class CallerHistory:
    phone: str
    caller: Caller | None
    calls: list[Call] = field(default_factory=list)
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


def caller_history(session: Session, phone: str, limit: int = RECENT) -> CallerHistory:
    caller = session.scalar(select(Caller).where(Caller.phone == phone))
    history = CallerHistory(phone, caller)
    if caller is None:
        return history
    history.calls = list(session.scalars(
        select(Call).where(Call.caller_id == caller.id).order_by(Call.started_at.desc()).limit(limit)))
    history.requests = list(session.scalars(
        select(ServiceRequest).where(ServiceRequest.caller_id == caller.id)
        .options(selectinload(ServiceRequest.category),
                 selectinload(ServiceRequest.dispatches).selectinload(Dispatch.provider))
        .order_by(ServiceRequest.created_at.desc()).limit(limit)))
    history.surveys = list(session.scalars(
        select(Survey).where(Survey.caller_id == caller.id, Survey.status == SurveyStatus.COMPLETED)
        .options(selectinload(Survey.provider)).order_by(Survey.completed_at.desc()).limit(3)))
    history.complaints = list(session.scalars(
        select(Complaint).where(Complaint.caller_id == caller.id)
        .options(selectinload(Complaint.provider)).order_by(Complaint.created_at.desc()).limit(5)))
    return history
