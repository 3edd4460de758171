"""Reading the database into tallies (kpi/tally.py): calls, operators' time, IVR walks.

Every figure of a day is kept under the keys the reports break it down by: ("all", ""),
("queue", name), ("operator", user id), ("language", code) and ("category", code). A call
counts under each key it has; an operator's signed-in time under "all" and its operator.
Days are local days (app.timezone): a tally of one day never depends on another day's
rollup, so the days of a month add up to the month.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, null, select
from sqlalchemy.orm import Session, aliased

from db.base import seconds_between
from db.languages import UNRECORDED, answers_in, everyones_skills
from db.local_days import local_day_bounds
from db.models import (
    Call, CallbackTask, CallDirection, CallOutcome, Fluency, IvrSession, Language, OperatorState, OperatorStateChange,
    ServiceCategory, ServiceRequest, Survey, User,
)
from dialplans import contract
from kpi.tally import Tally, add_walk

ALL = ("all", "")
DIMENSIONS = ("queue", "operator", "language", "category")
# A caller who calls again about the same category within this window was not helped the first time.
FCR_WINDOW = dt.timedelta(hours=72)
# A wrap-up belongs to the call its operator ended just before it (AgentComplete comes a moment after the hang-up).
WRAP_UP_GRACE = dt.timedelta(seconds=10)

Key = tuple[str, str]
Skills = dict[int, dict[Language, Fluency]]


class CallRow(NamedTuple):
    id: int
    caller_id: int | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    queue_entered_at: dt.datetime | None
    queue_wait_seconds: int | None
    outcome: CallOutcome
    queue: str | None
    agent_id: int | None
    language: Any
    category: str | None


def _call_category():
    """A call's category: that of the first request taken on it, else what the caller chose in the IVR."""
    from_request = (select(ServiceCategory.code).join(ServiceRequest, ServiceRequest.category_id == ServiceCategory.id)
                    .where(ServiceRequest.call_id == Call.id).order_by(ServiceRequest.id).limit(1)
                    .correlate(Call).scalar_subquery())
    chosen = IvrSession.result[contract.CATEGORY].as_string()
    from_ivr = (select(func.max(chosen)).where(IvrSession.call_id == Call.id, chosen != "")
                .correlate(Call).scalar_subquery())
    return func.coalesce(from_request, from_ivr)


def call_rows(session: Session, start: dt.datetime, end: dt.datetime, categories: bool = True,
              callers_of: tuple[dt.datetime, dt.datetime] | None = None) -> list[CallRow]:
    """The inbound calls that started in [start, end), oldest first; with `callers_of`,
    only those from a known caller who also called in that span (the repeat calls the
    first-contact window looks for: reading every later call would cost as much again)."""
    category = _call_category() if categories else None
    columns = [Call.id, Call.caller_id, Call.started_at, Call.answered_at, Call.ended_at, Call.queue_entered_at,
               Call.queue_wait_seconds, Call.outcome, Call.queue, Call.agent_id, Call.ivr_language]
    query = (select(*columns, (category if categories else null()).label("category"))
             .where(Call.direction == CallDirection.INBOUND, Call.started_at >= start, Call.started_at < end)
             .order_by(Call.started_at, Call.id))
    if callers_of is not None:
        earlier = aliased(Call)
        query = query.where(Call.caller_id.in_(
            select(earlier.caller_id).where(earlier.direction == CallDirection.INBOUND, earlier.caller_id.is_not(None),
                                            earlier.started_at >= callers_of[0], earlier.started_at < callers_of[1])))
    return [CallRow(*row) for row in session.execute(query)]


def keys_of(call: CallRow) -> list[Key]:
    keys = [ALL]
    if call.queue:
        keys.append(("queue", call.queue))
    if call.agent_id is not None:
        keys.append(("operator", str(call.agent_id)))
    if call.language is not None:
        keys.append(("language", getattr(call.language, "value", call.language)))
    if call.category:
        keys.append(("category", call.category))
    return keys


def queue_wait(call: CallRow) -> int:
    """Seconds from joining the queue to the answer or the hang-up (Asterisk's count when it gave one)."""
    if call.queue_wait_seconds is not None:
        return call.queue_wait_seconds
    return seconds_between(call.queue_entered_at, call.answered_at or call.ended_at) or 0


def add_call(tally: Tally, call: CallRow, wrap_seconds: int, tz: ZoneInfo) -> None:
    """One inbound call's part in the figures (kpi/formulas.py says what each one means)."""
    tally.inbound += 1
    tally.arrivals[call.started_at.astimezone(tz).hour] += 1
    if call.outcome == CallOutcome.ABANDONED_IN_IVR:
        tally.ivr_abandons[seconds_between(call.started_at, call.ended_at) or 0] += 1
    queued = call.queue_entered_at is not None
    if queued:
        tally.offered += 1
    answered = call.answered_at is not None and call.outcome == CallOutcome.ANSWERED
    if queued and answered:
        tally.answer_waits[queue_wait(call)] += 1
    elif queued and call.outcome == CallOutcome.ABANDONED_IN_QUEUE:
        tally.queue_abandons[queue_wait(call)] += 1
    if answered:
        talk = seconds_between(call.answered_at, call.ended_at) or 0
        tally.talk_seconds += talk
        tally.wrap_seconds += wrap_seconds
        tally.handle_times[talk + wrap_seconds] += 1


