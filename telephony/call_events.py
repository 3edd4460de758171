"""Call state from AMI events: each call row gets its times, queue wait, agent and outcome.

A call is keyed by its Linkedid (the first channel's Uniqueid, which is also the
uniqueid the IVR keys its call row by). The tracker keeps what it learnt of each live
call in memory and writes changed calls in batches. It is idempotent: first-seen times
keep their first value and everything else is the last value seen, so the same events
replayed give the same rows. It writes only what AMI knows, and takes the outcome only
from a call still in progress (the IVR's voicemail or callback stands).
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.calls import upsert_calls
from db.models import CallDirection, CallOutcome, OperatorState, PauseReason, User
from db.session import transaction
from dialplans import contract
from telephony.ami import AmiEvent
from telephony.operator_desk import latest_states, record_state

log = logging.getLogger(__name__)

PAUSE_REASONS = {reason.value for reason in PauseReason}
# Fields that keep the first value seen; all others take the last.
FIRST_SEEN = ("started_at", "queue_entered_at", "answered_at")


@dataclass
class CallFacts:
    uniqueid: str
    direction: CallDirection = CallDirection.INBOUND
    caller_number: str | None = None
    did: str | None = None
    started_at: dt.datetime | None = None
    queue: str | None = None
    queue_entered_at: dt.datetime | None = None
    queue_wait_seconds: int | None = None
    answered_at: dt.datetime | None = None
    agent_extension: str | None = None
    ended_at: dt.datetime | None = None
    hangup_cause: int | None = None
    recording_file: str | None = None
    abandoned_in_queue: bool = False
    ended: bool = False

    def learn(self, **values) -> None:
        for name, value in values.items():
            if value is None or (name in FIRST_SEEN and getattr(self, name) is not None):
                continue
            setattr(self, name, value)

    @property
    def outcome(self) -> CallOutcome:
        if self.answered_at is not None:
            return CallOutcome.ANSWERED
        if not self.ended:
            return CallOutcome.IN_PROGRESS
        if self.abandoned_in_queue or self.queue_entered_at is not None:
            return CallOutcome.ABANDONED_IN_QUEUE
        return CallOutcome.ABANDONED_IN_IVR


class CallTracker:
    def __init__(self, sessions: sessionmaker[Session], queue_prefix: str = "hotline-", wrapup_seconds: int = 15):
        self.sessions = sessions
        self.queue_prefix = queue_prefix
        self.wrapup_seconds = wrapup_seconds
        # (extension, state, time): operators' calls and wrap-ups, written with the calls.
        self._operator_states: list[tuple[str, OperatorState, dt.datetime]] = []
        self.calls: dict[str, CallFacts] = {}
        self._changed: set[str] = set()
        self._channel_call: dict[str, str] = {}  # Uniqueid of any channel -> Linkedid
        self._listed: set[str] | None = None  # during a resync: the calls Asterisk listed
        self._members: dict | None = None  # during a queue resync: extension -> (state, reason)
        # Others that act on events (screen pops, callback placeholders): told of every
        # event, and after every write.
        self.listeners: list = []

    # consuming --------------------------------------------------------------------------------

    def drain(self, events: "queue.Queue[AmiEvent]", max_batch: int = 5000, wait: float = 0.1) -> int:
        """Apply what is queued (up to max_batch) and write it; returns how many events."""
        batch = []
        try:
            batch.append(events.get(timeout=wait))
            while len(batch) < max_batch:
                batch.append(events.get_nowait())
        except queue.Empty:
            pass
        for event in batch:
            self.apply(event)
        self.flush()
        return len(batch)

    def apply(self, event: AmiEvent) -> None:
        handler = getattr(self, "_on_" + event.name.lower(), None)
        try:
            if handler is not None:
                handler(event)
        except (ValueError, KeyError, AttributeError) as exc:
            log.warning("ignored a malformed %s event: %s", event.name, exc)
        for listener in self.listeners:
            try:
                listener.on_event(event)
            except Exception:
                log.exception("%s failed on a %s event", type(listener).__name__, event.name)

    def flush(self) -> None:
        self._write_changes()
        for listener in self.listeners:
            try:
                listener.after_flush()
            except Exception:
                log.exception("%s failed after a write", type(listener).__name__)

    def _write_changes(self) -> None:
        if not self._changed and not self._operator_states:
            return
        changed = [self.calls[uniqueid] for uniqueid in sorted(self._changed) if uniqueid in self.calls]
        with transaction(self.sessions) as session:
            if changed:
                self._write(session, changed)
            self._write_operator_states(session)
        self._changed.clear()
        self._operator_states.clear()
        for facts in changed:
            if facts.ended:  # written for good: forget it
                self.calls.pop(facts.uniqueid, None)
                self._channel_call = {k: v for k, v in self._channel_call.items() if v != facts.uniqueid}

    # resync after a reconnect -------------------------------------------------------------------

    def begin_resync(self) -> None:
        """CoreShowChannels is about to list every live channel (answering this link's action)."""
        self._listed = set()

    def _on_coreshowchannel(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is None:
            return
        self._listed.add(facts.uniqueid)
        if event.get("Uniqueid") == event.get("Linkedid"):
            # Started while we were away: Duration (h:mm:ss) says since when.
            seconds = _duration(event.get("Duration"))
            started = utcnow() - dt.timedelta(seconds=seconds) if seconds is not None else None
            facts.learn(started_at=started, caller_number=number_or_none(event.get("CallerIDNum")))

    def _on_coreshowchannelscomplete(self, event: AmiEvent) -> None:
        """Calls we thought live but Asterisk no longer has ended while the link was down."""
        listed = self._listed
        if listed is None:
            return
        for uniqueid, facts in self.calls.items():
            if uniqueid not in listed and not facts.ended:
                facts.ended = True
                facts.learn(ended_at=_time(event))
                self._changed.add(uniqueid)
        self._listed = None

    def begin_queue_resync(self) -> None:
        """QueueStatus is about to list every queue member: operators' states are re-read."""
        self._members = {}

    def _on_queuemember(self, event: AmiEvent) -> None:
        members = self._members
        extension = extension_of(event.get("StateInterface") or event.get("Interface") or event.get("Location"))
        if members is None or not extension:
            return
        if event.get("Paused") == "1":
            reason = event.get("PausedReason")
            state = (OperatorState.PAUSED, PauseReason(reason) if reason in PAUSE_REASONS else None)
        elif event.get("InCall") == "1":
            state = (OperatorState.ON_CALL, None)
        else:
            state = (OperatorState.AVAILABLE, None)
        # A member of several queues: paused in one is paused.
        if extension not in members or state[0] == OperatorState.PAUSED:
            members[extension] = state

    def _on_queuestatuscomplete(self, event: AmiEvent) -> None:
        members, self._members = self._members, None
        if members is None:
            return
        with transaction(self.sessions) as session:
            operators = session.execute(select(User.id, User.sip_extension).where(User.sip_extension.is_not(None)))
            latest = latest_states(session)
            now = utcnow()
            for user_id, extension in operators:
                state, reason = members.get(extension, (OperatorState.LOGGED_OUT, None))
                known = latest.get(user_id)
                if known is None and state == OperatorState.LOGGED_OUT:
                    continue  # never logged in: nothing to correct
                if known != (state, reason):
                    record_state(session, user_id, state, now, "ami", reason)

    # events ------------------------------------------------------------------------------------

    def _call(self, event: AmiEvent) -> CallFacts | None:
        linkedid = event.get("Linkedid") or self._channel_call.get(event.get("Uniqueid"))
        if not linkedid:
            return None
        self._channel_call[event.get("Uniqueid") or linkedid] = linkedid
        self._changed.add(linkedid)
        return self.calls.setdefault(linkedid, CallFacts(linkedid))

    def _on_newchannel(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is None or event.get("Uniqueid") != event.get("Linkedid"):
            return  # only the call's first channel says where it came from
        outbound = event.get("Context", "").startswith((contract.OUTBOUND_CONTEXT, contract.CALLBACK_HOLD_CONTEXT, contract.CALLBACK_DIAL_CONTEXT))
        facts.learn(started_at=_time(event), caller_number=number_or_none(event.get("CallerIDNum")),
                    did=event.get("Exten") or None, direction=CallDirection.OUTBOUND if outbound else CallDirection.INBOUND)

    def _on_newcallerid(self, event: AmiEvent) -> None:
        # Originated Local channels learn their caller ID only now (asterisk-facts.md).
        facts = self._call(event)
        if facts is not None and event.get("Uniqueid") == event.get("Linkedid"):
            facts.learn(caller_number=number_or_none(event.get("CallerIDNum")))

    def _on_varset(self, event: AmiEvent) -> None:
        if event.get("Variable") in (contract.RECORDING, "__" + contract.RECORDING):
            facts = self._call(event)
            if facts is not None:
                facts.learn(recording_file=event.get("Value") or None)

    def _on_queuecallerjoin(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None:
            facts.learn(queue=event.get("Queue").removeprefix(self.queue_prefix), queue_entered_at=_time(event))

    def _on_queuecallerabandon(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None:
            facts.abandoned_in_queue = True
            facts.learn(queue_wait_seconds=_int(event.get("HoldTime")))

    def _on_agentconnect(self, event: AmiEvent) -> None:
        facts = self._call(event)
        extension = extension_of(event.get("Interface") or event.get("DestChannel"))
        if facts is not None:
            facts.learn(answered_at=_time(event), queue_wait_seconds=_int(event.get("HoldTime")), agent_extension=extension)
        if extension:
            self._operator_states.append((extension, OperatorState.ON_CALL, _time(event)))

    def _on_agentcomplete(self, event: AmiEvent) -> None:
        """The call ended: the queue gives the operator wrap-up time, then offers calls again."""
        extension = extension_of(event.get("Interface") or event.get("DestChannel"))
        if extension:
            ended = _time(event)
            self._operator_states.append((extension, OperatorState.WRAP_UP, ended))
            self._operator_states.append((extension, OperatorState.AVAILABLE, ended + dt.timedelta(seconds=self.wrapup_seconds)))

    def _on_hangup(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None and event.get("Uniqueid") == event.get("Linkedid"):
            facts.ended = True
            facts.learn(ended_at=_time(event), hangup_cause=_int(event.get("Cause")))

    # writing -----------------------------------------------------------------------------------

    def _write_operator_states(self, session: Session) -> None:
        if not self._operator_states:
            return
        extensions = {extension for extension, _, _ in self._operator_states}
        users = {ext: uid for ext, uid in session.execute(
            select(User.sip_extension, User.id).where(User.sip_extension.in_(extensions)))}
        for extension, state, at in self._operator_states:
            if extension in users:
                record_state(session, users[extension], state, at, "ami")

    def _write(self, session: Session, calls: list[CallFacts]) -> None:
        extensions = {f.agent_extension for f in calls if f.agent_extension}
        agents = {}
        if extensions:
            found = session.execute(select(User.sip_extension, User.id).where(User.sip_extension.in_(extensions)))
            agents = {extension: user_id for extension, user_id in found}
        rows = []
        for facts in calls:
            row = {f.name: getattr(facts, f.name) for f in fields(CallFacts) if f.name not in ("abandoned_in_queue", "ended")}
            row["started_at"] = row["started_at"] or facts.ended_at or utcnow()
            row["outcome"] = facts.outcome
            row["agent_id"] = agents.get(facts.agent_extension)
            rows.append(row)
        # The IVR writes this row too: the calls row's rules merge the two (db/calls.py).
        upsert_calls(session, rows)


def _time(event: AmiEvent) -> dt.datetime:
    stamp = event.get("Timestamp")
    try:
        return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc)
    except ValueError:
        return utcnow()


def _duration(text: str) -> int | None:
    parts = text.split(":")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _int(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None


def number_or_none(text: str) -> str | None:
    return None if not text or text.startswith("<") else text[:40]


def extension_of(interface: str) -> str | None:
    """PJSIP/1001 or PJSIP/1001-0000002a -> 1001."""
    if not interface or "/" not in interface:
        return None
    return interface.split("/", 1)[1].split("-", 1)[0][:32] or None
