"""What the IVR reads and writes in the database.

A call's writes — caller, call row, IVR session and steps, a voicemail request or a
callback task — go in one transaction when the IVR is done with the call. During the
call only short read-only look-ups run, so no write lock is held while a caller listens
(SQLite has one writer for the whole hotline).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db.models import (
    OPEN_REQUEST_STATUSES,
    Call,
    CallbackReason,
    CallbackTask,
    CallDirection,
    Caller,
    CallOutcome,
    Dispatch,
    DispatchStatus,
    IvrOutcome,
    IvrSession,
    IvrStep,
    Language,
    RequestChannel,
    ServiceCategory,
    ServiceRequest,
)
from db.phones import Phone
from db.service_requests import open_request
from db.session import transaction
from ivr.engine import RequestInfo

# The call row's outcome once the IVR lets go (None: the queue and the AMI link decide).
_CALL_OUTCOME = {
    IvrOutcome.ABANDONED: CallOutcome.ABANDONED_IN_IVR,
    IvrOutcome.VOICEMAIL: CallOutcome.VOICEMAIL,
    IvrOutcome.CALLBACK: CallOutcome.CALLBACK_REQUESTED,
    IvrOutcome.COMPLETED: CallOutcome.ANSWERED,
}


@dataclass
class StepRecord:
    node: str
    prompt: str | None
    key: str
    at: dt.datetime


@dataclass
class IvrCallRecord:
    uniqueid: str
    linkedid: str | None
    did: str | None
    caller_number: str | None
    phone: Phone | None
    script: str
    started_at: dt.datetime
    language: str
    language_chosen: bool = False
    business_open: bool = True
    ended_at: dt.datetime | None = None
    outcome: IvrOutcome = IvrOutcome.IN_PROGRESS
    end_node: str | None = None
    path: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    result: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    voicemail: str | None = None
    callback_due: dt.datetime | None = None


def caller_language(sessions: sessionmaker[Session], phone: Phone | None) -> str | None:
    if phone is None:
        return None
    with sessions() as session:
        language = session.scalar(select(Caller.language).where(Caller.phone == phone.number))
    return language.value if language else None


def request_status(
    sessions: sessionmaker[Session], phone: Phone | None, number: str | None, limit: int
) -> tuple[RequestInfo, ...]:
    """The caller's open requests (newest first), or the request with that number."""
    query = select(ServiceRequest.id, ServiceRequest.number, ServiceRequest.status)
    if number is not None:
        query = query.where(ServiceRequest.number == number)
    elif phone is not None:
        query = (
            query.join(Caller, ServiceRequest.caller_id == Caller.id)
            .where(Caller.phone == phone.number, ServiceRequest.status.in_(OPEN_REQUEST_STATUSES))
            .order_by(ServiceRequest.created_at.desc())
        )
    else:
        return ()
    with sessions() as session:
        rows = session.execute(query.limit(limit)).all()
        providers = _current_providers(session, [row.id for row in rows])
    return tuple(RequestInfo(row.number, row.status.value, providers.get(row.id)) for row in rows)


def _current_providers(session: Session, request_ids: list[int]) -> dict[int, int]:
    if not request_ids:
        return {}
    rows = session.execute(
        select(Dispatch.request_id, Dispatch.provider_id)
        .where(Dispatch.request_id.in_(request_ids), Dispatch.status.in_((DispatchStatus.ACCEPTED, DispatchStatus.OFFERED)))
        .order_by(Dispatch.offered_at)
    ).all()
    return {row.request_id: row.provider_id for row in rows}  # the latest offer wins


def save_call(sessions: sessionmaker[Session], record: IvrCallRecord, tz) -> None:
    """Write everything the IVR learnt about the call, in one transaction."""
    try:
        with transaction(sessions) as session:
            _save(session, record, tz)
    except IntegrityError:
        # Another process (the AMI link, a second AGI) created the caller or call row
        # first: the second attempt finds and updates it.
        with transaction(sessions) as session:
            _save(session, record, tz)


def _save(session: Session, record: IvrCallRecord, tz) -> None:
    caller = _caller(session, record)
    call = session.scalar(select(Call).where(Call.uniqueid == record.uniqueid))
    if call is None:
        call = Call(
            uniqueid=record.uniqueid,
            linkedid=record.linkedid,
            direction=CallDirection.INBOUND,
            did=record.did,
            caller_number=record.caller_number,
            started_at=record.started_at,
        )
        session.add(call)
    call.caller = caller or call.caller
    call.ivr_language = Language(record.language)
    call.ivr_path = ">".join(filter(None, [call.ivr_path, *record.path]))[-255:]
    if record.queue:
        call.queue = record.queue
    if record.outcome in _CALL_OUTCOME:
        call.outcome = _CALL_OUTCOME[record.outcome]
        call.ended_at = call.ended_at or record.ended_at
    ivr_session = IvrSession(
        call=call,
        script=record.script,
        language=Language(record.language),
        started_at=record.started_at,
        ended_at=record.ended_at,
        end_node=record.end_node,
        outcome=record.outcome,
        result=record.result or None,
        steps=[IvrStep(seq=n, node=s.node, prompt=s.prompt, key=s.key, at=s.at) for n, s in enumerate(record.steps)],
    )
    session.add(ivr_session)
    session.flush()
    if record.outcome is IvrOutcome.VOICEMAIL and record.voicemail:
        other = session.scalar(select(ServiceCategory).where(ServiceCategory.code == "other"))
        open_request(session, caller, other, RequestChannel.VOICEMAIL, tz, now=record.ended_at,
                     call_id=call.id, voicemail_file=record.voicemail,
                     description="来电留言,请收听录音后补充需求")
    if record.callback_due is not None and record.phone is not None:
        session.add(CallbackTask(
            caller=caller, phone=record.phone.number, language=Language(record.language),
            reason=CallbackReason.AFTER_HOURS if not record.business_open else CallbackReason.QUEUE_CALLBACK,
            call_id=call.id, due_at=record.callback_due,
        ))


def _caller(session: Session, record: IvrCallRecord) -> Caller | None:
    if record.phone is None:
        return None
    caller = session.scalar(select(Caller).where(Caller.phone == record.phone.number))
    if caller is None:
        caller = Caller(phone=record.phone.number, phone_kind=record.phone.kind, first_call_at=record.started_at)
        session.add(caller)
    caller.last_call_at = record.started_at
    if record.language_chosen:
        caller.language = Language(record.language)
    return caller
