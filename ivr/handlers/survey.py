"""The `survey` script: the satisfaction survey call the dialer placed.

Greets in the caller's language with the request number and the provider's name, asks
for a rating 1–5 (invalid keys and silence are asked again, three times in all), offers
to record a comment of up to a minute, thanks and ends. The result is written in one
transaction at the end, also when the caller hangs up midway: a rating given stands;
no key at all counts as no answer and the survey is tried again later.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from db.models import Survey, SurveyStatus
from db.session import transaction
from dialplans import contract
from ivr.agi import CallerGone, HotlineAGI
from ivr.agi_renderer import AgiRenderer
from ivr.engine import PromptRef, provider_prompt
from ivr.hub import blocking
from ivr.prompts import LANGUAGES
from ivr.server import AgiRequest
from ivr.services import IvrServices
from surveys.policy import record_no_input, record_rating

log = logging.getLogger(__name__)
RATING_TRIES = 3
KEY_TIMEOUT_MS = 6000
COMMENT_SECONDS = 60


def handle(agi: HotlineAGI, request: AgiRequest, services: IvrServices) -> None:
    survey_id = agi.get_variable(contract.SURVEY_ID)
    found = blocking(_load, services, survey_id)
    if found is None:
        log.warning("survey call for unknown or settled survey %r", survey_id)
        return
    number, provider_id, language = found
    language = language if language in LANGUAGES else services.menu.default_language
    renderer = AgiRenderer(agi, services.sounds_dir, services.voicemail_dir)
    rating, comment = None, None
    try:
        rating = _ask_rating(renderer, number, provider_id, language)
        if rating is not None:
            if renderer.ask([PromptRef("survey_comment_offer", language)], KEY_TIMEOUT_MS) == "1":
                comment = renderer.record([PromptRef("survey_comment_record", language)],
                                          f"survey-{survey_id}-{request.env.get('agi_uniqueid', '')}", COMMENT_SECONDS)
            renderer.perform_play([PromptRef("survey_thanks", language)])
    except CallerGone:
        pass  # what was said before the hang-up stands
    finally:
        blocking(_save, services, int(survey_id), rating, comment)


def _load(services: IvrServices, survey_id: str) -> tuple[str, int | None, str] | None:
    """The request number, provider and language of a survey being dialled."""
    if not survey_id.isdigit():
        return None
    with services.sessions() as session:
        survey = session.scalar(select(Survey).options(selectinload(Survey.request)).where(Survey.id == int(survey_id)))
        if survey is None or survey.status != SurveyStatus.DIALLING:
            return None
        return survey.request.number, survey.provider_id, survey.language.value


def _ask_rating(renderer: AgiRenderer, number: str, provider_id: int | None, language: str) -> int | None:
    prompts = [PromptRef("survey_greeting", language)]
    prompts += [PromptRef(f"digits/{d}", language) for d in number if d.isdigit()]
    if provider_id is not None:
        prompts += [PromptRef("status_provider", language), PromptRef(provider_prompt(provider_id), language)]
    prompts.append(PromptRef("survey_ask_rating", language))
    for _ in range(RATING_TRIES):
        key = renderer.ask(prompts, KEY_TIMEOUT_MS)
        if key in ("1", "2", "3", "4", "5"):
            return int(key)
        prompts = [PromptRef("invalid" if key else "no_input", language), PromptRef("survey_ask_rating", language)]
    return None


def _save(services: IvrServices, survey_id: int, rating: int | None, comment: str | None) -> None:
    now = services.clock()
    with transaction(services.sessions) as session:
        survey = session.get(Survey, survey_id)
        if survey is None or survey.status != SurveyStatus.DIALLING:
            return
        if rating is not None:
            record_rating(session, survey, rating, comment, now)
        else:
            record_no_input(session, survey, services.survey_policy, now)
