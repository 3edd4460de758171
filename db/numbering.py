"""Readable request numbers, HY + local date + per-day sequence: HY20261126-0042."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from db.models import DailyCounter
from db.session import insert_for

REQUEST_PREFIX = "HY"


def next_in_sequence(session: Session, name: str, day: dt.date, count: int = 1) -> int:
    """Atomically take the next `count` values of a per-day counter (one statement, no
    race); returns the last of them."""
    statement = (
        insert_for(session, DailyCounter)
        .values(name=name, day=day, value=count)
        .on_conflict_do_update(
            index_elements=[DailyCounter.name, DailyCounter.day],
            set_={"value": DailyCounter.value + count},
        )
        .returning(DailyCounter.value)
    )
    return session.execute(statement).scalar_one()


def next_request_number(session: Session, local_now: dt.datetime) -> str:
    day = local_now.date()
    value = next_in_sequence(session, "request", day)
    return f"{REQUEST_PREFIX}{day:%Y%m%d}-{value:04d}"


def request_numbers(session: Session, day: dt.date, count: int) -> list[str]:
    """`count` request numbers of one local day at once (loading past requests)."""
    last = next_in_sequence(session, "request", day, count)
    return [f"{REQUEST_PREFIX}{day:%Y%m%d}-{value:04d}" for value in range(last - count + 1, last + 1)]


def parse_request_number(text: str) -> str | None:
    """Accept what a caller keys in (digits only: 202611260042) or an operator types."""
    cleaned = text.strip().upper().replace(" ", "")
    if cleaned.startswith(REQUEST_PREFIX):
        cleaned = cleaned[len(REQUEST_PREFIX):]
    cleaned = cleaned.replace("-", "")
    if len(cleaned) < 9 or not cleaned.isdigit():
        return None
    return f"{REQUEST_PREFIX}{cleaned[:8]}-{int(cleaned[8:]):04d}"



