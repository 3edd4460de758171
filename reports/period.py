"""A report's period: a calendar month or a calendar year in Heyuan's time (Asia/Shanghai)."""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

LOCAL = zoneinfo.ZoneInfo("Asia/Shanghai")
# Years a report may be asked for: the platform's and a margin, so "0001" or "9999" is a
# clear refusal rather than a date overflow deep in a query.
FIRST_YEAR, LAST_YEAR = 2000, 2100
_FORMAT = re.compile(r"(\d{4})(?:-(\d{2}))?", re.ASCII)


class BadPeriod(ValueError):
    """The text names no month (YYYY-MM) or year (YYYY) a report can cover."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int | None = None  # None: the whole year

    @classmethod
    def parse(cls, text: str) -> "Period":
        match = _FORMAT.fullmatch(text or "")
        if not match:
            raise BadPeriod(f"{text!r} is neither a month (2026-11) nor a year (2026)")
        year, month = int(match.group(1)), int(match.group(2)) if match.group(2) else None
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise BadPeriod(f"reports cover the years {FIRST_YEAR} to {LAST_YEAR}, not {year}")
        if month is not None and not 1 <= month <= 12:
            raise BadPeriod(f"a month is 01 to 12, not {match.group(2)}")
        return cls(year, month)

    @classmethod
    def month_of(cls, moment: dt.datetime) -> "Period":
        local = moment.astimezone(LOCAL)
        return cls(local.year, local.month)

    @property
    def is_year(self) -> bool:
        return self.month is None

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month or 1, 1)

    @property
    def next_first_day(self) -> dt.date:
        """The day after the period's last."""
        if self.month is None:
            return dt.date(self.year + 1, 1, 1)
        return dt.date(self.year + (self.month == 12), self.month % 12 + 1, 1)

    @property
    def start(self) -> dt.datetime:
        """Local midnight of the first day, in UTC (the stored times are UTC)."""
        return _utc_midnight(self.first_day)

    @property
    def end(self) -> dt.datetime:
        """Local midnight after the last day, in UTC: the period is [start, end)."""
        return _utc_midnight(self.next_first_day)

    def previous(self) -> "Period":
        if self.month is None:
            return Period(self.year - 1)
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def following(self) -> "Period":
        if self.month is None:
            return Period(self.year + 1)
        return Period(self.year + (self.month == 12), self.month % 12 + 1)

    def __str__(self) -> str:
        """As written in the report's address: 2026-11 or 2026."""
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), LOCAL).astimezone(dt.timezone.utc)
