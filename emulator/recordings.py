"""What the emulated Asterisk leaves on disk where the real one records: a message taken
by RECORD FILE (a voicemail, a survey comment) and a call's MixMonitor file.

A short tone, 8 kHz mono 16-bit WAV as Asterisk writes them, so that the console's
players have something to play in the demo. The channel (agi_channel.py) only lists what
was recorded (Transcript.recorded); whoever placed the call writes the files.
"""
from __future__ import annotations

import logging
import math
import struct
import wave
from pathlib import Path

from emulator.agi_channel import Transcript

log = logging.getLogger(__name__)
RATE = 8000  # Hz: Asterisk's slin, as `wav` stores it
LONGEST = 2.0  # seconds: a demo recording need not be as long as the emulated message
TONE_HZ = 440.0


def write_tone(path: str | Path, seconds: float = 1.5, hz: float = TONE_HZ) -> Path | None:
    """A tone of `seconds` (at most LONGEST) at `path`; None, and a warning, if it cannot be written."""
    path = Path(path)
    count = int(RATE * max(0.2, min(seconds, LONGEST)))
    samples = struct.pack(f"<{count}h", *(int(6000 * math.sin(2 * math.pi * hz * n / RATE)) for n in range(count)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(samples)
    except OSError as exc:
        log.warning("emulated recording %s not written: %s", path, exc)
        return None
    return path


def write_recorded(transcript: Transcript) -> list[Path]:
    """The files the call's RECORD FILE commands made, where they said."""
    written = (write_tone(file, ms / 1000) for file, ms in transcript.recorded)
    return [path for path in written if path is not None]
