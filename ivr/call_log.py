"""What the IVR reads and writes in the database.

A call's writes — caller, call row, IVR session and steps, a voicemail request or a
callback task — are handed to the call-log writer (ivr/call_log_process.py) when the
IVR is done with the call, and written in one transaction with the others that finished
meanwhile. During the
call only short read-only look-ups run, so no write lock is held while a caller listens
(SQLite has one writer for the whole hotline).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from sqlalchemy import Column, Connection, Dialect, Engine, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
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
    steps_json,
)
from db.base import UTCDateTime
from db.calls import upsert_sql
from db.phones import Phone
from db.service_requests import open_request
from db.session import transaction
from dialplans import contract
from ivr.engine import RequestInfo
from ivr.hub import blocking
from workforce.recruitment import JOBS_INTENT, register_ivr_lead

log = logging.getLogger(__name__)

# The call row's outcome once the IVR lets go (None: the queue and the AMI link decide).
_CALL_OUTCOME = {
    IvrOutcome.ABANDONED: CallOutcome.ABANDONED_IN_IVR,
    IvrOutcome.VOICEMAIL: CallOutcome.VOICEMAIL,
    IvrOutcome.CALLBACK: CallOutcome.CALLBACK_REQUESTED,
    IvrOutcome.COMPLETED: CallOutcome.ANSWERED,
}


# The sizes of the call row's columns that the AGI header fills (VARCHAR(n)).
_HEADER_COLUMN_LENGTHS = {name: Call.__table__.c[name].type.length
                          for name in ("uniqueid", "linkedid", "did", "caller_number")}


def header_fields(env: Mapping[str, str]) -> dict[str, str | None]:
    """The call row's fields from the AGI header, cut to their columns' sizes (None for
    an empty one).

    Anyone who reaches the FastAGI port can send any header: a value too long for its
    column would make PostgreSQL refuse the whole row (SQLite would keep it whole).
    """
    length = _HEADER_COLUMN_LENGTHS
    return {
        "uniqueid": env.get("agi_uniqueid", "")[: length["uniqueid"]] or None,
        "linkedid": env.get("agi_linkedid", "")[: length["linkedid"]] or None,
        "did": (env.get("agi_dnid") or env.get("agi_extension") or "")[: length["did"]] or None,
        "caller_number": env.get("agi_callerid", "")[: length["caller_number"]] or None,
    }


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
    steps: list[IvrStep] = field(default_factory=list)
    result: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    voicemail: str | None = None
    callback_due: dt.datetime | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["steps"] = [step.to_json() for step in self.steps]
        data["outcome"] = self.outcome.value
        data["phone"] = [self.phone.number, self.phone.kind.value] if self.phone else None
        return json.loads(json.dumps(data, default=lambda value: value.isoformat()))

    @classmethod
    def from_json(cls, data: dict) -> "IvrCallRecord":
        times = ("started_at", "ended_at", "callback_due")
        data = {**data, **{k: dt.datetime.fromisoformat(data[k]) for k in times if data.get(k)}}
        data["outcome"] = IvrOutcome(data["outcome"])
        data["phone"] = Phone(data["phone"][0], PhoneKind(data["phone"][1])) if data.get("phone") else None
        data["steps"] = [IvrStep.from_json(step) for step in data["steps"]]
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
    """Write a batch of finished calls in the session's transaction: one statement a table."""
    if not records:
        return
    connection = session.connection()
    statements = _write_statements(connection.dialect)
    converted: dict = {}
    _upsert_callers(connection, statements, records, converted)
    _upsert_calls(connection, statements, records, converted)
    statements.insert_sessions.run(connection, [
        (r.uniqueid, r.script, r.language, r.started_at, r.ended_at, r.end_node, r.outcome, r.result or None,
         steps_json(r.steps)) for r in records], converted)
    for record in records:
        if record.outcome is IvrOutcome.VOICEMAIL and record.voicemail or record.callback_due is not None:
            _book_follow_up(session, record, tz)
        if record.result.get(contract.INTENT) == JOBS_INTENT and record.phone is not None:
            # Pressed 6 (人才招聘): a job-seeker lead an operator completes (workforce/).
            call_id = session.scalar(select(Call.id).where(Call.uniqueid == record.uniqueid))
            register_ivr_lead(session, record.phone.number, record.language, call_id, record.ended_at or record.started_at)


