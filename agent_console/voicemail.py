"""Voicemail left in the IVR, heard from its request (and its call's page).

The file is found from the request's stored path only, never from the URL, and only
inside ivr.voicemail_dir, where the IVR has Asterisk record: a stored path that leads
anywhere else (a link, '..', another kind of file) is treated as no file at all.
"""
from __future__ import annotations

import logging
from pathlib import Path

from agent_console.database import services
from db.models import ServiceRequest

log = logging.getLogger(__name__)
SUFFIX = ".wav"  # Record() in the IVR writes WAV (ivr/agi_renderer.py)


def voicemail_file(request: ServiceRequest) -> Path | None:
    """The request's recording, if it is a readable WAV inside the voicemail folder."""
    if not request.voicemail_file:
        return None
    root = Path(services().settings.ivr.voicemail_dir).resolve()
    try:
        path = (root / request.voicemail_file).resolve()  # an absolute stored path replaces root
    except (OSError, RuntimeError, ValueError):
        return None
    if root not in path.parents or path.suffix != SUFFIX:
        log.warning("request %s: voicemail file outside %s refused", request.number, root)
        return None
    return path if path.is_file() else None
