"""Sending the outbox through Twilio's REST client, contained behind one small class.

Twilio's own HTTP client waits forever by default and raises its own exception types;
here every send has a timeout and every failure is one SmsSendError with a readable reason.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import SmsMessage, SmsStatus
from db.session import transaction
from db.sms import due_messages, mark_failed, mark_sent

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0


class SmsSendError(Exception):
    pass


class TwilioSms:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, http_client=None):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.from_number = from_number
        self._client = Client(account_sid, auth_token,
                              http_client=http_client or TwilioHttpClient(timeout=SEND_TIMEOUT))

    def send(self, to_number: str, body: str) -> str:
        """Send one message; returns Twilio's message SID."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self._client.messages.create(to=_e164(to_number), from_=self.from_number, body=body)
        except TwilioRestException as exc:
            raise SmsSendError(f"rejected ({exc.status}, code {exc.code}): {exc.msg}") from exc
        except (TwilioException, OSError, ValueError) as exc:
            raise SmsSendError(f"could not reach the SMS gateway: {exc}") from exc
        except Exception as exc:  # the transport's own errors (requests) are not Twilio's
            raise SmsSendError(f"SMS gateway error: {type(exc).__name__}: {exc}") from exc
        if not message.sid:
            raise SmsSendError("the gateway accepted the message but returned no SID")
        return message.sid


def _e164(number: str) -> str:
    # Stored numbers are national (13800138000, 07623661234); the gateway wants +86.
    return "+86" + (number[1:] if number.startswith("0") else number)


def gateway_from_settings(settings) -> TwilioSms | None:
    """None when no credentials are configured: messages then wait in the outbox."""
    sms = settings.sms
    if not (sms.account_sid and sms.auth_token and sms.from_number):
        return None
    return TwilioSms(sms.account_sid, sms.auth_token, sms.from_number)


def send_due(sessions: sessionmaker[Session], gateway, settings, now: dt.datetime | None = None) -> tuple[int, int]:
    """Send what is due, one transaction per message so a crash loses nothing sent."""
    now = now or utcnow()
    sent = failed = 0
    with transaction(sessions) as session:
        due_ids = [m.id for m in due_messages(session, now)]
    for message_id in due_ids:
        with transaction(sessions) as session:
            message = session.get(SmsMessage, message_id, with_for_update=True)
            if message is None or message.status != SmsStatus.QUEUED:
                continue
            try:
                sid = gateway.send(message.to_number, message.body)
            except SmsSendError as exc:
                mark_failed(message, str(exc), now, settings.sms.max_attempts, settings.sms.retry_seconds)
                log.warning("SMS %s to %s failed: %s", message.id, message.to_number, exc)
                failed += 1
            else:
                mark_sent(message, sid, now)
                sent += 1
    return sent, failed


class SmsSender:
    """A background thread that drains the outbox every few seconds."""

    def __init__(self, sessions, gateway, settings, interval: float = 5.0, clock: Callable[[], dt.datetime] = utcnow):
        self._sessions, self._gateway, self._settings = sessions, gateway, settings
        self._interval, self._clock = interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-sender", daemon=True)

    def start(self) -> "SmsSender":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=SEND_TIMEOUT + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                send_due(self._sessions, self._gateway, self._settings, self._clock())
            except Exception:  # a database hiccup must not end sending for good
                log.exception("SMS sender pass failed; trying again")
            self._stop.wait(self._interval)


class InboundSignature:
    """Checks Twilio's X-Twilio-Signature on forwarded SMS.

    Twilio signs the exact address it called. Behind a proxy, Flask sees http:// and an
    inner host, and twilio's RequestValidator then refuses every genuine message (it is
    scheme-sensitive): so the address is rebuilt from the configured public URL.
    """

    def __init__(self, auth_token: str, public_url: str):
        from twilio.request_validator import RequestValidator

        self._validator = RequestValidator(auth_token)
        self.public_url = public_url.rstrip("/")

    def valid(self, full_path: str, params: dict[str, str], signature: str) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(self.public_url + full_path, params, signature))


def inbound_signature(settings) -> InboundSignature | None:
    """None (replies turned off) without an auth token and a public URL."""
    if not (settings.sms.auth_token and settings.console.public_url):
        return None
    return InboundSignature(settings.sms.auth_token, settings.console.public_url)
