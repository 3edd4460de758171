"""The KPI fixture day: Thursday 26 November 2026 in Heyuan, small enough that every
figure of it was worked out by hand (tests/test_kpi_formulas.py shows the sums).

Local times (Asia/Shanghai). Two operators, A and B; callers c1, c2, c3 and one withheld.

 #  start     caller  lang queue    queued   answered (wait)  ended     outcome            operator  category
 1  09:00:00  c1      cmn  general  09:00:20 09:00:30 (10)    09:05:30  answered           A         household (IVR)
 2  09:10:00  c2      yue  general  09:10:10 09:10:24 (14)    09:12:24  answered           B         repair (request)
 3  09:20:00  c3      cmn  general  09:20:10 09:20:28 (18)    09:30:28  answered           A         household (IVR)
 4  09:40:00  —       cmn  general  09:40:15 — (3)            09:40:18  abandoned in queue
 5  10:00:00  c2      yue  general  10:00:10 — (40)           10:00:50  abandoned in queue
 6  10:30:00  c1      —    —        —        —                10:30:03  abandoned in IVR
 7  11:00:00  c3      cmn  —        —        —                11:00:30  abandoned in IVR
 8  14:00:00  c1      cmn  general  14:00:10 14:00:35 (25)    14:02:35  answered           B         household (IVR)
 9  15:00:00  c2      yue  general  15:00:10 —                15:01:10  callback requested
 o  12:00:00  outbound call by A (not counted)
 n  27 Nov 10:00  c3 about repair (answered by A: another category, so call 3 was resolved)
 m  29 Nov 10:00  c2 about repair (answered by B: 72 h 50 min after call 2, so call 2 was resolved)

Operators' states (wrap-ups scheduled for 15 s):
 A  08:30 logged in; 09:00:30 on call; 09:05:30 wrap-up; 09:20:28 on call; 09:30:30 wrap-up;
    12:00 paused (meal); 13:00 available; 17:30 logged out
 B  25 Nov 23:00 logged in; 01:00 logged out; 09:00 logged in; 09:10:24 on call; 09:12:24 wrap-up;
    09:12:30 paused (break); 09:42:30 available; 14:00:35 on call; 14:02:35 wrap-up; 16:00 logged out

Operators' languages: A native Mandarin and basic Cantonese; B none recorded (taken as
fluent Mandarin only).

IVR walks: call 1 welcome 1 → main 1; call 2 welcome 2 → main 4; call 6 hangs up at welcome;
call 7 welcome 1 → main 9 (refused) → main 7 (refused) → no key → hangs up at main.

Callbacks booked that day: done after 30 min; done after 90 min (2 tries); failed after 3 tries;
pending, not yet tried. Surveys due that day: 5 (provider P1, household), 3 (P1, repair),
4 (P2, household), one given up without an answer, one still scheduled.
"""
from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from sqlalchemy import select

from db.models import (
    Call, CallbackReason, CallbackTask, CallDirection, Caller, CallOutcome, Fluency, IvrSession, Language,
    OperatorLanguage, OperatorState, OperatorStateChange, PauseReason, PhoneKind, Provider, RequestChannel, Role,
    ServiceCategory, ServiceRequest, Survey, SurveyStatus, TaskStatus, User,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 26)
_serial = itertools.count(1)


def at(clock: str, day: dt.date = DAY) -> dt.datetime:
    """A local time of the day ("09:00:30") as aware UTC."""
    parts = [int(p) for p in clock.split(":")] + [0]
    return dt.datetime.combine(day, dt.time(parts[0], parts[1], parts[2]), TZ).astimezone(dt.timezone.utc)


