"""What the console's views share: settings, the database, the screen-pop bus, the AMI link."""
from __future__ import annotations

import threading
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from config import load_settings
from db.models import Language
from db.session import make_engine, make_session_factory
from telephony.pop_bus import PopBus, bus_from_settings
from telephony.ami import AmiLink


class ConsoleServices:
    def __init__(self, settings, sessions: sessionmaker[Session], pop_bus: PopBus, ami: AmiLink | None = None):
        self.settings = settings
        self.sessions = sessions
        self.pop_bus = pop_bus
        self._ami = ami
        self._ami_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings=None, pop_bus: PopBus | None = None) -> "ConsoleServices":
        settings = settings or load_settings()
        engine = make_engine(settings.database.url, echo=settings.database.echo)
        return cls(settings, make_session_factory(engine), pop_bus or bus_from_settings(settings))

    @property
    def ami(self) -> AmiLink:
        """The console's own AMI link, for originating callbacks; started on first use."""
        with self._ami_lock:
            if self._ami is None:
                asterisk = self.settings.asterisk
                self._ami = AmiLink(asterisk.ami_host, asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret,
                                    event_mask="off").start()
                self._ami.wait_connected(2.0)
            return self._ami

    @cached_property
    def menu(self):
        """The IVR menu (read once): its queues, and the titles the console shows for its nodes."""
        from ivr.menu import configured_menu

        return configured_menu(self.settings.ivr.menu_file)

    @cached_property
    def prompts(self):
        """The prompt manifest (read once): what each prompt a caller heard says."""
        from ivr.prompts import load_manifest

        return load_manifest()

    @cached_property
    def queues(self) -> list[tuple[str, Language | None]]:
        """The Asterisk queues operators sign in to, each with its callers' language if
        it has one (read once)."""
        from dialplans.render import asterisk_queues

        return [(q.asterisk_name, q.language) for q in asterisk_queues(self.menu, self.settings.asterisk)]

    @cached_property
    def tz(self):
        return self.settings.tz

    def close(self) -> None:
        if self._ami is not None:
            self._ami.stop()