class Changes:
    """Operators' recorded states, each operator's in time order."""

    def __init__(self, rows: Iterable[Any]):
        self.by_user: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            self.by_user[row.user_id].append(row)

    def wrap_up_after(self, call: CallRow) -> int:
        """Seconds of the wrap-up its operator began as the call ended: until the wrap-up's
        scheduled end or the operator's next change, whichever came first."""
        if call.agent_id is None or call.answered_at is None or call.ended_at is None:
            return 0
        changes = self.by_user.get(call.agent_id, [])
        for index, change in enumerate(changes):
            if change.state != OperatorState.WRAP_UP or not (call.answered_at <= change.at <= call.ended_at + WRAP_UP_GRACE):
                continue
            following = changes[index + 1].at if index + 1 < len(changes) else None
            ends = min([t for t in (change.ends_at, following) if t is not None], default=change.at)
            return max(0, round((ends - change.at).total_seconds()))
        return 0

    def intervals(self, user_id: int, start: dt.datetime, end: dt.datetime):
        """(state, seconds) of the operator's time within [start, end); a wrap-up past its
        scheduled end with nothing recorded since is time available."""
        changes = self.by_user.get(user_id, [])
        for index, change in enumerate(changes):
            following = changes[index + 1].at if index + 1 < len(changes) else end
            pieces = [(change.state, change.at, following)]
            if change.state == OperatorState.WRAP_UP and change.ends_at is not None and change.ends_at < following:
                pieces = [(OperatorState.WRAP_UP, change.at, change.ends_at), (OperatorState.AVAILABLE, change.ends_at, following)]
            for state, begin, finish in pieces:
                begin, finish = max(begin, start), min(finish, end)
                if finish > begin:
                    yield state, round((finish - begin).total_seconds())


def operator_changes(session: Session, start: dt.datetime, end: dt.datetime) -> Changes:
    """The changes within [start, end) and, for each operator, the last one before start
    (the state they were in at the start)."""
    change = OperatorStateChange
    # Per operator, the time of their last change before start: an index step each.
    last_at = (select(func.max(change.at)).where(change.user_id == User.id, change.at < start)
               .correlate(User).scalar_subquery())
    last_before = select(User.id.label("user_id"), last_at.label("at")).subquery()
    columns = (change.user_id, change.state, change.at, change.ends_at)
    earlier = select(*columns).join(last_before, and_(change.user_id == last_before.c.user_id, change.at == last_before.c.at))
    within = select(*columns).where(change.at >= start, change.at < end)
    rows = session.execute(earlier.union_all(within)).all()
    rows.sort(key=lambda row: (row.user_id, row.at, row.state.value if hasattr(row.state, "value") else row.state))
    return Changes(rows)


def add_operator_time(tallies: dict[Key, Tally], changes: Changes, start: dt.datetime, end: dt.datetime) -> None:
    for user_id in changes.by_user:
        for state, seconds in changes.intervals(user_id, start, end):
            for key in (ALL, ("operator", str(user_id))):
                tally = tallies[key]
                if state != OperatorState.LOGGED_OUT:
                    tally.signed_in_seconds += seconds
                if state == OperatorState.PAUSED:
                    tally.paused_seconds += seconds
                if state in (OperatorState.ON_CALL, OperatorState.WRAP_UP):
                    tally.busy_seconds += seconds


def walks(session: Session, start: dt.datetime, end: dt.datetime) -> dict[int, list[list[dict[str, Any]]]]:
    """The IVR passes of the inbound calls that started in [start, end), by call."""
    query = (select(IvrSession.call_id, IvrSession.steps).join(Call, Call.id == IvrSession.call_id)
             .where(Call.direction == CallDirection.INBOUND, Call.started_at >= start, Call.started_at < end)
             .order_by(IvrSession.id))
    found: dict[int, list] = defaultdict(list)
    for call_id, steps in session.execute(query):
        found[call_id].append(steps or [])
    return found


def first_contact_resolved(call: CallRow, later: list[CallRow]) -> bool:
    """No call from the same caller about the same category within FCR_WINDOW after this one."""
    return not any(other.id != call.id and call.started_at <= other.started_at < call.started_at + FCR_WINDOW
                   and other.caller_id == call.caller_id and other.category == call.category for other in later)


def repeat_index(following: list[CallRow]) -> dict[tuple, list[CallRow]]:
    """The calls that may repeat one: by caller and category."""
    index: dict[tuple, list[CallRow]] = defaultdict(list)
    for other in following:
        if other.caller_id is not None and other.category:
            index[(other.caller_id, other.category)].append(other)
    return index


