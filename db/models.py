"""The hotline's data: callers and their calls, requests (工单), providers and surveys.

Times are aware UTC (UTCDateTime); the console shows them in Asia/Shanghai.
"""
from __future__ import annotations

import datetime as dt
import enum
import functools
from json.encoder import encode_basestring_ascii
from typing import Any, Iterable, NamedTuple, Optional

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Computed,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, UTCDateTime, str_enum, utcnow


# --- enumerations ---------------------------------------------------------------------


class Language(str, enum.Enum):
    """IVR languages, by ISO 639-3 code (also espeak-ng's voice names)."""

    MANDARIN = "cmn"
    CANTONESE = "yue"
    HAKKA = "hak"


class Fluency(str, enum.Enum):
    """How well an operator speaks a language, best first."""

    NATIVE = "native"
    FLUENT = "fluent"
    BASIC = "basic"


class Role(str, enum.Enum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class PhoneKind(str, enum.Enum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    OTHER = "other"


class CallDirection(str, enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallOutcome(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    ABANDONED_IN_IVR = "abandoned_in_ivr"
    ABANDONED_IN_QUEUE = "abandoned_in_queue"
    CALLBACK_REQUESTED = "callback_requested"
    VOICEMAIL = "voicemail"
    AFTER_HOURS = "after_hours"
    FAILED = "failed"


class IvrOutcome(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    ROUTED = "routed"  # back to the dialplan with a queue chosen
    TO_OPERATOR = "to_operator"  # operator asked for, or too many invalid keys
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    COMPLETED = "completed"  # a self-service call that ended by itself (status read back)
    ABANDONED = "abandoned"
    ERROR = "error"  # our fault: the caller was sent to the operator fallback


class Priority(str, enum.Enum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class RequestChannel(str, enum.Enum):
    PHONE = "phone"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    WEB = "web"


class RequestStatus(str, enum.Enum):
    NEW = "new"
    DISPATCHED = "dispatched"
    IN_SERVICE = "in_service"
    COMPLETED = "completed"
    SURVEYED = "surveyed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


# The lifecycle new → dispatched → in_service → completed → surveyed → closed; any open
# request may be cancelled, and a dispatch that fell through sends it back to new.
REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.NEW: frozenset({RequestStatus.DISPATCHED, RequestStatus.CANCELLED}),
    RequestStatus.DISPATCHED: frozenset({RequestStatus.IN_SERVICE, RequestStatus.NEW, RequestStatus.CANCELLED}),
    RequestStatus.IN_SERVICE: frozenset({RequestStatus.COMPLETED, RequestStatus.CANCELLED}),
    RequestStatus.COMPLETED: frozenset({RequestStatus.SURVEYED, RequestStatus.CLOSED}),
    RequestStatus.SURVEYED: frozenset({RequestStatus.CLOSED}),
    RequestStatus.CLOSED: frozenset(),
    RequestStatus.CANCELLED: frozenset(),
}
OPEN_REQUEST_STATUSES = frozenset({RequestStatus.NEW, RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE})


class ProviderStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class CreditMeasureKind(str, enum.Enum):
    """Entries a supervisor makes in a provider's credit file (诚信档案)."""

    COMMENDATION = "commendation"  # 守法诚信奖励
    WARNING = "warning"  # 失信惩戒: 警告
    SUSPENSION = "suspension"  # 暂停派单 N 天, ends by itself
    REMOVAL = "removal"  # 移出平台 until a supervisor reinstates


class GradeSource(str, enum.Enum):
    REGRADE = "regrade"  # the grading rule (on demand or monthly)
    OVERRIDE = "override"  # a supervisor's grade, with a written reason
    RENEWAL = "renewal"  # a supervisor keeps an override through the next regrade


class DispatchStatus(str, enum.Enum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class SurveyStatus(str, enum.Enum):
    SCHEDULED = "scheduled"
    DIALLING = "dialling"
    COMPLETED = "completed"
    FAILED = "failed"  # attempts exhausted
    CANCELLED = "cancelled"


class AttemptOutcome(str, enum.Enum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"
    NO_INPUT = "no_input"  # answered, but no key was pressed


class ComplaintStatus(str, enum.Enum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CallbackReason(str, enum.Enum):
    QUEUE_CALLBACK = "queue_callback"
    AFTER_HOURS = "after_hours"
    VOICEMAIL = "voicemail"
    SURVEY_FOLLOW_UP = "survey_follow_up"
    OTHER = "other"
    LOST_CALL = "lost_call"  # booked from the lost callers' list (未接来电)


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OperatorState(str, enum.Enum):
    LOGGED_IN = "logged_in"
    AVAILABLE = "available"
    PAUSED = "paused"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    LOGGED_OUT = "logged_out"


class PauseReason(str, enum.Enum):
    BREAK = "break"
    MEAL = "meal"
    TRAINING = "training"
    AFTER_CALL_WORK = "after_call_work"


class SmsStatus(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # retries exhausted; shown to operators


# --- reference data -------------------------------------------------------------------


class ServiceCategory(Base):
    """The platform's ten service categories (家庭服务 … 其他服务)."""

    __tablename__ = "service_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class District(Base):
    """Heyuan's six districts and counties, plus "other" for callers outside them."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(default=0)


# --- people ---------------------------------------------------------------------------


class User(Base):
    """Operators, supervisors and admins of the console."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    sip_extension: Mapped[Optional[str]] = mapped_column(String(32), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Console sessions carry the number they began under; signing out bumps it, so a
    # copied session cookie stops working too (the cookie itself cannot be recalled).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # The languages the operator speaks: the queues offer callers by them (db/languages.py).
    languages: Mapped[list["OperatorLanguage"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="OperatorLanguage.language")


class OperatorLanguage(Base):
    """One language an operator speaks, and how well."""

    __tablename__ = "operator_languages"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[Language] = mapped_column(str_enum(Language, "language"), primary_key=True)
    fluency: Mapped[Fluency] = mapped_column(str_enum(Fluency, "fluency"))


class ApiToken(Base):
    """A key for scripts using the API, shown once; only its keyed hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 of the token under the app's secret key, hex: fast to check on every
    # request, and useless to whoever reads the table without the key.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Caller(Base):
    __tablename__ = "callers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised: 11-digit mobile, or landline with its area code (0762xxxxxxx).
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    phone_kind: Mapped[PhoneKind] = mapped_column(str_enum(PhoneKind, "phone_kind"))
    name: Mapped[Optional[str]] = mapped_column(String(64))
    language: Mapped[Optional[Language]] = mapped_column(str_enum(Language, "language"))
    do_not_call: Mapped[bool] = mapped_column(default=False)
    first_call_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_call_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    addresses: Mapped[list[CallerAddress]] = relationship(back_populates="caller", cascade="all, delete-orphan")


class CallerAddress(Base):
    __tablename__ = "caller_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    address: Mapped[str] = mapped_column(String(255))
    label: Mapped[Optional[str]] = mapped_column(String(32))  # 家, 父母家 ...
    is_default: Mapped[bool] = mapped_column(default=False)

    caller: Mapped[Caller] = relationship(back_populates="addresses")
    district: Mapped[Optional[District]] = relationship()


# --- calls and the IVR ----------------------------------------------------------------

# substr() with a start counted from 1 reads the same on SQLite and PostgreSQL.
CALLER_LAST4 = "substr(caller_number, length(caller_number) - 3)"


class Call(Base):
    """One inbound or outbound call, keyed by Asterisk's uniqueid."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_caller_started", "caller_id", "started_at"),
        # The call log's searches: by a number's last four digits within days, and by outcome
        # (the lost callers); `id` last so keyset pages read the index in their order.
        Index("ix_calls_caller_last4_started", "caller_last4", "started_at", "id"),
        Index("ix_calls_outcome_started", "outcome", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    direction: Mapped[CallDirection] = mapped_column(str_enum(CallDirection, "call_direction"))
    did: Mapped[Optional[str]] = mapped_column(String(32))
    caller_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callers.id"))
    # As Asterisk delivered it, before normalisation (may be "anonymous").
    caller_number: Mapped[Optional[str]] = mapped_column(String(40))
    # Its last four characters, kept by the database (virtual on SQLite, stored on
    # PostgreSQL) so "calls from …8000" is an index range, not a scan of every number.
    caller_last4: Mapped[Optional[str]] = mapped_column(String(4), Computed(CALLER_LAST4, persisted=True))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    ivr_language: Mapped[Optional[Language]] = mapped_column(str_enum(Language, "language"))
    # Nodes the caller went through, e.g. "welcome>main>services".
    ivr_path: Mapped[Optional[str]] = mapped_column(String(255))
    queue: Mapped[Optional[str]] = mapped_column(String(64))
    queue_entered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    queue_wait_seconds: Mapped[Optional[int]]
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    agent_extension: Mapped[Optional[str]] = mapped_column(String(32))
    outcome: Mapped[CallOutcome] = mapped_column(str_enum(CallOutcome, "call_outcome"), default=CallOutcome.IN_PROGRESS)
    hangup_cause: Mapped[Optional[int]]
    recording_file: Mapped[Optional[str]] = mapped_column(String(255))
    # A call-back (the placeholder that rang a caller back): the task it was placed for.
    # The task's call_id is the other way round: the call that asked for it.
    callback_task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callback_tasks.id", use_alter=True))

    caller: Mapped[Optional[Caller]] = relationship()
    agent: Mapped[Optional[User]] = relationship()
    ivr_sessions: Mapped[list[IvrSession]] = relationship(back_populates="call")


class IvrSession(Base):
    """One pass of a caller through an IVR script (a FastAGI connection)."""

    __tablename__ = "ivr_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    script: Mapped[str] = mapped_column(String(32))
    language: Mapped[Optional[Language]] = mapped_column(str_enum(Language, "language"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    end_node: Mapped[Optional[str]] = mapped_column(String(64))
    outcome: Mapped[IvrOutcome] = mapped_column(str_enum(IvrOutcome, "ivr_outcome"), default=IvrOutcome.IN_PROGRESS)
    # What the IVR handed back to the dialplan: HOTLINE_* channel variables.
    result: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)

    # The caller's walk, a step an entry ({"node", "prompt", "key", "at"}; see IvrStep).
    # Kept on the session row: steps are only ever read with their session, and writing a
    # row a step cost the call-log writer more than the rest of a call's bookkeeping.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default=text("'[]'"))

    call: Mapped[Call] = relationship(back_populates="ivr_sessions")

    @property
    def walk(self) -> list[IvrStep]:
        return [IvrStep.from_json(step) for step in self.steps or ()]


class IvrStep(NamedTuple):
    """One step of a caller's walk through an IVR script (a named tuple: the IVR makes
    one at every step of every call, and a tuple is the cheapest immutable value)."""

    node: str
    prompt: str | None
    # The key pressed ("1", "*", "#"), "timeout", "hangup", or what a step did ("recorded").
    key: str | None
    at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "prompt": self.prompt, "key": self.key,
                "at": self.at.astimezone(dt.timezone.utc).isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IvrStep":
        at = dt.datetime.fromisoformat(data["at"])
        return cls(data["node"], data.get("prompt"), data.get("key"),
                   at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc))


def steps_json(steps: Iterable[IvrStep]) -> str:
    """`json.dumps([step.to_json() for step in steps])`, built faster.

    The call-log writer stores every call's steps; a step's node, prompt and key repeat
    from call to call, so their JSON is made once and only the time is new.
    """
    return "[" + ", ".join(_step_head(step.node, step.prompt, step.key)
                           + step.at.astimezone(dt.timezone.utc).isoformat() + '"}' for step in steps) + "]"


@functools.lru_cache(maxsize=4096)
def _step_head(node: str, prompt: str | None, key: str | None) -> str:
    return (f'{{"node": {_json_text(node)}, "prompt": {_json_text(prompt)}, '
            f'"key": {_json_text(key)}, "at": "')


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


# --- requests (工单) and their dispatch -------------------------------------------------


class ServiceRequest(Base):
    __tablename__ = "service_requests"
    __table_args__ = (
        Index("ix_service_requests_caller_status", "caller_id", "status"),
        # A call's requests, and the first one's number read from the index alone (the call log).
        Index("ix_service_requests_call_number", "call_id", "number"),
        # What a survey's one composite key refers to (Survey: its request and that request's caller).
        Index("ix_service_requests_id_caller_id", "id", "caller_id", unique=True),
        CheckConstraint("window_end IS NULL OR window_start IS NULL OR window_end > window_start", name="window_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Readable and quoted on the phone: HY20261126-0042.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    # None only for a voicemail left from a withheld number.
    caller_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callers.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"))
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    address: Mapped[Optional[str]] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    window_start: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    window_end: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, "priority"), default=Priority.NORMAL)
    channel: Mapped[RequestChannel] = mapped_column(str_enum(RequestChannel, "request_channel"))
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "request_status"), default=RequestStatus.NEW, index=True
    )
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("calls.id"))
    voicemail_file: Mapped[Optional[str]] = mapped_column(String(255))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    caller: Mapped[Optional[Caller]] = relationship()
    category: Mapped[ServiceCategory] = relationship()
    district: Mapped[Optional[District]] = relationship()
    history: Mapped[list[RequestStatusChange]] = relationship(
        back_populates="request", order_by="RequestStatusChange.at", cascade="all, delete-orphan"
    )
    dispatches: Mapped[list[Dispatch]] = relationship(back_populates="request", order_by="Dispatch.offered_at")


class RequestStatusChange(Base):
    __tablename__ = "request_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[Optional[RequestStatus]] = mapped_column(str_enum(RequestStatus, "from_status"))
    to_status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "to_status"))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: the system
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[Optional[str]] = mapped_column(Text)

    request: Mapped[ServiceRequest] = relationship(back_populates="history")
    user: Mapped[Optional[User]] = relationship()


provider_categories = Table(
    "provider_categories",
    Base.metadata,
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("service_categories.id"), primary_key=True),
)

provider_districts = Table(
    "provider_districts",
    Base.metadata,
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("districts.id"), primary_key=True),
)


PROVIDER_BASE_SCORE = (
    "COALESCE(grade, 0) * 6 + CASE WHEN rating_count >= 3 THEN (COALESCE(rating_avg, 3) - 3) * 10 ELSE 0 END"
)


class Provider(Base):
    """A registered household-services company (家政企业) and its credit file."""

    __tablename__ = "providers"
    __table_args__ = (
        Index("ix_providers_status_base_score", "status", "base_score"),
        CheckConstraint("grade IS NULL OR grade BETWEEN 1 AND 5", name="grade_range"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    licence_number: Mapped[str] = mapped_column(String(32), unique=True)  # 统一社会信用代码
    contact_name: Mapped[Optional[str]] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20))
    address: Mapped[Optional[str]] = mapped_column(String(255))
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    # 分类定级: one to five stars; None until graded.
    grade: Mapped[Optional[int]]
    # Rolled up from survey ratings of the last 90 days.
    rating_avg: Mapped[Optional[float]] = mapped_column(Numeric(3, 2, asdecimal=False))
    rating_count: Mapped[int] = mapped_column(default=0)
    # The part of a dispatch score known without counting anything (grade, then rating
    # once there are at least three), kept by the database so ranking can read providers
    # best first from an index. The weights are db/dispatching.py's.
    base_score: Mapped[float] = mapped_column(
        Numeric(6, 2, asdecimal=False),
        Computed(PROVIDER_BASE_SCORE, persisted=True),
    )
    # How many requests it can have in service at once.
    capacity: Mapped[int] = mapped_column(default=5)
    # SUSPENDED: out of dispatch until a supervisor reinstates it (a removal, 移出平台).
    status: Mapped[ProviderStatus] = mapped_column(str_enum(ProviderStatus, "provider_status"), default=ProviderStatus.ACTIVE)
    suspended_reason: Mapped[Optional[str]] = mapped_column(Text)
    # The end of a suspension for N days (失信惩戒): dispatch leaves the provider out until
    # then and takes it back by itself, since suggestions compare it with the time.
    suspended_until: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # The grade is a supervisor's (see provider_grade_changes), not the rule's: the next
    # regrade replaces it unless renewed (override_renewed, used up by that regrade).
    grade_overridden: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    override_renewed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    graded_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    district: Mapped[Optional[District]] = relationship()
    categories: Mapped[list[ServiceCategory]] = relationship(secondary=provider_categories)
    districts: Mapped[list[District]] = relationship(secondary=provider_districts)
    workers: Mapped[list[Worker]] = relationship(back_populates="provider")


class GradeChange(Base):
    """One grading of a provider, kept for good: the grade, the rule's reasons and inputs.

    Written at every regrade (even when the grade stays) and every override or renewal,
    so the provider page can answer "why this many stars?" and show how it got there.
    """

    __tablename__ = "provider_grade_changes"
    __table_args__ = (Index("ix_provider_grade_changes_provider_at", "provider_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[GradeSource] = mapped_column(str_enum(GradeSource, "grade_source"))
    previous_grade: Mapped[Optional[int]]
    grade: Mapped[Optional[int]]  # the provider's grade from then on; None: ungraded
    # What the rule gave (regrades), also when an override or renewal kept another grade.
    rule_grade: Mapped[Optional[int]]
    score: Mapped[Optional[float]] = mapped_column(Numeric(6, 2, asdecimal=False))
    # The rule's reasons ({"factor", "value", "points"} a factor; {"missing", ...} when
    # evidence is short) and the raw inputs, as the rule saw them.
    reasons: Mapped[Optional[list[dict[str, Any]]]] = mapped_column(JSON)
    inputs: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    note: Mapped[Optional[str]] = mapped_column(Text)  # an override's written reason
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: the system

    user: Mapped[Optional[User]] = relationship()


class CreditMeasure(Base):
    """A commendation or sanction in a provider's credit file (守法诚信奖励 / 失信惩戒)."""

    __tablename__ = "credit_measures"
    __table_args__ = (Index("ix_credit_measures_provider_starts", "provider_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    kind: Mapped[CreditMeasureKind] = mapped_column(str_enum(CreditMeasureKind, "credit_measure_kind"))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # a suspension's end
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    # A removal ends when a supervisor reinstates the provider (a suspension may be lifted early).
    lifted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    lifted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    lift_reason: Mapped[Optional[str]] = mapped_column(Text)

    created_by: Mapped[Optional[User]] = relationship(foreign_keys=[created_by_id])
    lifted_by: Mapped[Optional[User]] = relationship(foreign_keys=[lifted_by_id])


class Worker(Base):
    """A household-services worker (从业人员) registered with a provider."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[Optional[str]] = mapped_column(String(20))
    gender: Mapped[Optional[str]] = mapped_column(String(8))
    birth_year: Mapped[Optional[int]]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    provider: Mapped[Provider] = relationship(back_populates="workers")
    trainings: Mapped[list[Training]] = relationship(back_populates="worker", cascade="all, delete-orphan")
    certificates: Mapped[list[Certificate]] = relationship(back_populates="worker", cascade="all, delete-orphan")


class Training(Base):
    __tablename__ = "trainings"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    course: Mapped[str] = mapped_column(String(128))
    completed_on: Mapped[dt.date] = mapped_column(Date)
    hours: Mapped[Optional[int]]
    # The platform's training session it was given at (None: recorded on its own).
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("training_sessions.id"), index=True)

    worker: Mapped[Worker] = relationship(back_populates="trainings")


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # 育婴员, 养老护理员, 健康证 ...
    number: Mapped[str] = mapped_column(String(64))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[Optional[dt.date]] = mapped_column(Date, index=True)
    # The platform's training session that issued it (None: brought from elsewhere).
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("training_sessions.id"), index=True)

    worker: Mapped[Worker] = relationship(back_populates="certificates")


class Dispatch(Base):
    """A request offered to a provider (and possibly a named worker)."""

    __tablename__ = "dispatches"
    # A provider's load (offers and accepted work in hand) is counted for every ranking.
    __table_args__ = (Index("ix_dispatches_provider_status", "provider_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workers.id"))
    status: Mapped[DispatchStatus] = mapped_column(str_enum(DispatchStatus, "dispatch_status"), default=DispatchStatus.OFFERED)
    offered_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    offered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Why the suggestion ranked where it did, as shown to the operator.
    rank_reason: Mapped[Optional[str]] = mapped_column(Text)
    note: Mapped[Optional[str]] = mapped_column(Text)

    request: Mapped[ServiceRequest] = relationship(back_populates="dispatches")
    provider: Mapped[Provider] = relationship()
    worker: Mapped[Optional[Worker]] = relationship()


# --- surveys, complaints, callbacks, SMS ------------------------------------------------


class Survey(Base):
    """A callback satisfaction survey of one completed request."""

    __tablename__ = "surveys"
    __table_args__ = (
        # With `id` last a claim reads the due surveys in its order and stops at its limit.
        Index("ix_surveys_status_due", "status", "due_at", "id"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        # One key for the request and its caller: the survey calls that request's caller,
        # and the request's own key holds the caller to `callers`. One check a row where two
        # separate keys made two (each locking a parent row): half of a 100,000-survey
        # enqueue's cost on PostgreSQL was its keys (bench B4). A request whose caller is
        # corrected carries its survey along.
        ForeignKeyConstraint(["request_id", "caller_id"], ["service_requests.id", "service_requests.caller_id"],
                             onupdate="CASCADE"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(unique=True)
    caller_id: Mapped[int] = mapped_column(index=True)
    # The provider of the request's accepted offer, copied from `dispatches` (whose key holds
    # it to `providers`) as the survey is queued. No key of its own: a check on every queued
    # survey cost a third of a 100,000-survey enqueue (B4), and providers are never deleted
    # (removal is a sanction; credit files keep them).
    provider_id: Mapped[Optional[int]] = mapped_column()
    language: Mapped[Language] = mapped_column(str_enum(Language, "language"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[SurveyStatus] = mapped_column(str_enum(SurveyStatus, "survey_status"), default=SurveyStatus.SCHEDULED)
    attempt_count: Mapped[int] = mapped_column(default=0)
    # Which dialer holds it, and since when: a stale claim is taken back.
    claimed_by: Mapped[Optional[str]] = mapped_column(String(64))
    claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    rating: Mapped[Optional[int]]
    comment_recording: Mapped[Optional[str]] = mapped_column(String(255))
    completed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ServiceRequest] = relationship(foreign_keys=[request_id],
                                                   primaryjoin="Survey.request_id == ServiceRequest.id")
    caller: Mapped[Caller] = relationship(primaryjoin="foreign(Survey.caller_id) == Caller.id")
    provider: Mapped[Optional[Provider]] = relationship(primaryjoin="foreign(Survey.provider_id) == Provider.id")
    attempts: Mapped[list[SurveyAttempt]] = relationship(
        back_populates="survey", order_by="SurveyAttempt.started_at", cascade="all, delete-orphan"
    )


class SurveyAttempt(Base):
    __tablename__ = "survey_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    # Indexed: each claim counts the attempts started in the last second (calls-per-second cap).
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    outcome: Mapped[Optional[AttemptOutcome]] = mapped_column(str_enum(AttemptOutcome, "attempt_outcome"))
    # AMI OriginateResponse Reason: 0 failed, 1 no answer, 3 ringing timeout, 4 answered, 5 busy, 8 congestion.
    originate_reason: Mapped[Optional[int]]
    action_id: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("calls.id"))

    survey: Mapped[Survey] = relationship(back_populates="attempts")


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_provider_created", "provider_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callers.id"), index=True)
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_requests.id"))
    provider_id: Mapped[Optional[int]] = mapped_column(ForeignKey("providers.id"), index=True)
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("calls.id"))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[ComplaintStatus] = mapped_column(str_enum(ComplaintStatus, "complaint_status"), default=ComplaintStatus.OPEN)
    assigned_to_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[Optional[str]] = mapped_column(Text)
    # Found true when resolved (属实): only upheld complaints count against a grade.
    upheld: Mapped[Optional[bool]]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    caller: Mapped[Optional[Caller]] = relationship()
    provider: Mapped[Optional[Provider]] = relationship()
    request: Mapped[Optional[ServiceRequest]] = relationship()


class CallbackTask(Base):
    """Someone to call back: from the queue's callback option, after hours, or a survey."""

    __tablename__ = "callback_tasks"
    __table_args__ = (Index("ix_callback_tasks_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed: the lost-callers list asks, for each caller, whether a callback reached them.
    caller_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callers.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[Optional[Language]] = mapped_column(str_enum(Language, "language"))
    reason: Mapped[CallbackReason] = mapped_column(str_enum(CallbackReason, "callback_reason"))
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("calls.id"))
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_requests.id"))
    survey_id: Mapped[Optional[int]] = mapped_column(ForeignKey("surveys.id"))
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_categories.id"))
    # For a caller who left a queue asking to be called back: the place they gave up,
    # which a placeholder keeps so the callback comes when they would have been served.
    queue: Mapped[Optional[str]] = mapped_column(String(64))
    queue_position: Mapped[Optional[int]]
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, "task_status"), default=TaskStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    assigned_to_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    note: Mapped[Optional[str]] = mapped_column(Text)
    # The Originate (placeholder or console dial) whose OriginateResponse settles this try.
    originate_action_id: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    caller: Mapped[Optional[Caller]] = relationship()
    assigned_to: Mapped[Optional[User]] = relationship()


class SmsMessage(Base):
    """The SMS outbox: every message is kept, sent or not, so none is silently lost."""

    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))  # dispatch_provider, dispatch_caller ...
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_requests.id"))
    status: Mapped[SmsStatus] = mapped_column(str_enum(SmsStatus, "sms_status"), default=SmsStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    provider_sid: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


class FormSubmission(Base):
    """A console form sent once: the page gives each form a token of its own, stored with
    what the form wrote, in the same transaction. The same form sent again (a double
    click, two at once, the back button) fails on the token and writes nothing."""

    __tablename__ = "form_submissions"

    token: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SmsReplyOutcome(str, enum.Enum):
    """What became of a message to the hotline's SMS number."""
    RECEIVED = "received"  # kept, not yet read (the webhook stopped before it could)
    ACCEPTED = "accepted"  # a provider accepted its open offer
    DECLINED = "declined"
    NOT_UNDERSTOOD = "not_understood"  # neither an answer nor a request number: for an operator to read
    NO_OPEN_OFFER = "no_open_offer"  # an answer for an offer the sender does not hold
    ALREADY_ANSWERED = "already_answered"  # the offer was answered meanwhile


class SmsReply(Base):
    """A message to the hotline's SMS number, mostly providers answering offers. Every one
    is kept before it is acted on; one the webhook could not act on waits for an operator
    (handled_at empty) instead of being answered and forgotten."""

    __tablename__ = "sms_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Twilio's id for the message: a webhook Twilio retries is the same message, kept once.
    message_sid: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))  # normalised (13700000000), or as the carrier gave it
    provider_id: Mapped[Optional[int]] = mapped_column(ForeignKey("providers.id"), index=True)
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_requests.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[SmsReplyOutcome] = mapped_column(str_enum(SmsReplyOutcome, "sms_reply_outcome"),
                                                     default=SmsReplyOutcome.RECEIVED)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime, index=True)
    handled_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))

    provider: Mapped[Optional[Provider]] = relationship()
    request: Mapped[Optional[ServiceRequest]] = relationship()
    handled_by: Mapped[Optional[User]] = relationship()


class OperatorStateChange(Base):
    """An operator's day for supervisors: logins, pauses with reasons, calls, wrap-ups."""

    __tablename__ = "operator_state_changes"
    # The same event replayed records nothing new.
    __table_args__ = (UniqueConstraint("user_id", "state", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[OperatorState] = mapped_column(str_enum(OperatorState, "operator_state"))
    reason: Mapped[Optional[PauseReason]] = mapped_column(str_enum(PauseReason, "pause_reason"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # A wrap-up's scheduled end (the queue's wrap-up time after the call): available from
    # then on unless a later change (a pause, a logout) came first. Kept on the wrap-up,
    # not as an "available" recorded in advance, which would outrank that later change.
    ends_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Where it was learnt: "console" (an operator's action) or "ami" (a call's events).
    source: Mapped[str] = mapped_column(String(16))


class LoginAttempt(Base):
    """Sign-ins to the console, kept to throttle guessing (per account and per address)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed what: every change to a request, provider or user."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: the system
    action: Mapped[str] = mapped_column(String(32))  # create, update, status, login ...
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[Optional[int]]
    details: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)


class DailyCounter(Base):
    """Per-day sequences behind readable numbers (HY20261126-0042)."""

    __tablename__ = "daily_counters"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


# --- disputes (纠纷处理) ------------------------------------------------------------------


class DisputeOrigin(str, enum.Enum):
    """Where a dispute came from."""

    COMPLAINT = "complaint"  # a complaint escalated (complaint_id)
    LOW_RATING = "low_rating"  # a survey rated at or below the threshold (survey_id)
    OPERATOR = "operator"  # taken in by an operator (on a call or otherwise)


class DisputeStatus(str, enum.Enum):
    OPEN = "open"  # taken in, nothing done yet
    MEDIATING = "mediating"  # a statement or mediation step recorded
    CLOSED = "closed"  # an outcome recorded (withdrawn included)


class DisputeOutcome(str, enum.Enum):
    UPHELD = "upheld"  # 支持投诉方
    PARTLY_UPHELD = "partly_upheld"  # 部分支持
    REJECTED = "rejected"  # 不予支持
    WITHDRAWN = "withdrawn"  # 撤回


# Outcomes that count as a dispute the provider lost (grading's "dispute_lost").
DISPUTE_LOST_OUTCOMES = frozenset({DisputeOutcome.UPHELD, DisputeOutcome.PARTLY_UPHELD})


class DisputeSide(str, enum.Enum):
    CALLER = "caller"
    PROVIDER = "provider"
    CENTER = "center"  # the hotline's own finding or note


class Dispute(Base):
    """A dispute between a caller and a provider (纠纷): more than a complaint, it is
    mediated to an outcome by a deadline in working days, and counts in grading."""

    __tablename__ = "disputes"
    __table_args__ = (
        # The overdue ones: open, deadline passed (the dashboard asks on every load).
        Index("ix_disputes_status_deadline", "status", "deadline"),
        # Grading counts each provider's lost disputes closed within the record window.
        Index("ix_disputes_provider_closed", "provider_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[Optional[int]] = mapped_column(ForeignKey("callers.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_requests.id"))
    origin: Mapped[DisputeOrigin] = mapped_column(str_enum(DisputeOrigin, "dispute_origin"))
    # The source, by origin: a complaint or a survey becomes at most one dispute.
    complaint_id: Mapped[Optional[int]] = mapped_column(ForeignKey("complaints.id"), unique=True)
    survey_id: Mapped[Optional[int]] = mapped_column(ForeignKey("surveys.id"), unique=True)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[DisputeStatus] = mapped_column(str_enum(DisputeStatus, "dispute_status"), default=DisputeStatus.OPEN)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    # The last working day (Heyuan's calendar) by which it must be closed: overdue after it.
    deadline: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[Optional[DisputeOutcome]] = mapped_column(str_enum(DisputeOutcome, "dispute_outcome"))
    remedy: Mapped[Optional[str]] = mapped_column(Text)  # 退款、返工、赔偿 ... what the provider owes
    closing_note: Mapped[Optional[str]] = mapped_column(Text)  # the finding, or why it was withdrawn
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))

    caller: Mapped[Optional[Caller]] = relationship()
    provider: Mapped[Provider] = relationship()
    request: Mapped[Optional[ServiceRequest]] = relationship()
    complaint: Mapped[Optional[Complaint]] = relationship()
    survey: Mapped[Optional[Survey]] = relationship()
    opened_by: Mapped[Optional[User]] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[Optional[User]] = relationship(foreign_keys=[closed_by_id])
    statements: Mapped[list[DisputeStatement]] = relationship(
        back_populates="dispute", order_by="DisputeStatement.at", cascade="all, delete-orphan")
    steps: Mapped[list[DisputeStep]] = relationship(
        back_populates="dispute", order_by="DisputeStep.on", cascade="all, delete-orphan")


class DisputeStatement(Base):
    """What one side said (the caller, the provider, or the center's own finding)."""

    __tablename__ = "dispute_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"), index=True)
    side: Mapped[DisputeSide] = mapped_column(str_enum(DisputeSide, "dispute_side"))
    author: Mapped[str] = mapped_column(String(64))  # who said it: 王女士, 企业负责人李经理 ...
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))

    dispute: Mapped[Dispute] = relationship(back_populates="statements")
    recorded_by: Mapped[Optional[User]] = relationship()


class DisputeStep(Base):
    """A mediation step on a day (a call to both sides, a visit, a meeting)."""

    __tablename__ = "dispute_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"), index=True)
    on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))

    dispute: Mapped[Dispute] = relationship(back_populates="steps")
    recorded_by: Mapped[Optional[User]] = relationship()
