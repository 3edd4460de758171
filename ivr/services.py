"""What the IVR's handlers share: database, menu engine, clock, paths."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db.base import utcnow
from dialplans import contract
from ivr.call_log import CallerLanguages
from ivr.call_log_process import CallLogProcess
from ivr.engine import Engine
from ivr.menu import Menu, configured_menu
from surveys.policy import SurveyPolicy

log = logging.getLogger(__name__)


@dataclass
class IvrServices:
    sessions: sessionmaker[Session]
    menu: Menu
    tz: ZoneInfo
    area_code: str
    sounds_dir: str
    voicemail_dir: str
    spool: Path
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    survey_policy: SurveyPolicy | None = None
    # Seconds after which a call nothing followed after the IVR is ended (None: never).
    unfollowed_after: float | None = None
    # Honour a call's `at` (`hotline call --at`): the time its business-hours decision
    # uses. Demos only; production settings refuse it (ivr.demo_clock).
    demo_clock: bool = False

    def __post_init__(self):
        self.engine = Engine(self.menu)
        database = self.sessions.kw["bind"]  # the engine every session factory of ours is bound to
        url = database.url.render_as_string(hide_password=False)
        self.call_log = CallLogProcess(url, self.tz.key, self.spool, unfollowed_after=self.unfollowed_after,
                                       clock=self.clock).start()
        self.caller_languages = CallerLanguages(database)

    def closing(self) -> None:
        """Shutdown has begun: the writer process, if it dies now, is not replaced."""
        self.call_log.closing()

    def close(self) -> None:
        """Write what the call-log writer still holds; call after the server has stopped."""
        self.call_log.stop()

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session], **overrides) -> "IvrServices":
        menu = configured_menu(settings.ivr.menu_file)
        overrides.setdefault("survey_policy", SurveyPolicy.from_settings(settings, menu))
        overrides.setdefault("unfollowed_after", settings.ivr.unfollowed_after or None)
        overrides.setdefault("demo_clock", settings.ivr.demo_clock)
        return cls(
            sessions=sessions,
            menu=menu,
            tz=settings.tz,
            area_code=settings.phone.area_code,
            sounds_dir=str(Path(settings.ivr.sounds_dir).resolve()),
            voicemail_dir=str(Path(settings.ivr.voicemail_dir).resolve()),
            spool=settings.data_path("spool", "ivr-calls.jsonl"),
            **overrides,
        )

    def hours_clock(self, requested: str | None, now: dt.datetime) -> tuple[dt.datetime, bool]:
        """The time business hours are judged by, and whether it is a demo's `at`.

        `requested` is local time (YYYY-MM-DDTHH:MM) in the app's zone. Without
        demo_clock, or when it cannot be read, the real clock rules.
        """
        if not requested or not self.demo_clock:
            return now, False
        try:
            local = dt.datetime.fromisoformat(requested)
        except ValueError:
            log.warning("ignoring a demo clock that is not a local time YYYY-MM-DDTHH:MM: %r", requested[:40])
            return now, False
        return (local.replace(tzinfo=self.tz) if local.tzinfo is None else local), True

    def fallback_variables(self) -> dict[str, str]:
        """What a failed handler leaves for the dialplan: straight to the operator queue."""
        route = self.menu.node(self.menu.fallback)
        return {contract.NEXT: contract.NEXT_QUEUE, contract.QUEUE: route.queue, contract.INTENT: "operator",
                contract.PRIORITY: "normal", contract.FALLBACK: "1"}
