"""`hotline prompts build`: speak every prompt with espeak-ng and convert it for Asterisk.

Output: <sounds>/zh_<lang>/<prompt>.wav, 8 kHz mono 16-bit, one folder per language;
tones (the voicemail beep) are made by sox alone.
A recording at <override>/zh_<lang>/<prompt>.<wav|mp3|flac|ogg> wins over the synthesiser.
Files whose source has not changed are skipped (a fingerprint per file in .fingerprints.json).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ivr.prompts import LANGUAGES, PromptManifest, Tone, language_folder

FINGERPRINTS = ".fingerprints.json"
RECORDING_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")
ASTERISK_FORMAT = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
# espeak-ng marks a switch to English pronunciation like this: a text it cannot read.
ENGLISH_FALLBACK = "(en)"


class PromptBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class PromptTask:
    key: str
    language: str
    text: str
    voice: str
    check_reading: bool  # names may legitimately contain Latin letters
    tone: Tone | None = None  # a tone, not words: made by sox, not spoken

    @property
    def label(self) -> str:
        return f"{language_folder(self.language)}/{self.key}"


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.built) + len(self.overridden) + len(self.skipped)


def tasks_for(manifest: PromptManifest, names: dict[str, str] | None = None,
              languages: Iterable[str] = LANGUAGES) -> list[PromptTask]:
    """Every (prompt, language) to build, plus read-back names (key -> text)."""
    tasks = []
    for language in languages:
        for prompt in manifest.prompts.values():
            tasks.append(PromptTask(prompt.key, language, prompt.readings[language], manifest.voices[language], True))
        for key, text in (names or {}).items():
            tasks.append(PromptTask(key, language, text, manifest.name_voices[language], False))
        for tone in manifest.tones.values():
            tasks.append(PromptTask(tone.key, language, "", "", False, tone))
    return tasks


def check_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise PromptBuildError(f"{' and '.join(missing)} not found: install the Debian packages espeak-ng and sox (`make install` does)")


def build_prompts(
    tasks: list[PromptTask],
    out_dir: Path,
    override_dir: Path,
    *,
    force: bool = False,
    on_done: Callable[[PromptTask], None] | None = None,
    jobs: int | None = None,
) -> BuildReport:
    check_tools()
    report = BuildReport()
    fingerprints = _Fingerprints(out_dir)
    lock = threading.Lock()

    def run(task: PromptTask) -> None:
        target = out_dir / language_folder(task.language) / f"{task.key}.wav"
        recording = _recording(override_dir, task)
        fingerprint = _fingerprint(task, recording)
        if not force and target.exists() and fingerprints.get(task.label) == fingerprint:
            outcome = report.skipped
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if recording is not None:
                _convert(recording, target)
                outcome = report.overridden
            else:
                (_tone if task.tone else _synthesise)(task, target)
                outcome = report.built
            fingerprints.set(task.label, fingerprint)
        with lock:
            outcome.append(task.label)
        if on_done is not None:
            on_done(task)

    try:
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
            list(pool.map(run, tasks))
    finally:
        fingerprints.save()
    return report


def _recording(override_dir: Path, task: PromptTask) -> Path | None:
    for suffix in RECORDING_SUFFIXES:
        candidate = override_dir / language_folder(task.language) / f"{task.key}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _fingerprint(task: PromptTask, recording: Path | None) -> str:
    digest = hashlib.sha256()
    if recording is not None:
        digest.update(b"recording\0" + recording.read_bytes())
    elif task.tone is not None:
        digest.update(f"tone\0{task.tone.hz}\0{task.tone.seconds}".encode())
    else:
        digest.update(f"espeak-ng\0{task.voice}\0{task.text}\0{_espeak_version()}".encode())
    return digest.hexdigest()


def _tone(task: PromptTask, target: Path) -> None:
    partial = target.with_suffix(".partial.wav")
    made = subprocess.run(["sox", "-n", *ASTERISK_FORMAT, str(partial), "synth", str(task.tone.seconds), "sine",
                           str(task.tone.hz), "fade", "0.01", "0", "0.01", "vol", "0.5"], capture_output=True, text=True)
    if made.returncode != 0:
        partial.unlink(missing_ok=True)
        raise PromptBuildError(f"sox could not make {task.label}: {made.stderr.strip()}")
    partial.replace(target)


@functools.cache
def _espeak_version() -> str:
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()


def _synthesise(task: PromptTask, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hotline-prompt-") as scratch:
        raw = Path(scratch) / "espeak.wav"
        # -x prints the phonemes while -w writes the audio: one run gives both.
        spoken = subprocess.run(["espeak-ng", "-v", task.voice, "-x", "-w", str(raw), task.text],
                                capture_output=True, text=True)
        if spoken.returncode != 0 or not raw.exists():
            raise PromptBuildError(f"espeak-ng failed on {task.label}: {spoken.stderr.strip()}")
        if task.check_reading and ENGLISH_FALLBACK in spoken.stdout:
            raise PromptBuildError(
                f"espeak-ng voice {task.voice} reads part of {task.label} as English: {task.text!r} "
                f"(phonemes {spoken.stdout.strip()[:120]!r}); rewrite it in config/prompts.toml"
            )
        _convert(raw, target)


def _convert(source: Path, target: Path) -> None:
    partial = target.with_suffix(".partial.wav")
    converted = subprocess.run(["sox", str(source), *ASTERISK_FORMAT, str(partial)], capture_output=True, text=True)
    if converted.returncode != 0:
        partial.unlink(missing_ok=True)
        raise PromptBuildError(f"sox could not convert {source}: {converted.stderr.strip()}")
    partial.replace(target)  # atomic: Asterisk never plays half a file


class _Fingerprints:
    def __init__(self, out_dir: Path):
        self.path = out_dir / FINGERPRINTS
        self._lock = threading.Lock()
        try:
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._data = {}

    def get(self, label: str) -> str | None:
        with self._lock:
            return self._data.get(label)

    def set(self, label: str, fingerprint: str) -> None:
        with self._lock:
            self._data[label] = fingerprint

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            text = json.dumps(self._data, ensure_ascii=False, indent=1, sort_keys=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(self.path)
