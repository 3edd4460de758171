"""The SMS outbox: every message is a row first, so none is lost when sending fails.

A sender (sms/gateway.py) takes due rows, sends them and records the result;
with no gateway configured they wait here, visible in the console's outbox.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Dispatch, Provider, ServiceRequest, SmsMessage, SmsReply, SmsReplyOutcome, SmsStatus, User
from db.phones import try_normalise
from db.service_requests import full_address
from db.session import hold_row

MAX_BODY = 500  # a long SMS is split by the carrier; beyond this it is a letter
# Messages to providers (a business's number); every other message is to a caller, whose
# number is shown masked to a reader without the right to see it.
TO_PROVIDERS = frozenset({"dispatch_provider"})


def queue_sms(session: Session, to_number: str, body: str, purpose: str,
              request: ServiceRequest | None = None, now: dt.datetime | None = None) -> SmsMessage:
    phone = try_normalise(to_number)
    if phone is None:
        raise ValueError(f"cannot send an SMS to {to_number!r}")
    message = SmsMessage(to_number=phone.number, body=body[:MAX_BODY], purpose=purpose,
                         request_id=request.id if request else None, status=SmsStatus.QUEUED,
                         next_attempt_at=now or utcnow(), created_at=now or utcnow())
    session.add(message)
    session.flush()
    return message


def _when(request: ServiceRequest, tz: ZoneInfo) -> str:
    if request.window_start is None:
        return "时间待约"
    start = request.window_start.astimezone(tz)
    text = f"{start:%m月%d日 %H:%M}"
    if request.window_end is not None:
        text += f"-{request.window_end.astimezone(tz):%H:%M}"
    return text


def dispatch_messages(session: Session, dispatch: Dispatch, signature: str, tz: ZoneInfo,
                      now: dt.datetime | None = None) -> list[SmsMessage]:
    """Tell the provider what to do and the caller who is coming."""
    request = dispatch.request
    where = full_address(request)
    to_provider = (f"{signature}新工单{request.number}：{request.category.name_zh}，地址{where or '待确认'}，"
                   f"{_when(request, tz)}。请尽快致电热线确认接单。")
    messages = [queue_sms(session, dispatch.provider.phone, to_provider, "dispatch_provider", request, now)]
    caller_phone = request.caller.phone if request.caller else None
    if caller_phone and try_normalise(caller_phone) and try_normalise(caller_phone).kind.value == "mobile":
        to_caller = (f"{signature}您的工单{request.number}（{request.category.name_zh}）已派给"
                     f"{dispatch.provider.name}，联系电话{dispatch.provider.phone}。")
        messages.append(queue_sms(session, caller_phone, to_caller, "dispatch_caller", request, now))
    return messages


def due_messages(session: Session, now: dt.datetime, limit: int = 50) -> list[SmsMessage]:
    query = (select(SmsMessage)
             .where(SmsMessage.status == SmsStatus.QUEUED, SmsMessage.next_attempt_at <= now)
             .order_by(SmsMessage.next_attempt_at, SmsMessage.id).limit(limit))
    return list(session.scalars(query))


def mark_sent(message: SmsMessage, sid: str, now: dt.datetime) -> None:
    message.status = SmsStatus.SENT
    message.provider_sid = sid
    message.sent_at = now
    message.attempts += 1
    message.last_error = None


def mark_failed(message: SmsMessage, error: str, now: dt.datetime, max_attempts: int, retry_seconds: int) -> None:
    """A failed attempt: retry later with a doubling delay, or give up and show it."""
    message.attempts += 1
    message.last_error = error[:1000]
    if message.attempts >= max_attempts:
        message.status = SmsStatus.FAILED
        message.next_attempt_at = None
    else:
        message.next_attempt_at = now + dt.timedelta(seconds=retry_seconds * 2 ** (message.attempts - 1))


def retry_now(message: SmsMessage, now: dt.datetime) -> None:
    """An operator asks for a failed message to be tried again."""
    message.status = SmsStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = now


# A provider answers a dispatch SMS with "接单 HY20261127-0042" (or 1) to accept and
# "拒单 HY20261127-0042" (or 2) to decline; spaces and the order are free.
_ACCEPT = ("接单", "接", "1", "yes", "y")
_DECLINE = ("拒单", "拒", "2", "no", "n")
_NUMBER = re.compile(r"HY\d{8}-\d{4}", re.IGNORECASE)


def named_request(body: str) -> str | None:
    """The request number a message names, if any (HY20261127-0042)."""
    found = _NUMBER.search(body or "")
    return found.group(0).upper() if found else None


def parse_provider_reply(body: str) -> tuple[bool, str] | None:
    """(accepted, request number) from a provider's SMS, or None if it says neither."""
    text = (body or "").strip()
    found = _NUMBER.search(text)
    if found is None:
        return None
    rest = (text[:found.start()] + " " + text[found.end():]).strip().lower()
    words = rest.replace(",", " ").replace("，", " ").split()
    if any(w in _ACCEPT for w in words) and not any(w in _DECLINE for w in words):
        return True, found.group(0).upper()
    if any(w in _DECLINE for w in words) and not any(w in _ACCEPT for w in words):
        return False, found.group(0).upper()
    return None


