"""Turns the engine's actions into AGI commands, and what Asterisk answers into events."""
from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath

from ivr.agi import HotlineAGI
from ivr.engine import (
    Action,
    CollectDigits,
    Digits,
    Event,
    Finish,
    Key,
    Listen,
    Play,
    Played,
    PromptRef,
    Recorded,
    RecordMessage,
    Timeout,
)
from ivr.menu import BACK_KEY
from ivr.prompts import language_folder

ANY_KEY = "0123456789*#"
BEEP = "beep"  # config/prompts.toml [tones.beep]
# How long to wait for the '#' that ends a full-length entry.
TERMINATOR_WAIT_MS = 2000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@functools.lru_cache(maxsize=64)
def _posix_dir(path: str) -> str:
    # A renderer is made for every call; the configured folders are the same few.
    return str(PurePosixPath(path))


@functools.lru_cache(maxsize=4096)
def _prompt_file(sounds_dir: str, prompt: PromptRef) -> str:
    # Absolute paths: a language menu plays each option in a different language.
    return f"{sounds_dir}/{language_folder(prompt.language)}/{prompt.key}"


class AgiRenderer:
    def __init__(self, agi: HotlineAGI, sounds_dir: str, voicemail_dir: str):
        self.agi = agi
        self.sounds_dir = _posix_dir(sounds_dir)
        self.voicemail_dir = _posix_dir(voicemail_dir)

    def prompt_path(self, prompt: PromptRef) -> str:
        return _prompt_file(self.sounds_dir, prompt)

    def perform(self, action: Action) -> Event:
        if isinstance(action, Listen):
            key = self._play(action.prompts, ANY_KEY) or self.agi.wait_for_digit(action.timeout_ms)
            return Key(key) if key else Timeout()
        if isinstance(action, Play):
            self._play(action.prompts, "")
            return Played()
        if isinstance(action, CollectDigits):
            return self._collect(action)
        if isinstance(action, RecordMessage):
            return self._record(action)
        raise TypeError(f"the AGI renderer cannot perform {type(action).__name__}")

    def finish(self, action: Finish, variables: dict[str, str]) -> None:
        # Variables first: if the caller hangs up during the last prompt, the dialplan
        # (and the console's screen pop) still has them.
        for name, value in variables.items():
            self.agi.set_variable(name, value)
        self._play(action.prompts, "")

    def perform_play(self, prompts) -> None:
        """Play prompts to the end (for scripts that are not menu walks)."""
        self._play(prompts, "")

    def ask(self, prompts, timeout_ms: int) -> str:
        """Play prompts (a key interrupts them), then wait for one key; "" if none."""
        return self._play(prompts, ANY_KEY) or self.agi.wait_for_digit(timeout_ms)

    def record(self, prompts, name: str, max_seconds: int) -> str | None:
        """Play prompts, then record until '#', silence or max_seconds; the file, or None."""
        self._play(prompts, "")
        if prompts:
            # Our own beep (config/prompts.toml [tones]): Asterisk's needs its core sounds.
            self._play((PromptRef(BEEP, prompts[-1].language),), "")
        base = f"{self.voicemail_dir}/{_UNSAFE.sub('_', name)}"
        samples = self.agi.record_file(base, "wav", "#", max_seconds * 1000, 0, beep="", silence=5)
        return base + ".wav" if samples > 0 else None

    def _play(self, prompts, escape: str) -> str:
        for prompt in prompts:
            key = self.agi.stream_file(self.prompt_path(prompt), escape)
            if key:
                return key
        return ""

    def _collect(self, action: CollectDigits) -> Event:
        digits = self._play(action.prompts, ANY_KEY)
        while digits[-1:] != BACK_KEY and len(digits) < action.max_digits:
            key = self.agi.wait_for_digit(action.timeout_ms)
            if not key:
                break
            digits += key
        if len(digits) >= action.max_digits and not digits.endswith(BACK_KEY):
            # The prompt asks callers to end with '#': take it here, or it would land on
            # the next menu as "go back". Another digit makes the entry too long.
            extra = self.agi.wait_for_digit(min(action.timeout_ms, TERMINATOR_WAIT_MS))
            if extra and extra != BACK_KEY:
                digits += extra
        if digits.endswith(BACK_KEY) and len(digits) > 1:
            digits = digits[:-1]  # '#' ends the entry; a lone '#' means "back"
        return Digits(digits) if digits else Timeout()

    def _record(self, action: RecordMessage) -> Event:
        # Cut as the call row's uniqueid is: the header's value may be kilobytes long.
        name = "voicemail-" + self.agi.env.get("agi_uniqueid", "unknown")[:64]
        return Recorded(self.record(action.prompts, name, action.max_seconds))
