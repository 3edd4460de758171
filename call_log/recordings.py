"""A call's recording on disk, found from its stored row only, inside the recordings folder.

MixMonitor writes <asterisk.recordings_dir>/<day>/<uniqueid>.wav; a stored path that
leads anywhere else (a link out, '..', another kind of file) is treated as no file at all.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
SUFFIXES = {".wav": "audio/wav"}


def recording_path(stored: str | None, recordings_dir: str) -> Path | None:
    """The readable recording the row names, or None (no recording, missing, or outside the folder)."""
    if not stored:
        return None
    root = Path(recordings_dir).resolve()
    try:
        path = (root / stored).resolve()  # an absolute stored path replaces root
    except (OSError, RuntimeError, ValueError):
        return None
    if root not in path.parents or path.suffix not in SUFFIXES:
        log.warning("recording %r is outside %s or not a recording: refused", stored, root)
        return None
    return path if path.is_file() else None


def mimetype(path: Path) -> str:
    return SUFFIXES[path.suffix]
