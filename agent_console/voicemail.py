"""Voicemail left in the IVR, heard from its request (and its call's page), and a survey's
spoken comment, heard from the survey's page.

The file is found from the stored row only, never from the URL, and only inside
ivr.voicemail_dir, where the IVR has Asterisk record both: a stored path that leads
anywhere else (a link, '..', another kind of file) is treated as no file at all.
"""
from __future__ import annotations

import logging
from pathlib import Path

from agent_console.database import services
from db.models import ServiceRequest, Survey

log = logging.getLogger(__name__)
SUFFIX = ".wav"  # Record() in the IVR writes WAV (ivr/agi_renderer.py)


def voicemail_file(request: ServiceRequest) -> Path | None:
    """The request's recording, if it is a readable WAV inside the voicemail folder."""
    return _recording(request.voicemail_file, f"request {request.number}")


def comment_file(survey: Survey) -> Path | None:
    """The comment a caller recorded in a survey call (ivr/handlers/survey.py), if still there."""
    return _recording(survey.comment_recording, f"survey {survey.id}")


def _recording(stored: str | None, owner: str) -> Path | None:
    if not stored:
        return None
    root = Path(services().settings.ivr.voicemail_dir).resolve()
    try:
        path = (root / stored).resolve()  # an absolute stored path replaces root
    except (OSError, RuntimeError, ValueError):
        return None
    if root not in path.parents or path.suffix != SUFFIX:
        log.warning("%s: recording outside %s refused", owner, root)
        return None
    return path if path.is_file() else None
