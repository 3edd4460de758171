"""Requests (工单): creation with a readable number, and the status lifecycle."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.audit import record
from db.base import utcnow
from db.errors import Refused
from db.models import (
    OPEN_REQUEST_STATUSES,
    REQUEST_TRANSITIONS,
    Caller,
    DispatchStatus,
    Priority,
    RequestChannel,
    RequestStatus,
    RequestStatusChange,
    ServiceCategory,
    ServiceRequest,
    User,
)
from db.numbering import next_request_number
from db.phones import Phone


class TransitionError(Refused):
    pass


def open_request(
    session: Session,
    caller: Caller | None,
    category: ServiceCategory,
    channel: RequestChannel,
    tz: ZoneInfo,
    *,
    user: User | None = None,
    now: dt.datetime | None = None,
    **fields,
) -> ServiceRequest:
    now = now or utcnow()
    request = ServiceRequest(
        number=next_request_number(session, now.astimezone(tz)),
        caller=caller,
        category=category,
        channel=channel,
        priority=fields.pop("priority", Priority.NORMAL),
        status=RequestStatus.NEW,
        created_by_id=user.id if user else None,
        created_at=now,
        updated_at=now,
        **fields,
    )
    request.history.append(RequestStatusChange(from_status=None, to_status=RequestStatus.NEW, user=user, at=now))
    session.add(request)
    session.flush()
    record(session, user, "create", request, {"number": request.number, "channel": channel.value})
    return request


def change_status(
    session: Session,
    request: ServiceRequest,
    to_status: RequestStatus,
    *,
    user: User | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> RequestStatusChange:
    if to_status not in REQUEST_TRANSITIONS[request.status]:
        raise TransitionError("bad_transition",
                              f"request {request.number} cannot go from {request.status.value} to {to_status.value}",
                              number=request.number, current=request.status.value, wanted=to_status.value)
    if to_status == RequestStatus.IN_SERVICE and not has_accepted_offer(request):
        # The provider has not said yes: "in service" would leave its offer pending, still
        # flagged as unanswered, and offered to the next provider from the request's page.
        raise TransitionError("offer_not_accepted", f"request {request.number} has no accepted offer",
                              number=request.number)
    now = now or utcnow()
    change = RequestStatusChange(from_status=request.status, to_status=to_status, user=user, at=now, note=note)
    request.history.append(change)
    record(session, user, "status", request, {"from": request.status.value, "to": to_status.value, "note": note})
    request.status = to_status
    request.updated_at = now
    session.flush()
    return change


def has_accepted_offer(request: ServiceRequest) -> bool:
    """Whether a provider said yes to the request (it may then be in service)."""
    return any(d.status == DispatchStatus.ACCEPTED for d in request.dispatches)


def caller_for_phone(session: Session, phone: Phone, name: str | None = None, now: dt.datetime | None = None) -> Caller:
    """The caller with this number, created on first contact; a name given fills a blank one."""
    caller = session.scalar(select(Caller).where(Caller.phone == phone.number))
    if caller is None:
        caller = Caller(phone=phone.number, phone_kind=phone.kind, first_call_at=now or utcnow())
        session.add(caller)
    if name and not caller.name:
        caller.name = name
    session.flush()
    return caller


def likely_duplicate(session: Session, caller: Caller, category_id: int, hours: int,
                     now: dt.datetime | None = None, ignore_id: int | None = None) -> ServiceRequest | None:
    """An open request from the same caller in the same category, made within `hours`."""
    since = (now or utcnow()) - dt.timedelta(hours=hours)
    query = (select(ServiceRequest)
             .where(ServiceRequest.caller_id == caller.id, ServiceRequest.category_id == category_id,
                    ServiceRequest.status.in_(OPEN_REQUEST_STATUSES), ServiceRequest.created_at >= since)
             .order_by(ServiceRequest.created_at.desc()).limit(1))
    if ignore_id is not None:
        query = query.where(ServiceRequest.id != ignore_id)
    return session.scalar(query)


def full_address(request: ServiceRequest, *, english: bool = False) -> str:
    """Where to go: the district, then the address. Callers often say the district as part
    of the address (and it is stored as said): then it is not said twice."""
    address = " ".join((request.address or "").split())
    district = request.district
    if district is None or district.name_zh in address or district.name_en.lower() in address.lower():
        return address
    return f"{district.name_en if english else district.name_zh} {address}".strip()
