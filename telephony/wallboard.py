"""The live wallboard's state, and the AMI link's hint that it changed.

The state is read from the database, never kept in a process: callers waiting in each
queue are the calls in progress that joined a queue and have not left it (no queue wait
recorded yet, not answered), operators' states are their latest recorded changes. So a
console that restarts shows the truth at once, and the AMI link's resync after a
reconnect (QueueStatus, telephony/call_events.py) corrects the rows the board reads.

The AMI link publishes a small "the wallboard changed" message on the pop bus after it
wrote a batch holding queue or member events; the supervisors' browsers then fetch the
board again. The message carries no state: losing one costs a few seconds (the page also
fetches the board every WALLBOARD_REFRESH seconds), never a wrong figure.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from db.models import Call, CallOutcome, OperatorState, OperatorStateChange, PauseReason, User
from telephony.ami import AmiEvent
from telephony.operator_desk import current_state

# The pop bus topic the wallboard's hints travel on (extensions are digits: no clash).
WALLBOARD_TOPIC = "wallboard"
# A call in progress for longer than this is no caller in a queue, but a row nothing
# settled (an AMI link that was down while it ended): it is left off the board.
WAIT_HORIZON = dt.timedelta(hours=4)
# What the board shows an operator as: "logged in" is available, no record is signed out.
BOARD_STATES = (OperatorState.AVAILABLE, OperatorState.ON_CALL, OperatorState.WRAP_UP, OperatorState.PAUSED,
                OperatorState.LOGGED_OUT)
SHOWN_AS = {OperatorState.LOGGED_IN: OperatorState.AVAILABLE}


def waiting_in_queue(now: dt.datetime):
    """The calls waiting in a queue now, as a WHERE clause on calls (the calls in progress
    are few: ix_calls_outcome_started's first column finds them)."""
    return and_(Call.outcome == CallOutcome.IN_PROGRESS, Call.queue_entered_at >= now - WAIT_HORIZON,
                Call.queue_wait_seconds.is_(None), Call.answered_at.is_(None), Call.ended_at.is_(None))


@dataclass
class QueueOnBoard:
    name: str  # the menu's queue (general); the page shows its title
    red_after: int  # seconds of longest wait from which the queue is shown red
    entered: list[dt.datetime] = field(default_factory=list)  # its waiting callers' joining times, oldest first

    @property
    def waiting(self) -> int:
        return len(self.entered)

    def longest_wait(self, now: dt.datetime) -> int:
        return max(0, int((now - self.entered[0]).total_seconds())) if self.entered else 0

    def red(self, now: dt.datetime) -> bool:
        return bool(self.entered) and self.longest_wait(now) >= self.red_after


@dataclass(frozen=True)
class OperatorOnBoard:
    user_id: int
    name: str
    extension: str
    state: OperatorState  # one of BOARD_STATES
    reason: PauseReason | None
    since: dt.datetime | None  # when the state began (None: never signed in)
    until: dt.datetime | None = None  # a wrap-up's scheduled end


@dataclass
class Board:
    at: dt.datetime
    queues: list[QueueOnBoard]
    operators: list[OperatorOnBoard]

    # When the board next changes with no event to say so: the earliest wrap-up's end.
    next_change: dt.datetime | None = None

    def count(self, state: OperatorState) -> int:
        return sum(1 for operator in self.operators if operator.state is state)


def waiting_callers(session: Session, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """(queue, joined at) of every caller waiting now, the longest waiting first."""
    rows = session.execute(select(Call.queue, Call.queue_entered_at).where(waiting_in_queue(now))
                           .order_by(Call.queue_entered_at))
    return [(queue or "", _aware(entered)) for queue, entered in rows]


def operators_now(session: Session, now: dt.datetime) -> list[OperatorOnBoard]:
    """Every active account with an extension, in the state its latest change says."""
    change = OperatorStateChange
    newest = select(change.user_id, func.max(change.at).label("at")).group_by(change.user_id).subquery()
    latest = {}
    for user_id, state, reason, at, ends_at in session.execute(
            select(change.user_id, change.state, change.reason, change.at, change.ends_at)
            .join(newest, (newest.c.user_id == change.user_id) & (newest.c.at == change.at)).order_by(change.id)):
        # Two states at one instant (signed in, then available): the later row wins.
        latest[user_id] = (state, reason, _aware(at), _aware(ends_at) if ends_at else None)
    people = session.execute(select(User.id, User.display_name, User.sip_extension)
                             .where(User.active, User.sip_extension.is_not(None)).order_by(User.sip_extension))
    board = []
    for user_id, name, extension in people:
        if user_id not in latest:
            board.append(OperatorOnBoard(user_id, name, extension, OperatorState.LOGGED_OUT, None, None))
            continue
        recorded, reason, at, ends_at = latest[user_id]
        state, reason = current_state(recorded, reason, ends_at, now)
        since = ends_at if state is not recorded else at  # a wrap-up that ran out: available since its end
        until = ends_at if state is OperatorState.WRAP_UP else None
        board.append(OperatorOnBoard(user_id, name, extension, SHOWN_AS.get(state, state), reason, since, until))
    return board


def wallboard(session: Session, now: dt.datetime, queues: list[str], red_after: dict[str, int],
              default_red_after: int) -> Board:
    """The board now: every queue of the menu (and any other a caller waits in), every operator."""
    shown = {name: QueueOnBoard(name, red_after.get(name, default_red_after)) for name in queues}
    for queue, entered in waiting_callers(session, now):
        shown.setdefault(queue, QueueOnBoard(queue, red_after.get(queue, default_red_after))).entered.append(entered)
    operators = operators_now(session, now)
    wrap_up_ends = [operator.until for operator in operators if operator.until is not None]
    return Board(now, list(shown.values()), operators, min(wrap_up_ends, default=None))


def unknown_queues(red_after_by_queue: dict[str, int], queues) -> list[str]:
    """The queues a per-queue threshold names that the IVR menu does not have."""
    return sorted(set(red_after_by_queue) - set(queues))


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite gives back naive UTC times."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)


class WallboardNotifier:
    """A call tracker listener: after a write that held queue or member events, tells
    the supervisors' browsers (the pop bus's wallboard topic) to fetch the board again."""

    EVENTS = frozenset({"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect", "AgentComplete",
                        "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueStatusComplete",
                        "CoreShowChannelsComplete"})

    def __init__(self, bus):
        self.bus = bus
        self._changed = False

    def on_event(self, event: AmiEvent) -> None:
        if event.name in self.EVENTS:
            self._changed = True

    def after_flush(self) -> None:
        if self._changed:
            self._changed = False
            self.bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
