"""What the IVR reads and writes in the database.

A call's writes — caller, call row, IVR session and steps, a voicemail request or a
callback task — are handed to the call-log writer when the IVR is done with the call,
and written in one transaction with the others that finished meanwhile. During the
call only short read-only look-ups run, so no write lock is held while a caller listens
(SQLite has one writer for the whole hotline).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Engine, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from db.models import (
    OPEN_REQUEST_STATUSES,
    Call,
    CallbackReason,
    CallbackTask,
    CallDirection,
    Caller,
    CallOutcome,
    Dispatch,
    DispatchStatus,
    IvrOutcome,
    IvrSession,
    IvrStep,
    Language,
    PhoneKind,
    RequestChannel,
    ServiceCategory,
    ServiceRequest,
)
from db.phones import Phone
from db.service_requests import open_request
from db.session import transaction
from ivr.engine import RequestInfo
from ivr.hub import blocking

log = logging.getLogger(__name__)

# The call row's outcome once the IVR lets go (None: the queue and the AMI link decide).
_CALL_OUTCOME = {
    IvrOutcome.ABANDONED: CallOutcome.ABANDONED_IN_IVR,
    IvrOutcome.VOICEMAIL: CallOutcome.VOICEMAIL,
    IvrOutcome.CALLBACK: CallOutcome.CALLBACK_REQUESTED,
    IvrOutcome.COMPLETED: CallOutcome.ANSWERED,
}


@dataclass
class StepRecord:
    node: str
    prompt: str | None
    key: str
    at: dt.datetime


@dataclass
class IvrCallRecord:
    uniqueid: str
    linkedid: str | None
    did: str | None
    caller_number: str | None
    phone: Phone | None
    script: str
    started_at: dt.datetime
    language: str
    language_chosen: bool = False
    business_open: bool = True
    ended_at: dt.datetime | None = None
    outcome: IvrOutcome = IvrOutcome.IN_PROGRESS
    end_node: str | None = None
    path: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    result: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    voicemail: str | None = None
    callback_due: dt.datetime | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["phone"] = [self.phone.number, self.phone.kind.value] if self.phone else None
        return json.loads(json.dumps(data, default=lambda value: value.isoformat()))

    @classmethod
    def from_json(cls, data: dict) -> "IvrCallRecord":
        times = ("started_at", "ended_at", "callback_due")
        data = {**data, **{k: dt.datetime.fromisoformat(data[k]) for k in times if data.get(k)}}
        data["outcome"] = IvrOutcome(data["outcome"])
        data["phone"] = Phone(data["phone"][0], PhoneKind(data["phone"][1])) if data.get("phone") else None
        data["steps"] = [StepRecord(**{**step, "at": dt.datetime.fromisoformat(step["at"])}) for step in data["steps"]]
        return cls(**data)


_LANGUAGE_OF = select(Caller.__table__.c.language).where(Caller.__table__.c.phone == bindparam("phone"))
_KNOWN_LANGUAGES = frozenset(language.value for language in Language)


class CallerLanguages:
    """The language a returning caller chose, looked up as the call arrives.

    On an SQLite file the look-up runs on the call hub itself, on a read-only connection
    of its own: a WAL read of one indexed row takes microseconds, a tenth of handing it
    to a worker thread and back, and WAL readers never wait for the writer. A 50 ms busy
    timeout bounds the rare wait (WAL recovery). Other databases are a round trip away,
    so their look-up goes to the hub's workers. If it fails, the caller simply hears the
    language menu.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        database = engine.url.database
        self._sqlite_file = database if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") else None
        self._local = threading.local()

    def of(self, phone: Phone | None) -> str | None:
        if phone is None:
            return None
        try:
            if self._sqlite_file is not None:
                return self._read_sqlite(phone.number)
            return blocking(self._read, phone.number)
        except Exception as exc:
            log.warning("could not look up the language of %s (%s); offering the language menu", phone.number, exc)
            return None

    def _read(self, number: str) -> str | None:
        with self.engine.connect() as connection:
            language = connection.execute(_LANGUAGE_OF, {"phone": number}).scalar()
        return language.value if language else None

    def _read_sqlite(self, number: str) -> str | None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self._sqlite_file}?mode=ro", uri=True, timeout=0.05,
                                         isolation_level=None, check_same_thread=False)
            self._local.connection = connection
        row = connection.execute("SELECT language FROM callers WHERE phone = ?", (number,)).fetchone()
        language = row[0] if row else None
        return language if language in _KNOWN_LANGUAGES else None


