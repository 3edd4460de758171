"""The `queue_callback` script: a caller waiting in a queue pressed 1 to be called back.

The booking is written before the caller is told it exists. The dialplan hangs up only
when HOTLINE_CALLBACK_BOOKED is 1; otherwise the caller goes back into the queue at the
position they left (QUEUEPOSITION), so a failure here never costs them their place.
"""
from __future__ import annotations

from sqlalchemy import select

from db.models import Call, CallbackReason, CallbackTask, Caller, Language
from db.phones import try_normalise
from db.session import transaction
from dialplans import contract
from ivr.agi import HotlineAGI
from ivr.agi_renderer import AgiRenderer
from ivr.engine import PromptRef
from ivr.hub import blocking
from ivr.prompts import LANGUAGES
from ivr.server import AgiRequest
from ivr.services import IvrServices


def handle(agi: HotlineAGI, request: AgiRequest, services: IvrServices) -> None:
    phone = try_normalise(request.env.get("agi_callerid"), services.area_code)
    language = agi.get_variable(contract.LANG)
    language = language if language in LANGUAGES else services.menu.default_language
    renderer = AgiRenderer(agi, services.sounds_dir, services.voicemail_dir)
    if phone is None:
        # A withheld number cannot be called back: say so, and keep the caller queued.
        renderer.perform_play([PromptRef("callback_no_number", language)])
        agi.set_variable(contract.CALLBACK_BOOKED, "0")
        return
    queue = agi.get_variable(contract.QUEUE) or None
    position = _int(agi.get_variable("QUEUEPOSITION"))
    call_ref = agi.get_variable(contract.CALL_ID) or request.env.get("agi_uniqueid")
    task_id = blocking(_book, services, phone, language, queue, position, call_ref)
    agi.set_variable(contract.CALLBACK_ID, str(task_id))
    agi.set_variable(contract.CALLBACK_BOOKED, "1")
    renderer.perform_play([PromptRef("queue_callback_booked", language)])


def _book(services: IvrServices, phone, language: str, queue: str | None, position: int | None,
          call_ref: str | None) -> int:
    with transaction(services.sessions) as session:
        task = CallbackTask(
            caller_id=session.scalar(select(Caller.id).where(Caller.phone == phone.number)),
            call_id=session.scalar(select(Call.id).where(Call.uniqueid == call_ref)) if call_ref else None,
            phone=phone.number, language=Language(language), reason=CallbackReason.QUEUE_CALLBACK,
            queue=queue, queue_position=position, due_at=services.clock(),
        )
        session.add(task)
        session.flush()
        return task.id


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None
