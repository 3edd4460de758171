"""A whole report: every section of reports/sections.py for one period."""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlalchemy.orm import Session

from reports.model import Report
from reports.period import Period
from reports.sections import SECTIONS, SectionFunction


def build_report(session: Session, period: Period, now: dt.datetime,
                 sections: Sequence[SectionFunction] = SECTIONS) -> Report:
    return Report(period, now, tuple(section(session, period, now) for section in sections))