# --- workers, recruitment and training (招工培训); the three 70% figures -----------------


class JobSeekerSource(str, enum.Enum):
    IVR = "ivr"  # pressed 6 (人才招聘) in the IVR: a lead with a phone and a language
    OPERATOR = "operator"  # registered by an operator (a call, a walk-in)


class JobSeekerStatus(str, enum.Enum):
    LEAD = "lead"  # only what the IVR knew: an operator still has to call and ask
    SEEKING = "seeking"
    HIRED = "hired"
    WITHDRAWN = "withdrawn"


class OpeningStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class SeventyMeasure(str, enum.Enum):
    """The three 70% goals (三个70%), each a numerator counted from the data over a
    denominator supervisors enter (workforce/figures.py defines them)."""

    DEMAND = "demand"  # household-service demand, matched through the platform and rated well
    BUSINESSES = "businesses"  # household-service businesses, on the platform and graded
    WORKERS = "workers"  # household-service workers, trained, certified and on the platform


class JobSeeker(Base):
    """Someone looking for household-services work (求职者), from the IVR or an operator."""

    __tablename__ = "job_seekers"
    __table_args__ = (Index("ix_job_seekers_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[Optional[str]] = mapped_column(String(64))  # None for an IVR lead until asked
    phone: Mapped[str] = mapped_column(String(20), index=True)
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    # The trade wanted, as a service category (家庭服务, 养老服务 ...).
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("service_categories.id"))
    language: Mapped[Optional[Language]] = mapped_column(str_enum(Language, "language"))
    source: Mapped[JobSeekerSource] = mapped_column(str_enum(JobSeekerSource, "job_seeker_source"))
    status: Mapped[JobSeekerStatus] = mapped_column(str_enum(JobSeekerStatus, "job_seeker_status"),
                                                    default=JobSeekerStatus.SEEKING)
    note: Mapped[Optional[str]] = mapped_column(Text)
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("calls.id"))  # the call it came from
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # None: the IVR
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    district: Mapped[Optional[District]] = relationship()
    category: Mapped[Optional[ServiceCategory]] = relationship()


