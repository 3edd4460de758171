"""Call state from AMI events: each call row gets its times, queue wait, agent and outcome.

A call is keyed by its Linkedid (the first channel's Uniqueid, which is also the
uniqueid the IVR keys its call row by). The tracker keeps what it learnt of each live
call in memory and writes changed calls in batches. It is idempotent: first-seen times
keep their first value and everything else is the last value seen, so the same events
replayed give the same rows. It writes only what AMI knows, and takes the outcome only
from a call still in progress (the IVR's voicemail or callback stands).

The hotline's AMI account has no "dialplan" read class (no VarSet): variables reach the
tracker as manager.conf channelvars, `ChanVariable: NAME=value` headers on the events it
does receive, from the moment they are set (CHANNEL_VARIABLES).
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
from collections import OrderedDict
from dataclasses import dataclass, fields

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from db.base import seconds_between, utcnow
from db.calls import upsert_calls
from db.languages import split_queue
from db.models import Call, CallbackTask, CallDirection, CallOutcome, OperatorState, OperatorStateChange, PauseReason, User
from db.session import transaction
from dialplans import contract
from telephony.ami import AmiEvent
from telephony.operator_desk import latest_states, record_state, record_states
from telephony.wallboard import WAIT_HORIZON, waiting_in_queue

log = logging.getLogger(__name__)

PAUSE_REASONS = {reason.value for reason in PauseReason}
# Fields that keep the first value seen; all others take the last.
FIRST_SEEN = ("started_at", "queue_entered_at", "answered_at")
# Channel variables the tracker reads (manager.conf channelvars): the file MixMonitor
# writes (set by the dialplan); the callback task a caller booked from the queue (set by
# queue_callback) or a call-back's placeholder serves (set with the number it dials back,
# by the callback placer's Originate).
CHANNEL_VARIABLES = contract.TRACKER_VARIABLES
# CallFacts fields that are not columns of calls.
# Calls written as ended, remembered so that their channels' later events (the operator's
# hang-up, a placeholder's other half) neither bring them back to life in memory nor
# rewrite their rows; bounded, since the link runs for months.
ENDED_REMEMBERED = 10_000
NOT_COLUMNS = ("abandoned_in_queue", "ended", "booked_task_id", "callback_number", "callback_dial_status")
# An operator's state from QueueStatus, one QueueMember a queue: the highest of the queues' wins.
MEMBER_PRECEDENCE = {OperatorState.AVAILABLE: 0, OperatorState.ON_CALL: 1, OperatorState.PAUSED: 2}


@dataclass(frozen=True)
class StateSeen:
    """An operator's state as an event told it. A member event (QueueMemberPause...) also
    echoes what the console just did and recorded: it is recorded only if it changes the
    operator's latest state."""
    extension: str
    state: OperatorState
    at: dt.datetime
    ends_at: dt.datetime | None = None
    reason: PauseReason | None = None
    if_changed: bool = False


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
    callback_task_id: int | None = None  # a call-back: the task it was placed for
    callback_number: str | None = None  # a call-back: the number it dials back
    callback_dial_status: str | None = None  # a call-back: how its Dial of that number ended
    abandoned_in_queue: bool = False
    booked_task_id: int | None = None  # the caller took the queue's callback offer: that task
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
        if self.callback_number is not None:
            return CallOutcome.FAILED  # a call-back whose customer never answered (busy, no answer...)
        if self.booked_task_id is not None:
            return CallOutcome.CALLBACK_REQUESTED
        if self.abandoned_in_queue or self.queue_entered_at is not None:
            return CallOutcome.ABANDONED_IN_QUEUE
        return CallOutcome.ABANDONED_IN_IVR