def language_match(call: CallRow, speakers: Skills) -> bool | None:
    """Whether the operator who answered the call speaks the caller's language natively or
    fluently, by the languages on the operator's record (None: not judged, i.e. not
    answered, or the caller's language or the operator unknown)."""
    return judged_match(call.outcome, call.answered_at, call.agent_id, call.language, speakers)


def judged_match(outcome, answered_at, agent_id, language, speakers: Skills) -> bool | None:
    """language_match's rule on a call's own fields (the call log judges its page's calls by it)."""
    if outcome != CallOutcome.ANSWERED or answered_at is None or agent_id is None or language is None:
        return None
    return answers_in(speakers.get(agent_id, UNRECORDED), Language(getattr(language, "value", language)))


def tally_calls(calls: list[CallRow], repeats: dict[tuple, list[CallRow]], changes: Changes, steps: dict[int, list],
                tz: ZoneInfo, speakers: Skills | None = None) -> dict[Key, Tally]:
    """The tallies, by key, of these calls; `repeats` (repeat_index) holds every call the
    FCR window of any of them may reach (themselves included); `speakers` (operators'
    languages by user id) to count the language match, None not to."""
    tallies: dict[Key, Tally] = defaultdict(Tally)
    for call in calls:
        wrap = changes.wrap_up_after(call)
        eligible = call.caller_id is not None and bool(call.category) and call.outcome == CallOutcome.ANSWERED
        resolved = eligible and first_contact_resolved(call, repeats.get((call.caller_id, call.category), []))
        matched = None if speakers is None else language_match(call, speakers)
        for key in keys_of(call):
            tally = tallies[key]
            add_call(tally, call, wrap, tz)
            if eligible:
                tally.fcr_calls += 1
                tally.fcr_resolved += resolved
            if matched is not None:
                tally.language_judged += 1
                tally.language_matched += matched
            for walk in steps.get(call.id, ()):
                add_walk(tally, walk)
    tallies[ALL]  # a day without calls still has its (empty) tally
    return tallies


def period_tallies(session: Session, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> dict[Key, Tally]:
    """Every tally of the calls and operator time in [start, end), straight from the raw rows."""
    calls = call_rows(session, start, end)
    repeats = repeat_index(calls + call_rows(session, end, end + FCR_WINDOW, callers_of=(start, end)))
    changes = operator_changes(session, start - dt.timedelta(hours=1), end + dt.timedelta(hours=1))
    tallies = tally_calls(calls, repeats, changes, walks(session, start, end), tz, everyones_skills(session))
    add_operator_time(tallies, operator_changes(session, start, end), start, end)
    return tallies


def daily_tallies(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo,
                  until: dt.datetime | None = None) -> dict[dt.date, dict[Key, Tally]]:
    """Each local day's tallies from the raw rows, as period_tallies gives them for that
    day alone, but read in one pass for all the days (`until`: no later than this, for today)."""
    start = local_day_bounds(first, tz)[0]
    end = local_day_bounds(last, tz)[1]
    if until is not None:
        end = min(end, until)
    calls = call_rows(session, start, end)
    later = call_rows(session, end, end + FCR_WINDOW, callers_of=(start, end))
    repeats = repeat_index(calls + later)
    wrap_ups = operator_changes(session, start - dt.timedelta(hours=1), end + dt.timedelta(hours=1))
    states = operator_changes(session, start, end)
    steps = walks(session, start, end)
    speakers = everyones_skills(session)
    by_day: dict[dt.date, list[CallRow]] = defaultdict(list)
    for call in calls:
        by_day[call.started_at.astimezone(tz).date()].append(call)
    found = {}
    day = first
    while day <= last:
        day_start, day_end = local_day_bounds(day, tz)
        tallies = tally_calls(by_day.get(day, []), repeats, wrap_ups, steps, tz, speakers)
        add_operator_time(tallies, states, day_start, min(day_end, end))
        found[day] = tallies
        day += dt.timedelta(days=1)
    return found


def headline_tally(session: Session, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> Tally:
    """The calls of [start, end) only, without what a wallboard does not show (operator
    time, wrap-ups, IVR walks, repeat calls): its handle times are talk time alone."""
    calls = call_rows(session, start, end, categories=False)
    return tally_calls(calls, {}, Changes(()), {}, tz)[ALL]


def callback_rows(session: Session, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """The callback tasks booked in [start, end)."""
    task = CallbackTask
    return session.execute(select(task.status, task.attempts, task.created_at, task.done_at)
                           .where(task.created_at >= start, task.created_at < end)).all()


def survey_rows(session: Session, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """The surveys due in [start, end), with their provider and their request's category."""
    return session.execute(
        select(Survey.status, Survey.rating, Survey.provider_id, ServiceCategory.code.label("category"))
        .join(ServiceRequest, ServiceRequest.id == Survey.request_id)
        .join(ServiceCategory, ServiceCategory.id == ServiceRequest.category_id)
        .where(Survey.due_at >= start, Survey.due_at < end)).all()
