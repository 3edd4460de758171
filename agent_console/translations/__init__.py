"""The console's English catalog: messages.po is the source, compiled at start-up when stale."""
# The console's own text is Simplified Chinese (the msgids); English is the translation.
from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE = Path(__file__).parent
# The console's languages: its own text (zh), then each catalog here.
LOCALES = ("zh", "en")


def catalogs() -> list[Path]:
    return sorted(SOURCE.glob("*/LC_MESSAGES/messages.po"))


def compiled_dir(target: Path) -> Path:
    """Compile every .po newer than its .mo into target/<locale>/LC_MESSAGES/."""
    for po in catalogs():
        mo = target / po.relative_to(SOURCE).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source:
            catalog = read_po(source)
        temporary = mo.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as out:
            write_mo(out, catalog)
        temporary.replace(mo)  # several workers may compile at once
    return target.resolve()
