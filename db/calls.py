"""The `calls` row's one upsert, shared by its two writers.

The IVR's call log (ivr/call_log.py) and the AMI link's call events
(telephony/call_events.py) each know part of a call and meet on its row, in either
order, any number of times. Each column has one rule, whoever writes; a writer passes
only the columns it knows, and a column it does not pass is left as it is:

- first seen: linkedid and direction (set by whoever inserts the row), and the times
  the AMI link sees once (queue joined, answered);
- earliest: started_at, the earliest start either writer saw;
- latest end: ended_at, the latest end either writer saw (the hang-up, after the IVR);
- appended: ivr_path, each IVR pass's path after the last (cut to the column);
- most telling: outcome, ranked so that the IVR's verdicts (voicemail, callback) stand,
  a settled outcome is never reopened, and an IVR hang-up yields to what AMI saw after;
- everything else: the last value known (a NULL keeps what the row had).
"""
from __future__ import annotations

from typing import Iterable, Mapping

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from db.models import Call, CallOutcome

FIRST_SEEN = "coalesce(calls.{c}, excluded.{c})"
LAST_KNOWN = "coalesce(excluded.{c}, calls.{c})"
EARLIEST = "CASE WHEN excluded.{c} < calls.{c} THEN excluded.{c} ELSE coalesce(calls.{c}, excluded.{c}) END"
LATEST = "CASE WHEN excluded.{c} > calls.{c} THEN excluded.{c} ELSE coalesce(calls.{c}, excluded.{c}) END"
APPENDED = "substr(coalesce(calls.{c} || '>', '') || coalesce(excluded.{c}, ''), 1, 255)"
KEPT = None  # never updated: the row's inserter set it

# How telling an outcome is; the higher one wins, and on a tie the row keeps its own.
OUTCOME_RANK = {
    CallOutcome.IN_PROGRESS: 0,
    CallOutcome.ABANDONED_IN_IVR: 1,  # AMI may yet see the caller join a queue
    CallOutcome.ANSWERED: 2,
    CallOutcome.ABANDONED_IN_QUEUE: 2,
    CallOutcome.FAILED: 2,
    CallOutcome.AFTER_HOURS: 2,
    CallOutcome.VOICEMAIL: 3,  # the IVR's verdicts: what AMI sees of the call later does not undo them
    CallOutcome.CALLBACK_REQUESTED: 3,
}


def _rank(side: str) -> str:
    cases = " ".join(f"WHEN '{outcome.value}' THEN {rank}" for outcome, rank in OUTCOME_RANK.items())
    return f"CASE {side}.outcome {cases} ELSE 2 END"


MOST_TELLING = f"CASE WHEN {_rank('excluded')} > {_rank('calls')} THEN excluded.outcome ELSE calls.outcome END"

RULES: dict[str, str | None] = {
    "uniqueid": KEPT,
    "linkedid": KEPT,
    "direction": KEPT,
    "started_at": EARLIEST,
    "queue_entered_at": FIRST_SEEN,
    "answered_at": FIRST_SEEN,
    "ended_at": LATEST,
    "ivr_path": APPENDED,
    "outcome": MOST_TELLING,
    **{name: LAST_KNOWN for name in ("did", "caller_id", "caller_number", "ivr_language", "queue",
                                      "queue_wait_seconds", "agent_id", "agent_extension", "hangup_cause",
                                      "recording_file", "callback_task_id")},
}


def upsert_sql(values: Mapping[str, str]) -> str:
    """INSERT … ON CONFLICT (uniqueid) DO UPDATE for these columns, `values` giving each
    column's SQL (a placeholder, or a sub-select); SQLite and PostgreSQL alike."""
    columns = list(values)
    updates = [f"{c} = {RULES[c].format(c=c)}" for c in columns if RULES[c] is not KEPT]
    return (f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join(values.values())}) "
            f"ON CONFLICT (uniqueid) DO UPDATE SET {', '.join(updates)}")


def upsert_calls(session: Session, rows: Iterable[Mapping[str, object]]) -> None:
    """Merge these rows (dicts, each with the same columns) into `calls`, one statement for all."""
    rows = list(rows)
    if not rows:
        return
    columns = list(rows[0])
    table = Call.__table__
    statement = text(upsert_sql({c: f":{c}" for c in columns})).bindparams(
        *(bindparam(c, type_=table.c[c].type) for c in columns))
    session.execute(statement, rows)
