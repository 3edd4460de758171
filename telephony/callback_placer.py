"""Callbacks that keep the caller's place in the queue.

A caller who pressed 1 in a queue has a pending callback task with the queue and the
position they left. The placer originates a placeholder there:
Local/<queue>@hotline-callback-hold/n queues at that position; when an operator takes
it, the other half runs hotline-callback-dial and rings the caller. The task is read
from the database, so a callback booked while the AMI link was down is placed when it
comes back. A try that no operator took is settled by its OriginateResponse, matched by
ActionID (only ours: Asterisk sends every session's to every `call` reader). One an operator took is answered (Reason 4) before the caller is even rung:
it is settled when the dialling half hangs up, done only if its Dial of the caller was
answered (DialEnd from hotline-callback-dial), else tried again like an unanswered one.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import CallbackReason, CallbackTask, TaskStatus
from db.session import transaction
from dialplans import contract
from telephony.ami import AmiError, AmiEvent, AmiLink, is_own_action_id

log = logging.getLogger(__name__)
REASON_ANSWERED = "4"
PLACEHOLDER = "@" + contract.CALLBACK_HOLD_CONTEXT
# A placeholder waits as long as a caller would; Originate's default of 30 s would drop it.
HOLD_TIMEOUT_MS = 4 * 3600 * 1000
# A try still open this long after it was placed is over, whoever placed it: its
# placeholder's own Originate timed out meanwhile. Its OriginateResponse went to a
# `hotline ami` that is gone (a restart), or never came; the task is tried again.
STALE_AFTER = dt.timedelta(milliseconds=HOLD_TIMEOUT_MS) + dt.timedelta(minutes=10)
MAX_ATTEMPTS = 3


class CallbackPlacer:
    EVENTS = ("OriginateResponse", "DialEnd", "Hangup")  # what it acts on (tests/test_asterisk_config.py)

    def __init__(self, link: AmiLink, sessions: sessionmaker[Session], default_language: str = "cmn",
                 max_attempts: int = MAX_ATTEMPTS, clock=utcnow):
        self.link = link
        self.sessions = sessions
        self.default_language = default_language
        self.max_attempts = max_attempts
        self.clock = clock
        self._responses: list[tuple[str, str]] = []  # (ActionID, Reason), settled after each write
        self._dialled: dict[int, str] = {}  # task -> DialStatus of its call-back's Dial of the caller
        self._hung_up: list[tuple[int, bool]] = []  # (task, caller answered), settled after each write

    def place_due(self) -> int:
        """Originate a placeholder for every queue callback waiting; returns how many."""
        placed = 0
        with transaction(self.sessions) as session:
            self._reopen_stale(session)
            due = session.scalars(
                select(CallbackTask)
                .where(CallbackTask.reason == CallbackReason.QUEUE_CALLBACK, CallbackTask.status == TaskStatus.PENDING,
                       CallbackTask.queue.is_not(None), CallbackTask.due_at <= self.clock())
                .order_by(CallbackTask.due_at, CallbackTask.id).limit(50).with_for_update(skip_locked=True)
            ).all()
            for task in due:
                if not self._originate(task):
                    break  # the link is down: the rest wait for it
                placed += 1
        return placed

    def _reopen_stale(self, session: Session) -> None:
        now = self.clock()
        stale = session.scalars(
            select(CallbackTask)
            .where(CallbackTask.reason == CallbackReason.QUEUE_CALLBACK, CallbackTask.status == TaskStatus.IN_PROGRESS,
                   CallbackTask.due_at < now - STALE_AFTER)
            .with_for_update(skip_locked=True)
        ).all()
        for task in stale:
            log.warning("callback %s: no word of its try placed at %s; tried again", task.id, task.due_at)
            settle(task, False, self.max_attempts, now)

    def _originate(self, task: CallbackTask) -> bool:
        variables = {
            contract.CALLBACK_ID: str(task.id),
            contract.CALLBACK_NUMBER: task.phone,
            contract.CALLBACK_POSITION: str(task.queue_position or ""),
            contract.LANG: task.language.value if task.language else self.default_language,
        }
        try:
            action_id = self.link.originate(f"Local/{task.queue}@{contract.CALLBACK_HOLD_CONTEXT}/n", contract.CALLBACK_DIAL_CONTEXT, "s",
                                            variables=variables, Timeout=str(HOLD_TIMEOUT_MS), CallerID=f'"" <{task.phone}>')
        except AmiError as exc:
            log.warning("callback %s not placed yet: %s", task.id, exc)
            return False
        task.status = TaskStatus.IN_PROGRESS
        task.attempts += 1
        task.originate_action_id = action_id
        task.due_at = self.clock()  # while in progress: when this try was placed
        return True

    # settling ------------------------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        if event.name == "OriginateResponse":
            if not is_own_action_id(event.get("ActionID")):
                return  # another session's (Asterisk sends them to every `call` reader)
            if event.get("Reason") == REASON_ANSWERED and PLACEHOLDER in event.get("Channel"):
                return  # an operator took the placeholder: the caller is rung only now
            self._responses.append((event.get("ActionID"), event.get("Reason")))
            return
        variables = event.variables
        task_id = variables.get(contract.CALLBACK_ID, "")
        if not (task_id.isascii() and task_id.isdigit() and variables.get(contract.CALLBACK_NUMBER)):
            return  # not the dialling half of a call-back
        if event.name == "DialEnd" and event.get("Context") == contract.CALLBACK_DIAL_CONTEXT:
            self._dialled[int(task_id)] = event.get("DialStatus")
        elif event.name == "Hangup" and event.get("Uniqueid") == event.get("Linkedid"):
            self._hung_up.append((int(task_id), self._dialled.pop(int(task_id), None) == "ANSWER"))

    def after_flush(self) -> None:
        responses, self._responses = self._responses, []
        hung_up, self._hung_up = self._hung_up, []
        if not responses and not hung_up:
            return
        with transaction(self.sessions) as session:
            for action_id, reason in responses:
                task = session.scalar(select(CallbackTask).where(CallbackTask.originate_action_id == action_id))
                if task is not None and task.status == TaskStatus.IN_PROGRESS:
                    settle(task, reason == REASON_ANSWERED, self.max_attempts, self.clock())
            for task_id, answered in hung_up:
                task = session.get(CallbackTask, task_id) if task_id < 2**31 else None
                if task is not None and task.status == TaskStatus.IN_PROGRESS:
                    settle(task, answered, self.max_attempts, self.clock())


def settle(task: CallbackTask, answered: bool, max_attempts: int, now: dt.datetime) -> None:
    """An originate for this task ended: done when answered, else another try or failed."""
    task.originate_action_id = None
    if answered:
        task.status = TaskStatus.DONE
        task.done_at = now
    elif task.attempts >= max_attempts:
        task.status = TaskStatus.FAILED
        task.note = ((task.note or "") + f"\n{max_attempts} tries without an answer").strip()
    else:
        task.status = TaskStatus.PENDING
        task.due_at = now + dt.timedelta(minutes=5)
