"""`hotline ami`: the AMI link and the call tracker, as one process.

The reader thread only queues events; this loop applies them in batches and writes the
calls. After every login it asks Asterisk for the live channels, so calls that ended or
began while the link was down are settled.
"""
from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from ivr.ami import AmiError, AmiLink
from ivr.call_events import CallTracker

log = logging.getLogger(__name__)


class AmiService:
    def __init__(self, link: AmiLink, tracker: CallTracker):
        self.link = link
        self.tracker = tracker
        self._stop = threading.Event()
        self._resync_wanted = threading.Event()
        link.on_connected.append(lambda _link: self._resync_wanted.set())

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session], host: str, port: int) -> "AmiService":
        link = AmiLink(host, port, settings.asterisk.ami_username, settings.asterisk.ami_secret,
                       event_mask="call,agent,dialplan")
        return cls(link, CallTracker(sessions, settings.asterisk.queue_prefix, settings.asterisk.wrapup_seconds))

    def run(self) -> None:
        self.link.start()
        try:
            while not self._stop.is_set():
                try:
                    if self._resync_wanted.is_set() and self.link.connected.is_set():
                        self._resync_wanted.clear()
                        self._resync()
                    self.tracker.drain(self.link.events)
                except Exception:
                    # Applied events stay in memory and are written with the next batch.
                    log.exception("writing call state failed; retrying with the next batch")
                    self._stop.wait(1.0)
            self.tracker.drain(self.link.events, wait=0)
        finally:
            self.link.stop()

    def stop(self) -> None:
        self._stop.set()

    def _resync(self) -> None:
        # Events already queued belong to before the listing: apply them first.
        while self.tracker.drain(self.link.events, wait=0):
            pass
        self.tracker.begin_resync()
        try:
            self.link.action("CoreShowChannels")
        except AmiError as exc:
            log.warning("resync after reconnect failed: %s", exc)
            self._resync_wanted.set()
