"""Lost callers (未接来电): who hung up in the IVR or the queue, or left a voicemail, and
has been neither reached nor heard from since.

A lost call leaves the list when the same caller calls again (any later inbound call,
which is then itself on the list if it was lost too: a caller appears once, by their
latest try), when a call-back placed for a callback task reached them, or when a callback
task for them was marked done after the call. Withheld numbers cannot be called back and
are not listed. Only calls since `since` are considered (console.lost_callers_days): the
dashboard counts the list on every load, and a callback weeks late answers nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from db.models import (
    Call, CallbackReason, CallbackTask, CallDirection, Caller, CallOutcome, TaskStatus,
)
from db.session import hold_row

LOST_OUTCOMES = (CallOutcome.ABANDONED_IN_IVR, CallOutcome.ABANDONED_IN_QUEUE, CallOutcome.VOICEMAIL)
OPEN_TASKS = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED)
LIST_LIMIT = 200


def _conditions(since: dt.datetime) -> list:
    later = aliased(Call)
    called_again_or_reached = exists().where(
        later.caller_id == Call.caller_id, later.started_at > Call.started_at,
        or_(later.direction == CallDirection.INBOUND,
            and_(later.callback_task_id.is_not(None), later.answered_at.is_not(None))))
    callback_done = exists().where(CallbackTask.caller_id == Call.caller_id, CallbackTask.status == TaskStatus.DONE,
                                   CallbackTask.done_at > Call.started_at)
    return [Call.outcome.in_(LOST_OUTCOMES), Call.started_at >= since, Call.direction == CallDirection.INBOUND,
            Call.caller_id.is_not(None), ~called_again_or_reached, ~callback_done]


def _booked():
    """A callback booked for the caller since the call and not yet done."""
    return exists().where(CallbackTask.caller_id == Call.caller_id, CallbackTask.status.in_(OPEN_TASKS),
                          CallbackTask.created_at >= Call.started_at).label("callback_booked")


def lost_calls(since: dt.datetime, limit: int = LIST_LIMIT) -> Select:
    return (select(Call.id, Call.uniqueid, Call.started_at, Call.ended_at, Call.queue_entered_at, Call.queue_wait_seconds,
                   Call.outcome, Call.ivr_path, Call.queue, Call.ivr_language, Caller.phone, Caller.name, _booked())
            .join(Caller, Caller.id == Call.caller_id).where(*_conditions(since))
            .order_by(Call.started_at, Call.id).limit(limit))


def waiting_count(session: Session, since: dt.datetime) -> int:
    """How many lost callers wait for a callback (the dashboard's figure)."""
    return session.scalar(select(func.count()).select_from(Call).where(*_conditions(since)))


def is_lost(session: Session, call_id: int, since: dt.datetime) -> bool:
    return session.scalar(select(exists().where(Call.id == call_id, *_conditions(since))))


@dataclasses.dataclass(frozen=True)
class Booking:
    task: CallbackTask | None
    already: bool  # a callback was already booked since the call


def book_callback(session: Session, call_id: int, now: dt.datetime, since: dt.datetime,
                  note: str | None = None) -> Booking | None:
    """Book a callback for a lost call (the callback list dials it); None if the call is not lost.

    Booking twice gives back the task already booked instead of a second one.
    """
    # Two clicks at once: the caller's row is written first (SQLite's write lock, a row
    # lock on PostgreSQL), so the second booking waits for the first to commit and then
    # finds its task; read before it, both found none and each booked one.
    caller_id = session.scalar(select(Call.caller_id).where(Call.id == call_id))
    if caller_id is not None:
        hold_row(session, Caller.do_not_call, caller_id)
    if not is_lost(session, call_id, since):
        return None
    call = session.get(Call, call_id)
    open_task = session.scalar(select(CallbackTask).where(
        CallbackTask.caller_id == call.caller_id, CallbackTask.status.in_(OPEN_TASKS),
        CallbackTask.created_at >= call.started_at).order_by(CallbackTask.id).limit(1))
    if open_task is not None:
        return Booking(open_task, already=True)
    reason = CallbackReason.VOICEMAIL if call.outcome == CallOutcome.VOICEMAIL else CallbackReason.LOST_CALL
    task = CallbackTask(caller_id=call.caller_id, phone=call.caller.phone, language=call.ivr_language, reason=reason,
                        call_id=call.id, queue=call.queue, due_at=now, status=TaskStatus.PENDING, note=note,
                        created_at=now)
    session.add(task)
    session.flush()
    return Booking(task, already=False)
