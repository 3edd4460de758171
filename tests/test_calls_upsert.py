"""The calls row's one upsert (db/calls.py): both writers, either order, the same row."""
import datetime as dt

import pytest
from sqlalchemy import delete, select

from db.calls import RULES, upsert_calls
from db.models import Call, CallDirection, CallOutcome, IvrOutcome, IvrSession
from db.session import make_session_factory
from ivr.call_log import IvrCallRecord, save_calls

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)


def seconds(n: float) -> dt.datetime:
    return START + dt.timedelta(seconds=n)


def test_every_column_of_calls_has_its_rule():
    # A generated column (caller_last4) is the database's to compute, never a writer's.
    written = {column.key for column in Call.__table__.c if column.computed is None}
    assert "caller_last4" not in written and set(RULES) == written - {"id"}


def ivr_writes(factory, uniqueid: str, outcome: IvrOutcome, started: float, ended: float | None, path: list[str]):
    record = IvrCallRecord(uniqueid=uniqueid, linkedid=uniqueid, did="4008300762", caller_number="13912345678",
                           phone=None, script="ivr", started_at=seconds(started), language="yue", outcome=outcome,
                           ended_at=seconds(ended) if ended is not None else None, path=path, queue="general")
    with factory.begin() as session:
        save_calls(session, [record], SHANGHAI)


def ami_writes(factory, uniqueid: str, outcome: CallOutcome, ended: float | None):
    row = {"uniqueid": uniqueid, "direction": CallDirection.INBOUND, "caller_number": "13912345678",
           "did": "4008300762", "started_at": seconds(0), "queue": "general", "queue_entered_at": seconds(20),
           "queue_wait_seconds": 40, "answered_at": None, "agent_extension": None, "agent_id": None,
           "ended_at": seconds(ended) if ended is not None else None, "hangup_cause": 16 if ended else None,
           "recording_file": None, "outcome": outcome}
    with factory.begin() as session:
        upsert_calls(session, [row])


def read(factory, uniqueid: str) -> dict:
    with factory() as session:
        call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
        # Not the keys: each order has a call of its own.
        return {c: getattr(call, c) for c in RULES if c not in ("uniqueid", "linkedid")}


# (what the IVR's second pass says, what AMI says at the hang-up, the row's outcome)
MEETINGS = [
    # Nobody answered; the caller left a voicemail in the IVR the queue sent them back to.
    (IvrOutcome.VOICEMAIL, CallOutcome.ABANDONED_IN_QUEUE, CallOutcome.VOICEMAIL),
    # Nobody answered; the caller hung up in that IVR: they had waited in the queue.
    (IvrOutcome.ABANDONED, CallOutcome.ABANDONED_IN_QUEUE, CallOutcome.ABANDONED_IN_QUEUE),
]


@pytest.mark.parametrize("ivr_outcome, ami_outcome, expected", MEETINGS)
def test_the_writers_meet_on_the_same_row_in_either_order(engine, ivr_outcome, ami_outcome, expected):
    factory = make_session_factory(engine)
    rows = []
    for order, uniqueid in (("ivr first", "1795760000.1"), ("ami first", "1795760000.2")):
        ivr_writes(factory, uniqueid, IvrOutcome.ROUTED, 1, None, ["welcome", "general"])  # the first IVR pass
        ami_writes(factory, uniqueid, CallOutcome.IN_PROGRESS, None)  # AMI sees it queue
        second_pass = lambda: ivr_writes(factory, uniqueid, ivr_outcome, 60, 90, ["no_answer", "voicemail"])  # noqa: E731
        hang_up = lambda: ami_writes(factory, uniqueid, ami_outcome, 91)  # noqa: E731
        for write in ((second_pass, hang_up) if order == "ivr first" else (hang_up, second_pass)):
            write()
        rows.append(read(factory, uniqueid))
    try:
        assert rows[0] == rows[1]
        row = rows[0]
        assert row["outcome"] is expected
        assert row["started_at"] == seconds(0)  # the earliest start either writer saw
        assert row["ended_at"] == seconds(91)  # the hang-up, after the IVR
        assert row["queue_entered_at"] == seconds(20) and row["hangup_cause"] == 16
        assert row["ivr_path"] == "welcome>general>no_answer>voicemail"
        assert row["ivr_language"].value == "yue" and row["direction"] is CallDirection.INBOUND
    finally:
        with factory.begin() as session:
            ids = select(Call.id).where(Call.uniqueid.in_(["1795760000.1", "1795760000.2"])).scalar_subquery()
            session.execute(delete(IvrSession).where(IvrSession.call_id.in_(ids)))
            session.execute(delete(Call).where(Call.uniqueid.in_(["1795760000.1", "1795760000.2"])))


def test_a_settled_outcome_is_not_reopened_and_ties_keep_the_row(engine):
    factory = make_session_factory(engine)
    uniqueid = "1795760000.3"
    try:
        ami_writes(factory, uniqueid, CallOutcome.ANSWERED, 91)
        ami_writes(factory, uniqueid, CallOutcome.IN_PROGRESS, None)  # a late, stale view
        assert read(factory, uniqueid)["outcome"] is CallOutcome.ANSWERED
        ami_writes(factory, uniqueid, CallOutcome.ABANDONED_IN_QUEUE, 91)
        assert read(factory, uniqueid)["outcome"] is CallOutcome.ANSWERED
        assert read(factory, uniqueid)["ended_at"] == seconds(91)
    finally:
        with factory.begin() as session:
            session.execute(delete(Call).where(Call.uniqueid == uniqueid))
