"""Requests (工单): creation with a readable number, and the status lifecycle."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from db.audit import record
from db.base import utcnow
from db.models import (
    REQUEST_TRANSITIONS,
    Caller,
    Priority,
    RequestChannel,
    RequestStatus,
    RequestStatusChange,
    ServiceCategory,
    ServiceRequest,
    User,
)
from db.numbering import next_request_number


class TransitionError(ValueError):
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
        raise TransitionError(f"request {request.number} cannot go from {request.status.value} to {to_status.value}")
    now = now or utcnow()
    change = RequestStatusChange(from_status=request.status, to_status=to_status, user=user, at=now, note=note)
    request.history.append(change)
    record(session, user, "status", request, {"from": request.status.value, "to": to_status.value, "note": note})
    request.status = to_status
    request.updated_at = now
    session.flush()
    return change