class _DriverStatement:
    """A statement in the driver's own SQL, run once for a whole batch (executemany).

    Each parameter goes through its column type's own bind processor, so values are
    stored exactly as SQLAlchemy stores them; what is skipped is SQLAlchemy's work a row,
    which would otherwise be most of the writer's time.
    """

    def __init__(self, dialect: Dialect, sql: str, parameters: list[Column | None]):
        """A parameter without a column comes ready in its stored form (text)."""
        self.sql = sql if dialect.paramstyle == "qmark" else sql.replace("?", "%s")
        # (position, the type's description, its processor): equal types convert alike.
        processors = []
        for i, column in enumerate(parameters):
            type_ = column.type.dialect_impl(dialect) if column is not None else None
            process = _bind_processor(type_, dialect) if type_ is not None else None
            if process is not None:
                processors.append((i, repr(type_), process))
        self._processors = tuple(processors)

    def run(self, connection: Connection, rows: list[tuple], converted: dict) -> None:
        """`converted` is shared by a batch's statements: a call's start time, say, is
        stored five times and converted once."""
        if rows:
            connection.exec_driver_sql(self.sql, [self._convert(row, converted) for row in rows])

    def _convert(self, row: tuple, converted: dict) -> tuple:
        row = list(row)
        for i, kind, process in self._processors:
            value = row[i]
            if value is None:
                continue
            if isinstance(value, (dict, list)):
                row[i] = process(value)
                continue
            key = (kind, value)
            if key not in converted:
                converted[key] = process(value)
            row[i] = converted[key]
        return tuple(row)


def _bind_processor(type_, dialect: Dialect):
    """The type's own bind processor; for the one the writer runs most, an equal but
    faster one (a test holds them equal)."""
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc_text
    return type_.bind_processor(dialect)


def _sqlite_utc_text(value: dt.datetime) -> str:
    # What UTCDateTime and SQLAlchemy's SQLite DATETIME store: UTC, naive, microseconds.
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware time (utcnow())")
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass(frozen=True)
class _WriteStatements:
    upsert_callers: _DriverStatement
    upsert_calls: _DriverStatement
    insert_sessions: _DriverStatement


@functools.cache
def _write_statements(dialect: Dialect) -> _WriteStatements:
    callers, calls, sessions = Caller.__table__.c, Call.__table__.c, IvrSession.__table__.c
    return _WriteStatements(
        # A language is set only where the caller chose one (NULL keeps what was known).
        upsert_callers=_DriverStatement(dialect, (
            "INSERT INTO callers (phone, phone_kind, language, do_not_call, first_call_at, last_call_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (phone) DO UPDATE SET last_call_at = excluded.last_call_at, "
            "language = coalesce(excluded.language, callers.language)"),
            [callers.phone, callers.phone_kind, callers.language, callers.do_not_call, callers.first_call_at,
             callers.last_call_at, callers.created_at]),
        # A call seen before (a second AGI, the AMI link) merges by the calls row's rules (db/calls.py).
        upsert_calls=_DriverStatement(dialect, upsert_sql({
            "uniqueid": "?", "linkedid": "?", "direction": "?", "did": "?", "caller_number": "?",
            "caller_id": "(SELECT id FROM callers WHERE phone = ?)", "started_at": "?", "ivr_language": "?",
            "ivr_path": "?", "queue": "?", "outcome": "?", "ended_at": "?"}),
            [calls.uniqueid, calls.linkedid, calls.direction, calls.did, calls.caller_number, callers.phone,
             calls.started_at, calls.ivr_language, calls.ivr_path, calls.queue, calls.outcome, calls.ended_at]),
        insert_sessions=_DriverStatement(dialect, (
            "INSERT INTO ivr_sessions (call_id, script, language, started_at, ended_at, end_node, outcome, result, "
            "steps) VALUES ((SELECT id FROM calls WHERE uniqueid = ?), ?, ?, ?, ?, ?, ?, ?, ?)"),
            [calls.uniqueid, sessions.script, sessions.language, sessions.started_at, sessions.ended_at,
             sessions.end_node, sessions.outcome, sessions.result, None]),  # steps: steps_json()
    )


