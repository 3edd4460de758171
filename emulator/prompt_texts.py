"""What a caller hears in each prompt file, so an emulated call's transcript shows words.

The IVR plays files (…/zh_yue/status_provider, …/zh_yue/names/provider_5); a person
hears what `hotline prompts build` spoke into them: the manifest's texts
(config/prompts.toml) and the providers' names (from the database), under the same
prompt keys the build uses.
"""
from __future__ import annotations

from typing import Mapping

from ivr.prompts import LANGUAGES, PromptManifest


class PromptTexts:
    def __init__(self, manifest: PromptManifest, names: Mapping[str, str] | None = None):
        self.manifest = manifest
        self.names = dict(names or {})  # prompt key (names/provider_5) -> the name spoken

    def heard(self, path: str) -> tuple[str, str]:
        """(language, text) of a played file; an unknown file is shown by its key."""
        language, key = prompt_of(path)
        if language not in LANGUAGES:
            return language, key
        if key in self.manifest.prompts:  # a tone (the beep) has no words: shown by its key
            return language, self.manifest.text(key, language)
        return language, self.names.get(key, key)


def prompt_of(path: str) -> tuple[str, str]:
    """("yue", "names/provider_5") from .../zh_yue/names/provider_5."""
    parts = path.split("/")
    folders = [i for i, part in enumerate(parts) if part.startswith("zh_")]
    if not folders:
        return "?", path
    return parts[folders[-1]].removeprefix("zh_"), "/".join(parts[folders[-1] + 1:])