def request_status(
    sessions: sessionmaker[Session], phone: Phone | None, number: str | None, limit: int
) -> tuple[RequestInfo, ...]:
    """The caller's open requests (newest first), or the request with that number."""
    query = select(ServiceRequest.id, ServiceRequest.number, ServiceRequest.status)
    if number is not None:
        query = query.where(ServiceRequest.number == number)
    elif phone is not None:
        query = (
            query.join(Caller, ServiceRequest.caller_id == Caller.id)
            .where(Caller.phone == phone.number, ServiceRequest.status.in_(OPEN_REQUEST_STATUSES))
            .order_by(ServiceRequest.created_at.desc())
        )
    else:
        return ()
    with sessions() as session:
        rows = session.execute(query.limit(limit)).all()
        providers = _current_providers(session, [row.id for row in rows])
    return tuple(RequestInfo(row.number, row.status.value, providers.get(row.id)) for row in rows)


def _current_providers(session: Session, request_ids: list[int]) -> dict[int, int]:
    if not request_ids:
        return {}
    rows = session.execute(
        select(Dispatch.request_id, Dispatch.provider_id)
        .where(Dispatch.request_id.in_(request_ids), Dispatch.status.in_((DispatchStatus.ACCEPTED, DispatchStatus.OFFERED)))
        .order_by(Dispatch.offered_at)
    ).all()
    return {row.request_id: row.provider_id for row in rows}  # the latest offer wins


def save_calls(session: Session, records: list[IvrCallRecord], tz) -> None:
    """Write a batch of finished calls in the session's transaction, with bulk statements."""
    if not records:
        return
    statements = _write_statements(session.get_bind().dialect.name)
    caller_ids = _upsert_callers(session, statements, records)
    call_ids = _upsert_calls(session, statements, records, caller_ids)
    _insert_sessions(session, statements, records, call_ids)
    for record in records:
        if record.outcome is IvrOutcome.VOICEMAIL and record.voicemail or record.callback_due is not None:
            _book_follow_up(session, record, tz, caller_ids, call_ids)


@dataclass(frozen=True)
class _WriteStatements:
    upsert_callers: object
    set_languages: object
    upsert_calls: object
    insert_sessions: object
    insert_steps: object


@functools.cache
def _write_statements(dialect: str) -> _WriteStatements:
    """The writer's statements, built once: building an upsert (its `excluded` alias
    above all) costs more than executing it for a whole batch."""
    upsert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    callers = Caller.__table__
    new_caller = upsert(callers)
    calls = Call.__table__
    new_call = upsert(calls)
    new = new_call.excluded
    sessions = IvrSession.__table__
    return _WriteStatements(
        upsert_callers=new_caller.on_conflict_do_update(
            index_elements=[callers.c.phone], set_={"last_call_at": new_caller.excluded.last_call_at},
        ).returning(callers.c.phone, callers.c.id),
        set_languages=update(callers).where(callers.c.phone == bindparam("number")).values(language=bindparam("chosen")),
        # A call seen before (a second AGI, the AMI link) keeps what it had and gains this pass.
        upsert_calls=new_call.on_conflict_do_update(index_elements=[calls.c.uniqueid], set_={
            "caller_id": func.coalesce(new.caller_id, calls.c.caller_id),
            "ivr_language": new.ivr_language,
            "ivr_path": func.substr(func.coalesce(calls.c.ivr_path + ">", "") + func.coalesce(new.ivr_path, ""), 1, 255),
            "queue": func.coalesce(new.queue, calls.c.queue),
            "outcome": case((new.outcome != CallOutcome.IN_PROGRESS.value, new.outcome), else_=calls.c.outcome),
            "ended_at": func.coalesce(calls.c.ended_at, new.ended_at),
        }).returning(calls.c.uniqueid, calls.c.id),
        insert_sessions=insert(sessions).returning(sessions.c.call_id, sessions.c.id),
        insert_steps=insert(IvrStep.__table__),
    )


