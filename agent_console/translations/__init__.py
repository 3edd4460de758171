"""The console's English catalog: messages.po is the source, compiled at start-up when stale."""
# The console's own text is Simplified Chinese (the msgids); English is the translation.
from __future__ import annotations

import functools
import io
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
        modified = po.stat().st_mtime
        if mo.exists() and mo.stat().st_mtime >= modified:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        temporary = mo.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(_compiled(po, modified))
        temporary.replace(mo)  # several workers may compile at once
    return target.resolve()


@functools.lru_cache(maxsize=8)
def _compiled(po: Path, modified: float) -> bytes:
    """A catalog's .mo bytes, parsed once per process for each version of the .po: a
    process that builds apps on several data folders (the tests build hundreds) does
    not parse it again for each."""
    with po.open("rb") as source:
        catalog = read_po(source)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()