def _upsert_callers(connection: Connection, statements: _WriteStatements, records: list[IvrCallRecord],
                    converted: dict) -> None:
    latest: dict[str, IvrCallRecord] = {}
    chosen: dict[str, str] = {}
    for record in records:
        if record.phone is not None:
            latest[record.phone.number] = record  # the last call of a batch wins
            if record.language_chosen:
                chosen[record.phone.number] = record.language
    statements.upsert_callers.run(connection, [
        (number, r.phone.kind, chosen.get(number), False, r.started_at, r.started_at, r.started_at)
        for number, r in latest.items()], converted)


def _upsert_calls(connection: Connection, statements: _WriteStatements, records: list[IvrCallRecord],
                  converted: dict) -> None:
    rows = {}
    for r in records:
        outcome = _CALL_OUTCOME.get(r.outcome)
        rows[r.uniqueid] = (
            r.uniqueid, r.linkedid, CallDirection.INBOUND, r.did, (r.caller_number or "")[:40] or None,
            r.phone.number if r.phone else None, r.started_at, r.language, ">".join(r.path)[-255:] or None,
            r.queue, outcome or CallOutcome.IN_PROGRESS, r.ended_at if outcome else None)
    statements.upsert_calls.run(connection, list(rows.values()), converted)


def _book_follow_up(session: Session, record: IvrCallRecord, tz) -> None:
    caller = session.scalar(select(Caller).where(Caller.phone == record.phone.number)) if record.phone else None
    call_id = session.scalar(select(Call.id).where(Call.uniqueid == record.uniqueid))
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


# --- calls nothing followed after the IVR ----------------------------------------------------

SETTLE_EVERY = 60.0  # seconds between two looks for calls to settle


def settle_unfollowed_calls(session: Session, now: dt.datetime, after: dt.timedelta,
                            since: dt.datetime | None = None) -> int:
    """End the calls the IVR handed on that nothing has followed since; how many.

    When the IVR lets a call go to a queue (a choice, or the operator fallback after an
    error of ours), the call row stays in progress: the AMI link follows the call from
    there and ends the row. The link leaves its mark at once (the queue join, or the
    hang-up), so a call row without any, `after` its last IVR session ended, was
    followed by nothing (`hotline call` without Asterisk, or no `hotline ami` running).
    It is ended `failed`, at the end of its last IVR session: nothing is known of how it
    ended, and its IVR sessions say where it went. `since`: only calls started since.
    """
    calls, sessions = Call.__table__, IvrSession.__table__
    cutoff = now - after
    of_call = sessions.c.call_id == calls.c.id
    statement = (
        update(calls)
        .where(calls.c.outcome == CallOutcome.IN_PROGRESS, calls.c.ended_at.is_(None),
               calls.c.queue_entered_at.is_(None), calls.c.answered_at.is_(None), calls.c.hangup_cause.is_(None),
               exists().where(of_call),
               ~exists().where(of_call, or_(sessions.c.ended_at.is_(None), sessions.c.ended_at > cutoff)))
        .values(outcome=CallOutcome.FAILED,
                ended_at=select(func.max(sessions.c.ended_at)).where(of_call).scalar_subquery())
        .execution_options(synchronize_session=False)
    )
    if since is not None:
        statement = statement.where(calls.c.started_at >= since)
    return session.execute(statement).rowcount


# --- writing batches ---------------------------------------------------------------------------