def _upsert_callers(session: Session, statements: _WriteStatements, records: list[IvrCallRecord]) -> dict[str, int]:
    latest: dict[str, IvrCallRecord] = {}
    chosen: dict[str, Language] = {}
    for record in records:
        if record.phone is not None:
            latest[record.phone.number] = record  # the last call of a batch wins
            if record.language_chosen:
                chosen[record.phone.number] = Language(record.language)
    if not latest:
        return {}
    rows = [{"phone": number, "phone_kind": r.phone.kind, "first_call_at": r.started_at, "last_call_at": r.started_at,
             "do_not_call": False, "created_at": r.started_at} for number, r in latest.items()]
    found = session.execute(statements.upsert_callers, rows).all()
    if chosen:
        session.execute(statements.set_languages,
                        [{"number": number, "chosen": language} for number, language in chosen.items()],
                        execution_options={"synchronize_session": False})
    return {phone: caller_id for phone, caller_id in found}


def _upsert_calls(session: Session, statements: _WriteStatements, records: list[IvrCallRecord],
                  caller_ids: dict[str, int]) -> dict[str, int]:
    rows = {}
    for record in records:
        outcome = _CALL_OUTCOME.get(record.outcome)
        rows[record.uniqueid] = {
            "uniqueid": record.uniqueid, "linkedid": record.linkedid, "direction": CallDirection.INBOUND,
            "did": record.did, "caller_number": (record.caller_number or "")[:40] or None,
            "caller_id": caller_ids.get(record.phone.number) if record.phone else None,
            "started_at": record.started_at, "ivr_language": Language(record.language),
            "ivr_path": ">".join(record.path)[-255:] or None, "queue": record.queue,
            "outcome": outcome or CallOutcome.IN_PROGRESS,
            "ended_at": record.ended_at if outcome else None,
        }
    found = session.execute(statements.upsert_calls, list(rows.values())).all()
    return {uniqueid: call_id for uniqueid, call_id in found}


def _insert_sessions(session: Session, statements: _WriteStatements, records: list[IvrCallRecord],
                     call_ids: dict[str, int]) -> None:
    steps = []
    for group in _one_session_per_call(records):
        rows = [{"call_id": call_ids[r.uniqueid], "script": r.script, "language": Language(r.language),
                 "started_at": r.started_at, "ended_at": r.ended_at, "end_node": r.end_node, "outcome": r.outcome,
                 "result": r.result or None} for r in group]
        session_ids = {call_id: session_id for call_id, session_id in session.execute(statements.insert_sessions, rows)}
        steps += [{"session_id": session_ids[call_ids[record.uniqueid]], "seq": n, "node": step.node,
                   "prompt": step.prompt, "key": step.key, "at": step.at}
                  for record in group for n, step in enumerate(record.steps)]
    if steps:
        session.execute(statements.insert_steps, steps)


def _one_session_per_call(records: list[IvrCallRecord]) -> list[list[IvrCallRecord]]:
    """Split a batch so that no call has two sessions in one group.

    Each group's new session ids come back keyed by call. Asking for them in the rows'
    order instead (sort_by_parameter_order) makes SQLAlchemy insert one row a statement
    on SQLite, which cost more than the rest of the batch together.
    """
    groups: list[list[IvrCallRecord]] = []
    seen: list[set[str]] = []
    for record in records:
        index = next((i for i, calls in enumerate(seen) if record.uniqueid not in calls), len(groups))
        if index == len(groups):
            groups.append([])
            seen.append(set())
        groups[index].append(record)
        seen[index].add(record.uniqueid)
    return groups


