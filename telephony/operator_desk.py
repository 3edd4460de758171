"""Operators' states: logging in and out of the queues, pausing with a reason.

Logging in adds the operator's phone to every queue with a penalty by how well they speak
the queue's language (db/languages.py), so that the queues offer callers first to those
who speak their language. Each change is made in Asterisk first (QueueAdd, QueuePause, QueueRemove over AMI)
and recorded only once Asterisk accepted it, so the supervisors' record never claims
a state the queues do not have. Changes made elsewhere (the Asterisk CLI, a phone) reach
the call tracker as QueueMemberAdded/Removed/Pause and are recorded from there (source
"ami"); whichever records a change first, the other sees it as the latest state and
records nothing. Calls and wrap-ups are recorded from AMI events by
the call tracker (record_states, source "ami"); a wrap-up carries its scheduled end,
so a pause taken during it (a later change) stays the operator's state.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.languages import penalty
from db.models import Language, OperatorState, OperatorStateChange, PauseReason, User
from db.session import insert_for, transaction
from db.errors import Refused
from telephony.ami import AmiError, AmiLink


class DeskError(Refused):
    """A desk action refused (db/errors.py: the console words it by its code)."""


def record_state(session: Session, user_id: int, state: OperatorState, at: dt.datetime,
                 source: str, reason: PauseReason | None = None) -> None:
    """Record a state change; the same change at the same time twice is recorded once."""
    record_states(session, [dict(user_id=user_id, state=state, reason=reason, at=at, source=source)])


def record_states(session: Session, changes: list[dict]) -> None:
    """Record many state changes in one statement (a batch of AMI events brings thousands);
    each a dict of OperatorStateChange's columns, replays recorded once."""
    if not changes:
        return
    table = OperatorStateChange.__table__
    rows = [{"reason": None, "ends_at": None, **change} for change in changes]
    session.execute(insert_for(session, table).on_conflict_do_nothing(
        index_elements=[table.c.user_id, table.c.state, table.c.at]), rows)


def current_state(state: OperatorState, reason: PauseReason | None, ends_at: dt.datetime | None,
                  now: dt.datetime) -> tuple[OperatorState, PauseReason | None]:
    """A wrap-up that has run its course, with nothing recorded since, left the operator available."""
    if state is OperatorState.WRAP_UP and ends_at is not None and ends_at <= now:
        return OperatorState.AVAILABLE, None
    return state, reason


def latest_states(session: Session, now: dt.datetime | None = None) -> dict[int, tuple[OperatorState, PauseReason | None]]:
    """Each operator's state now (and pause reason): the last recorded change wins."""
    now = now or utcnow()
    change = OperatorStateChange
    newest = (select(change.user_id, func.max(change.at).label("at")).group_by(change.user_id).subquery())
    rows = session.execute(select(change.user_id, change.state, change.reason, change.ends_at, change.id)
                           .join(newest, (newest.c.user_id == change.user_id) & (newest.c.at == change.at))
                           .order_by(change.id))
    # Two states at one instant (login then available): the later row wins.
    return {user_id: current_state(state, reason, ends_at, now) for user_id, state, reason, ends_at, _ in rows}


def day_of(changes: list[OperatorStateChange], now: dt.datetime) -> list[tuple[dt.datetime, OperatorState, PauseReason | None]]:
    """One operator's changes in time order as (time, state, reason), with the return to
    "available" at the end of each wrap-up that no other change cut short."""
    day = []
    for change, following in zip(changes, [*changes[1:], None]):
        day.append((change.at, change.state, change.reason))
        ends_at = change.ends_at
        if (change.state is OperatorState.WRAP_UP and ends_at is not None and ends_at <= now
                and (following is None or following.at > ends_at)):
            day.append((ends_at, OperatorState.AVAILABLE, None))
    return day


class OperatorDesk:
    def __init__(self, link: AmiLink, sessions: sessionmaker[Session], queues: list[str | tuple[str, Language | None]]):
        self.link = link
        self.sessions = sessions
        # Asterisk queue names, each with its callers' language if it has one:
        # (hotline-general-hak, Language.HAKKA), (hotline-priority, None).
        self.queues = [queue if isinstance(queue, tuple) else (queue, None) for queue in queues]

    def login(self, user: User) -> None:
        interface = self._interface(user)
        for queue, language in self.queues:
            level = str(penalty(user, language))
            try:
                self.link.action("QueueAdd", Queue=queue, Interface=interface, MemberName=user.display_name,
                                 Penalty=level, Paused="false")
            except AmiError as exc:
                if "Already there" not in str(exc):
                    raise
                # Still a member (persistentmembers): with the languages recorded now.
                self.link.action("QueuePenalty", Queue=queue, Interface=interface, Penalty=level)
        self._record(user, OperatorState.LOGGED_IN)
        self._record(user, OperatorState.AVAILABLE)

    def pause(self, user: User, reason: str) -> None:
        try:
            why = PauseReason(reason)
        except ValueError:
            raise DeskError("pause_reason", f"a pause needs one of the reasons: {', '.join(r.value for r in PauseReason)}") from None
        self.link.action("QueuePause", Interface=self._interface(user), Paused="true", Reason=why.value)
        self._record(user, OperatorState.PAUSED, why)

    def unpause(self, user: User) -> None:
        self.link.action("QueuePause", Interface=self._interface(user), Paused="false")
        self._record(user, OperatorState.AVAILABLE)

    def logout(self, user: User) -> None:
        for queue, _ in self.queues:
            try:
                self.link.action("QueueRemove", Queue=queue, Interface=self._interface(user))
            except AmiError as exc:
                if "Not there" not in str(exc):
                    raise
        self._record(user, OperatorState.LOGGED_OUT)

    @staticmethod
    def _interface(user: User) -> str:
        if not user.sip_extension:
            raise DeskError("no_extension", f"{user.username} has no SIP extension: give the account one to take calls",
                            username=user.username)
        return f"PJSIP/{user.sip_extension}"

    def _record(self, user: User, state: OperatorState, reason: PauseReason | None = None) -> None:
        with transaction(self.sessions) as session:
            # Asterisk tells the AMI link of the change too (QueueMemberPause...): the call
            # tracker may have recorded it already.
            if latest_states(session).get(user.id) != (state, reason):
                record_state(session, user.id, state, utcnow(), "console", reason)
