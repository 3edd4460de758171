"""What a report section is: a title, columns, rows of figures, an optional chart and notes.

Sections hold figures and codes, never words: the console puts words on them in the
reader's language and renders the same section objects as HTML, PDF, CSV and XLSX, so
every format shows the same figures by construction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Union

from reports.period import Period

# How a column's figures read: a count; a share (0..1, shown as a percentage); an
# average rating (1..5, two decimals); seconds; days (one decimal).
COUNT, SHARE, RATING, SECONDS, DAYS = "count", "share", "rating", "seconds", "days"
KINDS = (COUNT, SHARE, RATING, SECONDS, DAYS)


@dataclass(frozen=True)
class Term:
    """A label: a code the console words (`key`, with `params`), or a name the database
    keeps in both languages (`zh`, `en`: a category, a district, a certificate's kind)."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()
    zh: str | None = None
    en: str | None = None

    @classmethod
    def named(cls, zh: str, en: str | None = None) -> "Term":
        return cls("name", zh=zh, en=en or zh)


@dataclass(frozen=True)
class Column:
    key: str  # the console words it (agent_console/reports.py WORDS)
    kind: str = COUNT

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key}: kind {self.kind!r} is not one of {KINDS}")


Figure = Union[int, float, None]  # None: nothing to measure (no rating in the period)


@dataclass(frozen=True)
class Row:
    label: Term
    figures: tuple[Figure, ...]
    total: bool = False  # a total row, set apart when shown
    # A row of figures of one kind across its columns (a key-figures table, each row a
    # measure, each column a period): overrides the columns' kinds.
    kind: str | None = None

    def kind_of(self, column: "Column") -> str:
        return self.kind or column.kind


@dataclass(frozen=True)
class Chart:
    """A bar a row, of one column's figures (the total row left out)."""

    column: int


@dataclass(frozen=True)
class Section:
    key: str  # the console's title for it
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    chart: Chart | None = None
    notes: tuple[Term, ...] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row.figures) != len(self.columns):
                raise ValueError(f"section {self.key}: row {row.label} has {len(row.figures)} figures "
                                 f"for {len(self.columns)} columns")

    def figure(self, row_key: str, column_key: str) -> Figure:
        """One figure by its row's label key (or name) and column key: for tests and summaries."""
        index = [column.key for column in self.columns].index(column_key)
        for row in self.rows:
            if row.label.key == row_key or row.label.zh == row_key:
                return row.figures[index]
        raise KeyError(row_key)


@dataclass(frozen=True)
class Report:
    period: Period
    generated_at: dt.datetime
    sections: tuple[Section, ...] = field(default=())

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)


def share(part: int | None, whole: int | None) -> float | None:
    """part/whole, or None when there is nothing to divide by (never a false 0%)."""
    return part / whole if whole else None
