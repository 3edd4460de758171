"""Input no view should ever see: checked once, for every request, before any view runs.

PostgreSQL refuses a NUL character in text, SQLite an integer beyond 64 bits, every
driver a lone surrogate (which a JSON string may spell as "\\ud800"), and
Python's JSON parser recurses once per level of nesting: each would surface as a 500
from whichever query or parser met it first. Refused here with a plain 400 instead.
"""
from __future__ import annotations

import re

from flask import abort, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

# Row ids are 32-bit in both databases; nothing larger can name a row.
MAX_ID = 2**31 - 1
# Our JSON bodies are one object of plain fields; a few levels is already generous.
MAX_JSON_DEPTH = 8
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")
# A whole number with more significant digits than any 64-bit integer can hold is nobody's
# id, page or filter: every query and form value is checked for one.
_HUGE_INTEGER = re.compile(r"[+-]?0*[1-9][0-9]{18,}")


class BoundedIntegerConverter(IntegerConverter):
    """<int:...> for row ids: 1 to MAX_ID, or 400 (a 2**70 id is a bad request, not a row)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > self.max:
            raise BadRequest()
        return number


def row_id(text: str | None) -> int | None:
    """A row id typed in a query or form ("3"), or None for anything else (blank, huge, "²")."""
    if text and _ASCII_DIGITS.fullmatch(text):
        number = int(text)
        return number if 0 < number <= MAX_ID else None
    return None


def stored_text(value) -> str | None:
    """Text read back from a stored JSON field, if a query can use it: rows written before
    the IVR refused bad keys may hold a lone surrogate, which no database driver encodes."""
    if isinstance(value, str) and "\x00" not in value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return None


def refuse_unusable_input() -> None:
    """before_request: 400 for a NUL anywhere in the path, query, form, credentials or JSON
    (or a lone surrogate in JSON: Werkzeug decodes the rest with replacement characters),
    a whole number beyond 64 bits as a path part or query value, or JSON nested deeper
    than MAX_JSON_DEPTH. (Form numbers are checked by their fields; a password may well
    be twenty digits.)"""
    addressed = request.path.split("/")
    for key, values in request.args.lists():
        addressed.append(key)
        addressed.extend(values)
    texts = [*addressed, request.remote_addr or ""]
    for key, values in request.form.lists():
        texts.append(key)
        texts.extend(values)
    if request.authorization is not None:
        texts.extend(v for v in request.authorization.parameters.values() if isinstance(v, str))
        texts.append(request.authorization.token or "")
    if any("\x00" in text for text in texts) or any(_HUGE_INTEGER.fullmatch(text) for text in addressed):
        abort(400)
    if request.is_json and request.content_length:
        _check_json(request.get_data(cache=True))


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _check_json(body: bytes) -> None:
    # Depth is counted on the raw text (strings left out), so a hostile body never reaches
    # the parser, which recurses once a level.
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            abort(400)
    if _unstorable(request.get_json(silent=True)):
        abort(400)


def _unstorable(value) -> bool:
    """A NUL, or a lone surrogate ("\\ud800" is valid JSON, but no database driver encodes it)."""
    if isinstance(value, str):
        return stored_text(value) is None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False
