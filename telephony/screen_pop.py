"""Screen pops: when the queue offers a call to an operator's phone, tell their console.

AgentCalled carries the caller's channel variables (manager.conf channelvars): the IVR's
language, category and priority. The pop is published after the call tracker has
written the call, so the console finds the call's row when it looks.
"""
from __future__ import annotations

import logging

from db.languages import split_queue
from dialplans import contract
from telephony.ami import AmiEvent
from telephony.call_events import extension_of, number_or_none

log = logging.getLogger(__name__)


class ScreenPopPublisher:
    EVENTS = ("AgentCalled",)  # what it acts on (tests/test_asterisk_config.py)

    def __init__(self, bus, queue_prefix: str = "hotline-"):
        self.bus = bus
        self.queue_prefix = queue_prefix
        self._pending: list[tuple[str, dict]] = []

    def on_event(self, event: AmiEvent) -> None:
        if event.name not in self.EVENTS:
            return
        extension = extension_of(event.get("Interface") or event.get("DestChannel"))
        uniqueid = event.get("Linkedid") or event.get("Uniqueid")
        if not extension or not uniqueid:
            log.warning("AgentCalled without an operator or a call: %s", event.headers)
            return
        variables = event.variables
        self._pending.append((extension, {
            "uniqueid": variables.get(contract.CALL_ID) or uniqueid,
            "caller": number_or_none(event.get("CallerIDNum")),
            "language": variables.get(contract.LANG) or None,
            "category": variables.get(contract.CATEGORY) or None,
            "priority": variables.get(contract.PRIORITY) or None,
            "queue": split_queue(event.get("Queue"), self.queue_prefix)[0] or None,
        }))

    def after_flush(self) -> None:
        pending, self._pending = self._pending, []
        for extension, pop in pending:
            self.bus.publish(extension, pop)
