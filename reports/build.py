"""A whole report: every section of reports/sections.py for one period."""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlalchemy.orm import Session

from kpi.formulas import KpiSettings
from reports.model import Report
from reports.period import Period
from reports.sections import CACHE, SECTIONS, SETTINGS, SectionFunction


def build_report(session: Session, period: Period, now: dt.datetime,
                 sections: Sequence[SectionFunction] = SECTIONS, *, hires_goal: int | None = None,
                 kpi: KpiSettings | None = None) -> Report:
    """Every section; the rows several sections count (a period's requests, its surveys) are
    read once for the whole report, and forgotten with it. `hires_goal` is the year's jobs
    goal (settings workforce.hires_goal), which the recruitment section measures against;
    `kpi` the thresholds of the hotline's figures (settings [kpi], as on the KPI page)."""
    session.info[CACHE] = {}
    session.info[SETTINGS] = {"hires_goal": hires_goal, "kpi": kpi}
    try:
        return Report(period, now, tuple(section(session, period, now) for section in sections))
    finally:
        del session.info[CACHE], session.info[SETTINGS]