class CallLogStore:
    """Writes batches of finished calls, and keeps what it cannot write.

    The call-log writer (ivr/call_log_process.py) runs one in a process of its own. A
    batch that fails is retried record by record, so a bad record costs only itself. A
    record that fails because the database is out of reach is kept in a spool file and
    written when the writer next starts; one the database refuses (a value it cannot
    store) would fail again, so it is kept aside in the rejected file, with a log line,
    for a person to look at. Nothing accepted is lost, and nothing here raises.
    """

    def __init__(self, sessions: sessionmaker[Session], tz, spool: Path, unfollowed_after: float | None = None):
        self.sessions = sessions
        self.tz = tz
        self.spool = spool
        # Seconds after which a call nothing followed after the IVR is settled (None: never).
        self.unfollowed_after = unfollowed_after
        self._settled_once = False

    def settle_unfollowed(self, now: dt.datetime) -> None:
        """settle_unfollowed_calls as of `now`: all calls the first time, then those of the
        last day. Never raises."""
        if self.unfollowed_after is None:
            return
        since = now - dt.timedelta(days=1) if self._settled_once else None
        try:
            with transaction(self.sessions) as session:
                settled = settle_unfollowed_calls(session, now, dt.timedelta(seconds=self.unfollowed_after), since)
        except Exception:
            log.exception("could not settle the calls nothing followed after the IVR")
            return
        self._settled_once = True
        if settled:
            log.warning("%d calls were followed by nothing (no AMI link) %.0f s after the IVR let them go: "
                        "ended as failed", settled, self.unfollowed_after)

    @property
    def rejected(self) -> Path:
        return rejected_file(self.spool)

    def write_batch(self, records: list[IvrCallRecord]) -> None:
        """One transaction for the batch; if it fails, record by record; what still fails
        goes to the spool (database out of reach) or the rejected file (refused)."""
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
            except Exception as exc:
                if _database_unreachable(exc):
                    log.error("IVR call %s could not be written (%s); kept in %s for the next start",
                              record.uniqueid, exc, self.spool)
                    self.spool_records(self.spool, [record])
                else:
                    log.error("IVR call %s was refused by the database (%s); kept in %s, not retried",
                              record.uniqueid, exc, self.rejected)
                    self.spool_records(self.rejected, [record])

    @staticmethod
    def spool_records(spool: Path, records: list[IvrCallRecord]) -> None:
        """Append records to a spool file, one JSON line each, in ASCII: any text can be
        written that way (a lone surrogate too). Never raises: a record that cannot be
        kept there goes to the log whole."""
        try:
            spool.parent.mkdir(parents=True, exist_ok=True)
            with spool.open("a", encoding="ascii") as handle:
                for record in records:
                    handle.write(_spool_line(record))
        except Exception:
            log.exception("could not keep %d IVR call records in %s; here they are: %r", len(records), spool, records)

    def replay_spool(self) -> None:
        if not self.spool.exists():
            return
        lines = self.spool.read_text(encoding="utf-8", errors="replace").splitlines()
        records = []
        for line in lines:
            if not line.strip():
                continue
            try:
                records.append(IvrCallRecord.from_json(json.loads(line)))
            except Exception as exc:
                log.error("a spooled IVR call record cannot be read (%s); kept in %s", exc, self.rejected)
                with self.rejected.open("a", encoding="utf-8", errors="backslashreplace") as handle:
                    handle.write(line + "\n")
        replayed = self.spool.with_suffix(".replaying")
        self.spool.replace(replayed)
        self.write_batch(records)  # what fails again goes back to the spool
        replayed.unlink()
        log.warning("replayed %d spooled IVR call records", len(records))


def rejected_file(spool: Path) -> Path:
    """Where records the database refused are kept (ivr-calls.jsonl: ivr-calls.rejected.jsonl)."""
    return spool.with_name(f"{spool.stem}.rejected{spool.suffix}")


def _spool_line(record: IvrCallRecord) -> str:
    return json.dumps(record.to_json(), ensure_ascii=True) + "\n"


def _database_unreachable(exc: Exception) -> bool:
    """Whether writing may succeed later as it is: the database was out of reach or busy
    (a refused value, a broken constraint would fail again)."""
    return isinstance(exc, (OperationalError, InterfaceError, ConnectionError)) or bool(
        getattr(exc, "connection_invalidated", False))