def _book_follow_up(session: Session, record: IvrCallRecord, tz, caller_ids: dict[str, int], call_ids: dict[str, int]) -> None:
    caller = session.get(Caller, caller_ids[record.phone.number]) if record.phone else None
    call_id = call_ids[record.uniqueid]
    if record.outcome is IvrOutcome.VOICEMAIL and record.voicemail:
        other = session.scalar(select(ServiceCategory).where(ServiceCategory.code == "other"))
        open_request(session, caller, other, RequestChannel.VOICEMAIL, tz, now=record.ended_at,
                     call_id=call_id, voicemail_file=record.voicemail,
                     description="来电留言,请收听录音后补充需求")
    if record.callback_due is not None and record.phone is not None:
        session.add(CallbackTask(
            caller=caller, phone=record.phone.number, language=Language(record.language),
            reason=CallbackReason.AFTER_HOURS if not record.business_open else CallbackReason.QUEUE_CALLBACK,
            call_id=call_id, due_at=record.callback_due,
        ))
    session.flush()


# --- the writer -----------------------------------------------------------------------------


_WRITE_NOW = object()  # flush(): write what is queued without waiting for more


class CallLogWriter:
    """The one thread that writes finished calls: handlers hand a record over and return.

    Whatever has queued up while a batch was being written goes in the next transaction
    (group commit), so SQLite's single write lock is never fought over by call threads.
    A batch that fails is retried record by record; a record that still fails is kept
    in a spool file and written when the writer next starts: nothing accepted is lost.
    """

    def __init__(self, sessions: sessionmaker[Session], tz, spool: Path, max_batch: int = 500,
                 linger: float = 0.1):
        self.sessions = sessions
        self.tz = tz
        self.spool = spool
        self.max_batch = max_batch
        # How long a batch waits for more calls before it is written: a transaction
        # costs about as much as forty calls' rows, and nobody reads a call's IVR steps
        # within a tenth of a second of its leaving the IVR.
        self.linger = linger
        self._queue: queue.Queue[IvrCallRecord | object | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._write_now = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "CallLogWriter":
        self.replay_spool()
        self._thread = threading.Thread(target=self._run, name="call-log-writer", daemon=True)
        self._thread.start()
        return self

    def submit(self, record: IvrCallRecord) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (or spooled)."""
        self._queue.put(_WRITE_NOW)
        self._write_now.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._write_now.set()
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            stopping = None in batch
            records = [item for item in batch if isinstance(item, IvrCallRecord)]
            if records:
                self.write_batch(records)
            with self._idle:
                self._pending -= len(records)
                self._idle.notify_all()
            if stopping:
                return

    def _next_batch(self) -> list:
        batch = [self._queue.get()]
        if batch[0] is not None and batch[0] is not _WRITE_NOW:
            # Linger without watching the queue: a writer waiting on it would be woken,
            # and would take the GIL from the call hub, at every call that ends.
            self._write_now.wait(self.linger)
        self._write_now.clear()
        while len(batch) < self.max_batch and batch[-1] is not None:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def write_batch(self, records: list[IvrCallRecord]) -> None:
        """One transaction for the batch; if it fails, record by record; what still fails
        goes to the spool."""
        try:
            with transaction(self.sessions) as session:
                save_calls(session, records, self.tz)
            return
        except Exception:
            log.exception("writing %d IVR call records failed; retrying one by one", len(records))
        for record in records:
            try:
                with transaction(self.sessions) as session:
                    save_calls(session, [record], self.tz)
            except Exception:
                log.exception("IVR call %s could not be written; kept in %s", record.uniqueid, self.spool)
                self.spool_records(self.spool, [record])

    @staticmethod
    def spool_records(spool: Path, records: list[IvrCallRecord]) -> None:
        spool.parent.mkdir(parents=True, exist_ok=True)
        with spool.open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")

    def replay_spool(self) -> None:
        if not self.spool.exists():
            return
        lines = self.spool.read_text(encoding="utf-8").splitlines()
        records = [IvrCallRecord.from_json(json.loads(line)) for line in lines if line.strip()]
        replayed = self.spool.with_suffix(".replaying")
        self.spool.replace(replayed)
        self.write_batch(records)  # what fails again goes back to the spool
        replayed.unlink()
        log.warning("replayed %d spooled IVR call records", len(records))
