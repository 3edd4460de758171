"""Operators' languages, and how they become Asterisk queue penalties.

Routing by language uses app_queue's own skills routing (README, "Routing by language"):
each normal menu queue is one Asterisk queue per caller language (hotline-general-hak),
every operator is a member of each with a penalty saying how well they speak that
language, and a caller may be offered only to members whose penalty is at most the
caller's QUEUE_MAX_PENALTY, which a queuerules.conf rule raises after the language's wait.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.audit import record
from db.models import Fluency, Language, OperatorLanguage, User

# Lower is offered first (app_queue prefers the lowest penalty among free members).
PENALTY = {Fluency.NATIVE: 0, Fluency.FLUENT: 1, Fluency.BASIC: 2}
# A member who does not speak the queue's language.
NO_SKILL_PENALTY = 3
# A caller's QUEUE_MAX_PENALTY while waiting for a speaker of their language (native or
# fluent; natives first), and once the language's wait is over (anyone).
SPEAKERS = PENALTY[Fluency.FLUENT]
ANYONE = NO_SKILL_PENALTY
# An account with no languages recorded is taken to speak Mandarin (the hotline's
# working language) fluently, and nothing else.
UNRECORDED = {Language.MANDARIN: Fluency.FLUENT}


def skills(user: User) -> dict[Language, Fluency]:
    return {row.language: row.fluency for row in user.languages} or dict(UNRECORDED)


def penalty(user: User, language: Language | None) -> int:
    """The member penalty of `user` in a queue for callers of `language` (None: a queue
    that is not split by language, where everyone is equal)."""
    if language is None:
        return 0
    fluency = skills(user).get(language)
    return NO_SKILL_PENALTY if fluency is None else PENALTY[fluency]


def speaks(user: User, language: Language) -> bool:
    """Whether `user` answers callers of `language` in it: natively or fluently."""
    return answers_in(skills(user), language)


def answers_in(known: dict[Language, Fluency], language: Language) -> bool:
    """Whether an operator with these skills answers callers of `language` in it."""
    return known.get(language) in (Fluency.NATIVE, Fluency.FLUENT)


def everyones_skills(session: Session) -> dict[int, dict[Language, Fluency]]:
    """Each account's recorded languages, by user id (accounts with none are absent: see
    UNRECORDED)."""
    found: dict[int, dict[Language, Fluency]] = {}
    for row in session.scalars(select(OperatorLanguage)):
        found.setdefault(row.user_id, {})[row.language] = row.fluency
    return found


def language_queue(queue: str, language: Language) -> str:
    """The Asterisk queue for callers of `language` in the menu queue `queue`."""
    return f"{queue}-{language.value}"


def split_queue(asterisk_queue: str, prefix: str) -> tuple[str, Language | None]:
    """The menu queue and the caller language (if any) of an Asterisk queue name."""
    name = asterisk_queue.removeprefix(prefix)
    queue, _, suffix = name.rpartition("-")
    try:
        return (queue, Language(suffix)) if queue else (name, None)
    except ValueError:
        return name, None


def set_languages(session: Session, user: User, chosen: dict[Language, Fluency | None], by: User | None) -> bool:
    """Record the languages `user` speaks (None: does not speak it); audited. False if
    nothing changed."""
    before = _described(user.languages)
    kept = {language: fluency for language, fluency in chosen.items() if fluency is not None}
    user.languages = [row for row in user.languages if row.language in kept]
    for row in user.languages:
        row.fluency = kept.pop(row.language)
    user.languages.extend(OperatorLanguage(language=language, fluency=fluency) for language, fluency in kept.items())
    after = _described(user.languages)
    if before == after:
        return False
    record(session, by, "update", user, {"languages": [before, after]})
    return True


def _described(rows: Iterable[OperatorLanguage]) -> dict[str, str]:
    return {row.language.value: row.fluency.value for row in sorted(rows, key=lambda r: r.language.value)}