class CallTracker:
    def __init__(self, sessions: sessionmaker[Session], queue_prefix: str = "hotline-", wrapup_seconds: int = 15):
        self.sessions = sessions
        self.queue_prefix = queue_prefix
        self.wrapup_seconds = wrapup_seconds
        # Operators' calls and wrap-ups, and their queue memberships and pauses (made by the
        # console or anywhere else: the Asterisk CLI, a phone), written with the calls.
        self._operator_states: list[StateSeen] = []
        self._memberships: dict[str, set[str]] = {}  # extension -> the queues it is a member of
        self.calls: dict[str, CallFacts] = {}
        self._changed: set[str] = set()
        self._channel_call: dict[str, str] = {}  # Uniqueid of any channel -> Linkedid
        self._ended: OrderedDict[str, None] = OrderedDict()  # Linkedids written as ended, oldest first
        self._listed: set[str] | None = None  # during a resync: the calls Asterisk listed
        self._members: dict | None = None  # during a queue resync: extension -> (state, reason)
        self._entries: set[str] | None = None  # during a queue resync: the calls QueueEntry listed
        self._queue_resync_at: dt.datetime | None = None
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
            if "ChanVariable" in event.headers:
                self._learn_variables(event)
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
        ended = {facts.uniqueid for facts in changed if facts.ended}
        if ended:  # written for good: forget them (one pass over the channels, not one a call)
            for uniqueid in ended:
                self.calls.pop(uniqueid, None)
                self._ended[uniqueid] = None
            while len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)
            self._channel_call = {k: v for k, v in self._channel_call.items() if v not in ended}

    # resync after a reconnect -------------------------------------------------------------------

    def begin_resync(self) -> None:
        """CoreShowChannels is about to list every live channel (answering this link's action)."""
        self._listed = set()

    def _on_coreshowchannel(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is None:
            return
        # A call row is keyed by its Linkedid; the IVR's, by its channel's Uniqueid (the same
        # for a call from the trunk): either one listed means the call is still live.
        self._listed.update((facts.uniqueid, event.get("Uniqueid")))
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
        ended = _time(event)
        for uniqueid, facts in self.calls.items():
            if uniqueid not in listed and not facts.ended:
                facts.ended = True
                facts.learn(ended_at=ended)
                if facts.queue_entered_at is not None and facts.answered_at is None and facts.queue_wait_seconds is None:
                    # Gone from the queue too: its wait ends, at the latest, now.
                    facts.learn(queue_wait_seconds=seconds_between(facts.queue_entered_at, ended))
                self._changed.add(uniqueid)
        with transaction(self.sessions) as session:
            self._settle_unlisted_rows(session, listed | set(self.calls), ended)
        self._listed = None

    def _settle_unlisted_rows(self, session: Session, live: set[str], ended: dt.datetime) -> None:
        """Calls this process never held in memory (it started after they did) that the
        database has in progress after a queue join, and Asterisk no longer lists: they
        ended while no link followed them. Ended now, by what their row says: answered, a
        call-back never answered, or abandoned in the queue with the wait to now."""
        rows = session.execute(select(Call.uniqueid, Call.direction, Call.queue_entered_at, Call.answered_at,
                                      Call.queue_wait_seconds).where(
            Call.outcome == CallOutcome.IN_PROGRESS, Call.ended_at.is_(None),
            Call.queue_entered_at >= ended - WAIT_HORIZON))
        for uniqueid, direction, entered, answered, waited in rows:
            if uniqueid in live or uniqueid in self._ended:
                continue
            if answered is not None:
                outcome = CallOutcome.ANSWERED
            elif direction is CallDirection.OUTBOUND:
                outcome = CallOutcome.FAILED  # a call-back's placeholder: the customer was never reached
            else:
                outcome = CallOutcome.ABANDONED_IN_QUEUE
                waited = waited if waited is not None else seconds_between(_aware(entered), ended)
            session.execute(update(Call).where(Call.uniqueid == uniqueid, Call.outcome == CallOutcome.IN_PROGRESS)
                            .values(ended_at=ended, outcome=outcome, queue_wait_seconds=waited))

    def begin_queue_resync(self) -> None:
        """QueueStatus is about to list every queue member and every caller waiting:
        operators' states and the callers in the queues (the wallboard's) are re-read."""
        self._members = {}
        self._entries = set()
        self._queue_resync_at = utcnow()

    def _on_queueentry(self, event: AmiEvent) -> None:
        """A caller waiting now (Wait: seconds since joining), perhaps one who joined while
        the link was down. QueueEntry names the caller's channel, not its Linkedid."""
        if self._entries is None:
            return
        uniqueid = event.get("Uniqueid")
        linkedid = event.get("Linkedid") or self._channel_call.get(uniqueid) or uniqueid
        facts = self._call(event, linkedid)
        if facts is None:
            return
        self._entries.add(facts.uniqueid)
        waited = _int(event.get("Wait"))
        facts.learn(queue=split_queue(event.get("Queue"), self.queue_prefix)[0],
                    queue_entered_at=utcnow() - dt.timedelta(seconds=waited) if waited is not None else None)

    def _settle_queue_leavers(self, session: Session, entries: set[str], since: dt.datetime) -> None:
        """Callers the board holds as waiting whom QueueStatus did not list left their queue
        while the link was down (to an operator, a key, a hang-up): their wait ends now.
        Only those who joined before the listing began: a later join is not in it."""
        now = utcnow()
        rows = session.execute(select(Call.uniqueid, Call.queue_entered_at).where(
            waiting_in_queue(now), Call.queue_entered_at < since, Call.uniqueid.not_in(entries) if entries else true()))
        for uniqueid, entered in rows:
            waited = seconds_between(_aware(entered), now)
            facts = self.calls.get(uniqueid)
            if facts is None:
                session.execute(update(Call).where(Call.uniqueid == uniqueid, Call.queue_wait_seconds.is_(None))
                                .values(queue_wait_seconds=waited))
            elif facts.queue_wait_seconds is None and facts.answered_at is None:
                facts.learn(queue_wait_seconds=waited)
                self._changed.add(uniqueid)

    def _on_queuemember(self, event: AmiEvent) -> None:
        members = self._members
        extension = extension_of(event.get("StateInterface") or event.get("Interface") or event.get("Location"))
        if members is None or not extension:
            return
        self._memberships.setdefault(extension, set()).add(event.get("Queue"))
        if event.get("Paused") == "1":
            state = (OperatorState.PAUSED, pause_reason(event.get("PausedReason")))
        elif event.get("InCall") == "1":
            state = (OperatorState.ON_CALL, None)
        else:
            state = (OperatorState.AVAILABLE, None)
        # A member of several queues: paused in one is paused; in a call in one is in a call
        # (Asterisk sets InCall only in the queue that connected the call).
        if extension not in members or MEMBER_PRECEDENCE[state[0]] > MEMBER_PRECEDENCE[members[extension][0]]:
            members[extension] = state

    def _on_queuestatuscomplete(self, event: AmiEvent) -> None:
        entries, self._entries = self._entries, None
        if entries is not None:
            with transaction(self.sessions) as session:
                self._settle_queue_leavers(session, entries, self._queue_resync_at)
        members, self._members = self._members, None
        if members is None:
            return
        self._memberships = {extension: queues for extension, queues in self._memberships.items() if extension in members}
        with transaction(self.sessions) as session:
            operators = session.execute(select(User.id, User.sip_extension).where(User.sip_extension.is_not(None)))
            latest = latest_states(session)
            now = utcnow()
            for user_id, extension in operators:
                state, reason = members.get(extension, (OperatorState.LOGGED_OUT, None))
                known = latest.get(user_id)
                if known is None and state == OperatorState.LOGGED_OUT:
                    continue  # never logged in: nothing to correct
                if known == (OperatorState.WRAP_UP, None) and state == OperatorState.AVAILABLE:
                    continue  # QueueMember does not tell wrap-up from free: the recorded wrap-up stands
                if known != (state, reason):
                    record_state(session, user_id, state, now, "ami", reason)

    # events ------------------------------------------------------------------------------------

    def _on_queuememberadded(self, event: AmiEvent) -> None:
        extension = member_extension(event)
        if extension:
            self._memberships.setdefault(extension, set()).add(event.get("Queue"))
            self._member_state(event, extension)

    def _on_queuememberremoved(self, event: AmiEvent) -> None:
        """Out of one queue; logged out once out of all the queues it was known in."""
        extension = member_extension(event)
        if not extension:
            return
        queues = self._memberships.get(extension, set())
        queues.discard(event.get("Queue"))
        if not queues:
            self._memberships.pop(extension, None)
            self._operator_states.append(StateSeen(extension, OperatorState.LOGGED_OUT, _time(event), if_changed=True))

    def _on_queuememberpause(self, event: AmiEvent) -> None:
        """Paused or unpaused by anyone: the console, the Asterisk CLI, a phone's feature code."""
        extension = member_extension(event)
        if extension:
            self._member_state(event, extension)

    def _member_state(self, event: AmiEvent, extension: str) -> None:
        if event.get("Paused") == "1":
            state, reason = OperatorState.PAUSED, pause_reason(event.get("PausedReason"))
        else:
            state, reason = OperatorState.AVAILABLE, None
        self._operator_states.append(StateSeen(extension, state, _time(event), reason=reason, if_changed=True))


    def _call(self, event: AmiEvent, linkedid: str | None = None) -> CallFacts | None:
        linkedid = linkedid or event.get("Linkedid") or self._channel_call.get(event.get("Uniqueid"))
        if not linkedid or linkedid in self._ended:
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

    def _learn_variables(self, event: AmiEvent) -> None:
        variables = event.variables
        recording, task, number = (variables.get(name, "") for name in CHANNEL_VARIABLES)
        if not (recording or task or number):
            return  # channelvars ride on every channel event, mostly still empty
        facts = self._call(event)
        if facts is None:
            return
        facts.learn(recording_file=recording[:255] or None)
        if number:
            # A call-back's placeholder: the operator who answers it gives its halves their
            # own caller ID (NewCallerid), so the number dialled back names the call.
            facts.learn(callback_task_id=_row_id(task), callback_number=number_or_none(number))
        else:
            facts.learn(booked_task_id=_row_id(task))

    def _on_queuecallerjoin(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None:
            # The menu's queue (general), not its language queue (hotline-general-hak).
            facts.learn(queue=split_queue(event.get("Queue"), self.queue_prefix)[0], queue_entered_at=_time(event))

    def _on_queuecallerleave(self, event: AmiEvent) -> None:
        """Out of the queue: to an operator (AgentConnect follows, with the hold time),
        through a key (the callback offer), or hung up (QueueCallerAbandon came just before,
        with Asterisk's own HoldTime, which stands)."""
        facts = self._call(event)
        if (facts is not None and facts.answered_at is None and facts.queue_entered_at is not None
                and not facts.abandoned_in_queue):
            facts.learn(queue_wait_seconds=seconds_between(facts.queue_entered_at, _time(event)))

    def _on_queuecallerabandon(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None:
            facts.abandoned_in_queue = True
            facts.learn(queue_wait_seconds=_int(event.get("HoldTime")))

    def _on_agentconnect(self, event: AmiEvent) -> None:
        facts = self._call(event)
        extension = extension_of(event.get("Interface") or event.get("DestChannel"))
        if facts is not None:
            facts.learn(queue_wait_seconds=_int(event.get("HoldTime")), agent_extension=extension)
            if facts.callback_number is None:
                # A call-back's placeholder is answered by the operator before the customer
                # is even rung: that call is answered only when its Dial is (DialEnd).
                facts.learn(answered_at=_time(event))
        if extension:
            self._operator_states.append(StateSeen(extension, OperatorState.ON_CALL, _time(event)))

    def _on_dialend(self, event: AmiEvent) -> None:
        """A call-back's dialling half (hotline-callback-dial) rang the customer: ANSWER, or
        BUSY, NOANSWER, CONGESTION... (the callback placer settles its task the same way)."""
        if event.get("Context") != contract.CALLBACK_DIAL_CONTEXT:
            return
        facts = self._call(event)
        if facts is None or facts.callback_number is None:
            return
        facts.callback_dial_status = event.get("DialStatus")
        if facts.callback_dial_status == "ANSWER":
            facts.learn(answered_at=_time(event))

    def _on_agentcomplete(self, event: AmiEvent) -> None:
        """The call ended: the queue gives the operator wrap-up time, then offers calls again.

        The end is kept on the wrap-up, not recorded in advance as "available": a pause
        taken meanwhile is then the later change, and stands (Asterisk keeps it too).

        A call whose AgentConnect the link missed (it was down, or hotline ami restarted,
        while the operator answered) was answered all the same: HoldTime and TalkTime (whole
        seconds) say when it joined and was answered."""
        extension = extension_of(event.get("Interface") or event.get("DestChannel"))
        facts = self._call(event)
        held, talked = _int(event.get("HoldTime")), _int(event.get("TalkTime"))
        # A call-back's placeholder is answered only when its customer is (DialEnd).
        placeholder = facts is not None and (facts.callback_number or event.variables.get(contract.CALLBACK_NUMBER))
        if facts is not None and facts.answered_at is None and not placeholder and None not in (held, talked):
            answered = _time(event) - dt.timedelta(seconds=talked)
            facts.learn(queue=split_queue(event.get("Queue"), self.queue_prefix)[0],
                        queue_entered_at=answered - dt.timedelta(seconds=held), queue_wait_seconds=held,
                        answered_at=answered, agent_extension=extension)
        if extension:
            ended = _time(event)
            self._operator_states.append(StateSeen(extension, OperatorState.WRAP_UP, ended,
                                                   ends_at=ended + dt.timedelta(seconds=self.wrapup_seconds)))

    def _on_hangup(self, event: AmiEvent) -> None:
        facts = self._call(event)
        if facts is not None and event.get("Uniqueid") == event.get("Linkedid"):
            facts.ended = True
            facts.learn(ended_at=_time(event), hangup_cause=_int(event.get("Cause")))

    # writing -----------------------------------------------------------------------------------

    def _write_operator_states(self, session: Session) -> None:
        if not self._operator_states:
            return
        extensions = {seen.extension for seen in self._operator_states}
        users = {ext: uid for ext, uid in session.execute(
            select(User.sip_extension, User.id).where(User.sip_extension.in_(extensions)))}
        latest, latest_at = {}, {}
        if any(seen.if_changed for seen in self._operator_states):
            latest = latest_states(session)
            latest_at = {user_id: _aware(at) for user_id, at in session.execute(
                select(OperatorStateChange.user_id, func.max(OperatorStateChange.at))
                .where(OperatorStateChange.user_id.in_(users.values())).group_by(OperatorStateChange.user_id))}
        changes = []
        for seen in self._operator_states:
            user_id = users.get(seen.extension)
            if user_id is None:
                continue
            if seen.if_changed and (latest.get(user_id) == (seen.state, seen.reason)
                                    or (user_id in latest_at and seen.at < latest_at[user_id])):
                # The same change in another queue, or the console's own echoed back: the
                # console records it just after Asterisk sent the event (or just before).
                continue
            latest[user_id] = (seen.state, seen.reason)
            latest_at[user_id] = max(seen.at, latest_at.get(user_id, seen.at))
            changes.append(dict(user_id=user_id, state=seen.state, reason=seen.reason, at=seen.at,
                                ends_at=seen.ends_at, source="ami"))
        record_states(session, changes)

    def _write(self, session: Session, calls: list[CallFacts]) -> None:
        extensions = {f.agent_extension for f in calls if f.agent_extension}
        agents = {}
        if extensions:
            found = session.execute(select(User.sip_extension, User.id).where(User.sip_extension.in_(extensions)))
            agents = {extension: user_id for extension, user_id in found}
        # A task id from a channel variable that names no task must not fail the batch.
        wanted = {task for f in calls for task in (f.callback_task_id, f.booked_task_id) if task is not None}
        tasks = set(session.scalars(select(CallbackTask.id).where(CallbackTask.id.in_(wanted)))) if wanted else set()
        rows = []
        for facts in calls:
            row = {f.name: getattr(facts, f.name) for f in fields(CallFacts) if f.name not in NOT_COLUMNS}
            row["started_at"] = row["started_at"] or facts.ended_at or utcnow()
            row["caller_number"] = facts.callback_number or facts.caller_number
            row["callback_task_id"] = facts.callback_task_id if facts.callback_task_id in tasks else None
            row["outcome"] = facts.outcome
            # MixMonitor's `b` starts the file only once the call is bridged: an unanswered
            # call's variable names an empty (44-byte header) file, not a recording.
            row["recording_file"] = facts.recording_file if facts.answered_at is not None else None
            row["agent_id"] = agents.get(facts.agent_extension)
            rows.append(row)
        # The IVR writes this row too: the calls row's rules merge the two (db/calls.py).
        upsert_calls(session, rows)
        for facts in calls:
            if facts.booked_task_id in tasks:
                # queue_callback points its task at the call row if the row was there yet.
                session.execute(update(CallbackTask).where(CallbackTask.id == facts.booked_task_id,
                                                           CallbackTask.call_id.is_(None))
                                .values(call_id=select(Call.id).where(Call.uniqueid == facts.uniqueid).scalar_subquery()))


def _time(event: AmiEvent) -> dt.datetime:
    stamp = event.get("Timestamp")
    try:
        return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc)
    except ValueError:
        return utcnow()


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite gives back naive UTC times."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)


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


def _row_id(text: str) -> int | None:
    """A row id from a channel variable; None unless it fits an integer column."""
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 2**31 else None


def pause_reason(text: str) -> PauseReason | None:
    """One of ours (the console's), or None: a pause with a reason of its own (the CLI's,
    a phone's) is still a pause."""
    return PauseReason(text) if text in PAUSE_REASONS else None


def member_extension(event: AmiEvent) -> str | None:
    """The member's extension: StateInterface PJSIP/1001 (or Local/1001@default) -> 1001."""
    return extension_of((event.get("StateInterface") or event.get("Interface")).split("@", 1)[0])


def number_or_none(text: str) -> str | None:
    return None if not text or text.startswith("<") else text[:40]


def extension_of(interface: str) -> str | None:
    """PJSIP/1001 or PJSIP/1001-0000002a -> 1001."""
    if not interface or "/" not in interface:
        return None
    return interface.split("/", 1)[1].split("-", 1)[0][:32] or None
