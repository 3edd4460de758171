"""`hotline ami`: the AMI link and the call tracker, as one process.

The reader thread only queues events; this loop applies them in batches and writes the
calls. After every login it asks Asterisk for the live channels, so calls that ended or
began while the link was down are settled. With no calls it sleeps on the event queue
until an event, a login, stop() or the next look for callbacks to place: an idle
hotline costs next to nothing.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from telephony.ami import AmiError, AmiEvent, AmiLink
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer
from telephony.screen_pop import ScreenPopPublisher
from telephony.wallboard import WallboardNotifier

log = logging.getLogger(__name__)


# The event classes the link asks for at login: channels' (call: Newchannel, NewCallerid,
# Hangup, OriginateResponse) and queues' (agent: QueueCallerJoin, AgentConnect...).
# Asterisk sends only those also in the account's read classes (manager.conf).
EVENT_CLASSES = ("call", "agent")
# Put on the event queue to wake the loop (a login to resync after, stop()); no one
# acts on an event of this name.
_WAKE = AmiEvent("HotlineWake", {})


class AmiService:
    # Seconds between looks for callbacks to place (they are also placed after a login).
    PLACE_INTERVAL = 2.0
    # Longest sleep on the event queue without a placer (stop() and logins wake it anyway).
    IDLE_WAIT = 5.0

    def __init__(self, link: AmiLink, tracker: CallTracker, placer: CallbackPlacer | None = None, pop_bus=None):
        self.link = link
        self.tracker = tracker
        self.placer = placer
        if placer is not None:
            tracker.listeners.append(placer)
        if pop_bus is not None:
            tracker.listeners.append(ScreenPopPublisher(pop_bus, tracker.queue_prefix))
            tracker.listeners.append(WallboardNotifier(pop_bus))
        self._next_placing = 0.0
        self._stop = threading.Event()
        self._resync_wanted = threading.Event()
        link.on_connected.append(lambda _link: self._want_resync())

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session], host: str, port: int,
                      pop_bus=None, default_language: str = "cmn") -> "AmiService":
        link = AmiLink(host, port, settings.asterisk.ami_username, settings.asterisk.ami_secret,
                       event_mask=",".join(EVENT_CLASSES))
        tracker = CallTracker(sessions, settings.asterisk.queue_prefix, settings.asterisk.wrapup_seconds)
        return cls(link, tracker, CallbackPlacer(link, sessions, default_language), pop_bus)

    def run(self) -> None:
        self.link.start()
        try:
            while not self._stop.is_set():
                try:
                    if self._resync_wanted.is_set() and self.link.connected.is_set():
                        self._resync_wanted.clear()
                        self._resync()
                    self.tracker.drain(self.link.events, wait=self._idle_wait())
                    self._place_callbacks()
                except Exception:
                    # Applied events stay in memory and are written with the next batch.
                    log.exception("writing call state failed; retrying with the next batch")
                    self._stop.wait(1.0)
            self.tracker.drain(self.link.events, wait=0)
        finally:
            self.link.stop()

    def stop(self) -> None:
        self._stop.set()
        self._wake()

    def _want_resync(self) -> None:
        self._resync_wanted.set()
        self._wake()

    def _wake(self) -> None:
        try:
            self.link.events.put_nowait(_WAKE)
        except queue.Full:
            pass  # a full queue wakes the loop by itself

    def _idle_wait(self) -> float:
        """How long the loop may sleep on the event queue: until the next look for callbacks."""
        if self.placer is None:
            return self.IDLE_WAIT
        return min(self.IDLE_WAIT, max(0.0, self._next_placing - time.monotonic()))

    def _place_callbacks(self) -> None:
        if self.placer is None or not self.link.connected.is_set() or time.monotonic() < self._next_placing:
            return
        self._next_placing = time.monotonic() + self.PLACE_INTERVAL
        self.placer.place_due()

    def _resync(self) -> None:
        # Events already queued belong to before the listing: apply them first.
        while self.tracker.drain(self.link.events, wait=0):
            pass
        self.tracker.begin_resync()
        try:
            self.link.action("CoreShowChannels")
            self.tracker.begin_queue_resync()
            self.link.action("QueueStatus")
        except AmiError as exc:
            log.warning("resync after reconnect failed: %s", exc)
            self._resync_wanted.set()