class JobOpening(Base):
    """Positions a provider is recruiting for (招工), in a trade and a district."""

    __tablename__ = "job_openings"
    __table_args__ = (CheckConstraint("positions >= 1", name="positions_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"))
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    title: Mapped[str] = mapped_column(String(128))
    positions: Mapped[int] = mapped_column(default=1)
    status: Mapped[OpeningStatus] = mapped_column(str_enum(OpeningStatus, "opening_status"), default=OpeningStatus.OPEN,
                                                  index=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    provider: Mapped[Provider] = relationship()
    category: Mapped[ServiceCategory] = relationship()
    district: Mapped[Optional[District]] = relationship()


class Hire(Base):
    """A job seeker taken on by a provider through the platform: the "1,200 jobs" count."""

    __tablename__ = "hires"

    id: Mapped[int] = mapped_column(primary_key=True)
    seeker_id: Mapped[int] = mapped_column(ForeignKey("job_seekers.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    opening_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_openings.id"))
    # The worker row the hire made at the provider (workers attach to providers).
    worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workers.id"))
    hired_on: Mapped[dt.date] = mapped_column(Date, index=True)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    seeker: Mapped[JobSeeker] = relationship()
    provider: Mapped[Provider] = relationship()
    opening: Mapped[Optional[JobOpening]] = relationship()
    recorded_by: Mapped[Optional[User]] = relationship()


class TrainingSession(Base):
    """A training course given on a day (培训班): its attendees and the certificates it gave."""

    __tablename__ = "training_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    course: Mapped[str] = mapped_column(String(128))
    held_on: Mapped[dt.date] = mapped_column(Date, index=True)
    trainer: Mapped[str] = mapped_column(String(64))
    place: Mapped[Optional[str]] = mapped_column(String(255))
    hours: Mapped[Optional[int]]
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    attendees: Mapped[list[TrainingAttendee]] = relationship(back_populates="session", cascade="all, delete-orphan",
                                                             order_by="TrainingAttendee.id")
    certificates: Mapped[list[Certificate]] = relationship(order_by="Certificate.id")


class TrainingAttendee(Base):
    """One person at a training session: a provider's worker, or a job seeker."""

    __tablename__ = "training_attendees"
    __table_args__ = (
        CheckConstraint("(worker_id IS NULL) <> (seeker_id IS NULL)", name="worker_or_seeker"),
        UniqueConstraint("session_id", "worker_id"),
        UniqueConstraint("session_id", "seeker_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"), index=True)
    worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workers.id"))
    seeker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_seekers.id"))

    session: Mapped[TrainingSession] = relationship(back_populates="attendees")
    worker: Mapped[Optional[Worker]] = relationship()
    seeker: Mapped[Optional[JobSeeker]] = relationship()


class SeventyDenominator(Base):
    """A denominator of a 70% figure for a month, entered by a supervisor: the city's
    estimated demand, or the businesses and workers registered with the commerce bureau.
    District None: the whole city."""

    __tablename__ = "seventy_denominators"
    __table_args__ = (CheckConstraint("value >= 1", name="value_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure: Mapped[SeventyMeasure] = mapped_column(str_enum(SeventyMeasure, "seventy_measure"))
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("districts.id"))
    month: Mapped[dt.date] = mapped_column(Date)  # its first day
    value: Mapped[int] = mapped_column(Integer)
    entered_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    district: Mapped[Optional[District]] = relationship()
    entered_by: Mapped[Optional[User]] = relationship()


# The whole city's denominator in the one-per-month key: district ids start at 1. A plain
# unique key on district_id would let any number of city rows in (NULL is never equal to
# NULL), and a double submit made two.
CITY_WIDE = 0
Index("uq_seventy_denominators_measure_month_district", SeventyDenominator.measure, SeventyDenominator.month,
      func.coalesce(SeventyDenominator.district_id, CITY_WIDE), unique=True)
# --- the industry report (reports/) and answered surveys ---------------------------------------
# A year of requests counted by category, district, status and whether a provider took
# them, and of surveys by category and rating, each read from an index alone (B8); a
# provider's answered surveys (grading, the provider's page, the credit file).

Index("ix_service_requests_created_facts", ServiceRequest.created_at, ServiceRequest.category_id,
      ServiceRequest.district_id, ServiceRequest.status, ServiceRequest.id)
Index("ix_dispatches_request_status", Dispatch.request_id, Dispatch.status)
# Answered surveys only (completed_at is set when a survey is answered): a queued survey
# adds no entry, and every query here bounds completed_at or asks it to be set.
ANSWERED_SURVEYS = Survey.completed_at.is_not(None)
Index("ix_surveys_completed_status", Survey.completed_at, Survey.status, Survey.request_id, Survey.rating,
      postgresql_where=ANSWERED_SURVEYS, sqlite_where=ANSWERED_SURVEYS)
Index("ix_surveys_provider_completed", Survey.provider_id, Survey.completed_at,
      postgresql_where=ANSWERED_SURVEYS, sqlite_where=ANSWERED_SURVEYS)
# --- KPI reports (统计报表) ------------------------------------------------------------


class KpiDailyTally(Base):
    """One local day's KPI tally under one breakdown (kpi/rollup.py): counts and per-second
    histograms, never ratios, so a month's figures are the sum of its days' exactly."""

    __tablename__ = "kpi_daily_tallies"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    # "all" (member ""), or "queue", "operator", "language", "category" and the member's key.
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    member: Mapped[str] = mapped_column(String(64), primary_key=True)
    tally: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A day's figures settle once its calls' repeat window (72 h) has passed: a rollup
    # built before then is rebuilt, and the reports read such a day from the raw rows.
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# The state each operator was in when a report's day began: their last change before it,
# one index step per operator instead of a scan of every earlier change.
Index("ix_operator_state_changes_user_at", OperatorStateChange.user_id, OperatorStateChange.at)


# --- the industry report's daily tallies (db/request_tallies.py) ---------------------------
# Derived rows, rebuilt from the raw ones: no foreign keys, so a rollup never waits on them.


class ReportRequestTally(Base):
    """One local day's requests (by creation) with one breakdown, counted."""

    __tablename__ = "report_request_tallies"
    __table_args__ = (Index("ix_report_request_tallies_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    category_id: Mapped[int]
    district_id: Mapped[Optional[int]]
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "request_status"))
    # A provider took it through the platform: accepted the offer, or went on to serve it.
    matched: Mapped[bool]
    # An offer accepted and the survey rated it well: the 70% demand figure's numerator.
    accepted_rated_well: Mapped[bool]
    requests: Mapped[int]


class ReportSurveyTally(Base):
    """One local day's completed surveys (by completion) of one category and rating, counted."""

    __tablename__ = "report_survey_tallies"
    __table_args__ = (Index("ix_report_survey_tallies_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    category_id: Mapped[int]
    rating: Mapped[Optional[int]]
    surveys: Mapped[int]


class ReportTalliedDay(Base):
    """A local day whose tallies are stored, in the time zone that day was cut by."""

    __tablename__ = "report_tallied_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReportTallyChange(Base):
    """A change that may move a tallied day's figures: the time of the row it touched (a
    request's creation, a survey's completion). Database triggers write these (migration
    0022), so no write escapes them; a day with one is read from the raw rows until the
    rollup rebuilds it and takes the change away."""

    __tablename__ = "report_tally_changes"
    __table_args__ = (Index("ix_report_tally_changes_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