# --- the inbox ---------------------------------------------------------------------------

MAX_REPLY = 1600  # the longest message Twilio delivers (ten segments)
ACTED_ON = frozenset({SmsReplyOutcome.ACCEPTED, SmsReplyOutcome.DECLINED})


def _sid(message_sid: str | None) -> str | None:
    return (message_sid or "").strip()[:64] or None


def kept_reply(session: Session, message_sid: str | None) -> SmsReply | None:
    """The message Twilio gave this id, if it is kept already."""
    sid = _sid(message_sid)
    return session.scalar(select(SmsReply).where(SmsReply.message_sid == sid)) if sid is not None else None


def keep_reply(session: Session, message_sid: str | None, from_number: str, body: str, area_code: str,
               now: dt.datetime | None = None) -> SmsReply:
    """The message as a row, before anything is done with it: the row kept already when
    Twilio delivers the same message again (after a timeout, or a crash of ours)."""
    kept = kept_reply(session, message_sid)
    if kept is not None:
        return kept
    sender = try_normalise(from_number, area_code)
    provider = (session.scalar(select(Provider).where(Provider.phone == sender.number).order_by(Provider.id).limit(1))
                if sender is not None else None)
    number = sender.number if sender is not None else (from_number or "").strip()[:32]  # as the carrier gave it if no phone
    reply = SmsReply(message_sid=_sid(message_sid), from_number=number, provider=provider,
                     body=(body or "")[:MAX_REPLY], outcome=SmsReplyOutcome.RECEIVED, received_at=now or utcnow())
    session.add(reply)
    session.flush()
    return reply


def claim_reply(session: Session, reply_id: int) -> SmsReply | None:
    """The kept message, this transaction's alone to act on until it commits; None if it
    was acted on already. Its row is written first (a row lock on PostgreSQL, SQLite's
    write lock), so a second delivery of it waits here and then finds it settled."""
    hold_row(session, SmsReply.outcome, reply_id)
    reply = session.get(SmsReply, reply_id, populate_existing=True)
    return reply if reply is not None and reply.outcome == SmsReplyOutcome.RECEIVED else None


def settle_reply(reply: SmsReply, outcome: SmsReplyOutcome, request: ServiceRequest | None = None,
                 now: dt.datetime | None = None) -> None:
    """What the webhook made of the message. An answer recorded on its offer needs nobody;
    anything else waits for an operator to read it (handled_at empty)."""
    reply.outcome = outcome
    if request is not None:
        reply.request = request
    if outcome in ACTED_ON:
        reply.handled_at = now or utcnow()


def mark_read(session: Session, reply: SmsReply, user: User, now: dt.datetime | None = None) -> bool:
    """An operator has read the message and followed it up; False if someone already had
    (two clicks at once: one of them marks it)."""
    marked = session.execute(update(SmsReply).where(SmsReply.id == reply.id, SmsReply.handled_at.is_(None))
                             .values(handled_at=now or utcnow(), handled_by_id=user.id)
                             .execution_options(synchronize_session=False))
    return marked.rowcount == 1


def replies_waiting(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(SmsReply).where(SmsReply.handled_at.is_(None))) or 0