def build(session) -> dict:
    """Add the fixture day's rows; returns the operators, callers and providers by letter."""
    tag = next(_serial)
    a = User(username=f"kpi-a{tag}", display_name="坐席甲", role=Role.OPERATOR, password_hash="x")
    b = User(username=f"kpi-b{tag}", display_name="坐席乙", role=Role.OPERATOR, password_hash="x")
    callers = [Caller(phone=f"1390000{tag:02d}{n:02d}", phone_kind=PhoneKind.MOBILE) for n in (1, 2, 3)]
    session.add_all([a, b, *callers])
    session.flush()
    session.add_all([OperatorLanguage(user_id=a.id, language=Language.MANDARIN, fluency=Fluency.NATIVE),
                     OperatorLanguage(user_id=a.id, language=Language.CANTONESE, fluency=Fluency.BASIC)])
    c1, c2, c3 = callers
    categories = {code: id_ for code, id_ in session.execute(select(ServiceCategory.code, ServiceCategory.id))}

    def call(start, caller, language, outcome, *, queued=None, answered=None, wait=None, ended, agent=None,
             category=None, walk=(), day=DAY, direction=CallDirection.INBOUND):
        row = Call(uniqueid=f"kpi{tag}.{next(_serial)}", direction=direction, caller_id=caller.id if caller else None,
                   caller_number=caller.phone if caller else "anonymous", started_at=at(start, day),
                   queue="general" if queued else None, queue_entered_at=at(queued, day) if queued else None,
                   queue_wait_seconds=wait, answered_at=at(answered, day) if answered else None,
                   ended_at=at(ended, day), ivr_language=language, outcome=outcome,
                   agent_id=agent.id if agent else None)
        session.add(row)
        session.flush()
        steps = [{"node": node, "prompt": prompt, "key": key, "at": at(start, day).isoformat()} for node, prompt, key in walk]
        if steps or category:
            session.add(IvrSession(call_id=row.id, script="menu", language=language, started_at=at(start, day),
                                   steps=steps, result={"HOTLINE_CATEGORY": category or ""}))
        return row

    cmn, yue = Language.MANDARIN, Language.CANTONESE
    call("09:00:00", c1, cmn, CallOutcome.ANSWERED, queued="09:00:20", answered="09:00:30", wait=10, ended="09:05:30",
         agent=a, category="household", walk=[("welcome", "welcome", "1"), ("main", "main_menu", "1")])
    second = call("09:10:00", c2, yue, CallOutcome.ANSWERED, queued="09:10:10", answered="09:10:24", wait=14,
                  ended="09:12:24", agent=b, walk=[("welcome", "welcome", "2"), ("main", "main_menu", "4")])
    session.add(ServiceRequest(number=f"HYKPI{tag}-1", caller_id=c2.id, category_id=categories["repair"],
                               channel=RequestChannel.PHONE, call_id=second.id))
    call("09:20:00", c3, cmn, CallOutcome.ANSWERED, queued="09:20:10", answered="09:20:28", wait=18, ended="09:30:28",
         agent=a, category="household")
    call("09:40:00", None, cmn, CallOutcome.ABANDONED_IN_QUEUE, queued="09:40:15", wait=3, ended="09:40:18")
    # No wait recorded by Asterisk: it is counted from the queue's join to the hang-up (40 s).
    call("10:00:00", c2, yue, CallOutcome.ABANDONED_IN_QUEUE, queued="10:00:10", ended="10:00:50")
    call("10:30:00", c1, None, CallOutcome.ABANDONED_IN_IVR, ended="10:30:03", walk=[("welcome", None, "hangup")])
    call("11:00:00", c3, cmn, CallOutcome.ABANDONED_IN_IVR, ended="11:00:30",
         walk=[("welcome", "welcome", "1"), ("main", "main_menu", "9"), ("main", "invalid", "7"),
               ("main", "invalid", "timeout"), ("main", None, "hangup")])
    call("14:00:00", c1, cmn, CallOutcome.ANSWERED, queued="14:00:10", answered="14:00:35", wait=25, ended="14:02:35",
         agent=b, category="household")
    call("15:00:00", c2, yue, CallOutcome.CALLBACK_REQUESTED, queued="15:00:10", ended="15:01:10")
    call("12:00:00", c1, None, CallOutcome.ANSWERED, answered="12:00:10", ended="12:03:10", agent=a,
         direction=CallDirection.OUTBOUND)
    call("10:00:00", c3, cmn, CallOutcome.ANSWERED, queued="10:00:05", answered="10:00:10", wait=5, ended="10:02:10",
         agent=a, category="repair", day=DAY + dt.timedelta(days=1))
    call("10:00:00", c2, yue, CallOutcome.ANSWERED, queued="10:00:05", answered="10:00:10", wait=5, ended="10:02:10",
         agent=b, category="repair", day=DAY + dt.timedelta(days=3))

    def state(user, clock, state_, ends=None, reason=None, day=DAY):
        session.add(OperatorStateChange(user_id=user.id, state=state_, at=at(clock, day), reason=reason,
                                        ends_at=at(ends, day) if ends else None, source="ami"))

    s = OperatorState
    for clock, state_, ends, reason in (("08:30:00", s.LOGGED_IN, None, None), ("09:00:30", s.ON_CALL, None, None),
                                        ("09:05:30", s.WRAP_UP, "09:05:45", None), ("09:20:28", s.ON_CALL, None, None),
                                        ("09:30:30", s.WRAP_UP, "09:30:45", None), ("12:00:00", s.PAUSED, None, PauseReason.MEAL),
                                        ("13:00:00", s.AVAILABLE, None, None), ("17:30:00", s.LOGGED_OUT, None, None)):
        state(a, clock, state_, ends, reason)
    state(b, "23:00:00", s.LOGGED_IN, day=DAY - dt.timedelta(days=1))
    for clock, state_, ends, reason in (("01:00:00", s.LOGGED_OUT, None, None), ("09:00:00", s.LOGGED_IN, None, None),
                                        ("09:10:24", s.ON_CALL, None, None), ("09:12:24", s.WRAP_UP, "09:12:39", None),
                                        ("09:12:30", s.PAUSED, None, PauseReason.BREAK), ("09:42:30", s.AVAILABLE, None, None),
                                        ("14:00:35", s.ON_CALL, None, None), ("14:02:35", s.WRAP_UP, "14:02:50", None),
                                        ("16:00:00", s.LOGGED_OUT, None, None)):
        state(b, clock, state_, ends, reason)

    for created, status, attempts, done in (("15:01:10", TaskStatus.DONE, 1, "15:31:10"),
                                            ("11:00:00", TaskStatus.DONE, 2, "12:30:00"),
                                            ("10:00:50", TaskStatus.FAILED, 3, None),
                                            ("16:00:00", TaskStatus.PENDING, 0, None)):
        session.add(CallbackTask(caller_id=c2.id, phone=c2.phone, reason=CallbackReason.QUEUE_CALLBACK,
                                 due_at=at(created), created_at=at(created), status=status, attempts=attempts,
                                 done_at=at(done) if done else None))

    providers = [Provider(name=f"家政{tag}-{n}", licence_number=f"KPI{tag}P{n}", phone="13900000000") for n in (1, 2)]
    session.add_all(providers)
    session.flush()
    p1, p2 = providers
    for n, (provider, category, status, rating) in enumerate(((p1, "household", SurveyStatus.COMPLETED, 5),
                                                              (p1, "repair", SurveyStatus.COMPLETED, 3),
                                                              (p2, "household", SurveyStatus.COMPLETED, 4),
                                                              (p2, "repair", SurveyStatus.FAILED, None),
                                                              (p1, "household", SurveyStatus.SCHEDULED, None))):
        request = ServiceRequest(number=f"HYKPI{tag}-S{n}", caller_id=c1.id, category_id=categories[category],
                                 channel=RequestChannel.PHONE)
        session.add(request)
        session.flush()
        session.add(Survey(request_id=request.id, caller_id=c1.id, provider_id=provider.id, language=Language.MANDARIN,
                           due_at=at("18:00:00"), status=status, rating=rating))
    session.flush()
    return {"a": a, "b": b, "c1": c1, "c2": c2, "c3": c3, "p1": p1, "p2": p2}
