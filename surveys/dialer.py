"""`hotline dialer`: places the satisfaction-survey calls.

Every sweep_seconds: settle claims of dialers that vanished, queue surveys for newly
completed requests, cancel those of callers who opted out. Every pass: claim due
surveys and call them.
Per call the attempt is committed before Originate (`Async: true`) is sent, under the
same ActionID; the OriginateResponse settles it (busy, no answer, failed → retried by
the policy; answered → the survey IVR takes over). Several dialers may run at once.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.session import transaction
from dialplans import contract
from telephony.ami import AmiError, AmiLink
from surveys.policy import (
    Claimed, SurveyPolicy, cancel_opted_out, claim, recover_stale, schedule_completed, settle_originate, start_attempt,
)

log = logging.getLogger(__name__)


class SurveyDialer:
    def __init__(self, sessions: sessionmaker[Session], link: AmiLink, policy: SurveyPolicy, *,
                 name: str | None = None, trunk: str = contract.TRUNK_CONTEXT, caller_id: str = "", ring_seconds: int = 40,
                 pass_seconds: float = 1.0, sweep_seconds: float = 10.0, clock: Callable = utcnow):
        self.sessions, self.link, self.policy = sessions, link, policy
        self.name = name or f"dialer-{uuid.uuid4().hex[:8]}"
        self.trunk, self.caller_id, self.ring_seconds = trunk, caller_id, ring_seconds
        self.pass_seconds = pass_seconds
        # Queueing new surveys and settling stale claims scan tables: not on every pass. But
        # twice in a claim timeout at least: a dead dialer's surveys wait for the next sweep
        # after their claims went stale, up to half the timeout more (not a whole one).
        self.sweep_seconds = min(sweep_seconds, policy.claim_timeout.total_seconds() / 2)
        self._next_sweep = 0.0
        self.clock = clock
        self._stop = threading.Event()
        self._last_dial = 0.0
        self.dialled = 0

    def run(self) -> None:
        self.link.start()
        try:
            while not self._stop.is_set():
                try:
                    self.one_pass()
                except Exception:  # a database or AMI hiccup: the next pass tries again
                    log.exception("survey dialer pass failed")
                self._drain_events(self.pass_seconds)
            self._drain_events(0.5)
        finally:
            self.link.stop()

    def stop(self) -> None:
        self._stop.set()

    def one_pass(self) -> int:
        now = self.clock()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.sweep_seconds
            with transaction(self.sessions) as session:
                recover_stale(session, self.policy, now)
                schedule_completed(session, self.policy, now)
                cancel_opted_out(session)
        if not self.link.connected.is_set():
            return 0  # claim nothing we cannot call
        with transaction(self.sessions) as session:
            claimed = claim(session, self.policy, self.name, self.policy.max_channels, now)
        for survey in claimed:
            if self._stop.is_set():
                break  # the claims left are taken back after the claim timeout
            self._dial(survey)
        return len(claimed)

    def _pace(self) -> None:
        gap = 1.0 / self.policy.calls_per_second
        wait = self._last_dial + gap - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        self._last_dial = time.monotonic()

    def _dial(self, survey: Claimed) -> None:
        self._pace()
        action_id = f"{self.name}-s{survey.survey_id}-{uuid.uuid4().hex[:8]}"
        with transaction(self.sessions) as session:
            start_attempt(session, survey.survey_id, action_id, self.clock())
        try:
            self.link.originate(f"PJSIP/{survey.phone}@{self.trunk}", contract.SURVEY_CONTEXT, "s", action_id=action_id,
                                variables={contract.SURVEY_ID: str(survey.survey_id), contract.LANG: survey.language},
                                Timeout=str(self.ring_seconds * 1000), CallerID=self.caller_id)
            self.dialled += 1
        except AmiError as exc:
            log.warning("survey %s not dialled: %s", survey.survey_id, exc)
            with transaction(self.sessions) as session:
                settle_originate(session, action_id, "0", self.policy, self.clock())

    def _drain_events(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.link.events.get(timeout=max(0.0, remaining)) if remaining > 0 else self.link.events.get_nowait()
            except queue.Empty:
                return
            if event.name == "OriginateResponse" and event.get("ActionID").startswith(self.name + "-"):
                with transaction(self.sessions) as session:
                    settle_originate(session, event.get("ActionID"), event.get("Reason"), self.policy, self.clock())
