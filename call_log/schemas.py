"""A call-log filter read from a query string: bad values are dropped and reported, never raised."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from db.models import CallOutcome, Language, Priority
from db.phones import try_normalise

SORTS = ("time", "wait")
ORDERS = ("desc", "asc")
YES_NO = {"1": True, "0": False}
_SEPARATORS = re.compile(r"[\s\-()]")


@dataclasses.dataclass(frozen=True)
class CallFilter:
    last4: str | None = None  # four digits: the end of the caller's number
    phone: str | None = None  # a whole number, normalised (db/phones.py)
    raw_number: str | None = None  # the whole number as typed, for withheld-format rows
    start: dt.datetime | None = None  # UTC, inclusive
    end: dt.datetime | None = None  # UTC, exclusive
    operator_id: int | None = None
    queue: str | None = None
    outcome: CallOutcome | None = None
    category: str | None = None
    language: Language | None = None
    priority: Priority | None = None
    has_recording: bool | None = None
    has_request: bool | None = None
    sort: str = "time"
    order: str = "desc"

    def describe(self) -> dict[str, Any]:
        """The filter as plain values, for the audit log (numbers as typed: the auditor may unmask)."""
        values = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            values[field.name] = (value.isoformat() if isinstance(value, dt.datetime)
                                  else getattr(value, "value", value))
        return values


@dataclasses.dataclass(frozen=True)
class Parsed:
    filter: CallFilter
    errors: tuple[str, ...]  # the names of the fields whose values were dropped
    form: dict[str, str]  # the accepted values, as the form shows them again


def parse_filter(args: Mapping[str, str], tz: ZoneInfo, area_code: str = "0762") -> Parsed:
    """A filter from a query string; each unreadable value is left out and named in `errors`."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    form: dict[str, str] = {}

    def text(name: str, limit: int = 64) -> str:
        return (args.get(name) or "").strip()[:limit]

    number = _SEPARATORS.sub("", text("number", 40))
    if number:
        if number.isdigit() and len(number) == 4:
            values["last4"] = number
        elif (phone := try_normalise(number, area_code)) is not None:
            values["phone"], values["raw_number"] = phone.number, number
        else:
            errors.append("number")
        if "number" not in errors:
            form["number"] = number
    for name, key in (("date_from", "start"), ("date_to", "end")):
        raw = text(name, 10)
        if not raw:
            continue
        try:
            day = dt.date.fromisoformat(raw)
            if key == "end":
                day += dt.timedelta(days=1)  # the last day is included
            values[key] = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.timezone.utc)
        except (ValueError, OverflowError):  # 2026-13-01; 9999-12-31 has no next day, 0001-01-01 no UTC midnight
            errors.append(name)
            continue
        form[name] = raw
    operator = text("operator", 12)
    if operator:
        if operator.isdigit() and int(operator) < 2**31:
            values["operator_id"] = int(operator)
            form["operator"] = operator
        else:
            errors.append("operator")
    for name, enum_class in (("outcome", CallOutcome), ("language", Language), ("priority", Priority)):
        raw = text(name, 32)
        if raw:
            try:
                values[name] = enum_class(raw)
                form[name] = raw
            except ValueError:
                errors.append(name)
    for name in ("queue", "category"):
        raw = text(name, 64)
        if raw:
            if re.fullmatch(r"[A-Za-z0-9_\-]+", raw):
                values[name] = form[name] = raw
            else:
                errors.append(name)
    for name in ("has_recording", "has_request"):
        raw = text(name, 1)
        if raw:
            if raw in YES_NO:
                values[name], form[name] = YES_NO[raw], raw
            else:
                errors.append(name)
    for name, allowed in (("sort", SORTS), ("order", ORDERS)):
        raw = text(name, 8)
        if raw in allowed:
            values[name] = form[name] = raw
        elif raw:
            errors.append(name)
    if "start" in values and "end" in values and values["end"] <= values["start"]:
        errors.append("date_to")
        del values["end"], form["date_to"]
    return Parsed(CallFilter(**values), tuple(errors), form)


def encode_cursor(sort_value: Any, row_id: int) -> str:
    """Where the next page starts: the last row's sort value and id, opaque to the reader."""
    if isinstance(sort_value, dt.datetime):
        sort_value = sort_value.astimezone(dt.timezone.utc).isoformat()
    return base64.urlsafe_b64encode(json.dumps([sort_value, row_id]).encode()).decode().rstrip("=")


def decode_cursor(token: str | None, sort: str) -> tuple[Any, int] | None:
    """The (sort value, id) a cursor names, or None (the first page) for anything unreadable."""
    if not token or len(token) > 200:
        return None
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not _whole(row_id):
            return None
        if sort == "time":
            value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                return None
            value = value.astimezone(dt.timezone.utc)  # 0001-01-01T00:00+08:00 has no UTC time: OverflowError
        elif not _whole(value):
            return None
        return value, row_id
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        return None


def _whole(value: Any) -> bool:
    """A whole number a 32-bit column (ids, waits) can be compared with; a forged cursor's
    2**70 is no database's integer."""
    return isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31
