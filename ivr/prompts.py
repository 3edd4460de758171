"""The prompt manifest (config/prompts.toml): texts in Mandarin, Cantonese and Hakka."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_FILE = Path(__file__).resolve().parents[1] / "config" / "prompts.toml"
LANGUAGES = ("cmn", "yue", "hak")
# The text espeak-ng reads, where it differs from what a person reads.
READING_FIELD = {"hak": "hak_reading"}


class ManifestError(ValueError):
    pass


def language_folder(language: str) -> str:
    """Asterisk's sounds/<language>/ folder name: zh_cmn, zh_yue, zh_hak."""
    return f"zh_{language}"


@dataclass(frozen=True)
class Prompt:
    key: str
    texts: dict[str, str]  # language -> text a person reads
    readings: dict[str, str]  # language -> text the synthesiser reads


@dataclass(frozen=True)
class Tone:
    """A sound with no words (the voicemail beep): a sine tone, the same in every language."""
    key: str
    hz: int
    seconds: float


@dataclass(frozen=True)
class PromptManifest:
    prompts: dict[str, Prompt]
    voices: dict[str, str]
    name_voices: dict[str, str]
    tones: dict[str, Tone] = field(default_factory=dict)

    def __contains__(self, key: str) -> bool:
        return key in self.prompts or key in self.tones

    def text(self, key: str, language: str) -> str:
        return self.prompts[key].texts[language]


def load_manifest(path: Path = MANIFEST_FILE) -> PromptManifest:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"cannot load prompt manifest {path}: {exc}") from exc
    voices = _per_language(document.get("voices"), "[voices]")
    name_voices = _per_language(document.get("name_voices"), "[name_voices]")
    prompts = {}
    for key, table in (document.get("prompts") or {}).items():
        if not isinstance(table, dict):
            raise ManifestError(f"prompt {key}: expected a table of texts")
        texts = {}
        for language in LANGUAGES:
            text = table.get(language)
            if not isinstance(text, str) or not text.strip():
                raise ManifestError(f"prompt {key}: no {language} text")
            texts[language] = text
        readings = {lang: table.get(READING_FIELD.get(lang, lang), "") for lang in LANGUAGES}
        missing = [lang for lang, reading in readings.items() if not isinstance(reading, str) or not reading.strip()]
        if missing:
            raise ManifestError(f"prompt {key}: no {READING_FIELD.get(missing[0], missing[0])} for the synthesiser")
        prompts[key] = Prompt(key, texts, readings)
    return PromptManifest(prompts, voices, name_voices, _tones(document.get("tones") or {}))


def _tones(tables) -> dict[str, Tone]:
    tones = {}
    for key, table in tables.items():
        hz, seconds = (table.get("hz"), table.get("seconds")) if isinstance(table, dict) else (None, None)
        if not (isinstance(hz, int) and 100 <= hz <= 3400 and isinstance(seconds, (int, float)) and 0 < seconds <= 5):
            raise ManifestError(f"tone {key}: needs hz (100-3400, what 8 kHz carries) and seconds (up to 5)")
        tones[key] = Tone(key, hz, float(seconds))
    return tones


def _per_language(table, name: str) -> dict[str, str]:
    if not isinstance(table, dict) or set(table) != set(LANGUAGES):
        raise ManifestError(f"{name} must name a voice for each of {', '.join(LANGUAGES)}")
    return dict(table)
