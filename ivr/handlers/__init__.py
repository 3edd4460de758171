"""AGI scripts, by the name Asterisk asks for: AGI(agi://host:port/<name>)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from dialplans import contract
from ivr.handlers import menu_call, queue_callback, survey

if TYPE_CHECKING:
    from ivr.services import IvrServices
    from ivr.server import Handler


def handler_table(services: "IvrServices") -> dict[str, "Handler"]:
    return {
        contract.IVR_SCRIPT: lambda agi, request: menu_call.handle(agi, request, services),
        contract.QUEUE_CALLBACK_SCRIPT: lambda agi, request: queue_callback.handle(agi, request, services),
        contract.SURVEY_SCRIPT: lambda agi, request: survey.handle(agi, request, services),
    }
