"""The `ivr` script: a caller's walk through the menu, from greeting to queue."""
from __future__ import annotations

import logging

from db.models import IvrOutcome, IvrStep
from db.phones import try_normalise
from dialplans import contract
from ivr import call_log
from ivr.agi import CallerGone, HotlineAGI
from ivr.agi_renderer import AgiRenderer
from ivr.call_log import IvrCallRecord
from ivr.engine import CallStart, Finish, LookupStatus, StatusResult, describe
from ivr.hub import blocking
from ivr.prompts import LANGUAGES
from ivr.server import AgiRequest
from ivr.services import IvrServices

log = logging.getLogger(__name__)


def handle(agi: HotlineAGI, request: AgiRequest, services: IvrServices) -> None:
    env = request.env
    now = services.clock()
    phone = try_normalise(env.get("agi_callerid"), services.area_code)
    known = services.caller_languages.of(phone)
    hours_at, demo_clock = services.hours_clock(_arg(request, contract.AT_ARG), now)
    business_open = services.menu.hours.is_open(hours_at.astimezone(services.tz))
    start = CallStart(known, business_open, phone is not None,
                      start_node=_known(_arg(request, contract.START_ARG), services.menu.nodes),
                      language=_known(_arg(request, contract.LANG_ARG), LANGUAGES))
    state, action = services.engine.start(start)
    fields = call_log.header_fields(env)
    fields["uniqueid"] = fields["uniqueid"] or f"nouid-{id(agi)}"
    record = IvrCallRecord(
        **fields,
        phone=phone,
        script=request.script,
        started_at=now,
        language=state.language,
        business_open=business_open,
    )
    renderer = AgiRenderer(agi, services.sounds_dir, services.voicemail_dir)
    try:
        while not isinstance(action, Finish):
            if isinstance(action, LookupStatus):
                found = blocking(call_log.request_status, services.sessions, phone, action.number, action.max_results)
                event = StatusResult(found)
            else:
                event = renderer.perform(action)
            record.steps.append(IvrStep(action.node, _first_prompt(action), describe(event), services.clock()))
            state, action = services.engine.step(state, event)
        _finish(renderer, action, state, record, services, hours_at if demo_clock else None)
    except CallerGone:
        record.outcome = IvrOutcome.ABANDONED
        record.steps.append(IvrStep(state.node, None, "hangup", services.clock()))
    except Exception:
        record.outcome = IvrOutcome.ERROR
        raise
    finally:
        record.end_node = state.node
        record.language, record.language_chosen, record.path = state.language, state.language_chosen, list(state.path)
        record.ended_at = services.clock()
        services.call_log.submit(record)


def _finish(renderer: AgiRenderer, action: Finish, state, record: IvrCallRecord, services: IvrServices,
            demo_at=None) -> None:
    record.outcome = action.outcome
    record.voicemail = action.voicemail
    if action.callback:
        local = (demo_at or services.clock()).astimezone(services.tz)
        record.callback_due = services.menu.hours.next_opening(local)
    variables = {contract.CALL_ID: record.uniqueid, contract.LANG: state.language,
                 "CHANNEL(language)": f"zh_{state.language}"}
    if demo_at is not None:
        # Says the demo's clock was honoured (`hotline call --at` reports it otherwise).
        variables[contract.DEMO_AT] = f"{demo_at.astimezone(services.tz):{contract.DEMO_CLOCK_FORMAT}}"
    if action.route is not None:
        record.queue = action.route.queue
        variables.update({contract.NEXT: contract.NEXT_QUEUE, contract.QUEUE: action.route.queue,
                          contract.CATEGORY: action.route.category or "", contract.PRIORITY: action.route.priority,
                          contract.INTENT: action.route.intent})
    else:
        variables[contract.NEXT] = contract.NEXT_HANGUP
    record.result = {k: v for k, v in variables.items() if k.startswith(contract.IVR_PREFIX)}
    try:
        renderer.finish(action, variables)
    except CallerGone:
        # Gone during the goodbye: what was booked (voicemail, callback, route) stands.
        record.steps.append(IvrStep(action.node, None, "hangup", services.clock()))


def _known(value: str | None, known) -> str | None:
    # The engine's decisions are cached by what a call starts with: an argument it would
    # ignore must not make an entry (a peer could fill the cache with long ones).
    return value if value in known else None


def _arg(request: AgiRequest, name: str) -> str | None:
    values = request.args.get(name)
    return values[0] if values else None


def _first_prompt(action) -> str | None:
    prompts = getattr(action, "prompts", ())
    return prompts[0].key if prompts else None
